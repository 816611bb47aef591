/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth login and logout, and the credentials a pull sends: they live in docker's config.json
 * ($DOCKER_CONFIG/config.json, else ~/.docker/config.json) so that docker, skopeo and Berth
 * share one login. An entry is {"auths": {"<registry>": {"auth": base64("user:password")}}},
 * docker.io's under "https://index.docker.io/v1/" as docker writes it; an "identitytoken" is
 * sent as a refresh token. The file is rewritten whole and atomically, mode 0600, with every
 * key Berth does not know kept as it was. Credential helpers (credsStore, credHelpers) are not
 * run: a registry whose credentials are in one is reported, never guessed at.
 *
 * login checks the credentials with the registry through berth-imaged (images.login) before
 * it stores them. Nothing here prints a password or an auth string.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "common/base64.h"
#include "common/cleanup.h"
#include "common/config.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/proto/images.h"
#include "common/ref.h"
#include "common/xalloc.h"
#include "ctl/ctl.h"

#define DOCKER_HUB_KEY "https://index.docker.io/v1/"
#define CONFIG_MAX (4u << 20) /* bytes of config.json */
#define SECRET_MAX BR_REGISTRY_AUTH_MAX

static void
free_secret(char *s)
{
	if (s != NULL)
		explicit_bzero(s, strlen(s));
	free(s);
}

void
ctl_creds_fini(struct ctl_creds *c)
{
	free(c->username);
	free_secret(c->password);
	free_secret(c->identity_token);
	memset(c, 0, sizeof(*c));
}

/* The directory of config.json (heap), or NULL with an error when there is no home. */
static char *
config_dir(br_err *err)
{
	const char *d = getenv("DOCKER_CONFIG"), *home = getenv("HOME");

	if (d != NULL && d[0] != '\0')
		return xstrdup(d);
	if (home == NULL || home[0] == '\0')
		return br_err_set(err, BR_FAILED_PRECONDITION,
		                  "neither DOCKER_CONFIG nor HOME is set: no config.json to use"),
		       NULL;
	return xasprintf("%s/.docker", home);
}

/*
 * The registry host a key of "auths" names: "https://index.docker.io/v1/" -> "docker.io",
 * "http://127.0.0.1:5000" -> "127.0.0.1:5000", "quay.io" -> "quay.io" (heap).
 */
static char *
key_host(const char *key)
{
	const char *h = key;

	if (strncmp(h, "https://", 8) == 0)
		h += 8;
	else if (strncmp(h, "http://", 7) == 0)
		h += 7;
	char *out = xstrndup(h, strcspn(h, "/"));
	if (strcmp(out, "index.docker.io") == 0 || strcmp(out, "registry-1.docker.io") == 0) {
		free(out);
		out = xstrdup("docker.io");
	}
	return out;
}

/* The host a user names on the command line: "docker.io" for docker's aliases, else the
 * host of a URL or the argument itself, checked as a registry host (heap). */
static int
registry_arg(const char *arg, char **ret, br_err *err)
{
	_cleanup_free_ char *h = key_host(arg);

	if (!br_ref_domain_valid(h))
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "\"%s\" is not a registry host (host or host:port)",
		                  BR_ERR_QUOTE(arg));
	*ret = br_steal_ptr(&h);
	return 0;
}

/* config.json parsed, or NULL when there is none (ENOENT). */
static int
load_config(const char *dir, yajl_val *ret, br_err *err)
{
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_free_ char *buf = NULL;
	size_t len;

	*ret = NULL;
	if (dfd < 0 && errno == ENOENT)
		return 0;
	if (dfd < 0)
		return br_err_errno(err, BR_FAILED_PRECONDITION, errno, "open %s", dir);
	if (br_read_file_at(dfd, "config.json", CONFIG_MAX, &buf, &len, err) < 0) {
		if (err != NULL && err->code == BR_NOT_FOUND) {
			br_err_clear(err);
			return 0;
		}
		return br_err_wrap(err, "%s/config.json", dir);
	}
	if (br_json_parse(buf, len, CONFIG_MAX, "config.json", ret, err) < 0)
		return br_err_wrap(err, "%s/config.json", dir);
	if (!YAJL_IS_OBJECT(*ret)) {
		yajl_tree_free(*ret);
		*ret = NULL;
		return br_err_set(err, BR_FAILED_PRECONDITION,
		                  "%s/config.json: expected a JSON object", dir);
	}
	return 0;
}

static yajl_val
member(yajl_val obj, const char *key)
{
	for (size_t i = 0; YAJL_IS_OBJECT(obj) && i < obj->u.object.len; i++)
		if (strcmp(obj->u.object.keys[i], key) == 0)
			return obj->u.object.values[i];
	return NULL;
}

/* The entry of "auths" for `host`, or NULL. */
static yajl_val
auth_entry(yajl_val root, const char *host, const char **ret_key)
{
	yajl_val auths = member(root, "auths");

	for (size_t i = 0; YAJL_IS_OBJECT(auths) && i < auths->u.object.len; i++) {
		_cleanup_free_ char *h = key_host(auths->u.object.keys[i]);
		if (strcmp(h, host) == 0) {
			if (ret_key != NULL)
				*ret_key = auths->u.object.keys[i];
			return auths->u.object.values[i];
		}
	}
	return NULL;
}

/* The credential helper config.json names for `host` (credHelpers, else credsStore), or
 * NULL; *ret_own says it is one of credHelpers, for this host alone. */
static const char *
helper_for(yajl_val root, const char *host, bool *ret_own)
{
	yajl_val helpers = member(root, "credHelpers");

	*ret_own = false;
	for (size_t i = 0; YAJL_IS_OBJECT(helpers) && i < helpers->u.object.len; i++) {
		_cleanup_free_ char *h = key_host(helpers->u.object.keys[i]);
		if (strcmp(h, host) == 0 && YAJL_IS_STRING(helpers->u.object.values[i])) {
			*ret_own = true;
			return YAJL_GET_STRING(helpers->u.object.values[i]);
		}
	}
	yajl_val store = member(root, "credsStore");
	return YAJL_IS_STRING(store) && YAJL_GET_STRING(store)[0] != '\0' ? YAJL_GET_STRING(store)
	                                                                  : NULL;
}

static int
helper_error(const char *dir, const char *host, const char *helper, br_err *err)
{
	return br_err_set(err, BR_FAILED_PRECONDITION,
	                  "%s/config.json keeps the credentials of %s in the credential helper "
	                  "\"docker-credential-%s\", and Berth does not run credential helpers: "
	                  "log in with berth login (it stores them in the file) or configure "
	                  "them in imaged.registries",
	                  dir, host, BR_ERR_QUOTE(helper));
}

int
ctl_registry_creds(const char *host, struct ctl_creds *ret, br_err *err)
{
	_cleanup_free_ char *dir = config_dir(NULL);
	yajl_val root = NULL;
	struct ctl_creds out = {0};
	bool own = false;
	int rc = 0;

	*ret = out;
	if (dir == NULL) /* no home: no credentials */
		return 0;
	if (load_config(dir, &root, err) < 0)
		return -1;
	yajl_val e = auth_entry(root, host, NULL);
	yajl_val auth = member(e, "auth"), identity = member(e, "identitytoken");
	const char *helper = helper_for(root, host, &own);
	bool have_auth = YAJL_IS_STRING(auth) && YAJL_GET_STRING(auth)[0] != '\0';
	bool have_identity = YAJL_IS_STRING(identity) && YAJL_GET_STRING(identity)[0] != '\0';

	/* A helper for this host, or the store with an entry whose secret is in it. */
	if (helper != NULL && (own || (e != NULL && !have_auth && !have_identity))) {
		rc = helper_error(dir, host, helper, err);
	} else if (have_identity) {
		out.identity_token = xstrndup(YAJL_GET_STRING(identity), SECRET_MAX);
	} else if (have_auth) {
		_cleanup_free_ char *plain = NULL;
		char *colon;
		if (br_base64_decode(YAJL_GET_STRING(auth), 4 * SECRET_MAX, &plain, NULL, err) <
		            0 ||
		    (colon = strchr(plain, ':')) == NULL || colon == plain) {
			if (plain != NULL)
				explicit_bzero(plain, strlen(plain));
			br_err_clear(err);
			rc = br_err_set(err, BR_FAILED_PRECONDITION,
			                "%s/config.json: the auth of %s is not the base64 encoding "
			                "of \"user:password\"",
			                dir, host);
		} else {
			*colon = '\0';
			out.username = xstrdup(plain);
			out.password = xstrdup(colon + 1);
			explicit_bzero(colon + 1, strlen(colon + 1));
		}
	}
	yajl_tree_free(root);
	if (rc < 0)
		return -1;
	*ret = out;
	return 0;
}

int
ctl_ref_creds(const char *ref, struct ctl_creds *ret, br_err *err)
{
	_cleanup_(br_ref_freep) struct br_ref *r = NULL;
	struct ctl_creds none = {0};

	if (br_ref_parse(ref, &r, NULL) < 0) {
		*ret = none; /* imaged names what is wrong with it */
		return 0;
	}
	return ctl_registry_creds(r->domain, ret, err);
}

/*
 * config.json with the entry of `host` replaced by {"auth": auth} (auth NULL: removed); every
 * other key as it was. docker.io's key is docker's.
 */
static char *
rewrite(yajl_val root, const char *host, const char *auth, size_t *ret_len)
{
	yajl_gen g = br_json_gen_new();
	const char *old_key = NULL;
	yajl_val auths = member(root, "auths");

	yajl_gen_config(g, yajl_gen_beautify, 1);
	yajl_gen_config(g, yajl_gen_indent_string, "\t");
	auth_entry(root, host, &old_key);
	yajl_gen_map_open(g);
	for (size_t i = 0; root != NULL && i < root->u.object.len; i++) {
		if (strcmp(root->u.object.keys[i], "auths") == 0)
			continue;
		br_json_gen_str(g, root->u.object.keys[i]);
		br_json_gen_value(g, root->u.object.values[i]);
	}
	br_json_gen_str(g, "auths");
	yajl_gen_map_open(g);
	for (size_t i = 0; YAJL_IS_OBJECT(auths) && i < auths->u.object.len; i++) {
		if (old_key != NULL && strcmp(auths->u.object.keys[i], old_key) == 0)
			continue;
		br_json_gen_str(g, auths->u.object.keys[i]);
		br_json_gen_value(g, auths->u.object.values[i]);
	}
	if (auth != NULL) {
		br_json_gen_str(g, strcmp(host, "docker.io") == 0 ? DOCKER_HUB_KEY : host);
		yajl_gen_map_open(g);
		br_json_gen_kv_str(g, "auth", auth);
		yajl_gen_map_close(g);
	}
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	char *out = br_json_gen_take(g, ret_len);
	yajl_gen_free(g);
	return out;
}

static int
store(const char *dir, yajl_val root, const char *host, const char *auth, br_err *err)
{
	size_t len;
	_cleanup_free_ char *text = rewrite(root, host, auth, &len);

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return br_err_errno(err, BR_FAILED_PRECONDITION, errno, "create %s", dir);
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return br_err_errno(err, BR_FAILED_PRECONDITION, errno, "open %s", dir);
	int rc = br_write_file_atomic(dfd, "config.json", text, len, 0600, err);
	explicit_bzero(text, len);
	if (rc < 0)
		return br_err_wrap(err, "write %s/config.json", dir);
	return 0;
}

/* A line from stdin without its newline (heap), echo off on a terminal when `secret`. */
static int
read_line(const char *prompt, bool secret, char **ret, br_err *err)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	char *line = NULL;
	size_t cap = 0;

	if (prompt != NULL) {
		fputs(prompt, stderr);
		fflush(stderr);
	}
	if (tty && secret) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		quiet.c_lflag |= ECHONL;
		tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
	}
	ssize_t n = getline(&line, &cap, stdin);
	if (tty && secret)
		tcsetattr(STDIN_FILENO, TCSANOW, &old);
	if (n < 0) {
		free(line);
		return br_err_set(err, BR_INVALID_ARGUMENT, "no %s given on standard input",
		                  secret ? "password" : "user name");
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	if ((size_t)n > SECRET_MAX) {
		free_secret(line);
		return br_err_set(err, BR_INVALID_ARGUMENT, "longer than %d bytes", SECRET_MAX);
	}
	*ret = line;
	return 0;
}

/* --password-stdin: everything up to EOF, without the final newline. */
static int
read_password_stdin(char **ret, br_err *err)
{
	_cleanup_free_ char *buf = xmalloc(SECRET_MAX + 2);
	size_t len = 0;
	ssize_t n;

	while (len < SECRET_MAX + 1 &&
	       (n = read(STDIN_FILENO, buf + len, SECRET_MAX + 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return br_err_errno(err, BR_INVALID_ARGUMENT, errno, "read standard input");
		len += (size_t)n;
	}
	if (len > SECRET_MAX) {
		explicit_bzero(buf, len);
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "the password on standard input is longer than %d bytes",
		                  SECRET_MAX);
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	buf[len] = '\0';
	if (len == 0)
		return br_err_set(err, BR_INVALID_ARGUMENT, "no password on standard input");
	*ret = br_steal_ptr(&buf);
	return 0;
}

static const char login_usage[] =
        "Usage: berth login [-u USER] [-p PASSWORD | --password-stdin] [REGISTRY]\n"
        "\n"
        "Check credentials with a registry (docker.io when none is named) and store them in\n"
        "$DOCKER_CONFIG/config.json (default ~/.docker/config.json), where pulls find them.\n"
        "\n"
        "  -u, --username USER    user name (asked for on a terminal when not given)\n"
        "  -p, --password PASS    password (visible to other users of this machine: prefer\n"
        "                         --password-stdin)\n"
        "      --password-stdin   read the password from standard input\n";

/* What `berth login` gathered: the registry and the credentials to check and store. */
struct login_args {
	const char *registry;
	const char *username;
	const char *password;
	bool password_stdin;
};

static int
parse_login(int argc, char **argv, struct login_args *a, bool *ret_help)
{
	static const struct option opts[] = {
	        {"username", required_argument, NULL, 'u'},
	        {"password", required_argument, NULL, 'p'},
	        {"password-stdin", no_argument, NULL, 's'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	int c;

	struct ctl_opts op = {argc, argv, "u:p:h", opts, "login"};
	while ((c = ctl_opts_next(&op)) != -1) {
		switch (c) {
		case 'u':
			a->username = optarg;
			break;
		case 'p':
			a->password = optarg;
			break;
		case 's':
			a->password_stdin = true;
			break;
		case 'h':
			*ret_help = true;
			return 0;
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (argc - optind > 1)
		return ctl_usage_error("login takes at most one registry");
	a->registry = optind < argc ? argv[optind] : "docker.io";
	if (a->password != NULL && a->password_stdin)
		return ctl_usage_error("login: --password and --password-stdin exclude each other");
	if (a->password_stdin && a->username == NULL)
		return ctl_usage_error("login: --password-stdin needs --username");
	return 0;
}

int
ctl_cmd_login(struct ctl *ctl, int argc, char **argv)
{
	struct login_args a = {0};
	bool help = false;
	br_err err = BR_ERR_INIT;
	_cleanup_free_ char *host = NULL, *user = NULL, *dir = NULL;
	char *pass = NULL;
	yajl_val root = NULL;

	int rc = parse_login(argc, argv, &a, &help);
	if (rc != 0 || help) {
		if (help)
			fputs(login_usage, stdout);
		return rc;
	}
	if (registry_arg(a.registry, &host, &err) < 0 || (dir = config_dir(&err)) == NULL ||
	    load_config(dir, &root, &err) < 0) {
		br_err_wrap(&err, "login");
		return ctl_report(&err);
	}
	bool own = false;
	const char *helper = helper_for(root, host, &own);
	if (helper != NULL) {
		helper_error(dir, host, helper, &err);
		yajl_tree_free(root);
		br_err_wrap(&err, "login");
		return ctl_report(&err);
	}
	if (a.password != NULL)
		fputs("berth: warning: a password given with --password is visible to other "
		      "users of this machine; prefer --password-stdin\n",
		      stderr);
	if (a.username != NULL)
		user = xstrdup(a.username);
	else if (!isatty(STDIN_FILENO))
		rc = br_err_set(&err, BR_INVALID_ARGUMENT,
		                "no user name: give --username (standard input is no terminal)");
	else
		rc = read_line("Username: ", false, &user, &err);
	if (rc == 0 && a.password != NULL)
		pass = xstrdup(a.password);
	else if (rc == 0 && a.password_stdin)
		rc = read_password_stdin(&pass, &err);
	else if (rc == 0 && !isatty(STDIN_FILENO))
		rc = br_err_set(&err, BR_INVALID_ARGUMENT,
		                "no password: give --password-stdin (standard input is no "
		                "terminal)");
	else if (rc == 0)
		rc = read_line("Password: ", true, &pass, &err);
	if (rc == 0 && (user[0] == '\0' || strchr(user, ':') != NULL))
		rc = br_err_set(&err, BR_INVALID_ARGUMENT,
		                "a user name is not empty and holds no ':'");
	if (rc == 0 && pass[0] == '\0')
		rc = br_err_set(&err, BR_INVALID_ARGUMENT, "an empty password");

	if (rc == 0) {
		_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
		struct br_image_login_req req = {.registry = host,
		                                 .auth = {.username = user, .password = pass}};
		rc = ctl_call(ctl, "images.login", &br_image_login_req_schema, &req, NULL, NULL,
		              arena, 0, &err);
	}
	if (rc == 0) {
		_cleanup_free_ char *plain = xasprintf("%s:%s", user, pass);
		_cleanup_free_ char *b64 = br_base64_encode(plain, strlen(plain));
		rc = store(dir, root, host, b64, &err);
		explicit_bzero(plain, strlen(plain));
		explicit_bzero(b64, strlen(b64));
	}
	free_secret(pass);
	yajl_tree_free(root);
	if (rc < 0) {
		br_err_wrap(&err, "login %s", host);
		return ctl_report(&err);
	}
	printf("Login Succeeded\n");
	return 0;
}

int
ctl_cmd_logout(struct ctl *ctl, int argc, char **argv)
{
	br_err err = BR_ERR_INIT;
	_cleanup_free_ char *host = NULL, *dir = NULL;
	yajl_val root = NULL;

	(void)ctl;
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf("Usage: berth logout [REGISTRY]\n\nRemove the credentials of a registry "
		       "(docker.io when none is named) from config.json.\n");
		return 0;
	}
	if (argc > 2)
		return ctl_usage_error("logout takes at most one registry");
	if (argc == 2 && argv[1][0] == '-')
		return ctl_usage_error("logout: unknown option %s", argv[1]);
	if (registry_arg(argc == 2 ? argv[1] : "docker.io", &host, &err) < 0 ||
	    (dir = config_dir(&err)) == NULL || load_config(dir, &root, &err) < 0) {
		br_err_wrap(&err, "logout");
		return ctl_report(&err);
	}
	if (auth_entry(root, host, NULL) == NULL) {
		yajl_tree_free(root);
		printf("Not logged in to %s\n", host);
		return 0;
	}
	int rc = store(dir, root, host, NULL, &err);
	yajl_tree_free(root);
	if (rc < 0) {
		br_err_wrap(&err, "logout %s", host);
		return ctl_report(&err);
	}
	printf("Removing login credentials for %s\n", host);
	return 0;
}

struct br_registry_auth
ctl_ref_auth(const char *ref, const char *doing, struct ctl_creds *creds)
{
	br_err err = BR_ERR_INIT;

	if (ctl_ref_creds(ref, creds, &err) < 0)
		fprintf(stderr, "berth: warning: %s; %s without credentials\n", err.msg, doing);
	return (struct br_registry_auth){creds->username, creds->password, creds->identity_token};
}
