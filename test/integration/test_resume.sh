#!/usr/bin/env bash
# Interrupted pulls resume. A real docker-registry runs in a network namespace of this test's
# own, behind a veth pair whose far end is throttled (tc tbf), so that a pull of a large image
# takes seconds; the bytes it moves are counted twice: on the host's end of the pair (frames,
# headers included) and in the registry's access log (body bytes). For each of imaged,
# contentd and snapshotd: a pull is interrupted by kill -9 part-way, the daemon restarted,
# and the same pull run again: it must succeed, fetch no more layer bytes than the store did
# not have yet (half-written blobs continue with HTTP Range requests, finished blobs and
# layers are reused), and the image must run. Once the image is removed and the
# interrupted job's lease expired, nothing of the pulls is left.
#
# Usage: test/integration/test_resume.sh [BUILD]   (as root)
BUILD=${1:-build}
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "# needs root (network namespaces, tc, mounts)"
	echo "0 passed, 1 failed"
	exit 1
fi

MIB=$((1024 * 1024))
BIG_MB=24
RATE=80mbit
it_setup
# The throttled registry (lib.sh): what it sends is slowed; its access log is kept.
throttled_registry_start "$RATE" 10.213 true ||
	{ it_not_ok "a throttled link to a namespace of our own"; it_summary; exit 1; }
BIG_IMAGE_MB=$BIG_MB bash "$IT_TOP/test/images/build.sh" "$T/big" >/dev/null ||
	{ it_not_ok "build the big image"; it_summary; exit 1; }
timeout 300 skopeo copy --quiet --dest-tls-verify=false "oci:$T/big/big:v1" \
	"docker://$REG_IP:5000/test/big:v1" || { it_not_ok "push the big image"; it_summary; exit 1; }
it_ok "a registry behind a throttled link ($RATE) holds an image of two ${BIG_MB} MiB layers"

# The big layers' digests and total size, as the registry serves them (skopeo compresses
# layers on the way to a registry).
skopeo inspect --raw --tls-verify=false "docker://$REG_IP:5000/test/big:v1" |
	jq -r '.layers[1:][] | "\(.digest) \(.size)"' >"$T/big.layers"
total=$(awk '{ s += $2 } END { print s }' "$T/big.layers")

IT_REGISTRIES=", {\"host\": \"$REG_IP:5000\", \"insecure\": true}"
# The killed job's lease must outlive a store's restart and the start of the second pull,
# which takes its layers over (seconds under a sanitizer build), then expire within the test.
IT_IMAGED='"job_lease_ttl_ms": 12000'
IT_CONFIG='"contentd": {"gc_delay_ms": 100, "ingest_expiry_ms": 1000}, "snapshotd": {"gc_delay_ms": 100}'
suite_start || { it_not_ok "suite starts"; it_summary; exit 1; }
BIG=$REG_IP:5000/test/big:v1

# Body bytes the registry served for blob GETs from line $1 of its access log on (combined
# log format: ... "GET /v2/<name>/blobs/<digest> HTTP/1.1" <status> <bytes> ...).
served() {
	tail -n +"$1" "$T/logs/netreg.log" |
		awk '$6 == "\"GET" && $7 ~ /\/blobs\// && $10 ~ /^[0-9]+$/ { s += $10 } END { print s + 0 }'
}
log_lines() { wc -l <"$T/logs/netreg.log"; }
rx() { cat "/sys/class/net/$NETREG_VH/statistics/rx_bytes"; }

# Bytes of the big layers that contentd has: whole blobs and half-written ingests.
have() {
	local d n s=0 root
	root=$(data_root)
	while read -r d _; do
		n=$(stat -c %s "$root/contentd/blobs/sha256/${d#sha256:}" 2>/dev/null ||
			stat -c %s "$root/contentd/ingest/blob-${d#sha256:}/data" 2>/dev/null || echo 0)
		s=$((s + n))
	done <"$T/big.layers"
	echo "$s"
}

# The committed layers of the namespace, one "KEY CREATED_AT" per line, sorted.
layer_snapshots() {
	b --format json snapshots ls |
		jq -r '.[] | select(.key | startswith("berth.layer.")) | "\(.key) \(.created_at)"' | sort
}
empty=$(store_bytes)

# interrupted DAEMON: a pull killed part-way by kill -9 of DAEMON, then the pull again. With
# snapshotd killed, the downloads may finish before the job needs snapshotd again: then the
# second pull has nothing to download at all.
interrupted() {
	local daemon=$1 got=0 limit=$total
	[ "$daemon" = snapshotd ] && limit=$((total + 1))
	b images pull "$BIG" >"$T/first.out" 2>&1 &
	local pull=$!
	# With snapshotd, also once the base layer is committed (the layers unpack side by side,
	# so the small base one is first), so that its reuse can be checked.
	for _ in $(seq 300); do
		got=$(have)
		if [ "$got" -ge $((total * 3 / 10)) ] &&
			{ [ "$daemon" != snapshotd ] || [ -n "$(layer_snapshots)" ]; }; then
			break
		fi
		sleep 0.05
	done
	daemon_kill9 "$daemon"
	wait "$pull"
	local first_rc=$?
	daemon_start "$daemon"
	wait_healthy 20
	got=$(have)
	if [ "$first_rc" -ne 0 ] && [ "$got" -gt 0 ] && [ "$got" -lt "$limit" ]; then
		it_ok "$daemon killed part-way: the pull failed with $got of $total bytes stored"
	else
		it_not_ok "$daemon killed part-way" "pull exit $first_rc, $got of $total bytes stored" \
			"$(tail -n 2 "$T/first.out")"
	fi
	local before moved missing rx0 wire layers reused
	layer_snapshots >"$T/layers.before"
	# The request the kill cut is logged once the registry notices: let the log settle.
	local lines=-1
	for _ in $(seq 20); do
		[ "$(log_lines)" = "$lines" ] && break
		lines=$(log_lines)
		sleep 0.5
	done
	before=$(($(log_lines) + 1))
	rx0=$(rx)
	expect_exit "after $daemon's restart the pull succeeds" 0 b images pull "$BIG"
	moved=$(served "$before")
	wire=$(($(rx) - rx0))
	missing=$((total - got))
	# Slack for the image's config blob (its manifest is not a blob); the lower bound fails
	# when the access log no longer shows what was served. Above, up to 1 MiB more: the
	# request cut by the kill is logged when the registry's write fails, with what it wrote
	# into the throttled link and socket buffers, which may come after `before` was taken.
	if [ "$moved" -ge $((missing - 64 * 1024)) ] &&
		[ "$moved" -le $((missing + MIB + 64 * 1024)) ]; then
		it_ok "the second pull fetched $moved blob bytes for the $missing missing"
	else
		it_not_ok "the second pull fetches only the missing bytes" \
			"fetched $moved blob bytes, $missing were missing"
	fi
	# The layers committed before the kill are still the same snapshots (same creation time),
	# not made again. With snapshotd killed, at least the base layer was committed first: the
	# byte counts above cannot tell a reused layer from one unpacked again.
	layer_snapshots >"$T/layers.after"
	layers=$(wc -l <"$T/layers.before")
	reused=$(comm -12 "$T/layers.before" "$T/layers.after" | wc -l)
	if [ "$reused" = "$layers" ] && { [ "$daemon" != snapshotd ] || [ "$layers" -gt 0 ]; }; then
		it_ok "the layers committed before the kill are reused: $reused of $layers"
	else
		it_not_ok "the layers committed before the kill are reused" \
			"$reused of $layers reused; before: $(tr '\n' ' ' <"$T/layers.before")" \
			"after: $(tr '\n' ' ' <"$T/layers.after")"
	fi
	# On the wire: TCP/IP and Ethernet headers add up to 5% (one 66-byte header per 1448-byte
	# segment when nothing is aggregated), and the manifest and requests a little.
	if [ "$wire" -le $((missing + missing / 20 + MIB)) ]; then
		it_ok "the link carried $wire bytes for the $missing missing"
	else
		it_not_ok "the link carries only the missing bytes" \
			"$wire bytes on $NETREG_VH, $missing were missing"
	fi
	expect_out "the image runs with both layers whole" "$((BIG_MB * MIB)) $((BIG_MB * MIB))" \
		b run --rm "$BIG" sh -c 'echo $(wc -c < /big/data1) $(wc -c < /big/data2)'
	expect_exit "images rm" 0 b images rm "$BIG"
	# The interrupted job's lease expires (12 s here), then everything goes.
	local left=0
	for _ in $(seq 200); do
		b system prune >/dev/null 2>&1
		left=$(store_bytes)
		[ $((left - empty)) -lt "$MIB" ] && break
		sleep 0.2
	done
	if [ $((left - empty)) -lt "$MIB" ]; then
		it_ok "nothing of the pulls is left ($left bytes, $empty before)"
	else
		it_not_ok "nothing of the pulls is left" "$left bytes, $empty before"
	fi
}

interrupted imaged
interrupted contentd
interrupted snapshotd

suite_stop
leftover_mounts=$(mounts_under_t)
if [ -z "$leftover_mounts" ]; then it_ok "no mounts left"; else it_not_ok "no mounts left" "$leftover_mounts"; fi
it_summary
