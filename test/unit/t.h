/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A tiny unit-test harness. A test file defines its cases as `static void test_x(void)` and
 * lists them at the bottom:
 *
 *   T_MAIN(T_CASE(test_parse_ok), T_CASE(test_parse_bad))
 *
 * Each case runs in a forked child with a timeout (so a crash or a hang fails one case, not
 * the file); `./test_x NAME` runs only NAME, in-process, for gdb. Output is TAP ("ok 1 - name")
 * and ends with the summary line "N passed, N failed" (", N skipped" when some skipped) that
 * test/run.sh adds up. A case skips itself with T_SKIP("why") (exit 77 in the child).
 *
 * Checks print both values on failure and end the case: T_OK(cond), T_EQ_INT(a, b),
 * T_EQ_STR(a, b), T_NULL(p), T_NOT_NULL(p), T_ERR(rc, err, code) (rc < 0 with that code),
 * T_NOERR(rc, err) (rc >= 0, else prints err.msg).
 */
#ifndef BR_TEST_UNIT_T_H
#define BR_TEST_UNIT_T_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/err.h"

#define T_TIMEOUT_S 60

struct t_case {
	const char *name;
	void (*fn)(void);
};

#define T_CASE(f)     \
	{             \
#f, f \
	}

#define T_FAIL_(...)                                              \
	do {                                                      \
		fprintf(stderr, "# %s:%d: ", __FILE__, __LINE__); \
		fprintf(stderr, __VA_ARGS__);                     \
		fprintf(stderr, "\n");                            \
		fflush(NULL);                                     \
		_exit(1);                                         \
	} while (0)

/* Print the last `lines` lines of the file at `path` as "# " comments: the log of a daemon
 * that stopped badly, shown before the check that fails on it. */
static inline void
t_show_tail(const char *path, int lines)
{
	char cmd[512];

	fflush(NULL);
	snprintf(cmd, sizeof(cmd), "tail -n %d '%s' 2>&1 | sed 's/^/#   /' >&2", lines, path);
	if (system(cmd) != 0)
		fprintf(stderr, "#   (no log at %s)\n", path);
}

#define T_OK(c)                                          \
	do {                                             \
		if (!(c))                                \
			T_FAIL_("check failed: %s", #c); \
	} while (0)

#define T_EQ_INT(a, b)                                                         \
	do {                                                                   \
		long long t_a_ = (long long)(a), t_b_ = (long long)(b);        \
		if (t_a_ != t_b_)                                              \
			T_FAIL_("%s == %s: %lld != %lld", #a, #b, t_a_, t_b_); \
	} while (0)

#define T_EQ_STR(a, b)                                                                        \
	do {                                                                                  \
		const char *t_a_ = (a), *t_b_ = (b);                                          \
		if (t_a_ == NULL || t_b_ == NULL || strcmp(t_a_, t_b_) != 0)                  \
			T_FAIL_("%s == %s: \"%s\" != \"%s\"", #a, #b, t_a_ ? t_a_ : "(null)", \
			        t_b_ ? t_b_ : "(null)");                                      \
	} while (0)

#define T_NULL(p) T_OK((p) == NULL)
#define T_NOT_NULL(p) T_OK((p) != NULL)

#define T_NOERR(rc, err)                                                                        \
	do {                                                                                    \
		if ((rc) < 0)                                                                   \
			T_FAIL_("%s failed: %s: %s", #rc, br_code_name((err).code), (err).msg); \
	} while (0)

#define T_ERR(rc, err, c)                                                                      \
	do {                                                                                   \
		if ((rc) >= 0)                                                                 \
			T_FAIL_("%s succeeded, expected %s", #rc, br_code_name(c));            \
		if ((err).code != (c))                                                         \
			T_FAIL_("%s: got %s (%s), expected %s", #rc, br_code_name((err).code), \
			        (err).msg, br_code_name(c));                                   \
	} while (0)

#define T_SKIP(...)                           \
	do {                                  \
		fprintf(stdout, "# skip: ");  \
		fprintf(stdout, __VA_ARGS__); \
		fprintf(stdout, "\n");        \
		fflush(NULL);                 \
		_exit(77);                    \
	} while (0)

static inline int
t_run(const struct t_case *cases, size_t n, int argc, char **argv)
{
	int passed = 0, failed = 0, skipped = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1) {
		for (size_t i = 0; i < n; i++) {
			if (strcmp(cases[i].name, argv[1]) == 0) {
				cases[i].fn();
				printf("ok 1 - %s\n1 passed, 0 failed\n", cases[i].name);
				return 0;
			}
		}
		fprintf(stderr, "no case named %s\n", argv[1]);
		return 2;
	}
	printf("1..%zu\n", n);
	for (size_t i = 0; i < n; i++) {
		fflush(NULL);
		pid_t pid = fork();
		if (pid == 0) {
			alarm(T_TIMEOUT_S);
			cases[i].fn();
			fflush(NULL);
			_exit(0);
		}
		int status = 0;
		while (waitpid(pid, &status, 0) < 0)
			;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			passed++;
			printf("ok %zu - %s\n", i + 1, cases[i].name);
		} else if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
			skipped++;
			printf("ok %zu - %s # SKIP\n", i + 1, cases[i].name);
		} else {
			failed++;
			if (WIFSIGNALED(status))
				printf("not ok %zu - %s (signal %d%s)\n", i + 1, cases[i].name,
				       WTERMSIG(status),
				       WTERMSIG(status) == SIGALRM ? ", timeout" : "");
			else
				printf("not ok %zu - %s\n", i + 1, cases[i].name);
		}
	}
	if (skipped)
		printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	else
		printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

#define T_MAIN(...)                                                                         \
	int main(int argc, char **argv)                                                     \
	{                                                                                   \
		static const struct t_case t_cases_[] = {__VA_ARGS__};                      \
		return t_run(t_cases_, sizeof(t_cases_) / sizeof(t_cases_[0]), argc, argv); \
	}

#endif
