# deploy.bats - what ships to a platform (run by `make test`, not part of a
# student's score): autograder.zip unpacked into a temporary Gradescope root
# (source/, submission/, results/) and run_autograder run there on the kit,
# a one-bug copy, a copy one folder deeper, an empty submission and with a
# broken grader, each results.json checked field by field; what setup.sh
# would install on Ubuntu 22.04 and 24.04; the GitHub Classroom workflow.
#
# DEPLOY_SUMMARY=FILE appends one line per results.json checked to FILE.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

KIT="$BATS_TEST_DIRNAME/../.."

# The zip is built and unpacked once, and its peers built, as setup.sh does.
setup_file() {
	export ZIP=$BATS_FILE_TMPDIR/autograder.zip SOURCE=$BATS_FILE_TMPDIR/source
	bash "$KIT/grading/gradescope" -o "$ZIP" >/dev/null
	mkdir -p "$SOURCE"
	unzip -q "$ZIP" -d "$SOURCE"
	make -s -C "$SOURCE/grading" >/dev/null
}

setup() {
	ROOT=$BATS_TEST_TMPDIR/autograder
	mkdir -p "$ROOT/submission" "$ROOT/results"
}

# use_source [DIR]: ROOT/source is DIR (default: the shared unpacked zip);
# Gradescope copies run_autograder to ROOT, and runs it from there.
use_source() {
	ln -s "${1:-$SOURCE}" "$ROOT/source"
	cp "$ROOT/source/run_autograder" "$ROOT/run_autograder"
}

# copy_kit DIR: the kit's sources, without the grader, in DIR.
copy_kit() {
	mkdir -p "$1"
	tar -C "$KIT" --exclude=.git --exclude=grading --exclude=autograder.zip -cf - . | tar -C "$1" -xf -
	make -s -C "$1" clean >/dev/null 2>&1 || true
}

# run_autograder: Gradescope's run, in ROOT; the output is its stdout.
run_autograder() {
	run env AUTOGRADER_ROOT="$ROOT" "$ROOT/run_autograder"
}

# check_results: ROOT's results.json has Gradescope's fields with their
# types, the scores add up, and each test's number is its requirement id.
check_results() {
	local file=$ROOT/results/results.json
	jq -e '
		def visibility: IN("visible", "hidden", "after_due_date", "after_published");
		(.score | type == "number") and (.execution_time | type == "number") and (.output | type == "string")
		and (.visibility | visibility) and (.stdout_visibility | visibility)
		and (.tests | type == "array")
		and all(.tests[]; (.name | type == "string") and (.number | type == "string")
			and (.score | type == "number") and (.max_score | type == "number")
			and (.status | IN("passed", "failed")) and (.output | type == "string")
			and (.visibility | visibility) and 0 <= .score and .score <= .max_score
			and ((.name | capture("^(?<ex>0[1-4]-[a-z-]+): (?<rest>.*)")) as $n
				| ($n.rest | capture("^(?<id>[A-Z][0-9]+)[ :]")) // {id: $n.ex} | .id) == .number)
		and ([.tests[].score] | add // 0) == .score
		and (.max_score == null or ([.tests[].max_score] | add // 0) == .max_score)' "$file" >/dev/null ||
		{ echo "results.json lacks a field or its scores do not add up:"; head -c 2000 "$file"; return 1; }
	if [[ -n "${DEPLOY_SUMMARY:-}" ]]; then
		jq -r --arg case "$BATS_TEST_DESCRIPTION" '"\($case)\n  score \(.score)/\(.max_score // 0); failed ids: \([.tests[] | select(.status == "failed") | .number] | unique | join(",") | if . == "" then "none" else . end)\n  output: \(.output | gsub("\n"; " | "))"' \
			"$file" >>"$DEPLOY_SUMMARY"
	fi
}

# results FILTER: jq FILTER on ROOT's results.json, raw.
results() {
	jq -r "$1" "$ROOT/results/results.json"
}

@test "deploy: autograder.zip holds setup.sh and run_autograder at its root, the grader, and no reference solution" {
	run unzip -Z1 "$ZIP"
	assert_success
	assert_line setup.sh
	assert_line run_autograder
	assert_line grading/grade
	assert_line grading/tests/04-select-echo.bats
	assert_line common/net.c
	refute_line --regexp '^0[1-4]-'
	refute_line --regexp '^grading/(mutants|bin)/'
	[[ -x "$SOURCE/run_autograder" && -x "$SOURCE/setup.sh" ]]
}

# fake_system DIR VERSION_ID BATS_CANDIDATE: an os-release and stand-ins for
# apt-cache (reporting the base image's bats), apt-get, npm and make, which
# record any call in DIR/called.
fake_system() {
	local dir=$1 tool
	mkdir -p "$dir/bin"
	printf 'NAME="Ubuntu"\nVERSION_ID="%s"\n' "$2" >"$dir/os-release"
	printf '#!/bin/sh\nprintf "bats:\\n  Installed: (none)\\n  Candidate: %s\\n"\n' "$3" >"$dir/bin/apt-cache"
	for tool in apt-get npm make; do
		printf '#!/bin/sh\necho "%s $*" >>"%s/called"\n' "$tool" "$dir" >"$dir/bin/$tool"
	done
	chmod +x "$dir/bin/"*
}

@test "deploy: setup.sh --dry-run: Ubuntu 24.04 gets every tool from apt; 22.04 (bats 1.2.1) gets bats-core from npm; nothing is installed" {
	fake_system "$BATS_TEST_TMPDIR/noble" 24.04 1.10.0-1
	run env KIT_OS_RELEASE="$BATS_TEST_TMPDIR/noble/os-release" PATH="$BATS_TEST_TMPDIR/noble/bin:$PATH" \
		bash "$SOURCE/setup.sh" --dry-run
	assert_success
	assert_line "setup.sh: base image Ubuntu 24.04"
	assert_line "would run: apt-get install -y -qq --no-install-recommends build-essential make bubblewrap iproute2 jq bats"
	assert_line --partial "bats 1.10.0-1 from apt is new enough"
	refute_output --partial npm
	assert_line "would run: make -s -C $SOURCE/grading"

	fake_system "$BATS_TEST_TMPDIR/jammy" 22.04 1.2.1-3
	run env KIT_OS_RELEASE="$BATS_TEST_TMPDIR/jammy/os-release" PATH="$BATS_TEST_TMPDIR/jammy/bin:$PATH" \
		bash "$SOURCE/setup.sh" --dry-run
	assert_success
	assert_line "setup.sh: base image Ubuntu 22.04"
	assert_line --partial "bats 1.2.1-3 from apt is too old (1.8.0 or newer needed)"
	assert_line "would run: apt-get install -y -qq --no-install-recommends nodejs npm"
	assert_line --regexp "^would run: npm install --global .* bats@1\.[0-9]+\.[0-9]+$"
	assert_line --partial "bats/install.sh /usr/local"
	[[ ! -e "$BATS_TEST_TMPDIR/noble/called" && ! -e "$BATS_TEST_TMPDIR/jammy/called" ]]
	# The minimum setup.sh checks is the grader's own.
	grep -q "^BATS_MIN=$(sed -n 's/^BATS_MIN=//p' "$SOURCE/setup.sh")$" "$SOURCE/grading/grade"
}

@test "deploy: run_autograder on the kit: 100 points, every test passed" {
	use_source
	copy_kit "$ROOT/submission"
	run_autograder
	assert_success
	check_results
	[[ $(results .score) == 100 && $(results .max_score) == 100 ]]
	[[ $(results '[.tests[] | select(.status != "passed")] | length') == 0 ]]
	[[ $(results .output) == "Found: 01-tcp-client/ 02-hello-server/ 03-nonblocking-send/ 04-select-echo/ at the top of your submission."* ]]
	[[ $(results '[.tests[] | select(.visibility != "visible")] | length') == 0 ]]
}

@test "deploy: run_autograder on a copy one folder deeper (a zipped folder): 100 points" {
	use_source
	copy_kit "$ROOT/submission/socket-lab"
	mkdir -p "$ROOT/submission/__MACOSX/socket-lab/01-tcp-client"
	run_autograder
	assert_success
	check_results
	[[ $(results .score) == 100 ]]
	results .output | grep -qx "Found: .* in socket-lab/ (one folder deeper)."
}

@test "deploy: run_autograder on a one-bug copy: points lost on T2 alone, shown after the due date as grading/points says" {
	# An instructor's points table: T2's tests hidden until the due date.
	cp -R "$SOURCE" "$BATS_TEST_TMPDIR/source"
	sed -i -E 's/^(01-tcp-client +T2 .*[0-9])$/\1  after_due_date/' \
		"$BATS_TEST_TMPDIR/source/grading/points"
	grep -q 'T2 .*after_due_date' "$BATS_TEST_TMPDIR/source/grading/points"
	use_source "$BATS_TEST_TMPDIR/source"
	copy_kit "$ROOT/submission"
	# A client that never sends the Host header.
	sed -i 's/Host: /Hots: /' "$ROOT/submission/01-tcp-client/tcp-client.c"
	grep -q 'Hots: ' "$ROOT/submission/01-tcp-client/tcp-client.c"
	KIT_AUTOGRADER_EXERCISES=01-tcp-client run_autograder
	assert_success
	check_results
	[[ $(results '[.tests[] | select(.status == "failed") | .number] | unique | join(",")') == T2 ]]
	(($(results .score) < $(results .max_score)))
	[[ $(results '[.tests[] | select(.number == "T2") | .visibility] | unique | join(",")') == after_due_date ]]
	[[ $(results '[.tests[] | select(.number != "T2") | .visibility] | unique | join(",")') == visible ]]
}

@test "deploy: run_autograder on an empty submission: score 0, and its output says what is missing" {
	use_source
	run_autograder
	assert_success
	check_results
	[[ $(results .score) == 0 ]]
	results .output | grep -q "^No kit-shaped folder in your submission: .*01-tcp-client/ 02-hello-server/ 03-nonblocking-send/ 04-select-echo/.*Your submission holds: nothing (it is empty)."
	[[ $(results '[.tests[] | select(.number == "G1" and .status == "failed")] | length') == 4 ]]
}

@test "deploy: run_autograder when nothing builds, and when the grader itself fails: results.json all the same" {
	use_source
	mkdir -p "$ROOT/submission/01-tcp-client"
	printf 'this is not C;\n' >"$ROOT/submission/01-tcp-client/tcp-client.c"
	printf 'tcp-client: tcp-client.c\n\tcc -o $@ tcp-client.c\n' >"$ROOT/submission/01-tcp-client/Makefile"
	KIT_AUTOGRADER_EXERCISES=01-tcp-client run_autograder
	check_results
	[[ $(results .score) == 0 ]]
	results '.tests[] | select(.number == "G1") | .output' | grep -q error
	results .output | grep -q "No common/ in your submission: the kit's common/ was used."

	# A grader that cannot run (here: it stops at once, as with too old a bats).
	cp -R "$SOURCE" "$BATS_TEST_TMPDIR/broken"
	printf '#!/usr/bin/env bash\necho "grade: bats 1.2.1 is too old" >&2\nexit 2\n' >"$BATS_TEST_TMPDIR/broken/grading/grade"
	rm "$ROOT/source"
	use_source "$BATS_TEST_TMPDIR/broken"
	rm -f "$ROOT/results/results.json"
	run_autograder
	assert_success
	check_results
	[[ $(results .score) == 0 ]]
	results .output | grep -q "The autograder itself failed (grading/grade exited 2): grade: bats 1.2.1 is too old"
}

@test "deploy: the GitHub Classroom workflow parses, and its grading step hands the reporter the points of results.json" {
	local workflow=$KIT/grading/deploy/github-classroom.yml
	local python
	for python in python3 /usr/bin/python3 ""; do
		[[ -n "$python" ]] && "$python" -c 'import yaml' 2>/dev/null && break
	done
	[[ -n "$python" ]] || skip "python3 with PyYAML (Debian: python3-yaml) is needed to parse the workflow"
	run "$python" - "$workflow" <<'PY'
import sys, yaml
w = yaml.safe_load(open(sys.argv[1]))
job = w["jobs"]["run-autograding-tests"]          # the reporter's check run
steps = {s.get("id") or s.get("name"): s for s in job["steps"]}
assert set(w["on"]) >= {"push"}, w["on"]
assert any(s.get("uses", "").startswith("actions/upload-artifact@") and "junit.xml" in s["with"]["path"]
           for s in job["steps"]), "no artifact with junit.xml"
reporter = [s for s in job["steps"] if "autograding-grading-reporter@" in s.get("uses", "")]
assert reporter and reporter[0]["with"]["runners"] == "kit", reporter
assert "steps.kit.outputs.result" in reporter[0]["env"]["KIT_RESULTS"]
print(steps["kit"]["run"])
PY
	assert_success
	local script=$output dir=$BATS_TEST_TMPDIR/repo
	# The step, run in a repository whose grader writes a known results.json.
	mkdir -p "$dir/grading"
	cat >"$dir/grading/grade" <<'EOF'
#!/usr/bin/env bash
cat >results.json <<'JSON'
{"score": 2, "max_score": 5, "tests": [
 {"name": "01-tcp-client: G1 layout", "number": "G1", "score": 2, "max_score": 2, "status": "passed", "output": ""},
 {"name": "01-tcp-client: T2 request", "number": "T2", "score": 0, "max_score": 3, "status": "failed", "output": "expected: CRLF"}]}
JSON
touch junit.xml
exit 1
EOF
	# The runner's sudo, stood in for: the step runs the grader as root.
	mkdir -p "$dir/bin"
	printf '#!/bin/sh\n[ "$1" = -E ] && shift\nexec "$@"\n' >"$dir/bin/sudo"
	chmod +x "$dir/bin/sudo"
	(cd "$dir" && PATH=$dir/bin:$PATH GITHUB_OUTPUT=$dir/out bash -e -c "$script")
	run bash -c "sed -n 's/^result=//p' '$dir/out' | base64 -d | jq -c '[.version, .status, .max_score, ([.tests[].score] | add), [.tests[] | .status + \" \" + .message]]'"
	assert_success
	assert_output '[1,"fail",5,2,["pass ","fail expected: CRLF"]]'
}
