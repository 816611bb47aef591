# shellcheck shell=bash
# Shared by the benchmarks. Sourced after test/integration/lib.sh and before it_setup (so that
# a benchmark's it_cleanup_extra, which the EXIT trap runs, may call containerd_stop); the
# functions use $T and $IT_TOP, so call them after it_setup, bench_require aside:
#
#   bench_require PKG...   install the Debian packages that are missing
#   containerd_start       containerd on a private root under $T, without the CRI plugin;
#                          sets cd_dir and cd_pid; `ctr ARGS` then talks to it in namespace
#                          "bench" (CTR_TIMEOUT seconds per command, default 60)
#   containerd_stop        stop it and unmount what it left mounted (safe to call twice)
#   podman_start           podman on private roots under $T (cgroupfs, runc, k8s-file logs,
#                          file events, CNI configuration under $T); sets pm_dir and exports
#                          CONTAINERS_CONF; `pm ARGS` then runs it (PM_TIMEOUT s, default 60),
#                          `pm_cmd` is the same command line as a string (for hyperfine)
#   podman_stop            remove its containers and images, unmount what it left mounted,
#                          and its lock file in /dev/shm if it made it (safe to call twice)
#   bench_machine          one line: cores, memory, kernel
#   rss_kib PID, pss_kib PID   VmRSS from status, Pss from smaps_rollup, in KiB
#
# Latency series with hyperfine, over the associative arrays LAT_CMD (NAME -> a command line),
# LAT_LABEL (NAME -> its row's label) and LAT_SKIP (NAME -> why it has no figures), in ROUNDS
# rounds of PER_ROUND runs, the JSON of each under $T/lat (made by the caller):
#   lat_probe NAME         run NAME's command once; on failure say why and return 1
#   lat_series SECTION NAME...   the rounds, interleaving the NAMEs
#   lat_stats SECTION NAME       "median mean stddev min max runs", in ms
#   lat_table SECTION FLOOR NAME...   the markdown table (FLOOR: the 1.00 row, or "")

bench_require() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			apt-get install -y --no-install-recommends "$p" >/dev/null
	done
}

containerd_start() {
	cd_dir=$T/containerd
	mkdir -p "$cd_dir"
	cat >"$cd_dir/config.toml" <<TOML
version = 2
root = "$cd_dir/root"
state = "$cd_dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$cd_dir/containerd.sock"
TOML
	containerd --config "$cd_dir/config.toml" >"$T/logs/containerd.log" 2>&1 &
	cd_pid=$!
	for _ in $(seq 100); do ctr version >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "# containerd did not start; see $T/logs/containerd.log" >&2
	return 1
}

ctr() { timeout "${CTR_TIMEOUT:-60}" /usr/bin/ctr --address "$cd_dir/containerd.sock" -n bench "$@"; }

containerd_stop() {
	[ -n "${cd_pid:-}" ] || return 0
	# Every task first: a shim outlives containerd, and a container outlives its shim.
	local id
	for id in $(ctr task ls -q 2>/dev/null); do ctr task rm -f "$id" >/dev/null 2>&1; done
	for id in $(ctr containers ls -q 2>/dev/null); do ctr containers rm "$id" >/dev/null 2>&1; done
	kill "$cd_pid" 2>/dev/null && wait "$cd_pid" 2>/dev/null
	cd_pid=""
	local m
	for m in $(awk -v t="$cd_dir/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
	# runc leaves the parent cgroup named after the namespace; rmdir only takes empty ones
	rmdir /sys/fs/cgroup/*/bench 2>/dev/null
	return 0
}

podman_start() {
	pm_dir=$T/podman
	mkdir -p "$pm_dir/cni"
	[ -e /dev/shm/libpod_lock ] && pm_had_lock=1 || pm_had_lock=0
	# The development machines cap open files at 20000 and lack CAP_SYS_RESOURCE: podman's own
	# defaults (nofile 1048576, nproc at the host's maximum) fail in runc's setrlimit. Berth and
	# containerd give 1024 open files.
	cat >"$pm_dir/containers.conf" <<TOML
[containers]
log_driver = "k8s-file"
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[network]
network_config_dir = "$pm_dir/cni"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
TOML
	export CONTAINERS_CONF=$pm_dir/containers.conf
	pm_cmd="/usr/bin/podman --root $pm_dir/root --runroot $pm_dir/run --tmpdir $pm_dir/tmp --storage-driver overlay"
	pm version >/dev/null 2>&1 && return 0
	echo "# podman does not run: $(pm version 2>&1 | tail -n 1)" >&2
	return 1
}

# shellcheck disable=SC2086 # pm_cmd is a command line
pm() { timeout "${PM_TIMEOUT:-60}" $pm_cmd "$@"; }

podman_stop() {
	[ -n "${pm_dir:-}" ] || return 0
	pm rm -af -t 0 >/dev/null 2>&1
	pm rmi -af >/dev/null 2>&1
	# conmon runs `podman container cleanup` when a container exits, which may come after the
	# removals above and opens the lock file again: wait for every process that names pm_dir.
	for _ in $(seq 100); do
		pm_procs || break
		sleep 0.1
	done
	local m
	for m in $(awk -v t="$pm_dir/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
	[ "$pm_had_lock" = 0 ] && rm -f /dev/shm/libpod_lock
	# The cgroupfs parents podman made, once the exited conmons have left them (they linger as
	# zombies until init reaps them); rmdir only takes empty ones.
	for _ in $(seq 50); do
		rmdir /sys/fs/cgroup/*/libpod_parent/conmon /sys/fs/cgroup/*/libpod_parent 2>/dev/null
		compgen -G "/sys/fs/cgroup/*/libpod_parent" >/dev/null || break
		sleep 0.1
	done
	pm_dir=""
	return 0
}

# pm_procs: is a process running with pm_dir on its command line? (The pattern comes from a
# file so that grep's own command line does not hold it.)
pm_procs() {
	printf '%s/\n' "$pm_dir" >"$pm_dir.pattern"
	grep -qaFf "$pm_dir.pattern" /proc/[0-9]*/cmdline 2>/dev/null
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
pss_kib() { awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null; }

bench_machine() {
	echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
}

# lat_probe NAME: run NAME's command once; on failure say why and drop it.
lat_probe() {
	# shellcheck disable=SC2086 # a command line
	if ! timeout 60 ${LAT_CMD[$1]} >"$T/probe.out" 2>&1; then
		echo "# ${LAT_LABEL[$1]}: skipped, it fails: $(tail -n 1 "$T/probe.out")" >&2
		return 1
	fi
}

# lat_series SECTION NAME...: ROUNDS rounds, each running PER_ROUND runs of every NAME's
# command in turn (3 warm-up runs each in the first round).
lat_series() {
	local section=$1 r name warm
	shift
	for r in $(seq "$ROUNDS"); do
		warm=0
		[ "$r" = 1 ] && warm=3
		for name in "$@"; do
			hyperfine -N --style none --warmup "$warm" --runs "$PER_ROUND" \
				--export-json "$T/lat/$section-$name-$r.json" "${LAT_CMD[$name]}" \
				>/dev/null 2>>"$T/hyperfine.err" || echo "# hyperfine failed on ${LAT_LABEL[$name]}" >&2
		done
	done
}

# lat_stats SECTION NAME: "median mean stddev min max runs", in ms.
lat_stats() {
	cat "$T/lat/$1-$2"-*.json 2>/dev/null | jq -s -r '
		[.[].results[0].times[] * 1000] | sort | length as $n
		| if $n == 0 then "- - - - - 0" else
		(add / $n) as $m
		| [(if $n % 2 == 1 then .[($n - 1) / 2] else (.[$n / 2 - 1] + .[$n / 2]) / 2 end), $m,
		   (if $n > 1 then (map((. - $m) * (. - $m)) | add) / ($n - 1) | sqrt else 0 end),
		   .[0], .[-1]]
		| map(. * 10 | round / 10) + [$n] | map(tostring) | join(" ") end'
}

# lat_table SECTION FLOOR NAME...: the markdown table; FLOOR (a NAME or "") is the 1.00 row.
lat_table() {
	local section=$1 floor=$2 name med mean sd min max n fmed=""
	shift 2
	[ -n "$floor" ] && read -r fmed _ <<<"$(lat_stats "$section" "$floor")"
	echo "| command | median [ms] | mean ± σ [ms] | min [ms] | max [ms] | runs |${floor:+ × ${LAT_LABEL[$floor]} |}"
	echo "|:---|---:|---:|---:|---:|---:|${floor:+---:|}"
	for name in "$@"; do
		if [ -z "${LAT_CMD[$name]:-}" ]; then
			echo "| ${LAT_LABEL[$name]} | skipped: ${LAT_SKIP[$name]} | | | | |${floor:+ |}"
			continue
		fi
		read -r med mean sd min max n <<<"$(lat_stats "$section" "$name")"
		echo -n "| ${LAT_LABEL[$name]} | $med | $mean ± $sd | $min | $max | $n |"
		[ -n "$floor" ] && echo -n " $(awk -v a="$med" -v b="$fmed" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "-" }') |"
		echo
	done
}
