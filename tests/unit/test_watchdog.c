// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The freeze watchdog as a real process, with a thaw callback that reports
 * to a pipe instead of thawing a filesystem: thaw at the deadline, on the
 * agent's SIGKILL, on a signal; not after "done"; never a busy target; the
 * detached mode; the marker removed after its thaw.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include "agent/freeze/freeze_exec.h"
#include "agent/freeze/freeze_watchdog.h"
#include "tests/unit/snap_test_util.h"

struct fx {
	int pipe[2];		/* thaw reports: one byte per thawed index */
	char dir[64];
	char marker[128];
};

static int thaw_to_pipe(void *ctx, size_t idx)
{
	struct fx *f = ctx;
	unsigned char b = (unsigned char)idx;

	(void)!write(f->pipe[1], &b, 1);
	return 1;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_int_equal(pipe(f->pipe), 0);
	snprintf(f->dir, sizeof(f->dir), "/tmp/vv-wd-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->marker, sizeof(f->marker), "%s/frozen.json", f->dir);
	snap_write(f->dir, "frozen.json", 0600, "{}\n");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	close(f->pipe[0]);
	close(f->pipe[1]);
	snap_rm_rf(f->dir);
	free(f);
	return 0;
}

/*
 * How long a test waits for thaws that must come: a guard against a hang,
 * not a measure (no timed assertions in unit tests: a loaded machine is
 * slow). Half the 60 s deadline the signal and death tests set, so a thaw
 * within it is the signal's or the death's doing, not the deadline's.
 */
#define WAIT_MS 30000

/* Read thaw reports until n arrived or timeout_ms passed. */
static size_t read_thaws(struct fx *f, unsigned char *out, size_t n, int timeout_ms)
{
	long long end = snap_mono_ms() + timeout_ms;
	size_t got = 0;

	while (got < n) {
		struct pollfd p = { .fd = f->pipe[0], .events = POLLIN };
		long long left = end - snap_mono_ms();

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		if (read(f->pipe[0], out + got, 1) == 1)
			got++;
	}
	return got;
}

static void cfg_init(struct fx *f, struct vv_watchdog_cfg *c, size_t n, long long in_ms)
{
	static int keep[1];

	memset(c, 0, sizeof(*c));
	keep[0] = f->pipe[1];
	c->n = n;
	c->thaw = thaw_to_pipe;
	c->ctx = f;
	c->deadline_ms = vv_clock_ms() + in_ms;
	c->marker_path = f->marker;
	c->keep_fds = keep;
	c->n_keep = 1;
}

static void test_deadline(void **state)
{
	struct fx *f = *state;
	struct vv_watchdog_cfg c;
	struct vv_watchdog wd;
	unsigned char t[8];
	long long t0 = vv_clock_ms();

	cfg_init(f, &c, 3, 300);
	assert_int_equal(vv_watchdog_start(&c, &wd), 0);
	assert_int_equal(read_thaws(f, t, 3, WAIT_MS), 3);
	/* Not before the deadline (how soon after it depends on the machine's load). */
	assert_true(vv_clock_ms() - t0 >= 290);
	/* Last wave first. */
	assert_int_equal(t[0], 2);
	assert_int_equal(t[1], 1);
	assert_int_equal(t[2], 0);
	assert_int_equal(vv_watchdog_finish(&wd), 0);
	assert_int_equal(wd.cause, VV_WD_DEADLINE);
	assert_int_equal(wd.thaws, 3);
	assert_true(wd.thawed_at_ms >= t0 + 290);
	/* It removed the marker after thawing. */
	assert_int_equal(access(f->marker, F_OK), -1);
}

static void test_busy_not_thawed(void **state)
{
	struct fx *f = *state;
	struct vv_watchdog_cfg c;
	struct vv_watchdog wd;
	unsigned char t[64];
	size_t n;

	cfg_init(f, &c, 3, 200);
	assert_int_equal(vv_watchdog_start(&c, &wd), 0);
	assert_int_equal(vv_watchdog_note_busy(&wd, 1), 0);
	/* After the deadline it keeps sweeping (a late freeze cannot stay). */
	n = read_thaws(f, t, sizeof(t), 800);
	assert_true(n >= 4);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(t[i], i % 2 ? 0 : 2);
	assert_int_equal(vv_watchdog_finish(&wd), 0);
}

static void test_done_means_no_thaw(void **state)
{
	struct fx *f = *state;
	struct vv_watchdog_cfg c;
	struct vv_watchdog wd;
	unsigned char t[8];

	cfg_init(f, &c, 2, 60000);
	assert_int_equal(vv_watchdog_start(&c, &wd), 0);
	assert_false(vv_watchdog_poll(&wd));
	assert_int_equal(vv_watchdog_finish(&wd), 0);
	assert_int_equal(wd.cause, VV_WD_NONE);
	assert_int_equal(read_thaws(f, t, 1, 200), 0);
	/* The agent owns the marker in this case. */
	assert_int_equal(access(f->marker, F_OK), 0);
}

static void test_signal(void **state)
{
	struct fx *f = *state;
	struct vv_watchdog_cfg c;
	struct vv_watchdog wd;
	unsigned char t[8];

	/* Even a signal the caller ignores must reach the watchdog. */
	signal(SIGHUP, SIG_IGN);
	cfg_init(f, &c, 2, 60000);
	assert_int_equal(vv_watchdog_start(&c, &wd), 0);
	signal(SIGHUP, SIG_DFL);
	usleep(100 * 1000);
	assert_int_equal(kill(wd.pid, SIGHUP), 0);
	/* Within WAIT_MS, long before the 60 s deadline: the signal did it. */
	assert_int_equal(read_thaws(f, t, 2, WAIT_MS), 2);
	assert_int_equal(vv_watchdog_finish(&wd), 0);
	assert_int_equal(wd.cause, VV_WD_SIGNAL);
	assert_int_equal(access(f->marker, F_OK), -1);
}

static void test_agent_sigkill(void **state)
{
	struct fx *f = *state;
	int ready[2];
	pid_t agent;
	unsigned char t[8], b;
	int st;

	assert_int_equal(pipe(ready), 0);
	agent = fork();
	assert_true(agent >= 0);
	if (agent == 0) {
		struct vv_watchdog_cfg c;
		struct vv_watchdog wd;

		close(ready[0]);
		cfg_init(f, &c, 4, 60000);
		if (vv_watchdog_start(&c, &wd) != 0)
			_exit(1);
		(void)!write(ready[1], "r", 1);
		for (;;)
			pause();
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &b, 1), 1);
	close(ready[0]);
	usleep(50 * 1000);
	assert_int_equal(kill(agent, SIGKILL), 0);
	waitpid(agent, &st, 0);
	/* Within WAIT_MS, long before the 60 s deadline: the death did it. */
	assert_int_equal(read_thaws(f, t, 4, WAIT_MS), 4);
	assert_int_equal(t[0], 3);
	assert_int_equal(t[3], 0);
	/* Give it a moment to unlink after its thaw. */
	for (int i = 0; i < 50 && access(f->marker, F_OK) == 0; i++)
		usleep(20 * 1000);
	assert_int_equal(access(f->marker, F_OK), -1);
}

static void test_watchdog_killed_is_reported(void **state)
{
	struct fx *f = *state;
	struct vv_watchdog_cfg c;
	struct vv_watchdog wd;
	unsigned char t[4];

	cfg_init(f, &c, 2, 60000);
	assert_int_equal(vv_watchdog_start(&c, &wd), 0);
	assert_int_equal(kill(wd.pid, SIGKILL), 0);
	usleep(100 * 1000);
	assert_int_equal(vv_watchdog_finish(&wd), 0);
	assert_int_equal(wd.term_signal, SIGKILL);
	assert_int_equal(wd.cause, VV_WD_NONE);
	assert_int_equal(read_thaws(f, t, 1, 100), 0);
}

static void test_detached(void **state)
{
	struct fx *f = *state;
	struct vv_watchdog_cfg c;
	struct vv_watchdog wd;
	unsigned char t[8];
	long long t0 = vv_clock_ms();

	cfg_init(f, &c, 2, 400);
	c.detached = true;
	assert_int_equal(vv_watchdog_start(&c, &wd), 0);
	assert_true(wd.pid > 0);
	assert_int_equal(wd.sock, -1);
	/* A different session: Ctrl-C at the caller's terminal does not reach it. */
	assert_int_not_equal(getsid(wd.pid), getsid(0));
	assert_int_equal(read_thaws(f, t, 2, WAIT_MS), 2);
	assert_true(vv_clock_ms() - t0 >= 390);
	for (int i = 0; i < 50 && access(f->marker, F_OK) == 0; i++)
		usleep(20 * 1000);
	assert_int_equal(access(f->marker, F_OK), -1);
	/* It exits after the deadline thaw. */
	for (int i = 0; i < 100 && kill(wd.pid, 0) == 0; i++)
		usleep(20 * 1000);
	assert_int_equal(kill(wd.pid, 0), -1);
}

static void test_detached_sigterm(void **state)
{
	struct fx *f = *state;
	struct vv_watchdog_cfg c;
	struct vv_watchdog wd;
	unsigned char t[8];

	cfg_init(f, &c, 1, 60000);
	c.detached = true;
	assert_int_equal(vv_watchdog_start(&c, &wd), 0);
	usleep(100 * 1000);
	assert_int_equal(kill(wd.pid, SIGTERM), 0);
	assert_int_equal(read_thaws(f, t, 1, WAIT_MS), 1);
	assert_int_equal(t[0], 0);
}

static void test_thaw_fds_not_frozen(void **state)
{
	int fds[1], count = 7;

	(void)state;
	/* FITHAW on a filesystem that is not frozen: EINVAL, i.e. nothing to do. */
	fds[0] = open("/tmp", O_RDONLY | O_DIRECTORY);
	assert_true(fds[0] >= 0);
	assert_int_equal(vv_thaw_fd(fds[0], &count), 0);
	assert_int_equal(count, 0);
	assert_int_equal(vv_watchdog_thaw_fds(fds, 0), 0);
	close(fds[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_not_thawed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_done_means_no_thaw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_agent_sigkill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watchdog_killed_is_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_detached, setup, teardown),
		cmocka_unit_test_setup_teardown(test_detached_sigterm, setup, teardown),
		cmocka_unit_test(test_thaw_fds_not_frozen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
