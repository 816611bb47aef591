#!/usr/bin/env bash
# Containers, Berth against containerd (Debian's package, driven with ctr) and podman (Debian's
# package: conmon, runc) on the same machine in the same run, on the same image (test/images'
# "sh", busybox-static, imported into each engine from the same OCI archive), every engine with
# runc and a fresh network namespace holding only loopback (Berth with `--net none`, since its
# default is a bridge network; bench/network.sh measures that):
#
#   1. latency of `run --rm IMAGE true`, with bare `runc run` of the same root directory (no
#      snapshot, no engine) as the floor;
#   2. latency of `exec CONTAINER true` into a running container;
#   3. throughput of a container's output: it writes SIZE MiB of 1 KiB lines to stdout, timed
#      from the run command until the follower has read the last byte (`logs -f` after
#      `run -d` for Berth and podman; `run` attached for all three, ctr's only way);
#   4. throughput of `exec -i CONTAINER cat`: SIZE MiB piped in and read back out;
#   5. VmRSS and Pss (smaps_rollup) of the per-container monitor (berth-shim,
#      containerd-shim-runc-v2, conmon): with an idle container, with a terminal, and at its
#      peak while the container writes FLOW MiB into the engine's log as fast as it can.
#
# Latencies are measured with hyperfine in ROUNDS rounds; in each round every engine runs its
# series in turn, so a disturbance from the shared machine falls on all of them, and the median
# over all runs is reported. Throughputs are measured with /usr/bin/time, TP_ROUNDS rounds
# interleaved the same way, medians reported. `berth exec` and `berth run -t` are detected:
# where they are missing their rows say "skipped".
#
# Results go to stdout and bench/results/containers-<date>.md; QUICK=1 makes a smoke run with
# small sizes that writes no results file. Nothing here is a pass/fail test.
# Usage: [QUICK=1] bench/containers.sh [BUILD]   (as root; installs hyperfine, containerd and
# podman if missing; a full run takes 3 to 5 minutes)
# shellcheck disable=SC2016 # backquotes in single quotes are markdown, not commands
set -u
BUILD=${1:-build}
if [ "${QUICK:-0}" = 1 ]; then
	ROUNDS=2 PER_ROUND=3 TP_ROUNDS=1 SIZE_MIB=16 FLOW_MIB=16
else
	ROUNDS=10 PER_ROUND=3 TP_ROUNDS=3 SIZE_MIB=1024 FLOW_MIB=256
fi
TP_TIMEOUT=${TP_TIMEOUT:-120} # seconds for one transfer
top=$(cd "$(dirname "$0")/.." && pwd)
source "$top/test/integration/lib.sh"
source "$top/bench/lib.sh"

bench_require hyperfine containerd podman time bsdutils
it_cleanup_extra() {
	podman_stop
	containerd_stop
	# a floor run cut short (its cgroup goes with it)
	[ -d "$T/runc/state/bench-floor" ] && runc --root "$T/runc/state" delete -f bench-floor >/dev/null 2>&1
	return 0
}
it_setup
# The log window must hold a whole transfer, or a follower that falls behind the cap would
# skip what rotation dropped (podman's k8s-file and ctr's attached copy keep everything).
IT_CONFIG='"taskd": {"log_max_size": 1073741824, "log_max_files": 2}'
suite_start || exit 1
containerd_start || exit 1
podman_start || exit 1

IMG=bench/sh:v1
b images import "$IMAGES/sh.tar" --name "$IMG" >/dev/null || exit 1
ctr images import --base-name bench/sh "$IMAGES/sh.tar" >/dev/null || exit 1
pm load -q -i "$IMAGES/sh.tar" >"$T/pm-load" 2>&1 || { cat "$T/pm-load"; exit 1; }
loaded=$(sed -n 's/^Loaded image: //p' "$T/pm-load" | head -n 1)
pm tag "$loaded" "localhost/$IMG" && pm untag "$loaded" "$loaded" || exit 1

# The floor: runc alone on the image's root directory, unpacked once.
bundle=$T/runc/bundle
mkdir -p "$bundle/rootfs" "$T/runc/state"
manifest=$(jq -r '.manifests[0].digest | sub("sha256:"; "")' "$IMAGES/sh/index.json")
for l in $(jq -r '.layers[].digest | sub("sha256:"; "")' "$IMAGES/sh/blobs/sha256/$manifest"); do
	tar -xzf "$IMAGES/sh/blobs/sha256/$l" -C "$bundle/rootfs"
done
(cd "$bundle" && runc spec)
jq '.process.terminal = false | .process.args = ["true"]' "$bundle/config.json" >"$bundle/c.json" &&
	mv "$bundle/c.json" "$bundle/config.json"

B="$BUILD/berth --address $T/state/berth.sock"
C="/usr/bin/ctr --address $cd_dir/containerd.sock -n bench"
P=$pm_cmd
MIB=1048576

# A container's writer: 1 KiB lines (1023 x and a newline) built into a 1 MiB file, then that
# file written N times (busybox's `yes | head` alone makes ~120 MB/s, below what is measured).
writer() {
	printf '%s\n' 'busybox yes "$(busybox head -c 1023 /dev/zero | busybox tr "\0" x)" | busybox head -c 1048576 >/tmp/chunk && n=0 && while [ $n -lt '"$1"' ]; do cat /tmp/chunk; n=$((n + 1)); done'
}

out=$T/containers.md
{
	echo "# Containers: Berth vs containerd $(containerd --version | awk '{print $3}') vs podman $(podman --version | awk '{print $3}'), $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "$(bench_machine), runc $(runc --version | awk 'NR==1 {print $3}'), conmon $(conmon --version | awk 'NR==1 {print $3}'), all engines on runc."
	echo "Two cores shared with other work: figures are medians of rounds that interleave the engines."
	[ "${QUICK:-0}" = 1 ] && echo "QUICK=1 smoke run: small sizes, not figures to quote."
} | tee "$out"

# --- latency (hyperfine) -------------------------------------------------------------------

# shellcheck disable=SC2034 # read by the lat_* functions of bench/lib.sh
declare -A LAT_CMD=() LAT_LABEL=() LAT_SKIP=()
mkdir -p "$T/lat"

# 1. run --rm IMAGE true
LAT_CMD=(
	[berth]="$B run --rm --net none $IMG true"
	[ctr]="$C run --rm $IMG bench-true true"
	[podman]="$P run --rm --network none localhost/$IMG true"
	[runc]="runc --root $T/runc/state run --bundle $bundle bench-floor"
)
LAT_LABEL=(
	[berth]='`berth run --rm`'
	[ctr]='`ctr run --rm`'
	[podman]='`podman run --rm`'
	[runc]='`runc run` (floor)'
)
names=()
for n in berth ctr podman runc; do
	if lat_probe "$n"; then names+=("$n"); else LAT_SKIP[$n]="fails"; unset "LAT_CMD[$n]"; fi
done
lat_series run "${names[@]}"
{
	echo
	echo "## 1. Start latency: run --rm IMAGE true ($((ROUNDS * PER_ROUND)) runs each, $ROUNDS interleaved rounds)"
	echo
	lat_table run runc berth ctr podman runc
} | tee -a "$out"

# --- the per-container monitors (section 5) -----------------------------------------------

# monitor ENGINE ID: the pid of the process that supervises container ID.
monitor() {
	case $1 in
	berth) pgrep -f "berth-shim .*$2( |\$)" | head -n 1 ;;
	ctr) pgrep -f "containerd-shim-runc-v2 -namespace bench -id $2 " | head -n 1 ;;
	podman) pgrep -f "^/usr/bin/conmon .* -n $2 " | head -n 1 ;;
	esac
}
wait_monitor() { # ENGINE ID
	local pid
	for _ in $(seq 50); do
		pid=$(monitor "$1" "$2")
		[ -n "$pid" ] && { echo "$pid"; return 0; }
		sleep 0.1
	done
	return 1
}
# mem_of PID: "VmRSS Pss" now, or "- -".
mem_of() {
	if [ -n "$1" ] && [ -e "/proc/$1" ]; then echo "$(rss_kib "$1") $(pss_kib "$1")"; else echo "- -"; fi
}
mem_row() { # LABEL "RSS PSS"
	local rss pss
	read -r rss pss <<<"$2"
	echo "| $1 | $rss | $pss |"
}

# The containers that exec goes into (and the idle monitors of section 5).
b run -d --net none --name bench-idle "$IMG" sleep 3600 >/dev/null || exit 1
ctr run -d "$IMG" bench-idle sleep 3600 >/dev/null || exit 1
pm run -d --name bench-idle --network none "localhost/$IMG" sleep 3600 >/dev/null || exit 1
# Their monitors idle, before any exec went through them.
declare -A MEM=()
sleep 1
for e in berth ctr podman; do MEM[$e-idle]=$(mem_of "$(wait_monitor "$e" bench-idle)"); done

berth_exec=0
# shellcheck disable=SC2086 # a command line
if [ "$(timeout 20 $B exec bench-idle echo ok 2>/dev/null)" = ok ]; then
	berth_exec=1
else
	echo "skipped: berth exec not available"
fi

# 2. exec CONTAINER true
LAT_CMD=(
	[berth]="$B exec bench-idle true"
	[ctr]="$C task exec --exec-id bench-exec bench-idle true"
	[podman]="$P exec bench-idle true"
)
LAT_LABEL=(
	[berth]='`berth exec`'
	[ctr]='`ctr task exec`'
	[podman]='`podman exec`'
)
LAT_SKIP=()
names=()
for n in berth ctr podman; do
	if [ "$n" = berth ] && [ $berth_exec = 0 ]; then
		LAT_SKIP[$n]="berth exec not available"
		unset "LAT_CMD[$n]"
	elif lat_probe "$n"; then
		names+=("$n")
	else
		LAT_SKIP[$n]="fails"
		unset "LAT_CMD[$n]"
	fi
done
lat_series exec "${names[@]}"
{
	echo
	echo "## 2. Exec latency: exec CONTAINER true into a running container ($((ROUNDS * PER_ROUND)) runs each, $ROUNDS interleaved rounds)"
	echo
	lat_table exec "" berth ctr podman
} | tee -a "$out"

# --- throughput (/usr/bin/time) --------------------------------------------------------------

declare -A TP_LABEL=() TP_SKIP=()
declare -A TP_RES=() # NAME -> lines "MiB/s wall_s cpu_s maxrss_kib" or "failed: why"
mkdir -p "$T/tp"

# tp_define NAME LABEL BODY [CLEANUP]: BODY is a bash script whose stdout is what the follower
# read (the round number is $1 in it); CLEANUP is run (with the round as $1) after each round.
tp_define() {
	printf 'set -o pipefail\n%s\n' "$3" >"$T/tp/$1.sh"
	printf '%s\n' "${4:-:}" >"$T/tp/$1.clean.sh"
	TP_LABEL[$1]=$2
	TP_RES[$1]=""
}

# tp_round NAME ROUND: one timed transfer of SIZE_MIB MiB.
tp_round() {
	local name=$1 r=$2 t0 t1 bytes rc why want=$((SIZE_MIB * MIB))
	t0=$(date +%s%N)
	/usr/bin/time -f '%U %S %M' -o "$T/tp.time" timeout "$TP_TIMEOUT" bash "$T/tp/$name.sh" "$r" \
		2>"$T/tp.err" | wc -c >"$T/tp.bytes"
	rc=${PIPESTATUS[0]}
	t1=$(date +%s%N)
	bytes=$(cat "$T/tp.bytes")
	bash "$T/tp/$name.clean.sh" "$r" >/dev/null 2>&1
	if [ "$bytes" != "$want" ]; then
		why=$(grep -v '^Command' "$T/tp.err" | tail -n 1)
		TP_RES[$name]+="failed: exit $rc, $bytes of $want bytes read${why:+ ($why)}"$'\n'
		return
	fi
	TP_RES[$name]+="$(awk -v ns=$((t1 - t0)) -v mib="$SIZE_MIB" '
		NR == 1 { s = ns / 1e9; printf "%.0f %.2f %.2f %d", mib / s, s, $1 + $2, $3 }' "$T/tp.time")"$'\n'
}

# tp_series NAME...: TP_ROUNDS rounds, each one transfer per NAME in turn.
tp_series() {
	local r name
	for r in $(seq "$TP_ROUNDS"); do
		for name in "$@"; do tp_round "$name" "$r"; done
	done
}

# tp_table WHAT NAME...: median MiB/s (and the run it came from), the figures of each round;
# WHAT heads the first column.
tp_table() {
	local what=$1 name nfail
	shift
	echo "| $what | median [MiB/s] | wall [s] | client CPU [s] | client max RSS [KiB] | all rounds [MiB/s] |"
	echo "|:---|---:|---:|---:|---:|:---|"
	for name in "$@"; do
		if [ -n "${TP_SKIP[$name]:-}" ]; then
			echo "| ${TP_LABEL[$name]} | skipped: ${TP_SKIP[$name]} | | | | |"
			continue
		fi
		nfail=$(grep -c '^failed' <<<"${TP_RES[$name]}")
		if ! grep -q '^[0-9]' <<<"${TP_RES[$name]}"; then
			echo "| ${TP_LABEL[$name]} | $(grep -m1 '^failed' <<<"${TP_RES[$name]}")${nfail:+ (all $nfail rounds)} | | | | |"
			continue
		fi
		# the median round by MiB/s (the lower middle one for an even count)
		grep '^[0-9]' <<<"${TP_RES[$name]}" | sort -n | awk -v label="${TP_LABEL[$name]}" -v nfail="$nfail" '
			{ row[NR] = $0; all = all (NR > 1 ? ", " : "") $1 }
			END { split(row[int((NR + 1) / 2)], m, " ")
			      if (nfail > 0) all = all "; " nfail " round(s) failed"
			      printf "| %s | %s | %s | %s | %s | %s |\n", label, m[1], m[2], m[3], m[4], all }'
	done
}

W=$(writer "$SIZE_MIB")
# 3. a container's output, followed
tp_define berth-logs '`berth run -d` + `berth logs -f`' "
W='$W'
$B run -d --net none --name bench-logs-\$1 $IMG sh -c \"\$W\" >/dev/null && $B logs -f bench-logs-\$1" \
	"$B rm -f bench-logs-\$1"
tp_define berth-run '`berth run` (attached)' "
W='$W'
$B run --rm --net none $IMG sh -c \"\$W\""
tp_define ctr-run '`ctr run` (attached)' "
W='$W'
$C run --rm $IMG bench-out-\$1 sh -c \"\$W\""
tp_define podman-logs '`podman run -d` + `podman logs -f`' "
W='$W'
$P run -d --name bench-logs-\$1 --network none localhost/$IMG sh -c \"\$W\" >/dev/null && $P logs -f bench-logs-\$1" \
	"$P logs bench-logs-\$1 | wc -c >$T/tp/podman-logs.again.\$1; $P rm -f -t 0 bench-logs-\$1"
tp_define podman-run '`podman run` (attached)' "
W='$W'
$P run --rm --network none localhost/$IMG sh -c \"\$W\""
tp_series berth-logs berth-run ctr-run podman-logs podman-run
{
	echo
	echo "## 3. Output throughput: a container writes $SIZE_MIB MiB of 1 KiB lines to stdout ($TP_ROUNDS interleaved rounds)"
	echo
	echo "From the run command until the follower has read the last byte (container start included)."
	echo "Client CPU and RSS: the commands on the host side of the pipe (CLI, follower, wc), not the engines."
	echo
	tp_table follower berth-logs berth-run ctr-run podman-logs podman-run
	if grep -q '^failed: exit 0' <<<"${TP_RES[podman-logs]}"; then
		echo
		echo "\`podman logs -f\` ended early with exit 0: podman stops following a k8s-file log once the"
		echo "container has exited, before it has caught up (podman issue 21914). \`podman logs\` without -f"
		echo "afterwards printed $(cat "$T"/tp/podman-logs.again.* | paste -sd, | sed 's/,/, /g') bytes (one figure a round)."
	fi
} | tee -a "$out"

# 4. exec -i CONTAINER cat
tp_define berth-exec '`berth exec -i CONTAINER cat`' "
head -c $((SIZE_MIB * MIB)) /dev/zero | $B exec -i bench-idle cat"
tp_define ctr-exec '`ctr task exec CONTAINER cat`' "
head -c $((SIZE_MIB * MIB)) /dev/zero | $C task exec --exec-id bench-cat-\$1 bench-idle cat"
tp_define podman-exec '`podman exec -i CONTAINER cat`' "
head -c $((SIZE_MIB * MIB)) /dev/zero | $P exec -i bench-idle cat"
ex=(ctr-exec podman-exec)
# shellcheck disable=SC2086 # a command line
if [ $berth_exec = 1 ] && [ "$(echo ok | timeout 20 $B exec -i bench-idle cat 2>/dev/null)" = ok ]; then
	ex=(berth-exec "${ex[@]}")
else
	TP_SKIP[berth-exec]="berth exec -i not available"
	echo "skipped: berth exec -i not available"
fi
tp_series "${ex[@]}"
{
	echo
	echo "## 4. Exec stdin and stdout: $SIZE_MIB MiB piped through exec -i CONTAINER cat ($TP_ROUNDS interleaved rounds)"
	echo
	tp_table command berth-exec ctr-exec podman-exec
} | tee -a "$out"

# --- memory of the monitors -------------------------------------------------------------------

# With a terminal: the monitor holds the pty's master.
berth_tty=0
# (under script(1) too, should it want a terminal of its own as ctr does)
if { $B run -d -t --net none --name bench-tty "$IMG" sleep 3600 >/dev/null 2>&1 ||
	{ b rm -f bench-tty >/dev/null 2>&1 &&
		script -qec "$B run -d -t --net none --name bench-tty $IMG sleep 3600" /dev/null </dev/null >/dev/null; }; } &&
	[ "$(b inspect bench-tty | jq '.[0].spec.process.terminal')" = true ]; then
	berth_tty=1
	mon_berth_tty=$(wait_monitor berth bench-tty)
else
	b rm -f bench-tty >/dev/null 2>&1
	echo "skipped: berth run -t not available"
fi
# ctr insists on a terminal of its own for --tty, even detached
script -qec "$C run -d --tty $IMG bench-tty sleep 3600" /dev/null </dev/null >/dev/null
mon_ctr_tty=$(wait_monitor ctr bench-tty)
pm run -d -t --name bench-tty --network none "localhost/$IMG" sleep 3600 >/dev/null
mon_podman_tty=$(wait_monitor podman bench-tty)
sleep 1
[ $berth_tty = 1 ] && MEM[berth-tty]=$(mem_of "$mon_berth_tty")
MEM[ctr-tty]=$(mem_of "$mon_ctr_tty")
MEM[podman-tty]=$(mem_of "$mon_podman_tty")

# flow ENGINE: start a container that writes FLOW_MIB MiB into the engine's log; sample its
# monitor every 0.1 s while the container runs; prints "max_rss max_pss seconds".
flow() {
	local e=$1 w mon rss pss mr=0 mp=0 t0 t1
	w=$(writer "$FLOW_MIB")
	t0=$(date +%s%N)
	case $e in
	berth) b run -d --net none --name bench-flow "$IMG" sh -c "$w" >/dev/null ;;
	ctr) ctr run -d --log-uri "file://$T/ctr-flow.log" "$IMG" bench-flow sh -c "$w" >/dev/null ;;
	podman) pm run -d --name bench-flow --network none "localhost/$IMG" sh -c "$w" >/dev/null ;;
	esac
	mon=$(wait_monitor "$e" bench-flow) || { echo "- - -"; return; }
	for _ in $(seq 1200); do
		pgrep -P "$mon" >/dev/null || break
		rss=$(rss_kib "$mon") pss=$(pss_kib "$mon")
		[ "${rss:-0}" -gt "$mr" ] && mr=$rss
		[ "${pss:-0}" -gt "$mp" ] && mp=$pss
		sleep 0.1
	done
	t1=$(date +%s%N)
	echo "$mr $mp $(awk -v ns=$((t1 - t0)) 'BEGIN { printf "%.1f", ns / 1e9 }')"
}
read -r b_fr b_fp b_fs <<<"$(flow berth)"
read -r c_fr c_fp c_fs <<<"$(flow ctr)"
read -r p_fr p_fp p_fs <<<"$(flow podman)"

{
	echo
	echo "## 5. Memory of the per-container monitor"
	echo
	echo "VmRSS and Pss in KiB. Logs flowing: the peak of samples every 0.1 s while the container writes $FLOW_MIB MiB"
	echo "to stdout, into the engine's log file (Berth's CRI log, ctr run --log-uri file://, podman's k8s-file)."
	echo "Pss divides a page among the processes that map it, so it falls as monitors of one engine run"
	echo "side by side: each engine had one running when its idle one was measured, two for the terminal,"
	echo "three while logs flowed$([ $berth_tty = 1 ] || echo " (Berth two, having no terminal container)")."
	echo
	echo "| monitor | VmRSS [KiB] | Pss [KiB] |"
	echo "|:---|---:|---:|"
	mem_row "berth-shim, idle container" "${MEM[berth-idle]}"
	if [ $berth_tty = 1 ]; then
		mem_row "berth-shim, container with a terminal" "${MEM[berth-tty]}"
	else
		echo "| berth-shim, container with a terminal | skipped: berth run -t not available | |"
	fi
	echo "| berth-shim, logs flowing (peak, ${b_fs} s) | $b_fr | $b_fp |"
	mem_row "containerd-shim-runc-v2, idle container" "${MEM[ctr-idle]}"
	mem_row "containerd-shim-runc-v2, container with a terminal" "${MEM[ctr-tty]}"
	echo "| containerd-shim-runc-v2, logs flowing (peak, ${c_fs} s) | $c_fr | $c_fp |"
	mem_row "conmon, idle container" "${MEM[podman-idle]}"
	mem_row "conmon, container with a terminal" "${MEM[podman-tty]}"
	echo "| conmon, logs flowing (peak, ${p_fs} s) | $p_fr | $p_fp |"
} | tee -a "$out"

# --- cleanup: every container of every engine; the engines and mounts go in it_cleanup ------
for id in bench-idle bench-tty bench-flow; do
	b rm -f "$id" >/dev/null 2>&1
	ctr task rm -f "$id" >/dev/null 2>&1
	ctr containers rm "$id" >/dev/null 2>&1
done
ctr images rm "$IMG" >/dev/null 2>&1
podman_stop
containerd_stop

if [ "${QUICK:-0}" != 1 ]; then
	dest=$top/bench/results/containers-$(date -u +%Y-%m-%d).md
	mkdir -p "$(dirname "$dest")"
	cp "$out" "$dest"
	echo
	echo "written to $dest"
fi
