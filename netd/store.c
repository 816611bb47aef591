/* SPDX-License-Identifier: Apache-2.0 */
/*
 * netd's records in <root>/netd/meta.db (docs/network.md, "Records and recovery"):
 *   - attachments: one row per container network, keyed by (namespace, id), with what its
 *     files are made from (name, hostname, dns, add_hosts);
 *   - endpoints: one row per interface on a named network, written "adding" before the CNI
 *     plugins run and "ready" with their result after;
 *   - ports: what an endpoint publishes, one owner per (address, port, protocol);
 *   - networks and their labels.
 * Each change carries its event (/networks/connect, /networks/disconnect, /networks/create,
 * /networks/delete) in its transaction. Loop thread.
 */
#include <stdio.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/db.h"
#include "common/events.h"
#include "common/xalloc.h"
#include "netd/netd.h"

static const struct br_db_migration migrations[] = {
        {1, "CREATE TABLE attachments ("
            " namespace TEXT NOT NULL, id TEXT NOT NULL, mode TEXT NOT NULL,"
            " netns_path TEXT NOT NULL, hosts_path TEXT NOT NULL, resolv_path TEXT NOT NULL,"
            " created_at INTEGER NOT NULL, PRIMARY KEY (namespace, id));"},
        {2, "ALTER TABLE attachments ADD COLUMN name TEXT NOT NULL DEFAULT '';"
            "ALTER TABLE attachments ADD COLUMN hostname TEXT NOT NULL DEFAULT '';"
            "ALTER TABLE attachments ADD COLUMN dns TEXT NOT NULL DEFAULT '';"
            "ALTER TABLE attachments ADD COLUMN add_hosts TEXT NOT NULL DEFAULT '';"
            "CREATE TABLE networks (name TEXT PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
            " bridge TEXT NOT NULL UNIQUE, subnet TEXT NOT NULL, gateway TEXT NOT NULL,"
            " internal INTEGER NOT NULL, created_at INTEGER NOT NULL);"
            "CREATE TABLE network_labels (network TEXT NOT NULL, key TEXT NOT NULL,"
            " value TEXT NOT NULL, PRIMARY KEY (network, key));"
            "CREATE TABLE endpoints (namespace TEXT NOT NULL, id TEXT NOT NULL,"
            " network TEXT NOT NULL, ifname TEXT NOT NULL, state TEXT NOT NULL,"
            " conflist TEXT NOT NULL, result TEXT NOT NULL DEFAULT '',"
            " address TEXT NOT NULL DEFAULT '', gateway TEXT NOT NULL DEFAULT '',"
            " mac TEXT NOT NULL DEFAULT '', PRIMARY KEY (namespace, id, network));"
            "CREATE INDEX endpoints_by_network ON endpoints (network);"
            "CREATE TABLE ports (namespace TEXT NOT NULL, id TEXT NOT NULL,"
            " network TEXT NOT NULL, host_ip TEXT NOT NULL, host_port INTEGER NOT NULL,"
            " container_port INTEGER NOT NULL, protocol TEXT NOT NULL,"
            " PRIMARY KEY (host_ip, host_port, protocol));"
            "CREATE INDEX ports_by_owner ON ports (namespace, id);"},
};

int
netd_store_open(const char *data_dir, sqlite3 **ret, br_err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/meta.db", data_dir);
	return br_db_open(path, migrations, sizeof(migrations) / sizeof(migrations[0]), ret, err);
}

/* A string list stored as its lines. */
static char *
join_lines(const struct br_strlist *l)
{
	size_t len = 1;
	char *s, *p;

	for (size_t i = 0; i < l->n; i++)
		len += strlen(l->v[i]) + 1;
	p = s = xmalloc(len);
	for (size_t i = 0; i < l->n; i++)
		p += sprintf(p, "%s%s", i ? "\n" : "", l->v[i]);
	*p = '\0';
	return s;
}

static void
split_lines(const char *text, br_arena *arena, struct br_strlist *ret)
{
	size_t n = 0;
	const char **v;

	ret->n = 0;
	ret->v = NULL;
	if (text == NULL || text[0] == '\0')
		return;
	for (const char *p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		n++;
	v = br_arena_alloc(arena, n * sizeof(*v));
	n = 0;
	for (const char *p = text; p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char *s = br_arena_alloc(arena, len + 1);
		memcpy(s, p, len);
		s[len] = '\0';
		v[n++] = s;
		p = nl ? nl + 1 : NULL;
	}
	ret->v = v;
	ret->n = n;
}

#define ATTACHMENT_COLS                                                                         \
	"namespace, id, mode, netns_path, hosts_path, resolv_path, created_at, name, hostname," \
	" dns, add_hosts"

static void
row_to_rec(sqlite3_stmt *st, br_arena *arena, struct netd_attachment_rec *r)
{
	memset(r, 0, sizeof(*r));
	r->a.id = br_arena_strdup(arena, br_db_text(st, 1));
	r->a.mode = br_arena_strdup(arena, br_db_text(st, 2));
	r->a.netns_path = br_arena_strdup(arena, br_db_text(st, 3));
	r->a.hosts_path = br_arena_strdup(arena, br_db_text(st, 4));
	r->a.resolv_path = br_arena_strdup(arena, br_db_text(st, 5));
	r->a.created_at = sqlite3_column_int64(st, 6);
	r->a.name = br_arena_strdup(arena, br_db_text(st, 7));
	r->hostname = br_arena_strdup(arena, br_db_text(st, 8));
	split_lines(br_db_text(st, 9), arena, &r->dns);
	split_lines(br_db_text(st, 10), arena, &r->add_hosts);
}

int
netd_store_ports(sqlite3 *db, const char *ns, const char *id, const char *network, br_arena *arena,
                 struct br_objlist *ret, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	size_t n = 0;
	struct br_net_port *v;
	int rc;

	if (br_db_prepare(db,
	                  "SELECT host_ip, host_port, container_port, protocol FROM ports"
	                  " WHERE namespace = ?1 AND id = ?2 AND (?3 IS NULL OR network = ?3)"
	                  " ORDER BY container_port, protocol",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	if (network != NULL)
		sqlite3_bind_text(st, 3, network, -1, SQLITE_STATIC);
	v = br_arena_alloc(arena, BR_NET_PORTS_MAX * sizeof(*v));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < BR_NET_PORTS_MAX) {
		v[n].host_ip = br_arena_strdup(arena, br_db_text(st, 0));
		v[n].host_port = (uint32_t)sqlite3_column_int(st, 1);
		v[n].container_port = (uint32_t)sqlite3_column_int(st, 2);
		v[n].protocol = br_arena_strdup(arena, br_db_text(st, 3));
		n++;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return br_db_error(db, rc, err, "read the ports of container \"%s\"", id);
	ret->v = v;
	ret->n = n;
	return 0;
}

/* Endpoints and ports of the attachment, into its wire form. */
static int
fill_attachment(sqlite3 *db, const char *ns, br_arena *arena, struct br_net_attachment *a,
                br_err *err)
{
	struct netd_endpoint *eps;
	struct br_net_endpoint *v;
	size_t n;

	if (netd_store_endpoints(db, ns, a->id, NULL, "ready", arena, &eps, &n, err) < 0)
		return -1;
	v = br_arena_alloc(arena, (n ? n : 1) * sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = (struct br_net_endpoint){.network = eps[i].network,
		                                .ifname = eps[i].ifname,
		                                .address = eps[i].address,
		                                .gateway = eps[i].gateway,
		                                .mac = eps[i].mac};
	a->endpoints.v = v;
	a->endpoints.n = n;
	return netd_store_ports(db, ns, a->id, NULL, arena, &a->ports, err);
}

int
netd_store_get(sqlite3 *db, const char *ns, const char *id, br_arena *arena,
               struct netd_attachment_rec *ret, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc;

	if (br_db_prepare(db,
	                  "SELECT " ATTACHMENT_COLS
	                  " FROM attachments WHERE namespace = ? AND id = ?",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		row_to_rec(st, arena, ret);
		return fill_attachment(db, ns, arena, &ret->a, err);
	}
	if (rc == SQLITE_DONE)
		return br_err_set(err, BR_NOT_FOUND, "network of container \"%s\": not found", id);
	return br_db_error(db, rc, err, "read network of container \"%s\"", id);
}

static int
connect_event(sqlite3 *db, const char *ns, const char *topic, const char *id, const char *network,
              const char *netns_path, const char *address, br_err *err)
{
	struct br_event_network_attachment ev = {.container_id = id,
	                                         .network = network,
	                                         .netns_path = netns_path,
	                                         .address = address};
	return br_event_add(db, ns, topic, &br_event_network_attachment_schema, &ev, err);
}

static int
endpoint_ready_in_tx(sqlite3 *db, const struct netd_endpoint *e, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(db,
	                  "UPDATE endpoints SET state = 'ready', result = ?, address = ?,"
	                  " gateway = ?, mac = ? WHERE namespace = ? AND id = ? AND network = ?",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, e->result ? e->result : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, e->address ? e->address : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, e->gateway ? e->gateway : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, e->mac ? e->mac : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, e->ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, e->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, e->network, -1, SQLITE_STATIC);
	return br_db_step_done(db, st, err, "record interface %s of container \"%s\"", e->ifname,
	                       e->id);
}

int
netd_store_put(sqlite3 *db, const char *ns, const struct netd_attachment_rec *r,
               const char *const *results, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_free_ char *dns = join_lines(&r->dns);
	_cleanup_free_ char *hosts = join_lines(&r->add_hosts);
	const struct br_net_attachment *a = &r->a;

	if (br_db_prepare(db,
	                  "INSERT INTO attachments (" ATTACHMENT_COLS
	                  ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, a->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, a->mode, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, a->netns_path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, a->hosts_path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, a->resolv_path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, a->created_at);
	sqlite3_bind_text(st, 8, a->name ? a->name : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, r->hostname ? r->hostname : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, dns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 11, hosts, -1, SQLITE_STATIC);
	if (br_db_begin(db, err) < 0)
		return br_err_wrap(err, "record network of container \"%s\"", a->id);
	if (br_db_step_done(db, st, err, "record network of container \"%s\"", a->id) < 0)
		goto fail;
	if (a->endpoints.n == 0 && connect_event(db, ns, BR_TOPIC_NETWORK_CONNECT, a->id, a->mode,
	                                         a->netns_path, "", err) < 0)
		goto fail;
	for (size_t i = 0; i < a->endpoints.n; i++) {
		const struct br_net_endpoint *ep =
		        (const struct br_net_endpoint *)a->endpoints.v + i;
		struct netd_endpoint e = {.ns = ns,
		                          .id = a->id,
		                          .network = ep->network,
		                          .ifname = ep->ifname,
		                          .result = results ? results[i] : "",
		                          .address = ep->address,
		                          .gateway = ep->gateway,
		                          .mac = ep->mac};
		if (endpoint_ready_in_tx(db, &e, err) < 0 ||
		    connect_event(db, ns, BR_TOPIC_NETWORK_CONNECT, a->id, ep->network,
		                  a->netns_path, ep->address, err) < 0)
			goto fail;
	}
	return br_db_commit(db, err);
fail:
	br_db_rollback(db);
	return -1;
}

int
netd_store_delete(sqlite3 *db, const char *ns, const struct br_net_attachment *a, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_stmt_ sqlite3_stmt *st_ep = NULL;
	_cleanup_stmt_ sqlite3_stmt *st_ports = NULL;

	if (br_db_prepare(db, "DELETE FROM attachments WHERE namespace = ?1 AND id = ?2", &st,
	                  err) < 0 ||
	    br_db_prepare(db, "DELETE FROM endpoints WHERE namespace = ?1 AND id = ?2", &st_ep,
	                  err) < 0 ||
	    br_db_prepare(db, "DELETE FROM ports WHERE namespace = ?1 AND id = ?2", &st_ports,
	                  err) < 0)
		return -1;
	sqlite3_stmt *all[] = {st_ports, st_ep, st};
	if (br_db_begin(db, err) < 0)
		return br_err_wrap(err, "delete network of container \"%s\"", a->id);
	for (size_t i = 0; i < 3; i++) {
		sqlite3_bind_text(all[i], 1, ns, -1, SQLITE_STATIC);
		sqlite3_bind_text(all[i], 2, a->id, -1, SQLITE_STATIC);
		if (br_db_step_done(db, all[i], err, "delete network of container \"%s\"", a->id) <
		    0)
			goto fail;
	}
	/* Two detaches of one container may both get here: only the one that removed the row
	 * says so. */
	if (sqlite3_changes(db) > 0) {
		if (a->endpoints.n == 0 && connect_event(db, ns, BR_TOPIC_NETWORK_DISCONNECT, a->id,
		                                         a->mode, a->netns_path, "", err) < 0)
			goto fail;
		for (size_t i = 0; i < a->endpoints.n; i++) {
			const struct br_net_endpoint *ep =
			        (const struct br_net_endpoint *)a->endpoints.v + i;
			if (connect_event(db, ns, BR_TOPIC_NETWORK_DISCONNECT, a->id, ep->network,
			                  a->netns_path, ep->address, err) < 0)
				goto fail;
		}
	}
	return br_db_commit(db, err);
fail:
	br_db_rollback(db);
	return -1;
}

int
netd_store_list(sqlite3 *db, const char *ns, br_arena *arena, struct br_objlist *ret,
                const char ***ret_ns, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	size_t cap = 16, n = 0;
	struct br_net_attachment *items;
	const char **nss;
	int rc;

	if (br_db_prepare(db,
	                  "SELECT " ATTACHMENT_COLS " FROM attachments WHERE ?1 IS NULL OR"
	                  " namespace = ?1 ORDER BY namespace, id",
	                  &st, err) < 0)
		return -1;
	if (ns != NULL)
		sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	items = br_arena_alloc(arena, cap * sizeof(*items));
	nss = br_arena_alloc(arena, cap * sizeof(*nss));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct netd_attachment_rec r;
		if (n == cap) {
			struct br_net_attachment *bigger =
			        br_arena_alloc(arena, 2 * cap * sizeof(*items));
			const char **bigger_ns = br_arena_alloc(arena, 2 * cap * sizeof(*nss));
			memcpy(bigger, items, n * sizeof(*items));
			memcpy(bigger_ns, nss, n * sizeof(*nss));
			items = bigger;
			nss = bigger_ns;
			cap *= 2;
		}
		nss[n] = br_arena_strdup(arena, br_db_text(st, 0));
		row_to_rec(st, arena, &r);
		items[n] = r.a;
		n++;
	}
	if (rc != SQLITE_DONE)
		return br_db_error(db, rc, err, "list networks");
	for (size_t i = 0; i < n; i++)
		if (fill_attachment(db, nss[i], arena, &items[i], err) < 0)
			return -1;
	ret->v = items;
	ret->n = n;
	if (ret_ns != NULL)
		*ret_ns = nss;
	return 0;
}

/* ------------------------------------------------------------------ endpoints */

int
netd_store_port_taken(sqlite3 *db, const struct br_net_port *p, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc;

	if (br_db_prepare(db,
	                  "SELECT namespace, id, host_ip FROM ports WHERE host_port = ?1 AND"
	                  " protocol = ?2 AND (host_ip = ?3 OR host_ip = '' OR ?3 = '') LIMIT 1",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_int(st, 1, (int)p->host_port);
	sqlite3_bind_text(st, 2, p->protocol, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, p->host_ip ? p->host_ip : "", -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return br_err_set(err, BR_ALREADY_EXISTS,
		                  "port %s:%u/%s is already published by container \"%s\" "
		                  "(namespace %s)",
		                  p->host_ip && p->host_ip[0] ? p->host_ip : "0.0.0.0",
		                  p->host_port, p->protocol, br_db_text(st, 1), br_db_text(st, 0));
	if (rc != SQLITE_DONE)
		return br_db_error(db, rc, err, "check port %u/%s", p->host_port, p->protocol);
	return 0;
}

int
netd_store_endpoint_begin(sqlite3 *db, const struct netd_endpoint *e,
                          const struct br_net_port *ports, size_t n_ports, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_stmt_ sqlite3_stmt *st_port = NULL;

	if (br_db_prepare(db,
	                  "INSERT INTO endpoints (namespace, id, network, ifname, state, conflist)"
	                  " VALUES (?, ?, ?, ?, 'adding', ?)",
	                  &st, err) < 0 ||
	    br_db_prepare(db,
	                  "INSERT INTO ports (namespace, id, network, host_ip, host_port,"
	                  " container_port, protocol) VALUES (?, ?, ?, ?, ?, ?, ?)",
	                  &st_port, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, e->ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, e->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, e->network, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, e->ifname, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, e->conflist, -1, SQLITE_STATIC);
	if (br_db_begin(db, err) < 0)
		return -1;
	if (br_db_step_done(db, st, err, "record interface %s of container \"%s\"", e->ifname,
	                    e->id) < 0)
		goto fail;
	for (size_t i = 0; i < n_ports; i++) {
		sqlite3_reset(st_port);
		sqlite3_bind_text(st_port, 1, e->ns, -1, SQLITE_STATIC);
		sqlite3_bind_text(st_port, 2, e->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st_port, 3, e->network, -1, SQLITE_STATIC);
		sqlite3_bind_text(st_port, 4, ports[i].host_ip ? ports[i].host_ip : "", -1,
		                  SQLITE_STATIC);
		sqlite3_bind_int(st_port, 5, (int)ports[i].host_port);
		sqlite3_bind_int(st_port, 6, (int)ports[i].container_port);
		sqlite3_bind_text(st_port, 7, ports[i].protocol, -1, SQLITE_STATIC);
		if (br_db_step_done(db, st_port, err, "publish port %u/%s", ports[i].host_port,
		                    ports[i].protocol) < 0)
			goto fail;
	}
	return br_db_commit(db, err);
fail:
	br_db_rollback(db);
	return -1;
}

int
netd_store_endpoint_ready(sqlite3 *db, const struct netd_endpoint *e, bool event, br_err *err)
{
	if (br_db_begin(db, err) < 0)
		return -1;
	if (endpoint_ready_in_tx(db, e, err) < 0 ||
	    (event && connect_event(db, e->ns, BR_TOPIC_NETWORK_CONNECT, e->id, e->network, "",
	                            e->address, err) < 0)) {
		br_db_rollback(db);
		return -1;
	}
	return br_db_commit(db, err);
}

int
netd_store_endpoint_delete(sqlite3 *db, const char *ns, const char *id, const char *network,
                           const struct br_net_attachment *a, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_stmt_ sqlite3_stmt *st_ports = NULL;
	_cleanup_stmt_ sqlite3_stmt *st_get = NULL;
	bool was_ready = false;
	char address[BR_NET_ADDR_MAX + 1] = "";
	int rc;

	if (br_db_prepare(db,
	                  "SELECT state, address FROM endpoints WHERE namespace = ?1 AND id = ?2"
	                  " AND network = ?3",
	                  &st_get, err) < 0 ||
	    br_db_prepare(db,
	                  "DELETE FROM endpoints WHERE namespace = ?1 AND id = ?2 AND network = ?3",
	                  &st, err) < 0 ||
	    br_db_prepare(db, "DELETE FROM ports WHERE namespace = ?1 AND id = ?2 AND network = ?3",
	                  &st_ports, err) < 0)
		return -1;
	sqlite3_stmt *all[] = {st_get, st_ports, st};
	for (size_t i = 0; i < 3; i++) {
		sqlite3_bind_text(all[i], 1, ns, -1, SQLITE_STATIC);
		sqlite3_bind_text(all[i], 2, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(all[i], 3, network, -1, SQLITE_STATIC);
	}
	if (br_db_begin(db, err) < 0)
		return -1;
	rc = sqlite3_step(st_get);
	if (rc == SQLITE_ROW) {
		was_ready = strcmp(br_db_text(st_get, 0), "ready") == 0;
		snprintf(address, sizeof(address), "%s", br_db_text(st_get, 1));
	}
	if (br_db_step_done(db, st_ports, err, "delete interface of container \"%s\"", id) < 0 ||
	    br_db_step_done(db, st, err, "delete interface of container \"%s\"", id) < 0 ||
	    (was_ready && a != NULL &&
	     connect_event(db, ns, BR_TOPIC_NETWORK_DISCONNECT, id, network, a->netns_path, address,
	                   err) < 0)) {
		br_db_rollback(db);
		return -1;
	}
	return br_db_commit(db, err);
}

int
netd_store_endpoints(sqlite3 *db, const char *ns, const char *id, const char *network,
                     const char *state, br_arena *arena, struct netd_endpoint **ret, size_t *ret_n,
                     br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	size_t cap = 8, n = 0;
	struct netd_endpoint *v;
	int rc;

	if (br_db_prepare(db,
	                  "SELECT namespace, id, network, ifname, state, conflist, result, address,"
	                  " gateway, mac FROM endpoints WHERE (?1 IS NULL OR namespace = ?1) AND"
	                  " (?2 IS NULL OR id = ?2) AND (?3 IS NULL OR network = ?3) AND"
	                  " (?4 IS NULL OR state = ?4) ORDER BY namespace, id, ifname",
	                  &st, err) < 0)
		return -1;
	if (ns != NULL)
		sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	if (id != NULL)
		sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	if (network != NULL)
		sqlite3_bind_text(st, 3, network, -1, SQLITE_STATIC);
	if (state != NULL)
		sqlite3_bind_text(st, 4, state, -1, SQLITE_STATIC);
	v = br_arena_alloc(arena, cap * sizeof(*v));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			struct netd_endpoint *bigger = br_arena_alloc(arena, 2 * cap * sizeof(*v));
			memcpy(bigger, v, n * sizeof(*v));
			v = bigger;
			cap *= 2;
		}
		const char **f[] = {&v[n].ns,      &v[n].id,       &v[n].network, &v[n].ifname,
		                    &v[n].state,   &v[n].conflist, &v[n].result,  &v[n].address,
		                    &v[n].gateway, &v[n].mac};
		for (int i = 0; i < 10; i++)
			*f[i] = br_arena_strdup(arena, br_db_text(st, i));
		n++;
	}
	if (rc != SQLITE_DONE)
		return br_db_error(db, rc, err, "list interfaces");
	*ret = v;
	*ret_n = n;
	return 0;
}

int
netd_store_members(sqlite3 *db, const char *network, br_arena *arena, struct netd_member **ret,
                   size_t *ret_n, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	size_t cap = 16, n = 0;
	struct netd_member *v;
	int rc;

	if (br_db_prepare(
	            db,
	            "SELECT e.namespace, e.id, e.network, e.ifname, e.address, e.mac, a.name,"
	            " a.hostname, a.hosts_path, a.add_hosts FROM endpoints e JOIN attachments a"
	            " ON a.namespace = e.namespace AND a.id = e.id WHERE e.state = 'ready' AND"
	            " (?1 IS NULL OR e.network = ?1) ORDER BY e.namespace, e.id, e.ifname",
	            &st, err) < 0)
		return -1;
	if (network != NULL)
		sqlite3_bind_text(st, 1, network, -1, SQLITE_STATIC);
	v = br_arena_alloc(arena, cap * sizeof(*v));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			struct netd_member *bigger = br_arena_alloc(arena, 2 * cap * sizeof(*v));
			memcpy(bigger, v, n * sizeof(*v));
			v = bigger;
			cap *= 2;
		}
		const char **f[] = {&v[n].ns,     &v[n].id,       &v[n].network,
		                    &v[n].ifname, &v[n].address,  &v[n].mac,
		                    &v[n].name,   &v[n].hostname, &v[n].hosts_path};
		for (int i = 0; i < 9; i++)
			*f[i] = br_arena_strdup(arena, br_db_text(st, i));
		split_lines(br_db_text(st, 9), arena, &v[n].add_hosts);
		n++;
	}
	if (rc != SQLITE_DONE)
		return br_db_error(db, rc, err, "list the members of networks");
	*ret = v;
	*ret_n = n;
	return 0;
}

/* ------------------------------------------------------------------ networks */

#define NETWORK_COLS "name, id, bridge, subnet, gateway, internal, created_at"

static int
row_to_network(sqlite3 *db, sqlite3_stmt *st, br_arena *arena, struct br_network *n, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *labels = NULL;
	_cleanup_stmt_ sqlite3_stmt *count = NULL;

	memset(n, 0, sizeof(*n));
	n->name = br_arena_strdup(arena, br_db_text(st, 0));
	n->id = br_arena_strdup(arena, br_db_text(st, 1));
	n->driver = "bridge";
	n->bridge = br_arena_strdup(arena, br_db_text(st, 2));
	n->subnet = br_arena_strdup(arena, br_db_text(st, 3));
	n->gateway = br_arena_strdup(arena, br_db_text(st, 4));
	n->internal = sqlite3_column_int(st, 5) != 0;
	n->created_at = sqlite3_column_int64(st, 6);
	if (br_db_prepare(db,
	                  "SELECT key, value FROM network_labels WHERE network = ? ORDER BY key",
	                  &labels, err) < 0 ||
	    br_db_prepare(db, "SELECT COUNT(*) FROM endpoints WHERE network = ?", &count, err) < 0)
		return -1;
	sqlite3_bind_text(labels, 1, n->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(count, 1, n->name, -1, SQLITE_STATIC);
	if (br_db_read_labels(db, labels, arena, &n->labels, err) < 0)
		return -1;
	if (sqlite3_step(count) == SQLITE_ROW)
		n->n_members = (uint32_t)sqlite3_column_int(count, 0);
	return 0;
}

int
netd_store_network_get(sqlite3 *db, const char *name, br_arena *arena, struct br_network *ret,
                       br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc;

	if (br_db_prepare(db, "SELECT " NETWORK_COLS " FROM networks WHERE name = ?", &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return row_to_network(db, st, arena, ret, err);
	if (rc == SQLITE_DONE)
		return br_err_set(err, BR_NOT_FOUND, "network \"%s\": not found", name);
	return br_db_error(db, rc, err, "read network \"%s\"", name);
}

static int
network_event(sqlite3 *db, const char *topic, const struct br_network *n, br_err *err)
{
	struct br_event_network ev = {
	        .name = n->name, .id = n->id, .subnet = n->subnet, .bridge = n->bridge};
	/* Networks are the host's; their events are filed under "default", as collections. */
	return br_event_add(db, "default", topic, &br_event_network_schema, &ev, err);
}

int
netd_store_network_put(sqlite3 *db, const struct br_network *n, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_stmt_ sqlite3_stmt *labels = NULL;

	if (br_db_prepare(db,
	                  "INSERT INTO networks (" NETWORK_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?)",
	                  &st, err) < 0 ||
	    br_db_prepare(db, "INSERT INTO network_labels (network, key, value) VALUES (?, ?, ?)",
	                  &labels, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, n->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, n->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, n->bridge, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, n->subnet, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, n->gateway, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 6, n->internal);
	sqlite3_bind_int64(st, 7, n->created_at);
	sqlite3_bind_text(labels, 1, n->name, -1, SQLITE_STATIC);
	if (br_db_begin(db, err) < 0)
		return -1;
	if (br_db_step_done(db, st, err, "record network \"%s\"", n->name) < 0 ||
	    br_db_write_labels(db, labels, 2, &n->labels, err) < 0 ||
	    network_event(db, BR_TOPIC_NETWORK_CREATE, n, err) < 0) {
		br_db_rollback(db);
		return -1;
	}
	return br_db_commit(db, err);
}

int
netd_store_network_delete(sqlite3 *db, const struct br_network *n, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_stmt_ sqlite3_stmt *labels = NULL;

	if (br_db_prepare(db, "DELETE FROM networks WHERE name = ?", &st, err) < 0 ||
	    br_db_prepare(db, "DELETE FROM network_labels WHERE network = ?", &labels, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, n->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(labels, 1, n->name, -1, SQLITE_STATIC);
	if (br_db_begin(db, err) < 0)
		return -1;
	if (br_db_step_done(db, labels, err, "delete network \"%s\"", n->name) < 0 ||
	    br_db_step_done(db, st, err, "delete network \"%s\"", n->name) < 0 ||
	    (sqlite3_changes(db) > 0 && network_event(db, BR_TOPIC_NETWORK_DELETE, n, err) < 0)) {
		br_db_rollback(db);
		return -1;
	}
	return br_db_commit(db, err);
}

int
netd_store_networks(sqlite3 *db, br_arena *arena, struct br_objlist *ret, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	size_t cap = 8, n = 0;
	struct br_network *v;
	int rc;

	if (br_db_prepare(db, "SELECT " NETWORK_COLS " FROM networks ORDER BY name", &st, err) < 0)
		return -1;
	v = br_arena_alloc(arena, cap * sizeof(*v));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			struct br_network *bigger = br_arena_alloc(arena, 2 * cap * sizeof(*v));
			memcpy(bigger, v, n * sizeof(*v));
			v = bigger;
			cap *= 2;
		}
		if (row_to_network(db, st, arena, &v[n], err) < 0)
			return -1;
		n++;
	}
	if (rc != SQLITE_DONE)
		return br_db_error(db, rc, err, "list networks");
	ret->v = v;
	ret->n = n;
	return 0;
}
