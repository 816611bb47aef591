#!/usr/bin/env bash
# Container networks, Berth against podman (Debian's package: CNI, with the same plugins netd
# drives) on the same machine in the same run, on the same image (test/images' "sh",
# busybox-static, imported into both from the same OCI archive), both on runc:
#
#   1. latency of `run --rm IMAGE true` on each engine's default bridge network (Berth's
#      default network; podman's "podman", `--network podman`), with `--net none` of each
#      beside it: what a bridge network adds to a start and a removal;
#   2. BURST containers started at once, each `run -d IMAGE sleep` on one network (Berth: a
#      network the bench creates; podman: "podman"), timed from the first command until every
#      one has returned, then the removal of all of them with one `rm -f`.
#
# Latencies are measured with hyperfine in ROUNDS rounds of PER_ROUND runs, every command in
# turn in each round, and the median over all runs is reported (as bench/containers.sh). The
# bursts are timed with /usr/bin/time, BURST_ROUNDS rounds interleaving the engines, medians
# reported with the containers that were running after each burst.
#
# Results go to stdout and bench/results/network-<date>.md; QUICK=1 makes a smoke run with
# fewer rounds that writes no results file. Nothing here is a pass/fail test.
# Usage: [QUICK=1] bench/network.sh [BUILD]   (as root; installs hyperfine and podman if
# missing; a full run takes about 3 minutes)
# shellcheck disable=SC2016 # backquotes in single quotes are markdown, not commands
set -u
BUILD=${1:-build}
BURST=${BURST:-20}
if [ "${QUICK:-0}" = 1 ]; then
	ROUNDS=2 PER_ROUND=3 BURST_ROUNDS=1
else
	ROUNDS=10 PER_ROUND=3 BURST_ROUNDS=5
fi
top=$(cd "$(dirname "$0")/.." && pwd)
source "$top/test/integration/lib.sh"
source "$top/bench/lib.sh"

bench_require hyperfine podman time containernetworking-plugins
# podman's default network's bridge: removed at the end if this run made it and nothing is
# on it any more (a podman of someone else's may use it meanwhile).
PM_BRIDGE=cni-podman0
pm_bridge_had=0
ip link show "$PM_BRIDGE" >/dev/null 2>&1 && pm_bridge_had=1
it_cleanup_extra() {
	podman_stop
	if [ $pm_bridge_had = 0 ] && ip link show "$PM_BRIDGE" >/dev/null 2>&1 &&
		[ -z "$(ip -o link show master "$PM_BRIDGE")" ]; then
		ip link del "$PM_BRIDGE"
	fi
	# Berth's bridges (netd removes them with their networks; this is for a run cut short)
	local br
	for br in $(ip -o link show type bridge | awk -F': ' '{ print $2 }' | grep -xE "bb$$[dx][0-9]*"); do
		ip link del "$br"
	done
	return 0
}
it_setup
# Names and ranges of this run, so that runs side by side do not meet.
read -r OA OP <<<"$(unused_10_octets 2 | tr '\n' ' ')"
[ -n "$OP" ] || { echo "# no free 10.X.0.0/16 for the networks" >&2; exit 1; }
IT_NETD="\"network\": \"bb$$\", \"default_bridge\": \"bb${$}d\",
  \"default_subnet\": \"10.$OA.0.0/16\", \"subnet_pool\": \"10.$OP.0.0/16\",
  \"bridge_prefix\": \"bb${$}x\""
suite_start || exit 1
podman_start || exit 1

IMG=bench/sh:v1
b images import "$IMAGES/sh.tar" --name "$IMG" >/dev/null || exit 1
pm load -q -i "$IMAGES/sh.tar" >"$T/pm-load" 2>&1 || { cat "$T/pm-load"; exit 1; }
loaded=$(sed -n 's/^Loaded image: //p' "$T/pm-load" | head -n 1)
pm tag "$loaded" "localhost/$IMG" && pm untag "$loaded" "$loaded" || exit 1

B="$BUILD/berth --address $T/state/berth.sock"
P=$pm_cmd
NET=bb$$-burst

out=$T/network.md
{
	echo "# Networks: Berth vs podman $(podman --version | awk '{print $3}'), $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "$(bench_machine), runc $(runc --version | awk 'NR==1 {print $3}'), containernetworking-plugins $(dpkg-query -W -f='${Version}' containernetworking-plugins), both engines on runc."
	echo "Two cores shared with other work: figures are medians of rounds that interleave the engines."
	[ "${QUICK:-0}" = 1 ] && echo "QUICK=1 smoke run: few rounds, not figures to quote."
} | tee "$out"

# --- 1. run --rm IMAGE true, bridge and none ----------------------------------------------------
# shellcheck disable=SC2034 # read by the lat_* functions of bench/lib.sh
declare -A LAT_CMD=(
	[berth]="$B run --rm $IMG true"
	[podman]="$P run --rm --network podman localhost/$IMG true"
	[berthnone]="$B run --rm --net none $IMG true"
	[podmannone]="$P run --rm --network none localhost/$IMG true"
) LAT_LABEL=(
	[berth]='`berth run --rm` (default network)'
	[podman]='`podman run --rm --network podman`'
	[berthnone]='`berth run --rm --net none`'
	[podmannone]='`podman run --rm --network none`'
) LAT_SKIP=()
mkdir -p "$T/lat"
names=()
# (no name is the start of another: lat_stats globs SECTION-NAME-*)
for n in berth podman berthnone podmannone; do
	if lat_probe "$n"; then names+=("$n"); else LAT_SKIP[$n]="fails"; unset "LAT_CMD[$n]"; fi
done
lat_series run "${names[@]}"
# net_cost ENGINE: the median on the bridge network less the median with none, in ms.
net_cost() {
	local a b
	read -r a _ <<<"$(lat_stats run "$1")"
	read -r b _ <<<"$(lat_stats run "${1}none")"
	awk -v a="$a" -v b="$b" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.1f ms", a - b; else print "-" }'
}
{
	echo
	echo "## 1. Start latency on the default network: run --rm IMAGE true ($((ROUNDS * PER_ROUND)) runs each, $ROUNDS interleaved rounds)"
	echo
	lat_table run berthnone berth podman berthnone podmannone
	echo
	echo "The bridge network adds $(net_cost berth) to a Berth run and $(net_cost podman) to a podman run (medians)."
} | tee -a "$out"

# --- 2. BURST concurrent starts on one network, then their removal ------------------------------
b network create "$NET" >/dev/null 2>"$T/net.err" || echo "# berth network create: $(tail -n 1 "$T/net.err")" >&2
declare -A BURST_RES=() # ENGINE -> lines "start_s rm_s running"

# burst ENGINE ROUND: BURST `run -d` at once, then one `rm -f` of them all.
burst() {
	local e=$1 r=$2 cli net kill ids=() i running start rm
	case $e in
	berth) cli=$B net="--net $NET" kill="" ;;
	podman) cli=$P net="--network podman" kill="-t 0" ;; # as berth rm -f: no stop timeout
	esac
	for i in $(seq "$BURST"); do ids+=("bb-$r-$i"); done
	# shellcheck disable=SC2016 # $c and $n are the inner script's
	/usr/bin/time -f %e -o "$T/burst.time" bash -c '
		c=$1 n=$2 img=$3
		shift 3
		for id in "$@"; do
			$c run -d --name "$id" $n "$img" sleep 600 >/dev/null 2>>"'"$T"'/burst.err" &
		done
		wait' burst "$cli" "$net" "$([ "$e" = podman ] && echo "localhost/$IMG" || echo "$IMG")" "${ids[@]}"
	start=$(tail -n 1 "$T/burst.time")
	case $e in
	berth) running=$(b ps -q | grep -c '^bb-') ;;
	podman) running=$(pm ps -q --filter name=bb- | wc -l) ;;
	esac
	# shellcheck disable=SC2086 # a command line
	/usr/bin/time -f %e -o "$T/burst.time" timeout 300 $cli rm -f $kill "${ids[@]}" >/dev/null 2>>"$T/burst.err"
	rm=$(tail -n 1 "$T/burst.time")
	BURST_RES[$e]+="$start $rm $running"$'\n'
}
for r in $(seq "$BURST_ROUNDS"); do
	burst berth "$r"
	burst podman "$r"
done
# burst_row LABEL ENGINE: medians of the starts and removals, each round's figures.
burst_row() {
	grep . <<<"${BURST_RES[$2]}" | awk -v label="$1" -v n="$BURST" '
		{ s[NR] = $1; d[NR] = $2; run = run (NR > 1 ? ", " : "") $3; all = all (NR > 1 ? ", " : "") $1 }
		END {
			m = asort_median(s, NR); k = asort_median(d, NR)
			printf "| %s | %.2f | %.0f | %.2f | %s | %s |\n", label, m, m * 1000 / n, k, run, all
		}
		function asort_median(a, len,   i, j, t) {
			for (i = 2; i <= len; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
			return len % 2 ? a[(len + 1) / 2] : (a[len / 2] + a[len / 2 + 1]) / 2
		}'
}
{
	echo
	echo "## 2. $BURST containers started at once on one network, then removed ($BURST_ROUNDS interleaved rounds)"
	echo
	echo "Start: from the first \`run -d\` until all $BURST have returned. Removal: one \`rm -f\` of the $BURST (podman: \`rm -f -t 0\`, killed at once as Berth does)."
	echo
	echo "| engine | start all [s] | per container [ms] | rm -f all [s] | running after each burst | start, each round [s] |"
	echo "|:---|---:|---:|---:|:---|:---|"
	burst_row "Berth, \`--net $NET\` (a /24 of the pool)" berth
	burst_row 'podman, `--network podman`' podman
	if [ -s "$T/burst.err" ]; then
		echo
		echo "Failures ($(grep -c . "$T/burst.err") lines), the first: $(head -n 1 "$T/burst.err")"
	fi
} | tee -a "$out"

# --- cleanup: the engines and mounts go in it_cleanup -------------------------------------------
for id in $(b ps -a -q | grep '^bb-'); do b rm -f "$id" >/dev/null 2>&1; done
b network rm "$NET" >/dev/null 2>&1
b network rm "bb$$" >/dev/null 2>&1
podman_stop

if [ "${QUICK:-0}" != 1 ]; then
	dest=$top/bench/results/network-$(date -u +%Y-%m-%d).md
	mkdir -p "$(dirname "$dest")"
	cp "$out" "$dest"
	echo
	echo "written to $dest"
fi
