/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Configuration: one JSON file (default /etc/berth/berth.json) with a top-level section per
 * daemon. Every value has a built-in default, so no file is needed; a missing default file is
 * not an error, a missing explicitly named file is. Unknown keys and wrong types are errors
 * that name the key's path ("imaged.registries[0].insecure: expected a boolean"). The whole
 * schema is in docs/config.md.
 *
 *   {
 *     "root": "/var/lib/berth",           persistent data, one subdirectory per daemon
 *     "state": "/run/berth",              sockets and runtime state (tmpfs)
 *     "log": {"level": "info", "format": "text"},
 *     "contentd": {"gc_delay_ms": 1000, "gc_interval_ms": 3600000,
 *                  "ingest_expiry_ms": 86400000},
 *     "snapshotd": {"snapshotter": "overlayfs", "gc_delay_ms": 1000,
 *                   "gc_interval_ms": 3600000},
 *     "imaged": {"registries": [{"host": "127.0.0.1:5000", "insecure": true,
 *                                "skip_verify": false, "ca_file": "...",
 *                                "client_cert": "...", "client_key": "...",
 *                                "username": "...", "password": "...", "auth": "...",
 *                                "mirrors": ["host:port", {"url": "https://...",
 *                                            "capabilities": ["pull", "resolve"]}]}],
 *                "max_concurrent_downloads": 3, "max_concurrent_unpacks": 3,
 *                "platform": "linux/amd64",
 *                "job_lease_ttl_ms": 900000, "push_chunk_threshold": 67108864,
 *                "push_chunk_size": 16777216},
 *     "taskd": {"runtime": "runc", "runtimes": {"runc": "/usr/sbin/runc", "crun": "/usr/bin/crun"},
 *               "shim": "/usr/local/libexec/berth/berth-shim",
 *               "log_max_size": 10485760, "log_max_files": 3},
 *     "netd": {"network": "berth", "cni_bin_dir": "/usr/lib/cni", "cni_conf_dir": "/etc/berth/cni",
 *              "default_bridge": "berth0", "default_subnet": "10.87.0.0/16",
 *              "subnet_pool": "10.91.0.0/16", "bridge_prefix": "berth"},
 *     "gatewayd": {"socket": "/run/berth/berth.sock", "group": "berth", "users": [1000],
 *                  "access": [{"uid": 1000, "namespaces": ["team-a"], "role": "user"},
 *                             {"gid": 100, "namespaces": ["*"], "role": "read"}],
 *                  "timeout_ms": 30000, "max_connections": 1024, "max_calls_per_uid": 64,
 *                  "events": {"max_count": 100000, "max_age_s": 604800},
 *                  "metrics_address": "127.0.0.1:9338"}
 *   }
 *
 * Command-line flags (--root, --state, --config, --log-level) override the file.
 */
#ifndef BR_COMMON_CONFIG_H
#define BR_COMMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/log.h"

#define BR_CONFIG_DEFAULT_PATH "/etc/berth/berth.json"
#define BR_CONFIG_MAX_SIZE (1u << 20)
/* Longest registry user name, password or token accepted anywhere. */
#define BR_REGISTRY_CREDENTIAL_MAX 4096

/* What an endpoint of a registry is used for (as containerd's hosts.toml capabilities):
 * resolving a tag to a digest, fetching by digest, pushing. */
enum {
	BR_REGISTRY_PULL = 1u << 0,
	BR_REGISTRY_RESOLVE = 1u << 1,
	BR_REGISTRY_PUSH = 1u << 2,
};

/* How one endpoint is reached. */
struct br_registry_tls {
	bool insecure;     /* plain HTTP (explicit opt-in) */
	bool skip_verify;  /* TLS without verifying the server's certificate (explicit opt-in) */
	char *ca_file;     /* CAs trusted besides the system's; NULL: the system's only */
	char *client_cert; /* mutual TLS: PEM certificate and key, both or neither */
	char *client_key;
};

/* A mirror: tried before the registry itself for what its capabilities allow. */
struct br_registry_mirror {
	char *url;             /* "https://host[:port][/path]": scheme always present, no "/v2", no
	                        * trailing slash; requests go to <url>/v2/... */
	unsigned capabilities; /* BR_REGISTRY_*; default pull and resolve */
	struct br_registry_tls tls;
};

struct br_registry_config {
	char *host; /* "127.0.0.1:5000", "docker.io" */
	struct br_registry_tls tls;
	char *username; /* credentials for the registry, both or neither; NULL: none */
	char *password;
	struct br_registry_mirror *mirrors;
	size_t n_mirrors;
};

struct br_runtime_config {
	char *name; /* "runc" */
	char *path; /* "/usr/sbin/runc" */
};

/* What a caller may do in a namespace (gatewayd.access; docs/gateway.md). */
enum br_role {
	BR_ROLE_NONE = 0,
	BR_ROLE_READ,  /* lists, inspect and events */
	BR_ROLE_USER,  /* and images, containers and tasks */
	BR_ROLE_ADMIN, /* everything: the raw stores, namespaces, collection */
};

/* One access rule: the callers it matches (a uid or a gid), the namespaces it covers and
 * the role it grants there. */
struct br_access_rule {
	bool by_gid; /* match `id` against the caller's groups, else its uid */
	uint32_t id;
	char **namespaces; /* NULL-terminated; "*" is every namespace */
	enum br_role role;
};

struct br_config {
	char *root;
	char *state;
	enum br_log_level log_level;
	enum br_log_format log_format;

	struct {
		int64_t gc_delay_ms;      /* collect this long after the first release */
		int64_t gc_interval_ms;   /* and this often anyway; 0: never */
		int64_t ingest_expiry_ms; /* an ingest no lease holds goes this long after its
		                           * last write */
	} contentd;

	struct {
		char *snapshotter;
		int64_t gc_delay_ms;
		int64_t gc_interval_ms;
	} snapshotd;

	struct {
		struct br_registry_config *registries;
		size_t n_registries;
		int max_concurrent_downloads;
		int max_concurrent_unpacks; /* layers of one job unpacked at once */
		char *platform;             /* "linux/amd64" */
		/* expiry of a job's lease: renewed while the job runs, so what a job that failed
		 * or died wrote stays this long for the next pull to resume from */
		int64_t job_lease_ttl_ms;
		/* push: blobs larger than the threshold are uploaded in chunks of chunk_size
		 * (PATCH), the others in one PUT */
		int64_t push_chunk_threshold;
		int64_t push_chunk_size;
		/* registry requests that fail in a way worth repeating (connection errors, 5xx,
		 * 408, 429) are made at most this many times in all, waiting between them with
		 * exponential back-off and jitter up to retry_max_delay_ms (also the cap on a
		 * registry's Retry-After) */
		int retry_attempts;
		int64_t retry_max_delay_ms;
		/* a job whose request moves no byte for this long fails with DEADLINE_EXCEEDED */
		int64_t job_stall_timeout_ms;
	} imaged;

	struct {
		char *runtime; /* default runtime name */
		struct br_runtime_config *runtimes;
		size_t n_runtimes;
		char *shim;
		int64_t log_max_size; /* bytes of one container log file before it rotates */
		int log_max_files;    /* log files kept per container, current.log included */
	} taskd;

	struct {
		char *network; /* default: "none" | "host" | a network's name */
		char *cni_bin_dir;
		char *cni_conf_dir;
		char *default_bridge; /* the default network's bridge device */
		char *default_subnet; /* the default network's IPv4 subnet */
		char *subnet_pool;    /* where new networks' /24s come from */
		char *bridge_prefix;  /* new networks' bridges: prefix + number */
	} netd;

	struct {
		char *socket;
		char *group;
		uint32_t *users; /* uids allowed besides root: role "user" in every namespace */
		size_t n_users;
		struct br_access_rule *access;
		size_t n_access;
		int timeout_ms;
		int max_connections;       /* open front-door connections, all callers together */
		int max_calls_per_uid;     /* calls in flight per uid other than root */
		int64_t events_max_count;  /* the event log keeps at most this many events */
		int64_t events_max_age_ms; /* and none older; 0: no age limit */
		char *metrics_address;     /* "127.0.0.1:9338" for /metrics over HTTP; NULL: off */
	} gatewayd;
};

/* "admin", "user", "read" (and "none"). */
const char *br_role_name(enum br_role role);

/* A config holding only the built-in defaults. Never fails. */
struct br_config *br_config_new_default(void);

/* Parse a JSON document over the defaults. `origin` names the source in errors. */
int br_config_parse(const char *buf, size_t len, const char *origin, struct br_config **ret,
                    br_err *err);

/* Load `path`; NULL loads BR_CONFIG_DEFAULT_PATH if it exists and the defaults otherwise. */
int br_config_load(const char *path, struct br_config **ret, br_err *err);

void br_config_free(struct br_config *cfg);

/* Path helpers; the caller frees the result.
 *   br_config_data_dir(cfg, "contentd")   -> "<root>/contentd"
 *   br_config_state_dir(cfg, "taskd")     -> "<state>/taskd"
 *   br_config_socket_url(cfg, "contentd") -> "ipc://<state>/contentd.sock"
 *   br_config_socket_url(cfg, "gatewayd") -> "ipc://<gatewayd.socket>"                    */
char *br_config_data_dir(const struct br_config *cfg, const char *daemon);
char *br_config_state_dir(const struct br_config *cfg, const char *daemon);
char *br_config_socket_url(const struct br_config *cfg, const char *daemon);

/* Find a registry section by host ("127.0.0.1:5000"); NULL if none. */
const struct br_registry_config *br_config_registry(const struct br_config *cfg, const char *host);
/* Runtime path by name; NULL if unknown. */
const char *br_config_runtime_path(const struct br_config *cfg, const char *name);

#endif
