#!/usr/bin/env bash
# setup.sh - Gradescope runs this once, as root, when it builds the
# autograder's image (base image Ubuntu 22.04 or 24.04): it installs what
# the grader needs and builds the grader's test peers.
#
# Usage: setup.sh [--dry-run]
#
#   --dry-run   print what would be installed and run, change nothing
#
# The grader needs bats-core 1.8.0 or newer (grading/grade checks it).
# Ubuntu 24.04's bats package is 1.10.0; Ubuntu 22.04's is 1.2.1, so there
# bats-core comes from npm, its documented package, installed into
# /usr/local with its own install.sh. The grader's tests need bats-core
# alone (bats-support and bats-assert serve only the kit's own self-checks).
set -euo pipefail

SOURCE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BATS_MIN=1.8.0
BATS_NPM=bats@1.11.1
# build-essential: gcc, make, libc headers; bubblewrap: the grader's sandbox
# (it falls back where the container forbids namespaces); iproute2: its
# loopback-only network; jq: results.json.
APT_PACKAGES=(build-essential make bubblewrap iproute2 jq bats)
NPM_PACKAGES=(nodejs npm)

dry_run=0
case ${1:-} in
--dry-run) dry_run=1 ;;
"") ;;
*) printf 'usage: setup.sh [--dry-run]\n' >&2; exit 2 ;;
esac

# step WORDS...: run a command, or under --dry-run print it.
step() {
	if ((dry_run)); then printf 'would run: %s\n' "$*"; else "$@"; fi
}

# version_at_least VERSION: VERSION (Debian revision and all) >= BATS_MIN.
version_at_least() {
	local upstream=${1%%-*}
	upstream=${upstream#*:}
	[[ -n "$upstream" && $(printf '%s\n' "$BATS_MIN" "$upstream" | sort -V | head -n 1) == "$BATS_MIN" ]]
}

# apt_bats_version: the version of Ubuntu's bats package apt would install.
apt_bats_version() {
	apt-cache policy bats 2>/dev/null | awk '$1 == "Candidate:" { print $2 }'
}

# shellcheck disable=SC1090 # the system's os-release (another one for a test)
base=$( (. "${KIT_OS_RELEASE:-/etc/os-release}" 2>/dev/null && printf '%s %s' "${NAME:-?}" "${VERSION_ID:-?}") || echo unknown)
printf 'setup.sh: base image %s\n' "$base"
export DEBIAN_FRONTEND=noninteractive
step apt-get update -qq
step apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}"

apt_bats=$(apt_bats_version)
if version_at_least "${apt_bats:-0}"; then
	printf 'setup.sh: bats %s from apt is new enough (%s or newer needed)\n' "$apt_bats" "$BATS_MIN"
else
	printf 'setup.sh: bats %s from apt is too old (%s or newer needed): %s from npm\n' \
		"${apt_bats:-(none)}" "$BATS_MIN" "$BATS_NPM"
	step apt-get install -y -qq --no-install-recommends "${NPM_PACKAGES[@]}"
	step npm install --global --no-audit --no-fund "$BATS_NPM"
	# The npm package ships bats-core's install.sh; it puts bats on PATH.
	if ((dry_run)); then
		printf 'would run: NPM_ROOT/bats/install.sh /usr/local (NPM_ROOT: npm root --global)\n'
	else
		"$(npm root --global)/bats/install.sh" /usr/local
	fi
fi

step make -s -C "$SOURCE/grading"
if ((!dry_run)); then
	PATH=/usr/local/bin:$PATH
	installed=$(bats --version)
	version_at_least "${installed#Bats }" || { echo "setup.sh: still $installed on PATH" >&2; exit 1; }
	printf 'setup.sh: done: %s, %s, %s\n' "$installed" "$(jq --version)" "$(bwrap --version)"
fi
