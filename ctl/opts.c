/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The options of a command, read one way for every command: getopt_long with its own error
 * printing off, and the CLI's errors instead, naming the option as the user typed it
 * ("option --name needs a value", "volume create: unknown option --bogus"). getopt keeps its
 * state in globals, so a parser starts afresh (optind = 0) on its first call: a command run
 * after the global flags, or a parse repeated in a test, sees its own argv from the start.
 * Main thread.
 */
#include "ctl/ctl.h"

#include <assert.h>
#include <string.h>

/* The option the last getopt_long call stopped at, as the user wrote it ("--name", "-t"),
 * into buf. getopt reports a short option by its letter (optopt) while the element holding it
 * may still be under way; a long option is the element before optind, cut at its '='. */
static void
option_name(const struct ctl_opts *o, int c, char *buf, size_t cap)
{
	const char *elem = optind > 0 && optind <= o->argc ? o->argv[optind - 1] : "";
	bool long_elem = strncmp(elem, "--", 2) == 0;

	if (c == ':' || optopt == 0) {
		/* A long option that lacked its value is the element just passed; so is an
		 * unknown long option (optopt 0). */
		if (long_elem || optopt == 0) {
			snprintf(buf, cap, "%.*s", (int)strcspn(elem, "="), elem);
			return;
		}
		snprintf(buf, cap, "-%c", optopt);
		return;
	}
	/* optopt set: an unknown short option, or a long option given a value it does not
	 * take ("--rm=1"), which getopt reports by the option's val. */
	if (long_elem && strchr(elem, '=') != NULL) {
		size_t len = strcspn(elem + 2, "=");
		for (const struct option *l = o->longopts; l != NULL && l->name != NULL; l++) {
			if (l->has_arg == no_argument && l->val == optopt &&
			    strlen(l->name) == len && strncmp(l->name, elem + 2, len) == 0) {
				snprintf(buf, cap, "%.*s", (int)(len + 2), elem);
				return;
			}
		}
	}
	snprintf(buf, cap, "-%c", optopt);
}

int
ctl_opts_next_err(struct ctl_opts *o, br_err *err)
{
	if (!o->started) {
		const char *s = o->shortopts ? o->shortopts : "";
		bool in_order = s[0] == '+';
		size_t n = strlen(s);

		/* "+:" then the letters: errors come back as ':' and '?', not printed. */
		assert(n + 2 < sizeof(o->spec));
		snprintf(o->spec, sizeof(o->spec), "%s:%s", in_order ? "+" : "",
		         in_order ? s + 1 : s);
		optind = 0;
		opterr = 0;
		o->started = true;
	}
	int c = getopt_long(o->argc, o->argv, o->spec, o->longopts, NULL);
	if (c != '?' && c != ':')
		return c;

	char name[128];
	option_name(o, c, name, sizeof(name));
	if (c == ':')
		br_err_set(err, BR_INVALID_ARGUMENT, "option %s needs a value", name);
	else if (optopt != 0 && strncmp(name, "--", 2) == 0)
		br_err_set(err, BR_INVALID_ARGUMENT, "option %s takes no value", name);
	else if (o->cmd != NULL)
		br_err_set(err, BR_INVALID_ARGUMENT, "%s: unknown option %s", o->cmd, name);
	else
		br_err_set(err, BR_INVALID_ARGUMENT, "unknown option %s", name);
	return '?';
}

int
ctl_opts_next(struct ctl_opts *o)
{
	br_err err = BR_ERR_INIT;
	int c = ctl_opts_next_err(o, &err);

	if (c == '?')
		ctl_usage_error("%s", err.msg);
	return c;
}
