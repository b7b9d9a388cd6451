// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * agent/open_plan on a restored ADE VM (pure planning, no I/O): exchanged
 * LUNs decided by the recorded UUID, the resource disk's two markings,
 * undescribed disks; and the LUKS2 reencryption progress parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agent/open/open.h"
#include "agent/volume/crypt.h"

#define U1 "0a1b2c3d-0000-4000-8000-000000000001"
#define U2 "0a1b2c3d-0000-4000-8000-000000000002"
#define U3 "0a1b2c3d-0000-4000-8000-000000000003"
#define G1 "5a95db04-6ebc-4ba9-99a3-15a87a3d07b2"

static char *rd_links[] = { "/dev/disk/azure/resource-part1" };
static char *other_links[] = { "/dev/disk/by-id/scsi-other-part1" };
static char *fake_links[] = { "/dev/disk/azure/resource-part1x" };

/* LUN 0 and 1 exchanged: lun0 holds what data2 opened, lun1 data1's. */
static struct vv_blockdev devs[] = {
	{ .path = "/dev/sdb", .type = VV_VOL_LUKS2, .blkid_type = "crypto_LUKS", .uuid = U2,
	  .lun = 0, .token_rc = -ENOENT },
	{ .path = "/dev/sdc", .type = VV_VOL_LUKS2, .blkid_type = "crypto_LUKS", .uuid = U1,
	  .lun = 1, .token_rc = -ENOENT },
	{ .path = "/dev/sda1", .blkid_type = "ext4", .lun = -1, .token_rc = -ENOENT,
	  .links = rd_links, .nlinks = 1 },
	{ .path = "/dev/sdd", .type = VV_VOL_LUKS2, .blkid_type = "crypto_LUKS", .uuid = U3,
	  .lun = 4, .token_rc = -ENOENT },
	{ .path = "/dev/sde1", .blkid_type = "ext4", .lun = -1, .token_rc = -ENOENT,
	  .links = other_links, .nlinks = 1 },
	{ .path = "/dev/sdf1", .blkid_type = "ext4", .lun = -1, .token_rc = -ENOENT,
	  .links = fake_links, .nlinks = 1 },
	/* BitLocker metadata libcryptsetup refuses (e.g. an unsupported version) */
	{ .path = "/dev/sdg1", .blkid_type = "BitLocker", .probe_rc = -EINVAL, .uuid = G1,
	  .lun = 6, .part = 1, .token_rc = -ENOENT },
};
static const struct vv_disks disks = { .dev = devs, .n = sizeof(devs) / sizeof(devs[0]) };

static void ade(struct vv_volume_conf *v, const char *name, const char *match, bool resource)
{
	char why[128];

	memset(v, 0, sizeof(*v));
	v->name = strdup(name);
	v->key = strdup(resource ? "bek:LinuxPassPhraseFileName" : "bek:LinuxPassPhraseFileName_1_0");
	v->origin = VV_ORIGIN_ADE;
	v->ade_resource = resource;
	assert_int_equal(vv_match_parse(match, &v->match, why, sizeof(why)), 0);
}

static void clear(struct vv_volume_conf *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		vv_volume_conf_clear(&v[i]);
}

static struct vv_vol *plan_of(struct vv_open_plan *plan, const struct vv_volume_conf *vols,
			      size_t n, const struct vv_prev *prev, size_t nprev, const struct vv_config *cfg)
{
	struct vv_open_env env = { .cfg = cfg, .ade = vols, .nade = n, .disks = &disks,
				   .prev = prev, .nprev = nprev };

	assert_int_equal(vv_open_plan_build(&env, plan), 0);
	return plan->v;
}

static void test_exchanged_luns(void **state)
{
	struct vv_prev prev[] = { { "data1", U1, U1 }, { "data2", U2, U2 } };
	struct vv_volume_conf vols[2];
	struct vv_open_plan plan;
	struct vv_vol *a, *b;

	(void)state;
	ade(&vols[0], "data1", "lun:0", false);
	ade(&vols[1], "data2", "lun:1", false);
	/* Nothing recorded: the LUN decides (first run). */
	plan_of(&plan, vols, 2, NULL, 0, NULL);
	assert_string_equal(vv_open_plan_find(&plan, "data1")->device, "/dev/sdb");
	vv_open_plan_free(&plan);

	/* Recorded: each volume is its UUID's disk, the move is reported. */
	plan_of(&plan, vols, 2, prev, 2, NULL);
	a = vv_open_plan_find(&plan, "data1");
	b = vv_open_plan_find(&plan, "data2");
	assert_int_equal(a->fail, VV_FAIL_NONE);
	assert_string_equal(a->device, "/dev/sdc");
	assert_string_equal(b->device, "/dev/sdb");
	assert_true(a->relocated && b->relocated);
	/* the warning names both volumes */
	assert_non_null(strstr(a->warning, "data2"));
	assert_non_null(strstr(a->warning, "data1"));
	assert_string_equal(a->opened_uuid, U1);
	vv_open_plan_free(&plan);

	/* The recorded volume is not attached: the LUN's disk is not used in its place. */
	prev[0].opened_uuid = "0a1b2c3d-0000-4000-8000-000000000009";
	plan_of(&plan, vols, 2, prev, 2, NULL);
	a = vv_open_plan_find(&plan, "data1");
	assert_int_equal(a->fail, VV_FAIL_CONFLICT);
	assert_non_null(strstr(a->error.message, "data2"));
	assert_non_null(strstr(a->error.message, "not opened in its place"));
	assert_string_equal(a->opened_uuid, "0a1b2c3d-0000-4000-8000-000000000009");
	vv_open_plan_free(&plan);
	clear(vols, 2);
}

/* ADE volumes that are not the platform's resource disk, however named. */
static const struct {
	const char *name, *match;
	bool resource;
} not_resource[] = {
	/* ADE says resource disk, the platform does not. */
	{ "resourceencrypt", "path:/dev/disk/by-id/scsi-other-part1", true },
	/* A look-alike link name is no marking. */
	{ "resourceencrypt", "path:/dev/disk/azure/resource-part1x", true },
	/* The platform's disk, but ADE's state does not call it resourceencrypt. */
	{ "data9", "path:/dev/disk/azure/resource-part1", false },
};

static void test_resource_disk(void **state)
{
	struct vv_volume_conf vols[1];
	struct vv_open_plan plan;
	struct vv_config cfg = { 0 };
	struct vv_vol *v;

	(void)state;
	/* Both markings: ADE's resourceencrypt line and the platform's link. */
	ade(&vols[0], "resourceencrypt", "path:/dev/disk/azure/resource-part1", true);
	v = plan_of(&plan, vols, 1, NULL, 0, NULL);
	v = vv_open_plan_find(&plan, "resourceencrypt");
	assert_int_equal(v->fail, VV_FAIL_NONE);
	assert_true(v->reformat);
	assert_string_equal(v->device, "/dev/sda1");
	vv_open_plan_free(&plan);

	cfg.ade_resource_skip = true;
	plan_of(&plan, vols, 1, NULL, 0, &cfg);
	v = vv_open_plan_find(&plan, "resourceencrypt");
	assert_false(v->reformat);
	assert_true(v->reformat_skip);
	vv_open_plan_free(&plan);
	clear(vols, 1);

	/* Never formatted: each volume fails on its missing header instead. */
	for (size_t i = 0; i < sizeof(not_resource) / sizeof(not_resource[0]); i++) {
		ade(&vols[0], not_resource[i].name, not_resource[i].match, not_resource[i].resource);
		plan_of(&plan, vols, 1, NULL, 0, NULL);
		v = vv_open_plan_find(&plan, not_resource[i].name);
		assert_false(v->reformat);
		assert_int_equal(v->fail, VV_FAIL_HEADER);
		vv_open_plan_free(&plan);
		clear(vols, 1);
	}
}

static void test_undescribed(void **state)
{
	struct vv_volume_conf vols[2];
	struct vv_open_plan plan;
	struct vv_vol *v;

	(void)state;
	ade(&vols[0], "data1", "lun:0", false);
	ade(&vols[1], "data2", "lun:1", false);
	plan_of(&plan, vols, 2, NULL, 0, NULL);
	/* sdd (LUKS2, LUN 4) is nobody's: listed with its identifiers */
	v = vv_open_plan_find(&plan, "luks-" U3);
	assert_non_null(v);
	assert_true(v->undescribed);
	assert_int_equal(v->state, VV_VS_UNDESCRIBED);
	assert_int_equal(v->fail, VV_FAIL_NONE);
	assert_string_equal(v->device, "/dev/sdd");
	assert_int_equal(v->lun, 4);
	assert_string_equal(vv_vstate_str(v->state), "undescribed");
	/* so is the BitLocker disk (damaged or not); unencrypted disks are not */
	assert_non_null(vv_open_plan_find(&plan, "bitlk-" G1));
	assert_int_equal(plan.n, 4);
	vv_open_plan_free(&plan);
	clear(vols, 2);
}

/* A BitLocker volume libcryptsetup refuses is not a LUKS header or dm-crypt matter. */
static void test_bitlocker_refused(void **state)
{
	struct vv_volume_conf vols[1];
	struct vv_open_plan plan;
	struct vv_vol *v;

	(void)state;
	ade(&vols[0], "win", "bitlocker:" G1, false);
	plan_of(&plan, vols, 1, NULL, 0, NULL);
	v = vv_open_plan_find(&plan, "win");
	assert_int_equal(v->fail, VV_FAIL_UNSUPPORTED);
	assert_null(strstr(v->error.remedy, "luksHeaderRestore"));
	assert_null(strstr(v->error.remedy, "dm-crypt"));
	assert_non_null(strstr(v->error.remedy, "Windows"));
	vv_open_plan_free(&plan);
	clear(vols, 1);
}

static void test_reencrypt_percent(void **state)
{
	/* what libcryptsetup 2.6 writes half way through `reencrypt --encrypt` */
	const char *half =
		"{\"segments\":{"
		"\"0\":{\"type\":\"linear\",\"offset\":\"58720256\",\"size\":\"8388608\"},"
		"\"1\":{\"type\":\"linear\",\"offset\":\"8388608\",\"size\":\"16777216\"},"
		"\"2\":{\"type\":\"crypt\",\"offset\":\"33554432\",\"size\":\"25165824\"},"
		"\"3\":{\"type\":\"linear\",\"offset\":\"0\",\"size\":\"50331648\","
		"\"flags\":[\"backup-previous\"]},"
		"\"4\":{\"type\":\"crypt\",\"offset\":\"8388608\",\"size\":\"dynamic\","
		"\"flags\":[\"backup-final\"]}}}";
	const char *start =
		"{\"segments\":{"
		"\"0\":{\"type\":\"linear\",\"offset\":\"58720256\",\"size\":\"8388608\"},"
		"\"1\":{\"type\":\"linear\",\"offset\":\"8388608\",\"size\":\"41943040\"}}}";
	const char *done = "{\"segments\":{\"0\":{\"type\":\"crypt\",\"offset\":\"16777216\","
			   "\"size\":\"dynamic\"}}}";

	(void)state;
	assert_int_equal(vv_luks2_encrypted_percent(half, 67108864), 50);
	assert_int_equal(vv_luks2_encrypted_percent(start, 67108864), 0);
	assert_int_equal(vv_luks2_encrypted_percent(done, 67108864), 100);
	assert_int_equal(vv_luks2_encrypted_percent("{\"segments\":{}}", 1), -1);
	assert_int_equal(vv_luks2_encrypted_percent("not json", 1), -1);
	assert_int_equal(vv_luks2_encrypted_percent(NULL, 1), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exchanged_luns),
		cmocka_unit_test(test_resource_disk),
		cmocka_unit_test(test_undescribed),
		cmocka_unit_test(test_bitlocker_refused),
		cmocka_unit_test(test_reencrypt_percent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
