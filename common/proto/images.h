/* SPDX-License-Identifier: Apache-2.0 */
/*
 * images.* and jobs.* (berth-imaged).
 *
 *   images.pull    {ref, platform, auth}     -> {id}     a job; follow it with jobs.*
 *   images.login   {registry, auth}          -> {}       checks credentials with the registry
 *   images.import  {digest, name}            -> {id}     a job; the archive is a blob that the
 *                                                        caller wrote to contentd first
 *   images.push    {name, dest, platform, auth} -> {id}  a job: image `name` to reference
 *                                                        `dest` (default: its own name)
 *   images.tag     {source, target}          -> br_image the record `target`, the same image
 *   images.export  {names, format, platform} a stream (docs/streams.md): REPLY {id} (an export
 *                                            job), then the archive in STDOUT frames, EXIT 0
 *   images.list    {page_size, page_token}   -> {items: [br_image], next_page_token}
 *   images.get     {name}                    -> br_image
 *   images.remove  {name}                    -> {}
 *   images.resolve {name}                    -> br_image_runtime   what taskd needs to run it
 *   jobs.get       {id}                      -> br_job
 *   jobs.wait      {id, timeout_ms}          -> br_job   returns when the job ends or time is up
 *   jobs.cancel    {id}                      -> br_job
 *
 * An image is visible (images.list/get) only once every blob is in contentd, every layer is
 * unpacked into a committed snapshot and its diffID checked; a failed or canceled job leaves
 * no image record behind.
 *
 * Events (docs/events.md), in the record's namespace, each in the transaction that changes
 * the record: /images/create when a name is first recorded, /images/update when a pull, an
 * import or a tag records a name again with another target or platform manifest (the same image
 * pulled again changes nothing and emits nothing), /images/delete when the record goes.
 */
#ifndef BR_COMMON_PROTO_IMAGES_H
#define BR_COMMON_PROTO_IMAGES_H

#include "common/proto/types.h"

/*
 * Credentials for a registry, given with a call: a user name and password, or an identity
 * token (a refresh token from a registry's token server, as docker's config.json may hold
 * one). All NULL: none (the configuration's, if any, are used). They are secrets: never
 * logged, never put into a message, an event or a job's status.
 */
struct br_registry_auth {
	const char *username;
	const char *password;
	const char *identity_token;
};
extern const struct br_schema br_registry_auth_schema;
#define BR_REGISTRY_AUTH_MAX 4096 /* bytes of each of its strings */

/* Whether `a` holds credentials (a user name, or an identity token). */
static inline bool
br_registry_auth_given(const struct br_registry_auth *a)
{
	return a != NULL && ((a->username != NULL && a->username[0] != '\0') ||
	                     (a->identity_token != NULL && a->identity_token[0] != '\0'));
}

struct br_image_pull_req {
	const char *ref;
	const char *platform;         /* "linux/amd64"; NULL: the configured default */
	struct br_registry_auth auth; /* optional */
};
extern const struct br_schema br_image_pull_req_schema;

/* images.login: `registry` is a host ("127.0.0.1:5000", "docker.io"); the answer is {}, or
 * PERMISSION_DENIED when the registry refuses the credentials. */
struct br_image_login_req {
	const char *registry;
	struct br_registry_auth auth;
};
extern const struct br_schema br_image_login_req_schema;

struct br_image_import_req {
	const char *digest; /* the archive, an OCI image layout as tar, stored in contentd */
	const char *name;   /* NULL: the names in the archive's index.json annotations */
	const char *platform;
};
extern const struct br_schema br_image_import_req_schema;

struct br_image_push_req {
	const char *name;             /* the image record to push */
	const char *dest;             /* where to: a reference; NULL: the image's own name */
	const char *platform;         /* only this platform's manifest (of an index); NULL: all */
	struct br_registry_auth auth; /* for the destination's registry; as images.pull's */
};
extern const struct br_schema br_image_push_req_schema;

struct br_image_tag_req {
	const char *source; /* an image record */
	const char *target; /* the new (or replaced) record's name */
};
extern const struct br_schema br_image_tag_req_schema;
#define BR_IMAGE_EXPORT_MAX 64 /* images in one archive */

struct br_image_export_req {
	struct br_strlist names; /* image records, 1..BR_IMAGE_EXPORT_MAX */
	const char *format;      /* "oci" (NULL, "") | "docker" */
	const char *platform;    /* NULL: every platform held (oci), the default one (docker) */
};
extern const struct br_schema br_image_export_req_schema;

struct br_image_name_req {
	const char *name;
};
extern const struct br_schema br_image_name_req_schema;

struct br_image {
	const char *name;            /* normalized reference "127.0.0.1:5000/test/sh:latest" */
	struct br_descriptor target; /* what the name points to (index or manifest) */
	const char *manifest_digest; /* the platform manifest chosen */
	const char *config_digest;
	const char *chain_id; /* the chain ID of the top layer */
	const char *snapshot; /* its committed snapshot: "berth.layer.<chain ID>" */
	const char *platform;
	int64_t size; /* compressed bytes of config + layers */
	int64_t created_at;
	int64_t updated_at;
	struct br_strmap labels;
};
extern const struct br_schema br_image_schema;

struct br_image_list_req {
	struct br_page_req page;
};
extern const struct br_schema br_image_list_req_schema;

struct br_image_list_resp {
	struct br_objlist items; /* struct br_image, ordered by name */
	const char *next_page_token;
};
extern const struct br_schema br_image_list_resp_schema;

struct br_image_runtime {
	const char *name;
	const char *chain_id;
	const char *snapshot; /* the parent of a container's snapshot (its top layer's) */
	const char *snapshotter;
	const char *user;
	struct br_strlist env;
	struct br_strlist entrypoint;
	struct br_strlist cmd;
	const char *working_dir;
	const char *stop_signal;
};
extern const struct br_schema br_image_runtime_schema;

/* The payload of /images/create, /images/update and /images/delete: the name and what it
 * points to (for a delete, what it pointed to), with the record's labels if it has any. */
struct br_event_image {
	const char *name;
	struct br_descriptor target;
	struct br_strmap labels;
};
extern const struct br_schema br_event_image_schema;

#endif
