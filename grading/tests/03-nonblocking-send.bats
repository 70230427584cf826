# 03-nonblocking-send.bats - the grader's tests for 03-nonblocking-send
# (slide "Blocking and Non-Blocking Socket I/O"; contract G1-G5, N1-N6).
#
# The student's program sends to the grader's sink ($KIT_PEERS/sink), which
# checks every byte against "foobar\n" repeated and reports one line per
# connection ("Received N bytes: ..."). The sink can read slowly for a
# moment (--rate, --slow-for), keep a small receive buffer (--rcvbuf), or
# hang up early (--close-after, --reset-after): that is how these tests make
# send() return short counts, EAGAIN, EPIPE and ECONNRESET. Each slow phase
# lasts 1.5 s at most.

load ../lib/kit

setup() { kit_setup; }
teardown() { kit_teardown; }

TOTAL=7340032
PROGRAM=nonblocking-send

# ---- helpers of this file ---------------------------------------------------

# sink_start ARGS...: start the grader's sink with ARGS on a free port of
# 127.0.0.1 and wait until it listens. Sets sink_port (and sink_pid,
# sink_out, sink_err).
sink_start() {
	local line
	kit_start_peer sink sink --host 127.0.0.1 --port 0 "$@"
	if ! line=$(kit_wait_line "$sink_out" '^Listening on ' 5); then
		kit_fail "the grader's sink to start listening" \
			"it did not: $(kit_excerpt "$sink_err")" \
			"nothing in your program: the grader itself failed; tell your instructor"
		return 1
	fi
	sink_port=${line##*:}
}

# sink_wait_report [SECONDS]: wait (default 5 s) for the sink's one report
# line, "Received N bytes: ..."; sets sink_report ("" when none came).
sink_wait_report() {
	sink_report=$(kit_wait_line "$sink_out" '^Received ' "${1:-5}") || sink_report=""
}

# sink_says_complete: true when the sink's report says the whole stream
# arrived intact.
sink_says_complete() {
	[[ "$sink_report" == "Received $TOTAL bytes: matches foobar\\n x 1048576" ]]
}

# sink_summary: the sink's report for a failure message.
sink_summary() {
	if [[ -n "$sink_report" ]]; then
		printf "the sink reported '%s'" "$sink_report"
	else
		printf "the sink reported nothing (its output: %s)" "$(kit_excerpt "$sink_out")"
	fi
}



# sink_count: N from the sink's report "Received N bytes: ..." (0 if none).
sink_count() {
	local count=0
	[[ "$sink_report" =~ ^Received\ ([0-9]+)\ bytes ]] && count=${BASH_REMATCH[1]}
	echo "$count"
}

# sink_misplaced: true when the sink's first wrong byte is a byte of
# "foobar\n" - the right data in the wrong place - rather than a byte the
# data never holds. Sets mismatch_at to its offset.
sink_misplaced() {
	[[ "$sink_report" =~ mismatch\ at\ byte\ ([0-9]+)\ .*got\ 0x([0-9a-f]{2}) ]] || return 1
	mismatch_at=${BASH_REMATCH[1]}
	[[ " 66 6f 62 61 72 0a " == *" ${BASH_REMATCH[2]} "* ]]
}

# stream_needs OUT ERR HOW ID...: end this test as not checked when the
# run (its stdout file OUT, stderr file ERR, how it ended HOW; sink_report)
# shows that requirement ID failed before this test's own could be seen:
#   N2  the data itself is wrong: another 'Bytes to send', or a wrong byte
#       in the first 4 KiB (sent by the very first send()) or one that
#       "foobar\n" never holds
#   N3  it exited 0 although the sink got the data short, long or with the
#       right bytes in the wrong place later on, or said 'Sent 7340032
#       bytes' although the sink hung up early and it never met a full send
#       buffer: sends taken as whole
#   N4  it ended on EAGAIN (an error naming it), or was killed while
#       printing "Blocking with" in a loop
# and always first N1: it failed with EINPROGRESS, the answer of a
# non-blocking connect(), so it never sent a byte.
stream_needs() {
	local out=$1 err=$2 how=$3 id announced lines
	shift 3
	if [[ "$how" != "exited 0" ]] && grep -a -q -i -E 'in progress|EINPROGRESS' "$err"; then
		kit_needs "N1 setup" "it $(as_phrase "$how"); stderr: $(kit_excerpt "$err")"
	fi
	for id in "$@"; do
		case $id in
		N2)
			announced=$(sed -n 's/^Bytes to send: \([0-9][0-9]*\)$/\1/p' "$out" | head -n 1)
			if [[ -n "$announced" && "$announced" != "$TOTAL" ]]; then
				kit_needs "N2 data" "it announced 'Bytes to send: $announced'"
			fi
			if [[ "$sink_report" == *mismatch* ]] && { ! sink_misplaced || ((mismatch_at < 4096)); }; then
				kit_needs "N2 data" "$(sink_summary)"
			fi
			;;
		N3)
			if [[ "$how" == "exited 0" ]] && { [[ "$sink_report" == *"intact but"* ]] ||
				{ sink_misplaced && ((mismatch_at >= 4096)); } ||
				{ [[ "$sink_report" == *"as asked"* ]] && has_line "$out" "^Sent $TOTAL bytes\$" &&
					! has_line "$out" '^Blocking with'; }; }; then
				kit_needs "N3 partial sends" "it exited 0, and $(sink_summary)"
			fi
			;;
		N4)
			if [[ "$how" != "exited 0" ]] &&
				grep -a -q -i -E 'temporarily unavailable|would block|EAGAIN|EWOULDBLOCK' "$err"; then
				kit_needs "N4 EAGAIN" "it $(as_phrase "$how") at a full send buffer; stderr: $(kit_excerpt "$err")"
			fi
			lines=$(grep -a -c '^Blocking with' "$out" 2>/dev/null || true)
			if [[ "$how" == *signal* ]] && ((lines > 10000)); then
				kit_needs "N4 EAGAIN" "it printed $lines lines 'Blocking with' and $(as_phrase "$how")"
			fi
			;;
		esac
	done
}

# has_line FILE REGEX: true when a line of FILE matches the extended REGEX.
has_line() {
	grep -a -q -E -- "$2" "$1" 2>/dev/null
}

# line_count FILE: its lines, the last one counted even without a newline.
line_count() {
	grep -a -c '' "$1" 2>/dev/null || true
}

# as_phrase HOW: supervise's "exited 1", "killed by signal 13 (SIGPIPE)" or
# "timed out after 10 s", worded to follow "the program" or "it".
as_phrase() {
	case $1 in
	killed*) printf 'was %s\n' "$1" ;;
	*) printf '%s\n' "$1" ;;
	esac
}

# ran: how the last kit_run ended, worded as as_phrase does.
ran() {
	as_phrase "$run_how"
}

# ended_how NAME: how the student program started as NAME ended, from
# supervise's status file (worded as as_phrase does), or "was still running".
ended_how() {
	local file_var=${1}_status_file
	if [[ -s "${!file_var}" ]]; then
		as_phrase "$(cat "${!file_var}")"
	else
		echo "was still running"
	fi
}


# socket_flags PID: the open-file flags (octal, as in /proc/PID/fdinfo) of
# every socket PID holds, one "FD FLAGS" a line. Fails when /proc/PID/fd
# cannot be read.
socket_flags() {
	local pid=$1 fd target
	[[ -r /proc/$pid/fd ]] || return 1
	for fd in /proc/"$pid"/fd/*; do
		target=$(readlink "$fd" 2>/dev/null) || continue
		[[ "$target" == socket:* ]] || continue
		printf '%s %s\n' "${fd##*/}" \
			"$(awk '$1 == "flags:" { print $2 }' "/proc/$pid/fdinfo/${fd##*/}" 2>/dev/null)"
	done
}

# has_nonblocking_socket PID: true when some socket of PID has O_NONBLOCK
# (04000 octal) set. What it saw, when PID had sockets, goes to seen_flags.
has_nonblocking_socket() {
	local fd flags seen="" found=1
	while read -r fd flags; do
		seen+="${seen:+, }fd $fd: flags $flags"
		[[ "$flags" =~ ^[0-7]+$ ]] && (((8#$flags & 8#4000) != 0)) && found=0
	done < <(socket_flags "$1")
	[[ -n "$seen" ]] && seen_flags=$seen
	return $found
}

# follow_cpu NAME SECONDS: follow the student program started as NAME
# (kit_start) until it ends, at most SECONDS, looking at its CPU time every
# 0.05 s. A process's CPU time can only be read while it exists, so the last
# look before it ends is kept. Sets cpu_used (CPU seconds) and wall_used
# (seconds from the program's start, by the kernel's clock, to that last
# look: a grader kept waiting for a CPU while the program ran does not
# shorten it), and child_seen (0 when its process was never found).
follow_cpu() {
	local pid_var=${1}_pid child="" hz deadline up stat cpu_ticks=0 wall_cs=0
	hz=$(getconf CLK_TCK)
	deadline=$(($(kit_now_us) + $2 * 1000000))
	cpu_used=0 wall_used=0 child_seen=0
	while (($(kit_now_us) < deadline)); do
		[[ -n "$child" ]] || child=$(kit_child_pid "${!pid_var}") || child=""
		# /proc/PID/stat: utime and stime are fields 14 and 15, the start
		# (in ticks since boot) field 22; /proc/uptime: seconds since boot,
		# to the hundredth. Builtins only: this runs every 0.05 s.
		if [[ -n "$child" ]] && read -r up _ 2>/dev/null </proc/uptime &&
			read -ra stat 2>/dev/null <"/proc/$child/stat" && ((${#stat[@]} > 21)); then
			child_seen=1
			cpu_ticks=$((stat[13] + stat[14]))
			wall_cs=$((10#${up/./} - stat[21] * 100 / hz))
		else
			child="" # not started yet, or gone: look again
		fi
		kit_is_running "${!pid_var}" || break
		sleep 0.05
	done
	printf -v cpu_used '%d.%02d' $((cpu_ticks / hz)) $((cpu_ticks % hz * 100 / hz))
	printf -v wall_used '%d.%02d' $((wall_cs / 100)) $((wall_cs % 100))
}

# blocking_lines_problem FILE: what is wrong with FILE's "Blocking with N
# remaining" lines (at least two, each N from 1 to TOTAL-1, never rising,
# falling overall); nothing when they are right. Awk, not a bash loop: a
# program that prints one per EAGAIN in a busy loop writes millions.
blocking_lines_problem() {
	awk -v total="$TOTAL" '
		/^Blocking with [0-9]+ remaining$/ {
			n = $3 + 0; count++
			if (count == 1) first = n
			if (problem == "" && (n < 1 || n >= total))
				problem = "N = " n ": the bytes not yet accepted at an EAGAIN are 1 to " total - 1
			if (problem == "" && count > 1 && n > last)
				problem = "N rose from " last " to " n
			last = n
			next
		}
		/Blocking/ && odd < 3 { odd++; odd_lines = odd_lines (odd > 1 ? " | " : "") substr($0, 1, 80) }
		END {
			if (count < 2) {
				problem = count + 0 " line(s) \"Blocking with N remaining\" (at least 2 expected behind this sink)"
				if (odd) problem = problem "; other lines with Blocking: " odd_lines
			} else if (problem == "" && first <= last) {
				problem = "N never fell: first " first ", last " last
			}
			print problem
		}' "$1"
}

# ---- G: every program --------------------------------------------------------

@test "G1 layout: make -C 03-nonblocking-send builds nonblocking-send" {
	kit_check_built
}

@test "G2 usage: -h and --help print usage on stdout and exit 0" {
	kit_check_help "nonblocking-send [HOST [PORT]]"
}

@test "G2 usage: an unknown option or too many arguments → usage on stderr, exit 2, nothing connected" {
	sink_start
	local args
	for args in "--no-such-option 127.0.0.1 $sink_port" "127.0.0.1 $sink_port surplus"; do
		# shellcheck disable=SC2086 # ARGS is a word list on purpose
		kit_run $args
		if [[ "$status" -ne 2 ]] || ! grep -a -q -i usage "$run_err"; then
			kit_fail "'$PROGRAM $args' prints a usage message on stderr and exits 2" \
				"it $(ran); stdout: $(kit_excerpt "$run_out"); stderr: $(kit_excerpt "$run_err")" \
				"the command line: nonblocking-send [HOST [PORT]] — check the arguments before connecting"
			return 1
		fi
	done
	# A connection is accepted within milliseconds: half a second is plenty.
	if kit_wait_until 0.5 has_line "$sink_out" '^Connection from '; then
		kit_fail "a wrong command line connects nowhere" \
			"the sink got a connection: $(kit_excerpt "$sink_out")" \
			"check the command line first, then connect"
	fi
}

@test "G2 usage: a bad port (abc, 70000, 0, 12x, empty) → usage on stderr, exit 2" {
	local port
	for port in abc 70000 0 12x ""; do
		kit_run 127.0.0.1 "$port"
		if [[ "$status" -ne 2 ]] || ! grep -a -q -i usage "$run_err"; then
			kit_fail "'$PROGRAM 127.0.0.1 \"$port\"' prints usage on stderr and exits 2 (a port is 1-65535 for a client)" \
				"it $(ran); stdout: $(kit_excerpt "$run_out"); stderr: $(kit_excerpt "$run_err")" \
				"parsing the port strictly: decimal digits only, 1 to 65535 (net_parse_port)"
			return 1
		fi
	done
}

@test "G3 failures: refused connection → one stderr line naming host and port, exit 1" {
	local port
	port=$(kit_free_port)
	kit_run 127.0.0.1 "$port"
	local lines
	lines=$(line_count "$run_err")
	if [[ "$status" -ne 1 || "$lines" -ne 1 ]] ||
		! grep -a -q -i -E "^$PROGRAM: .*127\.0\.0\.1.*\b$port\b.*: .*refused" "$run_err"; then
		# A non-blocking connect() hears of the refusal only later.
		stream_needs "$run_out" "$run_err" "$run_how"
		kit_fail "exit 1 and one stderr line like '$PROGRAM: connect to 127.0.0.1 port $port: Connection refused'" \
			"it $(ran); $lines stderr line(s): $(kit_excerpt "$run_err")" \
			"G3: one line PROGRAM: WHAT: REASON (strerror(errno)) naming host and port, then exit(1)"
	fi
}

@test "G4 flushed output: the first line reaches stdout (a file) while the program still runs" {
	# The sink reads nothing for 1.5 s: the program cannot finish before,
	# and a line held in a stdio buffer shows only when it exits.
	sink_start --rcvbuf 65536 --rate 0 --slow-for 1.5
	kit_start sender 127.0.0.1 "$sink_port"
	kit_wait_until 1.2 test -s "$sender_out" && return 0
	if ! kit_is_running "$sender_pid"; then
		# It ended without a line: nothing was held back, nothing to judge.
		stream_needs "$sender_out" "$sender_err" "$(cat "$sender_status_file")" N4
		kit_needs "N2 data" "it $(ended_how sender) without printing 'Bytes to send'; stderr: $(kit_excerpt "$sender_err")"
	fi
	local got="stdout still empty after 1.2 s, while the program was running"
	kit_fail "each line on stdout as soon as it is printed: 'Bytes to send: $TOTAL' within 1.2 s, while the sink is not reading yet" \
		"$got; stderr: $(kit_excerpt "$sender_err")" \
		"stdout to a file or pipe is fully buffered: setvbuf(stdout, NULL, _IOLBF, 0) at start-up, or fflush(stdout) after each line"
}

@test "G5 no SIGPIPE death: a sink that hangs up (FIN, then RST) makes send() fail with EPIPE; the program is not killed by SIGPIPE" {
	# FIN first puts the sender in CLOSE_WAIT; the RST that follows turns
	# into EPIPE from send(), which raises SIGPIPE unless it is ignored.
	# How the program reports the error is N6's business; here only the
	# signal counts.
	sink_start --close-after 524288
	kit_run 127.0.0.1 "$sink_port"
	sink_wait_report 1
	if (($(sink_count) < 524288)); then
		# It never sent far enough to meet the closed connection.
		stream_needs "$run_out" "$run_err" "$run_how" N4
		kit_needs "N2 data" "the sink got $(sink_count) bytes, not the 512 KiB after which it hangs up; the program $(ran)"
	fi
	if [[ "$run_how" == *"signal 13"* ]]; then
		kit_fail "send() to the closed connection fails with EPIPE, which the program reports (exit 1)" \
			"it $(ran); stdout: $(kit_excerpt "$run_out"); $(sink_summary)" \
			"ignore SIGPIPE at start-up (signal(SIGPIPE, SIG_IGN), as net_init() does) or pass MSG_NOSIGNAL to send()"
	fi
}

# ---- N: 03-nonblocking-send ----------------------------------------------------

@test "N1 setup: connect() completes first, then the socket goes non-blocking: the sink gets the connection and data" {
	sink_start
	kit_run 127.0.0.1 "$sink_port"
	sink_wait_report 3
	# Whether every byte arrives is N2's business: here, that data flows.
	if [[ ! "$sink_report" =~ ^Received\ [1-9][0-9]*\ bytes ]]; then
		local hint="connect first (blocking), then fcntl(F_SETFL, flags | O_NONBLOCK)"
		grep -a -q -i 'in progress' "$run_err" &&
			hint="a non-blocking connect() returns EINPROGRESS at once: connect first, then set O_NONBLOCK"
		kit_fail "a normal connect() to the sink, then data sent over it" \
			"$(sink_summary); the program $(ran); stderr: $(kit_excerpt "$run_err")" \
			"slide 'Blocking and Non-Blocking Socket I/O': sock.connect(...), then sock.setblocking(0); $hint"
	fi
}

@test "N1 setup: while it sends, its socket is non-blocking (O_NONBLOCK), behind a sink that has stopped reading" {
	sink_start --rcvbuf 65536 --rate 0 --slow-for 1.5
	kit_start sender 127.0.0.1 "$sink_port"
	if ! kit_wait_line "$sink_out" '^Connection from ' 3 >/dev/null; then
		kit_fail "a connection to the sink" \
			"none within 3 s; the program $(ended_how sender); stderr: $(kit_excerpt "$sender_err")" \
			"slide 'Blocking and Non-Blocking Socket I/O': sock.connect((HOST, PORT))"
		return 1
	fi
	local child=""
	kit_wait_until 1 eval 'child=$(kit_child_pid "$sender_pid")' || true
	seen_flags=""
	# O_NONBLOCK may come a moment after connect(): look for a second.
	if [[ -n "$child" && -r /proc/$child/fd ]]; then
		kit_wait_until 1 has_nonblocking_socket "$child" && return 0
		kit_fail "the connected socket has O_NONBLOCK set while it sends" \
			"its socket's open-file flags (octal, from /proc): ${seen_flags:-no socket seen}, without O_NONBLOCK (04000); the program $(ended_how sender)" \
			"slide: sock.setblocking(0) — in C fcntl(sock, F_SETFL, flags | O_NONBLOCK) after connect(); a blocking send() just sleeps"
		return 1
	fi
	# No /proc view of the program: judge by behaviour. It ended before the
	# sink read a byte: a blocking send() of 7 MiB would still be waiting.
	if ! kit_is_running "$sender_pid" && ! has_line "$sink_out" '^Reading at full speed'; then
		# ... if it sent something at all.
		sink_wait_report 3
		(($(sink_count) > 0)) && return 0
	fi
	# Only a non-blocking send() fails with EAGAIN, which the contract
	# makes it report.
	kit_wait_until 1.2 has_line "$sender_out" '^Blocking with ' && return 0
	kit_fail "a non-blocking send() fails with EAGAIN behind a sink that reads nothing: 'Blocking with N remaining'" \
		"no such line within 1.2 s; stdout: $(kit_excerpt "$sender_out"); the program $(ended_how sender)" \
		"slide: sock.setblocking(0) — in C fcntl(sock, F_SETFL, flags | O_NONBLOCK) after connect()"
}

@test "N2 data: the sink receives foobar\n x 1048576 — exactly 7340032 bytes, each once, in order" {
	sink_start
	kit_run 127.0.0.1 "$sink_port"
	sink_wait_report 3
	sink_says_complete && return 0
	stream_needs "$run_out" "$run_err" "$run_how" N4 N3
	kit_fail "the sink receives \"foobar\\n\" x 1048576: $TOTAL bytes, in order, each once" \
		"$(sink_summary); the program $(ran); stderr: $(kit_excerpt "$run_err")" \
		"slide: data = \"foobar\\n\" * 1024 * 1024, sent from where the last send() stopped"
}

@test "N2 data: the first stdout line is Bytes to send: 7340032" {
	sink_start
	kit_run 127.0.0.1 "$sink_port"
	local first
	first=$(head -n 1 "$run_out" | tr -d '\0')
	[[ "$first" == "Bytes to send: $TOTAL" ]] && return 0
	stream_needs "$run_out" "$run_err" "$run_how"
	kit_fail "first stdout line 'Bytes to send: $TOTAL'" \
		"first line '${first:0:200}'; the program $(ran); stderr: $(kit_excerpt "$run_err")" \
		"slide: print \"Bytes to send: \", len(data) before the send loop"
}

@test "N3 partial sends: behind a small receive buffer every byte still arrives once, in order" {
	# A tiny receive window and 1 s of slow reading: many sends take only
	# part of what they are offered.
	sink_start --rcvbuf 4096 --rate 2000000 --slow-for 1
	kit_run 127.0.0.1 "$sink_port"
	sink_wait_report 3
	sink_says_complete && return 0
	stream_needs "$run_out" "$run_err" "$run_how" N2 N4
	kit_fail "every byte arrives once, in order: the sink receives $TOTAL bytes of foobar\\n" \
		"$(sink_summary); the program $(ran); stderr: $(kit_excerpt "$run_err")" \
		"slide: total_sent += sent; data = data[sent:] — send() may take fewer bytes than offered; continue from there"
}

@test "N4 EAGAIN: behind a slow sink it prints Blocking with N remaining, N falling" {
	# 2 MB/s for 1.5 s, then full speed: the send buffer fills several times.
	sink_start --rcvbuf 16384 --rate 2000000 --slow-for 1.5
	kit_run 127.0.0.1 "$sink_port"
	local problem
	problem=$(blocking_lines_problem "$run_out")
	[[ -z "$problem" ]] && return 0
	# It never met a full send buffer when it took each send() as whole.
	sink_wait_report 3
	stream_needs "$run_out" "$run_err" "$run_how" N3
	kit_fail "at each EAGAIN a line 'Blocking with N remaining' (N = bytes not yet sent, falling as data goes)" \
		"$problem; stdout: $(kit_excerpt "$run_out"); the program $(ran); stderr: $(kit_excerpt "$run_err")" \
		"slide: except socket.error, e: if e.errno != errno.EAGAIN: raise e; print \"Blocking with\", len(data), \"remaining\""
}

@test "N4 EAGAIN: no spinning — CPU time stays under 15% of wall time behind a slow sink" {
	# 64 KiB/s for 1.5 s: the program spends most of its life waiting.
	sink_start --rcvbuf 65536 --rate 65536 --slow-for 1.5
	kit_start sender 127.0.0.1 "$sink_port"
	follow_cpu sender 10
	local how
	how=$(ended_how sender)
	if ((!child_seen)); then
		sink_wait_report 3
		stream_needs "$sender_out" "$sender_err" "$(cat "$sender_status_file" 2>/dev/null)" N3
		kit_fail "the program sends until the slow sink has taken every byte (1.5 s at least)" \
			"it ended before its CPU time could be read: it $how; stderr: $(kit_excerpt "$sender_err")" \
			"slide: EAGAIN is no error - on EAGAIN wait in select.select([], [sock], []) and go on"
		return 1
	fi
	# Busy for more than 15% of the time it ran: spinning, however long.
	if awk -v c="$cpu_used" -v w="$wall_used" 'BEGIN { exit !(w >= 0.1 && c > 0.15 * w) }'; then
		kit_fail "CPU time under 15% of wall time while the sink is slow: waiting in select(), not looping" \
			"${cpu_used} s of CPU in ${wall_used} s of wall time; it $how; stdout: $(kit_excerpt "$sender_out")" \
			"slide: select.select([], [sock], []) blocks until the socket is writable; without it, 'a lot more useless while loop iterations'"
		return 1
	fi
	if awk -v w="$wall_used" 'BEGIN { exit !(w < 1) }'; then
		sink_wait_report 3
		stream_needs "$sender_out" "$sender_err" "$(cat "$sender_status_file" 2>/dev/null)" N3
		kit_fail "the program waits for the slow sink (1.5 s), then finishes and exits 0" \
			"it ended after ${wall_used} s: it $how; stderr: $(kit_excerpt "$sender_err")" \
			"slide: on EAGAIN wait in select.select([], [sock], []) and go on"
		return 1
	fi
}

@test "N5 done: after the last byte it prints Sent 7340032 bytes and exits 0; a failing run never prints it" {
	sink_start --rcvbuf 16384 --rate 2000000 --slow-for 0.5
	kit_run 127.0.0.1 "$sink_port"
	sink_wait_report 3
	local problem="" sent
	# The count it prints is the bytes it sent (the data is N2's business):
	# all of them, by the sink's count.
	sent=$(sed -n 's/^Sent \([0-9][0-9]*\) bytes$/\1/p' "$run_out" | head -n 1)
	if [[ "$run_how" != "exited 0" ]]; then
		stream_needs "$run_out" "$run_err" "$run_how" N4
		problem="it $(ran) (stderr: $(kit_excerpt "$run_err"))"
	elif [[ -z "$sent" ]]; then
		problem="no line 'Sent $TOTAL bytes'"
	elif [[ "$sent" != "$(sink_count)" ]]; then
		stream_needs "$run_out" "$run_err" "$run_how" N3
		problem="'Sent $sent bytes', but $(sink_summary)"
	elif sed -n "/^Sent $sent bytes\$/,\$p" "$run_out" | grep -a -q '^Blocking with'; then
		problem="'Blocking with' came after 'Sent $sent bytes'"
	fi
	if [[ -n "$problem" ]]; then
		kit_fail "'Sent $TOTAL bytes' once the last byte went, the socket closed, exit 0" \
			"$problem; stdout: $(kit_excerpt "$run_out")" \
			"the end of the slide: the loop ends when no data is left (assert total_sent == data_size); then close() and exit 0"
		return 1
	fi
	# A sink that hangs up after 1 MiB: a run that fails says so, not Sent.
	sink_start --close-after 1048576
	kit_run -t 3 127.0.0.1 "$sink_port"
	if [[ "$run_how" != "exited 0" ]] && has_line "$run_out" '^Sent '; then
		kit_fail "no 'Sent' line from a run that fails: the sink hung up after 1 MiB" \
			"it printed '$(grep -a -m 1 '^Sent ' "$run_out" | cut -c1-100)' and $(ran); stderr: $(kit_excerpt "$run_err")" \
			"'Sent' says every byte went: print it only after the loop has sent the last byte, never on the way out after an error (G3)"
	fi
}

# n6_peer_gone HOW_OPTION WORD: the two N6 tests, with the sink closing
# (--close-after) or resetting (--reset-after) the connection after 1 MiB.
n6_peer_gone() {
	local option=$1 word=$2
	# A small receive buffer: loopback's may grow to 32 MiB, and then the
	# whole 7 MiB can be handed to the kernel before the sink hangs up.
	sink_start "$option" 1048576 --rcvbuf 65536
	kit_start sender 127.0.0.1 "$sink_port"
	sink_wait_report 5
	if [[ -z "$sink_report" ]]; then
		kit_wait_exit "$sender_pid" 1 || true
		stream_needs "$sender_out" "$sender_err" "$(cat "$sender_status_file" 2>/dev/null)" N4
		kit_fail "the program sends until the sink $word after 1 MiB" \
			"$(sink_summary); the program $(ended_how sender); stderr: $(kit_excerpt "$sender_err")" \
			"the slide's send loop"
		return 1
	fi
	# The contract says within a second; allow a second more for a busy machine.
	if ! kit_wait_exit "$sender_pid" 2; then
		stream_needs "$sender_out" "$sender_err" "$(cat "$sender_status_file" 2>/dev/null)" N4
		kit_fail "exit 1 within a second after the sink $word the connection" \
			"still running 2 s later (hanging or looping); stdout: $(kit_excerpt "$sender_out")" \
			"slide: if e.errno != errno.EAGAIN: raise e — after the peer is gone select() says writable and send() fails: end there (G3)"
		return 1
	fi
	local how lines
	how=$(ended_how sender)
	# It met no hung-up sink when it took a send() as whole and ended, or
	# when data other than the 7 MiB fitted in the buffers on the way.
	stream_needs "$sender_out" "$sender_err" "$(cat "$sender_status_file")" N4 N3
	[[ "$how" == "exited 0" ]] && stream_needs "$sender_out" "$sender_err" "$how" N2
	[[ "$how" == *"signal 13"* ]] && kit_needs "G5 no SIGPIPE death" "it $how"
	lines=$(line_count "$sender_err")
	# The line's PROGRAM: WHAT: REASON form is G3's business; here, that it
	# gives the reason.
	if [[ "$how" != "exited 1" || "$lines" -ne 1 ]] ||
		! grep -a -q -i -E "reset|pipe" "$sender_err"; then
		kit_fail "exit 1 and one stderr line like '$PROGRAM: send to 127.0.0.1 port $sink_port: Connection reset by peer' (or Broken pipe)" \
			"it $how; $lines stderr line(s): $(kit_excerpt "$sender_err")" \
			"G3: report a send() error other than EAGAIN as PROGRAM: WHAT: strerror(errno), exit(1); ignore SIGPIPE (G5)"
	fi
}

@test "N6 peer gone: a sink that closes after 1 MiB → exit 1 within a second, one stderr line, not killed by a signal" {
	n6_peer_gone --close-after closes
}

@test "N6 peer gone: a sink that resets after 1 MiB → exit 1 within a second, one stderr line, not killed by a signal" {
	n6_peer_gone --reset-after resets
}
