/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-imaged as a process, with the real berth-contentd and berth-snapshotd beside it on a
 * private temporary root ($BERTH_BUILD, else the build directory this test was built in).
 * Images come in through images.import of OCI layouts built here: the happy path with two
 * layers and a whiteout, then archives that must fail without leaving an image record or an
 * extract snapshot behind (a layer that escapes its root, a wrong diffID, a name that is only
 * a tag), the jobs.* API, namespaces, and a peer that is down. Leases: an image holds its
 * blobs and layers through its lease in both stores, a job's lease ends with the job, a
 * removed image's bytes are collected except what another namespace's image still holds, and
 * an image removed while the stores are down loses its leases once they are back.
 * Pulls from a real registry are covered by the integration suite.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/socket.h>

#include "common/digest.h"
#include "common/msg.h"
#include "common/proto/content.h"
#include "common/proto/images.h"
#include "common/proto/leases.h"
#include "common/proto/snapshots.h"
#include "common/rpc.h"
#include "test/unit/t.h"

enum { CONTENTD, SNAPSHOTD, IMAGED, N_DAEMONS };
static const char *names[N_DAEMONS] = {"contentd", "snapshotd", "imaged"};

struct env {
	char dir[64];
	char build[PATH_MAX];
	pid_t pid[N_DAEMONS];
	br_rpc_client *client[N_DAEMONS];
	br_arena *arena;
};

/* ------------------------------------------------------------------ daemons */

static void
guard_dir(const char *dir)
{
	int status = 0;
	char cmd[128];

	fflush(NULL);
	pid_t pid = fork();
	T_OK(pid >= 0);
	if (pid == 0)
		return;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	/* unmount nothing: imaged mounts nothing; snapshotd only makes directories */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		status = 1 << 8;
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

static void
find_build(struct env *env)
{
	const char *b = getenv("BERTH_BUILD");
	char exe[PATH_MAX];

	if (b != NULL && b[0] != '\0') {
		snprintf(env->build, sizeof(env->build), "%s", b);
		return;
	}
	/* <build>/test/unit/test_imaged_rpc */
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	T_OK(n > 0);
	exe[n] = '\0';
	snprintf(env->build, sizeof(env->build), "%s", dirname(dirname(dirname(exe))));
}

static void
start(struct env *env, int which)
{
	char bin[PATH_MAX + 32], root[128], state[128], log[128], config[128];
	br_err err = BR_ERR_INIT;

	snprintf(bin, sizeof(bin), "%s/berth-%s", env->build, names[which]);
	snprintf(root, sizeof(root), "%s/root", env->dir);
	snprintf(state, sizeof(state), "%s/state", env->dir);
	snprintf(config, sizeof(config), "%s/berth.json", env->dir);
	snprintf(log, sizeof(log), "%s/%s.log", env->dir, names[which]);
	if (access(bin, X_OK) < 0)
		T_FAIL_("%s not found: build it, or point BERTH_BUILD at the build directory", bin);
	fflush(NULL);
	pid_t pid = fork();
	T_OK(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(bin, bin, "--config", config, "--root", root, "--state", state, "--log-level",
		      "debug", (char *)NULL);
		_exit(127);
	}
	env->pid[which] = pid;
	for (int i = 0; i < 200; i++) {
		struct br_health h;
		struct br_call_opts opts = {.timeout_ms = 1000};
		if (br_rpc_call(env->client[which], &opts, "daemon.health", NULL, NULL,
		                &br_health_schema, &h, env->arena, &err) == 0)
			return;
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid)
			T_FAIL_("berth-%s exited before it was ready; see %s", names[which], log);
		usleep(50 * 1000);
	}
	T_FAIL_("berth-%s did not answer daemon.health; see %s", names[which], log);
}

static void
stop(struct env *env, int which)
{
	int status = 0;

	if (env->pid[which] <= 0)
		return;
	T_EQ_INT(kill(env->pid[which], SIGTERM), 0);
	for (int i = 0; i < 300; i++) {
		if (waitpid(env->pid[which], &status, WNOHANG) == env->pid[which]) {
			env->pid[which] = 0;
			if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
				return;
			char log[128];
			snprintf(log, sizeof(log), "%s/%s.log", env->dir, names[which]);
			t_show_tail(log, 40);
			T_FAIL_("berth-%s stopped with status 0x%x", names[which], status);
			return;
		}
		usleep(50 * 1000);
	}
	kill(env->pid[which], SIGKILL);
	T_FAIL_("berth-%s did not stop within 15 s of SIGTERM", names[which]);
}

/* Start the three daemons; `imaged_json` is imaged's config section. */
static void
setup_with(struct env *env, const char *imaged_json)
{
	char url[256], path[128];
	br_err err = BR_ERR_INIT;

	memset(env, 0, sizeof(*env));
	find_build(env);
	snprintf(env->dir, sizeof(env->dir), "/tmp/berth-test-imaged-rpc-XXXXXX");
	T_NOT_NULL(mkdtemp(env->dir));
	guard_dir(env->dir);
	snprintf(path, sizeof(path), "%s/berth.json", env->dir);
	FILE *f = fopen(path, "w");
	T_NOT_NULL(f);
	/* Collections only when asked, so that a test sees exactly what they remove. */
	fprintf(f,
	        "{\"imaged\": %s,"
	        " \"contentd\": {\"gc_delay_ms\": 3600000, \"gc_interval_ms\": 0},"
	        " \"snapshotd\": {\"gc_delay_ms\": 3600000, \"gc_interval_ms\": 0}}\n",
	        imaged_json);
	fclose(f);
	env->arena = br_arena_new();
	for (int i = 0; i < N_DAEMONS; i++) {
		snprintf(url, sizeof(url), "ipc://%s/state/%s.sock", env->dir, names[i]);
		T_NOERR(br_rpc_client_new(url, names[i], &env->client[i], &err), err);
	}
	for (int i = 0; i < N_DAEMONS; i++)
		start(env, i);
}

static void
setup(struct env *env)
{
	setup_with(env, "{\"platform\": \"linux/amd64\"}");
}

static void
teardown(struct env *env)
{
	for (int i = N_DAEMONS - 1; i >= 0; i--)
		stop(env, i);
	for (int i = 0; i < N_DAEMONS; i++)
		br_rpc_client_free(env->client[i]);
	br_arena_free(env->arena);
	br_rpc_shutdown();
}

/* ------------------------------------------------------------------ archives */

struct buf {
	unsigned char *p;
	size_t len, cap;
};

static la_ssize_t
buf_write(struct archive *a, void *data, const void *p, size_t len)
{
	struct buf *b = data;
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2;
		b->p = realloc(b->p, b->cap);
		T_NOT_NULL(b->p);
	}
	memcpy(b->p + b->len, p, len);
	b->len += len;
	return (la_ssize_t)len;
}

static struct archive *
writer(struct buf *b, bool gzip)
{
	struct archive *a = archive_write_new();
	memset(b, 0, sizeof(*b));
	T_OK(archive_write_set_format_pax_restricted(a) == ARCHIVE_OK);
	if (gzip)
		T_OK(archive_write_add_filter_gzip(a) == ARCHIVE_OK);
	archive_write_set_bytes_in_last_block(a, 1);
	T_OK(archive_write_open(a, b, NULL, buf_write, NULL) == ARCHIVE_OK);
	return a;
}

static void
put(struct archive *a, const char *name, mode_t type, const char *data, size_t len,
    const char *link)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
	archive_entry_set_mtime(e, 1500000000, 0);
	if (link != NULL)
		archive_entry_set_symlink(e, link);
	archive_entry_set_size(e, (la_int64_t)len);
	T_OK(archive_write_header(a, e) == ARCHIVE_OK);
	if (len > 0)
		T_EQ_INT(archive_write_data(a, data, len), len);
	archive_entry_free(e);
}

static void
finish(struct archive *a)
{
	T_OK(archive_write_close(a) == ARCHIVE_OK);
	archive_write_free(a);
}

struct layer_spec {
	const char
	        *entries[8][3]; /* name, content ("" for a directory when name ends in /), link */
};

/* A gzip layer; its digest and the diffID of its tar. */
static void
make_layer(const struct layer_spec *spec, struct buf *gz, char digest[BR_DIGEST_BUF],
           char diff_id[BR_DIGEST_BUF])
{
	struct buf tar;
	struct archive *a = writer(&tar, false);
	for (int i = 0; i < 8 && spec->entries[i][0] != NULL; i++) {
		const char *name = spec->entries[i][0], *data = spec->entries[i][1];
		const char *link = spec->entries[i][2];
		size_t n = strlen(name);
		if (link != NULL)
			put(a, name, AE_IFLNK, NULL, 0, link);
		else if (n > 0 && name[n - 1] == '/')
			put(a, name, AE_IFDIR, NULL, 0, NULL);
		else
			put(a, name, AE_IFREG, data, strlen(data), NULL);
	}
	finish(a);
	br_digest_buf(tar.p, tar.len, diff_id);
	/* the same bytes, gzip-compressed (raw format) */
	struct archive *z = archive_write_new();
	memset(gz, 0, sizeof(*gz));
	T_OK(archive_write_set_format_raw(z) == ARCHIVE_OK);
	T_OK(archive_write_add_filter_gzip(z) == ARCHIVE_OK);
	archive_write_set_bytes_in_last_block(z, 1);
	T_OK(archive_write_open(z, gz, NULL, buf_write, NULL) == ARCHIVE_OK);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, "data");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_size(e, (la_int64_t)tar.len);
	T_OK(archive_write_header(z, e) == ARCHIVE_OK);
	T_EQ_INT(archive_write_data(z, tar.p, tar.len), tar.len);
	archive_entry_free(e);
	finish(z);
	br_digest_buf(gz->p, gz->len, digest);
	free(tar.p);
}

static void
put_blob(struct archive *a, const char *digest, const void *p, size_t len)
{
	char name[128];
	snprintf(name, sizeof(name), "blobs/sha256/%s", br_digest_hex(digest));
	put(a, name, AE_IFREG, p, len, NULL);
}

struct layout_opts {
	const struct layer_spec *layers;
	size_t n_layers;
	const char *ref_name; /* annotation, may be NULL */
	bool wrong_diff_id;   /* the config lists a diffID that no layer has */
};

/* An OCI layout as a tar: oci-layout, index.json, blobs. */
static void
make_layout(const struct layout_opts *o, struct buf *out)
{
	char config[2048], manifest[4096], index[1024], digest[BR_DIGEST_BUF];
	char cfg_digest[BR_DIGEST_BUF], man_digest[BR_DIGEST_BUF];
	char diffs[1024] = "", layers[2048] = "";
	struct buf gz[4];
	struct archive *a = writer(out, false);

	put(a, "oci-layout", AE_IFREG, "{\"imageLayoutVersion\":\"1.0.0\"}", 30, NULL);
	for (size_t i = 0; i < o->n_layers; i++) {
		char diff_id[BR_DIGEST_BUF];
		make_layer(&o->layers[i], &gz[i], digest, diff_id);
		if (o->wrong_diff_id && i == o->n_layers - 1)
			br_digest_buf("not this layer", 14, diff_id);
		snprintf(diffs + strlen(diffs), sizeof(diffs) - strlen(diffs), "%s\"%s\"",
		         i ? "," : "", diff_id);
		snprintf(layers + strlen(layers), sizeof(layers) - strlen(layers),
		         "%s{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
		         "\"digest\":\"%s\",\"size\":%zu}",
		         i ? "," : "", digest, gz[i].len);
		put_blob(a, digest, gz[i].p, gz[i].len);
		free(gz[i].p);
	}
	snprintf(config, sizeof(config),
	         "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[\"PATH=/bin\"],"
	         "\"Entrypoint\":[\"/bin/sh\"],\"Cmd\":[\"-c\",\"true\"],\"WorkingDir\":\"/srv\","
	         "\"User\":\"1000\"},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[%s]}}",
	         diffs);
	br_digest_buf(config, strlen(config), cfg_digest);
	put_blob(a, cfg_digest, config, strlen(config));
	snprintf(
	        manifest, sizeof(manifest),
	        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
	        "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
	        "\"digest\":\"%s\",\"size\":%zu},\"layers\":[%s]}",
	        cfg_digest, strlen(config), layers);
	br_digest_buf(manifest, strlen(manifest), man_digest);
	put_blob(a, man_digest, manifest, strlen(manifest));
	char ann[256] = "";
	if (o->ref_name != NULL)
		snprintf(ann, sizeof(ann),
		         ",\"annotations\":{\"org.opencontainers.image.ref.name\":\"%s\"}",
		         o->ref_name);
	snprintf(index, sizeof(index),
	         "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
	         "\"application/"
	         "vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu%s}]}",
	         man_digest, strlen(manifest), ann);
	put(a, "index.json", AE_IFREG, index, strlen(index), NULL);
	finish(a);
}

/* Write a whole buffer into contentd under a lease of its own ("upload-<n>", one hour), as
 * the CLI does before an import; its digest in `out`. */
static void
upload(struct env *env, const struct buf *b, char out[BR_DIGEST_BUF])
{
	br_err err = BR_ERR_INIT;
	size_t off = 0;
	char ref[32];

	br_digest_buf(b->p, b->len, out);
	snprintf(ref, sizeof(ref), "upload-%d", rand());
	struct br_lease_create_req lease = {.id = ref, .ttl_ms = 3600 * 1000};
	struct br_call_opts opts = {.lease = ref};
	T_NOERR(br_rpc_call(env->client[CONTENTD], NULL, "content.leases.create",
	                    &br_lease_create_req_schema, &lease, NULL, NULL, env->arena, &err),
	        err);
	do {
		size_t n = b->len - off > BR_CHUNK_MAX ? BR_CHUNK_MAX : b->len - off;
		struct br_content_write_req req = {
		        .ref = ref,
		        .offset = (int64_t)off,
		        .data = {b->p + off, n},
		        .total = (int64_t)b->len,
		        .expected = out,
		        .commit = off + n == b->len,
		};
		T_NOERR(br_rpc_call(env->client[CONTENTD], &opts, "content.write",
		                    &br_content_write_req_schema, &req, NULL, NULL, env->arena,
		                    &err),
		        err);
		off += n;
	} while (off < b->len);
}

/* images.import and jobs.wait until it ends. */
static struct br_job
import(struct env *env, const char *ns, const char *digest, const char *name)
{
	struct br_call_opts opts = {.ns = ns};
	struct br_image_import_req req = {.digest = digest, .name = name};
	struct br_job_ref ref;
	struct br_job job;
	br_err err = BR_ERR_INIT;

	T_NOERR(br_rpc_call(env->client[IMAGED], &opts, "images.import",
	                    &br_image_import_req_schema, &req, &br_job_ref_schema, &ref, env->arena,
	                    &err),
	        err);
	T_EQ_INT(strlen(ref.id), 16);
	for (int i = 0; i < 60; i++) {
		struct br_job_wait_req w = {.id = ref.id, .timeout_ms = 1000};
		T_NOERR(br_rpc_call(env->client[IMAGED], &opts, "jobs.wait",
		                    &br_job_wait_req_schema, &w, &br_job_schema, &job, env->arena,
		                    &err),
		        err);
		if (strcmp(job.state, "running") != 0)
			return job;
	}
	T_FAIL_("job %s did not end within 60 s", ref.id);
}

static size_t
count_snapshots(struct env *env, const char *ns, const char *prefix)
{
	struct br_call_opts opts = {.ns = ns};
	struct br_snap_list_req req = {0};
	struct br_snap_list_resp resp;
	br_err err = BR_ERR_INIT;
	size_t n = 0;

	T_NOERR(br_rpc_call(env->client[SNAPSHOTD], &opts, "snapshots.list",
	                    &br_snap_list_req_schema, &req, &br_snap_list_resp_schema, &resp,
	                    env->arena, &err),
	        err);
	for (size_t i = 0; i < resp.items.n; i++) {
		const struct br_snapshot_info *s = &((struct br_snapshot_info *)resp.items.v)[i];
		if (strncmp(s->name, prefix, strlen(prefix)) == 0)
			n++;
	}
	return n;
}

/* Resources of lease `id` in namespace `ns` of a store, or -1 when it does not exist. */
static int64_t
lease_resources(struct env *env, int which, const char *ns, const char *id)
{
	struct br_call_opts opts = {.ns = ns};
	struct br_lease_id_req req = {.id = id};
	struct br_lease l;
	br_err err = BR_ERR_INIT;
	const char *method = which == CONTENTD ? "content.leases.get" : "snapshots.leases.get";

	if (br_rpc_call(env->client[which], &opts, method, &br_lease_id_req_schema, &req,
	                &br_lease_schema, &l, env->arena, &err) < 0) {
		T_EQ_INT(err.code, BR_NOT_FOUND);
		return -1;
	}
	return l.resources;
}

/* Leases in a store labelled berth.owner=imaged, every namespace. */
static size_t
imaged_leases(struct env *env, int which)
{
	const char *keys[] = {BR_LEASE_LABEL_OWNER}, *values[] = {"imaged"};
	struct br_lease_list_req req = {.all_namespaces = true, .labels = {keys, values, 1}};
	struct br_lease_list_resp resp;
	br_err err = BR_ERR_INIT;
	const char *method = which == CONTENTD ? "content.leases.list" : "snapshots.leases.list";

	T_NOERR(br_rpc_call(env->client[which], NULL, method, &br_lease_list_req_schema, &req,
	                    &br_lease_list_resp_schema, &resp, env->arena, &err),
	        err);
	return resp.items.n;
}

static void
collect(struct env *env)
{
	struct br_gc_result r;
	br_err err = BR_ERR_INIT;

	T_NOERR(br_rpc_call(env->client[CONTENTD], NULL, "content.gc", NULL, NULL,
	                    &br_gc_result_schema, &r, env->arena, &err),
	        err);
	T_NOERR(br_rpc_call(env->client[SNAPSHOTD], NULL, "snapshots.gc", NULL, NULL,
	                    &br_gc_result_schema, &r, env->arena, &err),
	        err);
}

static size_t
count_blobs(struct env *env)
{
	struct br_content_list_resp resp;
	br_err err = BR_ERR_INIT;

	T_NOERR(br_rpc_call(env->client[CONTENTD], NULL, "content.list", NULL, NULL,
	                    &br_content_list_resp_schema, &resp, env->arena, &err),
	        err);
	return resp.items.n;
}

static void
check_msg(const char *msg, const char *needle)
{
	if (msg == NULL || strstr(msg, needle) == NULL)
		T_FAIL_("\"%s\" does not contain \"%s\"", msg ? msg : "(null)", needle);
}

static const struct layer_spec base_layer = {{
        {"bin/", "", NULL},
        {"bin/tool", "#!tool", NULL},
        {"bin/sh", NULL, "tool"},
        {"etc/", "", NULL},
        {"etc/removed", "old", NULL},
        {"etc/kept", "kept", NULL},
}};
static const struct layer_spec top_layer = {{
        {"etc/", "", NULL},
        {"etc/.wh.removed", "", NULL},
        {"etc/hostname", "box", NULL},
}};

/* ------------------------------------------------------------------ cases */

static void
test_import(void)
{
	struct env env;
	struct buf layout;
	char digest[BR_DIGEST_BUF];
	br_err err = BR_ERR_INIT;
	const struct layer_spec layers[] = {base_layer, top_layer};
	struct layout_opts o = {.layers = layers, .n_layers = 2, .ref_name = "v1"};

	setup(&env);
	make_layout(&o, &layout);
	upload(&env, &layout, digest);

	struct br_job job = import(&env, NULL, digest, "127.0.0.1:5000/test/sh:v1");
	T_EQ_STR(job.state, "done");
	T_EQ_STR(job.kind, "import");
	T_EQ_STR(job.result, "127.0.0.1:5000/test/sh:v1");
	T_NULL(job.error_code);
	T_OK(job.ended_at >= job.started_at);
	/* its layers, in order, each done with all its bytes */
	T_EQ_INT(job.layers.n, 2);
	for (size_t i = 0; i < job.layers.n; i++) {
		const struct br_job_item *it = &((const struct br_job_item *)job.layers.v)[i];
		T_EQ_STR(it->state, "done");
		T_OK(br_msg_is_digest(it->digest));
		T_OK(it->size > 0);
		T_EQ_INT(it->done, it->size);
	}
	T_OK(job.progress_version > 1);
	T_OK(job.updated_at >= job.started_at);
	/* a second import finds both layers there */
	struct br_job again = import(&env, NULL, digest, "127.0.0.1:5000/test/sh:v1");
	T_EQ_STR(again.state, "done");
	T_EQ_INT(again.layers.n, 2);
	for (size_t i = 0; i < again.layers.n; i++) {
		const struct br_job_item *it = &((const struct br_job_item *)again.layers.v)[i];
		const struct br_job_item *first = &((const struct br_job_item *)job.layers.v)[i];
		T_EQ_STR(it->state, "exists");
		T_EQ_STR(it->digest, first->digest);
	}

	struct br_image_name_req name = {.name = "127.0.0.1:5000/test/sh:v1"};
	struct br_image img;
	T_NOERR(br_rpc_call(env.client[IMAGED], NULL, "images.get", &br_image_name_req_schema,
	                    &name, &br_image_schema, &img, env.arena, &err),
	        err);
	T_EQ_STR(img.name, "127.0.0.1:5000/test/sh:v1");
	T_EQ_STR(img.target.media_type, "application/vnd.oci.image.manifest.v1+json");
	T_EQ_STR(img.platform, "linux/amd64");
	T_NOT_NULL(img.chain_id);
	T_OK(img.size > 0);

	struct br_image_runtime rt;
	T_NOERR(br_rpc_call(env.client[IMAGED], NULL, "images.resolve", &br_image_name_req_schema,
	                    &name, &br_image_runtime_schema, &rt, env.arena, &err),
	        err);
	T_EQ_STR(rt.chain_id, img.chain_id);
	T_EQ_STR(rt.user, "1000");
	T_EQ_STR(rt.working_dir, "/srv");
	T_EQ_INT(rt.env.n, 1);
	T_EQ_STR(rt.env.v[0], "PATH=/bin");
	T_EQ_INT(rt.entrypoint.n, 1);
	T_EQ_STR(rt.entrypoint.v[0], "/bin/sh");
	T_EQ_INT(rt.cmd.n, 2);
	T_EQ_STR(rt.cmd.v[1], "true");
	/* a second resolve is answered from the cache, identically */
	T_NOERR(br_rpc_call(env.client[IMAGED], NULL, "images.resolve", &br_image_name_req_schema,
	                    &name, &br_image_runtime_schema, &rt, env.arena, &err),
	        err);
	T_EQ_STR(rt.cmd.v[1], "true");

	/* two committed layers, no scratch snapshots; the top one holds an overlay whiteout */
	T_EQ_INT(count_snapshots(&env, NULL, "berth.layer.sha256:"), 2);
	T_EQ_INT(count_snapshots(&env, NULL, "berth.extract."), 0);
	T_EQ_STR(rt.snapshot, img.snapshot);
	T_OK(strncmp(img.snapshot, "berth.layer.sha256:", 19) == 0);
	/* the image's lease holds manifest, config and 2 layers, and its 2 layer snapshots; the
	 * job's lease went with the job */
	char lease[128], lease_hex[BR_DIGEST_BUF];
	br_digest_buf(img.name, strlen(img.name), lease_hex);
	snprintf(lease, sizeof(lease), "image-%s", lease_hex + 7);
	T_EQ_INT(lease_resources(&env, CONTENTD, "default", lease), 4);
	T_EQ_INT(lease_resources(&env, SNAPSHOTD, "default", lease), 2);
	T_EQ_INT(imaged_leases(&env, CONTENTD), 1);
	T_EQ_INT(imaged_leases(&env, SNAPSHOTD), 1);
	/* a collection keeps all of it */
	size_t blobs = count_blobs(&env);
	T_EQ_INT(blobs, 5); /* the archive (its upload lease), manifest, config, 2 layers */
	collect(&env);
	T_EQ_INT(count_blobs(&env), 5);
	T_EQ_INT(count_snapshots(&env, NULL, "berth.layer.sha256:"), 2);
	char pattern[128];
	glob_t g;
	struct stat st;
	snprintf(pattern, sizeof(pattern), "%s/root/snapshotd/overlayfs/*/fs/etc/removed", env.dir);
	T_EQ_INT(glob(pattern, 0, NULL, &g), 0);
	T_EQ_INT(g.gl_pathc, 2); /* the file in the first layer, the whiteout in the second */
	size_t whiteouts = 0;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		T_OK(lstat(g.gl_pathv[i], &st) == 0);
		whiteouts += S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
	}
	T_EQ_INT(whiteouts, 1);
	globfree(&g);

	/* importing again replaces the record and reuses the snapshots */
	job = import(&env, NULL, digest, "127.0.0.1:5000/test/sh:v1");
	T_EQ_STR(job.state, "done");
	T_EQ_INT(count_snapshots(&env, NULL, "berth.layer.sha256:"), 2);

	/* another namespace sees nothing of it, and unpacks its own snapshots */
	struct br_call_opts other = {.ns = "other"};
	T_ERR(br_rpc_call(env.client[IMAGED], &other, "images.get", &br_image_name_req_schema,
	                  &name, &br_image_schema, &img, env.arena, &err),
	      err, BR_NOT_FOUND);
	job = import(&env, "other", digest, "127.0.0.1:5000/test/sh:v1");
	T_EQ_STR(job.state, "done");
	T_EQ_INT(count_snapshots(&env, "other", "berth.layer.sha256:"), 2);
	T_EQ_INT(count_blobs(&env), 5); /* stored once */
	T_EQ_INT(lease_resources(&env, CONTENTD, "other", lease), 4);

	struct br_image_list_resp list;
	T_NOERR(br_rpc_call(env.client[IMAGED], NULL, "images.list", NULL, NULL,
	                    &br_image_list_resp_schema, &list, env.arena, &err),
	        err);
	T_EQ_INT(list.items.n, 1);
	T_NOERR(br_rpc_call(env.client[IMAGED], NULL, "images.remove", &br_image_name_req_schema,
	                    &name, NULL, NULL, env.arena, &err),
	        err);
	T_ERR(br_rpc_call(env.client[IMAGED], NULL, "images.get", &br_image_name_req_schema, &name,
	                  &br_image_schema, &img, env.arena, &err),
	      err, BR_NOT_FOUND);
	T_EQ_STR(err.msg, "image \"127.0.0.1:5000/test/sh:v1\": not found");
	T_ERR(br_rpc_call(env.client[IMAGED], NULL, "images.resolve", &br_image_name_req_schema,
	                  &name, &br_image_runtime_schema, &rt, env.arena, &err),
	      err, BR_NOT_FOUND);
	/* images.remove answered once the stores dropped the lease: a collection now frees the
	 * default namespace's snapshots, and no blob, since "other" holds them all */
	T_EQ_INT(lease_resources(&env, CONTENTD, "default", lease), -1);
	T_EQ_INT(lease_resources(&env, SNAPSHOTD, "default", lease), -1);
	collect(&env);
	T_EQ_INT(count_snapshots(&env, NULL, "berth.layer."), 0);
	T_EQ_INT(count_snapshots(&env, "other", "berth.layer."), 2);
	T_EQ_INT(count_blobs(&env), 5);
	/* removed in "other" too: only the archive, still held by its upload lease, stays */
	T_NOERR(br_rpc_call(env.client[IMAGED], &other, "images.remove", &br_image_name_req_schema,
	                    &name, NULL, NULL, env.arena, &err),
	        err);
	collect(&env);
	T_EQ_INT(count_snapshots(&env, "other", "berth.layer."), 0);
	T_EQ_INT(count_blobs(&env), 1);

	/* a restart of imaged puts the leases of its records again into stores that lost them,
	 * and deletes never-expiring leases of its own that no record names */
	job = import(&env, NULL, digest, "127.0.0.1:5000/test/sh:v1");
	T_EQ_STR(job.state, "done");
	/* the image lease reaches the stores through imaged's outbox, soon after the job ends */
	for (int i = 0; i < 100 && lease_resources(&env, CONTENTD, "default", lease) != 4; i++)
		usleep(20 * 1000);
	struct br_lease_id_req del = {.id = lease};
	T_NOERR(br_rpc_call(env.client[CONTENTD], NULL, "content.leases.delete",
	                    &br_lease_id_req_schema, &del, NULL, NULL, env.arena, &err),
	        err);
	const char *okeys[] = {BR_LEASE_LABEL_OWNER}, *ovalues[] = {"imaged"};
	struct br_lease_put_req stray = {.id = "image-stray", .labels = {okeys, ovalues, 1}};
	T_NOERR(br_rpc_call(env.client[SNAPSHOTD], NULL, "snapshots.leases.put",
	                    &br_lease_put_req_schema, &stray, NULL, NULL, env.arena, &err),
	        err);
	stop(&env, IMAGED);
	start(&env, IMAGED);
	for (int i = 0;
	     i < 100 && (lease_resources(&env, CONTENTD, "default", lease) != 4 ||
	                 lease_resources(&env, SNAPSHOTD, "default", "image-stray") >= 0);
	     i++)
		usleep(50 * 1000);
	T_EQ_INT(lease_resources(&env, CONTENTD, "default", lease), 4);
	T_EQ_INT(lease_resources(&env, SNAPSHOTD, "default", "image-stray"), -1);
	free(layout.p);
	teardown(&env);
}

/* Run `sql` on imaged's database (imaged stopped, or reading). */
static void
imaged_sql(struct env *env, const char *sql)
{
	char path[128];
	sqlite3 *db = NULL;
	char *msg = NULL;

	snprintf(path, sizeof(path), "%s/root/imaged/meta.db", env->dir);
	T_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		T_FAIL_("%s: %s", sql, msg);
	sqlite3_close(db);
}

static int64_t
imaged_count(struct env *env, const char *sql)
{
	char path[128];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	snprintf(path, sizeof(path), "%s/root/imaged/meta.db", env->dir);
	T_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
	T_EQ_INT(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	T_EQ_INT(sqlite3_step(st), SQLITE_ROW);
	int64_t n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* A record written before leases existed gets its image leases at the next start: what the
 * record names at once, its layer blobs once contentd answers. Until then nothing of it may
 * be collected; afterwards it is an image like any other. */
static void
test_records_from_before_leases(void)
{
	struct env env;
	struct buf layout;
	char digest[BR_DIGEST_BUF], lease[128], hex[BR_DIGEST_BUF];
	br_err err = BR_ERR_INIT;
	const struct layer_spec layers[] = {base_layer, top_layer};
	struct layout_opts o = {.layers = layers, .n_layers = 2};
	const char *name = "docker.io/library/old:v1";

	setup(&env);
	make_layout(&o, &layout);
	upload(&env, &layout, digest);
	T_EQ_STR(import(&env, NULL, digest, name).state, "done");
	br_digest_buf(name, strlen(name), hex);
	snprintf(lease, sizeof(lease), "image-%s", hex + 7);

	/* Make it a record of the first schema: no lease anywhere, on the backfill list. (The
	 * outbox first delivers the end of the import job's lease; its events wait for a
	 * gatewayd that this test does not run.) */
#define STORE_MESSAGES "SELECT count(*) FROM outbox WHERE target != 'gatewayd'"
	for (int i = 0; i < 100 && imaged_count(&env, STORE_MESSAGES) != 0; i++)
		usleep(50 * 1000);
	T_EQ_INT(imaged_count(&env, STORE_MESSAGES), 0);
	stop(&env, IMAGED);
	imaged_sql(&env, "DELETE FROM owned_leases;"
	                 " INSERT INTO lease_backfill SELECT namespace, name FROM images");
	struct br_lease_id_req del = {.id = lease};
	T_NOERR(br_rpc_call(env.client[CONTENTD], NULL, "content.leases.delete",
	                    &br_lease_id_req_schema, &del, NULL, NULL, env.arena, &err),
	        err);
	T_NOERR(br_rpc_call(env.client[SNAPSHOTD], NULL, "snapshots.leases.delete",
	                    &br_lease_id_req_schema, &del, NULL, NULL, env.arena, &err),
	        err);

	/* imaged starts while contentd is down: the top snapshot is held at once */
	stop(&env, CONTENTD);
	start(&env, IMAGED);
	for (int i = 0; i < 100 && lease_resources(&env, SNAPSHOTD, "default", lease) != 1; i++)
		usleep(50 * 1000);
	T_EQ_INT(lease_resources(&env, SNAPSHOTD, "default", lease), 1);
	T_EQ_INT(imaged_count(&env, "SELECT count(*) FROM lease_backfill"), 1);

	/* contentd back: manifest, config and both layers are held, the list is done */
	start(&env, CONTENTD);
	for (int i = 0; i < 200 && (lease_resources(&env, CONTENTD, "default", lease) != 4 ||
	                            imaged_count(&env, "SELECT count(*) FROM lease_backfill") != 0);
	     i++)
		usleep(50 * 1000);
	T_EQ_INT(lease_resources(&env, CONTENTD, "default", lease), 4);
	T_EQ_INT(imaged_count(&env, "SELECT count(*) FROM lease_backfill"), 0);
	collect(&env);
	T_EQ_INT(count_blobs(&env),
	         5); /* the archive (its upload lease), manifest, config, layers */
	T_EQ_INT(count_snapshots(&env, NULL, "berth.layer.sha256:"), 2);

	/* a restart has nothing left to do; removing the image frees its bytes */
	stop(&env, IMAGED);
	start(&env, IMAGED);
	struct br_image_name_req req = {.name = name};
	T_NOERR(br_rpc_call(env.client[IMAGED], NULL, "images.remove", &br_image_name_req_schema,
	                    &req, NULL, NULL, env.arena, &err),
	        err);
	collect(&env);
	T_EQ_INT(count_blobs(&env), 1);
	T_EQ_INT(count_snapshots(&env, NULL, "berth.layer."), 0);
	free(layout.p);
	teardown(&env);
}

static void
test_import_names(void)
{
	struct env env;
	struct buf layout;
	char digest[BR_DIGEST_BUF];
	const struct layer_spec layers[] = {base_layer};

	setup(&env);
	/* a bare tag needs a name from the request */
	struct layout_opts o = {.layers = layers, .n_layers = 1, .ref_name = "v1"};
	make_layout(&o, &layout);
	upload(&env, &layout, digest);
	struct br_job job = import(&env, NULL, digest, NULL);
	T_EQ_STR(job.state, "failed");
	T_EQ_STR(job.error_code, "INVALID_ARGUMENT");
	check_msg(job.error_msg,
	          "index.json names the image only by the tag \"v1\": give the name");
	free(layout.p);

	/* a full reference in the annotation names the image */
	o.ref_name = "example.com/app:2.0";
	make_layout(&o, &layout);
	upload(&env, &layout, digest);
	job = import(&env, NULL, digest, NULL);
	T_EQ_STR(job.state, "done");
	T_EQ_STR(job.result, "example.com/app:2.0");
	free(layout.p);

	/* short names are normalized */
	job = import(&env, NULL, digest, "busybox");
	T_EQ_STR(job.state, "done");
	T_EQ_STR(job.result, "docker.io/library/busybox:latest");
	teardown(&env);
}

static void
test_import_failures_leave_nothing(void)
{
	struct env env;
	struct buf layout;
	char digest[BR_DIGEST_BUF];
	br_err err = BR_ERR_INIT;
	const struct layer_spec evil = {{
	        {"ok", "fine", NULL},
	        {"../escape", "pwned", NULL},
	}};
	const struct layer_spec through_link = {{
	        {"up", NULL, "/"},
	        {"up/tmp/pwned", "pwned", NULL},
	}};

	/* Short job leases: what a failed job wrote goes soon after it. Long enough, though,
	 * to outlast the failing imports on a loaded machine: the check below needs the first
	 * one's lease still held when it collects. */
	setup_with(&env, "{\"platform\": \"linux/amd64\", \"job_lease_ttl_ms\": 8000}");
	const struct layer_spec l1[] = {base_layer, evil};
	struct layout_opts o = {.layers = l1, .n_layers = 2};
	make_layout(&o, &layout);
	upload(&env, &layout, digest);
	struct br_job job = import(&env, NULL, digest, "x/evil:1");
	T_EQ_STR(job.state, "failed");
	T_EQ_STR(job.error_code, "INVALID_ARGUMENT");
	check_msg(job.error_msg, "entry \"../escape\": path escapes the layer root");
	check_msg(job.error_msg, "import sha256:");
	free(layout.p);

	const struct layer_spec l2[] = {through_link};
	o = (struct layout_opts){.layers = l2, .n_layers = 1};
	make_layout(&o, &layout);
	upload(&env, &layout, digest);
	job = import(&env, NULL, digest, "x/link:1");
	T_EQ_STR(job.state, "failed");
	check_msg(job.error_msg, "\"up\" is a symlink");
	T_OK(access("/tmp/pwned", F_OK) < 0);
	free(layout.p);

	const struct layer_spec l3[] = {base_layer, top_layer};
	o = (struct layout_opts){.layers = l3, .n_layers = 2, .wrong_diff_id = true};
	make_layout(&o, &layout);
	upload(&env, &layout, digest);
	job = import(&env, NULL, digest, "x/diff:1");
	T_EQ_STR(job.state, "failed");
	T_EQ_STR(job.error_code, "FAILED_PRECONDITION");
	check_msg(job.error_msg, "diffID mismatch: the image config says");
	free(layout.p);

	/* an archive that is not in contentd */
	job = import(&env, NULL,
	             "sha256:1234567812345678123456781234567812345678123456781234567812345678",
	             "x/none:1");
	T_EQ_STR(job.state, "failed");
	T_EQ_STR(job.error_code, "NOT_FOUND");

	/* not a layout at all */
	struct buf junk = {.p = (unsigned char *)strdup("just some text"), .len = 14};
	upload(&env, &junk, digest);
	job = import(&env, NULL, digest, "x/junk:1");
	T_EQ_STR(job.state, "failed");
	free(junk.p);

	/* none of them left an image or a scratch snapshot */
	struct br_image_list_resp list;
	T_NOERR(br_rpc_call(env.client[IMAGED], NULL, "images.list", NULL, NULL,
	                    &br_image_list_resp_schema, &list, env.arena, &err),
	        err);
	T_EQ_INT(list.items.n, 0);
	T_EQ_INT(count_snapshots(&env, NULL, "berth.extract."), 0);
	/* What the failed jobs wrote is held by their leases until they expire, then collected:
	 * their layer blobs survive a collection now. (Whether a good layer's snapshot was
	 * committed depends on the race between the layers unpacking side by side, which the
	 * failing one may end first; whatever was, goes with the leases too.) */
	collect(&env);
	size_t before = count_blobs(&env);
	usleep(8500 * 1000);
	collect(&env);
	T_EQ_INT(count_snapshots(&env, NULL, "berth.layer."), 0);
	/* only the four uploaded archives are left, each held by its upload lease */
	T_EQ_INT(count_blobs(&env), 4);
	T_OK(before > 4);
	teardown(&env);
}

static void
test_jobs_api(void)
{
	struct env env;
	br_err err = BR_ERR_INIT;
	struct br_job job;
	struct br_job_ref ref;

	setup(&env);
	struct br_job_ref unknown = {.id = "0123456789abcdef"};
	T_ERR(br_rpc_call(env.client[IMAGED], NULL, "jobs.get", &br_job_ref_schema, &unknown,
	                  &br_job_schema, &job, env.arena, &err),
	      err, BR_NOT_FOUND);
	T_EQ_STR(err.msg, "job \"0123456789abcdef\": not found");
	T_ERR(br_rpc_call(env.client[IMAGED], NULL, "jobs.cancel", &br_job_ref_schema, &unknown,
	                  &br_job_schema, &job, env.arena, &err),
	      err, BR_NOT_FOUND);

	/* parameters are checked before a job starts */
	struct br_image_pull_req bad = {.ref = "Foo"};
	T_ERR(br_rpc_call(env.client[IMAGED], NULL, "images.pull", &br_image_pull_req_schema, &bad,
	                  &br_job_ref_schema, &ref, env.arena, &err),
	      err, BR_INVALID_ARGUMENT);
	struct br_image_pull_req badp = {.ref = "x/y", .platform = "linux"};
	T_ERR(br_rpc_call(env.client[IMAGED], NULL, "images.pull", &br_image_pull_req_schema, &badp,
	                  &br_job_ref_schema, &ref, env.arena, &err),
	      err, BR_INVALID_ARGUMENT);
	check_msg(err.msg, "platform \"linux\"");

	/* a pull from a registry that is not there fails as a job, naming the URL */
	struct br_image_pull_req pull = {.ref = "127.0.0.1:1/nobody/here:latest"};
	T_NOERR(br_rpc_call(env.client[IMAGED], NULL, "images.pull", &br_image_pull_req_schema,
	                    &pull, &br_job_ref_schema, &ref, env.arena, &err),
	        err);
	struct br_job_wait_req w = {.id = ref.id, .timeout_ms = 20000};
	T_NOERR(br_rpc_call(env.client[IMAGED], NULL, "jobs.wait", &br_job_wait_req_schema, &w,
	                    &br_job_schema, &job, env.arena, &err),
	        err);
	T_EQ_STR(job.state, "failed");
	T_EQ_STR(job.kind, "pull");
	T_EQ_STR(job.error_code, "UNAVAILABLE");
	check_msg(job.error_msg,
	          "pull 127.0.0.1:1/nobody/here:latest: GET https://127.0.0.1:1/v2/nobody/here/"
	          "manifests/latest: ");

	/* jobs belong to their namespace */
	struct br_call_opts other = {.ns = "other"};
	struct br_job_ref id = {.id = ref.id};
	T_ERR(br_rpc_call(env.client[IMAGED], &other, "jobs.get", &br_job_ref_schema, &id,
	                  &br_job_schema, &job, env.arena, &err),
	      err, BR_NOT_FOUND);
	T_NOERR(br_rpc_call(env.client[IMAGED], NULL, "jobs.get", &br_job_ref_schema, &id,
	                    &br_job_schema, &job, env.arena, &err),
	        err);
	T_EQ_STR(job.state, "failed");
	/* canceling a finished job changes nothing */
	T_NOERR(br_rpc_call(env.client[IMAGED], NULL, "jobs.cancel", &br_job_ref_schema, &id,
	                    &br_job_schema, &job, env.arena, &err),
	        err);
	T_EQ_STR(job.state, "failed");
	teardown(&env);
}

/* A TCP listener on 127.0.0.1 that never accepts: a registry that never answers. */
static int
silent_listener(int *ret_port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	T_OK(fd >= 0);
	T_EQ_INT(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	T_EQ_INT(listen(fd, 16), 0);
	T_EQ_INT(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*ret_port = ntohs(a.sin_port);
	return fd;
}

/* jobs.wait of `id` with since_version and interval_ms; the reply in *ret, the time it took
 * in ms returned. */
static int64_t
timed_wait(struct env *env, const char *id, int64_t timeout_ms, uint64_t since, int64_t interval,
           struct br_job *ret)
{
	struct br_job_wait_req w = {
	        .id = id,
	        .timeout_ms = timeout_ms,
	        .since_version = since,
	        .interval_ms = interval,
	};
	br_err err = BR_ERR_INIT;
	int64_t t0 = br_now_ms();

	T_NOERR(br_rpc_call(env->client[IMAGED], NULL, "jobs.wait", &br_job_wait_req_schema, &w,
	                    &br_job_schema, ret, env->arena, &err),
	        err);
	return br_now_ms() - t0;
}

struct late_cancel {
	struct env *env;
	const char *id;
	int rc;
};

/* jobs.cancel, 300 ms from now. */
static void *
cancel_later(void *arg)
{
	struct late_cancel *lc = arg;
	struct br_job_ref ref = {.id = lc->id};
	br_arena *arena = br_arena_new();
	br_err err = BR_ERR_INIT;
	struct br_job job;

	usleep(300 * 1000);
	lc->rc = br_rpc_call(lc->env->client[IMAGED], NULL, "jobs.cancel", &br_job_ref_schema, &ref,
	                     &br_job_schema, &job, arena, &err);
	br_arena_free(arena);
	return NULL;
}

static void
test_jobs_wait_progress(void)
{
	struct env env;
	br_err err = BR_ERR_INIT;
	struct br_job job, seen;
	struct br_job_ref ref;
	int port;

	setup(&env);
	int lfd = silent_listener(&port);
	char pull_ref[64];
	snprintf(pull_ref, sizeof(pull_ref), "127.0.0.1:%d/slow/image:1", port);
	struct br_image_pull_req pull = {.ref = pull_ref};
	T_NOERR(br_rpc_call(env.client[IMAGED], NULL, "images.pull", &br_image_pull_req_schema,
	                    &pull, &br_job_ref_schema, &ref, env.arena, &err),
	        err);
	/* settle: the job's first steps are done once a wait for a change times out */
	T_NOERR(br_rpc_call(env.client[IMAGED], NULL, "jobs.get", &br_job_ref_schema, &ref,
	                    &br_job_schema, &seen, env.arena, &err),
	        err);
	T_EQ_STR(seen.state, "running");
	T_OK(seen.progress_version >= 1);
	for (int i = 0; i < 20; i++) {
		int64_t took = timed_wait(&env, ref.id, 300, seen.progress_version, 0, &job);
		if (job.progress_version == seen.progress_version) {
			T_OK(took >= 250);
			break;
		}
		seen = job;
	}
	T_EQ_INT(job.progress_version, seen.progress_version);

	/* no change after since_version: the wait lasts until its timeout */
	int64_t took = timed_wait(&env, ref.id, 700, seen.progress_version, 200, &job);
	T_OK(took >= 650);
	T_EQ_STR(job.state, "running");
	T_EQ_INT(job.progress_version, seen.progress_version);

	/* a change before since_version: answered when the interval passed, not sooner */
	took = timed_wait(&env, ref.id, 5000, seen.progress_version - 1, 400, &job);
	T_OK(took >= 380);
	T_OK(took < 2500);
	T_EQ_STR(job.state, "running");

	/* an old client (neither field) waits for the end or its timeout, as ever */
	took = timed_wait(&env, ref.id, 600, 0, 0, &job);
	T_OK(took >= 550);
	T_EQ_STR(job.state, "running");
	T_NOT_NULL(job.message);

	/* a change after the interval is answered as soon as it happens: the cancel, 300 ms
	 * into a wait with a 100 ms interval and a 10 s timeout */
	struct late_cancel lc = {.env = &env, .id = ref.id};
	pthread_t thread;
	T_EQ_INT(pthread_create(&thread, NULL, cancel_later, &lc), 0);
	took = timed_wait(&env, ref.id, 10000, seen.progress_version, 100, &job);
	T_EQ_INT(pthread_join(thread, NULL), 0);
	T_EQ_INT(lc.rc, 0);
	T_OK(took >= 250);
	T_OK(took < 5000);
	T_OK(job.progress_version > seen.progress_version);
	close(lfd);
	teardown(&env);
}

static void
test_peer_down(void)
{
	struct env env;
	struct buf layout;
	char digest[BR_DIGEST_BUF];
	br_err err = BR_ERR_INIT;
	const struct layer_spec layers[] = {base_layer};
	struct layout_opts o = {.layers = layers, .n_layers = 1};

	setup(&env);
	make_layout(&o, &layout);
	upload(&env, &layout, digest);
	stop(&env, SNAPSHOTD);
	struct br_job job = import(&env, NULL, digest, "x/y:1");
	T_EQ_STR(job.state, "failed");
	T_EQ_STR(job.error_code, "UNAVAILABLE");
	check_msg(job.error_msg, "berth-snapshotd");
	/* once it is back, the same import works */
	start(&env, SNAPSHOTD);
	job = import(&env, NULL, digest, "x/y:1");
	T_EQ_STR(job.state, "done");
	struct br_image_list_resp list;
	T_NOERR(br_rpc_call(env.client[IMAGED], NULL, "images.list", NULL, NULL,
	                    &br_image_list_resp_schema, &list, env.arena, &err),
	        err);
	T_EQ_INT(list.items.n, 1);
	free(layout.p);
	teardown(&env);
}

/* An image removed while contentd and snapshotd are both down: the removal answers at once,
 * and its leases go once the stores are back, with imaged never restarted (its outbox keeps
 * the deletions and sends them again); a collection then frees its blobs and layers. */
static void
test_remove_while_stores_down(void)
{
	struct env env;
	struct buf layout;
	char digest[BR_DIGEST_BUF], lease[128], hex[BR_DIGEST_BUF];
	br_err err = BR_ERR_INIT;
	const struct layer_spec layers[] = {base_layer, top_layer};
	struct layout_opts o = {.layers = layers, .n_layers = 2};
	const char *name = "docker.io/library/gone:v1";

	setup(&env);
	make_layout(&o, &layout);
	upload(&env, &layout, digest);
	T_EQ_STR(import(&env, NULL, digest, name).state, "done");
	br_digest_buf(name, strlen(name), hex);
	snprintf(lease, sizeof(lease), "image-%s", hex + 7);
	/* the import's lease changes are delivered: the image's lease holds it in both stores */
	for (int i = 0; i < 100 && imaged_count(&env, STORE_MESSAGES) != 0; i++)
		usleep(50 * 1000);
	T_EQ_INT(imaged_count(&env, STORE_MESSAGES), 0);
	T_EQ_INT(lease_resources(&env, CONTENTD, "default", lease), 4);
	T_EQ_INT(lease_resources(&env, SNAPSHOTD, "default", lease), 2);
	pid_t imaged_pid = env.pid[IMAGED];

	stop(&env, CONTENTD);
	stop(&env, SNAPSHOTD);
	struct br_image_name_req req = {.name = name};
	T_NOERR(br_rpc_call(env.client[IMAGED], NULL, "images.remove", &br_image_name_req_schema,
	                    &req, NULL, NULL, env.arena, &err),
	        err);
	struct br_image_list_resp list;
	T_NOERR(br_rpc_call(env.client[IMAGED], NULL, "images.list", NULL, NULL,
	                    &br_image_list_resp_schema, &list, env.arena, &err),
	        err);
	T_EQ_INT(list.items.n, 0);
	T_OK(imaged_count(&env, STORE_MESSAGES) >= 2); /* a deletion waits for each store */
	usleep(300 * 1000); /* a few attempts against stores that are down */

	start(&env, CONTENTD);
	start(&env, SNAPSHOTD);
	int64_t back = br_now_ms();
	for (int i = 0; i < 400 && (lease_resources(&env, CONTENTD, "default", lease) >= 0 ||
	                            lease_resources(&env, SNAPSHOTD, "default", lease) >= 0);
	     i++)
		usleep(50 * 1000);
	T_EQ_INT(lease_resources(&env, CONTENTD, "default", lease), -1);
	T_EQ_INT(lease_resources(&env, SNAPSHOTD, "default", lease), -1);
	printf("# the leases went %lld ms after the stores were back\n",
	       (long long)(br_now_ms() - back));
	T_EQ_INT(env.pid[IMAGED], imaged_pid);
	T_EQ_INT(waitpid(imaged_pid, NULL, WNOHANG), 0); /* still the same process */
	T_EQ_INT(imaged_count(&env, STORE_MESSAGES), 0);
	collect(&env);
	T_EQ_INT(count_blobs(&env), 1); /* the archive alone, under its upload lease */
	T_EQ_INT(count_snapshots(&env, NULL, "berth.layer."), 0);
	free(layout.p);
	teardown(&env);
}

T_MAIN(T_CASE(test_import), T_CASE(test_records_from_before_leases), T_CASE(test_import_names),
       T_CASE(test_import_failures_leave_nothing), T_CASE(test_jobs_api),
       T_CASE(test_jobs_wait_progress), T_CASE(test_peer_down),
       T_CASE(test_remove_while_stores_down))
