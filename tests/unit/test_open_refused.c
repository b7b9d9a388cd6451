// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Volumes libcryptsetup refuses, on image files (check-only runs, no
 * device-mapper): the volume's error carries libcryptsetup's own reason
 * (not only the debug log), and BitLocker volumes whose header already
 * tells that libcryptsetup will not activate them (encrypt-on-write, a
 * conversion not finished, a clear key) are refused before any key is
 * derived, with a remedy that fits (finish it in Windows), not one about
 * dm-crypt.
 *
 * The BitLocker cases start from the Windows-made bitlk-aes-xts-128.img
 * (../shared/testdata/bitlocker, skipped without it) with the one field
 * libcryptsetup reads for each changed: the superblock's type GUID (the
 * encrypt-on-write GUID), the FVE metadata's current/next state, a VMK's
 * protection (clear key). An unchanged copy opens, so the change is the
 * cause.
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
#include "base/secret.h"
#include "vault/vault.h"
#include "keysrc_helpers.h"

static char *dir;
static struct vv_vault *vault;

static int setup(void **state)
{
	struct vv_vault_config vc = { 0 };
	char store[PATH_MAX], pw[PATH_MAX];

	(void)state;
	dir = kt_mkdtemp("open-refused");
	if (!dir)
		return -1;
	snprintf(store, sizeof(store), "%s/keys", dir);
	vc.keystore_dir = store;
	snprintf(pw, sizeof(pw), "%s/pw", dir);
	if (vv_vault_new(&vc, &vault) < 0 || kt_write(pw, "anaconda", 8, 0600) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	vv_vault_free(vault);
	kt_rmrf(dir);
	free(dir);
	return 0;
}

/* One volume "v" over img from conf, check-only; its record in *v (plan kept). */
static struct vv_vol *check_one(const char *conf, const char *img, struct vv_open_plan *plan,
				struct vv_disks *disks)
{
	struct vv_config *cfg = NULL;
	struct vv_open_env env = { 0 };
	struct vv_open_ctx ctx = { 0 };
	struct vv_error err = { 0 };
	struct vv_vol *v;

	memset(disks, 0, sizeof(*disks));
	assert_true(vv_discover_add(disks, img) >= 0);
	if (vv_config_parse(conf, "test.conf", &cfg, &err) < 0)
		fail_msg("config: %s", err.message);
	env.cfg = cfg;
	env.disks = disks;
	assert_int_equal(vv_open_plan_build(&env, plan), 0);
	ctx.vault = vault;
	ctx.check_only = true;
	ctx.jobs = 1;
	vv_open_run(&ctx, plan);
	vv_config_free(cfg);
	v = vv_open_plan_find(plan, "v");
	assert_non_null(v);
	return v;
}

static void done(struct vv_open_plan *plan, struct vv_disks *disks)
{
	vv_open_plan_free(plan);
	vv_disks_free(disks);
}

/*
 * A LUKS1 header naming a hash libcryptsetup does not know: the volume's
 * error says what libcryptsetup said ("Requested LUKS hash ... is not
 * supported."), not only that the header does not load.
 */
static void test_luks_reason_kept(void **state)
{
	struct vv_open_plan plan;
	struct vv_disks disks;
	struct vv_crypt_info info;
	char img[PATH_MAX], conf[512];
	struct vv_vol *v;

	(void)state;
	snprintf(img, sizeof(img), "%s/luks1.img", dir);
	assert_int_equal(kt_sh("truncate -s 4M '%s' && cryptsetup luksFormat -q --type luks1 "
			       "--pbkdf-force-iterations 1000 --key-file '%s/pw' '%s' >/dev/null 2>&1",
			       img, dir, img), 0);
	assert_int_equal(vv_crypt_probe(img, &info), 0);
	snprintf(conf, sizeof(conf), "[volume v]\nmatch = uuid:%s\nkey = file:%s/pw\n", info.uuid, dir);
	/* hash-spec, 32 bytes at offset 72 of the LUKS1 header */
	assert_int_equal(kt_sh("printf 'nosuchhash\\0\\0\\0\\0\\0\\0' | dd of='%s' bs=1 seek=72 "
			       "conv=notrunc 2>/dev/null", img), 0);
	assert_int_equal(vv_crypt_probe(img, &info), -EINVAL);
	assert_non_null(strstr(info.reason, "nosuchhash"));
	v = check_one(conf, img, &plan, &disks);
	assert_int_equal(v->fail, VV_FAIL_HEADER);
	if (!strstr(v->error.message, "libcryptsetup: Requested LUKS hash nosuchhash is not supported"))
		fail_msg("message: %s", v->error.message);
	done(&plan, &disks);
}

static char base_img[PATH_MAX];

/* bitlk-aes-xts-128.img from the shared test data, once; false without it. */
static bool bitlocker_image(void)
{
	const char *shared = getenv("VV_SHARED");
	char tar[PATH_MAX];

	snprintf(tar, sizeof(tar), "%s/testdata/bitlocker/windows-images.tar.xz",
		 shared ? shared : "../shared");
	if (access(tar, R_OK) != 0)
		return false;
	snprintf(base_img, sizeof(base_img), "%s/bitlk-aes-xts-128.img", dir);
	return access(base_img, R_OK) == 0 ||
	       kt_sh("tar -xJOf '%s' bitlk-aes-xts-128.img | dd of='%s' conv=sparse bs=64k "
		     "2>/dev/null", tar, base_img) == 0;
}

/* A copy of the image with python3 editing it (script gets the path as argv[1]). */
static void crafted(const char *name, const char *script, char *out, size_t len)
{
	snprintf(out, len, "%s/%s.img", dir, name);
	assert_int_equal(kt_sh("cp --sparse=always '%s' '%s' && python3 -c '%s' '%s'", base_img, out,
			       script, out), 0);
}

static const char bitlk_conf[] =
	"[volume v]\nmatch = bitlocker:8f595209-f5b9-49a0-85d4-cb8f80258c27\nkey = file:%s/pw\n";

static void expect_refused(const char *img, const char *why, const char *remedy)
{
	struct vv_open_plan plan;
	struct vv_disks disks;
	char conf[512];
	struct vv_vol *v;

	snprintf(conf, sizeof(conf), bitlk_conf, dir);
	v = check_one(conf, img, &plan, &disks);
	assert_int_equal(v->type, VV_VOL_BITLK);
	if (v->fail != VV_FAIL_UNSUPPORTED || !strstr(v->error.message, why) ||
	    !strstr(v->error.remedy, remedy))
		fail_msg("%s: fail %d: %s; remedy: %s", img, v->fail, v->error.message,
			 v->error.remedy);
	assert_non_null(strstr(v->error.message, "cannot be opened"));
	assert_null(strstr(v->error.remedy, "dm-crypt"));
	/* Refused before the key derivation: no key version was recorded. */
	assert_null(v->key_version);
	done(&plan, &disks);
}

static void test_bitlocker_refused_by_header(void **state)
{
	struct vv_open_plan plan;
	struct vv_disks disks;
	char conf[512], img[PATH_MAX];
	struct vv_vol *v;

	(void)state;
	if (!bitlocker_image())
		skip();
	/* The unchanged image opens with its password: the field changed is the cause. */
	snprintf(conf, sizeof(conf), bitlk_conf, dir);
	v = check_one(conf, base_img, &plan, &disks);
	if (v->fail)
		fail_msg("unchanged image: %s", v->error.message);
	assert_non_null(v->key_version);	/* what a derivation records */
	done(&plan, &disks);

	/* The superblock's type GUID (offset 160): encrypt-on-write. */
	crafted("eow", "import sys\n"
		"f = open(sys.argv[1], \"r+b\"); f.seek(160)\n"
		"f.write(bytes.fromhex(\"3b4da89280dd0e4d9e4eb1e3284eaed8\"))", img, sizeof(img));
	expect_refused(img, "type 'encrypt-on-write'", "manage-bde");

	/* The FVE metadata's current state (+12): a conversion not finished. */
	crafted("partial", "import sys, struct\n"
		"f = open(sys.argv[1], \"r+b\"); f.seek(176)\n"
		"o = struct.unpack(\"<Q\", f.read(8))[0]; f.seek(o + 12)\n"
		"f.write(struct.pack(\"<HH\", 2, 4))", img, sizeof(img));
	expect_refused(img, "conversion is not finished (state 2, next state 4", "manage-bde -resume");

	/* The password VMK's protection (0x2000) made a clear key (0x0000), in every copy. */
	crafted("clearkey", "import sys, struct\n"
		"f = open(sys.argv[1], \"r+b\"); f.seek(176)\n"
		"for o in struct.unpack(\"<3Q\", f.read(24)):\n"
		"    f.seek(o); b = f.read(65536); n = struct.unpack(\"<I\", b[64:68])[0]; i = 112\n"
		"    while i + 4 <= 64 + n:\n"
		"        size, typ = struct.unpack(\"<HH\", b[i:i + 4])\n"
		"        if size == 0: break\n"
		"        p = i + 34\n"
		"        if typ == 2 and b[p:p + 2] == b\"\\x00\\x20\":\n"
		"            f.seek(o + p); f.write(b\"\\0\\0\")\n"
		"        i += size", img, sizeof(img));
	expect_refused(img, "holds a clear key", "resume its protection");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_luks_reason_kept),
		cmocka_unit_test(test_bitlocker_refused_by_header),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
