# grader.bats - the grader's own checks (run by `make test`, not part of a
# student's score): its command line, its exit statuses, its reports, and a
# submission that does not build.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert
load ../lib/marks

GRADE="$BATS_TEST_DIRNAME/../grade"
KIT="$BATS_TEST_DIRNAME/../.."

setup() {
	WORK=$BATS_TEST_TMPDIR
}

# copy_kit NAME: a copy of the kit (sources only) in $WORK/NAME.
copy_kit() {
	mkdir -p "$WORK/$1"
	tar -C "$KIT" --exclude=.git --exclude=grading -cf - . | tar -C "$WORK/$1" -xf -
	make -s -C "$WORK/$1" clean >/dev/null 2>&1 || true
}

@test "grader: --help prints usage on stdout and exits 0" {
	run --separate-stderr "$GRADE" --help
	assert_success
	assert_output --partial "Usage: grading/grade"
}

@test "grader: an unknown option exits 2 with usage on stderr" {
	run --separate-stderr "$GRADE" --no-such-option
	assert_failure 2
	[[ "$stderr" == *"unknown option"* ]]
	[[ "$stderr" == *"Usage:"* ]]
}

@test "grader: an unknown exercise exits 2" {
	run --separate-stderr "$GRADE" 05-nothing
	assert_failure 2
	[[ "$stderr" == *"unknown exercise: 05-nothing"* ]]
}

@test "grader: a missing submission folder exits 2" {
	run --separate-stderr "$GRADE" -d "$WORK/not-there" 01-tcp-client
	assert_failure 2
	[[ "$stderr" == *"no such folder"* ]]
}

@test "grader: a submission that does not compile fails G1 with the compiler's message and skips the rest" {
	copy_kit broken
	printf 'this is not C;\n' >>"$WORK/broken/01-tcp-client/tcp-client.c"
	run "$GRADE" -d "$WORK/broken" --json "$WORK/results.json" 01-tcp-client
	assert_failure 1
	assert_output --partial "build failed"
	assert_output --regexp "FAIL +0/[0-9]+ +G1 "
	assert_output --partial "error"
	assert_output --regexp "SKIP +0/[0-9]+ +T3 "
	assert_output --regexp "Score: 0/[0-9]+"
	assert_line --regexp "^0 passed, [1-9][0-9]* failed$"
	grep -q '"status": "failed"' "$WORK/results.json"
	! grep -q '"status": "passed"' "$WORK/results.json"
}

@test "grader: one exercise that does not build costs only that exercise" {
	copy_kit half
	printf 'this is not C;\n' >>"$WORK/half/01-tcp-client/tcp-client.c"
	run "$GRADE" -d "$WORK/half" 01-tcp-client 02-hello-server
	assert_failure 1
	assert_output --regexp "== 01-tcp-client \(build failed"
	assert_output --regexp "== 02-hello-server \(built\)"
	assert_output --regexp "PASS +[0-9]+/[0-9]+ +H2 "
	refute_output --regexp "FAIL +0/[0-9]+ +H[0-9] "
}

@test "grader: a submission without an exercise folder fails that exercise, exit 1" {
	copy_kit partial
	rm -rf "$WORK/partial/02-hello-server"
	run "$GRADE" -d "$WORK/partial" 02-hello-server
	assert_failure 1
	assert_output --partial "missing: the submission has no 02-hello-server/ folder"
	assert_line --regexp "^0 passed, [1-9][0-9]* failed$"
}

@test "grader: a shipped binary is not graded: the program is built from source" {
	copy_kit shipped
	make -s -C "$WORK/shipped/01-tcp-client" >/dev/null
	printf 'this is not C;\n' >>"$WORK/shipped/01-tcp-client/tcp-client.c"
	touch -d '2000-01-01' "$WORK/shipped/01-tcp-client/tcp-client.c"
	run "$GRADE" -d "$WORK/shipped" 01-tcp-client
	assert_failure 1
	assert_output --regexp "FAIL +0/[0-9]+ +G1 "
}

# check_results_json FILE: Gradescope's fields, with the right types, and
# the score the sum of the tests' scores.
check_results_json() {
	python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for key, kind in (("score", (int, float)), ("max_score", (int, float)),
                  ("execution_time", (int, float)), ("tests", list)):
    assert isinstance(r.get(key), kind), f"top-level {key} missing or not {kind}"
assert r["tests"], "no tests"
for t in r["tests"]:
    for key, kind in (("name", str), ("score", (int, float)), ("max_score", (int, float)),
                      ("status", str), ("output", str)):
        assert isinstance(t.get(key), kind), f"test {t.get('name')}: {key} missing or not {kind}"
    assert t["status"] in ("passed", "failed"), t["status"]
    assert 0 <= t["score"] <= t["max_score"], t
assert abs(sum(t["score"] for t in r["tests"]) - r["score"]) < 1e-9
assert abs(sum(t["max_score"] for t in r["tests"]) - r["max_score"]) < 1e-9
print("ok", r["score"], r["max_score"], len(r["tests"]))
PY
}

@test "grader: results.json of a partly failing submission has Gradescope's fields; the JUnit file parses" {
	command -v python3 >/dev/null || skip "python3 is needed to validate JSON and XML here"
	copy_kit partly
	# A client that never sends the Host header: T2 fails, the rest passes.
	sed -i 's/Host: /Hots: /' "$WORK/partly/01-tcp-client/tcp-client.c"
	grep -q 'Hots: ' "$WORK/partly/01-tcp-client/tcp-client.c"
	run "$GRADE" -d "$WORK/partly" --json "$WORK/r.json" --junit "$WORK/r.xml" 01-tcp-client
	assert_failure 1
	run check_results_json "$WORK/r.json"
	assert_success
	grep -q '"status": "passed"' "$WORK/r.json"
	grep -q '"status": "failed"' "$WORK/r.json"
	[[ -s "$WORK/r.xml" ]]
	run python3 -c 'import sys, xml.etree.ElementTree as E
root = E.parse(sys.argv[1]).getroot()
print(sum(1 for _ in root.iter("testcase")), sum(1 for _ in root.iter("failure")))' "$WORK/r.xml"
	assert_success
	assert_output --regexp "^[1-9][0-9]* [1-9][0-9]*$"
}

@test "grader: an interrupted grader still writes results.json" {
	command -v python3 >/dev/null || skip "python3 is needed to validate JSON here"
	# Report lines come once an exercise's tests are done: interrupt after
	# 02's, while 04's (about 10 s) are still running.
	"$GRADE" --json "$WORK/r.json" 02-hello-server 04-select-echo >"$WORK/out" 2>&1 3>&- &
	local pid=$!
	for _ in $(seq 1 300); do grep -q '^== 04-select-echo' "$WORK/out" && break; sleep 0.1; done
	sleep 1
	kill -TERM "$pid"
	local status=0
	wait "$pid" || status=$?
	[[ $status -eq 2 ]]
	run check_results_json "$WORK/r.json"
	assert_success
	grep -q 'interrupted' "$WORK/r.json"
	grep -q '"name": "02-hello-server: H2 ' "$WORK/r.json"
}

# hostile_class DIR: five submissions, graded on 01 and 02 only (to keep the
# check short): the kit; 02 broken (greets with the wrong text); 01 does not
# compile; a server that forks a child which ignores SIGTERM and sleeps for
# ever; a client that prints without end.
hostile_class() {
	local class=$1
	mkdir -p "$class"
	for name in good broken-02 no-compile forks-sleeper prints-forever; do
		mkdir -p "$class/$name"
		tar -C "$KIT" --exclude=.git --exclude=grading -cf - . | tar -C "$class/$name" -xf -
		make -s -C "$class/$name" clean >/dev/null 2>&1 || true
	done
	sed -i 's/"Hello %s\\n"/"Hi %s\\n"/' "$class/broken-02/02-hello-server/hello-server.c"
	grep -q '"Hi %s' "$class/broken-02/02-hello-server/hello-server.c"
	printf 'this is not C;\n' >>"$class/no-compile/01-tcp-client/tcp-client.c"
	sed -i 's/^\(    net_init("hello-server");\)$/\1\n    if (fork() == 0) { setsid(); signal(SIGTERM, SIG_IGN); for (;;) pause(); }/' \
		"$class/forks-sleeper/02-hello-server/hello-server.c"
	grep -q 'for (;;) pause' "$class/forks-sleeper/02-hello-server/hello-server.c"
	sed -i 's/^\(    net_init("tcp-client");\)$/\1\n    for (;;) puts("spam spam spam spam spam spam spam spam spam spam spam");/' \
		"$class/prints-forever/01-tcp-client/tcp-client.c"
	grep -q 'spam spam' "$class/prints-forever/01-tcp-client/tcp-client.c"
}

@test "grader: grade-class grades a hostile class: right CSV rows, within limits, nothing left running" {
	hostile_class "$WORK/class"
	local mark=hostile-$$-$RANDOM
	run env KIT_RUN_MARK="$mark" timeout 600 "$BATS_TEST_DIRNAME/../grade-class" -j 2 --out "$WORK/out" \
		"$WORK/class" 01-tcp-client 02-hello-server
	assert_success
	local csv=$WORK/out/grades.csv
	[[ "$(head -n 1 "$csv")" == "submission,01-tcp-client,02-hello-server,total,max,status" ]]
	# Points: full on what works, none on what does not compile.
	local good_total good_max
	IFS=, read -r _ _ _ good_total good_max _ < <(grep '^good,' "$csv")
	((good_total == good_max && good_max > 0))
	grep -q '^good,.*,graded$' "$csv"
	grep -Eq '^broken-02,[0-9]+,[0-9]+,[0-9]+,[0-9]+,failed-tests$' "$csv"
	IFS=, read -r _ a b _ < <(grep '^broken-02,' "$csv")
	IFS=, read -r _ good_a good_b _ < <(grep '^good,' "$csv")
	((a == good_a && b < good_b))
	IFS=, read -r _ a b _ < <(grep '^no-compile,' "$csv")
	((a == 0 && b == good_b))
	grep -q '^forks-sleeper,.*,failed-tests$\|^forks-sleeper,.*,graded$' "$csv"
	IFS=, read -r _ a b _ < <(grep '^prints-forever,' "$csv")
	((a < good_a && b == good_b))
	for name in good broken-02 no-compile forks-sleeper prints-forever; do
		[[ -s "$WORK/out/$name.txt" && -s "$WORK/out/$name.json" ]]
	done
	# Nothing that a submission started is left, sleeper included.
	sleep 1
	run processes_marked "$mark"
	assert_output ""
}

@test "grader: grade-class stopped by SIGTERM stops every grader under way within 10 s, marks them interrupted, leaves nothing running and no file in TMPDIR" {
	mkdir -p "$WORK/class"
	for name in first second; do
		mkdir -p "$WORK/class/$name"
		tar -C "$KIT" --exclude=.git --exclude=grading -cf - . | tar -C "$WORK/class/$name" -xf -
	done
	local mark=stopped-$$-$RANDOM pid status=0
	mkdir -p "$WORK/tmp" # the graders' TMPDIR: empty again once they stopped
	TMPDIR=$WORK/tmp KIT_RUN_MARK="$mark" "$BATS_TEST_DIRNAME/../grade-class" -j 2 --out "$WORK/out" \
		"$WORK/class" 04-select-echo >"$WORK/class.out" 2>&1 3>&- &
	pid=$!
	# Once both graders run the tests (their report's first line is out).
	for _ in $(seq 1 300); do
		[[ -s "$WORK/out/first.txt" && -s "$WORK/out/second.txt" ]] && break
		sleep 0.1
	done
	sleep 1
	kill -TERM "$pid"
	wait "$pid" || status=$?
	[[ $status -eq 130 ]]
	[[ "$(cat "$WORK/out/first.status")" == interrupted && "$(cat "$WORK/out/second.status")" == interrupted ]]
	local left
	for _ in $(seq 1 100); do
		left=$(processes_marked "$mark")
		[[ -z "$left" ]] && break
		sleep 0.1
	done
	[[ -z "$left" ]] || { echo "left running 10 s after the stop: $left"; return 1; }
	run ls -A "$WORK/tmp"
	assert_output ""
}

@test "grader: the default points (grading/points) sum to 100 over every test, and every row matches a test" {
	source <(sed -n '/^points_\(lookup\|for\)() {/,/^}/p' "$GRADE")
	GRADING=$BATS_TEST_DIRNAME/..
	local total=0 file exercise name points
	for file in "$BATS_TEST_DIRNAME"/0*.bats; do
		exercise=$(basename "$file" .bats)
		while IFS= read -r name; do
			points=$(points_for "$exercise" "$name")
			total=$((total + points))
		done < <(sed -n 's/^@test "\(.*\)" {$/\1/p' "$file")
	done
	echo "total $total"
	((total == 100))
	# A row whose start matches no test name is a typo that silently costs points.
	local row_exercise prefix
	while read -r row_exercise prefix; do
		sed -n 's/^@test "\(.*\)" {$/\1/p' "$BATS_TEST_DIRNAME/$row_exercise.bats" |
			grep -qF -- "$prefix" || { echo "no test of $row_exercise starts with '$prefix'"; false; }
	done < <(grep -Ev '^[[:space:]]*(#|$)' "$GRADING/points" | sed -E 's/[[:space:]]+[0-9]+([[:space:]]+[a-z_]+)?[[:space:]]*$//; s/[[:space:]]+/ /g')
}

@test "grader: --tap prints TAP: a version line, one line per test, the plan" {
	run "$GRADE" --tap --only G1 01-tcp-client
	assert_success
	assert_line --index 0 "TAP version 13"
	assert_line --regexp "^ok 1 01-tcp-client: G1 "
	assert_line "1..1"
	assert_line "1 passed, 0 failed"
}
