#!/usr/bin/env bash
# Storage that lives and dies correctly, through the real CLI against the real daemons:
# removed images give their bytes back (and a restarted suite agrees), shared layers stay
# while anything holds them, a running container keeps its rootfs after its image goes,
# collection never takes what a pull in flight relies on (50 rounds), kill -9 during a
# collection leaves consistent stores, namespaces are isolated while blobs are stored once,
# `system prune --all` removes only the images no container uses and says what it freed,
# `snapshots usage` measures what the disk holds, listings page over 10,000 records, the raw
# stores refuse writes from non-root users, and the layer-apply rules hold for overlayfs and
# native snapshots.
#
# Usage: test/integration/test_storage.sh [BUILD]   (as root)
BUILD=${1:-build}
source "$(dirname "$0")/lib.sh"

it_setup
registry_start || { it_not_ok "registry starts"; it_summary; exit 1; }
for img in sh layers extra defects; do
	push_image "$img" "test/$img:v1" || { it_not_ok "push $img"; it_summary; exit 1; }
done
# Collections follow releases quickly here; the allowed uid 65534 checks the store writes.
IT_USERS=65534
IT_CONFIG='"contentd": {"gc_delay_ms": 100}, "snapshotd": {"gc_delay_ms": 100}'
suite_start || { it_not_ok "suite starts"; it_summary; exit 1; }
it_ok "the suite starts"

SH=$REGISTRY/test/sh:v1
LAYERS=$REGISTRY/test/layers:v1
EXTRA=$REGISTRY/test/extra:v1
DEFECTS=$REGISTRY/test/defects:v1

ROOT=$(data_root)

# wait_bytes NAME WANT [SECONDS]: passes once store_bytes equals WANT (the stores' bytes are
# blocks on disk, so a blob or directory left behind, however small, shows).
wait_bytes() {
	local name=$1 want=$2 limit=$((${3:-15} * 10)) have
	for _ in $(seq "$limit"); do
		have=$(store_bytes)
		[ "$have" = "$want" ] && { it_ok "$name ($have bytes, $want before)"; return 0; }
		sleep 0.1
	done
	it_not_ok "$name" "store bytes $have, wanted $want"
	return 1
}

# wait_out NAME WANT CMD...: passes once CMD prints exactly WANT (15 s at most).
wait_out() {
	local name=$1 want=$2 out
	shift 2
	for _ in $(seq 150); do
		out=$("$@" 2>&1)
		[ "$out" = "$want" ] && { it_ok "$name"; return 0; }
		sleep 0.1
	done
	it_not_ok "$name" "got: $(printf %q "$out"), wanted: $(printf %q "$want")"
	return 1
}

# wait_same NAME FILE CMD...: passes once CMD prints exactly FILE's content (15 s at most).
wait_same() {
	local name=$1 file=$2
	shift 2
	for _ in $(seq 150); do
		"$@" >"$T/same.out" 2>&1
		cmp -s "$file" "$T/same.out" && { it_ok "$name"; return 0; }
		sleep 0.1
	done
	it_not_ok "$name" "got: $(head -c 300 "$T/same.out" | tr '\n' ' ')" \
		"wanted: $(head -c 300 "$file" | tr '\n' ' ')"
	return 1
}

# Sorted blob digests / snapshot keys of a namespace (content is global), and their counts.
blobs() { b content ls -q | sort; }
snaps() { b -n "${1:-default}" snapshots ls -q | sort; }
count_blobs() { b content ls -q | wc -l; }
# What the disk holds: blob files, and the directories of overlayfs snapshots.
blob_files() { find "$ROOT/contentd/blobs/sha256" -type f | wc -l; }
snapshot_dirs() { find "$ROOT/snapshotd/overlayfs" -mindepth 1 -maxdepth 1 | wc -l; }

# --- an image removed gives its bytes back ------------------------------------------------
empty=$(store_bytes)
expect_exit "pull an image of three layers" 0 b images pull "$LAYERS"
expect_out "it runs" "keep" b run --rm "$LAYERS" ls /data
check "it uses disk" test "$(store_bytes)" -gt $((empty + 1048576))
expect_exit "images rm" 0 b images rm "$LAYERS"
wait_bytes "its blobs and snapshots are collected on their own" "$empty"
expect_out "no blob is left" "" blobs
expect_out "no snapshot is left" "" snaps
expect_out "no blob file is left" 0 blob_files
expect_out "no snapshot directory is left" 0 snapshot_dirs
suite_stop
suite_start
expect_exit "the suite comes back" 0 b info
expect_out "after a restart the store is as empty" "$empty" store_bytes
b --format json system df >"$T/df.json"
check "system df agrees: no blob, no snapshot" \
	jq -e '.content.blobs == 0 and .snapshots.snapshots == 0' "$T/df.json"

# --- images sharing layers ------------------------------------------------------------------
expect_exit "pull sh" 0 b images pull "$SH"
blobs >"$T/sh.blobs"
snaps >"$T/sh.snaps"
sh_bytes=$(store_bytes)
expect_exit "pull layers (sharing sh's base layer)" 0 b images pull "$LAYERS"
check "layers brought blobs of its own" test "$(count_blobs)" -gt "$(wc -l <"$T/sh.blobs")"
expect_exit "images rm layers" 0 b images rm "$LAYERS"
wait_same "exactly sh's blobs remain" "$T/sh.blobs" blobs
wait_same "exactly sh's snapshots remain" "$T/sh.snaps" snaps
wait_bytes "only what was layers' own is freed" "$sh_bytes"
wait_out "the files of exactly sh's blobs remain" "$(wc -l <"$T/sh.blobs")" blob_files
wait_out "the directories of exactly sh's snapshots remain" "$(wc -l <"$T/sh.snaps")" snapshot_dirs
expect_out "sh still runs" "still here" b run --rm "$SH" echo still here

# --- an image removed under a running container --------------------------------------------
expect_exit "pull extra" 0 b images pull "$EXTRA"
expect_exit "run -d a container of extra" 0 b run -d --name keeper "$EXTRA" sleep 1000
pid=$(b --format json ps | jq -r '.[] | select(.id == "keeper") | .pid')
expect_exit "images rm extra while it runs" 0 b images rm "$EXTRA"
expect_exit "system prune" 0 b system prune
check "the container still runs" kill -0 "${pid:-0}"
check "its rootfs still has the image's files" test -s "/proc/${pid:-0}/root/extra/numbers"
expect_out "ps still shows it running" "running" \
	eval "b --format json ps | jq -r '.[] | select(.id == \"keeper\") | .status'"
expect_exit "rm -f the container" 0 b rm -f keeper
wait_same "sh's blobs are all that is left once the container is gone" "$T/sh.blobs" blobs
wait_same "and sh's snapshots" "$T/sh.snaps" snaps
wait_bytes "its bytes are freed" "$sh_bytes"
wait_out "and its blob files" "$(wc -l <"$T/sh.blobs")" blob_files
wait_out "and its snapshot directories" "$(wc -l <"$T/sh.snaps")" snapshot_dirs

# --- collection racing pulls that share layers with an image being removed ----------------
ok=0
for round in $(seq 50); do
	b images pull "$SH" >/dev/null 2>&1 || { echo "# round $round: pull sh failed"; break; }
	b images pull "$EXTRA" >"$T/race.pull" 2>&1 &
	pull_pid=$!
	b images rm "$SH" >/dev/null 2>&1
	b system prune >/dev/null 2>&1
	wait "$pull_pid" || { echo "# round $round: $(cat "$T/race.pull")"; break; }
	out=$(b run --rm "$EXTRA" sh -c 'cat /extra/numbers | wc -l' 2>&1)
	[ "$out" = 2000 ] || { echo "# round $round: run: $out"; break; }
	b images rm "$EXTRA" >/dev/null 2>&1
	ok=$round
done
if [ "$ok" = 50 ]; then
	it_ok "50 rounds of collection racing a pull: the pulled image always runs"
else
	it_not_ok "50 rounds of collection racing a pull" "round $((ok + 1)) failed"
fi
b system prune >/dev/null 2>&1
wait_bytes "the races leave nothing behind" "$empty"
wait_out "no blob file" 0 blob_files
wait_out "no snapshot directory" 0 snapshot_dirs

# --- kill -9 during a collection ------------------------------------------------------------
# kill_mid_collection DAEMON COUNT_FN TOTAL: a prune in the background, DAEMON killed as soon as
# COUNT_FN shows the first entries gone; sets `left` to what COUNT_FN shows then.
kill_mid_collection() {
	local daemon=$1 count=$2 total=$3 prune_pid
	b system prune >/dev/null 2>&1 &
	prune_pid=$!
	for _ in $(seq 1000); do
		[ "$($count)" -lt "$total" ] && break
		sleep 0.01
	done
	daemon_kill9 "$daemon"
	wait "$prune_pid" 2>/dev/null
	left=$($count)
	if [ "$left" -gt 0 ] && [ "$left" -lt "$total" ]; then
		it_ok "$daemon killed during its collection, with $left of $total left"
	else
		it_not_ok "$daemon killed during its collection" "$left of $total left at the kill"
	fi
}
# contentd: thousands of blobs nobody holds; kill it while a collection removes them.
"$BUILD/test/helpers/seed_store" blobs "$T/state" seed 6000 >/dev/null
expect_out "6000 blob files to collect" 6000 blob_files
kill_mid_collection contentd blob_files 6000
daemon_start contentd
wait_healthy 10
expect_exit "the next collection finishes the work" 0 b system prune
expect_out "no blob file is left" 0 blob_files
expect_out "and no row" "" blobs
# snapshotd: many snapshots with many files; kill it while a collection removes them.
"$BUILD/test/helpers/seed_store" snapshots "$T/state" seed 40 400 >/dev/null
expect_out "40 snapshot directories to collect" 40 snapshot_dirs
kill_mid_collection snapshotd snapshot_dirs 40
daemon_start snapshotd
wait_healthy 10
expect_exit "the next snapshot collection finishes the work" 0 b system prune
expect_out "no snapshot directory is left" 0 snapshot_dirs
expect_out "and no record" "" snaps seed
expect_exit "pull sh after the kills" 0 b images pull "$SH"
expect_out "it runs" "ok" b run --rm "$SH" echo ok

# --- namespaces -----------------------------------------------------------------------------
expect_exit "pull sh in namespace ns1" 0 b -n ns1 images pull "$SH"
expect_exit "pull sh in namespace ns2" 0 b -n ns2 images pull "$SH"
expect_out "ns1 sees its image" "$SH" b -n ns1 images ls -q
expect_out "a namespace that pulled nothing sees no image" "" b -n ns3 images ls -q
expect_out "the blobs are stored once" "$(wc -l <"$T/sh.blobs")" count_blobs
b --format json system df >"$T/df.json"
check "system df shows what each namespace holds" \
	jq -e '[.namespaces[] | select(.name == "ns1" or .name == "ns2") | .blobs] == [3, 3]' \
	"$T/df.json"
expect_out "namespaces ls lists them" "default ns1 ns2" \
	eval "b namespaces ls -q | tr '\n' ' ' | sed 's/ \$//'"
expect_exit "images rm in ns1" 0 b -n ns1 images rm "$SH"
expect_exit "and in default" 0 b images rm "$SH"
expect_exit "system prune" 0 b system prune
expect_out "ns2's image still runs" "ns2" b -n ns2 run --rm "$SH" echo ns2
expect_out "no blob was freed: ns2 alone holds them" "$(wc -l <"$T/sh.blobs")" count_blobs
expect_out "nor any blob file" "$(wc -l <"$T/sh.blobs")" blob_files
expect_out "ns1's snapshots are gone" "" snaps ns1
expect_out "and default's" "" snaps
expect_exit "namespaces rm refuses a namespace that holds an image" 5 b namespaces rm ns2
expect_contains "and says what it holds" "$T/stderr" "1 image (berth-imaged)"
expect_exit "images rm in ns2" 0 b -n ns2 images rm "$SH"
expect_exit "system prune" 0 b system prune
wait_out "once no namespace holds them the blobs go" 0 count_blobs
wait_out "and their files" 0 blob_files
expect_exit "namespaces rm of an empty namespace" 0 b namespaces rm ns1 ns2
expect_exit "namespaces rm default is refused" 5 b namespaces rm default
expect_exit "namespaces create" 0 b namespaces create team-a
expect_exit "creating it again fails" 4 b namespaces create team-a
expect_exit "an invalid name fails" 2 b namespaces create "Team A"

# --- system prune --all and snapshots usage --------------------------------------------------
expect_exit "pull sh" 0 b images pull "$SH"
expect_exit "pull extra" 0 b images pull "$EXTRA"
# extra's own layer: the one snapshot sh does not have; its files are on disk in one directory.
extra_key=$(snaps | comm -13 "$T/sh.snaps" -)
extra_fs=$(dirname "$(dirname "$(find "$ROOT/snapshotd/overlayfs" -path '*/fs/extra/numbers')")")
check "extra has one layer of its own" test "$(echo "$extra_key" | wc -l)" = 1 -a -d "$extra_fs"
b --format json snapshots usage "$extra_key" >"$T/usage.json"
check "snapshots usage of a key prints its size: what its directory takes on disk" \
	jq -e --arg k "$extra_key" --argjson du "$(du -s --block-size=1 "$extra_fs" | cut -f1)" \
	'length == 1 and .[0].key == $k and .[0].size == $du and .[0].size > 0' "$T/usage.json"
b snapshots usage "$extra_key" >"$T/usage.txt"
check "and as a table, KEY SIZE INODES" \
	awk -v k="$extra_key" 'NR == 1 && $1 == "KEY" && $2 == "SIZE" && $3 == "INODES" { h = 1 }
		NR == 2 && $1 == k && $3 > 0 { r = 1 } END { exit !(h && r && NR == 2) }' "$T/usage.txt"
expect_exit "snapshots usage takes no -q" 2 b snapshots usage -q "$extra_key"
# Every snapshot of the namespace measured now: a collection then knows their sizes.
b --format json snapshots usage >"$T/usage.json"
b --format json content ls >"$T/content.json"
expect_exit "run -d a container of sh" 0 b run -d --name user "$SH" sleep 1000
prune_no() { echo n | b system prune --all; }
expect_exit "prune --all asks first; no removes nothing" 1 prune_no
expect_contains "and says so" "$T/stderr" "not confirmed; nothing removed"
expect_out "both images are still there" "$(printf '%s\n' "$EXTRA" "$SH" | sort)" \
	eval "b images ls -q | sort"
b --format json system prune --all -f >"$T/prune.json"
check "prune --all -f removes the image no container uses" \
	jq -e --arg i "$EXTRA" '.images_removed == [$i]' "$T/prune.json"
expect_out "and keeps the one a container uses" "$SH" b images ls -q
expect_out "whose container still runs" "running" \
	eval "b --format json ps | jq -r '.[] | select(.id == \"user\") | .status'"
gone_blobs=$(b content ls -q | jq -R . | jq -s --slurpfile all "$T/content.json" \
	'. as $kept | [$all[0][] | select(.digest as $d | $kept | index($d) | not)]')
check "it removed extra's own blobs and reports their bytes" \
	jq -e --argjson gone "$gone_blobs" \
	'.blobs_removed == ($gone | length) and .blobs_removed == 3 and
	 .blob_bytes == ([$gone[].size] | add)' "$T/prune.json"
gone_snaps=$(snaps | jq -R . | jq -s --slurpfile all "$T/usage.json" \
	'. as $kept | [$all[0][] | select(.key as $k | $kept | index($k) | not)]')
check "and extra's layer, whose size was known" \
	jq -e --argjson gone "$gone_snaps" --arg k "$extra_key" \
	'.snapshots_removed == 1 and $gone[0].key == $k and
	 .snapshot_bytes_known == $gone[0].size' "$T/prune.json"
expect_out "a prune with nothing to collect says so" \
	"Removed 0 blobs (0B), 0 ingests and 0 snapshots (0B known)" b system prune
expect_exit "rm -f the container" 0 b rm -f user

# --- listings page ---------------------------------------------------------------------------
held=$(count_blobs)
"$BUILD/test/helpers/seed_store" blobs "$T/state" paging 10000 paging >/dev/null
b content ls -q >"$T/all.blobs"
expect_out "content ls lists the 10,000 blobs and the $held of sh" "$((10000 + held))" \
	eval "wc -l <'$T/all.blobs'"
expect_out "none twice" "" sh -c "sort '$T/all.blobs' | uniq -d"
check "in order" sort -c "$T/all.blobs"

# --- non-root callers and the raw stores -----------------------------------------------------
install -m 0755 "$BUILD/berth" "$T/berth-cli"
nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$T/berth-cli" --address "$T/state/berth.sock" "$@"
}
digest=$(head -n 1 "$T/all.blobs")
expect_exit "an allowed non-root user may list content" 0 nobody content ls -q
expect_exit "but not delete a blob" 8 nobody content rm "$digest"
expect_contains "the error says why" "$T/stderr" \
	"content.delete writes the stores, which only root may write, whatever the role (uid 65534)"
expect_exit "nor remove a snapshot" 8 nobody snapshots rm "$(snaps | head -n 1)"
expect_contains "snapshots.remove is root's too" "$T/stderr" \
	"snapshots.remove writes the stores, which only root may write"
expect_exit "nor collect" 8 nobody system prune
expect_contains "nor is collection" "$T/stderr" "content.gc writes the stores"
expect_exit "nor create a namespace" 8 nobody namespaces create mine
expect_exit "images ls stays open to it" 0 nobody images ls
expect_exit "root deletes the blob" 0 b content rm "$digest"

# --- the layer-apply rules ---------------------------------------------------------------------
expect_exit "pull an image with a deep opaque directory and an implied /tmp" 0 \
	b images pull "$DEFECTS"
expect_out "overlay: /tmp keeps its mode" "1777" b run --rm "$DEFECTS" busybox stat -c %a /tmp
expect_out "overlay: the opaque directory hides the lower layers at every depth" \
	"/deep/a /deep/a/b /deep/a/b/new" \
	b run --rm "$DEFECTS" sh -c 'find /deep -mindepth 1 | sort | tr "\n" " " | sed "s/ $//"'
# The same image unpacked by the native snapshotter (a full copy per layer).
suite_stop
IT_CONFIG='"contentd": {"gc_delay_ms": 100}, "snapshotd": {"snapshotter": "native", "gc_delay_ms": 100}'
suite_start || it_not_ok "the suite starts with native snapshots"
expect_exit "native: pull the same image" 0 b -n native images pull "$DEFECTS"
expect_out "native: the opaque directory hides the lower layers at every depth" \
	"/deep/a /deep/a/b /deep/a/b/new" \
	b -n native run --rm "$DEFECTS" sh -c 'find /deep -mindepth 1 | sort | tr "\n" " " | sed "s/ $//"'
expect_out "native: /tmp keeps its mode" "1777" b -n native run --rm "$DEFECTS" busybox stat -c %a /tmp

# --- nothing leaks ---------------------------------------------------------------------------
suite_stop
leftover_mounts=$(mounts_under_t)
if [ -z "$leftover_mounts" ]; then it_ok "no mounts left"; else it_not_ok "no mounts left" "$leftover_mounts"; fi
leftover_procs=$(procs_under_t | grep -vx "$IT_REGISTRY_PID")
if [ -z "$leftover_procs" ]; then it_ok "no processes left"; else it_not_ok "no processes left" "$leftover_procs"; fi

it_summary
