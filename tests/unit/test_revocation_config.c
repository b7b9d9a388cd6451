// SPDX-License-Identifier: GPL-2.0-or-later
/* agent/config: the [revocation] section, its durations and its drop-ins. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent/config/config.h"
#include "tests/unit/config_expect.h"

static void test_durations(void **state)
{
	static const struct { const char *in; int r, secs; } cases[] = {
		{ "0", 0, 0 }, { "45", 0, 45 }, { "30s", 0, 30 }, { "5m", 0, 300 },
		{ "1h", 0, 3600 }, { "2d", 0, 172800 }, { "", -EINVAL, 0 },
		{ "m", -EINVAL, 0 }, { "5x", -EINVAL, 0 }, { "5mm", -EINVAL, 0 },
		{ "-5", -EINVAL, 0 }, { " 5", -EINVAL, 0 }, { "5 m", -EINVAL, 0 },
		{ "1.5h", -EINVAL, 0 }, { "99999999999", -EINVAL, 0 },
		{ "999999999d", -EINVAL, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int secs = -1, r = vv_duration_parse(cases[i].in, &secs);

		if (r != cases[i].r || (r == 0 && secs != cases[i].secs))
			fail_msg("'%s': r=%d secs=%d", cases[i].in, r, secs);
	}
}

static void test_defaults_and_values(void **state)
{
	struct vv_config *cfg = NULL;
	struct vv_error err = { 0 };

	(void)state;
	assert_int_equal(vv_config_parse("[vault]\nurl = https://v.vault.azure.net\n", "t", &cfg,
					 &err), 0);
	assert_false(cfg->revocation.enforce);
	assert_int_equal(cfg->revocation.check_s, VV_REVOCATION_DEFAULT_CHECK_S);
	assert_int_equal(cfg->revocation.grace_s, VV_REVOCATION_DEFAULT_GRACE_S);
	vv_config_free(cfg);
	cfg = NULL;
	assert_int_equal(vv_config_parse("[revocation]\nenforce = yes\ncheck = 30s\ngrace = 1h\n",
					 "t", &cfg, &err), 0);
	assert_true(cfg->revocation.enforce);
	assert_int_equal(cfg->revocation.check_s, 30);
	assert_int_equal(cfg->revocation.grace_s, 3600);
	vv_config_free(cfg);
	cfg = NULL;
	assert_int_equal(vv_config_parse("[revocation]\ngrace = 0\n", "t", &cfg, &err), 0);
	assert_int_equal(cfg->revocation.grace_s, 0);
	vv_config_free(cfg);
}

static void test_strictness(void **state)
{
	(void)state;
	expect_error("[revocation]\nenforce = maybe\n", "bad.conf:2:", "enforce: invalid value");
	expect_error("[revocation]\ncheck = 5x\n", "bad.conf:2:", "check: invalid value '5x'");
	expect_error("[revocation]\ncheck = 5s\n", "bad.conf:2:", "check: invalid value '5s'");
	expect_error("[revocation]\ncheck = 2d\n", "bad.conf:2:", "check");
	expect_error("[revocation]\ngrace = 8d\n", "bad.conf:2:", "grace: invalid value");
	expect_error("[revocation]\ngrace = -1\n", "bad.conf:2:", "grace");
	expect_error("[revocation]\nsuspend = yes\n", "bad.conf:2:",
		     "unknown key 'suspend' in [revocation]");
	expect_error("[revocation]\ngrace = 1m\ngrace = 2m\n", "bad.conf:3:", "duplicate key");
	expect_error("[revocation]\n[revocation]\n", "bad.conf:2:", "duplicate section [revocation]");
	expect_error("[revocation x]\n", "bad.conf:1:", "[revocation] takes no name");
}

/* [volume] revocation = no: the per-volume opt-out, kept through the plan's copy. */
static void test_volume_optout(void **state)
{
	static const char text[] =
		"[volume covered]\nmatch = lun:1\n"
		"[volume said]\nmatch = lun:2\nrevocation = yes\n"
		"[volume out]\nmatch = lun:3\nrevocation = no\n"
		"[volume off]\nmatch = lun:4\nrevocation = false\n";
	struct vv_config *cfg = NULL;
	struct vv_error err = { 0 };
	struct vv_volume_conf copy;

	(void)state;
	assert_int_equal(vv_config_parse(text, "t", &cfg, &err), 0);
	assert_int_equal(vv_config_volume(cfg, "covered")->revocation, VV_TRI_AUTO);
	assert_int_equal(vv_config_volume(cfg, "said")->revocation, VV_TRI_YES);
	assert_int_equal(vv_config_volume(cfg, "out")->revocation, VV_TRI_NO);
	assert_int_equal(vv_config_volume(cfg, "off")->revocation, VV_TRI_NO);
	assert_int_equal(vv_volume_conf_copy(&copy, vv_config_volume(cfg, "out")), 0);
	assert_int_equal(copy.revocation, VV_TRI_NO);
	vv_volume_conf_clear(&copy);
	vv_config_free(cfg);
	expect_error("[volume d]\nmatch = lun:1\nkey = s\nrevocation = maybe\n", "bad.conf:4:",
		     "revocation: invalid value 'maybe' (expected yes or no)");
	expect_error("[volume d]\nmatch = lun:1\nrevocation =\n", "bad.conf:3:", "revocation");
	expect_error("[volume d]\nmatch = lun:1\nrevocation = no\nrevocation = yes\n",
		     "bad.conf:4:", "duplicate key 'revocation'");
	/* the opt-out is a volume's: [revocation] has no such key */
	expect_error("[revocation]\nrevocation = no\n", "bad.conf:2:",
		     "unknown key 'revocation' in [revocation]");
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* A drop-in overrides the keys it names, and only those. */
static void test_dropin_merge(void **state)
{
	static char dir[] = "/tmp/vv-test-revocation-XXXXXX";
	struct vv_config *cfg = NULL;
	struct vv_error err = { 0 };
	char path[256], d[256], f[320];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/vaultvol.conf", dir);
	snprintf(d, sizeof(d), "%s/conf.d", dir);
	snprintf(f, sizeof(f), "%s/60-revocation.conf", d);
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(mkdir(d, 0755), 0);
	write_file(path, "[revocation]\nenforce = no\ncheck = 1m\ngrace = 20m\n");
	write_file(f, "[revocation]\nenforce = yes\ngrace = 0s\n");
	assert_int_equal(vv_config_load(path, &cfg, &err), 0);
	assert_true(cfg->revocation.enforce);
	assert_int_equal(cfg->revocation.check_s, 60);
	assert_int_equal(cfg->revocation.grace_s, 0);
	vv_config_free(cfg);
	cfg = NULL;
	write_file(f, "[revocation]\ncheck = 1s\n");
	assert_int_equal(vv_config_load(path, &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.message, "60-revocation.conf:2: check"));
	unlink(f);
	rmdir(d);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_defaults_and_values),
		cmocka_unit_test(test_strictness),
		cmocka_unit_test(test_volume_optout),
		cmocka_unit_test(test_dropin_merge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
