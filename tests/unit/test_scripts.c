// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Snapshot scripts: plugin config parsing, ownership/permission checks on
 * real files (tests run as root), hook directory order and skips, and the
 * runner (exit codes, output tail, timeout killing the process group).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>

#include "agent/snapshot/scripts.h"
#include "tests/unit/snap_test_util.h"

struct fx {
	char dir[64];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/vv-scripts-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(chmod(f->dir, 0700), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	snap_rm_rf(f->dir);
	free(f);
	return 0;
}

static void test_plugin_parse_full(void **state)
{
	struct vv_plugin_config c;
	struct vv_error why = { 0 };

	(void)state;
	assert_int_equal(vv_plugin_config_parse(
		"{\"pluginName\":\"ScriptRunner\",\"preScriptLocation\":\"/etc/azure/pre.sh\","
		"\"postScriptLocation\":\"/etc/azure/post.sh\",\"preScriptParams\":[\"a\",\"\",\"b c\"],"
		"\"postScriptParams\":[\"\",\"\"],\"preScriptNoOfRetries\":2,"
		"\"postScriptNoOfRetries\":\"1\",\"timeoutInSeconds\":45,"
		"\"continueBackupOnFailure\":false,\"fsFreezeEnabled\":\"false\"}",
		&c, &why), 0);
	assert_string_equal(c.pre_script, "/etc/azure/pre.sh");
	assert_string_equal(c.post_script, "/etc/azure/post.sh");
	/* Empty parameters (the shipped sample has ["", ""]) are dropped. */
	assert_string_equal(c.pre_params[0], "a");
	assert_string_equal(c.pre_params[1], "b c");
	assert_null(c.pre_params[2]);
	assert_null(c.post_params[0]);
	assert_int_equal(c.pre_retries, 2);
	assert_int_equal(c.post_retries, 1);
	assert_int_equal(c.timeout_s, 45);
	assert_false(c.continue_on_failure);
	assert_false(c.fs_freeze_enabled);
	vv_plugin_config_clear(&c);
}

static void test_plugin_parse_defaults_and_errors(void **state)
{
	struct vv_plugin_config c;
	struct vv_error why = { 0 };

	(void)state;
	assert_int_equal(vv_plugin_config_parse("{}", &c, &why), 0);
	assert_null(c.pre_script);
	assert_int_equal(c.timeout_s, VV_SCRIPT_TIMEOUT_DEFAULT_S);
	assert_true(c.continue_on_failure);
	assert_true(c.fs_freeze_enabled);
	assert_int_equal(c.pre_retries, 0);
	vv_plugin_config_clear(&c);

	assert_int_equal(vv_plugin_config_parse("{\"preScriptLocation\":\"\"}", &c, &why), 0);
	assert_null(c.pre_script);
	vv_plugin_config_clear(&c);

	assert_int_equal(vv_plugin_config_parse("{\"pluginName\":\"Other\"}", &c, &why),
			 -EINVAL);
	assert_non_null(strstr(why.message, "pluginName"));
	assert_int_equal(vv_plugin_config_parse("{\"timeoutInSeconds\":0}", &c, &why),
			 -EINVAL);
	assert_non_null(strstr(why.message, "timeoutInSeconds"));
	assert_int_equal(vv_plugin_config_parse("{\"timeoutInSeconds\":99999}", &c, &why),
			 -EINVAL);
	assert_int_equal(vv_plugin_config_parse("{\"preScriptLocation\":\"relative.sh\"}", &c, &why), -EINVAL);
	assert_non_null(strstr(why.message, "absolute"));
	assert_int_equal(vv_plugin_config_parse("{\"preScriptParams\":\"x\"}", &c, &why),
			 -EINVAL);
	assert_int_equal(vv_plugin_config_parse("{\"continueBackupOnFailure\":\"maybe\"}", &c, &why), -EINVAL);
	assert_int_equal(vv_plugin_config_parse("{\"preScriptNoOfRetries\":\"two\"}", &c, &why), -EINVAL);
	assert_int_equal(vv_plugin_config_parse("{not json", &c, &why), -EINVAL);
	assert_non_null(strstr(why.message, "JSON"));
	assert_int_equal(vv_plugin_config_parse("[1,2]", &c, &why), -EINVAL);
}

static void test_trust(void **state)
{
	struct fx *f = *state;
	struct vv_error why = { 0 };
	char path[128], sub[128];

	snap_write(f->dir, "ok.sh", 0700, "#!/bin/sh\nexit 0\n");
	snprintf(path, sizeof(path), "%s/ok.sh", f->dir);
	assert_int_equal(vv_path_trusted(path, true, &why), 0);

	/* Group/other writable file. */
	assert_int_equal(chmod(path, 0722), 0);
	assert_int_equal(vv_path_trusted(path, true, &why), -EPERM);
	assert_non_null(strstr(why.message, "writable by group or others"));
	/* Readable by others is fine (only writing matters). */
	assert_int_equal(chmod(path, 0755), 0);
	assert_int_equal(vv_path_trusted(path, true, &why), 0);
	/* Not executable. */
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(vv_path_trusted(path, true, &why), -EPERM);
	assert_non_null(strstr(why.message, "not executable"));
	assert_int_equal(vv_path_trusted(path, false, &why), 0);
	/* Not owned by root. */
	assert_int_equal(chmod(path, 0700), 0);
	assert_int_equal(chown(path, 1000, 1000), 0);
	assert_int_equal(vv_path_trusted(path, true, &why), -EPERM);
	assert_non_null(strstr(why.message, "not owned by root"));
	assert_int_equal(chown(path, 0, 0), 0);

	/* A directory on the way writable by others, not sticky. */
	snap_write(f->dir, "open/s.sh", 0700, "#!/bin/sh\n");
	snprintf(sub, sizeof(sub), "%s/open", f->dir);
	snprintf(path, sizeof(path), "%s/open/s.sh", f->dir);
	assert_int_equal(chmod(sub, 0777), 0);
	assert_int_equal(vv_path_trusted(path, true, &why), -EPERM);
	assert_non_null(strstr(why.message, "directory"));
	/* Sticky like /tmp: acceptable, the file itself is root's. */
	assert_int_equal(chmod(sub, 01777), 0);
	assert_int_equal(vv_path_trusted(path, true, &why), 0);
	/* Directory owned by someone else. */
	assert_int_equal(chmod(sub, 0755), 0);
	assert_int_equal(chown(sub, 1000, 1000), 0);
	assert_int_equal(vv_path_trusted(path, true, &why), -EPERM);
	assert_int_equal(chown(sub, 0, 0), 0);

	/* A symlink is refused, naming the real path, even to a good script. */
	snprintf(sub, sizeof(sub), "%s/link.sh", f->dir);
	assert_int_equal(symlink(path, sub), 0);
	assert_int_equal(vv_path_trusted(path, true, &why), 0);
	assert_int_equal(vv_path_trusted(sub, true, &why), -EPERM);
	assert_non_null(strstr(why.message, "symbolic link"));
	assert_non_null(strstr(why.message, path));
	/* ... and so is one on the way (a directory link) */
	snprintf(sub, sizeof(sub), "%s/dirlink", f->dir);
	assert_int_equal(symlink("open", sub), 0);
	snprintf(sub, sizeof(sub), "%s/dirlink/s.sh", f->dir);
	assert_int_equal(vv_path_trusted(sub, true, &why), -EPERM);
	assert_non_null(strstr(why.message, "symbolic link"));
	/* relative paths are not walked */
	assert_int_equal(vv_path_trusted("s.sh", true, &why), -EINVAL);

	/* Missing file, and a directory instead of a file. */
	snprintf(path, sizeof(path), "%s/missing.sh", f->dir);
	assert_int_equal(vv_path_trusted(path, true, &why), -ENOENT);
	assert_int_equal(vv_path_trusted(f->dir, false, &why), -EPERM);
}

static void test_plugin_load(void **state)
{
	struct fx *f = *state;
	struct vv_plugin_config c;
	struct vv_error why = { 0 };
	char path[128];

	snprintf(path, sizeof(path), "%s/VMSnapshotScriptPluginConfig.json", f->dir);
	assert_int_equal(vv_plugin_config_load(path, &c, &why), -ENOENT);

	snap_write(f->dir, "VMSnapshotScriptPluginConfig.json", 0600,
		   "{\"pluginName\":\"ScriptRunner\",\"preScriptLocation\":\"/x/pre.sh\","
		   "\"timeoutInSeconds\":30}");
	assert_int_equal(vv_plugin_config_load(path, &c, &why), 0);
	assert_string_equal(c.pre_script, "/x/pre.sh");
	vv_plugin_config_clear(&c);

	/* World-writable config: refused with the reason. */
	assert_int_equal(chmod(path, 0666), 0);
	assert_int_equal(vv_plugin_config_load(path, &c, &why), -EPERM);
	assert_non_null(strstr(why.message, "writable by group or others"));
	assert_int_equal(chmod(path, 0600), 0);

	/* Malformed: the file is named in the reason. */
	snap_write(f->dir, "VMSnapshotScriptPluginConfig.json", 0600, "{\"timeoutInSeconds\":-1}");
	assert_int_equal(vv_plugin_config_load(path, &c, &why), -EINVAL);
	assert_non_null(strstr(why.message, "VMSnapshotScriptPluginConfig.json"));
	assert_non_null(strstr(why.message, "timeoutInSeconds"));
}

static void test_hook_names(void **state)
{
	(void)state;
	assert_false(vv_hook_name_skipped("10-mysql"));
	assert_false(vv_hook_name_skipped("postgres.sh"));
	assert_true(vv_hook_name_skipped("x~"));
	assert_true(vv_hook_name_skipped("x.bak"));
	assert_true(vv_hook_name_skipped("x.orig"));
	assert_true(vv_hook_name_skipped("x.rpmnew"));
	assert_true(vv_hook_name_skipped("x.rpmorig"));
	assert_true(vv_hook_name_skipped("x.rpmsave"));
	assert_true(vv_hook_name_skipped("x.sample"));
	assert_true(vv_hook_name_skipped("x.dpkg-old"));
	assert_true(vv_hook_name_skipped("x.dpkg-dist"));
	assert_true(vv_hook_name_skipped(".hidden"));
	assert_false(vv_hook_name_skipped("x.bak.sh"));
}

static void test_hook_list(void **state)
{
	struct fx *f = *state;
	char dir[128];
	struct vv_error why = { 0 };
	char link[160];
	char **v;
	size_t n;

	snap_write(f->dir, "hooks/20-b", 0755, "#!/bin/sh\n");
	snap_write(f->dir, "hooks/10-a", 0700, "#!/bin/sh\n");
	snap_write(f->dir, "hooks/B-upper", 0700, "#!/bin/sh\n");
	snap_write(f->dir, "hooks/30-c.bak", 0755, "#!/bin/sh\n");
	snap_write(f->dir, "hooks/40-d~", 0755, "#!/bin/sh\n");
	snap_write(f->dir, "hooks/50-e.dpkg-old", 0755, "#!/bin/sh\n");
	snap_write(f->dir, "hooks/60-f.sample", 0755, "#!/bin/sh\n");
	snap_write(f->dir, "hooks/70-noexec", 0644, "#!/bin/sh\n");
	snap_write(f->dir, "hooks/.hidden", 0755, "#!/bin/sh\n");
	snap_mkdirs(f->dir, "hooks/80-dir");
	snprintf(dir, sizeof(dir), "%s/hooks", f->dir);
	assert_int_equal(vv_hooks_list(dir, &v, &n, &why), 0);
	assert_int_equal(n, 3);
	/* C collation: digits before upper case. */
	assert_non_null(strstr(v[0], "/10-a"));
	assert_non_null(strstr(v[1], "/20-b"));
	assert_non_null(strstr(v[2], "/B-upper"));
	assert_null(v[3]);
	vv_strv_free(v);

	/* The directory is checked like the scripts: writable, foreign, a link. */
	assert_int_equal(chmod(dir, 0777), 0);
	assert_int_equal(vv_hooks_list(dir, &v, &n, &why), -EPERM);
	assert_non_null(strstr(why.message, "writable by group or others"));
	/* sticky does not help the hook directory itself */
	assert_int_equal(chmod(dir, 01777), 0);
	assert_int_equal(vv_hooks_list(dir, &v, &n, &why), -EPERM);
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(chown(dir, 1000, 1000), 0);
	assert_int_equal(vv_hooks_list(dir, &v, &n, &why), -EPERM);
	assert_int_equal(chown(dir, 0, 0), 0);
	snprintf(link, sizeof(link), "%s/hooklink", f->dir);
	assert_int_equal(symlink(dir, link), 0);
	assert_int_equal(vv_hooks_list(link, &v, &n, &why), -EPERM);
	assert_non_null(strstr(why.message, "symbolic link"));
	/* a parent writable by others */
	assert_int_equal(chmod(f->dir, 0777), 0);
	assert_int_equal(vv_hooks_list(dir, &v, &n, &why), -EPERM);
	assert_int_equal(chmod(f->dir, 0700), 0);

	snprintf(dir, sizeof(dir), "%s/none", f->dir);
	assert_int_equal(vv_hooks_list(dir, &v, &n, &why), -ENOENT);
}

/* What runs is the file that was checked, not what its path names later. */
static void test_exec_runs_checked_fd(void **state)
{
	struct fx *f = *state;
	struct vv_error why = { 0 };
	char path[128], other[128];
	char *argv[] = { path, NULL };
	struct vv_exec_result r;
	int fd;

	snap_write(f->dir, "x.sh", 0700, "#!/bin/sh\necho checked\n");
	snap_write(f->dir, "evil.sh", 0700, "#!/bin/sh\necho swapped\n");
	snprintf(path, sizeof(path), "%s/x.sh", f->dir);
	snprintf(other, sizeof(other), "%s/evil.sh", f->dir);
	fd = vv_script_open(path, true, &why);
	assert_true(fd >= 0);
	/* swapped after the check */
	assert_int_equal(rename(other, path), 0);
	assert_int_equal(vv_exec_run_fd(fd, argv, NULL, 5000, &r), 0);
	close(fd);
	assert_int_equal(r.exit_code, 0);
	assert_non_null(strstr(r.output, "checked"));
	assert_null(strstr(r.output, "swapped"));
	/* a binary runs from its descriptor too */
	fd = vv_script_open("/bin/true", true, &why);
	if (fd == -EPERM) {	/* merged /usr: /bin is a link, refused as such */
		assert_non_null(strstr(why.message, "symbolic link"));
		fd = vv_script_open("/usr/bin/true", true, &why);
	}
	assert_true(fd >= 0);
	assert_int_equal(vv_exec_run_fd(fd, argv, NULL, 5000, &r), 0);
	assert_int_equal(r.exit_code, 0);
	close(fd);
}

static void test_exec_status_and_output(void **state)
{
	struct fx *f = *state;
	char path[128];
	char *argv[] = { path, "one", "two words", NULL };
	char *env[] = { "VV_TEST_VAR=hello", NULL };
	struct vv_exec_result r;

	snap_write(f->dir, "s.sh", 0700,
		   "#!/bin/sh\necho \"args:$1|$2|$#\"\necho \"env:$VV_TEST_VAR\" >&2\n"
		   "read x && echo stdin-not-empty\nexit 7\n");
	snprintf(path, sizeof(path), "%s/s.sh", f->dir);
	assert_int_equal(vv_exec_run(argv, env, 5000, &r), 0);
	assert_true(r.started);
	assert_int_equal(r.exit_code, 7);
	assert_int_equal(r.term_signal, 0);
	assert_false(r.timed_out);
	assert_false(vv_exec_ok(&r));
	assert_non_null(strstr(r.output, "args:one|two words|2"));
	assert_non_null(strstr(r.output, "env:hello"));
	assert_null(strstr(r.output, "stdin-not-empty"));

	/* Only the tail of long output is kept. */
	snap_write(f->dir, "long.sh", 0700,
		   "#!/bin/sh\ni=0\nwhile [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done\n");
	snprintf(path, sizeof(path), "%s/long.sh", f->dir);
	argv[1] = NULL;
	assert_int_equal(vv_exec_run(argv, NULL, 5000, &r), 0);
	assert_true(vv_exec_ok(&r));
	assert_true(strlen(r.output) <= VV_SCRIPT_OUTPUT_MAX);
	assert_non_null(strstr(r.output, "line-299"));
	assert_null(strstr(r.output, "line-1\n"));

	/* Killed by a signal. */
	snap_write(f->dir, "kill.sh", 0700, "#!/bin/sh\nkill -TERM $$\nsleep 5\n");
	snprintf(path, sizeof(path), "%s/kill.sh", f->dir);
	assert_int_equal(vv_exec_run(argv, NULL, 5000, &r), 0);
	assert_int_equal(r.term_signal, SIGTERM);
	assert_false(vv_exec_ok(&r));
}

/* Running (a zombie waiting for its reaper does not count). */
static bool alive(pid_t pid)
{
	char path[64], *st, *p;
	bool live;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	st = snap_read(path);
	if (!st)
		return false;
	p = strrchr(st, ')');
	live = p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
	free(st);
	return live;
}

static void test_exec_timeout_kills_group(void **state)
{
	struct fx *f = *state;
	char path[128], pidfile[128];
	char *argv[] = { path, pidfile, NULL };
	struct vv_exec_result r;
	long long t0 = snap_mono_ms();
	char *pid_text;
	pid_t helper;

	/* A script that starts a helper in the background, then hangs. */
	snap_write(f->dir, "hang.sh", 0700,
		   "#!/bin/sh\nsleep 60 &\necho $! > \"$1\"\necho started\nsleep 60\n");
	snprintf(path, sizeof(path), "%s/hang.sh", f->dir);
	snprintf(pidfile, sizeof(pidfile), "%s/helper.pid", f->dir);
	assert_int_equal(vv_exec_run(argv, NULL, 700, &r), 0);
	assert_true(r.timed_out);
	assert_int_equal(r.term_signal, SIGKILL);
	assert_true(r.duration_ms >= 690);
	/* Killed at its timeout, not after its 60 s sleep (a bound, not a measure). */
	assert_true(snap_mono_ms() - t0 < 30000);
	assert_non_null(strstr(r.output, "started"));
	/* The helper in its process group died too. */
	pid_text = snap_read(pidfile);
	assert_non_null(pid_text);
	helper = (pid_t)atoi(pid_text);
	free(pid_text);
	assert_true(helper > 0);
	for (int i = 0; i < 50 && alive(helper); i++)
		usleep(20 * 1000);
	assert_false(alive(helper));
}

static void test_exec_start_errors(void **state)
{
	struct fx *f = *state;
	char path[128];
	char *argv[] = { path, NULL };
	struct vv_exec_result r;

	snprintf(path, sizeof(path), "%s/absent", f->dir);
	assert_int_equal(vv_exec_run(argv, NULL, 1000, &r), -ENOENT);
	assert_false(r.started);
	assert_false(vv_exec_ok(&r));
	snap_write(f->dir, "noexec", 0600, "#!/bin/sh\n");
	snprintf(path, sizeof(path), "%s/noexec", f->dir);
	assert_int_equal(vv_exec_run(argv, NULL, 1000, &r), -EACCES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plugin_parse_full),
		cmocka_unit_test(test_plugin_parse_defaults_and_errors),
		cmocka_unit_test_setup_teardown(test_trust, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plugin_load, setup, teardown),
		cmocka_unit_test(test_hook_names),
		cmocka_unit_test_setup_teardown(test_hook_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_status_and_output, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_runs_checked_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_timeout_kills_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_start_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
