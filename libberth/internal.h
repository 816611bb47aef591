/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the files of libberth share and the public header must not show: the client's
 * innards, the conversion between the suite's br_err and berth_error, and typed calls with
 * common's schemas (used by the typed helpers, the subscription and the CLI). Never
 * installed; the CLI (ctl/) includes it for libberth_call_schema(). Cross-file names here
 * start with libberth_, so that the version script, which exports berth_*, keeps them inside
 * libberth.so.
 */
#ifndef BR_LIBBERTH_INTERNAL_H
#define BR_LIBBERTH_INTERNAL_H

#include "common/err.h"
#include "common/msg.h"
#include "common/proto/types.h"
#include "common/rpc.h"
#include "libberth/berth.h"

#define BERTH_GATEWAY_NAME "berth-gatewayd"

struct berth_client {
	char *path; /* the socket's file system path */
	br_rpc_client *rpc;
};

/* Copy a suite error into a public one and back (either side may be NULL). */
void libberth_error_from_br(berth_error *dst, const br_err *src);
void libberth_error_to_br(br_err *dst, const berth_error *src);

/* Set `err` (may be NULL); returns -1. */
int libberth_error_set(berth_error *err, berth_code code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/*
 * A typed call: params packed from `ps`/`params` (NULL schema: an empty map), the result
 * decoded with `rs` into `ret` (rs->size bytes) in `arena`, which the caller owns; rs NULL
 * ignores the result. Goes through berth_call_with(), so it behaves exactly as a raw call.
 * Errors: as berth_call_with; INVALID_ARGUMENT "malformed reply to M: ..." for a result the
 * schema rejects. Any thread.
 */
/* A request id for one logical operation (docs/tasks.md "Request ids"): 32 random hex
 * digits and a NUL. Any thread. */
void libberth_request_id(char out[33]);

/* libberth_call_schema asked again with the same params (which carry a request id) while the
 * call fails with UNAVAILABLE, DEADLINE_EXCEEDED or CANCELED, for at most
 * LIBBERTH_RETRY_MS: the gateway or taskd restarting. Errors: the last call's. */
#define LIBBERTH_RETRY_MS 60000
int libberth_call_retrying(berth_client *c, const berth_call_options *opts, const char *method,
                           const struct br_schema *ps, const void *params,
                           const struct br_schema *rs, void *ret, br_arena *arena, br_err *err);

int libberth_call_schema(berth_client *c, const berth_call_options *opts, const char *method,
                         const struct br_schema *ps, const void *params, const struct br_schema *rs,
                         void *ret, br_arena *arena, br_err *err);

/*
 * Call the paged list `method` until its last page and gather every item (`item_size` bytes
 * each) into one array in `arena`, as ctl_list_all does for the CLI: `req` (packed with `ps`)
 * has its paging member at `*page`; `resp` is a scratch reply (decoded with `rs`) whose
 * members `*items` and `*next_token` are read after each page.
 */
int libberth_list_all(berth_client *c, const berth_call_options *opts, const char *method,
                      const struct br_schema *ps, const void *req, struct br_page_req *page,
                      const struct br_schema *rs, void *resp, const struct br_objlist *items,
                      const char *const *next_token, size_t item_size, br_arena *arena,
                      struct br_objlist *ret, br_err *err);

/* Open a stream (berth_stream_open) beside the gateway socket `socket_path`, with params
 * packed from `ps`/`params`; the CLI's way in. It needs no RPC connection. */
int libberth_stream_open_schema(const char *socket_path, const char *method, const char *ns,
                                const struct br_schema *ps, const void *params, int *ret_fd,
                                br_err *err);

/* The same, with the REPLY's result decoded with `rs` into ret_result (strings in arena):
 * images.export's {id}. */
int libberth_stream_open_result(const char *socket_path, const char *method, const char *ns,
                                const struct br_schema *ps, const void *params,
                                const struct br_schema *rs, void *ret_result, br_arena *arena,
                                int *ret_fd, br_err *err);

/* malloc'd copy of `s` (NULL stays NULL); aborts on OOM as the rest of the suite does. */
char *libberth_strdup(const char *s);

#endif
