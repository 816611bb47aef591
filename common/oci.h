/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OCI image documents: descriptors, image manifests, image indexes and image configs, in
 * their OCI form and their Docker schema2 form (manifest list, manifest, container config),
 * which share one shape. Parsing is strict where safety needs it (digests, sizes, counts,
 * media types) and lenient where the specs ask readers to be (unknown fields are ignored).
 * All documents come from registries or archives and are untrusted; every parser here is a
 * fuzz target. Any thread.
 */
#ifndef BR_COMMON_OCI_H
#define BR_COMMON_OCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/digest.h"
#include "common/err.h"
#include "common/cleanup.h"

#define BR_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define BR_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define BR_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define BR_MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define BR_MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define BR_MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define BR_MT_OCI_LAYER_ND_GZIP "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
#define BR_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define BR_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define BR_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define BR_MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define BR_MT_DOCKER_LAYER_FOREIGN "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

#define BR_OCI_MAX_DOC (4u << 20) /* manifests, indexes and configs larger are refused */
#define BR_OCI_MAX_LAYERS 256
#define BR_OCI_MAX_MANIFESTS 1024
#define BR_OCI_MAX_URLS 16      /* "urls" of a descriptor */
#define BR_OCI_MAX_URL_LEN 2048 /* bytes of one of them */
#define BR_OCI_MAX_ENV 4096

/* What kind of document a media type names. */
enum br_oci_kind {
	BR_OCI_UNKNOWN = 0,
	BR_OCI_INDEX,    /* OCI index or Docker manifest list */
	BR_OCI_MANIFEST, /* OCI or Docker schema2 manifest */
	BR_OCI_CONFIG,
	BR_OCI_LAYER,
};

enum br_oci_compression {
	BR_OCI_COMP_NONE = 0,
	BR_OCI_COMP_GZIP,
	BR_OCI_COMP_ZSTD,
};

enum br_oci_kind br_oci_kind_of(const char *media_type);

/* What a refusal of a Docker schema 1 manifest says (NOT_IMPLEMENTED). */
#define BR_OCI_SCHEMA1_REFUSAL                                                              \
	"a Docker schema 1 manifest, a format retired in 2019 and not supported: push the " \
	"image again with a current client (docker, podman, buildah or skopeo), which "     \
	"writes schema 2 or OCI"
/* Whether a fetched document is a Docker schema 1 manifest: its Content-Type (may be NULL)
 * says so (v1+json, v1+prettyjws), or it is a JSON object with "schemaVersion": 1, as
 * registries sometimes send them with a plain JSON type. */
bool br_oci_is_schema1(const char *content_type, const char *buf, size_t len);
/* Compression of a layer media type; -1 if it is not a known layer type. */
int br_oci_layer_compression(const char *media_type);

struct br_oci_platform {
	char *os;           /* "linux" */
	char *architecture; /* "amd64" */
	char *variant;      /* may be NULL */
};

struct br_oci_descriptor {
	char *media_type;
	char digest[BR_DIGEST_BUF];
	int64_t size;                     /* >= 0, checked */
	struct br_oci_platform *platform; /* NULL when absent */
	/* A layer that registries need not serve (OCI "nondistributable" and Docker "foreign"
	 * layer types): the parser accepts it and sets this so that a puller can decide. */
	bool nondistributable;
	/* "urls": where else the content may be fetched from (NULL-terminated, may be NULL);
	 * strings as the document has them, at most BR_OCI_MAX_URLS of BR_OCI_MAX_URL_LEN */
	char **urls;
	size_t n_urls;
};

struct br_oci_manifest {
	char *media_type;
	struct br_oci_descriptor config;
	struct br_oci_descriptor *layers;
	size_t n_layers;
};

struct br_oci_index {
	char *media_type;
	struct br_oci_descriptor *manifests;
	size_t n_manifests;
};

struct br_oci_image_config {
	char *architecture;
	char *os;
	char *variant;
	/* "config" section */
	char *user;
	char **env;        /* NULL-terminated; may be NULL */
	char **entrypoint; /* NULL-terminated; may be NULL */
	char **cmd;        /* NULL-terminated; may be NULL */
	char *working_dir;
	char *stop_signal;
	/* rootfs.diff_ids, in layer order */
	char (*diff_ids)[BR_DIGEST_BUF];
	size_t n_diff_ids;
};

/* Parse a manifest (OCI or Docker schema2). `media_type_hint` is the Content-Type or the
 * descriptor's media type (may be NULL); a document whose own mediaType contradicts it is
 * refused. */
int br_oci_manifest_parse(const char *buf, size_t len, const char *media_type_hint,
                          struct br_oci_manifest **ret, br_err *err);
void br_oci_manifest_free(struct br_oci_manifest *m);
BR_DEFINE_CLEANUP(struct br_oci_manifest, br_oci_manifest_free)

/* Parse an index (OCI index or Docker manifest list), e.g. a registry's or an OCI layout's
 * index.json. */
int br_oci_index_parse(const char *buf, size_t len, const char *media_type_hint,
                       struct br_oci_index **ret, br_err *err);
void br_oci_index_free(struct br_oci_index *idx);
BR_DEFINE_CLEANUP(struct br_oci_index, br_oci_index_free)

int br_oci_config_parse(const char *buf, size_t len, struct br_oci_image_config **ret, br_err *err);
void br_oci_config_free(struct br_oci_image_config *c);
BR_DEFINE_CLEANUP(struct br_oci_image_config, br_oci_config_free)

/* Detect a document's kind from its own "mediaType" member, or from its shape
 * ("manifests" -> index, "layers" -> manifest) when that is absent. */
enum br_oci_kind br_oci_detect(const char *buf, size_t len, const char **ret_media_type_static);

/* Pick the manifest for `os`/`arch`/`variant` (variant may be NULL: any, preferring none or
 * "v8" rules as containerd's platform matcher). NULL if no entry matches. */
const struct br_oci_descriptor *br_oci_index_select(const struct br_oci_index *idx, const char *os,
                                                    const char *arch, const char *variant);

/* Parse "linux/amd64" or "linux/arm64/v8" into its parts (heap strings in ret). */
int br_oci_platform_parse(const char *s, struct br_oci_platform *ret, br_err *err);
void br_oci_platform_fini(struct br_oci_platform *p);

/* The chain ID of the first n diff IDs (image spec: ChainID(L0) = DiffID(L0),
 * ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))). */
void br_oci_chain_id(const char (*diff_ids)[BR_DIGEST_BUF], size_t n, char out[BR_DIGEST_BUF]);

#endif
