/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The outbox: requests to other daemons that a daemon's database has committed to, delivered
 * until they are acknowledged. A daemon writes a message into its outbox table in the same
 * SQLite transaction as the change the message follows (a lease that must go because an image
 * record went), so the message exists exactly when the change does, whatever crashes when.
 * After the commit it kicks the outbox; the deliverer sends the messages to their target
 * daemon one at a time and in order, deletes each once the target answered, and on a
 * transient failure (the target is down: UNAVAILABLE, DEADLINE_EXCEEDED, CANCELED) waits and
 * sends it again, backing off from 100 ms to 5 s. Messages survive restarts: a new deliverer
 * sends what the last one left.
 *
 * Messages must therefore be idempotent requests (a lease put with `replace`, a delete), and
 * an answer such as NOT_FOUND to a delete means "done": any answer other than a transient
 * failure ends the message (unexpected errors are logged, OUTBOX-DROP).
 *
 * Threading: the loop thread; `db` is the daemon's loop-thread connection.
 */
#ifndef BR_COMMON_OUTBOX_H
#define BR_COMMON_OUTBOX_H

#include <stdint.h>

#include <sqlite3.h>

#include "common/err.h"
#include "common/loop.h"
#include "common/msg.h"
#include "common/rpc.h"

#define BR_OUTBOX_SCHEMA_SQL                       \
	"CREATE TABLE IF NOT EXISTS outbox ("      \
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT," \
	"  target TEXT NOT NULL,"                  \
	"  method TEXT NOT NULL,"                  \
	"  namespace TEXT NOT NULL,"               \
	"  params BLOB NOT NULL,"                  \
	"  created_at INTEGER NOT NULL);"          \
	"CREATE INDEX IF NOT EXISTS outbox_target ON outbox (target, seq);"

#define BR_OUTBOX_TIMEOUT_MS 10000 /* one delivery attempt */

struct br_outbox;

/* A daemon messages are delivered to: "contentd" and the client that reaches it. */
struct br_outbox_peer {
	const char *target;
	br_rpc_client *client;
	/* The target is the event log (gatewayd): its messages are events (br_event_add),
	 * sent in batches as events.publish {source, events: [{seq, namespace, topic, time,
	 * payload}]}, numbered by their outbox seq so that the log recognises a batch sent
	 * again. */
	bool events;
};

/*
 * Queue `method` with params packed from `schema`/`params` for `target` in namespace `ns`.
 * Call inside the transaction of the change it follows, then br_outbox_kick() after the
 * commit. Any thread that owns `db`.
 */
int br_outbox_add(sqlite3 *db, const char *target, const char *method, const char *ns,
                  const struct br_schema *schema, const void *params, br_err *err);
/* The same with params already packed (a msgpack map of `len` bytes). */
int br_outbox_add_raw(sqlite3 *db, const char *target, const char *method, const char *ns,
                      const void *params, size_t len, br_err *err);

/* A deliverer for the outbox of `db`, to `peers` (copied; clients must outlive it). Makes
 * the outbox tables if the daemon's migrations did not, and names the database's event source
 * after `daemon` ("taskd"). Starts sending what is queued at once. Loop thread. */
struct br_outbox *br_outbox_new(struct br_loop *loop, sqlite3 *db, const char *daemon,
                                const struct br_outbox_peer *peers, size_t n);
/* Send what was added since (loop thread). Cheap when there is nothing to send. */
void br_outbox_kick(struct br_outbox *ob);
/*
 * Call done(arg, delivered) once every message queued before this call (events aside: they
 * go to the event log on their own time) has been delivered
 * (delivered = true), or after `timeout_ms` (false: they are still queued and will go when
 * their targets answer). Never inline. For a caller that wants the effect of its change on
 * the other daemons before it answers ("images rm" that returns once the stores dropped the
 * image's leases), without making its answer depend on them. Loop thread.
 */
void br_outbox_wait(struct br_outbox *ob, int64_t timeout_ms,
                    void (*done)(void *arg, bool delivered), void *arg);

/* Messages not yet acknowledged (a COUNT on the table). */
int64_t br_outbox_pending(struct br_outbox *ob);
/* Stop delivering (messages stay queued for the next start). A delivery in flight completes
 * later (CANCELED when its client is freed) and then frees what is left. Accepts NULL. */
void br_outbox_free(struct br_outbox *ob);

#endif
