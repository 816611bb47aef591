/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Streams in imaged (common/stream.h, docs/streams.md): the gateway, having checked the
 * caller, hands each images.export stream to imaged's stream socket
 * (<state>/imaged-stream.sock, SOCK_SEQPACKET, root only) as one message, the request
 * envelope with the client's connection attached. On the loop the request is decoded, each
 * name looked up in the image records and copied off them, and an export job started that
 * owns the connection from then on (export.c). What fails before that is the stream's REPLY.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/ref.h"
#include "common/stream.h"
#include "common/stream_listener.h"
#include "common/xalloc.h"
#include "imaged/archive.h"
#include "imaged/imaged.h"

/* Copy record `name` of `ns` into `out`. */
static int
export_image(struct imaged_service *svc, const char *ns, const char *name,
             struct imaged_export_image *out, br_err *err)
{
	_cleanup_(br_ref_freep) struct br_ref *ref = NULL;
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_image img;

	if (br_ref_parse(name, &ref, err) < 0)
		return -1;
	_cleanup_free_ char *full = br_ref_string(ref);
	if (imaged_store_get_image(svc->db, ns, full, arena, &img, err) < 0)
		return -1;
	if (img.target.media_type == NULL || img.target.digest == NULL ||
	    img.manifest_digest == NULL)
		return br_err_set(err, BR_FAILED_PRECONDITION, "image %s: incomplete record", full);
	out->name = xstrdup(img.name);
	out->tag = ref->tag != NULL && ref->digest[0] == '\0' ? xstrdup(ref->tag) : NULL;
	out->target_media_type = xstrdup(img.target.media_type);
	snprintf(out->target_digest, sizeof(out->target_digest), "%s", img.target.digest);
	out->target_size = img.target.size;
	snprintf(out->manifest_digest, sizeof(out->manifest_digest), "%s", img.manifest_digest);
	return 0;
}

/* Start the export that `buf` asks for, handing it `fd` (closed then); -1 with err and fd
 * still ours. */
static int
start_export(struct imaged_service *svc, const char *buf, size_t len, int fd, br_err *err)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_request req;
	struct br_image_export_req ex;
	struct imaged_job *job;

	if (br_request_decode(buf, len, arena, &req, err) < 0)
		return -1;
	if (strcmp(req.method, "images.export") != 0)
		return br_err_set(err, BR_NOT_IMPLEMENTED, "%s is no stream of imaged", req.method);
	if (br_msg_decode(&req.params, &br_image_export_req_schema, "p", arena, &ex, err) < 0)
		return -1;
	bool docker = ex.format != NULL && strcmp(ex.format, "docker") == 0;
	if (ex.format != NULL && ex.format[0] != '\0' && !docker && strcmp(ex.format, "oci") != 0)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "format \"%s\": expected \"oci\" or \"docker\"", ex.format);
	if (ex.names.n == 0)
		return br_err_set(err, BR_INVALID_ARGUMENT, "no image to export");
	if (ex.platform != NULL && ex.platform[0] != '\0') {
		struct br_oci_platform p = {0};
		if (br_oci_platform_parse(ex.platform, &p, err) < 0)
			return -1;
		br_oci_platform_fini(&p);
	}
	const char *ns = req.ns[0] != '\0' ? req.ns : "default";
	struct imaged_export_arg *a = xnew(struct imaged_export_arg);
	a->fd = -1;
	a->docker = docker;
	a->platform = ex.platform && ex.platform[0] ? xstrdup(ex.platform) : NULL;
	a->images = xcalloc(ex.names.n, sizeof(*a->images));
	for (size_t i = 0; i < ex.names.n; i++) {
		if (export_image(svc, ns, ex.names.v[i], &a->images[i], err) < 0) {
			imaged_export_arg_free(a);
			return -1;
		}
		a->n_images++;
	}
	/* The job owns a copy of the connection (closed with its arg, even when it does not
	 * start); ours stays to answer a refusal. */
	a->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (a->fd < 0) {
		int e = errno;
		imaged_export_arg_free(a);
		return br_err_errno(err, BR_RESOURCE_EXHAUSTED, e, "dup");
	}
	if (imaged_job_start(svc, ns, "export", imaged_export_run, a, imaged_export_arg_free, &job,
	                     err) < 0)
		return -1;
	close(fd);
	br_log_info("IMAGE-EXPORT", "job %s: export of %zu image(s) in %s", job->id, a->n_images,
	            ns);
	return 0;
}

/* The listener's callback: one stream handed over by the gateway. */
static void
handoff(void *data, const char *envelope, size_t len, int fd)
{
	struct imaged_service *svc = data;
	br_err err = BR_ERR_INIT, ignored = BR_ERR_INIT;

	if (start_export(svc, envelope, len, fd, &err) < 0) {
		br_log_info("IMAGE-STREAM", "refused: %s", err.msg);
		br_stream_write_reply(fd, &err, &ignored);
		close(fd);
	}
}

int
imaged_streams_start(struct imaged_service *svc, br_err *err)
{
	_cleanup_free_ char *url = br_config_socket_url(svc->cfg, "imaged");

	return br_stream_listener_start(svc->uv, url, "IMAGE-STREAM", handoff, svc, &svc->streams,
	                                err);
}

void
imaged_streams_stop(struct imaged_service *svc)
{
	br_stream_listener_stop(svc->streams);
	svc->streams = NULL;
}
