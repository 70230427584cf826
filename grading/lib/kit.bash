# kit.bash - what every grader test file loads: running the student's
# program under limits, starting servers and peers, waiting for lines,
# cleaning up, and failure messages a student can act on.
#
# The grader (grading/grade) sets, before bats runs a test file:
#   KIT_EXERCISE   the exercise folder name, e.g. 01-tcp-client
#   KIT_PROGRAM    the student's built program (absolute path; may not exist)
#   KIT_BUILD_LOG  make's output for that exercise
#   KIT_PEERS      the folder holding the grader's peers (httpd, probe, ...)
#   KIT_FEEDBACK   a folder for per-test feedback files
#   KIT_LIMITS     supervise options applied to every student process
#   KIT_USER       user to run student programs as (empty: as yourself)
#   KIT_SANDBOX    bwrap's options for the sandbox every student program
#                  runs in (see lib/sandbox.bash; empty: no sandbox)
# A test may set KIT_EXTRA_LIMITS (supervise options, e.g. "--nofile 64")
# before kit_run or kit_start; they override KIT_LIMITS.
#
# A test file does:
#   load ../lib/kit
#   setup()    { kit_setup; }
#   teardown() { kit_teardown; }

# How long one student command may run in the foreground, in seconds.
KIT_RUN_TIMEOUT=${KIT_RUN_TIMEOUT:-10}
# How long a server may take to print its "Listening on" line.
KIT_LISTEN_TIMEOUT=${KIT_LISTEN_TIMEOUT:-5}

# kit_setup: a scratch folder per test. Every test but G1's needs the
# program, so without one it ends as not checked (G1 reports why).
kit_setup() {
	KIT_TMP=$BATS_TEST_TMPDIR
	KIT_STARTED=()
	if [[ ! -x "$KIT_PROGRAM" && "$BATS_TEST_DESCRIPTION" != "G1 "* ]]; then
		kit_needs "G1 layout" "make -C $KIT_EXERCISE left no program $(basename "$KIT_PROGRAM")"
	fi
}

# kit_check_built: the G1 check. Fails with make's last messages when
# `make -C EXERCISE` did not leave the program in the exercise folder.
kit_check_built() {
	local program
	program=$(basename "$KIT_PROGRAM")
	if [[ ! -x "$KIT_PROGRAM" ]]; then
		kit_fail "\`make -C $KIT_EXERCISE\` builds $program in $KIT_EXERCISE/" \
			"no executable $KIT_EXERCISE/$program after make; make said: $(kit_excerpt "$KIT_BUILD_LOG")" \
			"the kit's layout: one folder per exercise, its Makefile building the program there"
	fi
}

# kit_teardown: stop everything this test started, newest first. Each was
# started under supervise, which kills its whole process tree when asked.
kit_teardown() {
	local i pid
	for ((i = ${#KIT_STARTED[@]} - 1; i >= 0; i--)); do
		pid=${KIT_STARTED[i]}
		kill -TERM "$pid" 2>/dev/null || continue
	done
	for pid in "${KIT_STARTED[@]}"; do
		kit_wait_exit "$pid" 5 || kill -KILL "$pid" 2>/dev/null
	done
	KIT_STARTED=()
}

# kit_feedback LINE...: keep LINEs as this test's feedback for the grader's
# report (also shown by bats itself on failure).
kit_feedback() {
	if [[ -n "${KIT_FEEDBACK:-}" ]]; then
		printf '%s\n' "$@" >"$KIT_FEEDBACK/$BATS_TEST_NUMBER"
	fi
	printf '%s\n' "$@" >&2
}

# kit_fail EXPECTED GOT REVISIT: the failure message a student reads, then
# fail the test.
kit_fail() {
	kit_feedback "expected: $1" "got: $2" "revisit: $3"
	return 1
}

# kit_supervise STATUS_FILE TIMEOUT PROGRAM ARGS...: exec the student's
# PROGRAM under supervise (limits, its sandbox, whole tree killed at the end).
kit_supervise() {
	local status_file=$1 timeout=$2
	shift 2
	local user_opt=() sandbox_opt=()
	[[ -n "${KIT_USER:-}" ]] && user_opt=(--user "$KIT_USER")
	[[ -n "${KIT_SANDBOX:-}" ]] && sandbox_opt=(--sandbox "$(kit_sandbox_options "$status_file")")
	# shellcheck disable=SC2086 # KIT_LIMITS is a list of options
	# KIT_EXTRA_LIMITS, set by a test, comes last so that it wins (e.g.
	# "--nofile 64" for a test of running out of descriptors).
	exec "$KIT_PEERS/supervise" --timeout "$timeout" --status "$status_file" \
		${KIT_LIMITS:-} ${KIT_EXTRA_LIMITS:-} "${user_opt[@]}" "${sandbox_opt[@]}" -- "$@"
}

# kit_sandbox_options BESIDE: the sandbox's options file for one program:
# KIT_SANDBOX, and each library of LD_PRELOAD (a test's own helper) bound
# read-only at its path, in a file next to BESIDE. Prints the file's path.
kit_sandbox_options() {
	[[ -z "${LD_PRELOAD:-}" ]] && { printf '%s\n' "$KIT_SANDBOX"; return; }
	local file=$1.sandbox library options=() last
	mapfile -d '' -t options <"$KIT_SANDBOX"
	# KIT_SANDBOX ends with four words that make / and /dev read-only: the
	# libraries are bound before them.
	last=$((${#options[@]} - 4))
	{
		printf '%s\0' "${options[@]:0:last}"
		for library in ${LD_PRELOAD//:/ }; do
			[[ -f "$library" ]] && printf '%s\0' --ro-bind "$library" "$library"
		done
		printf '%s\0' "${options[@]:last}"
	} >"$file"
	printf '%s\n' "$file"
}

# kit_run [-t SECONDS] [-i INPUT_FILE] ARGS...: run the student's program
# with ARGS in the foreground. Sets:
#   status        its exit status (124 on timeout, 128+N when killed by N)
#   run_out       file with its stdout (bytes exactly as written)
#   run_err       file with its stderr
#   run_how       "exited 0", "killed by signal 13 (SIGPIPE)", "timed out after 10 s"
#   output        its stdout as text (for assert_output and friends)
kit_run() {
	local timeout=$KIT_RUN_TIMEOUT input=/dev/null
	while [[ $# -gt 0 ]]; do
		case $1 in
		-t) timeout=$2; shift 2 ;;
		-i) input=$2; shift 2 ;;
		*) break ;;
		esac
	done
	run_out=$(mktemp "$KIT_TMP/out.XXXXXX")
	run_err=$(mktemp "$KIT_TMP/err.XXXXXX")
	local status_file=$run_out.status
	status=0
	(kit_supervise "$status_file" "$timeout" "$KIT_PROGRAM" "$@") \
		<"$input" >"$run_out" 2>"$run_err" 3>&- || status=$?
	run_how=$(kit_explain "$(cat "$status_file" 2>/dev/null || echo "exited $status")")
	output=$(tr -d '\0' <"$run_out")
}

# kit_background NAME COMMAND...: run COMMAND in the background with its
# output in files. Sets NAME_pid, NAME_out, NAME_err, NAME_status_file.
kit_background() {
	local name=$1
	shift
	local out=$KIT_TMP/$name.out err=$KIT_TMP/$name.err
	# A name used twice in one test must not show the first run's lines.
	rm -f "$out" "$err" "$out.status"
	# bats waits on descriptor 3; a background process must not hold it.
	("$@") </dev/null >"$out" 2>"$err" 3>&- &
	local pid=$!
	KIT_STARTED+=("$pid")
	printf -v "${name}_pid" '%s' "$pid"
	printf -v "${name}_out" '%s' "$out"
	printf -v "${name}_err" '%s' "$err"
	printf -v "${name}_status_file" '%s' "$out.status"
}

# kit_start NAME ARGS...: start the student's program in the background,
# under supervise. Sets NAME_pid (supervise's), NAME_out, NAME_err,
# NAME_status_file.
kit_start() {
	kit_background "$1" kit_supervise "$KIT_TMP/$1.out.status" 120 "$KIT_PROGRAM" "${@:2}"
}

# kit_start_peer NAME PEER ARGS...: start one of the grader's own peers in
# the background, in a session of its own. Sets the same variables.
kit_start_peer() {
	kit_background "$1" "$KIT_PEERS/supervise" --timeout 120 --status "$KIT_TMP/$1.out.status" \
		-- "$KIT_PEERS/$2" "${@:3}"
}

# kit_now_us: microseconds on the wall clock.
kit_now_us() {
	printf '%s\n' "${EPOCHREALTIME/./}"
}

# kit_wait_until SECONDS COMMAND...: run COMMAND every 0.05 s until it
# succeeds (return 0) or SECONDS (decimals allowed) have passed (return 1).
kit_wait_until() {
	local whole=${1%%.*} fraction=000000 deadline
	[[ $1 == *.* ]] && fraction=${1#*.}000000
	deadline=$((${EPOCHREALTIME/./} + 10#${whole:-0} * 1000000 + 10#${fraction:0:6}))
	shift
	while :; do
		"$@" && return 0
		((${EPOCHREALTIME/./} >= deadline)) && return 1
		sleep 0.05
	done
}

# kit_is_running PID: true while PID is alive.
kit_is_running() {
	kill -0 "$1" 2>/dev/null
}

# kit_wait_line FILE REGEX [SECONDS]: wait until a line of FILE matches the
# extended REGEX; print that line. Fails after SECONDS (default 5).
kit_wait_line() {
	local file=$1 regex=$2 seconds=${3:-5} line
	local deadline=$((SECONDS + seconds))
	while :; do
		line=$(grep -a -m1 -E -- "$regex" "$file" 2>/dev/null) && {
			printf '%s\n' "$line"
			return 0
		}
		((SECONDS >= deadline)) && return 1
		sleep 0.05
	done
}

# kit_check_help SYNOPSIS: the G2 check of -h and --help: each prints a
# usage message (with the word "usage") on stdout and exits 0. SYNOPSIS is
# the program's command line, for the feedback.
kit_check_help() {
	local option
	for option in -h --help; do
		kit_run -t 5 "$option"
		if [[ $status -ne 0 || ! -s "$run_out" ]] || ! grep -a -q -i usage "$run_out"; then
			kit_fail "'$(basename "$KIT_PROGRAM") $option' prints a usage message (with the word Usage) on stdout and exits 0" \
				"it $run_how; stdout: $(kit_excerpt "$run_out"); stderr: $(kit_excerpt "$run_err")" \
				"the command line: $1; -h/--help is a request, not a mistake (stdout, exit 0)"
			return 1
		fi
	done
}

# kit_listening NAME: wait for NAME's "Listening on ADDRESS:PORT" line and
# set NAME_port. Fails the test with feedback when it does not come (G6).
kit_listening() {
	local name=$1 out_var=${1}_out pid_var=${1}_pid line="" port=""
	# Once one test found no usable line, the rest of the file would only
	# wait KIT_LISTEN_TIMEOUT each to find the same: skip them at once.
	local missing=${BATS_FILE_TMPDIR:-$KIT_TMP}/no-listening-line
	if [[ -f "$missing" && "$BATS_TEST_DESCRIPTION" != "G6 "* ]]; then
		skip "needs the server's 'Listening on ADDRESS:PORT' line, which did not come (see G6)"
	fi
	if line=$(kit_wait_line "${!out_var}" '^Listening on ' "$KIT_LISTEN_TIMEOUT"); then
		port=${line##*:}
		[[ "$port" =~ ^[1-9][0-9]*$ ]] && {
			printf -v "${name}_port" '%s' "$port"
			return 0
		}
	fi
	local got="no such line within ${KIT_LISTEN_TIMEOUT} s"
	[[ -n "$line" ]] && got="'$line', which names no usable port (the port listen() really got, not 0)"
	kill -0 "${!pid_var}" 2>/dev/null || got="$got; the program ended: $(kit_how "$name")"
	got="$got; stdout: $(kit_excerpt "${!out_var}"); stderr: $(kit_excerpt "${1}_err" indirect)"
	# Only G6 is about this line; every other server test depends on it
	# and is skipped with the reason rather than failed one by one.
	if [[ "$BATS_TEST_DESCRIPTION" != "G6 "* ]]; then
		: >"$missing"
		kit_feedback "expected: a first stdout line 'Listening on ADDRESS:PORT'" "got: $got"
		skip "needs the server's 'Listening on ADDRESS:PORT' line, which did not come (see G6)"
	fi
	kit_fail "a first stdout line 'Listening on ADDRESS:PORT' once listen() succeeds" \
		"$got" \
		"slide 'Example: TCP Server': bind(), listen(), then print where you listen (getsockname() for port 0), with stdout flushed"
}

# kit_needs WHAT WHY: end this test as not checked: it cannot run without
# WHAT (a requirement id and its name, e.g. "G6 server start"), and WHY
# says what happened instead. No advice: that belongs to WHAT's own test.
kit_needs() {
	kit_feedback "not checked: needs $1: $2"
	skip "not checked: needs $1: $2"
}

# kit_port_listening PORT: true when a TCP socket listens on PORT, on any
# local address, in this network namespace. Reads /proc; connects nothing,
# so the server sees no extra client.
kit_port_listening() {
	local hex
	printf -v hex ':%04X' "$1"
	awk -v port="$hex" '$4 == "0A" && substr($2, length($2) - 4) == port { found = 1 }
		END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# kit_serve NAME PORT ARGS...: start the student's server as NAME with ARGS,
# which give it PORT (a port the grader chose, e.g. from kit_free_port), and
# wait until it listens there. Sets NAME_port and kit_start's variables.
# The socket is the sign, not the "Listening on" line (only G6 reads that).
# When the server does not come up, the test ends as not checked.
kit_serve() {
	local name=$1 port=$2 pid_var=${1}_pid out_var=${1}_out err_var=${1}_err
	shift 2
	kit_start "$name" "$@"
	if kit_wait_until "$KIT_LISTEN_TIMEOUT" kit_serve_ready "$port" "${!pid_var}" &&
		kit_port_listening "$port"; then
		printf -v "${name}_port" '%s' "$port"
		return 0
	fi
	local how="is still running"
	kit_is_running "${!pid_var}" || how=$(kit_how "$name")
	kit_needs "G6 server start" \
		"'$(basename "$KIT_PROGRAM") $*' did not listen on port $port within ${KIT_LISTEN_TIMEOUT} s; it $how; stdout: $(kit_excerpt "${!out_var}"); stderr: $(kit_excerpt "${!err_var}")"
}

# kit_serve_ready PORT PID: true once PORT listens or PID has ended.
kit_serve_ready() {
	kit_port_listening "$1" || ! kit_is_running "$2"
}

# kit_how NAME: how NAME's process ended, from supervise's status file.
kit_how() {
	local file_var=${1}_status_file
	# supervise creates the file at the start and writes it at the end.
	if [[ -s "${!file_var}" ]]; then kit_explain "$(cat "${!file_var}")"; else echo "still running"; fi
}

# kit_explain HOW: supervise's status line, with the grader's own limits
# said in words where a student would not recognise the signal.
kit_explain() {
	case $1 in
	*SIGXFSZ*) echo "$1: it wrote more than the grader keeps (16 MiB) — a loop printing without end?" ;;
	*SIGXCPU*) echo "$1: it used more than the grader allows (60 s of CPU) — a busy loop?" ;;
	*) echo "$1" ;;
	esac
}

# kit_wait_exit PID SECONDS: wait for background PID to end; sets
# wait_status to its exit status. Fails if it is still running after SECONDS.
kit_wait_exit() {
	local pid=$1 seconds=$2 i
	for ((i = 0; i < seconds * 20; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait_status=0
			wait "$pid" 2>/dev/null || wait_status=$?
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# kit_excerpt FILE [indirect]: FILE's last lines on one line, cut to 300
# characters with a note saying so; "(empty)" for nothing. With "indirect",
# FILE names a variable holding the path.
kit_excerpt() {
	local file=$1 text
	[[ "${2:-}" == indirect ]] && file=${!1}
	text=$(tail -n 5 "$file" 2>/dev/null | tr -d '\0' | tr '\n' '|' | sed 's/|$//; s/|/ | /g')
	[[ -z "$text" ]] && { echo "(empty)"; return; }
	if ((${#text} > 300)); then
		text="${text:0:300}... (cut; $(wc -c <"$file") bytes in all)"
	fi
	printf "'%s'" "$text"
}

# kit_first_difference EXPECTED_FILE GOT_FILE: "byte N: expected 0xAA, got
# 0xBB" for the first byte where the files differ, or the shorter length.
kit_first_difference() {
	local line
	# cmp's "EOF on FILE" note (lengths differ) goes to stderr: drop it.
	line=$(cmp -l -- "$1" "$2" 2>/dev/null | head -n 1)
	local expected_size got_size
	expected_size=$(wc -c <"$1")
	got_size=$(wc -c <"$2")
	if [[ "$line" =~ ^\ *([0-9]+)\ +([0-7]+)\ +([0-7]+) ]]; then
		printf 'first difference at byte %d: expected 0x%02x, got 0x%02x (%d bytes expected, %d received)' \
			"${BASH_REMATCH[1]}" "$((8#${BASH_REMATCH[2]}))" "$((8#${BASH_REMATCH[3]}))" \
			"$expected_size" "$got_size"
	else
		printf '%d bytes expected, %d received (the first %d match)' \
			"$expected_size" "$got_size" "$((expected_size < got_size ? expected_size : got_size))"
	fi
}

# kit_free_port: a TCP port where nothing listens just now, on any local
# address, from below the range the kernel hands out to clients (see
# peers/freeport.c), so that no other program's connect() takes it.
kit_free_port() {
	"$KIT_PEERS/freeport"
}

# kit_cpu_seconds PID: user+system CPU seconds PID has used so far.
kit_cpu_seconds() {
	local ticks
	ticks=$(awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null) || return 1
	awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f\n", t / hz }'
}

# kit_child_pid SUPERVISE_PID: the student program supervise runs, as this
# namespace sees it: below supervise come its init (and, in a sandbox,
# bwrap before it), then the program.
kit_child_pid() {
	local pid=$1 child depth name
	for ((depth = 0; depth < 3; depth++)); do
		# read, not cat: this runs in polling loops, and a builtin costs no
		# process. The file has no newline, so read's status says nothing.
		child=""
		read -r child _ 2>/dev/null <"/proc/$pid/task/$pid/children"
		[[ -n "$child" ]] || return 1
		read -r name 2>/dev/null <"/proc/$child/comm" || return 1
		[[ $name == supervise || $name == bwrap ]] || { printf '%s\n' "$child"; return 0; }
		pid=$child
	done
	return 1
}
