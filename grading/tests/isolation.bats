# isolation.bats - the grader's sandbox, checked by hostile submissions
# (run by `make test`, not part of a student's score). Each one only looks:
# it lists interfaces, files and processes, writes files, forks; none
# connects anywhere. And where no sandbox can be made, the fallback. See
# the README, "What the grader isolates".

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert
load ../lib/marks

GRADE="$BATS_TEST_DIRNAME/../grade"
KIT="$BATS_TEST_DIRNAME/../.."

setup_file() {
	make -s -C "$KIT/grading" >/dev/null
	# The same check as the grader's: without a sandbox there is nothing
	# to test here (the grader then says so and supervises as before).
	local why
	# shellcheck source=../lib/sandbox.bash disable=SC2034 # sandbox_probe reads KIT_PEERS
	why=$(KIT_PEERS=$KIT/grading/bin; source "$KIT/grading/lib/sandbox.bash"; sandbox_probe 1999999999) ||
		export ISOLATION_MISSING="no sandbox on this machine: $why"
}

setup() {
	[[ -z "${ISOLATION_MISSING:-}" ]] || skip "$ISOLATION_MISSING"
	WORK=$BATS_TEST_TMPDIR
}

# copy_kit NAME: a copy of the kit (sources only) in $WORK/NAME.
copy_kit() {
	mkdir -p "$WORK/$1"
	tar -C "$KIT" --exclude=.git --exclude=grading -cf - . | tar -C "$WORK/$1" -xf -
	make -s -C "$WORK/$1" clean >/dev/null 2>&1 || true
}

# at_start FILE CODE: put the C statement CODE right after net_init() in
# FILE's main(), as a student would write it.
at_start() {
	local program
	program=$(basename "$1" .c)
	CODE=$2 PROGRAM=$program awk '{ print }
		$0 == "    net_init(\"" ENVIRON["PROGRAM"] "\");" { print "    " ENVIRON["CODE"] }' \
		"$1" >"$1.new" && mv "$1.new" "$1"
	grep -qF -- "$2" "$1"
}

@test "isolation: a fork bomb graded beside the kit costs the kit nothing" {
	mkdir -p "$WORK/class"
	copy_kit class/kit
	copy_kit class/bomb
	# Each process forks until fork() fails, then sleeps: the bomb fills
	# its own limits at once and keeps them full while its server runs.
	at_start "$WORK/class/bomb/02-hello-server/hello-server.c" \
		'if (fork() == 0) for (;;) if (fork() == -1) pause();'
	local mark=bomb-$$-$RANDOM
	run env KIT_RUN_MARK="$mark" timeout 300 "$BATS_TEST_DIRNAME/../grade-class" -j 2 \
		--out "$WORK/out" "$WORK/class" 02-hello-server
	assert_success
	grep -Eq '^kit,([0-9]+),\1,\1,graded$' "$WORK/out/grades.csv"
	# Nothing of either is left, bomb included.
	run processes_marked "$mark"
	assert_output ""
}

@test "isolation: a program that fills /tmp leaves nothing there" {
	copy_kit fills
	# 8 MiB files (under the grader's 16 MiB file limit) until the disk is full.
	at_start "$WORK/fills/01-tcp-client/tcp-client.c" \
		'{ static char block[1 << 20]; char name[64]; for (int i = 0; i < 4096; i++) { snprintf(name, sizeof name, "/tmp/kit-fills-%d-%d", (int)getpid(), i); FILE *f = fopen(name, "w"); int full = f == NULL; for (int j = 0; f != NULL && j < 8; j++) full |= fwrite(block, 1, sizeof block, f) != sizeof block; if (f != NULL && fclose(f) != 0) full = 1; if (full) break; } }'
	run "$GRADE" -d "$WORK/fills" --only G2 01-tcp-client
	assert_success
	run find "${TMPDIR:-/tmp}" /tmp -maxdepth 1 -name 'kit-fills-*'
	assert_output ""
}

@test "isolation: a build sees only loopback, its own processes and no test file" {
	copy_kit snoops
	# The build lists what it can see, then fails, so that the grader
	# shows the end of its log.
	cat >"$WORK/snoops/01-tcp-client/Makefile" <<'EOF'
all:
	@echo "interfaces: $$(awk -F: 'NR > 2 { gsub(/ /, "", $$1); printf "%s ", $$1 }' /proc/net/dev)"
	@echo "processes: $$(ls /proc | grep -c '^[0-9]')"
	@echo "bats files: $$(find / -name '*.bats' 2>/dev/null | wc -l)"
	@echo "kit found: $$(find / -path '*grading/tests' 2>/dev/null | wc -l)"
	@echo "homes: $$(find /home /root -mindepth 1 2>/dev/null | wc -l)"
	@false
EOF
	run "$GRADE" -d "$WORK/snoops" --only G1 01-tcp-client
	assert_failure 1
	assert_output --partial "| interfaces: lo "
	assert_line --regexp '^ *\| processes: [1-9]$'
	assert_output --partial "| bats files: 0"
	assert_output --partial "| kit found: 0"
	assert_output --partial "| homes: 0"
}

@test "isolation: a program that writes beside its copy leaves nothing there" {
	copy_kit writes
	at_start "$WORK/writes/01-tcp-client/tcp-client.c" \
		'{ char dir[4096]; ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1); if (n > 0) { dir[n] = 0; *strrchr(dir, 0x2f) = 0; if (chdir(dir) == 0 && system("touch beside-own ../beside-copy ../../beside-work ../../../beside-above /tmp/kit-beside-$$ 2>/dev/null")) {} } }'
	run "$GRADE" -d "$WORK/writes" --keep --only G2 01-tcp-client
	assert_success
	local kept
	kept=$(sed -n 's/^grade: the work folder is kept: //p' <<<"$output")
	[[ -d "$kept" ]]
	run find "$kept" "$(dirname "$kept")" "$WORK/writes" -maxdepth 3 -name '*beside-*'
	rm -rf "$kept"
	assert_output ""
	run find "${TMPDIR:-/tmp}" /tmp -maxdepth 1 -name 'kit-beside-*'
	assert_output ""
}

@test "isolation: where no sandbox can be made the grader says so in one line, and --require-isolation refuses" {
	command -v setpriv >/dev/null || skip "setpriv is needed to grade as a user that is not root"
	[[ $(id -u) -eq 0 ]] || skip "needs root, to grade as another user"
	# Not root is one such place: a copy of the kit anyone may read, graded
	# as a user of no account.
	local kit
	kit=$(mktemp -d "${TMPDIR:-/tmp}/kit-unprivileged.XXXXXX")
	chmod 755 "$kit"
	tar -C "$KIT" --exclude=.git -cf - . | tar -C "$kit" -xf -
	chown -R 1999999998 "$kit"
	local as_user=(setpriv --reuid=1999999998 --regid=1999999998 --clear-groups env HOME=/tmp)
	run --separate-stderr "${as_user[@]}" "$kit/grading/grade" -d "$kit" --require-isolation --only G1 01-tcp-client
	local refused=$status refusal=$stderr
	run --separate-stderr "${as_user[@]}" "$kit/grading/grade" -d "$kit" --only G1 01-tcp-client
	rm -rf "$kit"
	[[ $refused -eq 2 && "$refusal" == "grade: isolation is required, and not available: the grader does not run as root"* ]]
	assert_success
	[[ "$stderr" == "grade: no sandbox: the grader does not run as root"*"; grading with plain supervision instead" ]]
	assert_output --partial "Score: 1/1"
}
