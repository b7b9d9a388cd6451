// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * One freeze session (agent/freeze/freeze_session.c) on fake freeze ops:
 * the order snapshot and `freeze` rely on (watchdog and marker before the
 * first freeze), a busy filesystem reported to the attached watchdog, the
 * thaw done once, and each way the session is undone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent/freeze/freeze_session.h"
#include "tests/unit/keysrc_helpers.h"

/* Per target ("/a", "/b"): freezes and thaws the fake ops saw. */
static int g_freezes[2], g_thaws[2];

static int idx_of(const struct vv_freeze_target *t)
{
	return t->fs->target[1] == 'a' ? 0 : 1;
}

/* "/a" freezes; "/b" is already frozen by someone else. */
static int fake_freeze(struct vv_freeze_target *t, unsigned timeout_ms)
{
	(void)timeout_ms;
	__atomic_fetch_add(&g_freezes[idx_of(t)], 1, __ATOMIC_SEQ_CST);
	return idx_of(t) == 0 ? 0 : -EBUSY;
}

static int fake_thaw(struct vv_freeze_target *t, int *count)
{
	__atomic_fetch_add(&g_thaws[idx_of(t)], 1, __ATOMIC_SEQ_CST);
	*count = 1;
	return 0;
}

static const struct vv_freeze_ops fake_ops = {
	.name = "fake",
	.freeze = fake_freeze,
	.thaw = fake_thaw,
};

struct fx {
	char *dir;
	char marker[PATH_MAX];
	struct vv_fs fs[2];
	struct vv_freeze_plan plan;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f || !(f->dir = kt_mkdtemp("fsess")))
		return -1;
	if (vv_marker_path(f->dir, f->marker, sizeof(f->marker)))
		return -1;
	f->fs[0] = (struct vv_fs){ .target = "/a", .fstype = "ext4", .devno = 1 };
	f->fs[1] = (struct vv_fs){ .target = "/b", .fstype = "xfs", .devno = 2 };
	f->plan = (struct vv_freeze_plan){ .fs = f->fs, .n = 2, .n_waves = 1 };
	memset(g_freezes, 0, sizeof(g_freezes));
	memset(g_thaws, 0, sizeof(g_thaws));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	kt_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static bool exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static void test_attached_session(void **state)
{
	struct fx *f = *state;
	struct vv_freeze_session s;
	struct vv_marker mk = { 0 };
	long long before = vv_clock_ms();

	assert_int_equal(vv_freeze_session_open(&s, &f->plan, &fake_ops), 0);
	assert_true(s.fz_open);
	assert_int_equal(s.fz.n, 2);
	assert_false(s.wd_on);

	assert_int_equal(vv_freeze_session_arm(&s, 60, f->marker, false), 0);
	assert_true(s.wd_on);
	assert_true(s.wd.pid > 0);
	assert_true(s.deadline_ms >= before + 60000);
	assert_int_equal(s.fz.deadline_ms, s.deadline_ms);
	/* Nothing frozen and no marker before mark and freeze. */
	assert_int_equal(g_freezes[0] + g_freezes[1], 0);
	assert_false(exists(f->marker));

	assert_int_equal(vv_freeze_session_mark(&s), 0);
	assert_true(s.marker_on);
	assert_int_equal(vv_marker_read(f->marker, &mk), 0);
	assert_int_equal(mk.agent_pid, getpid());
	assert_int_equal(mk.wd_pid, s.wd.pid);
	assert_int_equal(mk.deadline_ms, s.deadline_ms);
	assert_int_equal(mk.n, 2);
	assert_string_equal(mk.m[0].target, "/a");
	assert_string_equal(mk.m[1].target, "/b");
	vv_marker_clear(&mk);

	vv_freeze_session_freeze(&s);
	assert_true(s.frozen);
	assert_int_equal(s.fz.t[0].state, VV_FZ_FROZEN);
	assert_int_equal(s.fz.t[1].state, VV_FZ_BUSY);

	vv_freeze_session_thaw(&s);
	vv_freeze_session_thaw(&s);	/* once only */
	assert_true(s.thawed);
	assert_int_equal(g_thaws[0], 1);

	vv_freeze_session_disarm(&s);
	assert_false(s.wd_on);
	/* The agent finished first: the watchdog thawed nothing. */
	assert_int_equal(s.wd.cause, VV_WD_NONE);
	assert_int_equal(s.wd.term_signal, 0);

	vv_freeze_session_unmark(&s);
	assert_false(s.marker_on);
	assert_false(s.frozen);
	assert_false(exists(f->marker));
	vv_freeze_session_close(&s);
	assert_false(s.fz_open);
}

/* A session dropped after arming: close still finishes the watchdog. */
static void test_close_finishes_attached_watchdog(void **state)
{
	struct fx *f = *state;
	struct vv_freeze_session s;

	assert_int_equal(vv_freeze_session_open(&s, &f->plan, &fake_ops), 0);
	assert_int_equal(vv_freeze_session_arm(&s, 60, f->marker, false), 0);
	vv_freeze_session_close(&s);
	assert_false(s.wd_on);
	assert_false(s.fz_open);
	assert_int_equal(s.wd.pid, -1);
}

/* Has the watchdog pid named itself "vaultvol-wdog" yet? */
static bool watchdog_ready(pid_t pid)
{
	char path[64], comm[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	return !strcmp(comm, "vaultvol-wdog\n");
}

/* `vaultvol freeze`: no agent in the marker; disarm = SIGTERM, it cleans up. */
static void test_detached_disarm(void **state)
{
	struct fx *f = *state;
	struct vv_freeze_session s;
	struct vv_marker mk = { 0 };

	assert_int_equal(vv_freeze_session_open(&s, &f->plan, &fake_ops), 0);
	assert_int_equal(vv_freeze_session_arm(&s, 30, f->marker, true), 0);
	assert_true(s.wd.pid > 0);
	assert_null(s.fz.on_busy);
	assert_int_equal(vv_freeze_session_mark(&s), 0);
	assert_int_equal(vv_marker_read(f->marker, &mk), 0);
	assert_int_equal(mk.agent_pid, 0);
	assert_int_equal(mk.wd_pid, s.wd.pid);
	vv_marker_clear(&mk);

	/*
	 * Wait until it has named itself (after its signal set-up): a SIGTERM
	 * before that would find the default action and no cleanup.
	 */
	for (int i = 0; i < 500 && !watchdog_ready(s.wd.pid); i++)
		usleep(10000);
	assert_true(watchdog_ready(s.wd.pid));
	vv_freeze_session_disarm(&s);
	assert_false(s.wd_on);
	/* The detached watchdog removes the marker on its way out. */
	for (int i = 0; i < 500 && exists(f->marker); i++)
		usleep(10000);
	assert_false(exists(f->marker));
	vv_freeze_session_close(&s);
}

/* Nothing planned: open succeeds with nothing to arm. */
static void test_empty_plan(void **state)
{
	struct fx *f = *state;
	struct vv_freeze_session s;

	f->plan.n = 0;
	assert_int_equal(vv_freeze_session_open(&s, &f->plan, &fake_ops), 0);
	assert_true(s.fz_open);
	assert_int_equal(s.fz.n, 0);
	vv_freeze_session_thaw(&s);	/* never frozen: no-op */
	assert_false(s.thawed);
	vv_freeze_session_close(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_attached_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_finishes_attached_watchdog, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_detached_disarm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_plan, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
