#!/usr/bin/env bash
# Builds the test and demo images from local files only: Debian's busybox-static
# (/bin/busybox) and the files written below. Each image is an OCI image layout directory
# OUTDIR/<name>/ and the same layout as a tar archive OUTDIR/<name>.tar (what
# `berth images import` takes). Output is deterministic: the same digests on every run.
#
#   sh          one gzip layer: busybox, its applets, /etc/passwd, /tmp; Cmd ["sh"]
#   layers      sh + an uncompressed layer adding /data/{keep,gone} and /opaque/{old1,old2}
#               + a gzip layer that whites out /data/gone and makes /opaque opaque with /opaque/new
#   stopsig     sh with StopSignal SIGUSR1 (berth stop sends it instead of SIGTERM)
#   berth-demo  sh with a Cmd that prints a greeting
#   extra       sh + a layer no other image has
#   multi       an index: the sh manifest for linux/amd64 and one for linux/arm64
#   defects     sh + a plain layer adding /deep/{keep-no,a/old2,a/b/old} + a gzip layer that
#               writes /deep/a/b/new, then makes /deep opaque (the marker after its own
#               entries), and whites out a /tmp/nothing that never existed without listing
#               /tmp (so /tmp is only an implied parent); it must unpack to /deep/a/b/new
#               alone below /deep and keep /tmp 1777
#   big         (BIG_IMAGE_MB=N only) sh + two incompressible layers of N MiB each
#
# Usage: test/images/build.sh OUTDIR
set -euo pipefail

out=${1:?usage: build.sh OUTDIR}
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || { echo "build.sh: $busybox not found (install busybox-static)" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

TAR=(tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=posix
	--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime)

sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

# new_layout NAME: an empty OCI layout directory
new_layout() {
	rm -rf "${out:?}/$1" "$out/$1.tar"
	mkdir -p "$out/$1/blobs/sha256"
	printf '{"imageLayoutVersion":"1.0.0"}' >"$out/$1/oci-layout"
}

# add_blob LAYOUT FILE: store FILE in the layout; prints "sha256:<hex> <size>"
add_blob() {
	local d
	d=$(sha "$2")
	cp "$2" "$out/$1/blobs/sha256/$d"
	echo "sha256:$d $(size "$2")"
}

# make_layer DIR NAME gzip|plain [MEMBER...]: tar DIR into $work/NAME.tar[.gz], or only the
# MEMBERs of DIR, in the order given and without recursing into directories; sets
# layer_file, layer_diffid, layer_mt
make_layer() {
	local dir=$1 name=$2 comp=$3
	shift 3
	if [ $# -eq 0 ]; then
		set -- .
	else
		set -- --no-recursion "$@"
	fi
	(cd "$dir" && "${TAR[@]}" -cf "$work/$name.tar" "$@")
	layer_diffid="sha256:$(sha "$work/$name.tar")"
	if [ "$comp" = gzip ]; then
		gzip -n -9 -c "$work/$name.tar" >"$work/$name.tar.gz"
		layer_file=$work/$name.tar.gz
		layer_mt=application/vnd.oci.image.layer.v1.tar+gzip
	else
		layer_file=$work/$name.tar
		layer_mt=application/vnd.oci.image.layer.v1.tar
	fi
}

# write_image LAYOUT ARCH CMD_JSON "file:mt:diffid ..." -> sets manifest_desc (JSON descriptor)
# STOP_SIGNAL=NAME in the environment: the config's StopSignal.
write_image() {
	local layout=$1 arch=$2 cmd=$3
	shift 3
	local diffids="" layers="" f mt id d s stop=""
	[ -n "${STOP_SIGNAL:-}" ] && stop=",\"StopSignal\":\"$STOP_SIGNAL\""
	for l in "$@"; do
		IFS='|' read -r f mt id <<<"$l"
		read -r d s <<<"$(add_blob "$layout" "$f")"
		diffids+="${diffids:+,}\"$id\""
		layers+="${layers:+,}{\"mediaType\":\"$mt\",\"digest\":\"$d\",\"size\":$s}"
	done
	printf '{"architecture":"%s","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":%s,"WorkingDir":"/"%s},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
		"$arch" "$cmd" "$stop" "$diffids" >"$work/config.json"
	read -r d s <<<"$(add_blob "$layout" "$work/config.json")"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[%s]}' \
		"$d" "$s" "$layers" >"$work/manifest.json"
	read -r d s <<<"$(add_blob "$layout" "$work/manifest.json")"
	manifest_desc="{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"$d\",\"size\":$s"
}

# write_index LAYOUT TAG DESC...: index.json naming the image TAG
write_index() {
	local layout=$1 tag=$2
	shift 2
	local ms="" m
	for m in "$@"; do
		ms+="${ms:+,}$m,\"annotations\":{\"org.opencontainers.image.ref.name\":\"$tag\"}}"
	done
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}' \
		"$ms" >"$out/$layout/index.json"
	(cd "$out/$layout" && "${TAR[@]}" -cf "$out/$layout.tar" oci-layout index.json blobs)
}

# --- layer 1: busybox -------------------------------------------------------------------
base=$work/base
mkdir -p "$base/bin" "$base/etc" "$base/tmp" "$base/root" "$base/proc" "$base/sys" "$base/dev"
cp "$busybox" "$base/bin/busybox"
for a in sh echo cat ls true false sleep test id env hostname ps grep wc head tr seq kill \
	ip ifconfig mkdir rm touch uname printf; do
	ln -s busybox "$base/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$base/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$base/etc/group"
chmod 1777 "$base/tmp"
chmod 0700 "$base/root"
make_layer "$base" base gzip
base_layer="$layer_file|$layer_mt|$layer_diffid"

new_layout sh
write_image sh amd64 '["sh"]' "$base_layer"
sh_amd64=$manifest_desc
write_index sh v1 "$sh_amd64"

# --- layers: a whiteout and an opaque directory -----------------------------------------
l2=$work/l2
mkdir -p "$l2/data" "$l2/opaque"
echo keep >"$l2/data/keep"
echo gone >"$l2/data/gone"
echo old1 >"$l2/opaque/old1"
echo old2 >"$l2/opaque/old2"
make_layer "$l2" l2 plain
layer2="$layer_file|$layer_mt|$layer_diffid"
l3=$work/l3
mkdir -p "$l3/data" "$l3/opaque"
: >"$l3/data/.wh.gone"
: >"$l3/opaque/.wh..wh..opq"
echo new >"$l3/opaque/new"
make_layer "$l3" l3 gzip
layer3="$layer_file|$layer_mt|$layer_diffid"

new_layout layers
write_image layers amd64 '["sh"]' "$base_layer" "$layer2" "$layer3"
write_index layers v1 "$manifest_desc"

# --- the demo image ---------------------------------------------------------------------
new_layout stopsig
STOP_SIGNAL=SIGUSR1 write_image stopsig amd64 '["sh"]' "$base_layer"
write_index stopsig v1 "$manifest_desc"

new_layout berth-demo
write_image berth-demo amd64 \
	'["sh","-c","echo \"Hello from Berth! This container runs busybox as uid $(id -u) on $(hostname).\""]' \
	"$base_layer"
write_index berth-demo latest "$manifest_desc"

# --- extra: one layer that no other image has (for tests that corrupt a blob) -------------
l4=$work/l4
mkdir -p "$l4/extra"
seq 1 2000 >"$l4/extra/numbers"
make_layer "$l4" l4 gzip
new_layout extra
write_image extra amd64 '["sh"]' "$base_layer" "$layer_file|$layer_mt|$layer_diffid"
write_index extra v1 "$manifest_desc"

# --- defects: an opaque directory over nested lower content, and an implied /tmp --------
l5=$work/l5
mkdir -p "$l5/deep/a/b"
echo old >"$l5/deep/a/b/old"
echo old2 >"$l5/deep/a/old2"
echo no >"$l5/deep/keep-no"
make_layer "$l5" l5 plain
layer5="$layer_file|$layer_mt|$layer_diffid"
l6=$work/l6
mkdir -p "$l6/deep/a/b" "$l6/tmp"
echo new >"$l6/deep/a/b/new"
: >"$l6/deep/.wh..wh..opq"
: >"$l6/tmp/.wh.nothing"
make_layer "$l6" l6 gzip ./deep ./deep/a ./deep/a/b ./deep/a/b/new ./deep/.wh..wh..opq \
	./tmp/.wh.nothing
new_layout defects
write_image defects amd64 '["sh"]' "$base_layer" "$layer5" "$layer_file|$layer_mt|$layer_diffid"
write_index defects v1 "$manifest_desc"

# --- multi: an index with two platforms -------------------------------------------------
new_layout multi
write_image multi amd64 '["sh"]' "$base_layer"
amd=${manifest_desc},\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}
write_image multi arm64 '["sh"]' "$base_layer"
arm=${manifest_desc},\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"}
# The layout's index.json names one image, a nested index holding both platform manifests.
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s},%s}]}' \
	"$amd" "$arm" >"$work/index.json"
read -r d s <<<"$(add_blob multi "$work/index.json")"
write_index multi v1 "{\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"digest\":\"$d\",\"size\":$s"

built="sh layers berth-demo extra multi defects"

# --- big (only with BIG_IMAGE_MB=N): sh + two uncompressed layers of N MiB of pseudo-random
# bytes each (AES-CTR of zeros under a fixed key: incompressible, yet the same every run), for
# the suites that interrupt and resume downloads. -------------------------------------------
if [ -n "${BIG_IMAGE_MB:-}" ]; then
	big_layers=()
	for n in 1 2; do
		d=$work/big$n
		mkdir -p "$d/big"
		# head ends the stream early: openssl's SIGPIPE is expected
		(
			set +o pipefail
			openssl enc -aes-256-ctr -nosalt -pbkdf2 -pass "pass:berth-big-$n" </dev/zero \
				2>/dev/null | head -c $((BIG_IMAGE_MB * 1024 * 1024)) >"$d/big/data$n"
		)
		make_layer "$d" "big$n" plain
		big_layers+=("$layer_file|$layer_mt|$layer_diffid")
	done
	new_layout big
	write_image big amd64 '["sh"]' "$base_layer" "${big_layers[@]}"
	write_index big v1 "$manifest_desc"
	built="$built big"
fi

echo "built images in $out: $built"
