# marks.bash - find what one run left running, by a mark in its
# environment: a run started with KIT_RUN_MARK=MARK passes MARK on to every
# process it starts, whatever user, session or namespace each runs in, and
# another run on the same machine (another grader) carries another mark.

# processes_marked MARK: "PID COMMAND" of every running process whose
# environment holds KIT_RUN_MARK=MARK.
processes_marked() {
	local environ pid
	for environ in /proc/[0-9]*/environ; do
		pid=${environ#/proc/} pid=${pid%/environ}
		tr '\0' '\n' 2>/dev/null <"$environ" | grep -qx "KIT_RUN_MARK=$1" &&
			printf '%s %s\n' "$pid" "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
	done
	return 0
}
