#!/usr/bin/env bash
# Image archives through the real CLI: `berth images export` in both formats read by skopeo
# (and podman when installed), archives written by skopeo imported both ways, several images
# in one archive, stdin, a round trip into a fresh namespace, and archives built to attack
# the importer refused with errors that name the member, leaving no image behind.
#
# Usage: test/integration/test_archives.sh [BUILD]   (as root)
BUILD=${1:-build}
source "$(dirname "$0")/lib.sh"

it_cleanup_extra() {
	[ -n "${STALL_PID:-}" ] && kill "$STALL_PID" 2>/dev/null
	[ -n "${EXPORT_PID:-}" ] && kill "$EXPORT_PID" 2>/dev/null
	return 0
}

it_setup
registry_start || { it_not_ok "registry starts"; it_summary; exit 1; }
push_image sh test/sh:v1
push_image layers test/layers:v1 --format v2s2
push_image multi test/multi:v1 --all
suite_start || { it_not_ok "suite starts"; it_summary; exit 1; }
SH=$REGISTRY/test/sh:v1
LAYERS=$REGISTRY/test/layers:v1
MULTI=$REGISTRY/test/multi:v1
b images pull "$SH" >/dev/null && b images pull "$LAYERS" >/dev/null &&
	b images pull "$MULTI" >/dev/null || { it_not_ok "pull the test images"; it_summary; exit 1; }
A=$T/archives
mkdir -p "$A"

# digests of image NAME: "target manifest config"
image_digests() {
	b --format json images ls | jq -r --arg n "$1" \
		'.[] | select(.name == $n) | "\(.digest) \(.manifest_digest) \(.config_digest)"'
}
# the layer digests of the manifest of an oci: layout directory (its one image)
layout_layers() {
	local dir=$1 m
	m=$(jq -r '.manifests[0].digest' "$dir/index.json")
	m=${m#sha256:}
	if jq -e '.manifests' "$dir/blobs/sha256/$m" >/dev/null 2>&1; then
		m=$(jq -r '[.manifests[] | select(.platform.architecture == "amd64")][0].digest' \
			"$dir/blobs/sha256/$m")
		m=${m#sha256:}
	fi
	jq -r '[.layers[].digest] | join(" ")' "$dir/blobs/sha256/$m"
}

# --- export: OCI image layout --------------------------------------------------------------
expect_exit "export an image as an OCI layout" 0 b images export -o "$A/sh-oci.tar" "$SH"
read -r sh_target sh_manifest sh_config <<<"$(image_digests "$SH")"
check "the archive holds oci-layout, index.json and the blobs" \
	bash -c "tar -tf '$A/sh-oci.tar' | grep -qx oci-layout && tar -tf '$A/sh-oci.tar' | grep -qx index.json && tar -tf '$A/sh-oci.tar' | grep -qx 'blobs/sha256/${sh_config#sha256:}'"
tar -xOf "$A/sh-oci.tar" index.json >"$T/index.json"
check "index.json names the image for containerd and skopeo" \
	jq -e --arg n "$SH" '.manifests[0].annotations["io.containerd.image.name"] == $n and .manifests[0].annotations["org.opencontainers.image.ref.name"] == "v1"' "$T/index.json"
expect_exit "skopeo inspect oci-archive: reads it" 0 \
	timeout 60 skopeo inspect --raw "oci-archive:$A/sh-oci.tar"
check "skopeo sees the image's manifest" \
	test "$(sha256sum <"$T/stdout" | cut -d' ' -f1)" = "${sh_manifest#sha256:}"
expect_exit "skopeo copy oci-archive: to an oci: directory" 0 \
	timeout 60 skopeo copy --quiet "oci-archive:$A/sh-oci.tar" "oci:$A/sh-dir:v1"
check "the copy has the image's manifest digest" \
	test "$(jq -r '.manifests[0].digest' "$A/sh-dir/index.json")" = "$sh_manifest"
mkdir -p "$A/sh-oci-x" && tar -xf "$A/sh-oci.tar" -C "$A/sh-oci-x"
check "and the same layer digests" \
	test "$(layout_layers "$A/sh-dir")" = "$(layout_layers "$A/sh-oci-x")"
check "export to stdout gives the same bytes" \
	bash -c "timeout 60 '$BUILD/berth' --address '$T/state/berth.sock' images export '$SH' | cmp - '$A/sh-oci.tar'"

expect_exit "berth save is the same command" 0 b save -o "$A/sh-save.tar" "$SH"
check "and writes the same archive" cmp "$A/sh-save.tar" "$A/sh-oci.tar"

# A multi-platform index of which one platform was pulled: the index and that platform.
expect_exit "export a multi-platform image" 0 b images export -o "$A/multi.tar" "$MULTI"
read -r multi_target multi_manifest _ <<<"$(image_digests "$MULTI")"
tar -xOf "$A/multi.tar" index.json >"$T/index.json"
check "index.json names the image's index, as pulled" \
	jq -e --arg d "$multi_target" '.manifests[0].digest == $d' "$T/index.json"
check "the pulled platform's manifest is in the archive" \
	bash -c "tar -tf '$A/multi.tar' | grep -qx 'blobs/sha256/${multi_manifest#sha256:}'"
expect_exit "skopeo copies the pulled platform out of it" 0 \
	timeout 60 skopeo copy --quiet "oci-archive:$A/multi.tar" "oci:$A/multi-dir:x"
expect_exit "export with --platform" 0 \
	b images export --platform linux/amd64 -o "$A/multi-amd64.tar" "$MULTI"
tar -xOf "$A/multi-amd64.tar" index.json >"$T/index.json"
check "index.json then names the platform's manifest" \
	jq -e --arg d "$multi_manifest" '.manifests[0].digest == $d and .manifests[0].platform.architecture == "amd64"' "$T/index.json"
expect_exit "a platform that was never pulled is refused" 3 \
	b images export --platform linux/arm64/v8 -o "$A/multi-arm.tar" "$MULTI"
expect_contains "the error says what is missing" "$T/stderr" "pull that platform first"
check "and leaves no file" test ! -e "$A/multi-arm.tar"
expect_exit "an image of one manifest for another platform is refused" 3 \
	b images export --platform linux/arm64 -o "$A/sh-arm.tar" "$SH"
expect_contains "the error names the platform" "$T/stderr" "is not for linux/arm64"

# --- export: docker-archive ----------------------------------------------------------------
expect_exit "export an image as a docker-archive" 0 \
	b images export --format docker -o "$A/layers-docker.tar" "$LAYERS"
tar -xOf "$A/layers-docker.tar" manifest.json >"$T/manifest.json"
read -r _ _ layers_config <<<"$(image_digests "$LAYERS")"
check "manifest.json names the config, the tag and the layers by diffID" \
	jq -e --arg c "${layers_config#sha256:}.json" --arg n "$LAYERS" \
	'length == 1 and .[0].Config == $c and .[0].RepoTags == [$n] and (.[0].Layers | length) == 3' "$T/manifest.json"
tar -xOf "$A/layers-docker.tar" "${layers_config#sha256:}.json" >"$T/config.json"
check "each layer is the uncompressed tar its name says" \
	bash -c "for l in \$(jq -r '.[0].Layers[]' '$T/manifest.json'); do test \"\$(tar -xOf '$A/layers-docker.tar' \$l | sha256sum | cut -d' ' -f1).tar\" = \"\$l\" || exit 1; done"
check "the layers are the config's diffIDs" \
	test "$(jq -r '[.[0].Layers[] | "sha256:" + rtrimstr(".tar")] | join(" ")' "$T/manifest.json")" = \
	"$(jq -r '.rootfs.diff_ids | join(" ")' "$T/config.json")"
expect_exit "skopeo copy docker-archive: to an oci: directory" 0 \
	timeout 60 skopeo copy --quiet "docker-archive:$A/layers-docker.tar" "oci:$A/layers-dir:v1"
check "the copy's config has the same diffIDs" \
	bash -c "m=\$(jq -r '.manifests[0].digest' '$A/layers-dir/index.json'); c=\$(jq -r .config.digest '$A/layers-dir/blobs/sha256/'\${m#sha256:}); test \"\$(jq -c .rootfs.diff_ids '$A/layers-dir/blobs/sha256/'\${c#sha256:})\" = \"\$(jq -c .rootfs.diff_ids '$T/config.json')\""
if command -v podman >/dev/null 2>&1; then
	PODROOT=$T/podman
	pod() { timeout 60 podman --root "$PODROOT/root" --runroot "$PODROOT/run" --storage-driver vfs "$@"; }
	expect_exit "podman load reads the docker-archive" 0 pod load -i "$A/layers-docker.tar"
	expect_contains "podman names the image" "$T/stdout" "test/layers:v1"
else
	it_skip "podman load reads the docker-archive" "podman not installed"
fi

# --- export errors -------------------------------------------------------------------------
# A client that stops reading and goes away: its job ends as canceled.
mkfifo "$T/stall"
sleep 60 <>"$T/stall" &
STALL_PID=$!
"$BUILD/berth" --address "$T/state/berth.sock" images export --format docker "$LAYERS" >"$T/stall" 2>/dev/null &
EXPORT_PID=$!
sleep 1
kill -KILL "$EXPORT_PID" 2>/dev/null # gone, as a client that crashed or was killed
wait "$EXPORT_PID" 2>/dev/null
went=0
for _ in $(seq 50); do
	grep -q "the client went away" "$T/logs/imaged.log" && { went=1; break; }
	sleep 0.1
done
kill "$STALL_PID" 2>/dev/null
wait "$STALL_PID" 2>/dev/null
check "a client that goes away cancels its export job" test "$went" = 1

expect_exit "an unknown image is NOT_FOUND" 3 b images export -o "$A/none.tar" "$REGISTRY/none:v1"
expect_contains "the error names it" "$T/stderr" "none:v1"
check "export to a terminal is refused" \
	bash -c "script -qec \"'$BUILD/berth' --address '$T/state/berth.sock' images export '$SH'\" /dev/null | grep -q 'refusing to write an archive to a terminal'"

# --- import: archives written by skopeo ----------------------------------------------------
tag_of() { jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]' "$IMAGES/$1/index.json"; }
timeout 60 skopeo copy --quiet "oci:$IMAGES/layers:$(tag_of layers)" "oci-archive:$A/sk-oci.tar:imp/oci:v1"
expect_exit "import an oci-archive written by skopeo" 0 b images import "$A/sk-oci.tar"
expect_out "the import names the image" "imported docker.io/imp/oci:v1" cat "$T/stdout"
expect_out "the imported image runs" "keep" b run --rm docker.io/imp/oci:v1 cat /data/keep
timeout 60 skopeo copy --quiet "oci:$IMAGES/layers:$(tag_of layers)" "docker-archive:$A/sk-docker.tar:imp/docker:v1"
expect_exit "import a docker-archive written by skopeo" 0 b images import "$A/sk-docker.tar"
expect_out "it is named by its RepoTags" "imported docker.io/imp/docker:v1" cat "$T/stdout"
expect_out "and runs" "keep" b run --rm docker.io/imp/docker:v1 cat /data/keep
check "its manifest is a Docker schema2 manifest Berth wrote" \
	bash -c "timeout 60 '$BUILD/berth' --address '$T/state/berth.sock' --format json images ls | jq -e '.[] | select(.name == \"docker.io/imp/docker:v1\") | .media_type == \"application/vnd.docker.distribution.manifest.v2+json\"'"
b images export -o "$A/imp-docker-oci.tar" docker.io/imp/docker:v1 >/dev/null
mkdir -p "$A/imp-docker-oci" && tar -xf "$A/imp-docker-oci.tar" -C "$A/imp-docker-oci"
check "with the layers' media types as found (uncompressed)" \
	bash -c "m=\$(jq -r '.manifests[0].digest' '$A/imp-docker-oci/index.json'); jq -e '[.layers[].mediaType] | unique == [\"application/vnd.docker.image.rootfs.diff.tar\"]' '$A/imp-docker-oci/blobs/sha256/'\${m#sha256:}"
timeout 60 skopeo copy --quiet --all "oci:$IMAGES/multi:$(tag_of multi)" "oci-archive:$A/sk-multi.tar:imp/multi:v1"
expect_exit "import a multi-platform archive (skopeo copy --all)" 0 b images import "$A/sk-multi.tar"
check "the configured platform was chosen" \
	bash -c "timeout 60 '$BUILD/berth' --address '$T/state/berth.sock' --format json images ls | jq -e '.[] | select(.name == \"docker.io/imp/multi:v1\") | .platform == \"linux/amd64\"'"
expect_exit "import it again for --platform linux/arm64/v8" 0 \
	b images import --platform linux/arm64/v8 --name imp/multi-arm:v1 "$A/sk-multi.tar"
check "the arm64 manifest was chosen" \
	bash -c "timeout 60 '$BUILD/berth' --address '$T/state/berth.sock' --format json images ls | jq -e '.[] | select(.name == \"docker.io/imp/multi-arm:v1\") | .platform | startswith(\"linux/arm64\")'"

# --- several images, stdin, round trips ----------------------------------------------------
expect_exit "export two images as one docker-archive" 0 \
	b images export --format docker -o "$A/two-docker.tar" "$SH" "$LAYERS"
expect_exit "import both into a fresh namespace" 0 b -n two images import "$A/two-docker.tar"
expect_out "each name is shown" "imported $SH
imported $LAYERS" cat "$T/stdout"
expect_out "both run" "keep" b -n two run --rm "$LAYERS" cat /data/keep
expect_exit "export two images as one OCI layout" 0 b images export -o "$A/two-oci.tar" "$SH" "$LAYERS"
expect_exit "--name picks one of them" 0 b -n pick images import --name "$LAYERS" "$A/two-oci.tar"
expect_out "only that one is imported" "$LAYERS" \
	bash -c "timeout 60 '$BUILD/berth' --address '$T/state/berth.sock' -n pick images ls -q"
expect_exit "import from stdin" 0 \
	bash -c "cat '$A/sh-oci.tar' | timeout 60 '$BUILD/berth' --address '$T/state/berth.sock' -n stdin images import -"
expect_out "names the image" "imported $SH" cat "$T/stdout"
check "an OCI round trip keeps every digest" \
	test "$(b -n stdin --format json images ls | jq -r --arg n "$SH" '.[] | select(.name == $n) | "\(.digest) \(.manifest_digest) \(.config_digest)"')" = "$sh_target $sh_manifest $sh_config"
expect_exit "a docker-archive round trip" 0 b -n rt images import "$A/layers-docker.tar"
check "keeps the config digest" \
	test "$(b -n rt --format json images ls | jq -r --arg n "$LAYERS" '.[] | select(.name == $n) | .config_digest')" = "$layers_config"
expect_out "and the image runs" "keep" b -n rt run --rm "$LAYERS" cat /data/keep

# --- archives that attack the importer -----------------------------------------------------
# evil NAME KIND: a docker-archive of the layers image with one defect
python3 - "$A" "$A/layers-docker.tar" <<'PY'
import io, json, sys, tarfile, hashlib
out, src = sys.argv[1], sys.argv[2]
t = tarfile.open(src)
man = json.load(t.extractfile("manifest.json"))
files = {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}
def write(name, members, manifest, links=()):
    with tarfile.open(f"{out}/{name}.tar", "w") as w:
        def add(n, data):
            ti = tarfile.TarInfo(n); ti.size = len(data); w.addfile(ti, io.BytesIO(data))
        add("manifest.json", json.dumps(manifest).encode())
        for n, d in members.items():
            add(n, d)
        for n, target in links:
            ti = tarfile.TarInfo(n); ti.type = tarfile.SYMTYPE; ti.linkname = target; w.addfile(ti)
m = json.loads(json.dumps(man)); m[0]["RepoTags"] = ["evil/dotdot:v1"]
write("dotdot", dict(files, **{"../x": b"x"}), m)
m = json.loads(json.dumps(man)); m[0]["RepoTags"] = ["evil/abs:v1"]
write("absolute", dict(files, **{"/etc/x": b"x"}), m)
m = json.loads(json.dumps(man)); m[0]["RepoTags"] = ["evil/missing:v1"]
gone = m[0]["Layers"][1]
write("missing", {k: v for k, v in files.items() if k != gone}, m)
m = json.loads(json.dumps(man)); m[0]["RepoTags"] = ["evil/diffid:v1"]
last = m[0]["Layers"][2]
bad = dict(files); bad[last] = files[m[0]["Layers"][1]]
write("diffid", bad, m)
m = json.loads(json.dumps(man)); m[0]["RepoTags"] = ["evil/link:v1"]; m[0]["Layers"][0] = "l/layer.tar"
write("link", files, m, links=[("l/layer.tar", "../../etc/passwd")])
# not evil: the legacy layout, <id>/layer.tar gzip-compressed, a repeated layer as a link
import gzip
m = json.loads(json.dumps(man)); m[0]["RepoTags"] = ["legacy/gz:v1"]
legacy = {}
for i, l in enumerate(m[0]["Layers"]):
    legacy[f"{i}/layer.tar"] = gzip.compress(files[l], mtime=0)
    m[0]["Layers"][i] = f"{i}/layer.tar"
legacy[m[0]["Config"]] = files[m[0]["Config"]]
m.append(dict(m[0], RepoTags=["legacy/again:v1"], Layers=["a/layer.tar"] + m[0]["Layers"][1:]))
write("legacy", legacy, m, links=[("a/layer.tar", "../0/layer.tar")])
# evil again: a gzip layer whose content is not the config's diffID
m = json.loads(json.dumps(man)); m[0]["RepoTags"] = ["evil/gzdiffid:v1"]
gz = {m[0]["Config"]: files[m[0]["Config"]]}
for i, l in enumerate(m[0]["Layers"]):
    gz[f"{i}.tar.gz"] = gzip.compress(files[man[0]["Layers"][1 if i == 2 else i]], mtime=0)
    m[0]["Layers"][i] = f"{i}.tar.gz"
write("gzdiffid", gz, m)
PY
expect_exit "a legacy docker-archive with gzip layers and a link" 0 b -n legacy images import "$A/legacy.tar"
expect_out "imports both of its images" "imported docker.io/legacy/gz:v1
imported docker.io/legacy/again:v1" cat "$T/stdout"
expect_out "which run" "keep" b -n legacy run --rm docker.io/legacy/again:v1 cat /data/keep
evil() {
	local name=$1 msg=$2
	expect_exit "$3 is refused" 1 b -n evil images import "$A/$name.tar"
	[ "$(cat "$T/stdout")" = "" ] || true
	expect_contains "the error says why" "$T/stderr" "$msg"
}
for case in "dotdot|member \"../x\": \"..\" leads out of the archive|a member ../x" \
	"absolute|member \"/etc/x\": an absolute path|an absolute member name" \
	"missing|which is not in the archive|a manifest.json naming a missing layer" \
	"diffid|but the config's diffID is|a layer whose diffID does not match the config" \
	"link|outside the archive|a link leading out of the archive" \
	"gzdiffid|diffID mismatch: the image config says|a gzip layer whose diffID does not match the config"; do
	IFS='|' read -r name msg what <<<"$case"
	b -n evil images import "$A/$name.tar" >"$T/stdout" 2>"$T/stderr"
	rc=$?
	if [ $rc -ne 0 ] && grep -qF -- "$msg" "$T/stderr"; then
		it_ok "$what is refused with a clear error"
	else
		it_not_ok "$what is refused with a clear error" "exit $rc: $(cat "$T/stderr")"
	fi
done
expect_out "and nothing of them is visible" "" b -n evil images ls -q

it_summary
