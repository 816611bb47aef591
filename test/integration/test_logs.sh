#!/usr/bin/env bash
# Container logs through the real CLI against the real daemons: the shim writes each
# container's output in the CRI format under the data root, capped and rotated per the
# configuration; `berth logs` separates the streams and takes --tail, --since and
# --timestamps; `logs -f` follows across rotations and a kill -9 of taskd without losing or
# repeating a line; a container flooding its output stays under its cap and does not slow
# another container down; the logs go with the container.
#
# Usage: test/integration/test_logs.sh [BUILD]   (as root)
BUILD=${1:-build}
source "$(dirname "$0")/lib.sh"

CAP=8192
FILES=3
IT_CONFIG="\"taskd\": {\"log_max_size\": $CAP, \"log_max_files\": $FILES}"

it_setup
suite_start || { it_not_ok "suite starts"; it_summary; exit 1; }
expect_exit "import the sh image" 0 b images import "$IMAGES/sh.tar" --name test/sh:v1
SH=test/sh:v1
LOGS=$(data_root)/taskd/logs/default

# log_bytes ID: total bytes of a container's log files; log_files ID: how many there are.
log_bytes() { cat "$LOGS/$1"/current.log* 2>/dev/null | wc -c; }
log_files() { ls "$LOGS/$1" 2>/dev/null | grep -c '^current\.log'; }

# --- a finished container -----------------------------------------------------------------
expect_exit "run a container that writes to both streams" 0 \
	b run --name fin "$SH" sh -c 'echo out1; echo err1 >&2; echo out2; echo err2 >&2; printf tail'
expect_out "logs prints stdout in order, a last line without newline as it was" \
	"$(printf 'out1\nout2\ntail')" b logs fin
check "logs prints stderr to stderr, in order" test "$(cat "$T/stderr")" = "$(printf 'err1\nerr2')"
check "the log is under the data root" test -f "$LOGS/fin/current.log"
check "nothing of the log is under the state dir" \
	test -z "$(find "$T/state" -name 'current.log*' -o -name 'stdout.log' | head -n 1)"
check "the log is in the CRI format" \
	grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z stderr F err1$' \
	"$LOGS/fin/current.log"
b logs --timestamps fin >"$T/ts.out" 2>/dev/null
check "--timestamps starts each line with its RFC 3339 time" \
	grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z out1$' "$T/ts.out"
check "--timestamps joins a partial line under one time" \
	test "$(grep -c 'Z ' "$T/ts.out")" = 3

expect_exit "run a container that counts to 100" 0 b run --name nums "$SH" seq 1 100
expect_out "--tail 3 prints the last three lines" "$(seq 98 100)" b logs --tail 3 nums
expect_out "--tail 0 prints nothing" "" b logs --tail 0 nums
expect_out "--tail all prints everything" "$(seq 1 100)" b logs --tail all nums

expect_exit "run -d a container that writes, waits and writes again" 0 \
	b run -d --name later "$SH" sh -c 'echo early; sleep 3; echo late'
sleep 1.5
mark=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
expect_out "logs -f follows until the container exits" "$(printf 'early\nlate')" b logs -f later
expect_out "--since TIME prints what came after it" "late" b logs --since "$mark" later
expect_out "--since a duration prints what came in it" "$(printf 'early\nlate')" \
	b logs --since 10m later
expect_exit "a bad --since is a usage error" 2 b logs --since yesterday later

# --- rotation at the cap ------------------------------------------------------------------
expect_exit "run a container that writes far more than its cap" 0 \
	b run --name big "$SH" seq 1 20000
check "the log rotated: $FILES files at most" test "$(log_files big)" -le "$FILES"
check "the rotated files exist" test -f "$LOGS/big/current.log.$((FILES - 1))"
check "no file passes the cap" \
	test -z "$(find "$LOGS/big" -name 'current.log*' -size +${CAP}c)"
check "the whole log is under cap x files" test "$(log_bytes big)" -le $((CAP * FILES))
b logs big >"$T/big.out" 2>/dev/null
check "logs prints the newest lines, ending with the last" \
	test "$(tail -n 1 "$T/big.out")" = 20000
check "the lines it prints are consecutive" \
	test "$(awk 'NR > 1 && $1 != prev + 1 { bad = 1 } { prev = $1 } END { print bad + 0 }' "$T/big.out")" = 0

# --- follow across rotation and a kill -9 of taskd ----------------------------------------
N=1500
expect_exit "run -d a container that numbers its lines slowly" 0 \
	b run -d --name counter "$SH" sh -c \
	"i=0; while [ \$i -lt $N ]; do i=\$((i + 1)); echo \"line \$i\"; [ \$((i % 10)) = 0 ] && sleep 0.1; done"
timeout 90 "$BUILD/berth" --address "$T/state/berth.sock" logs -f counter >"$T/follow.out" 2>"$T/follow.err" &
follower=$!
sleep 3
daemon_kill9 taskd
sleep 1
daemon_start taskd
wait_healthy 20 || it_log "taskd did not come back"
wait "$follower"
rc=$?
check "logs -f exits 0 once the container exited (taskd killed and restarted meanwhile)" test $rc = 0
seq 1 $N | sed 's/^/line /' >"$T/follow.want"
if cmp -s "$T/follow.out" "$T/follow.want"; then
	it_ok "logs -f printed every line once, in order, across rotations and the restart"
else
	it_not_ok "logs -f printed every line once, in order, across rotations and the restart" \
		"$(wc -l <"$T/follow.out") lines; diff: $(diff "$T/follow.want" "$T/follow.out" | head -n 5 | tr '\n' ' ')" \
		"stderr: $(tail -n 3 "$T/follow.err")"
fi
check "the counter's log rotated while it was followed" test -f "$LOGS/counter/current.log.1"

# --- a flood does not fill the disk or slow the others ------------------------------------
expect_exit "run -d a container that writes as fast as it can" 0 \
	b run -d --name flood "$SH" seq 1 2000000000
sleep 2
slowest=0
for i in 1 2 3; do
	start=$(date +%s%N)
	b run --rm "$SH" true >/dev/null 2>&1 || it_log "run --rm true failed"
	ms=$((($(date +%s%N) - start) / 1000000))
	[ $ms -gt $slowest ] && slowest=$ms
done
it_log "run --rm true beside the flood: slowest of 3 took $slowest ms"
check "another container's run --rm true stays under 2 s beside the flood" test $slowest -lt 2000
check "the flood's log stays under cap x files" test "$(log_bytes flood)" -le $((CAP * FILES))
check "the flood's log has at most $FILES files" test "$(log_files flood)" -le "$FILES"
# The newest line number in the flood's log. Files rotate away while they are read: each is
# read if it is still there, and a few tries allow for a read that found none.
flood_newest() {
	local f i m=0
	for i in 1 2 3 4 5; do
		m=$(for f in "$LOGS/flood"/current.log*; do cat "$f" 2>/dev/null; done |
			awk '$3 == "F" && $4 > m { m = $4 } END { print m + 0 }')
		[ "$m" -gt 100000 ] && break
		sleep 0.2
	done
	echo "$m"
}
check "the flood's log keeps rotating (its newest lines are far past the cap)" \
	test "$(flood_newest)" -gt 100000
expect_exit "rm -f the flood" 0 b rm -f flood

# --- the logs go with the container -------------------------------------------------------
for c in fin nums later big counter; do
	b rm -f "$c" >/dev/null 2>&1
done
check "rm removed every log directory" test -z "$(ls "$LOGS" 2>/dev/null)"
expect_exit "logs of a removed container is NOT_FOUND" 3 b logs fin

it_summary
