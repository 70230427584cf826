# grader.bats - the grader's own checks (run by `make test`, not part of a
# student's score): its command line, its exit statuses, its reports, and a
# submission that does not build.

bats_load_library bats-support
bats_load_library bats-assert

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
