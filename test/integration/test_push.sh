#!/usr/bin/env bash
# berth tag and berth push against two real docker-registries with their access logs on: a
# tag shares its source's image and outlives nothing of it; a push arrives with the same
# manifest, index and layer digests (skopeo reads them back) and runs again when pulled by
# digest; blobs the repository has are skipped (HEAD), blobs of another repository of the same
# registry are mounted, others uploaded in one PUT or in PATCHes; an index with platforms never
# pulled is refused unless --platform narrows the push; failures name what went wrong and exit
# with the code of their error.
#
# Usage: test/integration/test_push.sh [BUILD]   (as root)
BUILD=${1:-build}
source "$(dirname "$0")/lib.sh"

R2_PID=""
HOLE_PID=""
it_cleanup_extra() {
	local p
	for p in $R2_PID $HOLE_PID; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
}

# start_registry NAME ADDR: a docker-registry on ADDR whose access log is $T/logs/NAME.log;
# prints nothing, sets STARTED_PID.
start_registry() {
	local name=$1 addr=$2
	mkdir -p "$T/$name"
	cat >"$T/$name.yml" <<-EOF
	version: 0.1
	log:
	  level: error
	  accesslog:
	    disabled: false
	storage:
	  filesystem:
	    rootdirectory: $T/$name
	  delete:
	    enabled: true
	http:
	  addr: $addr
	EOF
	docker-registry serve "$T/$name.yml" >"$T/logs/$name.log" 2>&1 &
	STARTED_PID=$!
	for _ in $(seq 100); do
		curl -fsS "http://$addr/v2/" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	it_log "registry $name did not start"
	return 1
}

it_setup
PORT=$(free_port)
REGISTRY=127.0.0.1:$PORT
start_registry registry "$REGISTRY" || { it_not_ok "registry starts"; it_summary; exit 1; }
IT_REGISTRY_PID=$STARTED_PID
R2=127.0.0.1:$(free_port)
while [ "$R2" = "$REGISTRY" ]; do R2=127.0.0.1:$(free_port); done
start_registry registry2 "$R2" || { it_not_ok "second registry starts"; it_summary; exit 1; }
R2_PID=$STARTED_PID
push_image sh test/sh:v1
push_image multi test/multi:v1 --all
IT_REGISTRIES=", {\"host\": \"$R2\", \"insecure\": true}"
suite_start || { it_not_ok "suite starts"; it_summary; exit 1; }

SH=$REGISTRY/test/sh:v1
expect_exit "pull the source image" 0 b images pull "$SH"

# inspect_raw REF: the manifest or index as the registry serves it.
inspect_raw() { timeout 30 skopeo inspect --raw --tls-verify=false "docker://$1"; }
# raw_digest REF: its sha256.
raw_digest() { echo "sha256:$(inspect_raw "$1" | sha256sum | cut -d' ' -f1)"; }
# layers REF: the config and layer digests of a manifest, as the registry serves it.
layers() { inspect_raw "$1" | jq -c '[.config.digest] + [.layers[].digest]'; }
# log_lines NAME: lines in registry NAME's log; log_since NAME N: the lines after line N.
log_lines() { wc -l <"$T/logs/$1.log"; }
log_since() { tail -n +"$(($2 + 1))" "$T/logs/$1.log"; }
# requests FILE REGEX: how many access log lines of FILE match REGEX (extended).
requests() { grep -cE -- "$2" "$1" || true; }
# at_least N COUNT: COUNT >= N.
at_least() { [ "$2" -ge "$1" ]; }
# image_events TOPIC: "<topic> <name>" of every event under TOPIC so far, read until a second
# from now (the outbox sends them to the log within that).
image_events() {
	b --format json events --since 0 --until "@$(($(date +%s) + 1))" --filter "topic=$1" |
		jq -r '"\(.topic) \(.payload.name)"'
}

SRC_DIGEST=$(raw_digest "$SH")
SRC_LAYERS=$(layers "$SH")

# --- tag ----------------------------------------------------------------------------------
expect_exit "tag of a missing image fails with NOT_FOUND (exit 3)" 3 \
	b tag "$REGISTRY/test/nope:v1" "$REGISTRY/test/x:v1"
expect_contains "the error names the missing image" "$T/stderr" "test/nope:v1\": not found"
expect_exit "tag to a bad name fails with INVALID_ARGUMENT (exit 2)" 2 \
	b tag "$SH" "$REGISTRY/Bad Name"
COPY=$REGISTRY/test/copy:v1
expect_exit "berth tag SRC DST" 0 b tag "$SH" "$COPY"
expect_exit "images ls --format json" 0 b --format json images ls
check "the tag points to the source's target, manifest and config" \
	jq -e --arg s "$SH" --arg c "$COPY" \
	'(map(select(.name == $s))[0]) as $a | (map(select(.name == $c))[0]) as $b |
	 $a.digest == $b.digest and $a.manifest_digest == $b.manifest_digest and
	 $a.config_digest == $b.config_digest and $a.digest != null' "$T/stdout"
expect_exit "berth images tag works too" 0 b images tag "$SH" "$REGISTRY/test/copy2:v1"
expect_exit "a tag of the same image again" 0 b tag "$SH" "$COPY"
expect_exit "a tag from a tag" 0 b tag "$REGISTRY/test/copy2:v1" "$COPY"
expect_out "a tag that records a name is an /images/create; one that changes nothing, none" \
	"/images/create $SH
/images/create $COPY
/images/create $REGISTRY/test/copy2:v1" image_events /images/create

# --- push: cross-repository mount --------------------------------------------------------
L=$(log_lines registry)
expect_exit "push the tag to its repository" 0 b push "$COPY"
expect_contains "the result names the pushed digest" "$T/stdout" "pushed $COPY@$SRC_DIGEST"
log_since registry "$L" >"$T/mount.log"
MOUNT='"POST /v2/test/copy/blobs/uploads/\?mount=sha256[^ ]*from=test%2Fsh HTTP/1.1" 201'
check "the blobs were mounted from test/sh (POST ?mount=...&from=test%2Fsh, 201)" at_least 2 \
	"$(requests "$T/mount.log" "$MOUNT")"
check "nothing was uploaded (no PUT or PATCH of a blob)" \
	test "$(requests "$T/mount.log" '"(PUT|PATCH) /v2/test/copy/blobs/')" = 0
expect_out "skopeo reads back the same manifest digest" "$SRC_DIGEST" raw_digest "$COPY"
expect_out "and the same config and layer digests" "$SRC_LAYERS" layers "$COPY"

# --- push: blobs the repository has are skipped --------------------------------------------
L=$(log_lines registry)
expect_exit "push the same image again" 0 b push "$COPY"
log_since registry "$L" >"$T/again.log"
check "every blob was asked for with HEAD (200)" at_least 2 \
	"$(requests "$T/again.log" '"HEAD /v2/test/copy/blobs/sha256:[0-9a-f]+ HTTP/1.1" 200')"
check "and none was mounted or uploaded" \
	test "$(requests "$T/again.log" '"(POST|PUT|PATCH) /v2/test/copy/blobs/')" = 0

# --- push: monolithic upload to another registry -------------------------------------------
MONO=$R2/test/mono:v1
expect_exit "push to another registry (one PUT per blob)" 0 b push "$SH" "$MONO"
R2_LOG=$T/logs/registry2.log
check "the blobs went up in one PUT ?digest= each (201)" at_least 2 \
	"$(requests "$R2_LOG" '"PUT /v2/test/mono/blobs/uploads/[^ ]*digest=sha256[^ ]* HTTP/1.1" 201')"
check "and no PATCH" test "$(requests "$R2_LOG" '"PATCH /v2/test/mono/')" = 0
expect_out "the pushed manifest has the source's digest" "$SRC_DIGEST" raw_digest "$MONO"

# --- push: chunked upload --------------------------------------------------------------------
kill "${IT_PIDS[imaged]}"
wait "${IT_PIDS[imaged]}" 2>/dev/null
IT_IMAGED='"push_chunk_threshold": 1024, "push_chunk_size": 65536'
write_config
daemon_start imaged
wait_healthy 20 || it_not_ok "imaged restarts with a small chunk threshold"
CHUNK=$R2/test/chunk:v1
expect_exit "push with blobs above the chunk threshold" 0 b push "$SH" "$CHUNK"
check "the layer went up in several PATCHes (202)" at_least 3 \
	"$(requests "$R2_LOG" '"PATCH /v2/test/chunk/blobs/uploads/[^ ]* HTTP/1.1" 202')"
check "each blob ended with a PUT ?digest= (201)" at_least 2 \
	"$(requests "$R2_LOG" '"PUT /v2/test/chunk/blobs/uploads/[^ ]*digest=sha256[^ ]* HTTP/1.1" 201')"
expect_out "the chunked push has the source's digest" "$SRC_DIGEST" raw_digest "$CHUNK"
expect_exit "the pushed image pulls by digest in a fresh namespace" 0 \
	b -n pushtest images pull "$R2/test/chunk@$SRC_DIGEST"
expect_out "and runs" "pushed and back" \
	b -n pushtest run --rm "$R2/test/chunk@$SRC_DIGEST" echo pushed and back

# --- push: a multi-platform index ------------------------------------------------------------
MULTI=$REGISTRY/test/multi:v1
INDEX_DIGEST=$(raw_digest "$MULTI")
# platform_digest ARCH: the digest of that platform's manifest in the source index.
platform_digest() {
	inspect_raw "$MULTI" |
		jq -r --arg a "$1" '.manifests[] | select(.platform.architecture == $a) | .digest'
}
ARM=$(platform_digest arm64)
AMD=$(platform_digest amd64)
expect_exit "pull the index (one platform)" 0 b images pull "$MULTI"
expect_exit "a tag over a name of another image" 0 b tag "$MULTI" "$REGISTRY/test/copy2:v1"
expect_out "is an /images/update" "/images/update $REGISTRY/test/copy2:v1" \
	image_events /images/update
expect_exit "push of an index with a platform never pulled fails (FAILED_PRECONDITION)" 5 \
	b push "$MULTI" "$R2/test/multi:v1"
expect_contains "the error names the missing platform" "$T/stderr" "linux/arm64/v8"
expect_exit "push --platform linux/amd64 pushes that manifest alone" 0 \
	b push --platform linux/amd64 "$MULTI" "$R2/test/multi-amd:v1"
expect_out "the tag names the amd64 manifest" "$AMD" raw_digest "$R2/test/multi-amd:v1"
expect_exit "pull the arm64 manifest too" 0 \
	b images pull --platform linux/arm64/v8 "$REGISTRY/test/multi@$ARM"
expect_exit "push the whole index" 0 b push "$MULTI" "$R2/test/multi:v1"
expect_out "it arrives with the same index digest" "$INDEX_DIGEST" raw_digest "$R2/test/multi:v1"
expect_out "and its arm64 manifest is there by digest" "$ARM" raw_digest "$R2/test/multi@$ARM"

# --- failures --------------------------------------------------------------------------------
expect_exit "push --platform of another platform than a single-manifest image's fails" 3 \
	b push --platform linux/arm64 "$SH" "$R2/test/arm:v1"
expect_contains "naming both platforms" "$T/stderr" "is an image for linux/amd64, not linux/arm64"
expect_exit "push of a missing image fails with NOT_FOUND (exit 3)" 3 \
	b push "$REGISTRY/test/nope:v1"
DEAD=127.0.0.1:$(free_port)
expect_exit "push to an unreachable registry fails with UNAVAILABLE (exit 6)" 6 \
	b push "$SH" "$DEAD/test/sh:v1"
expect_contains "the error names the URL" "$T/stderr" "https://$DEAD/v2/test/sh/blobs/"

# --- cancel ----------------------------------------------------------------------------------
# A "registry" that accepts connections and never answers: the push waits on it until the
# CLI, told to stop, cancels its job.
"$BUILD/test/helpers/silent_listener" "$T/hole.port" &
HOLE_PID=$!
for _ in $(seq 50); do [ -s "$T/hole.port" ] && break; sleep 0.1; done
HOLE=127.0.0.1:$(cat "$T/hole.port")
STARTED=$(grep -c "push started" "$T/logs/imaged.log")
"$BUILD/berth" --address "$T/state/berth.sock" push "$SH" "$HOLE/test/sh:v1" \
	>"$T/cancel.out" 2>"$T/cancel.err" &
CLI=$!
for _ in $(seq 50); do
	[ "$(grep -c "push started" "$T/logs/imaged.log")" -gt "$STARTED" ] && break
	sleep 0.1
done
sleep 0.3 # into its first request
kill -TERM "$CLI"
rc=0
for _ in $(seq 100); do kill -0 "$CLI" 2>/dev/null || break; sleep 0.1; done
wait "$CLI" || rc=$?
check "a push stopped by a signal exits 130" test "$rc" = 130
expect_contains "and says it canceled the push" "$T/cancel.err" "canceled"
# job_canceled: within 5 s, imaged logs a push job that ended canceled.
job_canceled() {
	for _ in $(seq 50); do
		grep -q 'IMAGE-JOB-FAIL: job [0-9a-f]*: push .*canceled' "$T/logs/imaged.log" && return 0
		sleep 0.1
	done
	return 1
}
check "its job ended canceled" job_canceled
kill "$HOLE_PID" 2>/dev/null
wait "$HOLE_PID" 2>/dev/null
HOLE_PID=""

# --- removing a tag keeps the source ------------------------------------------------------
expect_exit "images rm of the tag" 0 b images rm "$COPY"
expect_exit "images ls --format json" 0 b --format json images ls
check "the tag is gone and the source image is still there" \
	jq -e --arg s "$SH" --arg c "$COPY" 'map(.name) | (index($s) != null) and (index($c) == null)' \
	"$T/stdout"
expect_exit "system prune collects what no lease holds" 0 b system prune -f
expect_out "the source still runs after a collection" "still here" b run --rm "$SH" echo still here
KEEP=$REGISTRY/test/keep:v1
expect_exit "tag the source again" 0 b tag "$SH" "$KEEP"
expect_exit "images rm of the source and of every other image sharing its layer" 0 \
	b images rm "$SH" "$MULTI" "$REGISTRY/test/copy2:v1" "$REGISTRY/test/multi@$ARM"
expect_out "only the tag is left in the namespace" "$KEEP" b images ls -q
expect_exit "system prune" 0 b system prune -f
expect_out "the tag still runs: it holds the image with its own leases" "kept" \
	b run --rm "$KEEP" echo kept

it_summary
