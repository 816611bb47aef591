#!/usr/bin/env bash
# Images, Berth against containerd (Debian's package, driven with ctr) and podman (Debian's
# package) on the same machine in the same run, from the same real docker-registry on
# 127.0.0.1 (plain HTTP, no throttling: the figures are the engines' own costs):
#
#   1. cold pull of "big": test/images' "sh" plus LAYERS layers of LAYER_MIB MiB of
#      incompressible bytes (gzip cannot shrink them) and a small layer;
#   2. cold pull of "small": "sh" alone (about 1 MB);
#   3. export of "big" to an archive and import of that archive (`berth images export|import`,
#      `ctr images export|import`, `podman save|load`), each engine with its own archive.
#
# Cold means nothing of the image is left in the engine: before every timed pull each engine
# removes the image and collects what it held (`berth images rm` + `system prune`,
# `ctr images rm --sync`, `podman rmi`), and the script checks that the stores are back to
# their size before the first pull. Every engine unpacks what it pulls (ctr's default unpack
# for its platform, podman's storage, Berth's snapshots). In each of ROUNDS rounds every
# engine runs in turn, so a disturbance of the shared machine falls on all of them; medians,
# minima and maxima over the rounds are reported, with each ratio to podman and containerd.
#
# Results go to stdout and bench/results/images-<date>.md; QUICK=1 makes a smoke run with
# small sizes that writes no results file. Nothing here is a pass/fail test.
# Usage: [QUICK=1] bench/images.sh [BUILD]   (as root; installs containerd and podman if
# missing; a full run takes about 5 minutes)
set -u
BUILD=${1:-build}
if [ "${QUICK:-0}" = 1 ]; then
	ROUNDS=2 LAYERS=2 LAYER_MIB=4
else
	ROUNDS=${ROUNDS:-7} LAYERS=5 LAYER_MIB=40
fi
top=$(cd "$(dirname "$0")/.." && pwd)
source "$top/test/integration/lib.sh"
source "$top/bench/lib.sh"

bench_require containerd podman skopeo jq
it_cleanup_extra() {
	podman_stop
	containerd_stop
	return 0
}
it_setup
registry_start || exit 1
suite_start || exit 1
containerd_start || exit 1
podman_start || exit 1

# ---- the images: "small" is sh; "big" is sh + LAYERS incompressible layers + a small one
MIB=1048576
# put_blob DIR FILE: move FILE into layout DIR's blobs; prints "sha256:<hex> <size>"
put_blob() {
	local d s
	d=$(sha256sum "$2" | cut -d' ' -f1)
	s=$(stat -c %s "$2")
	mv "$2" "$1/blobs/sha256/$d"
	echo "sha256:$d $s"
}
build_big() {
	local dir=$T/big w=$T/big-work i d s
	rm -rf "$dir" "$w"
	cp -a "$IMAGES/sh" "$dir"
	mkdir -p "$w"
	local index=$dir/index.json manifest config
	manifest=$dir/blobs/sha256/$(jq -r '.manifests[0].digest | sub("sha256:"; "")' "$index")
	config=$dir/blobs/sha256/$(jq -r '.config.digest | sub("sha256:"; "")' "$manifest")
	cp "$manifest" "$w/manifest.json"
	cp "$config" "$w/config.json"
	for i in $(seq 0 "$LAYERS"); do
		rm -rf "$w/root" && mkdir -p "$w/root/big"
		if [ "$i" -lt "$LAYERS" ]; then
			head -c $((LAYER_MIB * MIB)) /dev/urandom >"$w/root/big/layer$i"
		else
			echo "the small layer" >"$w/root/big/small"
		fi
		tar -C "$w/root" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
			-cf "$w/layer.tar" big
		jq --arg d "sha256:$(sha256sum "$w/layer.tar" | cut -d' ' -f1)" \
			'.rootfs.diff_ids += [$d]' "$w/config.json" >"$w/c" && mv "$w/c" "$w/config.json"
		gzip -1 -n "$w/layer.tar"
		read -r d s <<<"$(put_blob "$dir" "$w/layer.tar.gz")"
		jq --arg d "$d" --argjson s "$s" \
			'.layers += [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": $d, "size": $s}]' \
			"$w/manifest.json" >"$w/m" && mv "$w/m" "$w/manifest.json"
	done
	read -r d s <<<"$(put_blob "$dir" "$w/config.json")"
	jq --arg d "$d" --argjson s "$s" '.config.digest = $d | .config.size = $s' \
		"$w/manifest.json" >"$w/m"
	read -r d s <<<"$(put_blob "$dir" "$w/m")"
	jq --arg d "$d" --argjson s "$s" \
		'.manifests = [.manifests[0] | .digest = $d | .size = $s | .annotations["org.opencontainers.image.ref.name"] = "v1"]' \
		"$index" >"$w/i" && mv "$w/i" "$index"
	rm -rf "$w"
}
build_big || { echo "# could not build the big image" >&2; exit 1; }
timeout 300 skopeo copy --quiet --dest-tls-verify=false "oci:$T/big:v1" \
	"docker://$REGISTRY/bench/big:v1" || exit 1
push_image sh bench/small:v1 || exit 1
big_mib=$(du -sm "$T/big/blobs" | cut -f1)

B="$BUILD/berth --address $T/state/berth.sock"
C="/usr/bin/ctr --address $cd_dir/containerd.sock -n bench"
P=$pm_cmd

# ---- one engine's commands: pull, clean (untimed), export, import
# shellcheck disable=SC2086 # $B, $C, $P are command lines
pull() { # engine image
	case $1 in
	berth) $B images pull --quiet "$REGISTRY/bench/$2:v1" ;;
	containerd) $C images pull --plain-http "$REGISTRY/bench/$2:v1" ;;
	podman) $P pull -q --tls-verify=false "$REGISTRY/bench/$2:v1" ;;
	esac >/dev/null 2>"$T/err"
}
# shellcheck disable=SC2086
clean() { # engine image
	case $1 in
	berth) $B images rm "$REGISTRY/bench/$2:v1"; $B system prune --force ;;
	containerd) $C images rm --sync "$REGISTRY/bench/$2:v1" ;;
	podman) $P rmi -f "$REGISTRY/bench/$2:v1" ;;
	esac >/dev/null 2>&1
}
# shellcheck disable=SC2086
export_image() { # engine file
	case $1 in
	berth) $B images export -o "$2" "$REGISTRY/bench/big:v1" ;;
	containerd) $C images export "$2" "$REGISTRY/bench/big:v1" ;;
	podman) $P save -q -o "$2" "$REGISTRY/bench/big:v1" ;;
	esac >/dev/null 2>"$T/err"
}
# shellcheck disable=SC2086
import_image() { # engine file
	case $1 in
	berth) $B images import "$2" ;;
	containerd) $C images import "$2" ;;
	podman) $P load -q -i "$2" ;;
	esac >/dev/null 2>"$T/err"
}

# timed CMD...: run it, print its wall time in ms (or "fail")
timed() {
	local t0 t1
	t0=$(date +%s%N)
	if "$@"; then
		t1=$(date +%s%N)
		echo $(((t1 - t0) / 1000))
	else
		echo fail
	fi
}

engines=(berth containerd podman)
declare -A series=()
add() { series[$1]="${series[$1]:-} $2"; }

berth_base=$(store_bytes)
for r in $(seq "$ROUNDS"); do
	for img in big small; do
		for e in "${engines[@]}"; do
			clean "$e" "$img"
			us=$(timed pull "$e" "$img")
			[ "$us" = fail ] && { echo "# $e: pull $img failed: $(cat "$T/err")" >&2; exit 1; }
			add "pull-$img-$e" "$us"
		done
	done
	for e in "${engines[@]}"; do
		rm -f "$T/$e.tar"
		us=$(timed export_image "$e" "$T/$e.tar")
		[ "$us" = fail ] && { echo "# $e: export failed: $(cat "$T/err")" >&2; exit 1; }
		add "export-$e" "$us"
		clean "$e" big
		us=$(timed import_image "$e" "$T/$e.tar")
		[ "$us" = fail ] && { echo "# $e: import failed: $(cat "$T/err")" >&2; exit 1; }
		add "import-$e" "$us"
	done
	echo "# round $r of $ROUNDS done" >&2
done
# The stores went back to where they were before each cold pull: check it once at the end.
clean berth big
clean berth small
berth_end=$(store_bytes)

# stat NAME: "median min max" in ms with one decimal
stat_ms() {
	tr ' ' '\n' <<<"${series[$1]}" | grep . | sort -n |
		awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
			printf "%.1f %.1f %.1f", m / 1000, v[1] / 1000, v[NR] / 1000 }'
}
row() { # label key
	local b c p
	read -r b bmin bmax <<<"$(stat_ms "$2-berth")"
	read -r c cmin cmax <<<"$(stat_ms "$2-containerd")"
	read -r p pmin pmax <<<"$(stat_ms "$2-podman")"
	printf '| %s | %s (%s–%s) | %s (%s–%s) | %s (%s–%s) | %.2f | %.2f |\n' "$1" \
		"$b" "$bmin" "$bmax" "$c" "$cmin" "$cmax" "$p" "$pmin" "$pmax" \
		"$(echo "$b / $p" | bc -l)" "$(echo "$b / $c" | bc -l)"
}

out=$top/bench/results/images-$(date -u +%Y-%m-%d).md
[ "${QUICK:-0}" = 1 ] && out=/dev/null
{
	echo "# Images: Berth vs containerd $(containerd --version | awk '{print $3}') vs podman $(podman --version | awk '{print $3}'), $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "$(bench_machine). A docker-registry on 127.0.0.1 (plain HTTP). \"big\": sh + $LAYERS layers of $LAYER_MIB MiB of random bytes + a small layer ($big_mib MiB of blobs); \"small\": sh (one layer, about 1 MB). $ROUNDS rounds, the engines in turn in each round; every pull cold (image removed and its content collected before it). Berth's stores after the last cleanup: $berth_end bytes (before the first pull: $berth_base)."
	echo
	echo "| ms: median (min–max) | Berth | containerd | podman | Berth/podman | Berth/containerd |"
	echo "|---|---|---|---|---|---|"
	row "cold pull, big" pull-big
	row "cold pull, small" pull-small
	row "export big" export
	row "import big" import
} | tee "$out"
