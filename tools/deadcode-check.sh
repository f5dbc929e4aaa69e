#!/bin/sh
# deadcode-check.sh: the exported (and private) functions that no command
# reaches. `deadcode -test` counts what tests call as used, so a function
# only a test calls passes it; this check runs deadcode from the commands'
# main functions alone (./cmd/...). Each function it finds must either be
# deleted, made private to the tests (moved into a _test.go file), wired
# into the code that needs it, or listed in the allow-list with the reason
# a command can never reach it by design. An allow-list line that names a
# function deadcode no longer reports is stale and fails the check too.
#
# Usage (from the module's root): tools/deadcode-check.sh DEADCODE [ALLOW-LIST]
#   DEADCODE    how to run deadcode, e.g. "go run golang.org/x/tools/cmd/deadcode@v0.52.0"
#   ALLOW-LIST  lines "PACKAGE FUNCTION REASON…" (default tools/deadcode-allow.txt),
#               PACKAGE relative to the module (sim), FUNCTION as deadcode
#               names it (Engine.Now); blank lines and # comments are ignored.
set -eu

deadcode=${1:?usage: $0 DEADCODE [ALLOW-LIST]}
allow=${2:-$(dirname "$0")/deadcode-allow.txt}
[ -r "$allow" ] || { echo "deadcode-check: cannot read the allow-list $allow"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One line per unreachable function: PACKAGE FUNCTION POSITION, PACKAGE
# relative to the module (core/agent).
module=$(awk '$1 == "module" {print $2; exit}' go.mod)
# shellcheck disable=SC2086 # $deadcode is a command with its arguments
$deadcode -f '{{range .Funcs}}{{$.Path}} {{.Name}} {{.Position}}{{"\n"}}{{end}}' ./cmd/... |
	sed "s|^$module/||" > "$tmp/found"
awk '{print $1, $2}' "$tmp/found" | sort -u > "$tmp/dead"

bad=0
if ! awk 'NF > 0 && $1 !~ /^#/ { if (NF < 3) { printf "%s:%d: want PACKAGE FUNCTION REASON: %s\n", FILENAME, FNR, $0; bad = 1 } } END { exit bad }' "$allow"; then
	bad=1
fi
awk 'NF >= 2 && $1 !~ /^#/ {print $1, $2}' "$allow" | sort > "$tmp/allowed"
if [ -n "$(uniq -d "$tmp/allowed")" ]; then
	echo "deadcode-check: $allow lists a function twice:"
	uniq -d "$tmp/allowed" | sed 's/^/   /'
	bad=1
fi
sort -u -o "$tmp/allowed" "$tmp/allowed"

unlisted=$(comm -23 "$tmp/dead" "$tmp/allowed")
if [ -n "$unlisted" ]; then
	echo "deadcode-check: functions no command reaches (only tests, or nothing, call them):"
	echo "$unlisted" | while read -r pkg fn; do
		grep -F "$pkg $fn " "$tmp/found" | head -n 1 | awk '{print "   " $3 ": " $2}'
	done
	echo "   delete them, move them into a _test.go file, use them, or list them in $allow with the reason"
	bad=1
fi
stale=$(comm -13 "$tmp/dead" "$tmp/allowed")
if [ -n "$stale" ]; then
	echo "deadcode-check: stale lines in $allow (deadcode no longer reports these functions; remove them):"
	echo "$stale" | sed 's/^/   /'
	bad=1
fi
exit $bad
