#!/usr/bin/env bash
# Garbage collection, Berth against containerd (Debian's package) on the same machine in the
# same run:
#
#   1. removing an image of 100 layers and 20,000 files (built here from local files, imported
#      into both from the same OCI archive): the time from the removal command until the
#      stores' directories are empty again (at most 120 s, else the benchmark stops). Berth:
#      `berth images rm` (collection follows on its own, gc_delay_ms 0 here); containerd:
#      `ctr images rm --sync`. Rounds interleave the two, each after a fresh import; the
#      median and the spread are reported.
#   2. a collection with nothing to remove over 10,000 blobs and 1,000 snapshots, all held by
#      leases: content.gc and snapshots.gc, wall time and the time each store reports.
#      (containerd has no command that only runs its collector; Berth alone.)
#
# Results go to stdout and bench/results/gc-<date>.md. Nothing here is a pass/fail test.
# Usage: bench/gc.sh [BUILD] [ROUNDS]   (as root; installs containerd if missing)
set -u
BUILD=${1:-build}
ROUNDS=${2:-5}
LAYERS=100
FILES=20000
top=$(cd "$(dirname "$0")/.." && pwd)
source "$top/test/integration/lib.sh"
source "$top/bench/lib.sh"

bench_require containerd
CTR_TIMEOUT=600

# A short data root: an overlay mount names every lower layer's path, and 100 of them must fit
# in the kernel's page of mount options.
IT_ROOT=$(mktemp -d /tmp/gXXX)
it_cleanup_extra() {
	containerd_stop
	rm -rf "$IT_ROOT"
}
it_setup

# --- the image: 100 gzip layers of 200 files each ---------------------------------------------
lay=$T/gcimg
mkdir -p "$lay/blobs/sha256" "$T/work"
printf '{"imageLayoutVersion":"1.0.0"}' >"$lay/oci-layout"
add_blob() { local d; d=$(sha256sum "$1" | cut -d' ' -f1); cp "$1" "$lay/blobs/sha256/$d"; echo "sha256:$d $(stat -c %s "$1")"; }
diffs="" layers=""
for l in $(seq "$LAYERS"); do
	d=$T/work/l$l
	mkdir -p "$d/layer$l"
	for f in $(seq $((FILES / LAYERS))); do
		echo "layer $l file $f" >"$d/layer$l/f$f"
	done
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$d" -cf "$T/work/l$l.tar" .
	diffs+="${diffs:+,}\"sha256:$(sha256sum "$T/work/l$l.tar" | cut -d' ' -f1)\""
	gzip -n -1 "$T/work/l$l.tar"
	read -r dg sz <<<"$(add_blob "$T/work/l$l.tar.gz")"
	layers+="${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"$dg\",\"size\":$sz}"
done
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
	"$diffs" >"$T/work/config.json"
read -r cdg csz <<<"$(add_blob "$T/work/config.json")"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[%s]}' \
	"$cdg" "$csz" "$layers" >"$T/work/manifest.json"
read -r mdg msz <<<"$(add_blob "$T/work/manifest.json")"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"bench/gc:v1","io.containerd.image.name":"bench/gc:v1"}}]}' \
	"$mdg" "$msz" >"$lay/index.json"
tar -C "$lay" -cf "$T/gc.tar" oci-layout index.json blobs

# --- Berth, and containerd on its own private root ---------------------------------------------
IT_CONFIG='"contentd": {"gc_delay_ms": 0}, "snapshotd": {"gc_delay_ms": 0}'
suite_start || exit 1
containerd_start || exit 1

entries() { find "$@" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
berth_dirs=("$IT_ROOT/contentd/blobs/sha256" "$IT_ROOT/snapshotd/overlayfs")
cd_dirs=("$cd_dir/root/io.containerd.content.v1.content/blobs/sha256"
	"$cd_dir/root/io.containerd.snapshotter.v1.overlayfs/snapshots")
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# time_until_empty DIRS CMD...: ms from the start of CMD until every directory of DIRS (the
# name of an array) is empty. Each must hold something before CMD starts (else there is
# nothing to time); at most 120 s. On failure it says why on stderr and returns 1.
time_until_empty() {
	local -n dirs=$1
	shift
	local d t0 n
	for d in "${dirs[@]}"; do
		[ "$(entries "$d")" -gt 0 ] || { echo "# $d is empty before $*: nothing to time" >&2; return 1; }
	done
	t0=$(now_ms)
	"$@" >/dev/null 2>&1 || { echo "# $* failed" >&2; return 1; }
	while n=$(entries "${dirs[@]}") && [ "$n" -gt 0 ]; do
		if [ $(($(now_ms) - t0)) -gt 120000 ]; then
			echo "# $*: $n entries still in ${dirs[*]} after 120 s" >&2
			return 1
		fi
		sleep 0.01
	done
	echo $(($(now_ms) - t0))
}

berth_ms=() cd_ms=()
for r in $(seq "$ROUNDS"); do
	b images import "$T/gc.tar" --name bench/gc:v1 >/dev/null || exit 1
	ctr images import "$T/gc.tar" >/dev/null || exit 1
	sync
	ms=$(time_until_empty berth_dirs b images rm bench/gc:v1) || exit 1
	berth_ms+=("$ms")
	ms=$(time_until_empty cd_dirs ctr images rm --sync "$(ctr images ls -q)") || exit 1
	cd_ms+=("$ms")
	echo "# round $r: berth ${berth_ms[-1]} ms, containerd ${cd_ms[-1]} ms" >&2
done
stats() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { printf "%d ms (min %d, max %d)", v[int((NR + 1) / 2)], v[1], v[NR] }'; }

# --- a collection with nothing to remove -------------------------------------------------------
"$BUILD/test/helpers/seed_store" blobs "$T/state" bench 10000 bench >/dev/null || exit 1
"$BUILD/test/helpers/seed_store" snapshots "$T/state" bench 1000 1 bench >/dev/null || exit 1
"$BUILD/test/helpers/seed_store" collect "$T/state" >/dev/null # warm
idle=$("$BUILD/test/helpers/seed_store" collect "$T/state")

out=$top/bench/results/gc-$(date -u +%Y-%m-%d).md
mkdir -p "$(dirname "$out")"
{
	echo "# Garbage collection: Berth vs containerd $(containerd --version | awk '{print $3}'), $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	bench_machine
	echo
	echo "## Removing an image of $LAYERS layers and $FILES files until the stores are empty ($ROUNDS rounds, interleaved)"
	echo
	echo "| | median (min, max) |"
	echo "|---|---|"
	echo "| berth images rm (collection on its own) | $(stats "${berth_ms[@]}") |"
	echo "| ctr images rm --sync | $(stats "${cd_ms[@]}") |"
	echo
	echo "## A collection with nothing to remove: 10,000 blobs and 1,000 snapshots, all held"
	echo
	echo '```'
	echo "$idle"
	echo '```'
} | tee "$out"
echo
echo "written to $out"
