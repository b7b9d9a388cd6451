// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The snapshot run end to end on the host, with a sample mountinfo and
 * freeze ops that only log (no real filesystem is frozen): the order of
 * hooks, freezes, the command and thaws; consistency and reasons for each
 * failure; the deadline (watchdog); parallel waves; the marker; the JSON
 * report and exit statuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>

#include "agent/command.h"
#include "agent/freeze/freeze_marker.h"
#include "agent/freeze/freeze_session.h"
#include "agent/snapshot/snapshot.h"
#include "agent/snapshot/snapshot_config.h"
#include "tests/unit/snap_test_util.h"

static const char *mountinfo_text =
	"20 1 253:0 / / rw - ext4 /dev/mapper/root rw\n"
	"21 20 253:1 / /a rw - ext4 /dev/mapper/a rw\n"
	"22 20 253:2 / /b rw - xfs /dev/mapper/b rw\n"
	"23 20 253:3 / /c rw - ext4 /dev/mapper/c rw\n"
	"24 20 253:4 / /d rw - btrfs /dev/vdd rw\n"
	"25 20 0:22 / /tmp rw - tmpfs tmpfs rw\n";

/* Test-wide state of the fake ops (the tests run one at a time). */
static char g_log[128];
static const char *g_fail_target;
static int g_fail_err;
static int g_freeze_delay_ms;

static void log_line(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	snap_vprint(g_log, "a", fmt, ap);
	va_end(ap);
}

static int fake_freeze(struct vv_freeze_target *t, unsigned timeout_ms)
{
	(void)timeout_ms;
	if (g_freeze_delay_ms)
		usleep((useconds_t)g_freeze_delay_ms * 1000);
	if (g_fail_target && !strcmp(t->fs->target, g_fail_target))
		return g_fail_err;
	log_line("F %s\n", t->fs->target);
	return 0;
}

static int fake_thaw(struct vv_freeze_target *t, int *count)
{
	log_line("T %s\n", t->fs->target);
	*count = 1;
	return 0;
}

static const struct vv_freeze_ops fake_ops = {
	.name = "fake",
	.freeze = fake_freeze,
	.thaw = fake_thaw,
};

struct fx {
	char dir[64];
	char mountinfo[128];
	char sysfs[128];
	char state[128];
	char hooks[128];
	char plugin[128];
	char cmd_text[512];
	char *cmd[4];
	struct vv_snapshot_opts o;
	struct vv_snapshot_report rep;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/vv-snap-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(chmod(f->dir, 0700), 0);
	snap_write(f->dir, "mountinfo", 0644, "%s", mountinfo_text);
	snap_mkdirs(f->dir, "sys");
	snprintf(f->mountinfo, sizeof(f->mountinfo), "%s/mountinfo", f->dir);
	snprintf(f->sysfs, sizeof(f->sysfs), "%s/sys", f->dir);
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	snprintf(f->hooks, sizeof(f->hooks), "%s/hooks", f->dir);
	snprintf(f->plugin, sizeof(f->plugin), "%s/plugin.json", f->dir);
	snprintf(g_log, sizeof(g_log), "%s/log", f->dir);
	g_fail_target = NULL;
	g_fail_err = 0;
	g_freeze_delay_ms = 0;
	/* The command logs itself and checks what it is told. */
	snprintf(f->cmd_text, sizeof(f->cmd_text),
		 "echo \"C $VAULTVOL_CONSISTENCY\" >> %s; test -n \"$VAULTVOL_FROZEN\"", g_log);
	f->cmd[0] = "/bin/sh";
	f->cmd[1] = "-c";
	f->cmd[2] = f->cmd_text;
	f->o.cmd = f->cmd;
	f->o.cmd_stdout_to_stderr = true;
	f->o.timeout_s = 10;
	f->o.state_dir = f->state;
	f->o.plugin_config = "";
	f->o.mountinfo = f->mountinfo;
	f->o.sysfs = f->sysfs;
	f->o.ops_override = &fake_ops;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	vv_snapshot_report_free(&f->rep);
	snap_rm_rf(f->dir);
	free(f);
	return 0;
}

static char *log_text(void)
{
	char *s = snap_read(g_log);

	return s ? s : strdup("");
}

/* Position of needle in the log, -1 when absent. */
static long at(const char *log, const char *needle)
{
	const char *p = strstr(log, needle);

	return p ? p - log : -1;
}

static void hook(struct fx *f, const char *name, int exit_code)
{
	char rel[64];

	snprintf(rel, sizeof(rel), "hooks/%s", name);
	snap_write(f->dir, rel, 0700, "#!/bin/sh\necho \"H $1 %s\" >> %s\nexit %d\n", name, g_log,
		   exit_code);
	f->o.hooks_dir = f->hooks;
}

static bool has_reason(const struct vv_snapshot_report *r, const char *needle)
{
	for (size_t i = 0; i < r->n_reasons; i++)
		if (strstr(r->reasons[i], needle))
			return true;
	return false;
}

static void test_no_scripts_is_filesystem_consistent(void **state)
{
	struct fx *f = *state;
	char *log;

	assert_int_equal(vv_snapshot_run(&f->o, &f->rep), 0);
	assert_int_equal(f->rep.achieved, VV_CONS_FS);
	assert_true(has_reason(&f->rep, "no pre-snapshot script"));
	assert_int_equal(vv_snapshot_exit_status(&f->rep), VV_EXIT_PARTIAL);
	assert_true(f->rep.snapshot_ok);
	assert_int_equal(f->rep.n_fs, 5);
	log = log_text();
	/* Everything frozen before the command, / last; thawed after, / first. */
	assert_true(at(log, "F /a") >= 0 && at(log, "F /d") >= 0);
	assert_true(at(log, "F /a") < at(log, "F /\n"));
	assert_true(at(log, "F /\n") < at(log, "C filesystem"));
	assert_true(at(log, "C filesystem") < at(log, "T /\n"));
	assert_true(at(log, "T /\n") < at(log, "T /a"));
	assert_string_equal(f->rep.thawed_by, "agent");
	assert_false(f->rep.deadline_expired);
	/* No marker left behind. */
	{
		char m[256];

		snprintf(m, sizeof(m), "%s/frozen.json", f->state);
		assert_int_equal(access(m, F_OK), -1);
	}
	free(log);
}

static void test_fs_requested_exit_zero(void **state)
{
	struct fx *f = *state;

	hook(f, "10-a", 0);
	f->o.requested = VV_CONS_FS;
	assert_int_equal(vv_snapshot_run(&f->o, &f->rep), 0);
	assert_int_equal(f->rep.achieved, VV_CONS_FS);
	assert_int_equal(f->rep.n_reasons, 0);
	assert_int_equal(vv_snapshot_exit_status(&f->rep), VV_EXIT_OK);
	/* Scripts are not run for a filesystem-consistent request. */
	assert_int_equal(f->rep.n_scripts, 0);
}

static void test_hooks_application_consistent(void **state)
{
	struct fx *f = *state;
	char *log;

	hook(f, "20-b", 0);
	hook(f, "10-a", 0);
	hook(f, "30-c.bak", 1);	/* skipped */
	assert_int_equal(vv_snapshot_run(&f->o, &f->rep), 0);
	assert_int_equal(f->rep.achieved, VV_CONS_APP);
	assert_int_equal(vv_snapshot_exit_status(&f->rep), VV_EXIT_OK);
	assert_int_equal(f->rep.n_scripts, 4);
	log = log_text();
	/* freeze hooks in name order, freeze, command, thaw, thaw hooks in name order. */
	assert_true(at(log, "H freeze 10-a") < at(log, "H freeze 20-b"));
	assert_true(at(log, "H freeze 20-b") < at(log, "F /a"));
	assert_true(at(log, "F /\n") < at(log, "C application"));
	assert_true(at(log, "T /a") < at(log, "H thaw 10-a"));
	assert_true(at(log, "H thaw 10-a") < at(log, "H thaw 20-b"));
	assert_int_equal(at(log, "30-c"), -1);
	free(log);
}

static void test_failing_hook_continues_and_thaw_hooks_run(void **state)
{
	struct fx *f = *state;
	char *log;

	hook(f, "10-a", 3);
	hook(f, "20-b", 0);
	assert_int_equal(vv_snapshot_run(&f->o, &f->rep), 0);
	assert_int_equal(f->rep.achieved, VV_CONS_FS);
	assert_true(has_reason(&f->rep, "exited with 3"));
	assert_true(f->rep.snapshot_ok);
	log = log_text();
	/* Every hook still ran, and the thaw hooks ran after the thaw. */
	assert_true(at(log, "H freeze 20-b") >= 0);
	assert_true(at(log, "H thaw 10-a") > at(log, "T /a"));
	assert_true(at(log, "H thaw 20-b") >= 0);
	free(log);
}

static void plugin(struct fx *f, const char *pre_body, const char *extra)
{
	snap_write(f->dir, "pre.sh", 0700, "#!/bin/sh\necho \"P pre $*\" >> %s\n%s\n", g_log, pre_body);
	snap_write(f->dir, "post.sh", 0700, "#!/bin/sh\necho \"P post $*\" >> %s\n", g_log);
	snap_write(f->dir, "plugin.json", 0600,
		   "{\"pluginName\":\"ScriptRunner\",\"preScriptLocation\":\"%s/pre.sh\","
		   "\"postScriptLocation\":\"%s/post.sh\",\"preScriptParams\":[\"x\"],"
		   "\"postScriptParams\":[\"y\"]%s}", f->dir, f->dir, extra);
	f->o.plugin_config = f->plugin;
}

static void test_plugin_abort_still_runs_post(void **state)
{
	struct fx *f = *state;
	char *log;

	plugin(f, "exit 1", ",\"continueBackupOnFailure\":false,\"preScriptNoOfRetries\":2");
	assert_int_equal(vv_snapshot_run(&f->o, &f->rep), 0);
	assert_int_equal(f->rep.achieved, VV_CONS_FAILED);
	assert_int_equal(vv_snapshot_exit_status(&f->rep), VV_EXIT_FAILURE);
	assert_true(has_reason(&f->rep, "continueBackupOnFailure is false"));
	assert_false(f->rep.snapshot_attempted);
	assert_int_equal(f->rep.scripts[0].attempts, 3);
	log = log_text();
	assert_int_equal(at(log, "F /"), -1);
	assert_int_equal(at(log, "C "), -1);
	/* Three attempts with its parameter, then the post-script all the same. */
	assert_true(at(log, "P pre x") >= 0);
	assert_true(at(log, "P post y") > at(log, "P pre x"));
	free(log);
}

/* Each retry checks the script again: one made unsafe meanwhile is not rerun. */
static void test_plugin_retry_rechecks(void **state)
{
	struct fx *f = *state;
	char body[300];
	char *log;

	snprintf(body, sizeof(body), "chmod 0722 %s/pre.sh\nexit 1", f->dir);
	plugin(f, body, ",\"preScriptNoOfRetries\":2");
	assert_int_equal(vv_snapshot_run(&f->o, &f->rep), 0);
	assert_int_equal(f->rep.scripts[0].attempts, 1);
	assert_true(f->rep.scripts[0].refused);
	assert_non_null(strstr(f->rep.scripts[0].error, "writable by group or others"));
	log = log_text();
	/* it ran once */
	assert_true(at(log, "P pre x") >= 0);
	assert_null(strstr(strstr(log, "P pre x") + 1, "P pre x"));
	free(log);
}

static void test_plugin_hanging_pre_script_times_out(void **state)
{
	struct fx *f = *state;
	long long t0 = snap_mono_ms();

	plugin(f, "sleep 30", ",\"timeoutInSeconds\":1");
	assert_int_equal(vv_snapshot_run(&f->o, &f->rep), 0);
	/* Not the script's 30 s (a bound, not a measure). */
	assert_true(snap_mono_ms() - t0 < 20000);
	assert_int_equal(f->rep.achieved, VV_CONS_FS);
	assert_true(has_reason(&f->rep, "timed out"));
	assert_true(f->rep.scripts[0].ex.timed_out);
	assert_true(f->rep.snapshot_ok);
	assert_int_equal(vv_snapshot_exit_status(&f->rep), VV_EXIT_PARTIAL);
}

static void test_plugin_app_consistent_and_refused_config(void **state)
{
	struct fx *f = *state;

	plugin(f, "exit 0", "");
	assert_int_equal(vv_snapshot_run(&f->o, &f->rep), 0);
	assert_int_equal(f->rep.achieved, VV_CONS_APP);
	vv_snapshot_report_free(&f->rep);

	/* A config others can write is refused: filesystem-consistent, with the reason. */
	assert_int_equal(chmod(f->plugin, 0646), 0);
	assert_int_equal(vv_snapshot_run(&f->o, &f->rep), 0);
	assert_int_equal(f->rep.achieved, VV_CONS_FS);
	assert_true(has_reason(&f->rep, "script config refused"));
	assert_true(has_reason(&f->rep, "writable by group or others"));
	vv_snapshot_report_free(&f->rep);

	/* A script others can write is refused; post-scripts are still owed. */
	assert_int_equal(chmod(f->plugin, 0600), 0);
	{
		char p[128];

		snprintf(p, sizeof(p), "%s/pre.sh", f->dir);
		assert_int_equal(chmod(p, 0777), 0);
	}
	assert_int_equal(vv_snapshot_run(&f->o, &f->rep), 0);
	assert_int_equal(f->rep.achieved, VV_CONS_FS);
	assert_true(f->rep.scripts[0].refused);
	assert_true(has_reason(&f->rep, "refused"));
	assert_string_equal(f->rep.scripts[f->rep.n_scripts - 1].phase, "post");
}

static void test_fs_freeze_disabled(void **state)
{
	struct fx *f = *state;
	char *log;

	plugin(f, "exit 0", ",\"fsFreezeEnabled\":false");
	/* Nothing frozen: the command sees an empty VAULTVOL_FROZEN. */
	snprintf(f->cmd_text, sizeof(f->cmd_text),
		 "echo \"C $VAULTVOL_CONSISTENCY\" >> %s; test -z \"$VAULTVOL_FROZEN\"", g_log);
	assert_int_equal(vv_snapshot_run(&f->o, &f->rep), 0);
	assert_int_equal(f->rep.achieved, VV_CONS_CRASH);
	assert_true(has_reason(&f->rep, "fsFreezeEnabled"));
	log = log_text();
	assert_int_equal(at(log, "F /"), -1);
	assert_true(at(log, "C crash") >= 0);
	free(log);
}

static void test_unsupported_fs_is_crash(void **state)
{
	struct fx *f = *state;
	char *log;

	g_fail_target = "/b";
	g_fail_err = -EOPNOTSUPP;
	assert_int_equal(vv_snapshot_run(&f->o, &f->rep), 0);
	assert_int_equal(f->rep.achieved, VV_CONS_CRASH);
	assert_true(has_reason(&f->rep, "/b (xfs) not frozen: unsupported"));
	log = log_text();
	/* The others were frozen and thawed; /b never needed a thaw. */
	assert_true(at(log, "T /a") >= 0);
	assert_int_equal(at(log, "T /b"), -1);
	free(log);
	vv_snapshot_report_free(&f->rep);

	/* EBUSY: already frozen by someone else; counts as frozen, not ours to thaw. */
	g_fail_err = -EBUSY;
	assert_int_equal(vv_snapshot_run(&f->o, &f->rep), 0);
	assert_int_equal(f->rep.achieved, VV_CONS_FS);
	for (size_t i = 0; i < f->rep.n_fs; i++)
		if (!strcmp(f->rep.fs[i].mount, "/b"))
			assert_int_equal(f->rep.fs[i].state, VV_FZ_BUSY);
}

static void test_deadline_passes(void **state)
{
	struct fx *f = *state;
	char *log;

	f->o.timeout_s = 1;
	snprintf(f->cmd_text, sizeof(f->cmd_text), "sleep 2; echo C-late >> %s", g_log);
	assert_int_equal(vv_snapshot_run(&f->o, &f->rep), 0);
	assert_int_equal(f->rep.achieved, VV_CONS_CRASH);
	assert_true(f->rep.deadline_expired);
	assert_non_null(strstr(f->rep.thawed_by, "deadline"));
	assert_true(has_reason(&f->rep, "deadline passed before the snapshot finished"));
	/*
	 * The window ended at the deadline, not when the command did: the
	 * thaw is logged before the late command's line (an order, not a
	 * timing, so a loaded machine cannot fail it); never before 1 s.
	 */
	assert_true(f->rep.window_ms >= 900);
	log = log_text();
	assert_true(at(log, "T /a") < at(log, "C-late"));
	free(log);
}

static void test_command_failure(void **state)
{
	struct fx *f = *state;
	char *log;

	hook(f, "10-a", 0);
	snprintf(f->cmd_text, sizeof(f->cmd_text), "exit 4");
	assert_int_equal(vv_snapshot_run(&f->o, &f->rep), 0);
	assert_int_equal(f->rep.achieved, VV_CONS_FAILED);
	assert_int_equal(f->rep.snapshot_exit, 4);
	assert_true(has_reason(&f->rep, "exited with 4"));
	assert_int_equal(vv_snapshot_exit_status(&f->rep), VV_EXIT_FAILURE);
	log = log_text();
	assert_true(at(log, "H thaw 10-a") > at(log, "T /a"));
	free(log);
	vv_snapshot_report_free(&f->rep);

	f->cmd[0] = "/nonexistent/snapshot-tool";
	f->cmd[1] = NULL;
	assert_int_equal(vv_snapshot_run(&f->o, &f->rep), 0);
	assert_int_equal(f->rep.achieved, VV_CONS_FAILED);
	assert_true(has_reason(&f->rep, "cannot run"));
}

static void test_interrupted_by_signal(void **state)
{
	struct fx *f = *state;
	long long t0 = snap_mono_ms();
	char *log;

	hook(f, "10-a", 0);
	/* The command sends SIGTERM to the agent (this process) and waits. */
	snprintf(f->cmd_text, sizeof(f->cmd_text), "echo C >> %s; kill -TERM $PPID; sleep 20", g_log);
	assert_int_equal(vv_snapshot_run(&f->o, &f->rep), 0);
	/* Not killed: the run ended the freeze, passed the signal on, finished. */
	assert_true(snap_mono_ms() - t0 < 15000);	/* not the command's 20 s */
	assert_int_equal(f->rep.achieved, VV_CONS_FAILED);
	assert_true(has_reason(&f->rep, "interrupted by signal 15"));
	assert_int_equal(f->rep.snapshot_exit, 128 + SIGTERM);
	log = log_text();
	assert_true(at(log, "T /a") > at(log, "C\n"));
	assert_true(at(log, "H thaw 10-a") > at(log, "T /a"));
	free(log);
	/* The previous disposition is back. */
	{
		struct sigaction sa;

		sigaction(SIGTERM, NULL, &sa);
		assert_true(sa.sa_handler == SIG_DFL);
	}
}

static void test_parallel_wave(void **state)
{
	struct fx *f = *state;

	/* Four independent filesystems at 400 ms each, then / alone. */
	g_freeze_delay_ms = 400;
	f->o.requested = VV_CONS_FS;
	assert_int_equal(vv_snapshot_run(&f->o, &f->rep), 0);
	assert_int_equal(f->rep.achieved, VV_CONS_FS);
	/*
	 * Two waves, each at least one 400 ms freeze; how much less than the
	 * serial 2 s it takes depends on the machine's load, so the plan (the
	 * waves below) is what is asserted, not a duration.
	 */
	assert_true(f->rep.freeze_ms >= 750);
	for (size_t i = 0; i < f->rep.n_fs; i++)
		assert_int_equal(f->rep.fs[i].wave, strcmp(f->rep.fs[i].mount, "/") ? 0 : 1);
}

static void test_markers(void **state)
{
	struct fx *f = *state;
	struct vv_marker mk = { 0 };
	struct vv_marker_mount m = { .target = f->dir };
	char path[256];

	/* A stale marker from a dead agent: recovered (a thaw attempt) and removed. */
	snprintf(path, sizeof(path), "%s/frozen.json", f->state);
	mk.agent_pid = 999999;
	mk.wd_pid = 999998;
	mk.deadline_ms = vv_clock_ms() + 60000;
	mk.m = &m;
	mk.n = 1;
	vv_boot_id(mk.boot_id);
	assert_int_equal(vv_marker_write(path, &mk), 0);
	f->o.requested = VV_CONS_FS;
	assert_int_equal(vv_snapshot_run(&f->o, &f->rep), 0);
	assert_int_equal(f->rep.achieved, VV_CONS_FS);
	assert_true(f->rep.n_warnings >= 1);
	assert_non_null(strstr(f->rep.warnings[0], "left frozen by an earlier run"));
	assert_int_equal(access(path, F_OK), -1);
	vv_snapshot_report_free(&f->rep);

	/* A live owner (this process): the run refuses to start. */
	mk.agent_pid = getpid();
	mk.agent_start = vv_proc_starttime(getpid());
	assert_int_equal(vv_marker_write(path, &mk), 0);
	assert_int_equal(vv_snapshot_run(&f->o, &f->rep), -EBUSY);
	assert_int_equal(f->rep.achieved, VV_CONS_FAILED);
	assert_true(has_reason(&f->rep, "another freeze is in progress"));
	assert_int_equal(access(path, F_OK), 0);
	vv_snapshot_report_free(&f->rep);

	/* Round trip of the marker itself. */
	{
		struct vv_marker back;

		assert_int_equal(vv_marker_read(path, &back), 0);
		assert_int_equal(back.agent_pid, getpid());
		assert_int_equal(back.n, 1);
		assert_string_equal(back.m[0].target, f->dir);
		assert_true(vv_marker_live(&back));
		vv_marker_clear(&back);
	}
	/* Past its deadline, a live owner no longer protects it. */
	mk.deadline_ms = vv_clock_ms() - 5000;
	assert_int_equal(vv_marker_write(path, &mk), 0);
	{
		struct vv_recover_result rr;

		assert_int_equal(vv_marker_recover(f->state, false, &rr), 0);
		assert_true(rr.found);
		assert_false(rr.skipped_live);
		assert_int_equal(access(path, F_OK), -1);
		/* No marker: nothing to do. */
		assert_int_equal(vv_marker_recover(f->state, false, &rr), 0);
		assert_false(rr.found);
	}
	/*
	 * A marker of another boot (the copy of a disk snapshotted while frozen,
	 * restored as a new VM): removed, nothing it names is touched (its
	 * mount point does not even exist here), no warning.
	 */
	m.target = "/nonexistent/vv-restored-mount";
	snprintf(mk.boot_id, sizeof(mk.boot_id), "00000000-0000-4000-8000-000000000000");
	mk.agent_pid = 999999;
	mk.deadline_ms = vv_clock_ms() + 60000;
	assert_int_equal(vv_marker_write(path, &mk), 0);
	{
		struct vv_recover_result rr;

		assert_int_equal(vv_marker_recover(f->state, false, &rr), 0);
		assert_true(rr.found);
		assert_true(rr.other_boot);
		assert_int_equal(rr.errors, 0);
		assert_int_equal(rr.thawed, 0);
		assert_int_equal(access(path, F_OK), -1);
	}
	assert_int_equal(vv_marker_write(path, &mk), 0);
	assert_int_equal(vv_snapshot_run(&f->o, &f->rep), 0);
	for (size_t i = 0; i < f->rep.n_warnings; i++)
		assert_null(strstr(f->rep.warnings[i], "left frozen"));
	assert_int_equal(access(path, F_OK), -1);
	vv_snapshot_report_free(&f->rep);
}

static void test_report_json(void **state)
{
	struct fx *f = *state;
	struct json_object *o, *v, *a;
	char *json = NULL, line[512];

	hook(f, "10-a", 0);
	assert_int_equal(vv_snapshot_run(&f->o, &f->rep), 0);
	assert_int_equal(vv_snapshot_report_json(&f->rep, &json), 0);
	o = json_tokener_parse(json);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "consistency", &v));
	assert_string_equal(json_object_get_string(v), "application");
	assert_true(json_object_object_get_ex(o, "exit_status", &v));
	assert_int_equal(json_object_get_int(v), 0);
	assert_true(json_object_object_get_ex(o, "freeze_window_ms", &v));
	assert_true(json_object_object_get_ex(o, "phases", &v));
	assert_true(json_object_object_get_ex(v, "pre_scripts_ms", &a));
	assert_true(json_object_object_get_ex(o, "filesystems", &a));
	assert_int_equal(json_object_array_length(a), 5);
	v = json_object_array_get_idx(a, 0);
	assert_true(json_object_object_get_ex(v, "state", &v));
	assert_string_equal(json_object_get_string(v), "frozen");
	assert_true(json_object_object_get_ex(o, "scripts", &a));
	assert_int_equal(json_object_array_length(a), 2);
	v = json_object_array_get_idx(a, 0);
	assert_true(json_object_object_get_ex(v, "exit_code", &v));
	assert_int_equal(json_object_get_int(v), 0);
	assert_true(json_object_object_get_ex(o, "snapshot", &v));
	assert_true(json_object_object_get_ex(v, "ok", &v));
	assert_true(json_object_get_boolean(v));
	json_object_put(o);
	free(json);
	vv_snapshot_report_line(&f->rep, line, sizeof(line));
	assert_non_null(strstr(line, "application-consistent"));
	assert_non_null(strstr(line, "5 filesystems frozen"));
}

static void test_report_bookkeeping(void **state)
{
	struct vv_snapshot_report r = { .requested = VV_CONS_APP, .achieved = VV_CONS_APP };
	enum vv_consistency c;

	(void)state;
	assert_int_equal(vv_snapshot_exit_status(&r), VV_EXIT_OK);
	vv_report_lower(&r, VV_CONS_FS, "first %d", 1);
	vv_report_lower(&r, VV_CONS_CRASH, "second");
	/* Lowering never raises. */
	vv_report_lower(&r, VV_CONS_FS, "third");
	assert_int_equal(r.achieved, VV_CONS_CRASH);
	assert_int_equal(r.n_reasons, 3);
	assert_string_equal(r.reasons[0], "first 1");
	assert_int_equal(vv_snapshot_exit_status(&r), VV_EXIT_PARTIAL);
	vv_report_lower(&r, VV_CONS_FAILED, "no snapshot");
	assert_int_equal(vv_snapshot_exit_status(&r), VV_EXIT_FAILURE);
	vv_snapshot_report_free(&r);

	assert_int_equal(vv_consistency_parse("app", &c), 0);
	assert_int_equal(c, VV_CONS_APP);
	assert_int_equal(vv_consistency_parse("filesystem", &c), 0);
	assert_int_equal(c, VV_CONS_FS);
	assert_int_equal(vv_consistency_parse("crash", &c), -EINVAL);
	assert_string_equal(vv_consistency_name(VV_CONS_CRASH), "crash");
}

/* ---- the freeze session (agent/freeze/freeze_session.c) on the fake ops ---- */

/* Times needle occurs in the log. */
static int count_in_log(const char *needle)
{
	char *log = log_text();
	int n = 0;

	for (const char *p = log; (p = strstr(p, needle)); p++)
		n++;
	free(log);
	return n;
}

static bool exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* A session over the fixture's mount table, its marker in the state dir. */
struct sess {
	struct vv_freeze_plan plan;
	struct vv_freeze_session s;
	struct vv_marker mk;
	char marker[PATH_MAX];
};

static void session_plan(struct fx *f, struct sess *x)
{
	struct vv_plan_opts po = { .mountinfo = f->mountinfo, .sysfs = f->sysfs };

	assert_int_equal(vv_freeze_plan_build(&po, &x->plan), 0);
	assert_int_equal(x->plan.n, 5);
	assert_int_equal(vv_marker_path(f->state, x->marker, sizeof(x->marker)), 0);
}

/*
 * Snapshot's order: watchdog, then marker (this agent in it), then the
 * freeze; a busy filesystem is the attached watchdog's business; the thaw
 * is done once; disarm and unmark undo it all.
 */
static void test_session_attached(void **state)
{
	struct fx *f = *state;
	struct sess x = { 0 };
	long long before = vv_clock_ms();

	session_plan(f, &x);
	g_fail_target = "/b";
	g_fail_err = -EBUSY;
	assert_int_equal(vv_freeze_session_open(&x.s, &x.plan, &fake_ops), 0);
	assert_true(x.s.fz_open);
	assert_int_equal(x.s.fz.n, 5);
	assert_int_equal(vv_freeze_session_arm(&x.s, 60, x.marker, false), 0);
	assert_true(x.s.wd_on && x.s.wd.pid > 0);
	assert_true(x.s.deadline_ms >= before + 60000);
	assert_int_equal(x.s.fz.deadline_ms, x.s.deadline_ms);
	assert_non_null(x.s.fz.on_busy);
	/* Nothing frozen and no marker yet. */
	assert_int_equal(count_in_log("F "), 0);
	assert_false(exists(x.marker));

	assert_int_equal(vv_freeze_session_mark(&x.s), 0);
	assert_true(x.s.marker_on);
	assert_int_equal(vv_marker_read(x.marker, &x.mk), 0);
	assert_int_equal(x.mk.agent_pid, getpid());
	assert_int_equal(x.mk.wd_pid, x.s.wd.pid);
	assert_int_equal(x.mk.deadline_ms, x.s.deadline_ms);
	assert_int_equal(x.mk.n, 5);
	vv_marker_clear(&x.mk);

	vv_freeze_session_freeze(&x.s);
	assert_true(x.s.frozen);
	assert_int_equal(count_in_log("F "), 4);
	for (size_t i = 0; i < x.s.fz.n; i++)
		assert_int_equal(x.s.fz.t[i].state, strcmp(x.s.fz.t[i].fs->target, "/b") ?
				 VV_FZ_FROZEN : VV_FZ_BUSY);
	vv_freeze_session_thaw(&x.s);
	vv_freeze_session_thaw(&x.s);	/* once only */
	assert_true(x.s.thawed);
	assert_int_equal(count_in_log("T /a"), 1);
	assert_int_equal(count_in_log("T /b"), 0);

	vv_freeze_session_disarm(&x.s);
	assert_false(x.s.wd_on);
	/* The agent finished first: the watchdog thawed nothing. */
	assert_int_equal(x.s.wd.cause, VV_WD_NONE);
	assert_int_equal(x.s.wd.term_signal, 0);
	vv_freeze_session_unmark(&x.s);
	assert_false(x.s.marker_on || x.s.frozen);
	assert_false(exists(x.marker));
	vv_freeze_session_close(&x.s);
	assert_false(x.s.fz_open);
	vv_freeze_plan_free(&x.plan);
}

/* Has the watchdog pid named itself "vaultvol-wdog" yet? */
static bool watchdog_ready(pid_t pid)
{
	char path[64], comm[32] = "";
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fp = fopen(path, "re");
	if (!fp)
		return false;
	if (!fgets(comm, sizeof(comm), fp))
		comm[0] = '\0';
	fclose(fp);
	return !strcmp(comm, "vaultvol-wdog\n");
}

/*
 * `vaultvol freeze`: no agent in the marker and no busy notes (no line to
 * the watchdog); disarm is a SIGTERM on which the watchdog thaws and
 * removes the marker itself. Dropping an attached session after arming
 * still finishes its watchdog.
 */
static void test_session_detached_and_dropped(void **state)
{
	struct fx *f = *state;
	struct sess x = { 0 };

	session_plan(f, &x);
	assert_int_equal(vv_freeze_session_open(&x.s, &x.plan, &fake_ops), 0);
	assert_int_equal(vv_freeze_session_arm(&x.s, 30, x.marker, true), 0);
	assert_true(x.s.wd.pid > 0);
	assert_null(x.s.fz.on_busy);
	assert_int_equal(vv_freeze_session_mark(&x.s), 0);
	assert_int_equal(vv_marker_read(x.marker, &x.mk), 0);
	assert_int_equal(x.mk.agent_pid, 0);
	assert_int_equal(x.mk.wd_pid, x.s.wd.pid);
	vv_marker_clear(&x.mk);
	/* A SIGTERM before its signal set-up would find the default action. */
	for (int i = 0; i < 500 && !watchdog_ready(x.s.wd.pid); i++)
		usleep(10000);
	assert_true(watchdog_ready(x.s.wd.pid));
	vv_freeze_session_disarm(&x.s);
	assert_false(x.s.wd_on);
	for (int i = 0; i < 500 && exists(x.marker); i++)
		usleep(10000);
	assert_false(exists(x.marker));
	vv_freeze_session_close(&x.s);

	assert_int_equal(vv_freeze_session_open(&x.s, &x.plan, &fake_ops), 0);
	assert_int_equal(vv_freeze_session_arm(&x.s, 60, x.marker, false), 0);
	vv_freeze_session_close(&x.s);
	assert_false(x.s.wd_on || x.s.fz_open);
	assert_int_equal(x.s.wd.pid, -1);

	/* Nothing planned: open succeeds, a thaw is a no-op. */
	x.plan.n = 0;
	assert_int_equal(vv_freeze_session_open(&x.s, &x.plan, &fake_ops), 0);
	assert_int_equal(x.s.fz.n, 0);
	vv_freeze_session_thaw(&x.s);
	assert_false(x.s.thawed);
	vv_freeze_session_close(&x.s);
	x.plan.n = 5;
	vv_freeze_plan_free(&x.plan);
}

/* ---- config -> snapshot options (agent/snapshot/snapshot_config.c) ---- */

static void test_opts_from_config(void **state)
{
	struct vv_config cfg = { 0 };
	struct vv_options opt = { .state_dir = "/st" };
	struct vv_snapshot_opts so = { 0 };

	(void)state;
	/* An empty config: the defaults. */
	vv_snapshot_opts_from_config(&so, &opt, &cfg);
	assert_int_equal(so.timeout_s, VV_SNAPSHOT_DEFAULT_TIMEOUT_S);
	assert_string_equal(so.plugin_config, VV_PLUGIN_CONFIG_DEFAULT);
	assert_null(so.hooks_dir);
	assert_null(so.ca_file);
	assert_string_equal(so.state_dir, "/st");
	assert_ptr_equal(so.key_refs, vv_key_refs_token_then_config);
	assert_ptr_equal(so.key_refs_ctx, &cfg);

	/* The config's values, --ca-file over the config's. */
	cfg.snapshot.timeout_s = 30;
	cfg.snapshot.scripts_config = "/etc/plugin.json";
	cfg.snapshot.hooks_dir = "/etc/hooks";
	cfg.vault.ca_file = "/cfg.pem";
	opt.ca_file = "/cli.pem";
	memset(&so, 0, sizeof(so));
	vv_snapshot_opts_from_config(&so, &opt, &cfg);
	assert_int_equal(so.timeout_s, 30);
	assert_int_equal(vv_snapshot_config_timeout(&cfg), 30);
	assert_string_equal(so.plugin_config, "/etc/plugin.json");
	assert_string_equal(so.hooks_dir, "/etc/hooks");
	assert_string_equal(so.ca_file, "/cli.pem");

	/* What the caller set stays ("" is "no plugin config"). */
	memset(&so, 0, sizeof(so));
	so.timeout_s = 5;
	so.plugin_config = "";
	so.hooks_dir = "/cli/hooks";
	opt.ca_file = NULL;
	vv_snapshot_opts_from_config(&so, &opt, &cfg);
	assert_int_equal(so.timeout_s, 5);
	assert_string_equal(so.plugin_config, "");
	assert_string_equal(so.hooks_dir, "/cli/hooks");
	assert_string_equal(so.ca_file, "/cfg.pem");
}

static void test_exclude_append(void **state)
{
	const char *cli[] = { "/a" }, *conf[] = { "/b", "/c/*" };
	const char **excl = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(vv_exclude_append(&excl, &n, conf, 0), 0);
	assert_null(excl);
	assert_int_equal(vv_exclude_append(&excl, &n, cli, 1), 0);
	assert_int_equal(vv_exclude_append(&excl, &n, conf, 2), 0);
	assert_int_equal(n, 3);
	assert_string_equal(excl[0], "/a");
	assert_string_equal(excl[1], "/b");
	assert_string_equal(excl[2], "/c/*");
	free(excl);
}

static void test_key_refs_from_config(void **state)
{
	struct vv_volume_conf vols[2] = {
		{ .name = "data", .key = "keystore:data", .kek = "keystore:kek", .alg = "RSA-OAEP" },
		{ .name = "nokey" },
	};
	struct vv_config cfg = { .volumes = vols, .nvolumes = 2 };
	const char *none = "/nonexistent/dev";
	char *key = NULL, *kek = NULL, *alg = NULL;

	(void)state;
	/* No token on a device that does not exist: the [volume] section. */
	assert_int_equal(vv_key_refs_token_then_config(&cfg, "data", none, &key, &kek, &alg), 0);
	assert_string_equal(key, "keystore:data");
	assert_string_equal(kek, "keystore:kek");
	assert_string_equal(alg, "RSA-OAEP");
	free(key);
	free(kek);
	free(alg);
	assert_int_equal(vv_key_refs_token_then_config(&cfg, "nokey", none, &key, &kek, &alg),
			 -ENOENT);
	assert_int_equal(vv_key_refs_token_then_config(&cfg, "other", none, &key, &kek, &alg),
			 -ENOENT);
	assert_int_equal(vv_key_refs_token_then_config(NULL, "data", none, &key, &kek, &alg),
			 -ENOENT);
	assert_int_equal(vv_key_refs_token_then_config(&cfg, NULL, none, &key, &kek, &alg),
			 -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_no_scripts_is_filesystem_consistent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fs_requested_exit_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hooks_application_consistent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failing_hook_continues_and_thaw_hooks_run, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_plugin_abort_still_runs_post, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plugin_retry_rechecks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plugin_hanging_pre_script_times_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plugin_app_consistent_and_refused_config, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fs_freeze_disabled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsupported_fs_is_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadline_passes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupted_by_signal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parallel_wave, setup, teardown),
		cmocka_unit_test_setup_teardown(test_markers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report_json, setup, teardown),
		cmocka_unit_test(test_report_bookkeeping),
		cmocka_unit_test_setup_teardown(test_session_attached, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_detached_and_dropped, setup, teardown),
		cmocka_unit_test(test_opts_from_config),
		cmocka_unit_test(test_exclude_append),
		cmocka_unit_test(test_key_refs_from_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
