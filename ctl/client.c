/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CLI's side of the wire: the gateway connection and the calls go through libberth, the
 * client library node agents use (berth_connect fails at once, by name, when the gateway is
 * not running; berth_call_with carries the namespace, the lease and the deadline), with the
 * params and results packed and decoded by common's schemas. Also here: the mapping from
 * error codes to exit codes, and a thread that turns SIGINT/SIGTERM into actions
 * (jobs.cancel, tasks.kill) while the main thread is blocked in a call.
 */
#include "ctl/ctl.h"

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>

#include "libberth/internal.h"

int
ctl_exit_code(br_code code)
{
	switch (code) {
	case BR_OK:
		return 0;
	case BR_INVALID_ARGUMENT:
		return 2;
	case BR_NOT_FOUND:
		return 3;
	case BR_ALREADY_EXISTS:
		return 4;
	case BR_FAILED_PRECONDITION:
		return 5;
	case BR_UNAVAILABLE:
		return 6;
	case BR_DEADLINE_EXCEEDED:
		return 7;
	case BR_PERMISSION_DENIED:
		return 8;
	case BR_CANCELED:
		return 9;
	case BR_RESOURCE_EXHAUSTED:
		return 10;
	case BR_NOT_IMPLEMENTED:
		return 11;
	default:
		return 1;
	}
}

int
ctl_report(const br_err *err)
{
	fprintf(stderr, "berth: %s\n", err->msg[0] ? err->msg : br_code_name(err->code));
	return ctl_exit_code(err->code);
}

int
ctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("berth: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nRun 'berth --help' for usage.\n", stderr);
	return CTL_EXIT_USAGE;
}

int
ctl_connect(struct ctl *ctl, br_err *err)
{
	berth_error e;

	if (ctl->client != NULL)
		return 0;
	if (berth_connect(ctl->address, &ctl->client, &e) < 0) {
		libberth_error_to_br(err, &e);
		return -1;
	}
	return 0;
}

/* The options of a call of this invocation. */
static berth_call_options
call_options(const struct ctl *ctl, int64_t min_timeout_ms)
{
	berth_call_options opts = {
	        .ns = ctl->ns, .lease = ctl->lease, .timeout_ms = ctl->timeout_ms};

	if (min_timeout_ms > 0) {
		int64_t current = opts.timeout_ms > 0 ? opts.timeout_ms : BR_RPC_DEFAULT_TIMEOUT_MS;
		if (current < min_timeout_ms)
			opts.timeout_ms = min_timeout_ms;
	}
	return opts;
}

int
ctl_call(struct ctl *ctl, const char *method, const struct br_schema *ps, const void *params,
         const struct br_schema *rs, void *ret, br_arena *arena, int64_t min_timeout_ms,
         br_err *err)
{
	if (ctl_connect(ctl, err) < 0)
		return -1;
	berth_call_options opts = call_options(ctl, min_timeout_ms);
	return libberth_call_schema(ctl->client, &opts, method, ps, params, rs, ret, arena, err);
}

int
ctl_call_retrying(struct ctl *ctl, const char *method, const struct br_schema *ps,
                  const void *params, const struct br_schema *rs, void *ret, br_arena *arena,
                  br_err *err)
{
	if (ctl_connect(ctl, err) < 0)
		return -1;
	berth_call_options opts = call_options(ctl, 0);
	return libberth_call_retrying(ctl->client, &opts, method, ps, params, rs, ret, arena, err);
}

int
ctl_list_all(struct ctl *ctl, const char *method, const struct br_schema *ps, const void *req,
             struct br_page_req *page, const struct br_schema *rs, void *resp,
             const struct br_objlist *items, const char *const *next_token, size_t item_size,
             br_arena *arena, struct br_objlist *ret, br_err *err)
{
	if (ctl_connect(ctl, err) < 0)
		return -1;
	berth_call_options opts = call_options(ctl, 0);
	return libberth_list_all(ctl->client, &opts, method, ps, req, page, rs, resp, items,
	                         next_token, item_size, arena, ret, err);
}

int
ctl_run_sub(struct ctl *ctl, int argc, char **argv, const char *group, const struct ctl_sub *subs,
            size_t n, const char *usage)
{
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? CTL_EXIT_USAGE : 0;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(subs[i].name, argv[1]) == 0)
			return subs[i].fn(ctl, argc - 1, argv + 1);
	return ctl_usage_error("unknown command \"%s %s\"", group, argv[1]);
}

void
ctl_fini(struct ctl *ctl)
{
	ctl_signals_stop();
	berth_close(ctl->client);
	ctl->client = NULL;
}

/* ---- signals ---- */

static atomic_int last_signal;
static pthread_mutex_t signal_lock = PTHREAD_MUTEX_INITIALIZER;
static void (*signal_fn)(int sig, void *data);
static void *signal_data;
static bool signals_active;
static bool thread_running;
static pthread_t thread;

static void
signal_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
}

void
ctl_signals_block(void)
{
	sigset_t set;

	signal_set(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static void *
signal_thread(void *arg)
{
	sigset_t set;

	signal_set(&set);
	for (;;) {
		int sig = 0;
		if (sigwait(&set, &sig) != 0)
			continue;
		atomic_store(&last_signal, sig);
		pthread_mutex_lock(&signal_lock);
		if (signals_active && signal_fn != NULL)
			signal_fn(sig, signal_data);
		pthread_mutex_unlock(&signal_lock);
	}
	return NULL;
}

int
ctl_signals_start(void (*fn)(int sig, void *data), void *data, br_err *err)
{
	ctl_signals_block();
	pthread_mutex_lock(&signal_lock);
	signal_fn = fn;
	signal_data = data;
	signals_active = true;
	pthread_mutex_unlock(&signal_lock);
	if (thread_running)
		return 0;
	int rc = pthread_create(&thread, NULL, signal_thread, NULL);
	if (rc != 0)
		return br_err_errno(err, BR_INTERNAL, rc, "start signal thread");
	thread_running = true;
	return 0;
}

void
ctl_signals_stop(void)
{
	pthread_mutex_lock(&signal_lock);
	signals_active = false;
	signal_fn = NULL;
	signal_data = NULL;
	pthread_mutex_unlock(&signal_lock);
	/* No callback can run any more (it would need the lock and find signals_active false);
	 * the thread is in sigwait(), a cancellation point, or on its way there. */
	if (thread_running) {
		pthread_cancel(thread);
		pthread_join(thread, NULL);
		thread_running = false;
	}
}

int
ctl_signal_last(void)
{
	return atomic_load(&last_signal);
}
