// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `open` on a machine without device-mapper (this build host; skipped
 * where device-mapper works): the operator reads one sentence of ours per
 * volume ("device-mapper is not available ...", with the fix), never
 * libdevmapper's own lines ("/dev/mapper/control: open failed", "Incompatible
 * libdevmapper ..."), and nothing at all when no volume needs device-mapper.
 * No key is fetched for a volume that cannot be opened.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent/config/config.h"
#include "agent/open/open.h"
#include "agent/volume/crypt.h"
#include "agent/volume/discover.h"
#include "agent/volume/quiesce.h"
#include "base/secret.h"
#include "vault/vault.h"
#include "keysrc_helpers.h"

static char *dir, *store, img[PATH_MAX], uuid[64];
static struct vv_vault *vault;

static int setup(void **state)
{
	struct vv_vault_config vc = { 0 };
	struct vv_crypt_info info;
	struct vv_secret *s = vv_secret_from("passphrase-one", 14);
	struct vv_error err = { 0 };
	char kf[PATH_MAX], *ref = NULL;

	(void)state;
	dir = kt_mkdtemp("open-nodm");
	if (!dir || !s || asprintf(&store, "%s/keys", dir) < 0)
		return -1;
	vc.keystore_dir = store;
	if (vv_vault_new(&vc, &vault) < 0)
		return -1;
	snprintf(img, sizeof(img), "%s/luks2.img", dir);
	snprintf(kf, sizeof(kf), "%s/k", dir);
	if (kt_write(kf, "passphrase-one", 14, 0600) < 0 ||
	    kt_sh("truncate -s 20M '%s' && cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 "
		  "--pbkdf-force-iterations 1000 --key-file '%s' '%s' >/dev/null 2>&1",
		  img, kf, img) != 0 ||
	    vv_crypt_probe(img, &info) < 0 ||
	    vv_bek_store(vault, "keystore:k1", s, NULL, NULL, NULL, &ref, NULL, &err) < 0)
		return -1;
	snprintf(uuid, sizeof(uuid), "%s", info.uuid);
	free(ref);
	vv_secret_free(s);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	vv_vault_free(vault);
	kt_rmrf(dir);
	free(store);
	free(dir);
	return 0;
}

/* stderr into a file from now until stderr_end, which returns what was written. */
static int saved_fd = -1;
static char errpath[PATH_MAX];

static void stderr_begin(void)
{
	int fd;

	snprintf(errpath, sizeof(errpath), "%s/stderr", dir);
	fflush(stderr);
	fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	saved_fd = dup(2);
	assert_true(saved_fd >= 0);
	assert_true(dup2(fd, 2) == 2);
	close(fd);
}

static char *stderr_end(void)
{
	size_t len = 0;
	char *out;

	fflush(stderr);
	assert_true(dup2(saved_fd, 2) == 2);
	close(saved_fd);
	saved_fd = -1;
	out = kt_read(errpath, &len);
	assert_non_null(out);
	return out;
}

static bool no_dm(void)
{
	char why[160];

	return vv_dm_available(why, sizeof(why)) < 0;
}

/* Plan over img from conf, run for real (not check-only); stderr in *err_out. */
static int run(const char *conf, struct vv_open_plan *plan, struct vv_open_ctx *ctx,
	       struct vv_disks *disks, char **err_out)
{
	struct vv_config *cfg = NULL;
	struct vv_open_env env = { 0 };
	struct vv_error err = { 0 };
	int r;

	memset(disks, 0, sizeof(*disks));
	assert_true(vv_discover_add(disks, img) >= 0);
	if (vv_config_parse(conf, "test.conf", &cfg, &err) < 0)
		fail_msg("config: %s", err.message);
	env.cfg = cfg;
	env.disks = disks;
	assert_int_equal(vv_open_plan_build(&env, plan), 0);
	memset(ctx, 0, sizeof(*ctx));
	ctx->vault = vault;
	ctx->jobs = 2;
	stderr_begin();
	r = vv_open_run(ctx, plan);
	*err_out = stderr_end();
	vv_config_free(cfg);
	return r;
}

static void test_dm_available_quiet(void **state)
{
	char why[160] = "", *out;
	int r;

	(void)state;
	stderr_begin();
	r = vv_dm_available(why, sizeof(why));
	out = stderr_end();
	if (r == 0) {
		free(out);
		skip();
	}
	assert_int_equal(r, -ENODEV);
	assert_non_null(strstr(why, "device-mapper is not available on this machine"));
	/* libdevmapper said its lines into our debug log, not on stderr. */
	if (out[0])
		fail_msg("stderr: %s", out);
	free(out);
}

static void test_volume_fails_in_our_words(void **state)
{
	struct vv_open_plan plan;
	struct vv_open_ctx ctx;
	struct vv_disks disks;
	char conf[512], *out;
	struct vv_vol *v;

	(void)state;
	if (!no_dm())
		skip();
	snprintf(conf, sizeof(conf), "[volume data]\nmatch = uuid:%s\nkey = keystore:k1\n", uuid);
	assert_int_equal(run(conf, &plan, &ctx, &disks, &out), 1);
	v = vv_open_plan_find(&plan, "data");
	assert_non_null(v);
	assert_int_equal(v->fail, VV_FAIL_ACTIVATE);
	assert_int_equal(v->error.cause, VV_CAUSE_SYSTEM);
	if (!strstr(v->error.message, "not opened: device-mapper is not available on this machine"))
		fail_msg("message: %s", v->error.message);
	assert_non_null(strstr(v->error.remedy, "modprobe dm_mod dm_crypt"));
	/* Nothing fetched for a volume that cannot be opened. */
	assert_int_equal(ctx.stats.fetches, 0);
	if (strstr(out, "/dev/mapper/control") || strstr(out, "libdevmapper"))
		fail_msg("libdevmapper's lines on stderr: %s", out);
	free(out);
	vv_open_plan_free(&plan);
	vv_disks_free(&disks);
}

static void test_nothing_to_open_says_nothing(void **state)
{
	struct vv_open_plan plan;
	struct vv_open_ctx ctx;
	struct vv_disks disks;
	char *out;

	(void)state;
	if (!no_dm())
		skip();
	/* The image is there, nobody describes it: nothing needs device-mapper. */
	assert_int_equal(run("", &plan, &ctx, &disks, &out), 0);
	if (out[0])
		fail_msg("stderr: %s", out);
	free(out);
	vv_open_plan_free(&plan);
	vv_disks_free(&disks);
}

/* Provisioning's activation says the same, not "a mapping of that name already exists". */
static void test_activate_says_no_dm(void **state)
{
	struct vv_secret *k = vv_secret_from("passphrase-one", 14);
	int r;

	(void)state;
	if (!no_dm()) {
		vv_secret_free(k);
		skip();
	}
	r = vv_crypt_activate(img, "vv-test-nodm", k, 0);
	vv_secret_free(k);
	assert_int_equal(r, -ENXIO);
	assert_non_null(strstr(vv_crypt_strerror(r), "device-mapper is not available"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* First: libdevmapper complains about its control node once a process. */
		cmocka_unit_test(test_nothing_to_open_says_nothing),
		cmocka_unit_test(test_dm_available_quiet),
		cmocka_unit_test(test_volume_fails_in_our_words),
		cmocka_unit_test(test_activate_says_no_dm),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
