#!/usr/bin/env bash
# berth events, as a user follows the log: --since by sequence number and by time, --until,
# filters, JSON, a follower that goes on across a kill -9 of the gateway without losing or
# repeating an event, and retention's FAILED_PRECONDITION. The gateway's own namespace events
# drive it; the other daemons' topics have suites of their own (test_events_*.sh).
BUILD=${1:-build}
source "$(dirname "$0")/lib.sh"
it_setup
suite_start || { it_not_ok "suite starts"; it_summary; exit 1; }

# The sequence number of the newest event.

# Events are read back with --until so the command ends.
ns_events() { # SINCE UNTIL
	b --format json events --since "$1" --until "$2" --filter topic=/namespaces/ |
		jq -r '"\(.topic) \(.payload.name)"'
}

b namespaces create ev-a >/dev/null
b namespaces create ev-b >/dev/null
b namespaces rm ev-a >/dev/null
first=$(b --format json events --since 0 --until 3 --filter topic=/namespaces/ 2>"$T/stderr")
if [ "$(echo "$first" | jq -r '"\(.seq) \(.topic) \(.namespace) \(.payload.name)"')" = \
	"1 /namespaces/create ev-a ev-a
2 /namespaces/create ev-b ev-b
3 /namespaces/delete ev-a ev-a" ]; then
	it_ok "the log holds the namespace events in order, numbered from 1, with their payload"
else
	it_not_ok "the namespace events in order" "$first" "$(cat "$T/stderr")"
fi
first_time=$(echo "$first" | jq -r 'select(.seq == 1) | .time')
check "each event has an RFC 3339 time" test -n "$(echo "$first_time" | grep -E '^20[0-9-]+T[0-9:]+\.[0-9]{9}Z$')"
expect_out "--since SEQ starts after it" "/namespaces/create ev-b
/namespaces/delete ev-a" ns_events 1 3
expect_out "--until SEQ stops there" "/namespaces/create ev-a" ns_events 0 1
expect_out "--filter namespace= keeps that namespace's events" "/namespaces/create ev-b" \
	sh -c "$(declare -f b); T=$T BUILD=$BUILD; b --format json events --since 0 --until 3 --filter namespace=ev-b | jq -r '\"\(.topic) \(.payload.name)\"'"
expect_out "a topic prefix that matches nothing" "" \
	sh -c "$(declare -f b); T=$T BUILD=$BUILD; b events --since 0 --until 3 --filter topic=/tasks/"
line=$(b events --since 0 --until 1)
case $line in
*" 1 ev-a /namespaces/create name=ev-a") it_ok "the text format: time, seq, namespace, topic, payload" ;;
*) it_not_ok "the text format" "$line" ;;
esac

# --since TIME: a time between two events.
sleep 0.2
mark=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
sleep 0.2
b namespaces create ev-c >/dev/null
expect_out "--since TIME starts at the first event at or after it" "/namespaces/create ev-c" \
	ns_events "$mark" 4
expect_out "--since a duration before now" "4" sh -c "$(declare -f b); T=$T BUILD=$BUILD; b events --since 1m --until 4 | wc -l"
expect_exit "a bad --since is a usage error" 2 b events --since yesterday
expect_contains "naming what it accepts" "$T/stderr" "is neither a sequence number"

# A follower across a kill -9 of the gateway: every event once, in order.
"$BUILD/berth" --address "$T/state/berth.sock" --format json events \
	--filter topic=/namespaces/ >"$T/follow.out" 2>"$T/follow.err" &
follower=$!
sleep 0.5
b namespaces create ev-d >/dev/null
daemon_kill9 gatewayd
daemon_start gatewayd
wait_healthy 20
b namespaces create ev-e >/dev/null
daemon_kill9 gatewayd
b namespaces create ev-f >/dev/null 2>&1 # refused: the gateway is down
daemon_start gatewayd
wait_healthy 20
b namespaces create ev-g >/dev/null
for _ in $(seq 50); do
	[ "$(wc -l <"$T/follow.out")" -ge 3 ] && break
	sleep 0.1
done
sleep 0.3
kill "$follower" 2>/dev/null
wait "$follower" 2>/dev/null
got=$(jq -r '.payload.name' <"$T/follow.out" | tr '\n' ' ')
if [ "$got" = "ev-d ev-e ev-g " ]; then
	it_ok "a follower sees each event once, in order, across two gateway kills"
else
	it_not_ok "a follower across gateway kills" "got: $got" "$(tail -n 3 "$T/follow.err")"
fi
seqs=$(jq -r .seq <"$T/follow.out" | tr '\n' ' ')
check "with increasing sequence numbers ($seqs)" sh -c "jq -r .seq <'$T/follow.out' | sort -n -c -u"

# The log survives a restart of the whole suite.
suite_stop
suite_start || it_not_ok "the suite restarts"
expect_out "the log is kept across a restart" "/namespaces/create ev-a" ns_events 0 1

# Retention: a log of at most 5 events.
suite_stop
sed -i 's/"gatewayd": {"group": "nogroup"/"gatewayd": {"group": "nogroup", "events": {"max_count": 5}/' "$T/berth.json"
for d in "${IT_DAEMONS[@]}"; do daemon_start "$d"; done
wait_healthy 20
for i in 1 2 3 4 5 6; do b namespaces create "ret-$i" >/dev/null; done
expect_exit "events that retention dropped: FAILED_PRECONDITION" 5 b events --since 0 --until 3
expect_contains "naming the oldest kept" "$T/stderr" "the oldest kept is sequence number"
n=$(b --format json events --since 0 --until 1000 2>/dev/null | wc -l)
oldest=$(grep -o 'the oldest kept is sequence number [0-9]*' "$T/stderr" | grep -o '[0-9]*$')
if [ -n "$oldest" ] && [ "$(b --format json events --since $((oldest - 1)) --until $((oldest + 4)) | wc -l)" = 5 ]; then
	it_ok "the 5 newest are kept, from $oldest on"
else
	it_not_ok "the newest 5 are kept" "oldest '$oldest', $n lines from 0"
fi
it_summary
