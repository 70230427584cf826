# sandbox.bash - what grading/grade sources to isolate one submission: a
# network namespace per test file, a bubblewrap sandbox per build and per
# student program (run by supervise --sandbox), a user id of the
# submission's own and control groups that bound all of it together.
# See the README, "What the grader isolates, and what it does not".
#
# sandbox_probe USER_ID: can this machine isolate? Prints nothing and
# returns 0 when it can; else prints why not, on one line, and returns 1.
# sandbox_options FILE COPY MODE: write bwrap's options for a sandbox
# where COPY is read-write (MODE build) or read-only (MODE run).
# cgroup_setup NAME / cgroup_cleanup: control groups for this submission.

# The largest private /tmp of one sandbox (a tmpfs, in memory).
SANDBOX_TMP_BYTES=${KIT_SANDBOX_TMP_BYTES:-$((64 << 20))}
# What all of one submission's builds and programs may use together.
CGROUP_TASKS=${KIT_CGROUP_TASKS:-1024}
CGROUP_MEMORY_BYTES=${KIT_CGROUP_MEMORY_BYTES:-$((2 << 30))}

# NETNS COMMAND...: "${NETNS[@]}" COMMAND runs COMMAND in a network
# namespace of its own, with only loopback, up, and no TCP metrics kept
# from one connection to the next (Linux otherwise remembers a slow peer's
# address, and the next test from that address starts slow). COMMAND is
# exec'd: it keeps the pid, and the namespace ends with it and its children.
# Loopback gets one more address of each family, as a machine on a network
# has: getaddrinfo() with AI_ADDRCONFIG (the kit's, and many a student's)
# counts only addresses other than 127.0.0.1 and ::1, and would otherwise
# find no IPv4 at all. (bash, not sh: dash drops the function bats exports.)
NETNS=(unshare --net -- bash -c 'ip link set lo up &&
	ip addr add 127.0.0.2/8 dev lo && { ip addr add fd00:6b69:74::1/128 dev lo 2>/dev/null || true; } &&
	echo 1 >/proc/sys/net/ipv4/tcp_no_metrics_save && exec "$@"' netns)

sandbox_probe() {
	local uid=$1 probe status=0
	[[ -z "${KIT_NO_SANDBOX:-}" ]] || { echo "KIT_NO_SANDBOX is set"; return 1; }
	[[ $(id -u) -eq 0 ]] || { echo "the grader does not run as root (it needs root to give each submission a user id and a network of its own)"; return 1; }
	command -v bwrap >/dev/null || { echo "bubblewrap is not installed (Debian: apt-get install bubblewrap)"; return 1; }
	if ! command -v unshare >/dev/null || ! command -v ip >/dev/null; then
		echo "unshare or ip is missing (Debian: apt-get install util-linux iproute2)"
		return 1
	fi
	"${NETNS[@]}" true 2>/dev/null || { echo "no network namespaces here (unshare --net failed)"; return 1; }
	probe=$(mktemp -d "${TMPDIR:-/tmp}/kit-probe.XXXXXX") || return 1
	chmod 755 "$probe"
	sandbox_options "$probe/options" "$probe" run
	"$KIT_PEERS/supervise" --sandbox "$probe/options" --user "$uid" -- true >"$probe/err" 2>&1 || status=$?
	((status == 0)) || echo "bubblewrap cannot make a sandbox here: $(tr '\n' ' ' <"$probe/err" | cut -c1-200)"
	rm -rf "$probe"
	return "$status"
}

sandbox_options() {
	local file=$1 copy=$2 mode=$3 dir
	local -a options=(
		# Every namespace but the network's, which is the test file's own.
		--unshare-all --share-net --hostname sandbox
		--ro-bind /usr /usr --ro-bind /etc /etc --ro-bind-try /opt /opt
		--proc /proc --dev /dev
		--size "$SANDBOX_TMP_BYTES" --tmpfs /tmp
		--setenv HOME /tmp --setenv TMPDIR /tmp
	)
	# /bin, /lib ... are links into /usr on a merged /usr; folders elsewhere.
	for dir in /bin /sbin /lib /lib32 /lib64 /libx32; do
		if [[ -L $dir ]]; then
			options+=(--symlink "$(readlink "$dir")" "$dir")
		elif [[ -d $dir ]]; then
			options+=(--ro-bind "$dir" "$dir")
		fi
	done
	# The copy at its own path, so that the grader's paths name it inside.
	if [[ $mode == build ]]; then options+=(--bind "$copy" "$copy"); else options+=(--ro-bind "$copy" "$copy"); fi
	# Last, the sandbox's own root and /dev (memory, of no set size) become
	# read-only: /tmp and, for a build, the copy are all it may write. (These
	# four words stay last: kit.bash binds a test's LD_PRELOAD before them.)
	options+=(--remount-ro / --remount-ro /dev)
	printf '%s\0' "${options[@]}" >"$file"
}

# cgroup_mount TYPE [CONTROLLER]: where the cgroup TYPE (cgroup2, or cgroup
# with CONTROLLER among its options) is mounted; nothing when it is not.
cgroup_mount() {
	awk -v type="$1" -v ctl="${2:-}" '$3 == type && (ctl == "" || ("," $4 ",") ~ ("," ctl ",")) { print $2; exit }' /proc/mounts
}

# cgroup_own HIERARCHY: this process's cgroup path in HIERARCHY ("" for v2,
# a controller name for v1), from /proc/self/cgroup; "" for the root.
cgroup_own() {
	awk -F: -v h="$1" '($2 == h) || (h != "" && ("," $2 ",") ~ ("," h ",")) {
		sub(/\/$/, "", $3); print $3; exit }' /proc/self/cgroup
}

# cgroup_setup NAME: make control groups NAME for one submission, at most
# CGROUP_TASKS tasks and CGROUP_MEMORY_BYTES of memory for all of it: cgroup
# v2 where this process's group delegates pids and memory, v1's pids and
# memory hierarchies otherwise. Sets CGROUPS (the folders made) and
# CGROUP_NOTE (which limits hold). Best effort: none is no error.
cgroup_setup() {
	local name=$1 root dir
	CGROUPS=() CGROUP_NOTE=""
	[[ $(id -u) -eq 0 ]] || { CGROUP_NOTE="no control groups (not root)"; return 0; }
	root=$(cgroup_mount cgroup2)
	if [[ -n "$root" ]]; then
		dir=$root$(cgroup_own "")/$name
		if mkdir "$dir" 2>/dev/null; then
			if [[ -f $dir/pids.max && -f $dir/memory.max ]] &&
				echo "$CGROUP_TASKS" >"$dir/pids.max" && echo "$CGROUP_MEMORY_BYTES" >"$dir/memory.max"; then
				CGROUPS=("$dir") CGROUP_NOTE="cgroup v2 pids and memory"
				return 0
			fi
			rmdir "$dir"
		fi
	fi
	local controller file value
	for controller in pids memory; do
		root=$(cgroup_mount cgroup "$controller")
		[[ -n "$root" ]] || continue
		dir=$root$(cgroup_own "$controller")/$name
		file=pids.max value=$CGROUP_TASKS
		[[ $controller == memory ]] && file=memory.limit_in_bytes value=$CGROUP_MEMORY_BYTES
		mkdir "$dir" 2>/dev/null || continue
		if echo "$value" >"$dir/$file" 2>/dev/null; then
			CGROUPS+=("$dir") CGROUP_NOTE+="${CGROUP_NOTE:+, }cgroup v1 $controller"
		else
			rmdir "$dir"
		fi
	done
	[[ -n "$CGROUP_NOTE" ]] || CGROUP_NOTE="no control groups (none writable here)"
}

# cgroup_cleanup: remove the control groups cgroup_setup made, once they
# are empty (an interrupted grader's supervise may still be killing; it
# takes a few seconds at most).
cgroup_cleanup() {
	local dir i
	for dir in "${CGROUPS[@]}"; do
		for ((i = 0; i < 100; i++)); do
			rmdir "$dir" 2>/dev/null && break
			sleep 0.1
		done
	done
	CGROUPS=()
}
