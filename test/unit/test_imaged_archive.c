/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of imaged/archive.c: the documents of the archives export writes (index.json,
 * a docker-archive's manifest.json and repositories) read back as skopeo and docker read them,
 * and the parser of a docker-archive's manifest.json on good and hostile input.
 */
#include "common/cleanup.h"
#include "common/json.h"
#include "common/oci.h"
#include "common/xalloc.h"
#include "imaged/archive.h"
#include "test/unit/t.h"

#define T_CONTAINS(s, sub)                                                                         \
	do {                                                                                       \
		const char *t_s_ = (s), *t_sub_ = (sub);                                           \
		if (t_s_ == NULL || strstr(t_s_, t_sub_) == NULL)                                  \
			T_FAIL_("\"%s\" does not contain \"%s\"", t_s_ ? t_s_ : "(null)", t_sub_); \
	} while (0)

#define DG1 "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define DG2 "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void
test_index_json(void)
{
	struct imaged_index_entry e[2] = {
	        {.media_type = BR_MT_OCI_INDEX,
	         .digest = DG1,
	         .size = 300,
	         .name = "reg.example/a/b:v1",
	         .ref_name = "v1"},
	        {.media_type = BR_MT_OCI_MANIFEST,
	         .digest = DG2,
	         .size = 12,
	         .os = "linux",
	         .architecture = "arm64",
	         .variant = "v8"},
	};
	size_t len;
	_cleanup_free_ char *doc = imaged_archive_index_json(e, 2, &len);
	struct br_oci_index *idx = NULL;
	br_err err = BR_ERR_INIT;

	T_NOERR(br_oci_index_parse(doc, len, NULL, &idx, &err), err);
	T_EQ_INT(idx->n_manifests, 2);
	T_EQ_STR(idx->manifests[0].digest, DG1);
	T_EQ_INT(idx->manifests[0].size, 300);
	T_NOT_NULL(idx->manifests[1].platform);
	T_EQ_STR(idx->manifests[1].platform->architecture, "arm64");
	T_EQ_STR(idx->manifests[1].platform->variant, "v8");
	br_oci_index_free(idx);

	yajl_val root = NULL, manifests = NULL, ann = NULL;
	const char *name = NULL, *tag = NULL;
	T_NOERR(br_json_parse(doc, len, len + 1, "index.json", &root, &err), err);
	T_NOERR(br_json_get_array(root, "", "manifests", true, &manifests, &err), err);
	T_NOERR(br_json_get_obj(manifests->u.array.values[0], "", "annotations", true, &ann, &err),
	        err);
	T_NOERR(br_json_get_str(ann, "", IMAGED_ANNOTATION_IMAGE_NAME, true, &name, &err), err);
	T_NOERR(br_json_get_str(ann, "", IMAGED_ANNOTATION_REF_NAME, true, &tag, &err), err);
	T_EQ_STR(name, "reg.example/a/b:v1");
	T_EQ_STR(tag, "v1");
	ann = NULL;
	T_NOERR(br_json_get_obj(manifests->u.array.values[1], "", "annotations", false, &ann, &err),
	        err);
	T_NULL(ann);
	yajl_tree_free(root);
}

static void
test_docker_manifest_round_trip(void)
{
	char *tags[] = {"reg.example/a:v1"};
	char *layers[] = {"aa.tar", "bb.tar"};
	struct imaged_docker_image im[2] = {
	        {.config = "cc.json", .tags = tags, .n_tags = 1, .layers = layers, .n_layers = 2},
	        {.config = "dd.json", .layers = layers, .n_layers = 1},
	};
	size_t len;
	_cleanup_free_ char *doc = imaged_archive_docker_manifest_json(im, 2, &len);
	struct imaged_docker_manifest *m = NULL;
	br_err err = BR_ERR_INIT;

	T_EQ_STR(doc, "[{\"Config\":\"cc.json\",\"RepoTags\":[\"reg.example/a:v1\"],\"Layers\":["
	              "\"aa.tar\",\"bb.tar\"]},{\"Config\":\"dd.json\",\"RepoTags\":[],\"Layers\":["
	              "\"aa.tar\"]}]");
	T_NOERR(imaged_archive_docker_manifest_parse(doc, len, &m, &err), err);
	T_EQ_INT(m->n_images, 2);
	T_EQ_STR(m->images[0].config, "cc.json");
	T_EQ_INT(m->images[0].n_tags, 1);
	T_EQ_STR(m->images[0].tags[0], "reg.example/a:v1");
	T_EQ_INT(m->images[0].n_layers, 2);
	T_EQ_STR(m->images[0].layers[1], "bb.tar");
	T_EQ_INT(m->images[1].n_tags, 0);
	imaged_docker_manifest_free(m);
}

static void
test_repositories(void)
{
	const char *tags[] = {"reg.example:5000/a:v1", "reg.example:5000/a:v2", "b"};
	const char *ids[] = {"11", "22", "33"};
	size_t len;
	_cleanup_free_ char *doc = imaged_archive_repositories_json(tags, ids, 3, &len);

	T_EQ_STR(doc, "{\"reg.example:5000/a\":{\"v1\":\"11\",\"v2\":\"22\"},\"b\":{\"latest\":"
	              "\"33\"}}");
}

static void
test_parse_legacy_and_nulls(void)
{
	const char doc[] = "[{\"Config\":\"./abc.json\",\"RepoTags\":null,\"Layers\":"
	                   "[\"x/layer.tar\",\"x//y/../layer.tar\"]}]";
	struct imaged_docker_manifest *m = NULL;
	br_err err = BR_ERR_INIT;

	/* "x//y/../layer.tar" names a parent: refused even though it stays inside. */
	T_ERR(imaged_archive_docker_manifest_parse(doc, sizeof(doc) - 1, &m, &err), err,
	      BR_INVALID_ARGUMENT);
	T_CONTAINS(err.msg, "Layers[1]");
	const char ok[] = "[{\"Config\":\"./abc.json\",\"RepoTags\":null,\"Layers\":"
	                  "[\"x/layer.tar\",\"./x//layer.tar\"]}]";
	br_err_clear(&err);
	T_NOERR(imaged_archive_docker_manifest_parse(ok, sizeof(ok) - 1, &m, &err), err);
	T_EQ_STR(m->images[0].config, "abc.json");
	T_EQ_STR(m->images[0].layers[1], "x/layer.tar");
	T_EQ_INT(m->images[0].n_tags, 0);
	imaged_docker_manifest_free(m);
}

static void
test_parse_hostile(void)
{
	static const struct {
		const char *doc;
		br_code code;
		const char *msg;
	} bad[] = {
	        {"{}", BR_INVALID_ARGUMENT, "not an array"},
	        {"[]", BR_INVALID_ARGUMENT, "no images"},
	        {"[1]", BR_INVALID_ARGUMENT, "not an object"},
	        {"[{\"Layers\":[]}]", BR_INVALID_ARGUMENT, "no Config"},
	        {"[{\"Config\":\"/etc/passwd\",\"Layers\":[]}]", BR_INVALID_ARGUMENT,
	         "\"/etc/passwd\" is not a path inside the archive"},
	        {"[{\"Config\":\"../c.json\",\"Layers\":[]}]", BR_INVALID_ARGUMENT, "Config"},
	        {"[{\"Config\":\"c.json\",\"Layers\":[\"a/../../b\"]}]", BR_INVALID_ARGUMENT,
	         "Layers[0]"},
	        {"[{\"Config\":\"c.json\",\"Layers\":[7]}]", BR_INVALID_ARGUMENT, "not a string"},
	        {"[{\"Config\":\"c.json\"}]", BR_INVALID_ARGUMENT, "Layers"},
	        {"[{\"Config\":\"c.json\",\"Layers\":[],\"RepoTags\":[\"\"]}]", BR_INVALID_ARGUMENT,
	         "RepoTags[0]"},
	        {"[{\"Config\":\"c.json\",\"Layers\":[],\"RepoTags\":\"x\"}]", BR_INVALID_ARGUMENT,
	         "RepoTags"},
	        {"[{\"Config\":\".\",\"Layers\":[]}]", BR_INVALID_ARGUMENT, "Config"},
	        {"[{\"Config\":\"", BR_INVALID_ARGUMENT, ""},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct imaged_docker_manifest *m = NULL;
		br_err err = BR_ERR_INIT;
		T_ERR(imaged_archive_docker_manifest_parse(bad[i].doc, strlen(bad[i].doc), &m,
		                                           &err),
		      err, bad[i].code);
		T_CONTAINS(err.msg, bad[i].msg);
		T_NULL(m);
	}
}

static void
test_parse_limits(void)
{
	struct imaged_docker_manifest *m = NULL;
	br_err err = BR_ERR_INIT;
	_cleanup_free_ char *many = xstrdup("[");

	for (int i = 0; i <= IMAGED_ARCHIVE_MAX_IMAGES; i++) {
		char *n =
		        xasprintf("%s%s{\"Config\":\"c.json\",\"Layers\":[]}", many, i ? "," : "");
		free(many);
		many = n;
	}
	char *n = xasprintf("%s]", many);
	free(many);
	many = n;
	T_ERR(imaged_archive_docker_manifest_parse(many, strlen(many), &m, &err), err,
	      BR_RESOURCE_EXHAUSTED);

	_cleanup_free_ char *layers = xstrdup("[{\"Config\":\"c.json\",\"Layers\":[");
	for (int i = 0; i <= BR_OCI_MAX_LAYERS; i++) {
		char *l = xasprintf("%s%s\"l.tar\"", layers, i ? "," : "");
		free(layers);
		layers = l;
	}
	char *l = xasprintf("%s]}]", layers);
	free(layers);
	layers = l;
	br_err_clear(&err);
	T_ERR(imaged_archive_docker_manifest_parse(layers, strlen(layers), &m, &err), err,
	      BR_RESOURCE_EXHAUSTED);
}

static void
test_member_paths(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	        {"manifest.json", "manifest.json"},
	        {"./manifest.json", "manifest.json"},
	        {"a//b/./c", "a/b/c"},
	        {"a/b/", "a/b"},
	        {"/abs", NULL},
	        {"../x", NULL},
	        {"a/../x", NULL},
	        {"a/..", NULL},
	        {".", NULL},
	        {"./", NULL},
	        {"", NULL},
	        {"..a/b..", "..a/b.."},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_free_ char *got = imaged_archive_member(cases[i].in);
		if (cases[i].out == NULL)
			T_NULL(got);
		else
			T_EQ_STR(got, cases[i].out);
	}
}

/* Links of the legacy docker-archive layout ("<id>/layer.tar" -> "../<id2>/layer.tar"). */
static void
test_link_paths(void)
{
	static const struct {
		const char *member, *target, *out;
	} cases[] = {
	        {"a/layer.tar", "../b/layer.tar", "b/layer.tar"},
	        {"a/layer.tar", "layer2.tar", "a/layer2.tar"},
	        {"layer.tar", "./x/../y.tar", "y.tar"},
	        {"a/layer.tar", "../../x", NULL},
	        {"layer.tar", "../x", NULL},
	        {"a/layer.tar", "/etc/passwd", NULL},
	        {"a/layer.tar", "..", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_free_ char *got = imaged_archive_link(cases[i].member, cases[i].target);
		if (cases[i].out == NULL)
			T_NULL(got);
		else
			T_EQ_STR(got, cases[i].out);
	}
}

static void
test_tag(void)
{
	_cleanup_free_ char *a = imaged_archive_tag("reg.example:5000/a/b:v1");
	_cleanup_free_ char *b = imaged_archive_tag("busybox");
	_cleanup_free_ char *c = imaged_archive_tag("reg.example/a@" DG1);

	T_EQ_STR(a, "v1");
	T_EQ_STR(b, "latest");
	T_NULL(c);
}

T_MAIN(T_CASE(test_index_json), T_CASE(test_docker_manifest_round_trip), T_CASE(test_repositories),
       T_CASE(test_parse_legacy_and_nulls), T_CASE(test_parse_hostile), T_CASE(test_parse_limits),
       T_CASE(test_member_paths), T_CASE(test_link_paths), T_CASE(test_tag))
