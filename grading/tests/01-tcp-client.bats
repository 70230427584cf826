# 01-tcp-client.bats - the grader's tests for 01-tcp-client
# (slide "Example: TCP Client"; contract G1-G5, T1-T4).
#
# The student's client talks to the grader's fake web server
# ($KIT_PEERS/httpd), which records each request byte for byte (--record),
# answers with a file's exact bytes (--body), in delayed pieces when asked
# (--pieces, --delay), or resets the connection half-way (--mode reset).
# T1 also needs a name with two addresses, one of which refuses; no host
# is sure to have one, so the grader makes two up with a small LD_PRELOAD
# library around getaddrinfo() (see setup_file).

load ../lib/kit

setup() { kit_setup; }
teardown() { kit_teardown; }

PROGRAM=tcp-client

# ---- files every test may use, made once -------------------------------------

setup_file() {
	local dir=$BATS_FILE_TMPDIR

	# A short page, and one that ends without a newline (the slide's
	# `print data` adds one; the contract wants the bytes unchanged).
	printf 'HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<h1>hello from the grader</h1>\n' \
		>"$dir/page"
	printf 'HTTP/1.0 200 OK\r\n\r\nno newline at the end' >"$dir/no-newline"
	: >"$dir/empty"

	# 8,000 bytes for the reset (T4, G5): httpd sends the first half in two
	# pieces of 2,000, 0.5 s apart, then resets. A client that reads only
	# once has ended before the second piece; one that reads on meets the
	# reset.
	{
		printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n'
		yes 'a response cut short by a reset' | head -c 7956
	} >"$dir/reset"

	# 400 KiB+ with every byte value (NULs first) and random bytes after,
	# so that a lost, repeated or reordered piece shows at its offset.
	{
		printf 'HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n'
		printf '\0\0\0NUL bytes above and below\n\0'
		for ((i = 0; i < 256; i++)); do printf "\\$(printf '%03o' "$i")"; done
		head -c 409600 /dev/urandom
	} >"$dir/large"

	# Two halves of 30,001 bytes (G4): httpd sends the first at once and
	# holds the connection open long after the test has looked. The first
	# ends with a newline, so that a line-buffered stdout passes; its size
	# is no multiple of a stdio buffer, so that a fully buffered one keeps
	# its end back and fails.
	{
		yes 'the first half of the response, sent at once' | head -c 30000
		echo
		yes 'the second half, sent a minute later' | head -c 30000
		echo
	} >"$dir/two-halves"

	build_two_address_resolver
}

teardown_file() {
	[[ -n "${TWO_ADDRESS_DIR:-}" ]] && rm -rf "$TWO_ADDRESS_DIR"
	return 0
}

# build_two_address_resolver: compile the T1 helper into TWO_ADDRESS_LIB,
# a library the student's program loads with LD_PRELOAD. It resolves
#   v6-then-v4.kit.test  to ::1, then 127.0.0.1
#   v4-then-v6.kit.test  to 127.0.0.1, then ::1
# through the real getaddrinfo() (so the caller's hints still apply), and
# hands every other name to the real getaddrinfo(). On failure it sets
# TWO_ADDRESS_PROBLEM instead. (A candidate for a peer of its own.)
build_two_address_resolver() {
	export TWO_ADDRESS_LIB="" TWO_ADDRESS_PROBLEM="" TWO_ADDRESS_DIR=""
	# Its own world-readable folder: the student's program may run as an
	# unprivileged user that cannot read bats' private temporary folder.
	TWO_ADDRESS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/kit-t1.XXXXXX") || {
		TWO_ADDRESS_PROBLEM="cannot make a folder for it"
		return 0
	}
	chmod 755 "$TWO_ADDRESS_DIR"
	cat >"$TWO_ADDRESS_DIR/two-addresses.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <string.h>

typedef int getaddrinfo_fn(const char *, const char *, const struct addrinfo *,
                           struct addrinfo **);

int getaddrinfo(const char *node, const char *service,
                const struct addrinfo *hints, struct addrinfo **res)
{
    getaddrinfo_fn *real = (getaddrinfo_fn *)dlsym(RTLD_NEXT, "getaddrinfo");
    const char *order[2];
    struct addrinfo *head = NULL, *tail = NULL, *part;
    int status, first_status = 0;

    if (real == NULL)
        return EAI_FAIL;
    if (node != NULL && strcmp(node, "v6-then-v4.kit.test") == 0) {
        order[0] = "::1";
        order[1] = "127.0.0.1";
    } else if (node != NULL && strcmp(node, "v4-then-v6.kit.test") == 0) {
        order[0] = "127.0.0.1";
        order[1] = "::1";
    } else {
        return real(node, service, hints, res);
    }
    for (int i = 0; i < 2; i++) {
        status = real(order[i], service, hints, &part);
        if (status != 0) {
            if (first_status == 0)
                first_status = status;
            continue;
        }
        if (tail == NULL)
            head = part;
        else
            tail->ai_next = part;
        for (tail = part; tail->ai_next != NULL; tail = tail->ai_next)
            ;
    }
    if (head == NULL)
        return first_status;
    *res = head;
    return 0;
}
EOF
	if ! "${CC:-cc}" -shared -fPIC -O2 -o "$TWO_ADDRESS_DIR/two-addresses.so" \
		"$TWO_ADDRESS_DIR/two-addresses.c" -ldl >"$TWO_ADDRESS_DIR/build.log" 2>&1; then
		TWO_ADDRESS_PROBLEM="it did not compile: $(tr '\n' ' ' <"$TWO_ADDRESS_DIR/build.log" | cut -c1-300)"
		return 0
	fi
	chmod 644 "$TWO_ADDRESS_DIR/two-addresses.so"
	TWO_ADDRESS_LIB=$TWO_ADDRESS_DIR/two-addresses.so
}

# ---- helpers of this file -----------------------------------------------------

# httpd_start NAME ARGS...: start the grader's httpd with ARGS and wait until
# it listens. Sets NAME_port (and NAME_pid, NAME_out, NAME_err).
httpd_start() {
	local name=$1 line out_var=${1}_out
	shift
	kit_start_peer "$name" httpd "$@"
	if ! line=$(kit_wait_line "${!out_var}" '^Listening on ' 5); then
		kit_fail "the grader's httpd to start listening" \
			"it did not: $(kit_excerpt "${name}_err" indirect)" \
			"nothing in your program: the grader itself failed; tell your instructor"
		return 1
	fi
	printf -v "${name}_port" '%s' "${line##*:}"
}

# have_ipv6: true when this host has the IPv6 loopback address ::1.
have_ipv6() {
	grep -q '^0\{31\}1 ' /proc/net/if_inet6 2>/dev/null
}

# escaped FILE: FILE's first 400 bytes on one line, with \r, \n, \0 and
# \xNN for what does not print, so that a student sees the exact bytes.
escaped() {
	local byte char text=""
	for byte in $(head -c 400 "$1" | od -An -v -tx1); do
		case $byte in
		0d) text+='\r' ;;
		0a) text+='\n' ;;
		00) text+='\0' ;;
		5c) text+='\\' ;;
		2[0-9a-f] | [3-6][0-9a-f] | 7[0-9a-e])
			printf -v char "\\x$byte"
			text+=$char
			;;
		*) text+="\\x$byte" ;;
		esac
	done
	(($(wc -c <"$1") > 400)) && text+="... ($(wc -c <"$1") bytes in all)"
	printf "'%s'" "$text"
}

# is_error_line FILE: true when FILE is exactly one line of the form
# "tcp-client: WHAT: REASON" (PROGRAM may be given with its path).
is_error_line() {
	[[ $(wc -l <"$1") -eq 1 && $(tail -c 1 "$1" | od -An -tx1) == " 0a" ]] &&
		grep -a -q -E "^([^ :]*/)?$PROGRAM: .+: .+\$" "$1"
}

# error_summary: how the last kit_run ended and what it printed on stderr.
error_summary() {
	printf '%s; stderr: %s' "$run_how" "$(kit_excerpt "$run_err")"
}

# client_state: how the background client (kit_start client) is doing.
client_state() {
	if kill -0 "$client_pid" 2>/dev/null; then
		echo "still running, waiting for the rest"
	else
		printf '%s; stderr %s' "$(kit_how client)" "$(kit_excerpt "$client_err")"
	fi
}

# mentions_port FILE PORT: true when FILE names PORT as a number of its own.
mentions_port() {
	grep -a -q -E "(^|[^0-9])$2([^0-9]|\$)" "$1"
}

# expect_reached RECORD WHAT REVISIT: fail unless the httpd that records
# into RECORD got a request from the last kit_run (T1 asks no more: what
# is sent and received is T2's and T3's business).
expect_reached() {
	if [[ ! -s "$1" ]]; then
		kit_fail "$2: a connection to the server, and the request sent" \
			"the server got nothing; $(error_summary)" "$3"
		return 1
	fi
}

# expect_same_bytes EXPECTED_FILE WHAT REVISIT: fail unless the last
# kit_run's stdout holds exactly EXPECTED_FILE's bytes and it exited 0.
expect_same_bytes() {
	if ! cmp -s "$1" "$run_out"; then
		kit_fail "$2: stdout byte for byte what the server sent, then exit 0" \
			"$(kit_first_difference "$1" "$run_out"); $(error_summary)" "$3"
		return 1
	fi
	if [[ $status -ne 0 ]]; then
		kit_fail "$2: exit status 0 once the server has closed the connection" \
			"the bytes were right, but it $(error_summary)" "$3"
		return 1
	fi
}

# first_half_in FILE BYTES PID: true once FILE holds BYTES bytes or more,
# or PID has ended.
first_half_in() {
	[[ -e "$1" ]] && (($(wc -c <"$1") >= $2)) && return 0
	! kit_is_running "$3"
}

# first_half_difference BODY BYTES GOT_FILE: " (first difference ...)" when
# the start of GOT_FILE differs from BODY's (both cut to BYTES at most).
first_half_difference() {
	local expected=$KIT_TMP/expected-start got=$KIT_TMP/got-start
	[[ -s "$3" ]] || return 0
	head -c "$2" "$3" >"$got"
	head -c "$(wc -c <"$got")" "$1" >"$expected"
	cmp -s "$expected" "$got" || printf ' (%s)' "$(kit_first_difference "$expected" "$got")"
}

# no_connection_expected NAME PORT RECORD CASE: fail when the program,
# refused on the command line, connected to httpd NAME anyway.
no_connection_expected() {
	local pid_var=${1}_pid
	local marker=$KIT_TMP/marker
	printf 'GET /grader-marker HTTP/1.0\r\n\r\n' >"$marker"
	"$KIT_PEERS/probe" --quiet --timeout 2000 --send 'GET /grader-marker HTTP/1.0\r\n\r\n' \
		127.0.0.1 "$2" >/dev/null 2>&1 || true
	kit_wait_exit "${!pid_var}" 3 || true
	if ! cmp -s "$marker" "$3"; then
		local recorded="nothing, not even the grader's own request that came next"
		[[ -s "$3" ]] && recorded=$(escaped "$3")
		kit_fail "$4: no connection at all (the arguments are checked first)" \
			"the grader's server got a connection before its own; it recorded $recorded" \
			"slide 'Example: TCP Client': check the command line before socket() and connect()"
		return 1
	fi
}

# ---- G: every program ---------------------------------------------------------

@test "G1 layout: make -C 01-tcp-client builds tcp-client" {
	kit_check_built
}

@test "G2 usage: -h and --help print usage on stdout and exit 0" {
	kit_check_help "tcp-client HOST [PORT [PATH]]"
}

@test "G2 usage: no arguments, too many, or an unknown option exit 2 with usage on stderr and connect nowhere" {
	local record=$KIT_TMP/request args
	httpd_start server --count 1 --record "$record" --body "$BATS_FILE_TMPDIR/page"
	local cases=("" "127.0.0.1 $server_port /index.html extra" "-x" "-x 127.0.0.1 $server_port")
	for args in "${cases[@]}"; do
		# shellcheck disable=SC2086 # each case is a list of words
		kit_run -t 5 $args
		if [[ $status -ne 2 || ! -s "$run_err" || -s "$run_out" ]]; then
			kit_fail "'$PROGRAM $args': a usage message on stderr, nothing on stdout, exit status 2" \
				"stdout $(kit_excerpt "$run_out"); $(error_summary)" \
				"the command line: HOST [PORT [PATH]]; anything else is a usage error (exit 2)"
			return 1
		fi
	done
	no_connection_expected server "$server_port" "$record" "after the usage errors"
}

@test "G2 usage: bad ports (abc, 65536 and up, -1, 0) exit 2 with usage on stderr and connect nowhere" {
	local record=$KIT_TMP/request port
	httpd_start server --count 1 --record "$record" --body "$BATS_FILE_TMPDIR/page"
	# PORT + 65536 lands on the grader's server when a program keeps only
	# the low 16 bits (htons(atoi(...))), so that mistake connects.
	for port in abc "$((server_port + 65536))" -1 0 12ab ""; do
		kit_run -t 5 127.0.0.1 "$port"
		if [[ $status -ne 2 || ! -s "$run_err" || -s "$run_out" ]]; then
			kit_fail "'$PROGRAM 127.0.0.1 \"$port\"': a usage message on stderr, nothing on stdout, exit status 2 (a port is a decimal number from 1 to 65535 for a client)" \
				"stdout $(kit_excerpt "$run_out"); $(error_summary)" \
				"the command line: check the port strictly (all digits, range) before connecting"
			return 1
		fi
	done
	no_connection_expected server "$server_port" "$record" "after the bad ports"
}

@test "G3 failures: a refused connection and a name that does not resolve print one line 'tcp-client: WHAT: REASON' and exit 1" {
	local port args
	port=$(kit_free_port)
	for args in "127.0.0.1 $port" "nosuch.invalid 80"; do
		# shellcheck disable=SC2086 # two words
		kit_run -t 15 $args
		if [[ $status -ne 1 ]] || ! is_error_line "$run_err"; then
			kit_fail "'$PROGRAM $args': exactly one line on stderr, '$PROGRAM: WHAT: REASON', and exit status 1" \
				"$(error_summary)" \
				"errors: report what failed and why (strerror, gai_strerror) in one line; exit 1"
			return 1
		fi
	done
}

@test "G4 flushed output: the first half of a response is in the stdout file while the server still holds the connection" {
	local body=$BATS_FILE_TMPDIR/two-halves half=30001 size=0
	# The second half comes a minute later: long after this test has looked.
	httpd_start server --body "$body" --pieces 2 --delay 60000
	kit_start client 127.0.0.1 "$server_port" /g4.html
	kit_wait_until 8 first_half_in "$client_out" "$half" "$client_pid" || true
	[[ -e "$client_out" ]] && size=$(wc -c <"$client_out")
	if ! kit_is_running "$client_pid"; then
		# It ended before the response did: what it wrote is out (exit
		# flushes), and flushing cannot be told apart. That is T3's (or
		# T4's) failure, not this one's.
		kit_needs "T3 whole response" \
			"it ended while the server still held the connection open, after $size bytes: $(client_state)"
	fi
	if ((size < half)) || ! cmp -s -n "$half" "$body" "$client_out"; then
		kit_fail "the first $half bytes, sent at once, in the stdout file (a file, not a terminal) within 8 s, while the server holds the connection open" \
			"the file held $size bytes$(first_half_difference "$body" "$half" "$client_out"); the program: $(client_state)" \
			"stdout to a file is fully buffered: write() each piece as it arrives, or fflush(stdout) after each"
		return 1
	fi
}

@test "G5 no SIGPIPE death: a server that resets the connection never kills tcp-client with a signal" {
	httpd_start server --body "$BATS_FILE_TMPDIR/reset" --mode reset --pieces 2 --delay 500
	kit_run -t 5 127.0.0.1 "$server_port" /reset.html
	# How it reports the reset (exit 1, one line) is T4's business.
	if [[ "$run_how" == *signal* && "$run_how" != *"timed out"* ]]; then
		local revisit="a reset is an error to report, not a crash: recv() returns -1 with ECONNRESET; report it in one line and exit 1 (no assert(), no abort())"
		[[ "$run_how" == *SIGPIPE* ]] &&
			revisit="ignore SIGPIPE once (signal(SIGPIPE, SIG_IGN)); writing to a reset connection then returns -1 (EPIPE) instead of killing the program"
		kit_fail "no death by a signal when the server resets the connection" \
			"$(error_summary)" "$revisit"
		return 1
	fi
}

# ---- T: 01-tcp-client ---------------------------------------------------------

@test "T1 resolve: the name localhost and the literals 127.0.0.1 and ::1 each reach the server" {
	local host record=$KIT_TMP/request
	httpd_start v4 --host 127.0.0.1 --count 2 --record "$record"
	for host in localhost 127.0.0.1; do
		rm -f "$record"
		kit_run -t 8 "$host" "$v4_port" /t1.html
		expect_reached "$record" "'$PROGRAM $host $v4_port' with a server on 127.0.0.1" \
			"slide 'Example: TCP Client': resolve HOST with getaddrinfo(AF_UNSPEC) and try each address"
	done
	if have_ipv6; then
		rm -f "$record"
		httpd_start v6 --host ::1 --record "$record"
		kit_run -t 8 ::1 "$v6_port" /t1.html
		expect_reached "$record" "'$PROGRAM ::1 $v6_port' with a server on ::1" \
			"getaddrinfo() with AF_UNSPEC handles IPv6 literals; socket() with ai_family, not AF_INET"
	fi
}

@test "T1 resolve: every address of a name is tried in turn, whichever one refuses" {
	local name listen_on server port_var record=$KIT_TMP/request
	if [[ -z "$TWO_ADDRESS_LIB" ]]; then
		kit_fail "the grader's two-address resolver for this test" \
			"it could not be built: $TWO_ADDRESS_PROBLEM" \
			"nothing in your program: the grader itself failed; tell your instructor"
		return 1
	fi
	have_ipv6 || skip "this host has no IPv6 loopback address"
	# Each name's first address refuses; the second one has the server.
	# (A server of its own each: a name of its own, so that the second
	# does not read the first one's "Listening on" line.)
	for name in v6-then-v4.kit.test v4-then-v6.kit.test; do
		listen_on=127.0.0.1 server=v4_server
		[[ $name == v4-then-v6* ]] && listen_on=::1 server=v6_server
		rm -f "$record"
		httpd_start "$server" --host "$listen_on" --record "$record"
		port_var=${server}_port
		# AddressSanitizer wants to be loaded first; here it need not be.
		LD_PRELOAD=$TWO_ADDRESS_LIB \
			ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
			kit_run -t 8 "$name" "${!port_var}" /t1.html
		expect_reached "$record" \
			"'$PROGRAM $name ${!port_var}', a name whose first address refuses and whose second ($listen_on) has the server" \
			"getaddrinfo() gives a list: on a failed connect(), close that socket and try the next address"
	done
}

@test "T2 request: first line GET PATH HTTP/1.0, a Host header, an empty line, CRLF line ends" {
	local record=$KIT_TMP/request request first_line
	local want_first=$'GET /kit/t2-check.html HTTP/1.0\r'
	httpd_start server --record "$record" --body "$BATS_FILE_TMPDIR/page"
	kit_run -t 5 localhost "$server_port" /kit/t2-check.html
	if [[ ! -s "$record" ]]; then
		kit_fail "the request 'GET /kit/t2-check.html HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n'" \
			"the server received nothing; $(error_summary)" \
			"slide 'Example: TCP Client': send() the request once connected"
		return 1
	fi
	IFS= read -r -d '' request <"$record" || true
	IFS= read -r first_line <"$record" || true
	if [[ "$first_line" != "$want_first" ]]; then
		kit_fail "first line exactly 'GET /kit/t2-check.html HTTP/1.0\\r\\n'" \
			"the request was $(escaped "$record")" \
			"HTTP/1.0 request line: METHOD PATH VERSION, ended by CR LF (\\r\\n), PATH from the command line"
		return 1
	fi
	if ! grep -a -q -i -x -F $'host: localhost\r' "$record"; then
		kit_fail "a header line 'Host: localhost\\r\\n'" \
			"the request was $(escaped "$record")" \
			"HTTP: name the host you asked for in a Host header; many servers need it"
		return 1
	fi
	if [[ "$request" != *$'\r\n\r\n' || "${request%%$'\r\n\r\n'*}"$'\r\n\r\n' != "$request" ]]; then
		kit_fail "the request ends with one empty line ('\\r\\n\\r\\n') and nothing after it" \
			"the request was $(escaped "$record")" \
			"HTTP: the headers end with an empty line; without it the server keeps waiting"
		return 1
	fi
	if [[ "${request//$'\r\n'/}" == *[$'\r\n']* ]]; then
		kit_fail "every line ended by CR LF ('\\r\\n'), no bare '\\n' or '\\r'" \
			"the request was $(escaped "$record")" \
			"HTTP line ends are \\r\\n, not the slide's \\n"
		return 1
	fi
}

@test "T2 request: without PATH the request asks for /index.html" {
	local record=$KIT_TMP/request first_line
	httpd_start server --record "$record" --body "$BATS_FILE_TMPDIR/page"
	kit_run -t 5 127.0.0.1 "$server_port"
	IFS= read -r first_line <"$record" || true
	if [[ "$first_line" != $'GET /index.html HTTP/1.0\r' ]]; then
		kit_fail "'$PROGRAM 127.0.0.1 $server_port' sends first 'GET /index.html HTTP/1.0\\r\\n'" \
			"the server received $( [[ -s "$record" ]] && escaped "$record" || echo nothing); $(error_summary)" \
			"the command line: PATH defaults to /index.html"
		return 1
	fi
}

@test "T3 whole response: a 400 KB answer in 20 delayed pieces, NUL bytes included, arrives byte for byte" {
	local body=$BATS_FILE_TMPDIR/large
	httpd_start server --body "$body" --pieces 20 --delay 40
	kit_run -t 10 127.0.0.1 "$server_port" /large.bin
	expect_same_bytes "$body" "a $(wc -c <"$body")-byte response in 20 pieces 40 ms apart" \
		"slide 'Example: TCP Client': one recv() returns what has arrived so far; recv() in a loop until it returns 0, and write() the bytes (printf %s stops at a NUL)"
}

@test "T3 whole response: a short answer without a final newline, and an empty one, arrive exactly" {
	local body server port_var
	for body in no-newline empty; do
		server=${body//-/_}_server # a name of its own for each server
		httpd_start "$server" --body "$BATS_FILE_TMPDIR/$body"
		port_var=${server}_port
		kit_run -t 5 127.0.0.1 "${!port_var}" /short.html
		expect_same_bytes "$BATS_FILE_TMPDIR/$body" "a $(wc -c <"$BATS_FILE_TMPDIR/$body")-byte response" \
			"copy the bytes unchanged: the slide's print adds a newline, and an empty response is still a success"
	done
}

@test "T4 errors: a name that does not resolve (nosuch.invalid): exit 1, one stderr line naming the host" {
	kit_run -t 15 nosuch.invalid 80
	if [[ $status -ne 1 ]] || ! is_error_line "$run_err" || ! grep -a -q -F nosuch.invalid "$run_err"; then
		kit_fail "exit status 1 and one line like '$PROGRAM: look up nosuch.invalid: Name or service not known'" \
			"$(error_summary)" \
			"getaddrinfo() returns an error code: report it with gai_strerror() (errno is not set) and the host"
		return 1
	fi
}

@test "T4 errors: a refused connection: exit 1, one stderr line naming the host and the port" {
	local port
	port=$(kit_free_port)
	kit_run -t 5 127.0.0.1 "$port"
	if [[ $status -ne 1 ]] || ! is_error_line "$run_err" ||
		! grep -a -q -F 127.0.0.1 "$run_err" || ! mentions_port "$run_err" "$port"; then
		kit_fail "exit status 1 and one line like '$PROGRAM: connect to 127.0.0.1 port $port: Connection refused'" \
			"$(error_summary)" \
			"connect() fails with ECONNREFUSED when nothing listens: report it (strerror) with host and port"
		return 1
	fi
}

@test "T4 errors: a connection reset half-way through the response: exit 1, one stderr line naming the host and the port" {
	local piece=2000
	# Two pieces of 2,000 bytes 0.5 s apart, then the reset.
	httpd_start server --body "$BATS_FILE_TMPDIR/reset" --mode reset --pieces 2 --delay 500
	kit_run -t 5 127.0.0.1 "$server_port" /reset.html
	if [[ $status -eq 0 ]] && (($(wc -c <"$run_out") <= piece)); then
		kit_needs "T3 whole response" \
			"it exited 0 after the first piece ($(wc -c <"$run_out") bytes), before the rest and the reset came"
	fi
	if [[ $status -ne 1 ]] || ! is_error_line "$run_err" ||
		! grep -a -q -F 127.0.0.1 "$run_err" || ! mentions_port "$run_err" "$server_port"; then
		kit_fail "exit status 1 and one line like '$PROGRAM: receive from 127.0.0.1 port $server_port: Connection reset by peer'" \
			"$(error_summary)" \
			"recv() returns -1 (ECONNRESET) on a reset, 0 only on an orderly close: check which, and report the error with host and port"
		return 1
	fi
}
