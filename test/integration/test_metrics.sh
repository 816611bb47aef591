#!/usr/bin/env bash
# The metrics endpoint (docs/metrics.md), through real daemons, the real CLI and curl: GET
# /metrics answers the Prometheus text format that `promtool check metrics` accepts, with
# every daemon up; figures move when the suite acts (a pull adds an image, blobs, bytes,
# snapshots, RPC calls and events; a running container shows with its shim; a failed call
# counts under its code; removing the image lets a collection free bytes); other paths are
# 404, other methods 405, garbage 400, an oversized head 431; idle connections neither block
# a scrape nor outnumber the cap for long; a daemon that is down shows berth_up 0 without
# delaying the scrape; an address in use is logged and the front door serves on; without
# gatewayd.metrics_address nothing listens.
#
# Usage: test/integration/test_metrics.sh [BUILD]   (as root)
BUILD=${1:-build}
source "$(dirname "$0")/lib.sh"

it_setup
registry_start || { it_not_ok "registry starts"; it_summary; exit 1; }
push_image sh test/sh:v1 || { it_not_ok "push sh"; it_summary; exit 1; }
SH=$REGISTRY/test/sh:v1
push_image layers test/layers:v1 || { it_not_ok "push layers"; it_summary; exit 1; }
LAYERS=$REGISTRY/test/layers:v1
# Collections follow releases quickly, so that freed bytes show soon after a removal.
IT_CONFIG='"contentd": {"gc_delay_ms": 100}, "snapshotd": {"gc_delay_ms": 100}'
MPORT=$(free_port)
METRICS=127.0.0.1:$MPORT

# config_with_metrics ADDRESS: the suite's configuration with gatewayd.metrics_address set
# (write_config writes the "gatewayd" section itself, so the key goes in afterwards).
config_with_metrics() {
	write_config
	jq --arg a "$1" '.gatewayd.metrics_address = $a' "$T/berth.json" >"$T/berth.json.new" &&
		mv "$T/berth.json.new" "$T/berth.json"
}

gatewayd_restart() {
	kill -TERM "${IT_PIDS[gatewayd]}" 2>/dev/null
	wait "${IT_PIDS[gatewayd]}" 2>/dev/null
	unset "IT_PIDS[gatewayd]"
	daemon_start gatewayd
	wait_healthy 20
}

config_with_metrics "$METRICS"
for d in "${IT_DAEMONS[@]}"; do
	daemon_start "$d"
done
wait_healthy 20 || { it_not_ok "suite starts"; it_summary; exit 1; }
it_ok "the suite starts with gatewayd.metrics_address $METRICS"

# scrape FILE: GET /metrics into FILE (headers in FILE.h); fails unless 200.
scrape() {
	curl -sS --max-time 10 -D "$1.h" -o "$1" "http://$METRICS/metrics" &&
		head -n 1 "$1.h" | grep -q '^HTTP/1.1 200 '
}

# val FILE SERIES: the value of SERIES (the exact name and labels) in FILE, or "".
val() {
	awk -v s="$2" 'substr($0, 1, length(s) + 1) == s " " { print $NF; exit }' "$1"
}

# expect_val NAME FILE SERIES OP N: passes when the value of SERIES compares with N (awk OP).
expect_val() {
	local name=$1 file=$2 series=$3 op=$4 want=$5 have
	have=$(val "$file" "$series")
	if [ -n "$have" ] && awk -v a="$have" -v b="$want" "BEGIN { exit !(a + 0 $op b + 0) }"; then
		it_ok "$name ($series $have)"
	else
		it_not_ok "$name" "$series is \"$have\", wanted $op $want"
	fi
}

# wait_val NAME SERIES OP N: scrapes until SERIES compares with N (15 s at most).
wait_val() {
	local name=$1 series=$2 op=$3 want=$4 have=""
	for _ in $(seq 75); do
		if scrape "$T/w.txt"; then
			have=$(val "$T/w.txt" "$series")
			if [ -n "$have" ] &&
				awk -v a="$have" -v b="$want" "BEGIN { exit !(a + 0 $op b + 0) }"; then
				it_ok "$name ($series $have)"
				return 0
			fi
		fi
		sleep 0.2
	done
	it_not_ok "$name" "$series is \"$have\", wanted $op $want"
	return 1
}

# --- the format ---------------------------------------------------------------------------

check "GET /metrics answers 200" scrape "$T/m0.txt"
expect_contains "its content type is the text format 0.0.4" "$T/m0.txt.h" \
	"Content-Type: text/plain; version=0.0.4; charset=utf-8"
if command -v promtool >/dev/null; then
	check "promtool check metrics accepts it" sh -c "promtool check metrics <'$T/m0.txt'"
else
	it_not_ok "promtool check metrics accepts it" "promtool is missing (Debian package prometheus)"
fi
for d in contentd snapshotd imaged taskd netd gatewayd; do
	expect_val "berth-$d is up" "$T/m0.txt" "berth_up{daemon=\"$d\"}" == 1
done
for s in 'berth_start_time_seconds{daemon="netd"}' 'berth_content_blobs{daemon="contentd"}' \
	'berth_snapshots{daemon="snapshotd",kind="committed"}' 'berth_images{daemon="imaged"}' \
	'berth_containers{daemon="taskd",state="running"}' 'berth_shims_running{daemon="taskd"}' \
	'berth_event_log_last_sequence{daemon="gatewayd"}' 'berth_gc_runs_total{daemon="contentd"}' \
	'berth_outbox_pending_messages{daemon="imaged"}' 'berth_image_pull_bytes_total{daemon="imaged"}'; do
	expect_val "the scrape has $s" "$T/m0.txt" "$s" '>=' 0
done
# The watchdog's probe is a call like any other: each daemon's server has counted some.
expect_val "RPC calls are counted per daemon and method" "$T/m0.txt" \
	'berth_rpc_calls_total{daemon="contentd",method="daemon.health"}' '>' 0

# --- figures that move --------------------------------------------------------------------

m0=$T/m0.txt
images0=$(val "$m0" 'berth_images{daemon="imaged"}')
blobs0=$(val "$m0" 'berth_content_blobs{daemon="contentd"}')
bytes0=$(val "$m0" 'berth_content_blob_bytes{daemon="contentd"}')
snaps0=$(val "$m0" 'berth_snapshots{daemon="snapshotd",kind="committed"}')
pulls0=$(val "$m0" 'berth_image_pulls_total{daemon="imaged"}')
pulled0=$(val "$m0" 'berth_image_pull_bytes_total{daemon="imaged"}')
seq0=$(val "$m0" 'berth_event_log_last_sequence{daemon="gatewayd"}')
gw_pulls0=$(val "$m0" 'berth_rpc_calls_total{daemon="gatewayd",method="images.pull"}')
gw_pulls0=${gw_pulls0:-0}

expect_exit "pull an image" 0 b images pull "$SH"
check "scrape after the pull" scrape "$T/m1.txt"
m1=$T/m1.txt
expect_val "berth_images grew by one" "$m1" 'berth_images{daemon="imaged"}' == $((images0 + 1))
expect_val "contentd holds more blobs" "$m1" 'berth_content_blobs{daemon="contentd"}' '>' "$blobs0"
expect_val "contentd holds more bytes" "$m1" 'berth_content_blob_bytes{daemon="contentd"}' '>' \
	"$bytes0"
expect_val "snapshotd holds a committed layer more" "$m1" \
	'berth_snapshots{daemon="snapshotd",kind="committed"}' '>' "$snaps0"
expect_val "the pull is counted" "$m1" 'berth_image_pulls_total{daemon="imaged"}' == \
	$((pulls0 + 1))
expect_val "bytes pulled from the registry grew" "$m1" \
	'berth_image_pull_bytes_total{daemon="imaged"}' '>' "$pulled0"
expect_val "the front door counted the forwarded images.pull" "$m1" \
	'berth_rpc_calls_total{daemon="gatewayd",method="images.pull"}' == $((gw_pulls0 + 1))
expect_val "imaged counted it too" "$m1" \
	'berth_rpc_calls_total{daemon="imaged",method="images.pull"}' '>=' 1
expect_val "its latency is in the histogram" "$m1" \
	'berth_rpc_call_duration_seconds_count{daemon="imaged",method="images.pull"}' '>=' 1
expect_val "the histogram ends with +Inf" "$m1" \
	'berth_rpc_call_duration_seconds_bucket{daemon="imaged",method="images.pull",le="+Inf"}' \
	'>=' 1
wait_val "the event log grew (events of the pull reached gatewayd)" \
	'berth_event_log_last_sequence{daemon="gatewayd"}' '>' "${seq0:-0}"
check "promtool accepts the scrape after the pull" sh -c "promtool check metrics <'$m1'"

# Layers unpack as they arrive, side by side: none is read back from contentd.
reads1=$(val "$m1" 'berth_rpc_calls_total{daemon="contentd",method="content.read"}')
expect_exit "pull an image of three layers" 0 b images pull "$LAYERS"
check "scrape after that pull" scrape "$T/m2.txt"
reads2=$(val "$T/m2.txt" 'berth_rpc_calls_total{daemon="contentd",method="content.read"}')
if [ "${reads2:-0}" = "${reads1:-0}" ]; then
	it_ok "contentd served no read for it (content.read calls: ${reads2:-0})"
else
	it_not_ok "contentd served no read for it" "content.read calls: ${reads1:-0}, then $reads2"
fi
# It shares its base layer with the image pulled above: two layers more are committed.
snaps1=$(val "$m1" 'berth_snapshots{daemon="snapshotd",kind="committed"}')
expect_val "its two layers of its own are committed" "$T/m2.txt" \
	'berth_snapshots{daemon="snapshotd",kind="committed"}' == $((${snaps1:-0} + 2))

nf0=$(val "$m1" 'berth_rpc_errors_total{daemon="imaged",method="images.remove",code="NOT_FOUND"}')
gw_nf0=$(val "$m1" 'berth_rpc_errors_total{daemon="gatewayd",method="images.remove",code="NOT_FOUND"}')
expect_exit "removing an image that is not there fails NOT_FOUND" 3 \
	b images rm "$REGISTRY/test/absent:v1"
check "scrape after the failure" scrape "$T/m2.txt"
expect_val "the failure is counted under its code" "$T/m2.txt" \
	'berth_rpc_errors_total{daemon="imaged",method="images.remove",code="NOT_FOUND"}' == \
	$((${nf0:-0} + 1))
expect_val "the front door counted the error it passed on" "$T/m2.txt" \
	'berth_rpc_errors_total{daemon="gatewayd",method="images.remove",code="NOT_FOUND"}' == \
	$((${gw_nf0:-0} + 1))

expect_exit "run -d a container" 0 b run -d --name metered "$SH" sleep 1000
wait_val "taskd counts it running" 'berth_containers{daemon="taskd",state="running"}' == 1
expect_val "and watches its shim" "$T/w.txt" 'berth_shims_running{daemon="taskd"}' == 1
expect_exit "rm -f the container" 0 b rm -f metered
wait_val "no container runs any more" 'berth_containers{daemon="taskd",state="running"}' == 0
expect_val "and no shim" "$T/w.txt" 'berth_shims_running{daemon="taskd"}' == 0

freed0=$(val "$T/w.txt" 'berth_gc_freed_bytes_total{daemon="contentd"}')
expect_exit "remove the image" 0 b images rm "$SH"
expect_exit "and the one of three layers" 0 b images rm "$LAYERS"
wait_val "berth_images is back" 'berth_images{daemon="imaged"}' == "$images0"
wait_val "a collection freed the blobs' bytes" 'berth_gc_freed_bytes_total{daemon="contentd"}' \
	'>' "${freed0:-0}"
wait_val "contentd holds what it held before" 'berth_content_blobs{daemon="contentd"}' == "$blobs0"
expect_val "collections are counted" "$T/w.txt" 'berth_gc_runs_total{daemon="contentd"}' '>' 0

# --- HTTP --------------------------------------------------------------------------------

expect_out "another path is 404" 404 \
	curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://$METRICS/other"
expect_out "another method is 405" 405 \
	curl -s --max-time 5 -o /dev/null -w '%{http_code}' -X POST "http://$METRICS/metrics"

# raw_request BYTES: send BYTES on a new connection and print the status line of the answer.
raw_request() {
	local line
	exec 5<>"/dev/tcp/127.0.0.1/$MPORT" || return 1
	printf '%s' "$1" >&5
	IFS= read -r -t 5 line <&5
	exec 5<&-
	printf '%s\n' "${line%$'\r'}"
}
expect_out "garbage is 400" "HTTP/1.1 400 Bad Request" raw_request $'\x16\x03\x01 hello\r\n\r\n'
expect_out "HTTP/1.1 without Host is 400" "HTTP/1.1 400 Bad Request" \
	raw_request $'GET /metrics HTTP/1.1\r\n\r\n'
big=$(printf 'X-Filler: %09000d\r\n' 0)
expect_out "a head over 8 KiB is 431" "HTTP/1.1 431 Request Header Fields Too Large" \
	raw_request $'GET /metrics HTTP/1.1\r\nHost: x\r\n'"$big"$'\r\n'

# Idle connections: a few do not block a scrape; the cap refuses more than 16 at once.
idle_fds=()
for i in $(seq 16); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$MPORT" && idle_fds+=("$fd")
done
sleep 0.3
expect_exit "with 16 idle connections open, one more is refused" 1 sh -c \
	"curl -sf --max-time 3 -o /dev/null http://$METRICS/metrics && exit 0 || exit 1"
for fd in "${idle_fds[@]}"; do
	exec {fd}<&-
done
sleep 0.3
check "once they close, scrapes work again" scrape "$T/m3.txt"

# --- a daemon down ----------------------------------------------------------------------

daemon_kill9 netd
start=$(date +%s%N)
check "the scrape still answers with netd down" scrape "$T/m4.txt"
ms=$((($(date +%s%N) - start) / 1000000))
if [ "$ms" -lt 5000 ]; then it_ok "promptly ($ms ms)"; else it_not_ok "promptly" "$ms ms"; fi
expect_val "berth_up shows netd down" "$T/m4.txt" 'berth_up{daemon="netd"}' == 0
expect_val "and the others up" "$T/m4.txt" 'berth_up{daemon="taskd"}' == 1
check "promtool accepts it" sh -c "promtool check metrics <'$T/m4.txt'"
daemon_start netd
wait_val "netd is up again once restarted" 'berth_up{daemon="netd"}' == 1

# --- configuration ------------------------------------------------------------------------

# An address in use (the registry's) is logged, naming it, and the front door serves on.
config_with_metrics "$REGISTRY"
gatewayd_restart
check "with the metrics address in use, gatewayd still serves the CLI" b images ls
expect_contains "and logs the address it could not listen on" "$T/logs/gatewayd.log" \
	"listen on $REGISTRY"

write_config # no metrics_address
gatewayd_restart
check "without metrics_address gatewayd serves the CLI" b images ls
expect_out "and nothing listens on the metrics port" "" ss -Htln "sport = :$MPORT"
expect_exit "a scrape finds nothing" 7 curl -s --max-time 5 -o /dev/null "http://$METRICS/metrics"

it_summary
