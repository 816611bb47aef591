/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of common/config.c: defaults without a file, loading files, overrides of every
 * section, the strictness that names the offending key's path (unknown keys at every level,
 * wrong types, invalid values), and the path and socket URL helpers.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "common/cleanup.h"
#include "common/config.h"
#include "common/xalloc.h"
#include "test/unit/t.h"

#define T_CONTAINS(s, sub)                                                                         \
	do {                                                                                       \
		const char *t_s_ = (s), *t_sub_ = (sub);                                           \
		if (t_s_ == NULL || strstr(t_s_, t_sub_) == NULL)                                  \
			T_FAIL_("\"%s\" does not contain \"%s\"", t_s_ ? t_s_ : "(null)", t_sub_); \
	} while (0)

static struct br_config *
parse_ok(const char *json)
{
	struct br_config *cfg = NULL;
	br_err err = BR_ERR_INIT;
	int rc = br_config_parse(json, strlen(json), "test.json", &cfg, &err);
	T_NOERR(rc, err);
	T_NOT_NULL(cfg);
	return cfg;
}

/* Parse `json`, expect INVALID_ARGUMENT and a message that contains `want`. */
static void
parse_bad(const char *json, const char *want)
{
	struct br_config *cfg = NULL;
	br_err err = BR_ERR_INIT;
	int rc = br_config_parse(json, strlen(json), "test.json", &cfg, &err);
	if (rc >= 0)
		T_FAIL_("parsing %s succeeded, expected an error containing \"%s\"", json, want);
	T_EQ_INT(err.code, BR_INVALID_ARGUMENT);
	T_CONTAINS(err.msg, want);
	T_CONTAINS(err.msg, "test.json: ");
	T_NULL(cfg);
}

static void
check_defaults(const struct br_config *cfg)
{
	T_EQ_STR(cfg->root, "/var/lib/berth");
	T_EQ_STR(cfg->state, "/run/berth");
	T_EQ_INT(cfg->log_level, BR_LOG_INFO);
	T_EQ_INT(cfg->log_format, BR_LOG_TEXT);
	T_EQ_STR(cfg->snapshotd.snapshotter, "overlayfs");
	T_EQ_INT(cfg->imaged.n_registries, 0);
	T_EQ_INT(cfg->imaged.max_concurrent_downloads, 3);
	T_EQ_INT(cfg->imaged.max_concurrent_unpacks, 3);
#if defined(__x86_64__)
	T_EQ_STR(cfg->imaged.platform, "linux/amd64");
#endif
	T_EQ_STR(cfg->taskd.runtime, "runc");
	T_EQ_INT(cfg->taskd.n_runtimes, 2);
	T_EQ_STR(br_config_runtime_path(cfg, "runc"), "/usr/sbin/runc");
	T_EQ_STR(br_config_runtime_path(cfg, "crun"), "/usr/bin/crun");
	T_NULL(br_config_runtime_path(cfg, "youki"));
	T_NULL(cfg->taskd.shim);
	T_EQ_STR(cfg->netd.network, "berth");
	T_EQ_STR(cfg->netd.cni_bin_dir, "/usr/lib/cni");
	T_EQ_STR(cfg->netd.cni_conf_dir, "/etc/berth/cni");
	T_EQ_STR(cfg->netd.default_bridge, "berth0");
	T_EQ_STR(cfg->netd.default_subnet, "10.87.0.0/16");
	T_EQ_STR(cfg->netd.subnet_pool, "10.91.0.0/16");
	T_EQ_STR(cfg->netd.bridge_prefix, "berth");
	T_NULL(cfg->gatewayd.socket);
	T_EQ_STR(cfg->gatewayd.group, "berth");
	T_EQ_INT(cfg->gatewayd.n_users, 0);
	T_EQ_INT(cfg->gatewayd.timeout_ms, 30000);
}

static void
test_defaults(void)
{
	struct br_config *cfg = br_config_new_default();
	check_defaults(cfg);
	br_config_free(cfg);
	br_config_free(NULL);
}

static void
test_empty_object_is_defaults(void)
{
	struct br_config *cfg = parse_ok("{}");
	check_defaults(cfg);
	br_config_free(cfg);
	cfg = parse_ok("{\"contentd\": {}, \"log\": {}, \"taskd\": {\"shim\": null}}");
	check_defaults(cfg);
	br_config_free(cfg);
}

static void
test_load_default_path_missing(void)
{
	struct br_config *cfg = NULL;
	br_err err = BR_ERR_INIT;

	if (access(BR_CONFIG_DEFAULT_PATH, F_OK) == 0)
		T_SKIP("%s exists on this machine", BR_CONFIG_DEFAULT_PATH);
	T_NOERR(br_config_load(NULL, &cfg, &err), err);
	check_defaults(cfg);
	br_config_free(cfg);
}

static void
test_load_explicit_missing(void)
{
	struct br_config *cfg = NULL;
	br_err err = BR_ERR_INIT;

	T_ERR(br_config_load("/nonexistent/berth.json", &cfg, &err), err, BR_NOT_FOUND);
	T_CONTAINS(err.msg, "/nonexistent/berth.json");
	T_NULL(cfg);
}

static void
test_load_file(void)
{
	char dir[] = "/tmp/berth-test-config-XXXXXX";
	T_NOT_NULL(mkdtemp(dir));
	_cleanup_free_ char *path = xasprintf("%s/berth.json", dir);
	const char *json = "{\"root\": \"/srv/berth/\", \"log\": {\"level\": \"debug\"}}";
	FILE *f = fopen(path, "w");
	T_NOT_NULL(f);
	fputs(json, f);
	fclose(f);

	struct br_config *cfg = NULL;
	br_err err = BR_ERR_INIT;
	T_NOERR(br_config_load(path, &cfg, &err), err);
	T_EQ_STR(cfg->root, "/srv/berth");
	T_EQ_INT(cfg->log_level, BR_LOG_DEBUG);
	T_EQ_STR(cfg->state, "/run/berth");
	br_config_free(cfg);

	/* Errors name the file. */
	f = fopen(path, "w");
	fputs("{\"log\": {\"levle\": \"debug\"}}", f);
	fclose(f);
	cfg = NULL;
	T_ERR(br_config_load(path, &cfg, &err), err, BR_INVALID_ARGUMENT);
	T_CONTAINS(err.msg, path);
	T_CONTAINS(err.msg, "log.levle: unknown key");

	/* A directory is not a config file. */
	T_ERR(br_config_load(dir, &cfg, &err), err, BR_INVALID_ARGUMENT);
	unlink(path);
	rmdir(dir);
}

static void
test_overrides(void)
{
	struct br_config *cfg = parse_ok(
	        "{\"root\": \"/data\", \"state\": \"/tmp/st\","
	        " \"log\": {\"level\": \"warn\", \"format\": \"json\"},"
	        " \"contentd\": {},"
	        " \"snapshotd\": {\"snapshotter\": \"native\"},"
	        " \"imaged\": {\"registries\": [{\"host\": \"127.0.0.1:5000\", \"insecure\": true},"
	        "                              {\"host\": \"docker.io\", \"ca_file\": "
	        "\"/etc/ca.pem\","
	        "                               \"mirrors\": [\"mirror.gcr.io\","
	        "                                             \"https://m.example.com/v2\"]}],"
	        "            \"max_concurrent_downloads\": 8, \"max_concurrent_unpacks\": 2,"
	        "            \"platform\": \"linux/arm64/v8\"},"
	        " \"taskd\": {\"runtime\": \"youki\", \"runtimes\": {\"youki\": \"/opt/youki\","
	        "             \"runc\": \"/usr/local/sbin/runc\"}, \"shim\": \"/opt/berth-shim\"},"
	        " \"netd\": {\"network\": \"host\", \"cni_bin_dir\": \"/opt/cni/bin\","
	        "            \"cni_conf_dir\": \"/opt/cni/conf\"},"
	        " \"gatewayd\": {\"socket\": \"/tmp/front.sock\", \"group\": \"wheel\","
	        "                \"users\": [1000, 1001], \"timeout_ms\": 5000}}");

	T_EQ_STR(cfg->root, "/data");
	T_EQ_STR(cfg->state, "/tmp/st");
	T_EQ_INT(cfg->log_level, BR_LOG_WARN);
	T_EQ_INT(cfg->log_format, BR_LOG_JSON);
	T_EQ_STR(cfg->snapshotd.snapshotter, "native");
	T_EQ_INT(cfg->imaged.n_registries, 2);
	const struct br_registry_config *r = br_config_registry(cfg, "127.0.0.1:5000");
	T_NOT_NULL(r);
	T_OK(r->tls.insecure);
	T_NULL(r->tls.ca_file);
	T_EQ_INT(r->n_mirrors, 0);
	r = br_config_registry(cfg, "docker.io");
	T_NOT_NULL(r);
	T_OK(!r->tls.insecure);
	T_EQ_STR(r->tls.ca_file, "/etc/ca.pem");
	T_EQ_INT(r->n_mirrors, 2);
	T_EQ_STR(r->mirrors[0].url, "https://mirror.gcr.io");
	T_EQ_STR(r->mirrors[1].url, "https://m.example.com");
	T_NULL(br_config_registry(cfg, "quay.io"));
	T_EQ_INT(cfg->imaged.max_concurrent_downloads, 8);
	T_EQ_INT(cfg->imaged.max_concurrent_unpacks, 2);
	T_EQ_STR(cfg->imaged.platform, "linux/arm64/v8");
	T_EQ_STR(cfg->taskd.runtime, "youki");
	T_EQ_STR(br_config_runtime_path(cfg, "youki"), "/opt/youki");
	T_EQ_STR(br_config_runtime_path(cfg, "runc"), "/usr/local/sbin/runc");
	T_EQ_STR(br_config_runtime_path(cfg, "crun"), "/usr/bin/crun"); /* merged */
	T_EQ_STR(cfg->taskd.shim, "/opt/berth-shim");
	T_EQ_STR(cfg->netd.network, "host");
	T_EQ_STR(cfg->netd.cni_bin_dir, "/opt/cni/bin");
	T_EQ_STR(cfg->netd.cni_conf_dir, "/opt/cni/conf");
	T_EQ_STR(cfg->gatewayd.socket, "/tmp/front.sock");
	T_EQ_STR(cfg->gatewayd.group, "wheel");
	T_EQ_INT(cfg->gatewayd.n_users, 2);
	T_EQ_INT(cfg->gatewayd.users[0], 1000);
	T_EQ_INT(cfg->gatewayd.users[1], 1001);
	T_EQ_INT(cfg->gatewayd.timeout_ms, 5000);
	br_config_free(cfg);
}

static void
test_registry_hosts(void)
{
	/* "user:secret" */
	struct br_config *cfg = parse_ok(
	        "{\"imaged\": {\"registries\": ["
	        " {\"host\": \"r.example.com:5000\", \"skip_verify\": true,"
	        "  \"client_cert\": \"/etc/c.pem\", \"client_key\": \"/etc/k.pem\","
	        "  \"username\": \"alice\", \"password\": \"pw\","
	        "  \"mirrors\": [\"http://127.0.0.1:5001/\","
	        "   {\"url\": \"https://m.example.com/cache/v2/\", \"capabilities\": [\"pull\"],"
	        "    \"ca_file\": \"/etc/m.pem\", \"client_cert\": \"/c\", \"client_key\": \"/k\"},"
	        "   {\"url\": \"10.0.0.1:80\", \"insecure\": true,"
	        "    \"capabilities\": [\"push\", \"resolve\"]}]},"
	        " {\"host\": \"docker.io\", \"auth\": \"dXNlcjpzZWNyZXQ=\"}]}}");
	const struct br_registry_config *r = br_config_registry(cfg, "r.example.com:5000");
	T_NOT_NULL(r);
	T_OK(r->tls.skip_verify);
	T_OK(!r->tls.insecure);
	T_EQ_STR(r->tls.client_cert, "/etc/c.pem");
	T_EQ_STR(r->tls.client_key, "/etc/k.pem");
	T_EQ_STR(r->username, "alice");
	T_EQ_STR(r->password, "pw");
	T_EQ_INT(r->n_mirrors, 3);
	T_EQ_STR(r->mirrors[0].url, "http://127.0.0.1:5001");
	T_OK(r->mirrors[0].tls.insecure);
	T_EQ_INT(r->mirrors[0].capabilities, BR_REGISTRY_PULL | BR_REGISTRY_RESOLVE);
	T_EQ_STR(r->mirrors[1].url, "https://m.example.com/cache");
	T_OK(!r->mirrors[1].tls.insecure);
	T_EQ_INT(r->mirrors[1].capabilities, BR_REGISTRY_PULL);
	T_EQ_STR(r->mirrors[1].tls.ca_file, "/etc/m.pem");
	T_EQ_STR(r->mirrors[1].tls.client_key, "/k");
	T_EQ_STR(r->mirrors[2].url, "http://10.0.0.1:80");
	T_EQ_INT(r->mirrors[2].capabilities, BR_REGISTRY_PUSH | BR_REGISTRY_RESOLVE);
	r = br_config_registry(cfg, "docker.io");
	T_EQ_STR(r->username, "user");
	T_EQ_STR(r->password, "secret");
	br_config_free(cfg);
}

static void
test_registry_hosts_rejected(void)
{
#define REG(x) "{\"imaged\": {\"registries\": [{\"host\": \"a.io\", " x "}]}}"
	parse_bad(REG("\"skip_verify\": 1"),
	          "imaged.registries[0].skip_verify: expected a boolean");
	parse_bad(REG("\"client_cert\": \"/c\""),
	          "imaged.registries[0].client_key: missing (client_cert and client_key go "
	          "together)");
	parse_bad(REG("\"client_key\": \"k\""),
	          "imaged.registries[0].client_key: \"k\" is not an absolute path");
	parse_bad(REG("\"username\": \"u\""), "imaged.registries[0].password: missing");
	parse_bad(REG("\"password\": \"p\""), "imaged.registries[0].username: missing");
	parse_bad(REG("\"username\": \"a:b\", \"password\": \"p\""),
	          "imaged.registries[0].username: a user name holds no ':'");
	parse_bad(REG("\"username\": \"\", \"password\": \"p\""),
	          "imaged.registries[0].username: expected 1 to 4096 characters");
	parse_bad(REG("\"username\": \"u\", \"password\": \"p\\n\""),
	          "imaged.registries[0].password: holds a control character");
	parse_bad(REG("\"auth\": \"!!!!\""), "imaged.registries[0].auth: not base64");
	parse_bad(REG("\"auth\": \"dXNlcg==\""), /* "user": no colon */
	          "imaged.registries[0].auth: expected the base64 encoding of \"user:password\"");
	parse_bad(REG("\"auth\": \"dXNlcjpzZWNyZXQ=\", \"username\": \"u\""),
	          "imaged.registries[0].auth: give either auth or username and password");
	parse_bad(REG("\"mirrors\": [{\"capabilities\": [\"pull\"]}]"),
	          "imaged.registries[0].mirrors[0].url: missing");
	parse_bad(REG("\"mirrors\": [{\"url\": \"m.io\", \"capabilities\": [\"fetch\"]}]"),
	          "imaged.registries[0].mirrors[0].capabilities[0]: expected \"pull\"");
	parse_bad(REG("\"mirrors\": [{\"url\": \"m.io\", \"capabilities\": []}]"),
	          "imaged.registries[0].mirrors[0].capabilities: expected one to three");
	parse_bad(REG("\"mirrors\": [{\"url\": \"m.io\", \"capabilities\": [\"pull\", \"pull\"]}]"),
	          "imaged.registries[0].mirrors[0].capabilities[1]: \"pull\" given twice");
	parse_bad(REG("\"mirrors\": [{\"url\": \"m.io\", \"username\": \"u\"}]"),
	          "imaged.registries[0].mirrors[0].username: unknown key");
	parse_bad(REG("\"mirrors\": [{\"url\": \"m.io\", \"client_cert\": \"/c\"}]"),
	          "imaged.registries[0].mirrors[0]: client_cert and client_key go together");
	parse_bad(REG("\"mirrors\": [{\"url\": \"https://m.io/a?b\"}]"),
	          "imaged.registries[0].mirrors[0].url: \"https://m.io/a?b\" is not a mirror");
	parse_bad(REG("\"mirrors\": [\"a\", \"b\", \"c\", \"d\", \"e\", \"f\", \"g\", \"h\", \"i\","
	              " \"j\", \"k\", \"l\", \"m\", \"n\", \"o\", \"p\", \"q\"]"),
	          "imaged.registries[0].mirrors: more than 16 mirrors");
#undef REG
}

static void
test_platform_normalized(void)
{
	struct br_config *cfg = parse_ok("{\"imaged\": {\"platform\": \"Linux/x86_64\"}}");
	T_EQ_STR(cfg->imaged.platform, "linux/amd64");
	br_config_free(cfg);
}

static void
test_unknown_keys(void)
{
	parse_bad("{\"bogus\": 1}", "bogus: unknown key");
	parse_bad("{\"log\": {\"colour\": true}}", "log.colour: unknown key");
	parse_bad("{\"contentd\": {\"x\": 1}}", "contentd.x: unknown key");
	parse_bad("{\"snapshotd\": {\"driver\": \"x\"}}", "snapshotd.driver: unknown key");
	parse_bad("{\"imaged\": {\"mirrors\": []}}", "imaged.mirrors: unknown key");
	parse_bad("{\"imaged\": {\"registries\": [{\"host\": \"a.io\"}, {\"host\": \"b.io\","
	          " \"insecre\": true}]}}",
	          "imaged.registries[1].insecre: unknown key");
	parse_bad("{\"taskd\": {\"runtime_path\": \"/x\"}}", "taskd.runtime_path: unknown key");
	parse_bad("{\"netd\": {\"bridge\": \"br0\"}}", "netd.bridge: unknown key");
	parse_bad("{\"gatewayd\": {\"listen\": \"/x\"}}", "gatewayd.listen: unknown key");
}

static void
test_wrong_types(void)
{
	parse_bad("[]", "expected an object");
	parse_bad("{\"root\": 1}", "root: expected a string");
	parse_bad("{\"log\": []}", "log: expected an object");
	parse_bad("{\"log\": {\"level\": 3}}", "log.level: expected a string");
	parse_bad("{\"imaged\": {\"registries\": {}}}", "imaged.registries: expected an array");
	parse_bad("{\"imaged\": {\"registries\": [\"a.io\"]}}",
	          "imaged.registries[0]: expected an object");
	parse_bad("{\"imaged\": {\"registries\": [{\"host\": \"a.io\", \"insecure\": \"yes\"}]}}",
	          "imaged.registries[0].insecure: expected a boolean");
	parse_bad("{\"imaged\": {\"registries\": [{\"host\": \"a.io\", \"mirrors\": [1]}]}}",
	          "imaged.registries[0].mirrors[0]: expected a string or an object");
	parse_bad("{\"imaged\": {\"max_concurrent_downloads\": 1.5}}",
	          "imaged.max_concurrent_downloads: expected an integer");
	parse_bad("{\"imaged\": {\"max_concurrent_downloads\": \"3\"}}",
	          "imaged.max_concurrent_downloads: expected an integer");
	parse_bad("{\"taskd\": {\"runtimes\": [\"/usr/sbin/runc\"]}}",
	          "taskd.runtimes: expected an object");
	parse_bad("{\"taskd\": {\"runtimes\": {\"runc\": true}}}",
	          "taskd.runtimes.runc: expected a string");
	parse_bad("{\"gatewayd\": {\"users\": [\"alice\"]}}",
	          "gatewayd.users[0]: expected an integer");
	parse_bad("{\"gatewayd\": {\"timeout_ms\": \"30s\"}}",
	          "gatewayd.timeout_ms: expected an integer");
	parse_bad("{\"gatewayd\": {\"timeout_ms\": 99999999999999999999}}",
	          "gatewayd.timeout_ms: expected an integer");
}

static void
test_invalid_values(void)
{
	parse_bad("{\"root\": \"var/lib/berth\"}",
	          "root: \"var/lib/berth\" is not an absolute path");
	parse_bad("{\"state\": \"\"}", "state: \"\" is not an absolute path");
	parse_bad("{\"state\": "
	          "\"/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
	          "state: path is longer than");
	parse_bad("{\"log\": {\"level\": \"verbose\"}}",
	          "log.level: \"verbose\" is not one of error, warn, notice, info, debug");
	parse_bad("{\"log\": {\"format\": \"xml\"}}",
	          "log.format: \"xml\" is not one of text, json");
	parse_bad("{\"snapshotd\": {\"snapshotter\": \"../x\"}}",
	          "snapshotd.snapshotter: \"../x\" is not a valid name");
	parse_bad("{\"imaged\": {\"max_concurrent_unpacks\": 65}}",
	          "imaged.max_concurrent_unpacks: 65 is out of range");
	parse_bad("{\"imaged\": {\"max_concurrent_downloads\": 0}}",
	          "imaged.max_concurrent_downloads: 0 is out of range");
	parse_bad("{\"imaged\": {\"max_concurrent_downloads\": -2}}",
	          "imaged.max_concurrent_downloads: -2 is out of range");
	parse_bad("{\"imaged\": {\"platform\": \"linux\"}}",
	          "imaged.platform: platform \"linux\": expected os/architecture[/variant]");
	parse_bad("{\"imaged\": {\"platform\": \"linux/amd64/v2/x\"}}", "imaged.platform");
	parse_bad("{\"imaged\": {\"registries\": [{\"insecure\": true}]}}",
	          "imaged.registries[0].host: missing");
	parse_bad("{\"imaged\": {\"registries\": [{\"host\": \"https://a.io\"}]}}",
	          "imaged.registries[0].host: \"https://a.io\" is not a registry host");
	parse_bad("{\"imaged\": {\"registries\": [{\"host\": \"a.io\"}, {\"host\": \"a.io\"}]}}",
	          "imaged.registries[1].host: \"a.io\" is already configured in "
	          "imaged.registries[0]");
	parse_bad("{\"imaged\": {\"registries\": [{\"host\": \"a.io\", \"ca_file\": \"ca.pem\"}]}}",
	          "imaged.registries[0].ca_file: \"ca.pem\" is not an absolute path");
	parse_bad("{\"imaged\": {\"registries\": [{\"host\": \"a.io\", \"mirrors\": "
	          "[\"ftp://x\"]}]}}",
	          "imaged.registries[0].mirrors[0]: \"ftp://x\" is not a mirror");
	parse_bad("{\"taskd\": {\"runtime\": \"youki\"}}",
	          "taskd.runtime: \"youki\" is not a key of taskd.runtimes");
	parse_bad("{\"taskd\": {\"runtimes\": {\"runc\": \"runc\"}}}",
	          "taskd.runtimes.runc: \"runc\" is not an absolute path");
	parse_bad("{\"taskd\": {\"runtimes\": {\"a b\": \"/x\"}}}",
	          "taskd.runtimes.a b: \"a b\" is not a valid runtime name");
	parse_bad("{\"taskd\": {\"shim\": \"berth-shim\"}}",
	          "taskd.shim: \"berth-shim\" is not an absolute path");
	parse_bad("{\"netd\": {\"network\": \"\"}}", "netd.network: \"\" is not a valid name");
	parse_bad("{\"gatewayd\": {\"users\": [-1]}}", "gatewayd.users[0]: -1 is out of range");
	parse_bad("{\"gatewayd\": {\"users\": [4294967295]}}",
	          "gatewayd.users[0]: 4294967295 is out of range");
	parse_bad("{\"gatewayd\": {\"timeout_ms\": 0}}", "gatewayd.timeout_ms: 0 is out of range");
	parse_bad("{\"gatewayd\": {\"socket\": \"berth.sock\"}}",
	          "gatewayd.socket: \"berth.sock\" is not an absolute path");
}

static void
test_bad_json(void)
{
	parse_bad("", "empty document");
	parse_bad("{\"root\": \"/x\",}", "invalid JSON");
	parse_bad("{\"root\": \"/x\"} {}", "invalid JSON");
	parse_bad("{\"root\": \"/x\", \"root\": \"/y\"}", "duplicate key \"root\"");
	parse_bad("{\"log\": {\"level\": \"info\", \"level\": \"debug\"}}",
	          "duplicate key \"log.level\"");
	parse_bad("// comment\n{}", "invalid JSON");

	_cleanup_free_ char *big = xmalloc(BR_CONFIG_MAX_SIZE + 2);
	memset(big, ' ', BR_CONFIG_MAX_SIZE + 1);
	big[0] = '{';
	big[BR_CONFIG_MAX_SIZE] = '}';
	struct br_config *cfg = NULL;
	br_err err = BR_ERR_INIT;
	T_ERR(br_config_parse(big, BR_CONFIG_MAX_SIZE + 1, "big.json", &cfg, &err), err,
	      BR_RESOURCE_EXHAUSTED);
}

static void
test_paths_and_urls(void)
{
	struct br_config *cfg = parse_ok("{\"root\": \"/r\", \"state\": \"/s/\"}");
	_cleanup_free_ char *data = br_config_data_dir(cfg, "contentd");
	_cleanup_free_ char *state = br_config_state_dir(cfg, "taskd");
	_cleanup_free_ char *url = br_config_socket_url(cfg, "contentd");
	_cleanup_free_ char *gw = br_config_socket_url(cfg, "gatewayd");
	T_EQ_STR(data, "/r/contentd");
	T_EQ_STR(state, "/s/taskd");
	T_EQ_STR(url, "ipc:///s/contentd.sock");
	T_EQ_STR(gw, "ipc:///s/berth.sock");
	br_config_free(cfg);

	cfg = parse_ok("{\"state\": \"/\", \"gatewayd\": {\"socket\": \"/tmp/front.sock\"}}");
	_cleanup_free_ char *url2 = br_config_socket_url(cfg, "netd");
	_cleanup_free_ char *gw2 = br_config_socket_url(cfg, "gatewayd");
	_cleanup_free_ char *state2 = br_config_state_dir(cfg, "netd");
	T_EQ_STR(url2, "ipc:///netd.sock");
	T_EQ_STR(gw2, "ipc:///tmp/front.sock");
	T_EQ_STR(state2, "/netd");
	br_config_free(cfg);

	cfg = br_config_new_default();
	_cleanup_free_ char *gw3 = br_config_socket_url(cfg, "gatewayd");
	_cleanup_free_ char *img = br_config_socket_url(cfg, "imaged");
	T_EQ_STR(gw3, "ipc:///run/berth/berth.sock");
	T_EQ_STR(img, "ipc:///run/berth/imaged.sock");
	br_config_free(cfg);
}

static void
test_installed_default_file(void)
{
	/* systemd/berth.json, installed as /etc/berth/berth.json, must parse to the defaults. */
	_cleanup_free_ char *path = xstrdup("systemd/berth.json");
	struct br_config *cfg = NULL;
	br_err err = BR_ERR_INIT;
	if (access(path, R_OK) != 0)
		T_SKIP("run from the top of the source tree");
	T_NOERR(br_config_load(path, &cfg, &err), err);
	check_defaults(cfg);
	br_config_free(cfg);
}

/* taskd.log_max_size and log_max_files: defaults, values, bounds. */
static void
test_taskd_log_keys(void)
{
	struct br_config *cfg = br_config_new_default();
	T_EQ_INT(cfg->taskd.log_max_size, 10 << 20);
	T_EQ_INT(cfg->taskd.log_max_files, 3);
	br_config_free(cfg);
	cfg = parse_ok("{\"taskd\": {\"log_max_size\": 8192, \"log_max_files\": 1}}");
	T_EQ_INT(cfg->taskd.log_max_size, 8192);
	T_EQ_INT(cfg->taskd.log_max_files, 1);
	br_config_free(cfg);
	parse_bad("{\"taskd\": {\"log_max_size\": 4095}}", "taskd.log_max_size");
	parse_bad("{\"taskd\": {\"log_max_files\": 0}}", "taskd.log_max_files");
	parse_bad("{\"taskd\": {\"log_max_files\": 65}}", "taskd.log_max_files");
	parse_bad("{\"taskd\": {\"log_max_size\": \"10M\"}}", "taskd.log_max_size");
}

T_MAIN(T_CASE(test_defaults), T_CASE(test_empty_object_is_defaults),
       T_CASE(test_load_default_path_missing), T_CASE(test_load_explicit_missing),
       T_CASE(test_load_file), T_CASE(test_overrides), T_CASE(test_platform_normalized),
       T_CASE(test_unknown_keys), T_CASE(test_wrong_types), T_CASE(test_invalid_values),
       T_CASE(test_bad_json), T_CASE(test_paths_and_urls), T_CASE(test_installed_default_file),
       T_CASE(test_taskd_log_keys), T_CASE(test_registry_hosts),
       T_CASE(test_registry_hosts_rejected))
