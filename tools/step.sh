#!/usr/bin/env bash
# One line per setup step, its output in a log file shown only when it fails:
#
#   tools/step.sh "what is done" LOGFILE command [args...]
#
# runs the command without stdin, its stdout and stderr in LOGFILE, and prints
# "what is done ... ok (12 s)"; when the command fails, "FAILED", the whole log
# and the command's exit status, which is also this script's.
set -uo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 WHAT LOGFILE COMMAND [ARGS...]" >&2
    exit 2
fi
what=$1 log=$2
shift 2
mkdir -p "$(dirname "$log")"
printf '%s ... ' "$what"
start=$SECONDS
"$@" >"$log" 2>&1 </dev/null
rc=$?
if [ "$rc" -eq 0 ]; then
    printf 'ok (%d s)\n' $((SECONDS - start))
    exit 0
fi
printf 'FAILED after %d s (exit status %d); its output (%s):\n' $((SECONDS - start)) "$rc" "$log"
sed 's/^/  | /' "$log"
exit "$rc"
