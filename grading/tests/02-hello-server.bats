# 02-hello-server.bats - the grader's tests for 02-hello-server
# (slides "Example: TCP Server" ... "Waiting for the next connection";
# contract G1-G7, H1-H3).
#
# The student's server runs in the background on a port the grader chose
# (kit_free_port), given on its command line; the grader waits for the
# socket, not for the "Listening on" line, which only G6 reads (and its
# port-0 test alone needs). The grader's probe ($KIT_PEERS/probe) plays the
# clients: it prints its own address ("local ADDR:PORT") on stderr and
# copies what the server sends to stdout until the server closes (H2), or
# only up to the first line (--line: every other test takes any line that
# starts with "Hello" as a greeting, and does not wait for the close), or
# it resets, closes at once, or holds the connection without reading. Only
# G4 and H2 look at the server's "Received connection from" lines. The
# grader's httpd only occupies a port (G3).

load ../lib/kit

setup() { kit_setup; }
teardown() { kit_teardown; }

PROGRAM=hello-server

# ---- helpers of this file -----------------------------------------------------

# serve: start the student's server on a free port the grader chose, and
# wait until it listens there (or end the test: not checked, needs G6).
# Sets server_port (and server_pid, server_out, server_err,
# server_status_file).
serve() {
	local port
	port=$(kit_free_port)
	kit_serve server "$port" "$port"
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

# refused: true when the last probe_run could not connect at all.
refused() {
	grep -a -q '^probe: connect to ' "$probe_err"
}

# client_run PORT [PROBE_OPTIONS...]: one client of the server on PORT,
# as a means: at 127.0.0.1, or at ::1 when 127.0.0.1 refuses and the host
# has IPv6 (which addresses a server listens on is H1's business alone).
# By default it reads the first line only (--line, 3 s at most).
client_run() {
	local port=$1
	shift
	(($# > 0)) || set -- --line
	probe_run 127.0.0.1 "$port" "$@"
	if refused && have_ipv6; then
		probe_run ::1 "$port" "$@"
	fi
}

# greeted: true when the last probe_run received a line that starts with
# "Hello": a greeting, as far as any test but H2's is concerned.
greeted() {
	[[ "$(head -c 5 "$probe_out")" == Hello ]]
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

# stop_server: SIGTERM to the server, SIGKILL when it is still running 2 s
# later. A server that buffers its stdout writes it out when it exits, so
# a test can then read lines that the server printed but never flushed.
stop_server() {
	kit_is_running "$server_pid" || return 0
	kill -TERM "$server_pid" 2>/dev/null
	kit_wait_exit "$server_pid" 2 || {
		kill -KILL "$server_pid" 2>/dev/null
		kit_wait_exit "$server_pid" 2 || true
	}
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
			"slide 'Example: TCP Server': c.send('Hello %s\\n' % a[0]): the word Hello, one space, the client's IP in its usual text form (127.0.0.1 also on a dual-stack socket, not ::ffff:127.0.0.1), a newline"
		return 1
	fi
	if [[ $probe_status -ne 0 ]]; then
		kit_fail "$2: the connection closed after the greeting" \
			"the greeting was right, but the client did not see the connection close ($(kit_excerpt "$probe_err"))" \
			"slide 'Example: TCP Server': c.close() after c.send(): the client reads until the server closes"
		return 1
	fi
}

# expect_log_line WANT WHAT: fail unless the server's stdout has the line
# WANT (a fixed string). The line may come late: a server that buffers its
# stdout is stopped and its output read once more (flushing is G4's
# business, not H2's).
expect_log_line() {
	local want=$1
	kit_wait_line "$server_out" "^$(printf '%s' "$want" | sed 's/[][\.*^$]/\\&/g')\$" 2 >/dev/null && return 0
	stop_server
	grep -a -q -x -F -- "$want" "$server_out" && return 0
	kit_fail "a stdout line '$want' ($2)" \
		"no such line, neither while the server ran nor once it was stopped (SIGTERM); its stdout $(kit_excerpt "$server_out"); its stderr $(kit_excerpt "$server_err")" \
		"slide 'Example: TCP Server': print 'Received connection from' and the address accept() returned: the IP in its usual text form (IPv6 in [brackets], IPv4 dotted, not ::ffff:...), ':', the client's port"
}

# is_error_line FILE: true when FILE is exactly one line of the form
# "hello-server: WHAT: REASON" (PROGRAM may be given with its path).
is_error_line() {
	[[ $(wc -l <"$1") -eq 1 && $(tail -c 1 "$1" | od -An -tx1) == " 0a" ]] &&
		grep -a -q -E "^([^ :]*/)?$PROGRAM: .+: .+\$" "$1"
}

# clients_gone_while_busy N: N clients connect, half-close and reset while
# the server is stopped (as if busy). When it goes on, each greeting goes
# to a connection that is gone: send() fails with EPIPE or ECONNRESET, and
# raises SIGPIPE unless that is ignored.
clients_gone_while_busy() {
	local i program
	program=$(kit_child_pid "$server_pid") || return 0
	kill -STOP "$program"
	for ((i = 0; i < $1; i++)); do
		probe_run 127.0.0.1 "$server_port" --shutdown --reset
	done
	kill -CONT "$program"
}

# expect_stop SIGNAL: send SIGNAL to the running server (supervise passes it
# on) and fail unless it exits 0 within 1 s and no longer listens.
expect_stop() {
	local signal=$1
	if ! kit_is_running "$server_pid"; then
		kit_needs "G6 server start" "the server ended by itself before SIG$signal came: $(server_state)"
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
	if kit_port_listening "$server_port"; then
		kit_fail "nothing listening on port $server_port once the server exited" \
			"something still listens there" \
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
	local line host=0.0.0.0
	# On "::" the grader's httpd takes the port for IPv6 and IPv4 alike, so
	# the port is in use whichever addresses the server binds.
	have_ipv6 && host=::
	kit_start_peer occupant httpd --host "$host" --port 0 --count 0
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
	local line missing=""
	serve
	client_run "$server_port"
	for line in 'Listening on ' 'Received connection from '; do
		kit_wait_line "$server_out" "^$line" 3 >/dev/null || missing+="${missing:+ and }'$line...'"
	done
	[[ -z "$missing" ]] && return 0
	local running_out=$KIT_TMP/while-running
	cp "$server_out" "$running_out"
	# Lines that show up only once the server has exited were printed, but
	# kept in a buffer: that is this test's failure. Lines that never show
	# up at all are G6's ('Listening on') or H2's ('Received connection').
	stop_server
	for line in 'Listening on ' 'Received connection from '; do
		[[ "$missing" == *"'$line...'"* ]] || continue
		if ! grep -a -q "^$line" "$server_out"; then
			local id="H2 greeting"
			[[ $line == Listening* ]] && id="G6 server start"
			kit_needs "$id" "the server printed no line '$line...', not even when it exited: $(server_state)"
		fi
	done
	kit_fail "$missing in the stdout file (a file, not a terminal) while the server runs, within 3 s of a client" \
		"they reached the file only when the server exited; while it ran, the file held $(kit_excerpt "$running_out")" \
		"stdout to a file is fully buffered: fflush(stdout) after each line, or setvbuf(stdout, NULL, _IOLBF, 0) once"
}

@test "G5 no SIGPIPE death: greetings to clients that already hung up or reset never kill the server" {
	local i
	serve
	clients_gone_while_busy 3
	for ((i = 0; i < 5; i++)); do
		probe_run 127.0.0.1 "$server_port" --reset
		probe_run 127.0.0.1 "$server_port" --no-read --hold 0
	done
	# One more client, read as far as its greeting: by then the server has
	# sent to all the others (it serves them one after another).
	client_run "$server_port"
	kit_is_running "$server_pid" && return 0
	if [[ "$(kit_how server)" == *SIGPIPE* ]]; then
		kit_fail "the server still running after greetings to 13 clients that had hung up or reset" \
			"it ended: $(server_state)" \
			"signal(SIGPIPE, SIG_IGN) once at the start: send() to a closed connection then returns -1 (EPIPE) instead of killing the server"
		return 1
	fi
	# Any other end is one client's trouble ending the loop: H3's.
	kit_needs "H3 forever" "the server ended while clients kept coming, not by SIGPIPE: $(server_state)"
}

@test "G6 server start: the first stdout line is 'Listening on [::]:PORT' or 'Listening on 0.0.0.0:PORT' with the port asked for" {
	local first
	serve
	# The line's content is this test's business; when it reaches the file
	# (G4) is not: a server that keeps it in a buffer writes it on exit.
	if ! kit_wait_line "$server_out" '.' 3 >/dev/null; then
		stop_server
	fi
	first=$(head -n 1 "$server_out")
	if [[ "$first" != "Listening on [::]:$server_port" && "$first" != "Listening on 0.0.0.0:$server_port" ]]; then
		kit_fail "first stdout line 'Listening on [::]:$server_port' (or 'Listening on 0.0.0.0:$server_port') for '$PROGRAM $server_port'" \
			"first line '$first'; the server: $(server_state)" \
			"slide 'Example: TCP Server': once listen() succeeds, print the address getsockname() reports for the listening socket, IPv6 in brackets"
		return 1
	fi
}

@test "G6 server start: port 0 picks a free port, and the line shows the real one" {
	local line port
	kit_start server 0
	if ! line=$(kit_wait_line "$server_out" '^Listening on ' "$KIT_LISTEN_TIMEOUT"); then
		local running=yes
		kit_is_running "$server_pid" || running=""
		stop_server
		if [[ -n "$running" ]] && grep -a -q '^Listening on ' "$server_out"; then
			kit_needs "G4 flushed output" \
				"the 'Listening on' line reached the stdout file only when the server exited, so the port it names could not be tried while it ran: $(server_state)"
		fi
		kit_fail "'$PROGRAM 0': a first stdout line 'Listening on ADDRESS:PORT' once listen() succeeds" \
			"no such line within ${KIT_LISTEN_TIMEOUT} s; the server: $(server_state)" \
			"slide 'Example: TCP Server': bind(), listen(), then print where you listen"
		return 1
	fi
	port=${line##*:}
	if [[ ! "$port" =~ ^[1-9][0-9]*$ ]] || ! kit_port_listening "$port"; then
		kit_fail "'Listening on ADDRESS:PORT' with the port the system chose for port 0, where the server listens" \
			"the line '$line', but nothing listens on port '$port'; the server: $(server_state)" \
			"after bind() to port 0, getsockname() tells which port you got: print that one, not the 0 you asked for"
		return 1
	fi
}

@test "G7 server stop: SIGTERM makes the server close its socket and exit 0 within 1 s" {
	serve
	expect_stop TERM
}

@test "G7 server stop: SIGINT makes the server close its socket and exit 0 within 1 s" {
	serve
	expect_stop INT
}

# ---- H: 02-hello-server -------------------------------------------------------

@test "H1 bind: the server is reachable at 127.0.0.1 and, where the host has IPv6, at ::1" {
	local host
	for host in 127.0.0.1 ::1; do
		[[ $host == ::1 ]] && ! have_ipv6 && continue
		# A server of its own for each address: a server that serves one
		# client only is H3's failure, not this one's.
		kit_teardown
		serve
		probe_run "$host" "$server_port" --no-read --hold 0
		if refused; then
			kit_fail "'$PROGRAM $server_port' accepts a client at $host (this host has $( [[ $host == ::1 ]] && echo IPv6 || echo IPv4))" \
				"the connection was refused ($(kit_excerpt "$probe_err")); the server: $(server_state)" \
				"slide 'Example: TCP Server': bind((\"\", port)) binds every local address: NULL host with AI_PASSIVE, and on an IPv6 socket IPV6_V6ONLY off, so IPv4 and IPv6 clients both reach it"
			return 1
		fi
	done
}

@test "H1 bind: a restart on the same port right after serving a client listens at once (SO_REUSEADDR)" {
	local port
	serve
	port=$server_port
	# The server closes first, so its end of the connection waits in
	# TIME_WAIT on this port for a while.
	probe_run 127.0.0.1 "$port"
	stop_server
	# (A name of its own, so that the first run's lines are not read again.)
	kit_start restarted "$port"
	server_pid=$restarted_pid server_out=$restarted_out server_err=$restarted_err
	server_status_file=$restarted_status_file
	if ! kit_wait_until 3 kit_serve_ready "$port" "$server_pid" || ! kit_port_listening "$port"; then
		kit_fail "'$PROGRAM $port' listens again at once: a restart on the same port works" \
			"it did not listen on port $port within 3 s; $(server_state)" \
			"setsockopt(SO_REUSEADDR) before bind(): connections just served keep the port in TIME_WAIT"
		return 1
	fi
}

@test "H2 greeting: an IPv4 client gets exactly 'Hello 127.0.0.1\\n', then the connection closes" {
	serve
	probe_run 127.0.0.1 "$server_port"
	refused && kit_needs "H1 bind" "a client at 127.0.0.1 was refused: $(kit_excerpt "$probe_err")"
	expect_greeting 127.0.0.1 "a client at 127.0.0.1"
}

@test "H2 greeting: an IPv6 client gets exactly 'Hello ::1\\n', then the connection closes" {
	have_ipv6 || skip "this host has no IPv6 loopback address"
	serve
	probe_run ::1 "$server_port"
	refused && kit_needs "H1 bind" "a client at ::1 was refused: $(kit_excerpt "$probe_err")"
	expect_greeting ::1 "a client at ::1"
}

@test "H2 greeting: for an IPv4 client the server prints 'Received connection from 127.0.0.1:PORT'" {
	serve
	probe_run 127.0.0.1 "$server_port" --line
	refused && kit_needs "H1 bind" "a client at 127.0.0.1 was refused: $(kit_excerpt "$probe_err")"
	expect_log_line "Received connection from 127.0.0.1:$probe_local_port" "the client's address and port"
}

@test "H2 greeting: for an IPv6 client the server prints 'Received connection from [::1]:PORT'" {
	have_ipv6 || skip "this host has no IPv6 loopback address"
	serve
	probe_run ::1 "$server_port" --line
	refused && kit_needs "H1 bind" "a client at ::1 was refused: $(kit_excerpt "$probe_err")"
	expect_log_line "Received connection from [::1]:$probe_local_port" "IPv6 addresses in brackets, then the port"
}

@test "H3 forever: 20 clients one after another are each greeted" {
	local i
	serve
	client_run "$server_port"
	greeted || kit_needs "H2 greeting" "the first client got no line starting 'Hello': $(shown "$probe_out") ($(kit_excerpt "$probe_err")); the server: $(server_state)"
	for ((i = 2; i <= 20; i++)); do
		client_run "$server_port"
		if ! greeted; then
			kit_fail "client $i of 20, one after another: a greeting 'Hello ...' each" \
				"client $i received $(shown "$probe_out") ($(kit_excerpt "$probe_err")); the server: $(server_state)" \
				"slide 'Waiting for the next connection': while True: accept() the next client, greet it, close it; never leave the loop"
			return 1
		fi
	done
}

@test "H3 forever: a client that resets, one that never reads and one that vanishes do not stop the server" {
	serve
	client_run "$server_port"
	greeted || kit_needs "H2 greeting" "the first client got no line starting 'Hello': $(shown "$probe_out") ($(kit_excerpt "$probe_err")); the server: $(server_state)"
	probe_run 127.0.0.1 "$server_port" --reset
	clients_gone_while_busy 2
	# Connects, sends nothing, reads nothing, and stays 2 s.
	kit_start_peer idle probe --no-read --hold 2000 127.0.0.1 "$server_port"
	kit_wait_line "$idle_err" '^local ' 2 >/dev/null || true
	probe_run 127.0.0.1 "$server_port" --no-read --hold 0
	client_run "$server_port" --line --timeout 1500
	if ! kit_is_running "$server_pid"; then
		[[ "$(kit_how server)" == *SIGPIPE* ]] &&
			kit_needs "G5 no SIGPIPE death" "the server was killed by SIGPIPE: $(server_state)"
		kit_fail "the server still running after clients that reset, while one that never reads is connected" \
			"it ended: $(server_state)" \
			"slide 'Waiting for the next connection': one client's trouble must not end the loop; report it on stderr and accept() the next"
		return 1
	fi
	if ! greeted; then
		kit_fail "a normal client greeted within 1.5 s, while a client that never reads or sends is still connected" \
			"it received $(shown "$probe_out") ($(kit_excerpt "$probe_err")); the server: $(server_state)" \
			"slide 'Waiting for the next connection': greet and close each client at once; never wait for a client to send or read (no blocking recv())"
		return 1
	fi
}
