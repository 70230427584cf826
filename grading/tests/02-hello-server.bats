# 02-hello-server.bats - the grader's tests for 02-hello-server
# (slides "Example: TCP Server" ... "Waiting for the next connection";
# contract G1-G7, H1-H3).
#
# The student's server runs in the background on a free port (port 0, or
# one that $KIT_PEERS/freeport names); the grader's probe ($KIT_PEERS/probe)
# plays the clients: it prints its own address ("local ADDR:PORT") on
# stderr and copies what the server sends to stdout until the server
# closes, or it resets, closes at once, or holds the connection without
# reading. The grader's httpd only occupies a port (G3).

load ../lib/kit

setup() { kit_setup; }
teardown() { kit_teardown; }

PROGRAM=hello-server

# ---- helpers of this file -----------------------------------------------------

# server_start [ARGS...]: start the student's server with ARGS (default:
# port 0) and wait for its "Listening on" line. Sets server_port (and
# server_pid, server_out, server_err, server_status_file).
server_start() {
	[[ $# -eq 0 ]] && set -- 0
	kit_start server "$@"
	kit_listening server
}

# probe_run HOST PORT [PROBE_OPTIONS...]: one client, in the foreground,
# that reads until the server closes (3 s at most). Sets probe_status,
# probe_out (a file with the bytes received), probe_err, and probe_local
# and probe_local_port (this client's own address, as the server sees it).
probe_run() {
	local host=$1 port=$2
	shift 2
	probe_out=$(mktemp "$KIT_TMP/probe.XXXXXX")
	probe_err=$probe_out.err
	probe_status=0
	"$KIT_PEERS/probe" --timeout 3000 "$@" "$host" "$port" \
		</dev/null >"$probe_out" 2>"$probe_err" 3>&- || probe_status=$?
	probe_local=$(sed -n 's/^local //p' "$probe_err" | head -n 1)
	probe_local_port=${probe_local##*:}
}

# have_ipv6: true when this host has the IPv6 loopback address ::1.
have_ipv6() {
	grep -q '^0\{31\}1 ' /proc/net/if_inet6 2>/dev/null
}


# server_state: how the server is doing, for a failure message.
server_state() {
	local how="still running"
	kit_is_running "$server_pid" || how=$(kit_how server)
	printf '%s; its stdout %s; its stderr %s' "$how" \
		"$(kit_excerpt "$server_out")" "$(kit_excerpt "$server_err")"
}

# shown FILE: FILE's bytes for a failure message, with \n, \r and \0 shown.
shown() {
	local text
	text=$(head -c 200 "$1" | od -An -c -v | tr -s ' \n' ' ')
	[[ -s "$1" ]] || text=" (nothing)"
	printf '%s' "${text# }"
}

# expect_greeting IP WHAT: fail unless the last probe_run got exactly
# "Hello IP\n" and then the end of the connection (H2's exact check).
expect_greeting() {
	local expected=$KIT_TMP/expected-greeting
	printf 'Hello %s\n' "$1" >"$expected"
	if ! cmp -s "$expected" "$probe_out"; then
		kit_fail "$2: exactly 'Hello $1\\n' ($(wc -c <"$expected") bytes), then the connection closed" \
			"$(kit_first_difference "$expected" "$probe_out"); the client received: $(shown "$probe_out"); the server: $(server_state)" \
			"slide 'Example: TCP Server': c.send('Hello %s\\n' % a[0]) with the client's IP in its usual text form (127.0.0.1 also on a dual-stack socket, not ::ffff:127.0.0.1)"
		return 1
	fi
	expect_closed "$2"
}

# expect_served WHAT: fail unless the last probe_run got a greeting (bytes
# that start with "Hello ") and then the end of the connection. Tests of
# other requirements use this, so that a wrong greeting fails H2 alone.
expect_served() {
	if [[ "$(head -c 6 "$probe_out")" != "Hello " ]]; then
		kit_fail "$1: a greeting 'Hello ...', then the connection closed" \
			"the client received: $(shown "$probe_out") ($(kit_excerpt "$probe_err")); the server: $(server_state)" \
			"slide 'Example: TCP Server': accept(), send the greeting, close(); then accept() the next client"
		return 1
	fi
	expect_closed "$1"
}

# expect_closed WHAT: fail unless the last probe_run saw the server close.
expect_closed() {
	if [[ $probe_status -ne 0 ]]; then
		kit_fail "$1: the connection closed after the greeting" \
			"the client did not see it close ($(kit_excerpt "$probe_err"))" \
			"slide 'Example: TCP Server': c.close() after c.send()"
		return 1
	fi
}

# expect_still_running WHAT: fail when the server has ended.
expect_still_running() {
	if ! kit_is_running "$server_pid"; then
		kit_fail "the server still running $1" "it ended: $(server_state)" \
			"slide 'Waiting for the next connection': one client's trouble must not end the loop; report it on stderr and accept() the next"
		return 1
	fi
}

# is_error_line FILE: true when FILE is exactly one line of the form
# "hello-server: WHAT: REASON" (PROGRAM may be given with its path).
is_error_line() {
	[[ $(wc -l <"$1") -eq 1 && $(tail -c 1 "$1" | od -An -tx1) == " 0a" ]] &&
		grep -a -q -E "^([^ :]*/)?$PROGRAM: .+: .+\$" "$1"
}

# expect_stop SIGNAL: send SIGNAL to the running server (supervise passes it
# on) and fail unless it exits 0 within 1 s and no longer listens.
expect_stop() {
	local signal=$1
	if ! kit_is_running "$server_pid"; then
		kit_fail "the server still running, waiting for the next client, until SIG$signal comes" \
			"it had ended before: $(server_state)" \
			"slide 'Waiting for the next connection': while True: accept() the next client"
		return 1
	fi
	kill "-$signal" "$server_pid"
	if ! kit_wait_exit "$server_pid" 1; then
		kit_fail "exit status 0 within 1 s of SIG$signal" "still running 1 s later" \
			"catch SIGINT/SIGTERM without SA_RESTART: accept() then fails with EINTR; leave the loop, close the socket, exit 0"
		return 1
	fi
	if [[ "$(kit_how server)" != "exited 0" ]]; then
		kit_fail "exit status 0 on SIG$signal (a requested stop is no failure)" "$(server_state)" \
			"catch SIGINT and SIGTERM (sigaction): set a flag, leave the accept() loop, close the socket, exit 0"
		return 1
	fi
	probe_run 127.0.0.1 "$server_port" --timeout 1000
	if [[ $probe_status -eq 0 || -s "$probe_out" ]]; then
		kit_fail "nothing listening on port $server_port once the server exited" \
			"a client still connected there and got $(shown "$probe_out")" \
			"close every socket, and do not leave a child process behind"
		return 1
	fi
}

# ---- G: every program ---------------------------------------------------------

@test "G1 layout: make -C 02-hello-server builds hello-server" {
	kit_check_built
}

@test "G2 usage: -h and --help print usage on stdout and exit 0" {
	kit_check_help "hello-server [PORT]"
}

@test "G2 usage: too many arguments or an unknown option exit 2 with usage on stderr and serve nothing" {
	local port args
	port=$(kit_free_port)
	for args in "$port extra" "-x" "-x $port"; do
		# shellcheck disable=SC2086 # each case is a list of words
		kit_run -t 5 $args
		if [[ $status -ne 2 || ! -s "$run_err" || -s "$run_out" ]]; then
			kit_fail "'$PROGRAM $args': a usage message on stderr, nothing on stdout, exit status 2, at once" \
				"stdout $(kit_excerpt "$run_out"); $run_how; stderr $(kit_excerpt "$run_err")" \
				"the command line: [PORT] only; check it before socket() and bind()"
			return 1
		fi
	done
}

@test "G2 usage: bad ports (abc, 65536 and up, -1, empty) exit 2 with usage on stderr and serve nothing" {
	local free port
	free=$(kit_free_port)
	# FREE + 65536 is a free port again for a program that keeps only the
	# low 16 bits (htons(atoi(...))): that mistake starts serving.
	for port in abc 65536 "$((free + 65536))" -1 "" 12ab; do
		kit_run -t 5 "$port"
		if [[ $status -ne 2 || ! -s "$run_err" || -s "$run_out" ]]; then
			kit_fail "'$PROGRAM \"$port\"': a usage message on stderr, nothing on stdout, exit status 2, at once (a port is a decimal number from 0 to 65535)" \
				"stdout $(kit_excerpt "$run_out"); $run_how; stderr $(kit_excerpt "$run_err")" \
				"the command line: check the port strictly (all digits, range) before bind()"
			return 1
		fi
	done
}

@test "G3 failures: a port already in use gives one line 'hello-server: WHAT: REASON' on stderr and exit 1" {
	local line
	kit_start_peer occupant httpd --host 0.0.0.0 --port 0 --count 0
	line=$(kit_wait_line "$occupant_out" '^Listening on ' 5) || {
		kit_fail "the grader's httpd to occupy a port" "it did not start: $(kit_excerpt "$occupant_err")" \
			"nothing in your program: the grader itself failed; tell your instructor"
		return 1
	}
	kit_run -t 5 "${line##*:}"
	if [[ $status -ne 1 ]] || ! is_error_line "$run_err"; then
		kit_fail "exit status 1 and one stderr line like '$PROGRAM: listen on * port ${line##*:}: Address already in use'" \
			"$run_how; stdout $(kit_excerpt "$run_out"); stderr $(kit_excerpt "$run_err")" \
			"bind() fails with EADDRINUSE when the port is taken: report it (strerror) in one line and exit 1"
		return 1
	fi
}

@test "G4 flushed output: 'Listening on' and 'Received connection from' reach the stdout file while the server runs" {
	kit_start server 0
	if ! kit_wait_line "$server_out" '^Listening on ' 3 >/dev/null; then
		kit_fail "the line 'Listening on ADDRESS:PORT' in the stdout file (a file, not a terminal) within 3 s" \
			"$(server_state)" \
			"stdout to a file is fully buffered: fflush(stdout) after each line, or setvbuf(stdout, NULL, _IOLBF, 0) once"
		return 1
	fi
	kit_listening server
	probe_run 127.0.0.1 "$server_port"
	if ! kit_wait_line "$server_out" '^Received connection from ' 2 >/dev/null; then
		kit_fail "the line 'Received connection from 127.0.0.1:$probe_local_port' in the stdout file while the server waits for the next client" \
			"$(server_state)" \
			"stdout to a file is fully buffered: fflush(stdout) after each line, or setvbuf(stdout, NULL, _IOLBF, 0) once"
		return 1
	fi
}

@test "G5 no SIGPIPE death: greetings to clients that already hung up or reset never kill the server; the next one is greeted" {
	local i program
	server_start
	# A busy server: while it is stopped, three clients connect, half-close
	# and reset. When it goes on, each greeting goes to a connection that
	# is gone: send() fails with EPIPE, and raises SIGPIPE unless ignored.
	if program=$(kit_child_pid "$server_pid"); then
		kill -STOP "$program"
		for ((i = 0; i < 3; i++)); do
			probe_run 127.0.0.1 "$server_port" --shutdown --reset
		done
		kill -CONT "$program"
	fi
	for ((i = 0; i < 5; i++)); do
		probe_run 127.0.0.1 "$server_port" --reset
		probe_run 127.0.0.1 "$server_port" --no-read --hold 0
	done
	probe_run 127.0.0.1 "$server_port"
	if ! kit_is_running "$server_pid"; then
		local revisit="slide 'Waiting for the next connection': a failed send() is that client's trouble; report it on stderr, close, and accept() the next"
		[[ "$(kit_how server)" == *SIGPIPE* ]] &&
			revisit="signal(SIGPIPE, SIG_IGN) once at the start: send() to a closed connection then returns -1 (EPIPE) instead of killing the server"
		kit_fail "the server still running after greetings to 13 clients that had hung up or reset" \
			"it ended: $(server_state)" "$revisit"
		return 1
	fi
	expect_served "the next client after 13 that went away"
}

@test "G6 server start: the first stdout line is 'Listening on [::]:PORT' or 'Listening on 0.0.0.0:PORT' with the port asked for" {
	local port first
	port=$(kit_free_port)
	server_start "$port"
	first=$(head -n 1 "$server_out")
	if [[ "$first" != "Listening on [::]:$port" && "$first" != "Listening on 0.0.0.0:$port" ]]; then
		kit_fail "first stdout line 'Listening on [::]:$port' (or 'Listening on 0.0.0.0:$port')" \
			"first line '$first'" \
			"print the address that getsockname() reports for the listening socket, IPv6 in brackets"
		return 1
	fi
	probe_run 127.0.0.1 "$port"
	expect_served "a client of port $port"
}

@test "G6 server start: port 0 picks a free port, and the line shows the real one" {
	server_start 0
	if [[ ! "$server_port" =~ ^[1-9][0-9]*$ ]]; then
		kit_fail "'Listening on ADDRESS:PORT' with the port the system chose, not 0" \
			"first line '$(head -n 1 "$server_out")'" \
			"after bind() to port 0, getsockname() tells which port you got"
		return 1
	fi
	probe_run 127.0.0.1 "$server_port"
	expect_served "a client of the port the line shows ($server_port)"
}

@test "G7 server stop: SIGTERM makes the server close its socket and exit 0 within 1 s" {
	server_start
	probe_run 127.0.0.1 "$server_port"
	expect_stop TERM
}

@test "G7 server stop: SIGINT makes the server close its socket and exit 0 within 1 s" {
	server_start
	probe_run 127.0.0.1 "$server_port"
	expect_stop INT
}

# ---- H: 02-hello-server -------------------------------------------------------

@test "H1 bind: the server is reachable at 127.0.0.1 and, where the host has IPv6, at ::1" {
	server_start
	probe_run 127.0.0.1 "$server_port"
	expect_served "a client at 127.0.0.1"
	have_ipv6 || return 0
	probe_run ::1 "$server_port"
	expect_served "a client at ::1 (this host has IPv6)"
}

@test "H1 bind: a restart on the same port right after serving clients listens at once (SO_REUSEADDR)" {
	local port i first_out
	server_start
	port=$server_port
	for ((i = 0; i < 3; i++)); do probe_run 127.0.0.1 "$port"; done
	expect_served "a client before the restart"
	kill -TERM "$server_pid"
	kit_wait_exit "$server_pid" 3 || kill -KILL "$server_pid"
	first_out=$server_out
	# The connections just closed wait in TIME_WAIT on this port for a while.
	# (A name of its own, so that the first run's lines are not read again.)
	kit_start restarted "$port"
	server_pid=$restarted_pid server_out=$restarted_out server_err=$restarted_err
	server_status_file=$restarted_status_file
	if ! kit_wait_line "$server_out" "^Listening on .*:$port\$" 3 >/dev/null; then
		kit_fail "'Listening on ...:$port' again at once: a restart on the same port works" \
			"$(server_state) (the first run printed $(kit_excerpt "$first_out"))" \
			"setsockopt(SO_REUSEADDR) before bind(): connections just served keep the port in TIME_WAIT"
		return 1
	fi
	probe_run 127.0.0.1 "$port"
	expect_served "a client after the restart"
}

@test "H2 greeting: an IPv4 client gets exactly 'Hello 127.0.0.1\\n'; the server prints 'Received connection from 127.0.0.1:PORT'" {
	local want
	server_start
	probe_run 127.0.0.1 "$server_port"
	expect_greeting 127.0.0.1 "a client at 127.0.0.1"
	want="Received connection from 127.0.0.1:$probe_local_port"
	if ! kit_wait_line "$server_out" "^${want//./\\.}\$" 2 >/dev/null; then
		kit_fail "a stdout line '$want' (the client's address and port)" \
			"$(server_state)" \
			"slide 'Example: TCP Server': print the address accept() returned, dotted IPv4 (not ::ffff:...), ':', the client's port"
		return 1
	fi
}

@test "H2 greeting: an IPv6 client gets exactly 'Hello ::1\\n'; the server prints 'Received connection from [::1]:PORT'" {
	local want
	have_ipv6 || skip "this host has no IPv6 loopback address"
	server_start
	probe_run ::1 "$server_port"
	expect_greeting ::1 "a client at ::1"
	want="Received connection from [::1]:$probe_local_port"
	if ! kit_wait_line "$server_out" "^Received connection from \\[::1\\]:$probe_local_port\$" 2 >/dev/null; then
		kit_fail "a stdout line '$want' (IPv6 addresses in brackets, then the port)" \
			"$(server_state)" \
			"format the address accept() returned with inet_ntop/getnameinfo; IPv6 in [brackets] before ':PORT'"
		return 1
	fi
}

@test "H3 forever: 20 clients one after another are each greeted" {
	local i count
	server_start
	for ((i = 1; i <= 20; i++)); do
		probe_run 127.0.0.1 "$server_port"
		expect_served "client $i of 20"
	done
	count=$(grep -a -c '^Received connection from ' "$server_out")
	if [[ $count -ne 20 ]]; then
		kit_fail "20 lines 'Received connection from ...', one per client" "$count lines; $(server_state)" \
			"slide 'Waiting for the next connection': print one line per accepted client"
		return 1
	fi
}

@test "H3 forever: a client that resets, one that never reads and one that vanishes do not stop the server" {
	server_start
	probe_run 127.0.0.1 "$server_port" --reset
	# Connects, sends nothing, reads nothing, and stays 2 s.
	kit_start_peer idle probe --no-read --hold 2000 127.0.0.1 "$server_port"
	kit_wait_line "$idle_err" '^local ' 2 >/dev/null || true
	probe_run 127.0.0.1 "$server_port" --no-read --hold 0
	probe_run 127.0.0.1 "$server_port" --timeout 1500
	expect_still_running "after a client that reset, while one that never reads is connected"
	expect_served "a normal client, within 1.5 s, while a client that never reads or sends is still connected"
}
