# Shared by the integration suites (sourced, not run). Each suite runs real daemons on a
# private temp root T, a real docker-registry on 127.0.0.1, and talks to the suite only
# through the real `berth` CLI. Every wait is bounded; it_cleanup (an EXIT trap) stops every
# process the suite started by PID, unmounts what is left under T and removes T.
#
#   BUILD=${1:-build}; source test/integration/lib.sh
#   it_setup                # T, images, trap
#   registry_start; push_image sh v1
#   suite_start             # all six daemons, waits until every component is healthy
#   check "name" cmd...     # ok/not ok line; expect_* helpers below
#   it_skip "name" "reason" # a check this host cannot run
#   it_summary              # "N passed, N failed[, N skipped]"; exit status
#
# A suite that holds resources of its own (network namespaces, a registry it started itself)
# defines it_cleanup_extra, which it_cleanup calls once the suite's daemons have stopped.
# IT_KEEP_LOGS=DIR keeps a copy of the daemons' logs there (a sanitizer's report, say).

IT_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$(cd "$IT_TOP" && cd "${BUILD:-build}" && pwd)
IT_PASS=0
IT_FAIL=0
IT_SKIP=0
IT_N=0
declare -A IT_PIDS=()
IT_REGISTRY_PID=""
IT_NETREG_PID=""
IT_DAEMONS=(contentd snapshotd netd imaged taskd gatewayd)

it_log() { printf '# %s\n' "$*"; }

it_setup() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "# needs root (mounts, namespaces, runc)"
		echo "0 passed, 1 failed"
		exit 1
	fi
	T=$(mktemp -d /tmp/berth-it.XXXXXX)
	chmod 0711 "$T" # the front door must be reachable by the unprivileged uid some tests use
	mkdir -p "$T/logs"
	trap it_cleanup EXIT
	trap 'exit 143' TERM INT # an interrupted run cleans up too
	IMAGES=$T/images
	bash "$IT_TOP/test/images/build.sh" "$IMAGES" >/dev/null
}

# b ARGS...: the CLI against the suite's front door.
b() { timeout 60 "$BUILD/berth" --address "$T/state/berth.sock" "$@"; }

# A TCP port on 127.0.0.1 that nothing listens on.
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return; }
	done
}

# unused_10_octets N: N different numbers X of 200 to 254, one a line, such that no address or
# route of the host (any table) lies in 10.X.0.0/16: private ranges for a suite's networks.
# 10.213 and 10.214 are left to the throttled registries of test_resume and test_progress.
unused_10_octets() {
	local used x n=0
	used=$(ip -4 route show table all; ip -4 -o addr show)
	for x in $(shuf -i 200-254); do
		case $x in 213 | 214) continue ;; esac
		grep -q "10\.$x\." <<<"$used" && continue
		echo "$x"
		n=$((n + 1))
		[ "$n" -lt "$1" ] || return 0
	done
	return 1
}

# registry_start: a docker-registry on $REGISTRY; IT_REGISTRY_ACCESSLOG=1 writes its access
# log (combined format, one line per request) to $T/logs/registry.log.
registry_start() {
	local accesslog_off=true
	[ -n "${IT_REGISTRY_ACCESSLOG:-}" ] && accesslog_off=false
	PORT=$(free_port)
	REGISTRY=127.0.0.1:$PORT
	mkdir -p "$T/registry"
	cat >"$T/registry.yml" <<-EOF
	version: 0.1
	log:
	  level: error
	  accesslog:
	    disabled: $accesslog_off
	storage:
	  filesystem:
	    rootdirectory: $T/registry
	http:
	  addr: $REGISTRY
	EOF
	docker-registry serve "$T/registry.yml" >"$T/logs/registry.log" 2>&1 &
	IT_REGISTRY_PID=$!
	for _ in $(seq 100); do
		curl -fsS "http://$REGISTRY/v2/" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	it_log "registry did not start"; cat "$T/logs/registry.log"
	return 1
}

# throttled_registry_start RATE PREFIX ACCESSLOG: a docker-registry on REG_IP:5000 in a network
# namespace of the suite's own (NETREG_NETNS), behind a veth pair (NETREG_VH on the host's
# side) whose namespace side sends at most RATE (tc tbf): what the registry sends is slowed,
# so that pulls take seconds. PREFIX (10.214, say: one per suite) makes the /30 private subnet;
# ACCESSLOG true logs every request to $T/logs/netreg.log. it_cleanup removes it all.
throttled_registry_start() {
	local rate=$1 net
	net=$2.$((RANDOM % 250))
	NETREG_NETNS=brn$$
	NETREG_VH=brh$$
	local vn=brv$$ host_ip=$net.1
	REG_IP=$net.2
	ip netns add "$NETREG_NETNS" &&
		ip link add "$NETREG_VH" type veth peer name "$vn" &&
		ip link set "$vn" netns "$NETREG_NETNS" &&
		ip addr add "$host_ip/30" dev "$NETREG_VH" && ip link set "$NETREG_VH" up &&
		ip netns exec "$NETREG_NETNS" ip addr add "$REG_IP/30" dev "$vn" &&
		ip netns exec "$NETREG_NETNS" ip link set "$vn" up &&
		ip netns exec "$NETREG_NETNS" ip link set lo up &&
		ip netns exec "$NETREG_NETNS" tc qdisc add dev "$vn" root tbf rate "$rate" \
			burst 64kb latency 400ms || return 1
	mkdir -p "$T/netreg"
	cat >"$T/netreg.yml" <<-EOF
	version: 0.1
	log:
	  level: error
	  accesslog:
	    disabled: $([ "$3" = true ] && echo false || echo true)
	storage:
	  filesystem:
	    rootdirectory: $T/netreg
	http:
	  addr: $REG_IP:5000
	EOF
	ip netns exec "$NETREG_NETNS" docker-registry serve "$T/netreg.yml" \
		>"$T/logs/netreg.log" 2>&1 &
	IT_NETREG_PID=$!
	for _ in $(seq 100); do
		curl -fsS "http://$REG_IP:5000/v2/" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	it_log "the throttled registry did not start"; cat "$T/logs/netreg.log"
	return 1
}

throttled_registry_stop() {
	if [ -n "$IT_NETREG_PID" ]; then
		kill "$IT_NETREG_PID" 2>/dev/null
		wait "$IT_NETREG_PID" 2>/dev/null
		IT_NETREG_PID=""
	fi
	if [ -n "${NETREG_NETNS:-}" ]; then
		ip netns del "$NETREG_NETNS" 2>/dev/null
		ip link del "$NETREG_VH" 2>/dev/null
		NETREG_NETNS=""
	fi
	return 0
}

# push_image IMAGE REPO:TAG [skopeo flags]: push a built image to the test registry.
push_image() {
	local img=$1 dest=$2 tag
	shift 2
	tag=$(jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]' \
		"$IMAGES/$img/index.json")
	timeout 120 skopeo copy --quiet --dest-tls-verify=false "$@" "oci:$IMAGES/$img:$tag" \
		"docker://$REGISTRY/$dest"
}

# write_config: the suite's configuration. A suite may add to it: IT_REGISTRIES (more
# registry objects, each with a leading comma), IT_IMAGED (members of "imaged"), IT_USERS
# (gatewayd.users), IT_CONFIG (top-level members: "contentd": {...}), IT_ROOT (the data root,
# default $T/root: a benchmark needs a short one for deep overlay chains), IT_NETD (members of
# "netd"; default: containers get the "none" network, so that suites about other things make
# no bridge of the host's; test_network.sh is about the bridge networks).
write_config() {
	local imaged="" users="" extra="" netd='"network": "none"'
	[ -n "${IT_NETD:-}" ] && netd=$IT_NETD
	[ -n "${IT_IMAGED:-}" ] && imaged=", $IT_IMAGED"
	[ -n "${IT_USERS:-}" ] && users=", \"users\": [$IT_USERS]"
	[ -n "${IT_CONFIG:-}" ] && extra=", $IT_CONFIG"
	cat >"$T/berth.json" <<-EOF
	{
	  "root": "${IT_ROOT:-$T/root}",
	  "state": "$T/state",
	  "log": {"level": "info"},
	  "imaged": {"registries": [{"host": "${REGISTRY:-127.0.0.1:1}", "insecure": true}${IT_REGISTRIES:-}]$imaged},
	  "netd": {$netd, "cni_conf_dir": "$T/cni"},
	  "gatewayd": {"group": "nogroup"$users}$extra
	}
	EOF
}

# data_root: the daemons' data root (IT_ROOT, default $T/root).
data_root() { echo "${IT_ROOT:-$T/root}"; }

# store_bytes: bytes on disk in the stores' data under the data root (blobs, ingests, the
# snapshot directories of both snapshotters); the databases aside.
store_bytes() {
	local r
	r=$(data_root)
	du -s --block-size=1 "$r/contentd/blobs" "$r/contentd/ingest" \
		"$r/snapshotd/overlayfs" "$r/snapshotd/native" 2>/dev/null |
		awk '{ s += $1 } END { print s + 0 }'
}

# daemon_start NAME: start berth-NAME in the background.
daemon_start() {
	"$BUILD/berth-$1" --config "$T/berth.json" >>"$T/logs/$1.log" 2>&1 &
	IT_PIDS[$1]=$!
}

# daemon_kill9 NAME
daemon_kill9() {
	kill -9 "${IT_PIDS[$1]}" 2>/dev/null
	wait "${IT_PIDS[$1]}" 2>/dev/null
	unset "IT_PIDS[$1]"
}

# wait_healthy [SECONDS]: until `berth info` shows every component healthy.
wait_healthy() {
	local limit=$((${1:-20} * 10))
	for _ in $(seq "$limit"); do
		if [ "$(b --format json info 2>/dev/null | jq '[.components[] | select(.healthy)] | length')" = 5 ]; then
			return 0
		fi
		sleep 0.1
	done
	it_log "the suite did not become healthy:"
	b info
	return 1
}

suite_start() {
	write_config
	for d in "${IT_DAEMONS[@]}"; do
		daemon_start "$d"
	done
	wait_healthy 20
}

suite_stop() {
	local d pid
	for d in gatewayd taskd imaged netd snapshotd contentd; do
		pid=${IT_PIDS[$d]:-}
		[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
	done
	for d in "${!IT_PIDS[@]}"; do
		pid=${IT_PIDS[$d]}
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		unset "IT_PIDS[$d]"
	done
}

# Processes whose command line or cwd mentions $T (shims, containers' runtimes).
procs_under_t() {
	local p
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" = "$$" ] && continue
		if { tr "\0" " " <"$p/cmdline"; } 2>/dev/null | grep -q "$T/"; then
			echo "${p#/proc/}"
		fi
	done
}

mounts_under_t() {
	awk -v t="$T/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

it_cleanup() {
	[ -n "${IT_KEEP_LOGS:-}" ] && cp -r "$T/logs" "$IT_KEEP_LOGS" 2>/dev/null
	local rc=$? p m r
	[ -n "${T:-}" ] || return $rc
	suite_stop
	if [ -n "$IT_REGISTRY_PID" ]; then
		kill "$IT_REGISTRY_PID" 2>/dev/null
		wait "$IT_REGISTRY_PID" 2>/dev/null
		IT_REGISTRY_PID=""
	fi
	throttled_registry_stop
	# A suite's own resources (network namespaces, veths, registries it started itself, a data
	# root outside T): once no daemon uses them, and before the sweep below kills what is left.
	if declare -F it_cleanup_extra >/dev/null; then it_cleanup_extra; fi
	# Containers left by a failed test: their runc state lives under $T.
	for r in "$T"/state/taskd/runtime/*/*; do
		[ -d "$r" ] || continue
		for id in $(runc --root "$r" list -q 2>/dev/null); do
			runc --root "$r" delete -f "$id" >/dev/null 2>&1
		done
	done
	for p in $(procs_under_t); do
		kill -KILL "$p" 2>/dev/null
	done
	for m in $(mounts_under_t); do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	rm -rf "$T"
	return $rc
}

# --- checks --------------------------------------------------------------------------------

it_ok() {
	IT_N=$((IT_N + 1))
	IT_PASS=$((IT_PASS + 1))
	echo "ok $IT_N - $1"
}

# it_skip NAME REASON: a check that cannot run on this host (counted apart, with its reason).
it_skip() {
	IT_N=$((IT_N + 1))
	IT_SKIP=$((IT_SKIP + 1))
	echo "ok $IT_N - $1 # skipped: $2"
}

it_not_ok() {
	IT_N=$((IT_N + 1))
	IT_FAIL=$((IT_FAIL + 1))
	echo "not ok $IT_N - $1"
	shift
	[ $# -gt 0 ] && printf '#   %s\n' "$@"
	local d
	for d in "${IT_DAEMONS[@]}"; do
		[ -f "$T/logs/$d.log" ] && tail -n 3 "$T/logs/$d.log" | sed 's/^/#   /'
	done
}

# check NAME CMD...: passes when CMD exits 0.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		it_ok "$name"
	else
		it_not_ok "$name" "exit $?: $(echo "$out" | tail -n 5)"
	fi
}

# expect_out NAME EXPECTED CMD...: CMD's stdout must equal EXPECTED and CMD must exit 0.
expect_out() {
	local name=$1 want=$2 out rc
	shift 2
	out=$("$@" 2>"$T/stderr")
	rc=$?
	if [ $rc -eq 0 ] && [ "$out" = "$want" ]; then
		it_ok "$name"
	else
		it_not_ok "$name" "exit $rc, stdout: $(printf %q "$out"), wanted: $(printf %q "$want")" \
			"stderr: $(tail -n 3 "$T/stderr")"
	fi
}

# expect_exit NAME CODE CMD...: CMD must exit with CODE; its stderr is kept in $T/stderr.
expect_exit() {
	local name=$1 want=$2 rc
	shift 2
	"$@" >"$T/stdout" 2>"$T/stderr"
	rc=$?
	if [ $rc -eq "$want" ]; then
		it_ok "$name"
	else
		it_not_ok "$name" "exit $rc, wanted $want" "stdout: $(tail -n 3 "$T/stdout")" \
			"stderr: $(tail -n 3 "$T/stderr")"
	fi
}

# expect_contains NAME FILE TEXT: FILE (e.g. $T/stderr) contains TEXT.
expect_contains() {
	if grep -qF -- "$3" "$2"; then
		it_ok "$1"
	else
		it_not_ok "$1" "$(basename "$2") lacks \"$3\": $(tail -n 3 "$2")"
	fi
}

it_summary() {
	if [ "$IT_SKIP" -gt 0 ]; then
		echo "$IT_PASS passed, $IT_FAIL failed, $IT_SKIP skipped"
	else
		echo "$IT_PASS passed, $IT_FAIL failed"
	fi
	[ "$IT_FAIL" -eq 0 ]
}
