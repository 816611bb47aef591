#!/usr/bin/env bash
# The first container end to end, through the real CLI against the real daemons: images
# pushed with skopeo to a real docker-registry (OCI, Docker schema2, a multi-platform index)
# are pulled, imported and run with runc on overlayfs; whiteouts, exit codes, environment and
# network modes are as a user expects; daemons killed with SIGKILL fail fast and come back
# without losing containers; bad registries and corrupt blobs leave no image; nothing leaks.
#
# Usage: test/integration/test_e2e.sh [BUILD]   (as root)
BUILD=${1:-build}
source "$(dirname "$0")/lib.sh"

it_setup
registry_start || { it_not_ok "registry starts"; it_summary; exit 1; }
push_image sh test/sh:v1
push_image sh test/sh:v2s2 --format v2s2
push_image layers test/layers:v1
push_image multi test/multi:v1 --all
push_image extra test/corrupt:v1 --format v2s2
suite_start || { it_not_ok "suite starts"; it_summary; exit 1; }
it_ok "all six daemons start and report healthy"

# --- the front door checks the caller's uid, not what the message says ---------------------
check "the front door is 0660 and belongs to the configured group" \
	test "$(stat -c '%a %G' "$T/state/berth.sock")" = "660 nogroup"
install -m 0755 "$BUILD/berth" "$T/berth-cli"
expect_exit "a uid that is not allowed gets PERMISSION_DENIED" 8 \
	setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$T/berth-cli" --address "$T/state/berth.sock" images ls
expect_contains "the error names the uid" "$T/stderr" "uid 65534 is not allowed"

# A peer that connects and hangs up without a word must not silence the front door (nng
# 1.5.2's listener stops accepting after it; the gateway's watchdog replaces the listener).
"$BUILD/test/helpers/bare_connect" "$T/state/berth.sock" 3
ok=0
for _ in $(seq 10); do
	timeout 5 "$BUILD/berth" --address "$T/state/berth.sock" info >/dev/null 2>&1 && { ok=1; break; }
done
if [ $ok = 1 ]; then
	it_ok "the front door answers again after bare connects"
else
	it_not_ok "the front door answers again after bare connects"
fi

# --- images -------------------------------------------------------------------------------
expect_exit "pull an OCI image" 0 b images pull "$REGISTRY/test/sh:v1"
expect_exit "pull a Docker schema2 image" 0 b images pull "$REGISTRY/test/sh:v2s2"
expect_exit "pull a multi-platform index" 0 b images pull "$REGISTRY/test/multi:v1"
expect_exit "pull an image with a whiteout and an opaque directory" 0 \
	b images pull "$REGISTRY/test/layers:v1"
expect_exit "images ls --format json" 0 b --format json images ls
check "images ls lists the pulled images" \
	jq -e --arg r "$REGISTRY" '[.[].name] | index("\($r)/test/sh:v1") and index("\($r)/test/multi:v1")' \
	"$T/stdout"
check "the index resolved to the linux/amd64 manifest" \
	jq -e --arg r "$REGISTRY" '.[] | select(.name == "\($r)/test/multi:v1") | .platform | test("amd64")' \
	"$T/stdout"

# --- run ----------------------------------------------------------------------------------
SH=$REGISTRY/test/sh:v1
expect_out "run --rm echo hello prints hello" "hello" b run --rm "$SH" echo hello
expect_exit "run exits with the container's code" 3 b run --rm "$SH" sh -c 'exit 3'
expect_out "a Docker schema2 image runs" "v2s2" b run --rm "$REGISTRY/test/sh:v2s2" echo v2s2
expect_out "stderr reaches the caller's stderr" "" b run --rm "$SH" sh -c 'echo oops >&2'
expect_contains "stderr carries the container's stderr" "$T/stderr" "oops"
expect_out "--env is visible" "bar" b run --rm --env FOO=bar "$SH" sh -c 'echo $FOO'
expect_out "a file whited out in an upper layer is gone" "keep" \
	b run --rm "$REGISTRY/test/layers:v1" ls /data
expect_out "an opaque directory hides the lower layer" "new" \
	b run --rm "$REGISTRY/test/layers:v1" ls /opaque
expect_out "--net none has only loopback" "lo" b run --rm --net none "$SH" ls /sys/class/net
host_ifaces=$(ls /sys/class/net | wc -l)
expect_out "--net host sees the host's interfaces" "$host_ifaces" \
	b run --rm --net host "$SH" sh -c 'ls /sys/class/net | wc -l'
expect_exit "a missing command exits 127" 127 b run --rm "$SH" /nonexistent
expect_exit "an unknown image exits 125" 125 b run --rm "$REGISTRY/test/absent:v1" true

expect_exit "import an OCI archive" 0 b images import "$IMAGES/berth-demo.tar" --name demo/hello:latest
expect_out "the imported image runs" \
	"Hello from Berth! This container runs busybox as uid 0 on demo." \
	b run --rm --name demo demo/hello:latest

expect_exit "run -d starts a container" 0 b run -d --name bg "$SH" sleep 1000
expect_exit "ps lists it" 0 b ps
expect_contains "ps shows bg running" "$T/stdout" "bg"
expect_exit "rm without -f refuses a running container" 5 b rm bg
expect_exit "rm -f removes it" 0 b rm -f bg
expect_out "ps -a -q no longer lists it" "" b ps -a -q

expect_exit "images rm removes an image" 0 b images rm "$REGISTRY/test/sh:v2s2"
expect_exit "images rm of a missing image exits 3" 3 b images rm "$REGISTRY/test/sh:v2s2"

# --- daemons killed and restarted -----------------------------------------------------------
daemon_kill9 imaged
start=$(date +%s%N)
expect_exit "with imaged killed, images ls fails with UNAVAILABLE" 6 b images ls
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
expect_contains "the error names berth-imaged" "$T/stderr" "berth-imaged"
if [ "$elapsed_ms" -lt 3000 ]; then
	it_ok "the failure is fast (${elapsed_ms} ms)"
else
	it_not_ok "the failure is fast" "took ${elapsed_ms} ms"
fi
daemon_start imaged
wait_healthy 10
expect_exit "images ls works again once imaged is back" 0 b images ls

expect_exit "run -d a long-running container" 0 b run -d --name survivor "$SH" sleep 1000
b --format json ps >"$T/ps.json"
pid=$(jq -r '.[] | select(.id == "survivor") | .pid' "$T/ps.json")
daemon_kill9 taskd
sleep 0.5
if [ -n "$pid" ] && [ "$pid" != 0 ] && kill -0 "$pid" 2>/dev/null; then
	it_ok "the container keeps running while taskd is down (pid $pid)"
else
	it_not_ok "the container keeps running while taskd is down" "pid '$pid'"
fi
daemon_start taskd
wait_healthy 10
b --format json ps >"$T/ps.json"
check "taskd finds the running container again" \
	jq -e --argjson p "${pid:-0}" '.[] | select(.id == "survivor" and .status == "running" and .pid == $p)' \
	"$T/ps.json"
expect_exit "the found container can be removed" 0 b rm -f survivor

expect_exit "run -d a container with its own network namespace" 0 \
	b run -d --name netkeep --net none "$SH" sleep 1000
daemon_kill9 netd
daemon_start netd
wait_healthy 10
expect_out "after netd is killed and restarted the container still has only loopback" "lo" \
	b run --rm --net none "$SH" ls /sys/class/net
expect_exit "a container whose netd was restarted can be removed" 0 b rm -f netkeep
daemon_kill9 snapshotd
daemon_kill9 contentd
daemon_start contentd
daemon_start snapshotd
wait_healthy 10
expect_out "after contentd and snapshotd are killed and restarted, images still run" "again" \
	b run --rm "$SH" echo again

# --- bad registries and blobs ------------------------------------------------------------
expect_exit "pulling a missing image exits 3" 3 b images pull "$REGISTRY/test/nope:latest"
expect_contains "the error says what was not found" "$T/stderr" "nope"
# Corrupt the layer that only test/corrupt:v1 has, in the registry's storage, keeping its
# length: the registry serves it under its old digest.
layer=$(skopeo inspect --tls-verify=false --raw "docker://$REGISTRY/test/corrupt:v1" |
	jq -r '.layers[1].digest')
blob=$T/registry/docker/registry/v2/blobs/sha256/${layer:7:2}/${layer#sha256:}/data
printf 'corrupt' | dd of="$blob" bs=1 seek=100 conv=notrunc status=none
b images pull "$REGISTRY/test/corrupt:v1" >"$T/stdout" 2>"$T/stderr"
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ]; then
	it_ok "pulling a corrupted blob fails (exit $rc)"
else
	it_not_ok "pulling a corrupted blob fails" "exit $rc: $(cat "$T/stdout" "$T/stderr")"
fi
expect_contains "the error names the corrupted layer" "$T/stderr" "$layer"
b images ls -q >"$T/names"
if grep -q -e "test/nope" -e "test/corrupt" "$T/names"; then
	it_not_ok "failed pulls leave no image" "$(cat "$T/names")"
else
	it_ok "failed pulls leave no image"
fi

# --- nothing leaks -----------------------------------------------------------------------
suite_stop
leftover_mounts=$(mounts_under_t)
if [ -z "$leftover_mounts" ]; then it_ok "no mounts left"; else it_not_ok "no mounts left" "$leftover_mounts"; fi
leftover_procs=$(procs_under_t | grep -vx "$IT_REGISTRY_PID")
if [ -z "$leftover_procs" ]; then it_ok "no processes left"; else it_not_ok "no processes left" "$leftover_procs"; fi
leftover_ns=$(find "$T/state/netd/netns" -type f 2>/dev/null)
if [ -z "$leftover_ns" ]; then it_ok "no network namespaces left"; else it_not_ok "no network namespaces left" "$leftover_ns"; fi

it_summary
