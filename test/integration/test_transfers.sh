#!/usr/bin/env bash
# Transfers that go wrong, and layer formats. A real docker-registry, reached directly or
# through test/helpers/flaky_proxy (which logs the body bytes it forwarded per request):
#  - a proxy that cuts every blob's first response mid-body: the pull succeeds, the next
#    request continues with a Range from the byte of the cut (bytes moved = the blob's size,
#    not more), both for the layer unpacked while it downloads and for layers downloaded
#    ahead; the image runs; through a registry that ignores Range, the whole blob comes
#    again and the part already read is skipped;
#  - 503 with Retry-After: 1 on the first two requests: the pull succeeds after waiting
#    for it, each retry logged with its URL; a registry that always answers 429 makes the
#    pull fail after imaged.retry_attempts, saying so; a 404 is asked once;
#  - a blob that stops flowing: the pull fails with DEADLINE_EXCEEDED after
#    imaged.job_stall_timeout_ms, naming the request;
#  - two pulls at once of two images that share large layers: each shared blob is fetched
#    once (the registry's access log);
#  - zstd, uncompressed OCI and uncompressed Docker layers pull, unpack and run;
#  - Docker schema 1 manifests (signed type, and plain JSON type) are refused and say what
#    to do;
#  - foreign (nondistributable) layers: fetched from the registry like any layer, and from
#    the descriptor's urls when the registry does not have them.
#
# Usage: test/integration/test_transfers.sh [BUILD]   (as root)
BUILD=${1:-build}
source "$(dirname "$0")/lib.sh"

PROXY_PIDS=()
it_cleanup_extra() {
	local p
	for p in "${PROXY_PIDS[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	true
}

# proxy NAME ARGS...: start a flaky proxy in front of the registry; sets P_<NAME> to its
# host:port; its log is $T/logs/proxy-NAME.log.
proxy() {
	local name=$1 port=""
	shift
	"$BUILD/test/helpers/flaky_proxy" --upstream "$REGISTRY" --port-file "$T/proxy-$name.port" \
		--log "$T/logs/proxy-$name.log" "$@" 2>>"$T/logs/proxies.err" &
	PROXY_PIDS+=($!)
	for _ in $(seq 50); do
		port=$(cat "$T/proxy-$name.port" 2>/dev/null)
		[ -n "$port" ] && break
		sleep 0.1
	done
	printf -v "P_$name" '127.0.0.1:%s' "$port"
	IT_REGISTRIES+=", {\"host\": \"127.0.0.1:$port\", \"insecure\": true}"
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# put_blob REPO FILE: upload FILE into REPO in one request.
put_blob() {
	local loc
	loc=$(curl -fsS -X POST -D - -o /dev/null "http://$REGISTRY/v2/$1/blobs/uploads/" |
		tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')
	[[ $loc == http* ]] || loc=http://$REGISTRY$loc
	if [[ $loc == *\?* ]]; then loc+="&digest=sha256:$(sha "$2")"; else loc+="?digest=sha256:$(sha "$2")"; fi
	curl -fsS -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$2" \
		-o /dev/null "$loc"
}

# new_layer NAME TEXT: $T/NAME.tar holding /fmt.txt with TEXT
new_layer() {
	mkdir -p "$T/$1.d"
	printf '%s\n' "$2" >"$T/$1.d/fmt.txt"
	tar -C "$T/$1.d" --owner=0 --group=0 --numeric-owner -cf "$T/$1.tar" fmt.txt
}

# push_layered REPO oci|docker LAYER_MT LAYER_FILE LAYER_TAR [URLS_JSON] [canned|canned-skip]:
# REPO:v1, the sh image's layer plus a second layer (LAYER_FILE, of media type LAYER_MT, whose
# tar is LAYER_TAR), with `urls` on it when given. The registry refuses manifests with urls
# (validation.manifests.urls.allow is empty): "canned" uploads the blobs only, for a proxy
# to serve the manifest, $T/man-<repo with dashes>.json; "canned-skip" leaves the second
# layer out of the registry too.
push_layered() {
	local repo=$1 fmt=$2 lmt=$3 lf=$4 ltar=$5 urls=${6:-null} up=${7:-}
	local cfg=$T/cfg-${repo//\//-}.json man=$T/man-${repo//\//-}.json mt cmt shmt
	jq -c --arg d "sha256:$(sha "$ltar")" '.rootfs.diff_ids += [$d]' \
		"$SHD/blobs/sha256/${SH_CONFIG#sha256:}" >"$cfg"
	if [ "$fmt" = docker ]; then
		mt=application/vnd.docker.distribution.manifest.v2+json
		cmt=application/vnd.docker.container.image.v1+json
		shmt=application/vnd.docker.image.rootfs.diff.tar.gzip
	else
		mt=application/vnd.oci.image.manifest.v1+json
		cmt=application/vnd.oci.image.config.v1+json
		shmt=application/vnd.oci.image.layer.v1.tar+gzip
	fi
	jq -n -c --arg mt "$mt" --arg cmt "$cmt" --arg cd "sha256:$(sha "$cfg")" \
		--argjson cs "$(stat -c %s "$cfg")" --arg shmt "$shmt" --arg shd "$SH_LAYER" \
		--argjson shs "$(stat -c %s "$SH_LAYER_FILE")" --arg lmt "$lmt" \
		--arg ld "sha256:$(sha "$lf")" --argjson ls "$(stat -c %s "$lf")" --argjson urls "$urls" \
		'{schemaVersion: 2, mediaType: $mt, config: {mediaType: $cmt, digest: $cd, size: $cs},
		  layers: [{mediaType: $shmt, digest: $shd, size: $shs},
		           ({mediaType: $lmt, digest: $ld, size: $ls} +
		            (if $urls then {urls: $urls} else {} end))]}' >"$man"
	put_blob "$repo" "$cfg" && put_blob "$repo" "$SH_LAYER_FILE" &&
		{ [ "$up" = canned-skip ] || put_blob "$repo" "$lf"; } &&
		{ [ -n "$up" ] || curl -fsS -X PUT -H "Content-Type: $mt" --data-binary @"$man" \
			-o /dev/null "http://$REGISTRY/v2/$repo/manifests/v1"; }
}

# sum_bytes LOG DIGEST: body bytes the proxy forwarded for blob DIGEST
sum_bytes() {
	grep -F "/blobs/$2 " "$1" | sed -n 's/.* bytes=\([0-9]*\) .*/\1/p' | awk '{ s += $1 } END { print s + 0 }'
}

it_setup
[ -n "${TRANSFERS_DEBUG:-}" ] && set -x
IT_REGISTRY_ACCESSLOG=1 registry_start || { it_not_ok "registry starts"; it_summary; exit 1; }
BIG_IMAGE_MB=2 bash "$IT_TOP/test/images/build.sh" "$T/big2" >/dev/null &&
	BIG_IMAGE_MB=3 bash "$IT_TOP/test/images/build.sh" "$T/big3" >/dev/null &&
	BIG_IMAGE_MB=5 bash "$IT_TOP/test/images/build.sh" "$T/big5" >/dev/null ||
	{ it_not_ok "build the big images"; it_summary; exit 1; }
push_image sh test/sh:v1
push_image extra test/extra:v1
for n in 2 3; do
	timeout 120 skopeo copy --quiet --dest-tls-verify=false "oci:$T/big$n/big:v1" \
		"docker://$REGISTRY/test/big$n:v1"
done
for r in big5a big5b; do
	timeout 120 skopeo copy --quiet --dest-tls-verify=false "oci:$T/big5/big:v1" \
		"docker://$REGISTRY/test/$r:v1"
done

# The sh image's parts, and layers of each format on top of it.
SHD=$IMAGES/sh
SH_MANIFEST=$SHD/blobs/sha256/$(jq -r '.manifests[0].digest' "$SHD/index.json" | cut -d: -f2)
SH_LAYER=$(jq -r '.layers[0].digest' "$SH_MANIFEST")
SH_CONFIG=$(jq -r '.config.digest' "$SH_MANIFEST")
SH_LAYER_FILE=$SHD/blobs/sha256/${SH_LAYER#sha256:}
new_layer zstd "a zstd layer" && zstd -q -c "$T/zstd.tar" >"$T/zstd.tar.zst"
new_layer plain "an uncompressed layer"
new_layer dplain "an uncompressed docker layer"
new_layer foreign "a foreign layer from the registry" && gzip -n -c "$T/foreign.tar" >"$T/foreign.tgz"
new_layer furl "a foreign layer from its url" && gzip -n -c "$T/furl.tar" >"$T/furl.tgz"
push_layered test/zstd oci application/vnd.oci.image.layer.v1.tar+zstd "$T/zstd.tar.zst" \
	"$T/zstd.tar" &&
	push_layered test/plain oci application/vnd.oci.image.layer.v1.tar "$T/plain.tar" \
		"$T/plain.tar" &&
	push_layered test/dplain docker application/vnd.docker.image.rootfs.diff.tar \
		"$T/dplain.tar" "$T/dplain.tar" &&
	push_layered test/foreign oci application/vnd.oci.image.layer.nondistributable.v1.tar+gzip \
		"$T/foreign.tgz" "$T/foreign.tar" '["http://127.0.0.1:1/never-asked"]' canned &&
	put_blob test/elsewhere "$T/furl.tgz" &&
	push_layered test/furl docker application/vnd.docker.image.rootfs.foreign.diff.tar.gzip \
		"$T/furl.tgz" "$T/furl.tar" \
		"[\"ftp://127.0.0.1/not-http\", \"http://$REGISTRY/v2/test/elsewhere/blobs/sha256:$(sha "$T/furl.tgz")\"]" \
		canned-skip || { it_not_ok "push the images of every layer format"; it_summary; exit 1; }
check "the registry lacks the foreign layer of test/furl" \
	test "$(curl -s -o /dev/null -w '%{http_code}' \
		"http://$REGISTRY/v2/test/furl/blobs/sha256:$(sha "$T/furl.tgz")")" = 404

# A Docker schema 1 manifest (the registry would not store one: a proxy serves it).
printf '{"schemaVersion": 1, "name": "test/old", "tag": "v1", "architecture": "amd64", "fsLayers": [{"blobSum": "%s"}], "history": [{"v1Compatibility": "{}"}], "signatures": []}' \
	"$SH_LAYER" >"$T/v1.json"

CUT=200000
proxy cut --cut-after $CUT
proxy cutnr --cut-after $CUT --ignore-range
proxy busy --fail-status 503 --fail-count 2 --retry-after 1
proxy limited --fail-status 429 --fail-count 1000 --retry-after 0
proxy stall --stall-blobs --cut-after 1000
proxy slow --slow-blobs 15
proxy v1 --manifest "$T/v1.json" --manifest-type application/vnd.docker.distribution.manifest.v1+prettyjws
proxy v1json --manifest "$T/v1.json" --manifest-type "application/json; charset=utf-8"
proxy foreign --manifest "$T/man-test-foreign.json" \
	--manifest-type application/vnd.oci.image.manifest.v1+json
proxy furl --manifest "$T/man-test-furl.json" \
	--manifest-type application/vnd.docker.distribution.manifest.v2+json
IT_IMAGED='"retry_attempts": 4, "retry_max_delay_ms": 1500, "job_stall_timeout_ms": 2000'
suite_start || { it_not_ok "suite starts"; it_summary; exit 1; }
it_ok "a registry, ten proxies in front of it and the daemons start"

# --- a connection cut mid-blob: Range from where it broke -----------------------------------
expect_exit "a pull through connections cut after $CUT bytes of every blob succeeds" 0 \
	b images pull "$P_cut/test/big3:v1"
L=$T/logs/proxy-cut.log
skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/test/big3:v1" |
	jq -r '.layers[] | "\(.digest) \(.size)"' >"$T/big3.layers"
ok=1 detail=""
while read -r d size; do
	[ "$size" -gt $CUT ] || continue
	first=$(grep -F "/blobs/$d " "$L" | head -n 1)
	second=$(grep -F "/blobs/$d " "$L" | sed -n 2p)
	moved=$(sum_bytes "$L" "$d")
	case "$first" in *"range=- status=200 bytes=$CUT cut"*) ;; *) ok=0 ;; esac
	case "$second" in *"range=bytes=$CUT- status=206 bytes=$((size - CUT)) forward"*) ;; *) ok=0 ;; esac
	[ "$moved" -eq "$size" ] || ok=0
	detail+="$d: $size bytes, $moved moved; "
done <"$T/big3.layers"
if [ $ok = 1 ]; then
	it_ok "each cut blob continued with Range: bytes=$CUT-, bytes moved = blob sizes ($detail)"
else
	it_not_ok "each cut blob continued with Range: bytes=$CUT-, bytes moved = blob sizes" \
		"$detail" "$(cat "$L")"
fi
expect_contains "the retries are logged with the blob's URL" "$T/logs/imaged.log" \
	"IMAGE-PULL-RETRY: GET http://$P_cut/v2/test/big3/blobs/sha256:"
expect_out "the image pulled through cut connections runs" "hello" \
	b run --rm "$P_cut/test/big3:v1" echo hello

# A registry that ignores Range: the retry gets the whole blob and skips what was read.
expect_exit "a pull through cut connections to a registry that ignores Range succeeds" 0 \
	b images pull "$P_cutnr/test/big2:v1"
L=$T/logs/proxy-cutnr.log
skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/test/big2:v1" |
	jq -r '.layers[1:][] | "\(.digest) \(.size)"' >"$T/big2.layers"
ok=1 detail=""
while read -r d size; do
	second=$(grep -F "/blobs/$d " "$L" | sed -n 2p)
	moved=$(sum_bytes "$L" "$d")
	case "$second" in *"range=bytes=$CUT- status=200 bytes=$size forward"*) ;; *) ok=0 ;; esac
	[ "$moved" -eq $((size + CUT)) ] || ok=0
	detail+="$d: $size bytes, $moved moved; "
done <"$T/big2.layers"
if [ $ok = 1 ]; then
	it_ok "each cut blob came again whole (200 to the Range), $CUT bytes more moved ($detail)"
else
	it_not_ok "each cut blob came again whole (200 to the Range)" "$detail" "$(cat "$L")"
fi
expect_out "the image pulled from a registry that ignores Range runs" "hello" \
	b run --rm "$P_cutnr/test/big2:v1" echo hello

# --- 503 and 429 with Retry-After -------------------------------------------------------------
start=$(date +%s%N)
expect_exit "a pull answered 503 (Retry-After: 1) twice first succeeds" 0 \
	b images pull "$P_busy/test/sh:v1"
ms=$((($(date +%s%N) - start) / 1000000))
if [ "$ms" -ge 1900 ] && [ "$(grep -c ' status=503 .* fail' "$T/logs/proxy-busy.log")" = 2 ]; then
	it_ok "both Retry-After waits were honoured ($ms ms, two 503s in the proxy's log)"
else
	it_not_ok "both Retry-After waits were honoured" "$ms ms" "$(cat "$T/logs/proxy-busy.log")"
fi
expect_exit "a registry that always answers 429 fails the pull (UNAVAILABLE)" 6 \
	b images pull "$P_limited/test/sh:v1"
expect_contains "the error says how many attempts were made" "$T/stderr" \
	"/manifests/v1: 429 Try Again (gave up after 4 attempts)"
check "the 429 registry was asked 4 times" \
	test "$(grep -c ' status=429 ' "$T/logs/proxy-limited.log")" = 4
expect_exit "a tag the registry does not have is NOT_FOUND" 3 b images pull "$P_cut/test/sh:nope"
check "and was asked for once (404 is not retried)" \
	test "$(grep -c 'manifests/nope ' "$T/logs/proxy-cut.log")" = 1

# --- a stalled blob -------------------------------------------------------------------------
start=$(date +%s%N)
expect_exit "a pull whose blob stops flowing fails with DEADLINE_EXCEEDED" 7 \
	b images pull "$P_stall/test/extra:v1"
ms=$((($(date +%s%N) - start) / 1000000))
expect_contains "the error names the stalled request and the setting" "$T/stderr" \
	"/v2/test/extra/blobs/sha256:"
expect_contains "the error says what it waited for" "$T/stderr" \
	"the body stopped after 1000 bytes: nothing for 2000 ms (imaged.job_stall_timeout_ms)"
if [ "$ms" -ge 2000 ] && [ "$ms" -lt 15000 ]; then
	it_ok "the stalled pull ended after the stall timeout ($ms ms)"
else
	it_not_ok "the stalled pull ended after the stall timeout" "$ms ms"
fi
check "no image test/extra after the failed pull" \
	test "$(b --format json images ls | jq '[.[] | select(.name | contains("test/extra"))] | length')" = 0

# --- two pulls at once share their downloads ------------------------------------------------
b images pull "$P_slow/test/big5a:v1" >"$T/pull-a.out" 2>&1 &
pa=$!
b images pull "$P_slow/test/big5b:v1" >"$T/pull-b.out" 2>&1 &
pb=$!
wait $pa
ra=$?
wait $pb
rb=$?
check "two pulls at once of images sharing two 5 MiB layers succeed" test "$ra$rb" = 00
skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/test/big5a:v1" |
	jq -r '.layers[1:][].digest' >"$T/big5.layers" # the first, sh's, is in contentd already
ok=1 detail=""
while read -r d; do
	n=$(grep -cE "\"GET /v2/test/big5[ab]/blobs/$d " "$T/logs/registry.log")
	[ "$n" = 1 ] || ok=0
	detail+="$d: $n; "
done <"$T/big5.layers"
if [ $ok = 1 ]; then
	it_ok "the registry's access log shows one GET of each shared blob ($detail)"
else
	it_not_ok "the registry's access log shows one GET of each shared blob" "$detail"
fi

# --- layer formats ---------------------------------------------------------------------------
for f in zstd plain dplain; do
	expect_exit "pull an image with $(cat "$T/$f.d/fmt.txt")" 0 b images pull "$REGISTRY/test/$f:v1"
	expect_out "its layer is unpacked and runs" "$(cat "$T/$f.d/fmt.txt")" \
		b run --rm "$REGISTRY/test/$f:v1" cat /fmt.txt
done

# --- schema 1 --------------------------------------------------------------------------------
expect_exit "a schema 1 manifest (v1+prettyjws) is refused (NOT_IMPLEMENTED)" 11 \
	b images pull "$P_v1/test/old:v1"
expect_contains "the refusal names schema 1 and what to do" "$T/stderr" \
	"Docker schema 1 manifest, a format retired in 2019 and not supported: push the image again with a current client"
expect_exit "a schema 1 manifest sent as application/json is refused too" 11 \
	b images pull "$P_v1json/test/old:v1"
expect_contains "that refusal names schema 1 too" "$T/stderr" "Docker schema 1 manifest"

# --- foreign layers (their manifests served by proxies) ---------------------------------------
expect_exit "pull an image with a nondistributable layer the registry has" 0 \
	b images pull "$P_foreign/test/foreign:v1"
expect_out "its foreign layer came from the registry" "a foreign layer from the registry" \
	b run --rm "$P_foreign/test/foreign:v1" cat /fmt.txt
check "the foreign layer was a GET of the registry" \
	grep -q "/v2/test/foreign/blobs/sha256:$(sha "$T/foreign.tgz") range=- status=200" \
	"$T/logs/proxy-foreign.log"
expect_exit "pull an image with a foreign layer only its urls have" 0 \
	b images pull "$P_furl/test/furl:v1"
expect_out "its foreign layer came from the url" "a foreign layer from its url" \
	b run --rm "$P_furl/test/furl:v1" cat /fmt.txt
check "the registry was asked first, and said 404" \
	grep -q "/v2/test/furl/blobs/sha256:$(sha "$T/furl.tgz") range=- status=404" \
	"$T/logs/proxy-furl.log"
check "the url was asked after the registry said 404" \
	grep -qE "\"GET /v2/test/elsewhere/blobs/sha256:$(sha "$T/furl.tgz") HTTP/1.1\" 200" \
	"$T/logs/registry.log"

it_summary
