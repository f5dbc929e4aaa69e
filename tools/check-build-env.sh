#!/bin/sh
# check-build-env.sh: what building slapgo needs, checked before `go build`
# so that a missing tool reads as a sentence rather than as a cgo error.
# slapgo needs Go 1.26 or later and a C compiler with the C library headers
# (the SQLite driver of the master is C, built through cgo).
#
# Usage (from the module's root): tools/check-build-env.sh [GO]
#   GO  the go command (default: go)
set -u

go=${1:-go}
status=0

if ! command -v "$go" >/dev/null 2>&1; then
	echo "build: $go not found in PATH: install Go 1.26 or later (https://go.dev/dl/), then run make again"
	exit 1
fi

# The local toolchain's version; go1.26.8 -> 1 26.
local_version=$(GOTOOLCHAIN=local "$go" env GOVERSION 2>/dev/null)
major=$(echo "$local_version" | sed -n 's/^go\([0-9]*\)\.\([0-9]*\).*/\1/p')
minor=$(echo "$local_version" | sed -n 's/^go\([0-9]*\)\.\([0-9]*\).*/\2/p')
if [ -z "$major" ] || [ "$major" -lt 1 ] || { [ "$major" -eq 1 ] && [ "$minor" -lt 26 ]; }; then
	case "$("$go" env GOTOOLCHAIN 2>/dev/null)" in
	local)
		echo "build: slapgo needs Go 1.26 or later; $go is ${local_version:-of an unknown version} and GOTOOLCHAIN=local forbids fetching a newer one: install Go 1.26 (https://go.dev/dl/)"
		status=1 ;;
	*)
		echo "build: $go is ${local_version:-of an unknown version}: it fetches Go 1.26 first (GOTOOLCHAIN=auto), once" ;;
	esac
fi

# The C compiler cgo uses, and whether it compiles against the C library.
cc=$("$go" env CC 2>/dev/null)
cc=${cc:-cc}
cc_cmd=${cc%% *}
hint="install a C compiler (Debian/Ubuntu: sudo apt-get install build-essential; Fedora/RHEL: sudo dnf install gcc make; Alpine: apk add build-base; macOS: xcode-select --install)"
if ! command -v "$cc_cmd" >/dev/null 2>&1; then
	echo "build: no C compiler: $cc_cmd (go env CC) is not in PATH. slapgo's master stores its state in SQLite, a C library built with cgo: $hint"
	status=1
else
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	printf '#include <stdlib.h>\n#include <stdio.h>\nint main(void) { return 0; }\n' > "$tmp/probe.c"
	# shellcheck disable=SC2086 # CC may carry options
	if ! $cc -o "$tmp/probe" "$tmp/probe.c" > "$tmp/out" 2>&1; then
		echo "build: the C compiler $cc cannot build a program with the C library ($(head -n 1 "$tmp/out")): $hint"
		status=1
	fi
fi

if ! command -v make >/dev/null 2>&1; then
	echo "build: make not found in PATH (the sample software is built with it): $hint"
	status=1
fi
exit $status
