/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of common/oci.c: real-looking OCI and Docker manifests, indexes and configs;
 * refusal of bad digests, negative sizes, too many layers, contradicting media types,
 * ambiguous documents and non-objects; platform parsing and selection; chain IDs against
 * values computed with sha256sum; kind detection.
 */
#include "common/cleanup.h"
#include "common/oci.h"
#include "common/xalloc.h"
#include "test/unit/t.h"

#define T_CONTAINS(s, sub)                                                                         \
	do {                                                                                       \
		const char *t_s_ = (s), *t_sub_ = (sub);                                           \
		if (t_s_ == NULL || strstr(t_s_, t_sub_) == NULL)                                  \
			T_FAIL_("\"%s\" does not contain \"%s\"", t_s_ ? t_s_ : "(null)", t_sub_); \
	} while (0)

#define D1 "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define D2 "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define D3 "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define D4 "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
#define D5 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D6 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D7 "sha256:3333333333333333333333333333333333333333333333333333333333333333"
#define D8 "sha256:4444444444444444444444444444444444444444444444444444444444444444"
#define D9 "sha256:5555555555555555555555555555555555555555555555555555555555555555"

static const char oci_manifest[] =
        "{\n"
        "  \"schemaVersion\": 2,\n"
        "  \"mediaType\": \"application/vnd.oci.image.manifest.v1+json\",\n"
        "  \"config\": {\n"
        "    \"mediaType\": \"application/vnd.oci.image.config.v1+json\",\n"
        "    \"digest\": \"" D1 "\",\n"
        "    \"size\": 1472\n"
        "  },\n"
        "  \"layers\": [\n"
        "    {\"mediaType\": \"application/vnd.oci.image.layer.v1.tar+gzip\",\n"
        "     \"digest\": \"" D2 "\", \"size\": 3623807},\n"
        "    {\"mediaType\": \"application/vnd.oci.image.layer.v1.tar+zstd\",\n"
        "     \"digest\": \"" D3 "\", \"size\": 0,\n"
        "     \"annotations\": {\"org.opencontainers.image.title\": \"x\"}},\n"
        "    {\"mediaType\": \"application/vnd.oci.image.layer.v1.tar\",\n"
        "     \"digest\": \"" D4 "\", \"size\": 10240}\n"
        "  ],\n"
        "  \"annotations\": {\"org.opencontainers.image.created\": \"2024-01-27T00:00:00Z\"}\n"
        "}\n";

static const char docker_manifest[] =
        "{\"schemaVersion\":2,"
        "\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
        "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\","
        "\"size\":1457,\"digest\":\"" D1 "\"},"
        "\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\","
        "\"size\":2220094,\"digest\":\"" D2 "\"},"
        "{\"mediaType\":\"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip\","
        "\"size\":5,\"digest\":\"" D3 "\",\"urls\":[\"https://example.com/layer\"]}]}";

static const char docker_list[] =
        "{\"manifests\":["
        "{\"digest\":\"" D1
        "\",\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
        "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"},\"size\":528},"
        "{\"digest\":\"" D2
        "\",\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
        "\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v5\"},\"size\":528},"
        "{\"digest\":\"" D3
        "\",\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
        "\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v6\"},\"size\":528},"
        "{\"digest\":\"" D4
        "\",\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
        "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"},\"size\":"
        "528},"
        "{\"digest\":\"" D5
        "\",\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
        "\"platform\":{\"architecture\":\"386\",\"os\":\"linux\"},\"size\":528},"
        "{\"digest\":\"" D6
        "\",\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
        "\"platform\":{\"architecture\":\"amd64\",\"os\":\"windows\",\"os.version\":\"10.0.17763\"}"
        ","
        "\"size\":528}],"
        "\"mediaType\":\"application/vnd.docker.distribution.manifest.list.v2+json\","
        "\"schemaVersion\":2}";

static const char oci_index[] =
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
        "\"manifests\":["
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D1 "\","
        "\"size\":1000,\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\","
        "\"variant\":\"v3\"}},"
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D2 "\","
        "\"size\":1000,\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D3 "\","
        "\"size\":1000,\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"}},"
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D4 "\","
        "\"size\":1000,\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\","
        "\"variant\":\"v7\"}},"
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D5 "\","
        "\"size\":840,\"annotations\":{\"vnd.docker.reference.type\":\"attestation-manifest\"},"
        "\"platform\":{\"architecture\":\"unknown\",\"os\":\"unknown\"}},"
        "{\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"digest\":\"" D6 "\","
        "\"size\":300,\"platform\":{\"architecture\":\"s390x\",\"os\":\"linux\"}},"
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D7 "\","
        "\"size\":1000}"
        "]}";

static const char docker_config[] =
        "{\"architecture\":\"amd64\",\"config\":{\"Hostname\":\"\",\"Domainname\":\"\","
        "\"User\":\"\",\"AttachStdin\":false,\"Tty\":false,"
        "\"Env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\","
        "\"EMPTY=\"],"
        "\"Cmd\":[\"sh\"],\"Image\":\"" D9 "\",\"Volumes\":null,\"WorkingDir\":\"\","
        "\"Entrypoint\":null,\"OnBuild\":null,\"Labels\":null},"
        "\"container\":\"ba09b2c0a0b7\",\"created\":\"2023-07-18T23:19:33.655005962Z\","
        "\"docker_version\":\"20.10.23\",\"history\":[{\"created\":\"2023-07-18T23:19:33Z\","
        "\"created_by\":\"/bin/sh -c #(nop) ADD "
        "file:7e9002edaafd4e4579b65c8f0aaabde1aeb7fd3f8d95579f7"
        "fd3443cef785fd1 in / \"},{\"empty_layer\":true}],"
        "\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\",\"" D2 "\"]}}";

static const char oci_config[] =
        "{\"created\":\"2024-01-01T00:00:00Z\",\"architecture\":\"arm64\",\"variant\":\"v8\","
        "\"os\":\"linux\",\"config\":{\"User\":\"1000:1000\",\"Env\":[\"A=1\",\"B=x=y\"],"
        "\"Entrypoint\":[\"/docker-entrypoint.sh\"],\"Cmd\":[\"nginx\",\"-g\",\"daemon off;\"],"
        "\"WorkingDir\":\"/srv\",\"StopSignal\":\"SIGQUIT\","
        "\"ExposedPorts\":{\"80/tcp\":{}}},"
        "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";

static void
test_oci_manifest(void)
{
	struct br_oci_manifest *m = NULL;
	br_err err = BR_ERR_INIT;

	T_NOERR(br_oci_manifest_parse(oci_manifest, strlen(oci_manifest), BR_MT_OCI_MANIFEST, &m,
	                              &err),
	        err);
	T_EQ_STR(m->media_type, BR_MT_OCI_MANIFEST);
	T_EQ_STR(m->config.media_type, BR_MT_OCI_CONFIG);
	T_EQ_STR(m->config.digest, D1);
	T_EQ_INT(m->config.size, 1472);
	T_NULL(m->config.platform);
	T_EQ_INT(m->n_layers, 3);
	T_EQ_STR(m->layers[0].digest, D2);
	T_EQ_INT(m->layers[0].size, 3623807);
	T_EQ_INT(br_oci_layer_compression(m->layers[0].media_type), BR_OCI_COMP_GZIP);
	T_EQ_INT(br_oci_layer_compression(m->layers[1].media_type), BR_OCI_COMP_ZSTD);
	T_EQ_INT(m->layers[1].size, 0);
	T_EQ_INT(br_oci_layer_compression(m->layers[2].media_type), BR_OCI_COMP_NONE);
	T_OK(!m->layers[0].nondistributable);
	br_oci_manifest_free(m);
	br_oci_manifest_free(NULL);

	/* No hint, a generic hint, and a hint with parameters are all fine. */
	const char *hints[] = {NULL, "", "application/json", BR_MT_OCI_MANIFEST "; charset=utf-8"};
	for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++) {
		m = NULL;
		T_NOERR(br_oci_manifest_parse(oci_manifest, strlen(oci_manifest), hints[i], &m,
		                              &err),
		        err);
		T_EQ_STR(m->media_type, BR_MT_OCI_MANIFEST);
		br_oci_manifest_free(m);
	}
}

static void
test_docker_manifest(void)
{
	struct br_oci_manifest *m = NULL;
	br_err err = BR_ERR_INIT;

	T_NOERR(br_oci_manifest_parse(docker_manifest, strlen(docker_manifest),
	                              BR_MT_DOCKER_MANIFEST, &m, &err),
	        err);
	T_EQ_STR(m->media_type, BR_MT_DOCKER_MANIFEST);
	T_EQ_STR(m->config.media_type, BR_MT_DOCKER_CONFIG);
	T_EQ_INT(m->config.size, 1457);
	T_EQ_INT(m->n_layers, 2);
	T_EQ_INT(br_oci_layer_compression(m->layers[0].media_type), BR_OCI_COMP_GZIP);
	T_OK(!m->layers[0].nondistributable);
	T_EQ_STR(m->layers[1].media_type, BR_MT_DOCKER_LAYER_FOREIGN);
	T_OK(m->layers[1].nondistributable);
	br_oci_manifest_free(m);
}

/* An OCI manifest with one replacement applied (first occurrence of `from`). */
static char *
edited(const char *doc, const char *from, const char *to)
{
	const char *p = strstr(doc, from);
	if (p == NULL)
		T_FAIL_("\"%s\" not in the document", from);
	return xasprintf("%.*s%s%s", (int)(p - doc), doc, to, p + strlen(from));
}

static void
manifest_bad(const char *doc, const char *hint, br_code code, const char *want)
{
	struct br_oci_manifest *m = NULL;
	br_err err = BR_ERR_INIT;
	T_ERR(br_oci_manifest_parse(doc, strlen(doc), hint, &m, &err), err, code);
	T_NULL(m);
	T_CONTAINS(err.msg, "manifest: ");
	T_CONTAINS(err.msg, want);
}

static void
test_manifest_refused(void)
{
	_cleanup_free_ char *bad_digest = edited(oci_manifest, D2, "sha256:1234");
	manifest_bad(bad_digest, NULL, BR_INVALID_ARGUMENT,
	             "layers[0].digest: digest \"sha256:1234\": sha256 needs 64 lowercase hex");
	_cleanup_free_ char *upper = edited(oci_manifest, D1,
	                                    "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B9"
	                                    "34CA495991B7852B855");
	manifest_bad(upper, NULL, BR_INVALID_ARGUMENT, "config.digest: digest");
	_cleanup_free_ char *sha512 = edited(oci_manifest, D1, "sha512:abcdef");
	manifest_bad(sha512, NULL, BR_NOT_IMPLEMENTED, "config.digest");
	_cleanup_free_ char *neg = edited(oci_manifest, "3623807", "-1");
	manifest_bad(neg, NULL, BR_INVALID_ARGUMENT, "layers[0].size: -1 is negative");
	_cleanup_free_ char *fraction = edited(oci_manifest, "3623807", "1.5");
	manifest_bad(fraction, NULL, BR_INVALID_ARGUMENT, "layers[0].size: expected an integer");
	_cleanup_free_ char *huge = edited(oci_manifest, "3623807", "18446744073709551616");
	manifest_bad(huge, NULL, BR_INVALID_ARGUMENT, "layers[0].size: expected an integer");
	_cleanup_free_ char *str_size = edited(oci_manifest, "3623807", "\"3623807\"");
	manifest_bad(str_size, NULL, BR_INVALID_ARGUMENT, "layers[0].size: expected an integer");
	_cleanup_free_ char *no_size = edited(oci_manifest, ", \"size\": 10240", "");
	manifest_bad(no_size, NULL, BR_INVALID_ARGUMENT, "layers[2].size: missing");

	/* Media types. */
	manifest_bad(oci_manifest, BR_MT_DOCKER_MANIFEST, BR_INVALID_ARGUMENT,
	             "mediaType \"application/vnd.oci.image.manifest.v1+json\" contradicts "
	             "\"application/vnd.docker.distribution.manifest.v2+json\"");
	manifest_bad(oci_manifest, BR_MT_OCI_INDEX, BR_INVALID_ARGUMENT,
	             "served as \"application/vnd.oci.image.index.v1+json\", which is not a "
	             "manifest");
	_cleanup_free_ char *index_type = edited(oci_manifest, "manifest.v1+json\",\n  \"config",
	                                         "index.v1+json\",\n  \"config");
	manifest_bad(index_type, NULL, BR_INVALID_ARGUMENT,
	             "mediaType \"application/vnd.oci.image.index.v1+json\" is not a manifest");
	_cleanup_free_ char *layer_type =
	        edited(oci_manifest, "layer.v1.tar+gzip", "layer.v1.tar+lz4");
	manifest_bad(layer_type, NULL, BR_NOT_IMPLEMENTED,
	             "layers[0].mediaType \"application/vnd.oci.image.layer.v1.tar+lz4\" is not a "
	             "supported layer type");
	_cleanup_free_ char *config_as_layer =
	        edited(oci_manifest, "layer.v1.tar+gzip", "config.v1+json");
	manifest_bad(config_as_layer, NULL, BR_INVALID_ARGUMENT, "layers[0].mediaType");
	_cleanup_free_ char *artifact =
	        edited(oci_manifest, "image.config.v1+json", "cncf.helm.config.v1+json");
	manifest_bad(artifact, NULL, BR_NOT_IMPLEMENTED, "is not an image config");
	_cleanup_free_ char *junk_type =
	        edited(oci_manifest, "application/vnd.oci.image.layer.v1.tar\"", "not a type\"");
	manifest_bad(junk_type, NULL, BR_INVALID_ARGUMENT,
	             "layers[2].mediaType: \"not a type\" is "
	             "malformed");

	/* Shape. */
	_cleanup_free_ char *both =
	        edited(oci_manifest, "\"layers\"", "\"manifests\": [], \"layers\"");
	manifest_bad(both, NULL, BR_INVALID_ARGUMENT, "has a \"manifests\" member");
	_cleanup_free_ char *v1 =
	        edited(oci_manifest, "\"schemaVersion\": 2", "\"schemaVersion\": 1");
	manifest_bad(v1, NULL, BR_NOT_IMPLEMENTED, "schema 1");
	manifest_bad(v1, NULL, BR_NOT_IMPLEMENTED, "push the image again with a current client");
	T_OK(br_oci_is_schema1(NULL, v1, strlen(v1)));
	T_OK(br_oci_is_schema1("application/json", v1, strlen(v1)));
	T_OK(br_oci_is_schema1("application/vnd.docker.distribution.manifest.v1+prettyjws", "x",
	                       1));
	T_OK(br_oci_is_schema1("application/vnd.docker.distribution.manifest.v1+json; x=y", "", 0));
	T_OK(!br_oci_is_schema1(NULL, oci_manifest, strlen(oci_manifest)));
	T_OK(!br_oci_is_schema1("application/json", "{\"schemaVersion\": \"1\"}", 19));
	T_OK(!br_oci_is_schema1(NULL, "not json", 8));

	/* A foreign layer's urls: kept as they are, bounded. */
	_cleanup_free_ char *one_url =
	        edited(oci_manifest, "\"application/vnd.oci.image.layer.v1.tar\"",
	               "\"application/vnd.oci.image.layer.nondistributable.v1.tar\", "
	               "\"urls\": [\"https://example.com/x\", \"ftp://y\"]");
	struct br_oci_manifest *fm = NULL;
	br_err ferr = BR_ERR_INIT;
	T_NOERR(br_oci_manifest_parse(one_url, strlen(one_url), NULL, &fm, &ferr), ferr);
	T_EQ_INT(fm->layers[2].n_urls, 2);
	T_EQ_STR(fm->layers[2].urls[0], "https://example.com/x");
	T_EQ_STR(fm->layers[2].urls[1], "ftp://y");
	T_NULL(fm->layers[2].urls[2]);
	T_OK(fm->layers[2].nondistributable);
	br_oci_manifest_free(fm);
	char urls17[2048] = "\"urls\": [";
	for (int i = 0; i < 17; i++)
		strcat(urls17, i ? ", \"http://h/\"" : "\"http://h/\"");
	strcat(urls17, "], \"mediaType\": \"application/vnd.oci.image.layer.v1.tar\"");
	_cleanup_free_ char *too_many = edited(
	        oci_manifest, "\"mediaType\": \"application/vnd.oci.image.layer.v1.tar\"", urls17);
	manifest_bad(too_many, NULL, BR_RESOURCE_EXHAUSTED, "layers[2].urls: 17 URLs");
	_cleanup_free_ char *not_str =
	        edited(oci_manifest, "\"application/vnd.oci.image.layer.v1.tar\"",
	               "\"application/vnd.oci.image.layer.v1.tar\", \"urls\": [1]");
	manifest_bad(not_str, NULL, BR_INVALID_ARGUMENT, "layers[2].urls[0]: expected a string");
	_cleanup_free_ char *v3 =
	        edited(oci_manifest, "\"schemaVersion\": 2", "\"schemaVersion\": 3");
	manifest_bad(v3, NULL, BR_INVALID_ARGUMENT, "schemaVersion 3 is not 2");
	_cleanup_free_ char *no_layers = edited(oci_manifest, "\"layers\"", "\"layerz\"");
	manifest_bad(no_layers, NULL, BR_INVALID_ARGUMENT, "layers: missing");
	_cleanup_free_ char *layer_str =
	        edited(oci_manifest, "\"layers\": [\n", "\"layers\": [\"x\", ");
	manifest_bad(layer_str, NULL, BR_INVALID_ARGUMENT, "layers[0]: expected an object");
	manifest_bad("[]", NULL, BR_INVALID_ARGUMENT, "expected a JSON object");
	manifest_bad("\"manifest\"", NULL, BR_INVALID_ARGUMENT, "expected a JSON object");
	manifest_bad("{\"schemaVersion\": 2", NULL, BR_INVALID_ARGUMENT, "invalid JSON");
	manifest_bad("", NULL, BR_INVALID_ARGUMENT, "empty document");

	/* Too many layers. */
	size_t cap = 200 * (BR_OCI_MAX_LAYERS + 1) + 1024;
	_cleanup_free_ char *many = xmalloc(cap);
	size_t len = (size_t)snprintf(many, cap,
	                              "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"%s\","
	                              "\"digest\":\"%s\",\"size\":1},\"layers\":[",
	                              BR_MT_OCI_CONFIG, D1);
	for (int i = 0; i <= BR_OCI_MAX_LAYERS; i++)
		len += (size_t)snprintf(many + len, cap - len,
		                        "%s{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":1}",
		                        i ? "," : "", BR_MT_OCI_LAYER_GZIP, D2);
	snprintf(many + len, cap - len, "]}");
	manifest_bad(many, NULL, BR_RESOURCE_EXHAUSTED, "257 layers, more than the limit of 256");
}

static void
test_indexes(void)
{
	struct br_oci_index *idx = NULL;
	br_err err = BR_ERR_INIT;

	T_NOERR(br_oci_index_parse(docker_list, strlen(docker_list), BR_MT_DOCKER_LIST, &idx, &err),
	        err);
	T_EQ_STR(idx->media_type, BR_MT_DOCKER_LIST);
	T_EQ_INT(idx->n_manifests, 6);
	T_EQ_STR(idx->manifests[1].platform->architecture, "arm");
	T_EQ_STR(idx->manifests[1].platform->variant, "v5");
	T_NULL(idx->manifests[0].platform->variant);
	T_EQ_STR(idx->manifests[5].platform->os, "windows");
	br_oci_index_free(idx);
	br_oci_index_free(NULL);

	idx = NULL;
	T_NOERR(br_oci_index_parse(oci_index, strlen(oci_index), NULL, &idx, &err), err);
	T_EQ_STR(idx->media_type, BR_MT_OCI_INDEX);
	T_EQ_INT(idx->n_manifests, 7);
	T_NULL(idx->manifests[6].platform);
	br_oci_index_free(idx);

	/* An OCI layout's index.json has no mediaType. */
	const char *layout =
	        "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" BR_MT_OCI_MANIFEST
	        "\",\"digest\":\"" D1 "\",\"size\":7,\"annotations\":"
	        "{\"org.opencontainers.image.ref.name\":\"latest\"}}]}";
	idx = NULL;
	T_NOERR(br_oci_index_parse(layout, strlen(layout), NULL, &idx, &err), err);
	T_EQ_STR(idx->media_type, BR_MT_OCI_INDEX);
	br_oci_index_free(idx);

	struct br_oci_index *none = NULL;
	T_ERR(br_oci_index_parse(docker_list, strlen(docker_list), BR_MT_OCI_INDEX, &none, &err),
	      err, BR_INVALID_ARGUMENT);
	T_CONTAINS(err.msg, "index: mediaType");
	T_CONTAINS(err.msg, "contradicts");
	T_ERR(br_oci_index_parse(oci_manifest, strlen(oci_manifest), NULL, &none, &err), err,
	      BR_INVALID_ARGUMENT);
	T_CONTAINS(err.msg, "is not an index");
	_cleanup_free_ char *with_layers =
	        edited(layout, "\"manifests\"", "\"layers\":[],\"manifests\"");
	T_ERR(br_oci_index_parse(with_layers, strlen(with_layers), NULL, &none, &err), err,
	      BR_INVALID_ARGUMENT);
	T_CONTAINS(err.msg, "index: has a \"layers\" member");
	_cleanup_free_ char *no_platform_os = edited(docker_list, ",\"os\":\"linux\"},", "},");
	T_ERR(br_oci_index_parse(no_platform_os, strlen(no_platform_os), NULL, &none, &err), err,
	      BR_INVALID_ARGUMENT);
	T_CONTAINS(err.msg, "index: manifests[0].platform.os: missing");
	_cleanup_free_ char *bad_digest = edited(docker_list, D4, "sha256:zz");
	T_ERR(br_oci_index_parse(bad_digest, strlen(bad_digest), NULL, &none, &err), err,
	      BR_INVALID_ARGUMENT);
	T_CONTAINS(err.msg, "index: manifests[3].digest");
	T_ERR(br_oci_index_parse("{\"schemaVersion\":2,\"manifests\":{}}", 34, NULL, &none, &err),
	      err, BR_INVALID_ARGUMENT);
	T_CONTAINS(err.msg, "manifests: expected an array");
	T_NULL(none);

	size_t cap = 200 * (BR_OCI_MAX_MANIFESTS + 1) + 64;
	_cleanup_free_ char *many = xmalloc(cap);
	size_t len = (size_t)snprintf(many, cap, "{\"schemaVersion\":2,\"manifests\":[");
	for (int i = 0; i <= BR_OCI_MAX_MANIFESTS; i++)
		len += (size_t)snprintf(many + len, cap - len,
		                        "%s{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":1}",
		                        i ? "," : "", BR_MT_OCI_MANIFEST, D2);
	snprintf(many + len, cap - len, "]}");
	T_ERR(br_oci_index_parse(many, strlen(many), NULL, &none, &err), err,
	      BR_RESOURCE_EXHAUSTED);
	T_CONTAINS(err.msg, "1025 manifests, more than the limit of 1024");
}

static const char *
selected(const struct br_oci_index *idx, const char *os, const char *arch, const char *variant)
{
	const struct br_oci_descriptor *d = br_oci_index_select(idx, os, arch, variant);
	return d ? d->digest : "none";
}

static void
test_select(void)
{
	struct br_oci_index *list = NULL, *idx = NULL;
	br_err err = BR_ERR_INIT;

	T_NOERR(br_oci_index_parse(docker_list, strlen(docker_list), NULL, &list, &err), err);
	T_NOERR(br_oci_index_parse(oci_index, strlen(oci_index), NULL, &idx, &err), err);

	T_EQ_STR(selected(list, "linux", "amd64", NULL), D1);
	T_EQ_STR(selected(list, "linux", "x86_64", NULL), D1);
	T_EQ_STR(selected(list, "windows", "amd64", NULL), D6);
	T_EQ_STR(selected(list, "linux", "386", NULL), D5);
	T_EQ_STR(selected(list, "linux", "riscv64", NULL), "none");
	T_EQ_STR(selected(list, "darwin", "amd64", NULL), "none");
	/* arm64: "v8" and no variant are the same. */
	T_EQ_STR(selected(list, "linux", "arm64", NULL), D4);
	T_EQ_STR(selected(list, "linux", "arm64", "v8"), D4);
	T_EQ_STR(selected(list, "linux", "arm64", ""), D4);
	T_EQ_STR(selected(list, "linux", "aarch64", NULL), D4);
	T_EQ_STR(selected(idx, "linux", "arm64", "v8"), D3);
	T_EQ_STR(selected(idx, "linux", "arm64", NULL), D3);
	/* arm: exact first, else the highest lower variant; none requested takes the first. */
	T_EQ_STR(selected(list, "linux", "arm", "v6"), D3);
	T_EQ_STR(selected(list, "linux", "arm", "v5"), D2);
	T_EQ_STR(selected(list, "linux", "arm", "v7"), D3);
	T_EQ_STR(selected(list, "linux", "arm", "v8"), D3);
	T_EQ_STR(selected(list, "linux", "arm", NULL), D2);
	T_EQ_STR(selected(idx, "linux", "arm", "v6"), "none");
	T_EQ_STR(selected(idx, "linux", "arm", "v7"), D4);
	T_EQ_STR(selected(idx, "linux", "armhf", NULL), D4);
	/* No variant requested prefers the entry without one; a named variant must match. */
	T_EQ_STR(selected(idx, "linux", "amd64", NULL), D2);
	T_EQ_STR(selected(idx, "linux", "amd64", "v3"), D1);
	T_EQ_STR(selected(idx, "linux", "amd64", "v2"), "none");
	/* Nested indexes and entries without a platform are never chosen. */
	T_EQ_STR(selected(idx, "linux", "s390x", NULL), "none");
	br_oci_index_free(list);
	br_oci_index_free(idx);
}

static void
test_configs(void)
{
	struct br_oci_image_config *c = NULL;
	br_err err = BR_ERR_INIT;

	T_NOERR(br_oci_config_parse(docker_config, strlen(docker_config), &c, &err), err);
	T_EQ_STR(c->architecture, "amd64");
	T_EQ_STR(c->os, "linux");
	T_NULL(c->variant);
	T_EQ_STR(c->user, "");
	T_EQ_STR(c->env[0], "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	T_EQ_STR(c->env[1], "EMPTY=");
	T_NULL(c->env[2]);
	T_NULL(c->entrypoint);
	T_EQ_STR(c->cmd[0], "sh");
	T_NULL(c->cmd[1]);
	T_EQ_STR(c->working_dir, "");
	T_NULL(c->stop_signal);
	T_EQ_INT(c->n_diff_ids, 2);
	T_EQ_STR(c->diff_ids[0], D1);
	T_EQ_STR(c->diff_ids[1], D2);
	br_oci_config_free(c);
	br_oci_config_free(NULL);

	c = NULL;
	T_NOERR(br_oci_config_parse(oci_config, strlen(oci_config), &c, &err), err);
	T_EQ_STR(c->architecture, "arm64");
	T_EQ_STR(c->variant, "v8");
	T_EQ_STR(c->user, "1000:1000");
	T_EQ_STR(c->env[1], "B=x=y");
	T_EQ_STR(c->entrypoint[0], "/docker-entrypoint.sh");
	T_EQ_STR(c->cmd[2], "daemon off;");
	T_EQ_STR(c->working_dir, "/srv");
	T_EQ_STR(c->stop_signal, "SIGQUIT");
	T_EQ_INT(c->n_diff_ids, 0);
	br_oci_config_free(c);

	/* A config without a "config" section (scratch images built by some tools). */
	const char *bare = "{\"architecture\":\"amd64\",\"os\":\"linux\","
	                   "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D3 "\"]}}";
	c = NULL;
	T_NOERR(br_oci_config_parse(bare, strlen(bare), &c, &err), err);
	T_NULL(c->env);
	T_NULL(c->cmd);
	T_EQ_INT(c->n_diff_ids, 1);
	br_oci_config_free(c);
}

static void
config_bad(const char *doc, br_code code, const char *want)
{
	struct br_oci_image_config *c = NULL;
	br_err err = BR_ERR_INIT;
	T_ERR(br_oci_config_parse(doc, strlen(doc), &c, &err), err, code);
	T_NULL(c);
	T_CONTAINS(err.msg, "image config: ");
	T_CONTAINS(err.msg, want);
}

static void
test_config_refused(void)
{
	_cleanup_free_ char *bad_diff = edited(docker_config, D2, "sha256:abc");
	config_bad(bad_diff, BR_INVALID_ARGUMENT, "rootfs.diff_ids[1]: digest \"sha256:abc\"");
	_cleanup_free_ char *diff_num = edited(docker_config, "\"" D2 "\"", "7");
	config_bad(diff_num, BR_INVALID_ARGUMENT, "rootfs.diff_ids[1]: expected a string");
	_cleanup_free_ char *no_rootfs = edited(docker_config, "\"rootfs\"", "\"rootfz\"");
	config_bad(no_rootfs, BR_INVALID_ARGUMENT, "rootfs: missing");
	_cleanup_free_ char *type =
	        edited(docker_config, "\"type\":\"layers\"", "\"type\":\"dirs\"");
	config_bad(type, BR_INVALID_ARGUMENT, "rootfs.type: \"dirs\" is not \"layers\"");
	_cleanup_free_ char *no_os = edited(docker_config, "\"os\":\"linux\",", "");
	config_bad(no_os, BR_INVALID_ARGUMENT, "os: missing");
	_cleanup_free_ char *env_num = edited(docker_config, "\"EMPTY=\"", "3");
	config_bad(env_num, BR_INVALID_ARGUMENT, "config.Env[1]: expected a string");
	_cleanup_free_ char *env_noeq = edited(docker_config, "\"EMPTY=\"", "\"NOVALUE\"");
	config_bad(env_noeq, BR_INVALID_ARGUMENT, "config.Env[1]: \"NOVALUE\" is not NAME=VALUE");
	_cleanup_free_ char *cmd_str = edited(docker_config, "[\"sh\"]", "\"sh\"");
	config_bad(cmd_str, BR_INVALID_ARGUMENT, "config.Cmd: expected an array");
	_cleanup_free_ char *cfg_arr = edited(docker_config, "\"config\":{", "\"config\":[{");
	config_bad(cfg_arr, BR_INVALID_ARGUMENT, "invalid JSON");
	config_bad("[1]", BR_INVALID_ARGUMENT, "expected a JSON object");
	config_bad("null", BR_INVALID_ARGUMENT, "expected a JSON object");

	size_t cap = 80 * (BR_OCI_MAX_LAYERS + 1) + 256;
	_cleanup_free_ char *many = xmalloc(cap);
	size_t len = (size_t)snprintf(many, cap,
	                              "{\"architecture\":\"amd64\",\"os\":\"linux\","
	                              "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[");
	for (int i = 0; i <= BR_OCI_MAX_LAYERS; i++)
		len += (size_t)snprintf(many + len, cap - len, "%s\"%s\"", i ? "," : "", D1);
	snprintf(many + len, cap - len, "]}}");
	config_bad(many, BR_RESOURCE_EXHAUSTED, "rootfs.diff_ids: 257 layers");
}

static void
test_kinds_and_detect(void)
{
	T_EQ_INT(br_oci_kind_of(BR_MT_DOCKER_LIST), BR_OCI_INDEX);
	T_EQ_INT(br_oci_kind_of(BR_MT_OCI_INDEX), BR_OCI_INDEX);
	T_EQ_INT(br_oci_kind_of(BR_MT_DOCKER_MANIFEST), BR_OCI_MANIFEST);
	T_EQ_INT(br_oci_kind_of(BR_MT_OCI_CONFIG), BR_OCI_CONFIG);
	T_EQ_INT(br_oci_kind_of(BR_MT_OCI_LAYER_ND_GZIP), BR_OCI_LAYER);
	T_EQ_INT(br_oci_kind_of("application/json"), BR_OCI_UNKNOWN);
	T_EQ_INT(br_oci_kind_of(NULL), BR_OCI_UNKNOWN);
	T_EQ_INT(br_oci_layer_compression(BR_MT_DOCKER_LAYER_GZIP), BR_OCI_COMP_GZIP);
	T_EQ_INT(br_oci_layer_compression(BR_MT_OCI_LAYER_ND_GZIP), BR_OCI_COMP_GZIP);
	T_EQ_INT(br_oci_layer_compression(BR_MT_OCI_MANIFEST), -1);
	T_EQ_INT(br_oci_layer_compression("application/vnd.oci.image.layer.v1.tar+gzip+encrypted"),
	         -1);

	const char *mt = NULL;
	T_EQ_INT(br_oci_detect(oci_manifest, strlen(oci_manifest), &mt), BR_OCI_MANIFEST);
	T_EQ_STR(mt, BR_MT_OCI_MANIFEST);
	T_EQ_INT(br_oci_detect(docker_manifest, strlen(docker_manifest), &mt), BR_OCI_MANIFEST);
	T_EQ_STR(mt, BR_MT_DOCKER_MANIFEST);
	T_EQ_INT(br_oci_detect(docker_list, strlen(docker_list), &mt), BR_OCI_INDEX);
	T_EQ_STR(mt, BR_MT_DOCKER_LIST);
	T_EQ_INT(br_oci_detect(docker_config, strlen(docker_config), &mt), BR_OCI_CONFIG);
	T_EQ_STR(mt, BR_MT_OCI_CONFIG);
	const char *layout = "{\"schemaVersion\":2,\"manifests\":[]}";
	T_EQ_INT(br_oci_detect(layout, strlen(layout), &mt), BR_OCI_INDEX);
	T_EQ_STR(mt, BR_MT_OCI_INDEX);
	const char *bare_manifest = "{\"schemaVersion\":2,\"config\":{},\"layers\":[]}";
	T_EQ_INT(br_oci_detect(bare_manifest, strlen(bare_manifest), NULL), BR_OCI_MANIFEST);

	mt = "untouched";
	const char *both = "{\"manifests\":[],\"layers\":[]}";
	T_EQ_INT(br_oci_detect(both, strlen(both), &mt), BR_OCI_UNKNOWN);
	const char *contradict = "{\"mediaType\":\"" BR_MT_OCI_MANIFEST "\",\"manifests\":[]}";
	T_EQ_INT(br_oci_detect(contradict, strlen(contradict), &mt), BR_OCI_UNKNOWN);
	const char *schema1 = "{\"schemaVersion\":1,\"fsLayers\":[],\"layers\":[]}";
	T_EQ_INT(br_oci_detect(schema1, strlen(schema1), &mt), BR_OCI_UNKNOWN);
	const char *other = "{\"mediaType\":\"application/vnd.cncf.helm.chart\"}";
	T_EQ_INT(br_oci_detect(other, strlen(other), &mt), BR_OCI_UNKNOWN);
	T_EQ_INT(br_oci_detect("[]", 2, &mt), BR_OCI_UNKNOWN);
	T_EQ_INT(br_oci_detect("{", 1, &mt), BR_OCI_UNKNOWN);
	T_EQ_INT(br_oci_detect("", 0, &mt), BR_OCI_UNKNOWN);
	T_EQ_STR(mt, "untouched");
}

static void
test_platform_parse(void)
{
	struct br_oci_platform p = {0};
	br_err err = BR_ERR_INIT;

	T_NOERR(br_oci_platform_parse("linux/amd64", &p, &err), err);
	T_EQ_STR(p.os, "linux");
	T_EQ_STR(p.architecture, "amd64");
	T_NULL(p.variant);
	br_oci_platform_fini(&p);
	T_NOERR(br_oci_platform_parse("linux/arm64/v8", &p, &err), err);
	T_EQ_STR(p.variant, "v8");
	br_oci_platform_fini(&p);
	T_NOERR(br_oci_platform_parse("Linux/AArch64", &p, &err), err);
	T_EQ_STR(p.os, "linux");
	T_EQ_STR(p.architecture, "arm64");
	br_oci_platform_fini(&p);
	T_NOERR(br_oci_platform_parse("linux/armhf", &p, &err), err);
	T_EQ_STR(p.architecture, "arm");
	T_EQ_STR(p.variant, "v7");
	br_oci_platform_fini(&p);
	br_oci_platform_fini(NULL);

	const char *bad[] = {"linux",     "linux/",           "/amd64",
	                     "linux//v8", "linux/amd64/v8/x", "linux/amd 64",
	                     "",          "linux/amd64/"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct br_oci_platform q = {0};
		if (br_oci_platform_parse(bad[i], &q, &err) >= 0)
			T_FAIL_("platform \"%s\" was accepted", bad[i]);
		T_EQ_INT(err.code, BR_INVALID_ARGUMENT);
		T_CONTAINS(err.msg, "expected os/architecture[/variant]");
		T_NULL(q.os);
	}
}

static void
test_chain_id(void)
{
	const char diff_ids[3][BR_DIGEST_BUF] = {D1, D2, D3};
	char out[BR_DIGEST_BUF];

	br_oci_chain_id(diff_ids, 1, out);
	T_EQ_STR(out, D1);
	/* printf 'D1 D2' | sha256sum, and that chain with D3. */
	br_oci_chain_id(diff_ids, 2, out);
	T_EQ_STR(out, "sha256:a893da35bd22286079f2f3931516d3423eb9b4945f2379e0f8a501ec3d665dd6");
	br_oci_chain_id(diff_ids, 3, out);
	T_EQ_STR(out, "sha256:ea8c0e53649f21a5a824a4f75506fc7ffc4e5d22a126435c0fc367b648f7dfd6");
	br_oci_chain_id(diff_ids, 0, out);
	T_EQ_STR(out, "");
}

T_MAIN(T_CASE(test_oci_manifest), T_CASE(test_docker_manifest), T_CASE(test_manifest_refused),
       T_CASE(test_indexes), T_CASE(test_select), T_CASE(test_configs), T_CASE(test_config_refused),
       T_CASE(test_kinds_and_detect), T_CASE(test_platform_parse), T_CASE(test_chain_id))
