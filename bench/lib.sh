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
#   bench_machine          one line: cores, memory, kernel

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
	kill "$cd_pid" 2>/dev/null && wait "$cd_pid" 2>/dev/null
	cd_pid=""
	local m
	for m in $(awk -v t="$cd_dir/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
}

bench_machine() {
	echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
}
