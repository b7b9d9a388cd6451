// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * agent/open end to end on image files, without device-mapper (check-only
 * runs derive each volume key and stop): key resolution order (token >
 * config > ADE), one fetch per distinct key, per-volume error mapping
 * (wrong key, key disabled / not found, damaged header, missing disk,
 * duplicate UUID), and the Windows-made BitLocker volumes: .BEK startup key
 * from a keystore secret, recovery password, password, and the smart-card
 * volume refused with its protectors named. Images are hashed before and
 * after: nothing is written.
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
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent/config/config.h"
#include "agent/volume/discover.h"
#include "agent/open/open.h"
#include "agent/volume/luks2_token.h"
#include "agent/volume/crypt.h"
#include "base/secret.h"
#include "vault/vault.h"
#include "keysrc_helpers.h"
#include "luks_craft.h"

struct fx {
	char *dir, *store;
	char luks2[PATH_MAX], luks1[PATH_MAX], luks1b[PATH_MAX], broken[PATH_MAX];
	char u2[64], u1[64];
	struct vv_vault *vault;
};

static struct fx F;

static void make_luks(const char *img, const char *type, const char *keyfile, char *uuid)
{
	struct vv_crypt_info info;

	assert_int_equal(kt_sh("truncate -s %s '%s' && cryptsetup luksFormat -q --type %s "
			       "--pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file '%s' '%s' "
			       ">/dev/null 2>&1", !strcmp(type, "luks2") ? "20M" : "4M", img,
			       type, keyfile, img), 0);
	assert_int_equal(vv_crypt_probe(img, &info), 0);
	snprintf(uuid, 64, "%s", info.uuid);
}

/* Store key in the keystore as NAME (base64 once, like Key Vault). */
static void store_key(const char *name, const void *key, size_t len, const char *file_name)
{
	struct vv_secret *s = vv_secret_from(key, len);
	struct vv_error err;
	char *ref = NULL, ref_base[200];

	snprintf(ref_base, sizeof(ref_base), "keystore:%s", name);
	assert_non_null(s);
	assert_int_equal(vv_bek_store(F.vault, ref_base, s, NULL, NULL, file_name, &ref, NULL,
				      &err), 0);
	free(ref);
	vv_secret_free(s);
}

static int setup(void **state)
{
	struct vv_vault_config vc = { 0 };
	char kf[PATH_MAX];

	(void)state;
	F.dir = kt_mkdtemp("open-image");
	if (!F.dir || asprintf(&F.store, "%s/keys", F.dir) < 0)
		return -1;
	vc.keystore_dir = F.store;
	if (vv_vault_new(&vc, &F.vault) < 0)
		return -1;
	snprintf(F.luks2, sizeof(F.luks2), "%s/luks2.img", F.dir);
	snprintf(F.luks1, sizeof(F.luks1), "%s/luks1.img", F.dir);
	snprintf(F.luks1b, sizeof(F.luks1b), "%s/luks1-copy.img", F.dir);
	snprintf(F.broken, sizeof(F.broken), "%s/broken.img", F.dir);
	snprintf(kf, sizeof(kf), "%s/k", F.dir);
	if (kt_write(kf, "passphrase-one", 14, 0600) < 0)
		return -1;
	make_luks(F.luks2, "luks2", kf, F.u2);
	make_luks(F.luks1, "luks1", kf, F.u1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	vv_vault_free(F.vault);
	kt_sh("rm -rf '%s'", F.dir);
	free(F.store);
	free(F.dir);
	return 0;
}

static char *sha(const char *path)
{
	char *s = kt_capture("sha256sum '%s' | cut -d' ' -f1", path);

	assert_non_null(s);
	return s;
}

/* Plan from config text over the given images, run check-only. */
static int check_run(const char *conf, const char *const *imgs, size_t nimg,
		     struct vv_open_plan *plan, struct vv_open_ctx *ctx, struct vv_disks *disks)
{
	struct vv_config *cfg = NULL;
	struct vv_open_env env = { 0 };
	struct vv_error err = { 0 };
	int r;

	memset(disks, 0, sizeof(*disks));
	for (size_t i = 0; i < nimg; i++)
		assert_true(vv_discover_add(disks, imgs[i]) >= 0);
	if (vv_config_parse(conf, "test.conf", &cfg, &err) < 0)
		fail_msg("config: %s", err.message);
	env.cfg = cfg;
	env.disks = disks;
	assert_int_equal(vv_open_plan_build(&env, plan), 0);
	memset(ctx, 0, sizeof(*ctx));
	ctx->vault = F.vault;
	ctx->check_only = true;
	ctx->jobs = 4;
	r = vv_open_run(ctx, plan);
	vv_config_free(cfg);
	return r;
}

static void done(struct vv_open_plan *plan, struct vv_disks *disks)
{
	vv_open_plan_free(plan);
	vv_disks_free(disks);
}

static void test_luks_dedupe_and_errors(void **state)
{
	struct vv_open_plan plan;
	struct vv_open_ctx ctx;
	struct vv_disks disks;
	struct vv_vol *v;
	char conf[4096];
	const char *imgs[] = { F.luks2, F.luks1 };
	char *h2 = sha(F.luks2), *h1 = sha(F.luks1);

	(void)state;
	store_key("shared", "passphrase-one", 14, NULL);
	store_key("other", "not-the-passphrase", 18, NULL);
	store_key("gone", "passphrase-one", 14, NULL);
	/* Disable "gone": a revoked secret. */
	assert_int_equal(kt_sh("sed -i 's/\"enabled\": *true/\"enabled\": false/' %s/gone/*.json",
			       F.store), 0);
	snprintf(conf, sizeof(conf),
		 "[volume a]\nmatch = uuid:%s\nkey = keystore:shared\nmount = /a\n"
		 "[volume b]\nmatch = uuid:%s\nkey = keystore:shared\n"
		 "[volume wrong]\nmatch = uuid:%s\nkey = keystore:other\n"
		 "[volume revoked]\nmatch = uuid:%s\nkey = keystore:gone\n"
		 "[volume nosecret]\nmatch = uuid:%s\nkey = keystore:nothing-here\n"
		 "[volume missing]\nmatch = uuid:0a1b2c3d-0000-4000-8000-00000000dead\n"
		 "key = keystore:shared\n"
		 "[volume nokey]\nmatch = lun:7\n",
		 F.u2, F.u1, F.u1, F.u1, F.u1);
	/* Several volumes on one disk: a conflict for all but the first. */
	assert_int_equal(check_run(conf, imgs, 2, &plan, &ctx, &disks), 5);

	v = vv_open_plan_find(&plan, "a");
	assert_int_equal(v->fail, VV_FAIL_NONE);
	assert_int_equal(v->state, VV_VS_CLOSED);
	assert_int_equal(v->type, VV_VOL_LUKS2);
	assert_string_equal(v->key_source, "keystore");
	assert_non_null(strstr(v->key_version, "keystore:shared/"));
	v = vv_open_plan_find(&plan, "b");
	assert_int_equal(v->fail, VV_FAIL_NONE);
	assert_int_equal(v->type, VV_VOL_LUKS1);
	/* "a" and "b" share keystore:shared: fetched once. */
	assert_int_equal(ctx.stats.fetches, 1);
	assert_int_equal(ctx.stats.key_waits, 1);

	v = vv_open_plan_find(&plan, "wrong");
	assert_int_equal(v->fail, VV_FAIL_CONFLICT);	/* same disk as b */
	assert_non_null(strstr(v->error.message, "volume b"));
	v = vv_open_plan_find(&plan, "missing");
	assert_int_equal(v->fail, VV_FAIL_MISSING);
	assert_true(v->transient);
	assert_non_null(strstr(v->error.message, "00000000dead"));
	v = vv_open_plan_find(&plan, "nokey");
	assert_int_equal(v->fail, VV_FAIL_MISSING);
	done(&plan, &disks);

	/* One volume per disk now, to see each key failure on its own. */
	snprintf(conf, sizeof(conf),
		 "[volume wrong]\nmatch = uuid:%s\nkey = keystore:other\n"
		 "[volume revoked]\nmatch = uuid:%s\nkey = keystore:gone\n", F.u2, F.u1);
	assert_int_equal(check_run(conf, imgs, 2, &plan, &ctx, &disks), 2);
	v = vv_open_plan_find(&plan, "wrong");
	assert_int_equal(v->fail, VV_FAIL_WRONG_KEY);
	assert_non_null(strstr(v->error.message, "wrong key"));
	assert_non_null(strstr(v->error.message, F.luks2));
	v = vv_open_plan_find(&plan, "revoked");
	assert_int_equal(v->fail, VV_FAIL_KEY_ACCESS);
	assert_int_equal(v->error.cause, VV_CAUSE_DISABLED);
	assert_false(v->transient);
	assert_non_null(strstr(v->error.remedy, "disabled"));
	done(&plan, &disks);

	snprintf(conf, sizeof(conf),
		 "[volume nosecret]\nmatch = uuid:%s\nkey = keystore:nothing-here\n", F.u1);
	assert_int_equal(check_run(conf, imgs, 2, &plan, &ctx, &disks), 1);
	v = vv_open_plan_find(&plan, "nosecret");
	assert_int_equal(v->fail, VV_FAIL_KEY_ACCESS);
	assert_int_equal(v->error.cause, VV_CAUSE_NOT_FOUND);
	done(&plan, &disks);

	/* Checking keys wrote nothing. */
	{
		char *a2 = sha(F.luks2), *a1 = sha(F.luks1);

		assert_string_equal(a2, h2);
		assert_string_equal(a1, h1);
		free(a2);
		free(a1);
	}
	free(h2);
	free(h1);
}

static void test_header_and_ambiguous(void **state)
{
	struct vv_open_plan plan;
	struct vv_open_ctx ctx;
	struct vv_disks disks;
	struct vv_vol *v;
	char conf[2048];
	const char *imgs[] = { F.luks1, F.luks1b, F.broken };
	struct vv_crypt_info info;
	char bu[64];

	(void)state;
	/* A clone of luks1 and a LUKS2 copy whose metadata is cut away. */
	assert_int_equal(kt_sh("cp '%s' '%s' && cp '%s' '%s' && dd if=/dev/zero of='%s' bs=4096 "
			       "seek=1 count=4000 conv=notrunc status=none", F.luks1, F.luks1b,
			       F.luks2, F.broken, F.broken), 0);
	/* libcryptsetup no longer loads it; its binary header still names the UUID. */
	assert_int_equal(vv_crypt_probe(F.broken, &info), -EINVAL);
	snprintf(bu, sizeof(bu), "%s", F.u2);
	store_key("shared", "passphrase-one", 14, NULL);
	snprintf(conf, sizeof(conf),
		 "[volume dup]\nmatch = uuid:%s\nkey = keystore:shared\n"
		 "[volume damaged]\nmatch = uuid:%s\nkey = keystore:shared\n", F.u1, bu);
	assert_int_equal(check_run(conf, imgs, 3, &plan, &ctx, &disks), 2);
	v = vv_open_plan_find(&plan, "dup");
	assert_int_equal(v->fail, VV_FAIL_AMBIGUOUS);
	/* Both disks are named. */
	assert_non_null(strstr(v->error.message, F.luks1));
	assert_non_null(strstr(v->error.message, F.luks1b));
	v = vv_open_plan_find(&plan, "damaged");
	assert_int_equal(v->fail, VV_FAIL_HEADER);
	assert_non_null(strstr(v->error.message, "damaged"));
	assert_non_null(strstr(v->error.remedy, "luksHeaderRestore"));
	/* Neither needed a key. */
	assert_int_equal(ctx.stats.fetches, 0);
	done(&plan, &disks);
	unlink(F.luks1b);
	unlink(F.broken);
}

static void test_token_first(void **state)
{
	struct vv_token t = { .token_id = -1, .keyslot = 0, .key = "keystore:tokkey",
			      .name = "tokvol", .mount = "/tok", .fs = "ext4" };
	struct vv_open_plan plan;
	struct vv_open_ctx ctx;
	struct vv_disks disks;
	struct vv_vol *v;
	char conf[2048], tokimg[PATH_MAX];
	const char *imgs[] = { tokimg, F.luks1 };

	(void)state;
	snprintf(tokimg, sizeof(tokimg), "%s/tok.img", F.dir);
	assert_int_equal(kt_sh("cp '%s' '%s'", F.luks2, tokimg), 0);
	assert_int_equal(vv_token_write(tokimg, &t), 0);
	store_key("tokkey", "passphrase-one", 14, NULL);
	store_key("other", "not-the-passphrase", 18, NULL);

	/* A disk that only its token describes is a volume named by the token. */
	assert_int_equal(check_run("", imgs, 2, &plan, &ctx, &disks), 0);
	/* the LUKS1 disk nobody describes is listed, not opened, no failure */
	assert_int_equal(plan.n, 2);
	assert_int_equal(ctx.stats.undescribed, 1);
	v = &plan.v[1];
	assert_true(v->undescribed);
	assert_int_equal(v->state, VV_VS_UNDESCRIBED);
	assert_int_equal(v->type, VV_VOL_LUKS1);
	assert_string_equal(v->uuid, F.u1);
	v = vv_open_plan_find(&plan, "tokvol");
	assert_non_null(v);
	assert_int_equal(v->key_origin, VV_ORIGIN_TOKEN);
	assert_string_equal(v->conf.mount, "/tok");
	assert_int_equal(v->fail, VV_FAIL_NONE);
	assert_non_null(strstr(v->key_version, "keystore:tokkey/"));
	done(&plan, &disks);

	/*
	 * The config names it too, with a wrong key and its own mount point:
	 * the token's key is used, the config's name and mount point stay.
	 */
	snprintf(conf, sizeof(conf), "[volume cfgname]\nmatch = uuid:%s\nkey = keystore:other\n"
		 "mount = /cfg\n", F.u2);
	assert_int_equal(check_run(conf, imgs, 2, &plan, &ctx, &disks), 0);
	assert_int_equal(plan.n, 2);
	v = vv_open_plan_find(&plan, "cfgname");
	assert_non_null(v);
	assert_int_equal(v->key_origin, VV_ORIGIN_TOKEN);
	assert_string_equal(v->conf.key, "keystore:tokkey");
	assert_string_equal(v->conf.mount, "/cfg");
	assert_int_equal(v->fail, VV_FAIL_NONE);
	done(&plan, &disks);
	unlink(tokimg);
}

/* A copy of the LUKS2 image with its own UUID and the given token. */
static void token_disk(char *img, size_t len, const char *file, int n, const struct vv_token *t)
{
	snprintf(img, len, "%s/%s", F.dir, file);
	assert_int_equal(kt_sh("cp '%s' '%s' && cryptsetup luksUUID -q --uuid "
			       "0a1b2c3d-0000-4000-8000-0000000000%02d '%s'", F.luks2, img, n, img), 0);
	assert_int_equal(vv_token_write(img, t), 0);
}

/*
 * A header is not authenticated: what a token asks to mount is held to
 * what a disk may ask for. Refused volumes are named with the cause and
 * the fix, after their key reference has been checked (a bad one is
 * reported first), and leave the other volumes alone.
 */
static void test_token_mount_refused(void **state)
{
	struct vv_token evil = { .token_id = -1, .keyslot = 0, .key = "keystore:tokkey",
				 .name = "evil", .mount = "/etc", .options = "suid,dev,exec" };
	struct vv_token nokey = { .token_id = -1, .keyslot = 0, .key = "keystore:nosuchkey",
				  .name = "nokey", .mount = "/etc" };
	struct vv_token good = { .token_id = -1, .keyslot = 0, .key = "keystore:tokkey",
				 .name = "good", .mount = "/data/good", .fs = "ext4",
				 .options = "noatime" };
	struct vv_token badfs = { .token_id = -1, .keyslot = 0, .key = "keystore:tokkey",
				  .name = "badfs", .mount = "/data/fs", .fs = "squashfs" };
	struct vv_token ex = { .token_id = -1, .keyslot = 0, .key = "keystore:tokkey",
			       .name = "execvol", .mount = "/data/x", .options = "exec" };
	struct vv_token var = { .token_id = -1, .keyslot = 0, .key = "keystore:tokkey",
				.name = "varvol", .mount = "/var/lib/vaultvol" };
	char i1[PATH_MAX], i2[PATH_MAX], i3[PATH_MAX], i4[PATH_MAX], i5[PATH_MAX], i6[PATH_MAX];
	const char *imgs[] = { i1, i2, i3, i4, i5, i6 };
	struct vv_open_plan plan;
	struct vv_open_ctx ctx;
	struct vv_disks disks;
	struct vv_vol *v;

	(void)state;
	token_disk(i1, sizeof(i1), "evil.img", 1, &evil);
	token_disk(i2, sizeof(i2), "good.img", 2, &good);
	token_disk(i3, sizeof(i3), "badfs.img", 3, &badfs);
	token_disk(i4, sizeof(i4), "exec.img", 4, &ex);
	token_disk(i5, sizeof(i5), "var.img", 5, &var);
	token_disk(i6, sizeof(i6), "nokey.img", 6, &nokey);
	store_key("tokkey", "passphrase-one", 14, NULL);

	assert_int_equal(check_run("", imgs, 6, &plan, &ctx, &disks), 5);
	assert_int_equal(plan.n, 6);
	v = vv_open_plan_find(&plan, "evil");
	assert_int_equal(v->fail, VV_FAIL_REFUSED);
	assert_string_equal(vv_fail_str(v->fail), "refused");
	assert_non_null(strstr(v->error.message, "volume evil on /etc"));
	assert_non_null(strstr(v->error.message, "/etc is a system directory"));
	assert_non_null(strstr(v->error.message, i1));
	assert_non_null(strstr(v->error.remedy, "vaultvol adopt --force --mount"));
	assert_non_null(strstr(v->error.remedy, "vaultvol.conf"));
	assert_int_equal(v->state, VV_VS_FAILED);
	/* A key reference that fails is what is reported first. */
	v = vv_open_plan_find(&plan, "nokey");
	assert_int_equal(v->fail, VV_FAIL_KEY_ACCESS);
	assert_int_equal(v->error.cause, VV_CAUSE_NOT_FOUND);
	assert_non_null(strstr(v->refusal, "/etc is a system directory"));
	v = vv_open_plan_find(&plan, "badfs");
	assert_int_equal(v->fail, VV_FAIL_REFUSED);
	assert_non_null(strstr(v->error.message, "'squashfs' is not ext4"));
	v = vv_open_plan_find(&plan, "execvol");
	assert_int_equal(v->fail, VV_FAIL_REFUSED);
	assert_non_null(strstr(v->error.message, "token_options_allowed = exec"));
	v = vv_open_plan_find(&plan, "varvol");
	assert_int_equal(v->fail, VV_FAIL_REFUSED);
	assert_non_null(strstr(v->error.message, "under /var"));
	/* The legitimate volume is untouched by its neighbours' refusals. */
	v = vv_open_plan_find(&plan, "good");
	assert_int_equal(v->fail, VV_FAIL_NONE);
	assert_true(v->mount_from_token);
	assert_non_null(strstr(v->key_version, "keystore:tokkey/"));
	assert_int_equal(ctx.stats.fetches, 2);	/* tokkey once, nosuchkey */
	done(&plan, &disks);

	/* Root's consent: exec allowed; suid and dev still refused. */
	assert_int_equal(check_run("[open]\ntoken_options_allowed = exec\n", imgs, 6, &plan, &ctx,
				   &disks), 4);
	assert_int_equal(vv_open_plan_find(&plan, "execvol")->fail, VV_FAIL_NONE);
	v = vv_open_plan_find(&plan, "evil");
	assert_int_equal(v->fail, VV_FAIL_REFUSED);
	done(&plan, &disks);

	/*
	 * A config section without a mount point takes the token's: held to
	 * the same rules. With its own mount point, the token's is ignored.
	 */
#define CFGEVIL "[volume cfgevil]\nmatch = uuid:0a1b2c3d-0000-4000-8000-000000000001\n" \
		"key = keystore:tokkey\n"
	assert_int_equal(check_run(CFGEVIL, imgs, 1, &plan, &ctx, &disks), 1);
	v = vv_open_plan_find(&plan, "cfgevil");
	assert_int_equal(v->fail, VV_FAIL_REFUSED);
	assert_non_null(strstr(v->error.message, "/etc"));
	done(&plan, &disks);
	assert_int_equal(check_run(CFGEVIL "mount = /data/cfg\n", imgs, 1, &plan, &ctx, &disks), 0);
#undef CFGEVIL
	v = vv_open_plan_find(&plan, "cfgevil");
	assert_int_equal(v->fail, VV_FAIL_NONE);
	assert_false(v->mount_from_token);
	assert_string_equal(v->conf.mount, "/data/cfg");
	assert_null(v->conf.options);
	done(&plan, &disks);
	for (size_t i = 0; i < 6; i++)
		unlink(imgs[i]);
}

/*
 * A token may not name a local file as a key (or KEK): the disk would choose
 * which file root reads. Nothing is read and the neighbour opens (`file:`
 * in the config file, which is trusted, is tested with the key sources).
 */
static void test_token_file_key_refused(void **state)
{
	struct vv_token tf = { .token_id = -1, .keyslot = 0, .key = "file:/etc/hostname",
			       .name = "filekey" };
	struct vv_token tk = { .token_id = -1, .keyslot = 0, .key = "keystore:tokkey",
			       .name = "filekek", .kek = "file:/root/kek.pem" };
	struct vv_token good = { .token_id = -1, .keyslot = 0, .key = "keystore:tokkey",
				 .name = "good" };
	char i1[PATH_MAX], i2[PATH_MAX], i3[PATH_MAX];
	const char *imgs[] = { i1, i2, i3 };
	struct vv_open_plan plan;
	struct vv_open_ctx ctx;
	struct vv_disks disks;
	struct vv_vol *v;

	(void)state;
	token_disk(i1, sizeof(i1), "filekey.img", 1, &tf);
	token_disk(i2, sizeof(i2), "filekek.img", 2, &tk);
	token_disk(i3, sizeof(i3), "good.img", 3, &good);
	store_key("tokkey", "passphrase-one", 14, NULL);
	assert_int_equal(check_run("", imgs, 3, &plan, &ctx, &disks), 2);
	v = vv_open_plan_find(&plan, "filekey");
	assert_int_equal(v->fail, VV_FAIL_REFUSED);
	assert_non_null(strstr(v->error.message, "names the local file 'file:/etc/hostname'"));
	assert_non_null(strstr(v->error.remedy, "[volume]"));
	v = vv_open_plan_find(&plan, "filekek");
	assert_int_equal(v->fail, VV_FAIL_REFUSED);
	assert_non_null(strstr(v->error.message, "file:/root/kek.pem"));
	assert_int_equal(vv_open_plan_find(&plan, "good")->fail, VV_FAIL_NONE);
	assert_int_equal(ctx.stats.fetches, 1);	/* only the good one's key */
	done(&plan, &disks);

	for (size_t i = 0; i < 3; i++)
		unlink(imgs[i]);
}

/*
 * A header whose UUID is not a UUID ("../../tmp/x") is a damaged header:
 * its UUID names nothing (no volume luks-<uuid>, no match, no file).
 */
static void test_hostile_uuid(void **state)
{
	struct vv_open_plan plan;
	struct vv_open_ctx ctx;
	struct vv_disks disks;
	char img[PATH_MAX];
	const char *imgs[] = { img };

	(void)state;
	snprintf(img, sizeof(img), "%s/hostile-uuid.img", F.dir);
	assert_int_equal(kt_luks1_with_uuid(img, "passphrase-one", "../../tmp/x"), 0);
	assert_int_equal(check_run("", imgs, 1, &plan, &ctx, &disks), 0);
	assert_int_equal(disks.n, 1);
	assert_string_equal(disks.dev[0].uuid, "");
	assert_int_equal(disks.dev[0].probe_rc, -EINVAL);
	assert_int_equal(disks.dev[0].type, VV_VOL_UNKNOWN);
	assert_int_equal(plan.n, 0);
	done(&plan, &disks);
	unlink(img);
}

/* A secret past its exp still opens the volume, with a warning. */
static void test_expired_warns(void **state)
{
	struct vv_open_plan plan;
	struct vv_open_ctx ctx;
	struct vv_disks disks;
	char conf[1024];
	const char *imgs[] = { F.luks2 };

	(void)state;
	store_key("old", "passphrase-one", 14, NULL);
	assert_int_equal(kt_sh("python3 -c 'import json,glob,sys\n"
			       "for p in glob.glob(sys.argv[1] + \"/old/*.json\"):\n"
			       "    d = json.load(open(p)); d[\"attributes\"][\"exp\"] = 1000\n"
			       "    json.dump(d, open(p, \"w\"))' '%s'", F.store), 0);
	snprintf(conf, sizeof(conf), "[volume e]\nmatch = uuid:%s\nkey = keystore:old\n", F.u2);
	assert_int_equal(check_run(conf, imgs, 1, &plan, &ctx, &disks), 0);
	assert_int_equal(plan.v[0].fail, VV_FAIL_NONE);
	assert_non_null(strstr(plan.v[0].warning, "expired"));
	assert_non_null(strstr(plan.v[0].warning, "renew"));
	done(&plan, &disks);
}

/* volumes.json: 0600, atomic, no key, carried-over entries, read back. */
static void test_state_file(void **state)
{
	struct vv_open_plan plan;
	struct vv_open_ctx ctx;
	struct vv_disks disks;
	struct vv_prev *prev = NULL;
	size_t nprev = 0;
	struct stat st;
	struct vv_error err = { 0 };
	char conf[1024], sdir[PATH_MAX], path[PATH_MAX + 32], *text;
	const char *imgs[] = { F.luks2, F.luks1 };

	(void)state;
	store_key("shared", "passphrase-one", 14, NULL);
	snprintf(sdir, sizeof(sdir), "%s/state", F.dir);
	snprintf(path, sizeof(path), "%s/volumes.json", sdir);
	snprintf(conf, sizeof(conf), "[volume s2]\nmatch = uuid:%s\nkey = keystore:shared\n"
		 "[volume s1]\nmatch = uuid:%s\nkey = keystore:shared\n", F.u2, F.u1);
	assert_int_equal(check_run(conf, imgs, 2, &plan, &ctx, &disks), 0);
	assert_int_equal(vv_open_state_write(sdir, &plan, &err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	text = kt_read(path, NULL);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"key_version\""));
	assert_non_null(strstr(text, "keystore:shared/"));	/* slashes not escaped */
	assert_null(strstr(text, "passphrase-one"));
	free(text);
	/* A run over s1 only keeps what the file said about s2. */
	plan.v[0].selected = false;
	snprintf(plan.v[1].warning, sizeof(plan.v[1].warning), "second run");
	assert_int_equal(vv_open_state_write(sdir, &plan, &err), 0);
	done(&plan, &disks);
	assert_int_equal(vv_open_state_read(sdir, &prev, &nprev, &err), 0);
	assert_int_equal(nprev, 2);
	for (size_t i = 0; i < nprev; i++)
		assert_string_equal(prev[i].uuid, !strcmp(prev[i].name, "s1") ? F.u1 : F.u2);
	vv_prev_free(prev, nprev);
	text = kt_read(path, NULL);
	assert_non_null(strstr(text, "second run"));
	free(text);
	/* No temporary file left behind. */
	assert_int_equal(kt_sh("test $(ls -A '%s' | wc -l) -eq 1", sdir), 0);
}

/* An ADE volume with a detached LUKS header (older ADE): the data disk has no header. */
static void test_detached_header(void **state)
{
	struct vv_volume_conf ade = { .name = "det", .key = "keystore:shared",
				      .origin = VV_ORIGIN_ADE };
	struct vv_open_env env = { 0 };
	struct vv_open_plan plan;
	struct vv_open_ctx ctx = { 0 };
	struct vv_disks disks = { 0 };
	char data[PATH_MAX], hdr[PATH_MAX], kf[PATH_MAX];

	(void)state;
	snprintf(data, sizeof(data), "%s/det-data.img", F.dir);
	snprintf(hdr, sizeof(hdr), "%s/det-header.img", F.dir);
	snprintf(kf, sizeof(kf), "%s/k", F.dir);
	assert_int_equal(kt_sh("truncate -s 8M '%s' && truncate -s 16M '%s' && cryptsetup "
			       "luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 "
			       "--header '%s' --key-file '%s' '%s' >/dev/null 2>&1", data, hdr, hdr,
			       kf, data), 0);
	store_key("shared", "passphrase-one", 14, NULL);
	ade.match.kind = VV_MATCH_PATH;
	ade.match.value = data;
	ade.header = hdr;
	assert_int_equal(vv_discover_add(&disks, data), 0);	/* nothing to see on the data disk */
	env.ade = &ade;
	env.nade = 1;
	env.disks = &disks;
	assert_int_equal(vv_open_plan_build(&env, &plan), 0);
	ctx.vault = F.vault;
	ctx.check_only = true;
	assert_int_equal(vv_open_run(&ctx, &plan), 0);
	assert_int_equal(plan.v[0].type, VV_VOL_LUKS2);
	assert_string_equal(plan.v[0].conf.header, hdr);
	done(&plan, &disks);
	/* Without the header it is just an empty disk. */
	ade.header = NULL;
	assert_int_equal(vv_discover_add(&disks, data), 0);
	assert_int_equal(vv_open_plan_build(&env, &plan), 0);
	assert_int_equal(plan.v[0].fail, VV_FAIL_HEADER);
	done(&plan, &disks);
	unlink(data);
	unlink(hdr);
}

/* ---- BitLocker images made by Windows ------------------------------------ */

static char bl_dir[2048];

/* Extract the images once into the build tree (they are only read). */
static bool bitlocker_images(void)
{
	const char *shared = getenv("VV_SHARED");
	const char *src = getenv("VV_SRCDIR");
	char tar[PATH_MAX];

	snprintf(tar, sizeof(tar), "%s/testdata/bitlocker/windows-images.tar.xz",
		 shared ? shared : "../shared");
	if (access(tar, R_OK) != 0)
		return false;
	snprintf(bl_dir, sizeof(bl_dir), "%.1900s/build/testdata/bitlocker", src ? src : ".");
	return kt_sh("test -f '%s/bitlk-aes-xts-128-smart-card.img' || "
		     "(mkdir -p '%s' && tar -C '%s' -xJf '%s')", bl_dir, bl_dir, bl_dir, tar) == 0;
}

static void test_bitlocker(void **state)
{
	struct vv_open_plan plan;
	struct vv_open_ctx ctx;
	struct vv_disks disks;
	struct vv_vol *v;
	char sk[PATH_MAX], sc[PATH_MAX], pw[PATH_MAX], bek[PATH_MAX], rpf[PATH_MAX], pwf[PATH_MAX];
	char conf[8192], *bekdata, *before;
	size_t beklen = 0;

	(void)state;
	if (!bitlocker_images())
		skip();
	snprintf(sk, sizeof(sk), "%s/bitlk-aes-xts-128-startup-key.img", bl_dir);
	snprintf(sc, sizeof(sc), "%s/bitlk-aes-xts-128-smart-card.img", bl_dir);
	snprintf(pw, sizeof(pw), "%s/bitlk-aes-cbc-128.img", bl_dir);
	snprintf(bek, sizeof(bek), "%s/4381F759-C4F8-4DE0-BB61-FC33A831BDA5.BEK", bl_dir);
	bekdata = kt_read(bek, &beklen);
	assert_non_null(bekdata);
	assert_int_equal(beklen, 156);
	/* ADE stores a Windows BEK as the .BEK file bytes, base64, tagged with its name. */
	store_key("winbek", bekdata, beklen, "4381F759-C4F8-4DE0-BB61-FC33A831BDA5.BEK");
	free(bekdata);
	snprintf(rpf, sizeof(rpf), "%s/rp", F.dir);
	snprintf(pwf, sizeof(pwf), "%s/pw", F.dir);
	assert_int_equal(kt_write(rpf, "363770-230505-096371-652674-567006-579150-291038-408111",
				  55, 0600), 0);
	assert_int_equal(kt_write(pwf, "anaconda", 8, 0600), 0);
	before = sha(sc);

	{
		const char *imgs[] = { sk, sc, pw };

		snprintf(conf, sizeof(conf),
			 "[volume win-sk]\nmatch = bitlocker:{5A95DB04-6EBC-4BA9-99A3-15A87A3D07B2}\n"
			 "key = keystore:winbek\nmount = /win\n"
			 "[volume win-sc]\nmatch = bitlocker:e7d812df-c38b-4149-95fe-85134d2e02f7\n"
			 "key = keystore:winbek\n"
			 "[volume win-pw]\nmatch = bitlocker:e9726fab-7656-4bc5-bb9e-adf115953328\n"
			 "key = file:%s\n", pwf);
		assert_int_equal(check_run(conf, imgs, 3, &plan, &ctx, &disks), 1);
	}
	v = vv_open_plan_find(&plan, "win-sk");
	assert_int_equal(v->fail, VV_FAIL_NONE);
	assert_int_equal(v->type, VV_VOL_BITLK);
	assert_string_equal(v->key_source, "keystore");
	v = vv_open_plan_find(&plan, "win-pw");
	assert_int_equal(v->fail, VV_FAIL_NONE);
	assert_string_equal(v->key_source, "file");
	/* The smart-card volume: refused, and the message says why. */
	v = vv_open_plan_find(&plan, "win-sc");
	assert_int_equal(v->fail, VV_FAIL_UNSUPPORTED);
	assert_non_null(strstr(v->error.message, "smart card"));
	assert_non_null(strstr(v->error.message, "startup key"));
	assert_non_null(strstr(v->error.remedy, "recovery password"));
	/* One fetch of winbek for two volumes. */
	assert_int_equal(ctx.stats.fetches, 2);
	done(&plan, &disks);

	/* The startup-key volume by its recovery password, read from a key file. */
	{
		const char *imgs[] = { sk };

		snprintf(conf, sizeof(conf),
			 "[volume win-rp]\nmatch = bitlocker:5a95db04-6ebc-4ba9-99a3-15a87a3d07b2\n"
			 "key = file:%s\n", rpf);
		assert_int_equal(check_run(conf, imgs, 1, &plan, &ctx, &disks), 0);
		done(&plan, &disks);
	}
	{
		char *after = sha(sc);

		assert_string_equal(before, after);
		free(after);
	}
	free(before);
}

static void test_protector_names(void **state)
{
	struct vv_unlock *u = NULL;
	struct vv_crypt_info info;
	char path[PATH_MAX], prot[256];

	(void)state;
	if (!bitlocker_images())
		skip();
	snprintf(path, sizeof(path), "%s/bitlk-aes-xts-128-smart-card.img", bl_dir);
	assert_int_equal(vv_unlock_load(path, NULL, &u, &info), 0);
	assert_int_equal(info.type, VV_VOL_BITLK);
	assert_string_equal(info.uuid, "e7d812df-c38b-4149-95fe-85134d2e02f7");
	assert_int_equal(vv_unlock_protectors(u, prot, sizeof(prot)), 0);
	assert_string_equal(prot, "smart card, recovery passphrase");
	vv_unlock_free(u);
	assert_int_equal(vv_unlock_load(F.luks2, NULL, &u, &info), 0);
	assert_int_equal(vv_unlock_protectors(u, prot, sizeof(prot)), -ENOTSUP);
	vv_unlock_free(u);
}

/* argon2 memory per keyslot (parallel opens budget it), and slot choice. */
static void test_kdf_memory_and_slot(void **state)
{
	struct vv_unlock *u = NULL;
	struct vv_secret *k = vv_secret_from("passphrase-one", 14), *vk = NULL;
	char img[PATH_MAX], kf[PATH_MAX], k2[PATH_MAX];

	(void)state;
	snprintf(img, sizeof(img), "%s/argon.img", F.dir);
	snprintf(kf, sizeof(kf), "%s/k", F.dir);
	snprintf(k2, sizeof(k2), "%s/k2", F.dir);
	assert_int_equal(kt_write(k2, "second-passphrase", 17, 0600), 0);
	assert_int_equal(kt_sh("cp '%s' '%s' && cryptsetup luksAddKey -q --key-file '%s' "
			       "--pbkdf argon2id --pbkdf-memory 32768 --pbkdf-force-iterations 4 "
			       "--pbkdf-parallel 1 '%s' '%s' >/dev/null 2>&1", F.luks2, img, kf, img,
			       k2), 0);
	assert_int_equal(vv_unlock_load(img, NULL, &u, NULL), 0);
	assert_int_equal(vv_unlock_kdf_memory_kb(u, 0), 0);		/* PBKDF2 */
	assert_int_equal(vv_unlock_kdf_memory_kb(u, 1), 32768);
	assert_int_equal(vv_unlock_kdf_memory_kb(u, -1), 32768);	/* the most of any slot */
	/* The BEK opens slot 0 and not slot 1 when a token names slot 1. */
	assert_int_equal(vv_unlock_volume_key(u, 0, k, &vk), 0);
	vv_secret_free(vk);
	assert_int_equal(vv_unlock_volume_key(u, 1, k, &vk), -EPERM);
	assert_int_equal(vv_unlock_volume_key(u, -1, k, &vk), 0);
	assert_int_equal(vk->len, 64);		/* aes-xts-plain64, 512-bit key */
	vv_secret_free(vk);
	vv_secret_free(k);
	vv_unlock_free(u);
	unlink(img);
}

/*
 * A LUKS2 volume in the middle of ADE's online encryption: the key is
 * checked by passphrase (what activation will use), and the progress is
 * known. Without the reencryption path this is "no usable header".
 */
static void test_online_encryption(void **state)
{
	struct vv_open_plan plan;
	struct vv_open_ctx ctx;
	struct vv_disks disks;
	struct vv_vol *v;
	char img[PATH_MAX], conf[1024];
	const char *imgs[] = { img };
	char *uuid;

	(void)state;
	snprintf(img, sizeof(img), "%s/online.img", F.dir);
	assert_int_equal(kt_sh("truncate -s 40M '%s' && printf passphrase-one | cryptsetup reencrypt "
			       "--encrypt --init-only --reduce-device-size 32768S --type luks2 "
			       "--pbkdf pbkdf2 --pbkdf-force-iterations 1000 -q --key-file - '%s'",
			       img, img), 0);
	uuid = kt_capture("cryptsetup luksUUID '%s'", img);
	assert_non_null(uuid);
	store_key("online", "passphrase-one", 14, NULL);
	snprintf(conf, sizeof(conf), "[volume online]\nmatch = uuid:%s\nkey = keystore:online\n",
		 uuid);
	assert_int_equal(check_run(conf, imgs, 1, &plan, &ctx, &disks), 0);
	v = vv_open_plan_find(&plan, "online");
	assert_int_equal(v->fail, VV_FAIL_NONE);
	assert_int_equal(v->reencrypt_pct, 0);
	done(&plan, &disks);
	free(uuid);
	unlink(img);
}

/* A missing BEK VOLUME is a disk matter: no vault remedy, no retrying. */
static void test_bek_volume_missing(void **state)
{
	struct vv_open_plan plan;
	struct vv_open_ctx ctx;
	struct vv_disks disks;
	struct vv_vol *v;
	char conf[1024];
	const char *imgs[] = { F.luks2 };

	(void)state;
	snprintf(conf, sizeof(conf), "[volume adevol]\nmatch = uuid:%s\n"
		 "key = bek:VV-TEST-NO-SUCH-FILE\n", F.u2);
	assert_int_equal(check_run(conf, imgs, 1, &plan, &ctx, &disks), 1);
	v = vv_open_plan_find(&plan, "adevol");
	assert_int_equal(v->fail, VV_FAIL_KEY_ACCESS);
	assert_false(v->transient);
	assert_non_null(strstr(v->error.remedy, "BEK VOLUME"));
	assert_null(strstr(v->error.remedy, "the vault"));
	assert_null(strstr(v->error.remedy, "soft-delete"));
	assert_null(strstr(v->error.remedy, "network"));
	done(&plan, &disks);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_luks_dedupe_and_errors),
		cmocka_unit_test(test_header_and_ambiguous),
		cmocka_unit_test(test_token_first),
		cmocka_unit_test(test_token_mount_refused),
		cmocka_unit_test(test_token_file_key_refused),
		cmocka_unit_test(test_hostile_uuid),
		cmocka_unit_test(test_detached_header),
		cmocka_unit_test(test_state_file),
		cmocka_unit_test(test_expired_warns),
		cmocka_unit_test(test_bitlocker),
		cmocka_unit_test(test_protector_names),
		cmocka_unit_test(test_kdf_memory_and_slot),
		cmocka_unit_test(test_online_encryption),
		cmocka_unit_test(test_bek_volume_missing),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
