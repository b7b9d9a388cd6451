// SPDX-License-Identifier: GPL-2.0-or-later
/* agent/discover: matching volume descriptions to probed devices (pure). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agent/volume/discover.h"

#define U1 "0a1b2c3d-0000-4000-8000-000000000001"
#define U2 "0a1b2c3d-0000-4000-8000-000000000002"
#define G1 "5a95db04-6ebc-4ba9-99a3-15a87a3d07b2"

static char *links_c[] = { "/dev/disk/by-id/scsi-3600c", "/dev/disk/by-path/pci-0000:00:05.0" };

/* A restored VM: disks in a new order under new kernel names. */
static struct vv_blockdev devs[] = {
	{ .path = "/dev/sda", .type = VV_VOL_UNKNOWN, .blkid_type = "ext4", .lun = -1 },
	{ .path = "/dev/sdb", .type = VV_VOL_LUKS2, .blkid_type = "crypto_LUKS", .uuid = U2, .lun = 1 },
	{ .path = "/dev/sdc", .type = VV_VOL_LUKS1, .blkid_type = "crypto_LUKS", .uuid = U1, .lun = 0,
	  .links = links_c, .nlinks = 2 },
	{ .path = "/dev/sdd1", .type = VV_VOL_BITLK, .blkid_type = "BitLocker", .uuid = G1, .lun = 2,
	  .part = 1 },
	{ .path = "/dev/sde", .type = VV_VOL_UNKNOWN, .blkid_type = "crypto_LUKS", .probe_rc = -EINVAL,
	  .uuid = "0a1b2c3d-0000-4000-8000-0000000000ff", .lun = 3 },
	{ .path = "/dev/sdf", .type = VV_VOL_UNKNOWN, .blkid_type = "", .lun = 4 },
};
static const struct vv_disks disks = { .dev = devs, .n = sizeof(devs) / sizeof(devs[0]) };

static int match(const struct vv_disks *d, const char *spec, size_t *idx, size_t *other)
{
	struct vv_match m;
	char why[256];
	int r;

	assert_int_equal(vv_match_parse(spec, &m, why, sizeof(why)), 0);
	r = vv_discover_match(d, &m, idx, other);
	vv_match_clear(&m);
	return r;
}

static void test_by_uuid(void **state)
{
	size_t i = 99, o = 99;

	(void)state;
	assert_int_equal(match(&disks, "uuid:" U1, &i, &o), 0);
	assert_string_equal(devs[i].path, "/dev/sdc");
	/* Upper case in the config matches lower case from blkid. */
	assert_int_equal(match(&disks, "uuid:0A1B2C3D-0000-4000-8000-000000000002", &i, &o), 0);
	assert_string_equal(devs[i].path, "/dev/sdb");
	assert_int_equal(match(&disks, "uuid:0a1b2c3d-0000-4000-8000-000000000009", &i, &o), -ENOENT);
	/* A damaged header still carries its UUID: found, so open can say "damaged". */
	assert_int_equal(match(&disks, "uuid:0a1b2c3d-0000-4000-8000-0000000000ff", &i, &o), 0);
	assert_string_equal(devs[i].path, "/dev/sde");
	/* A BitLocker GUID is not a LUKS UUID. */
	assert_int_equal(match(&disks, "uuid:" G1, &i, &o), -ENOENT);
}

static void test_by_lun_path_guid(void **state)
{
	size_t i = 99, o = 99;

	(void)state;
	assert_int_equal(match(&disks, "lun:0", &i, &o), 0);
	assert_string_equal(devs[i].path, "/dev/sdc");
	assert_int_equal(match(&disks, "lun:2-part1", &i, &o), 0);
	assert_string_equal(devs[i].path, "/dev/sdd1");
	assert_int_equal(match(&disks, "lun:2", &i, &o), -ENOENT);	/* whole disk is not the partition */
	assert_int_equal(match(&disks, "lun:4", &i, &o), 0);		/* present, not encrypted */
	assert_string_equal(devs[i].blkid_type, "");
	assert_int_equal(match(&disks, "lun:9", &i, &o), -ENOENT);
	assert_int_equal(match(&disks, "path:/dev/disk/by-path/pci-0000:00:05.0", &i, &o), 0);
	assert_string_equal(devs[i].path, "/dev/sdc");
	assert_int_equal(match(&disks, "path:/dev/disk/by-id/nothing", &i, &o), -ENOENT);
	assert_int_equal(match(&disks, "bitlocker:{5A95DB04-6EBC-4BA9-99A3-15A87A3D07B2}", &i, &o), 0);
	assert_string_equal(devs[i].path, "/dev/sdd1");
	assert_int_equal(match(&disks, "bitlocker:" U1, &i, &o), -ENOENT);
}

static void test_ambiguous_uuid(void **state)
{
	/* A clone of sdc attached next to it: same UUID twice. */
	struct vv_blockdev two[] = {
		devs[2],
		{ .path = "/dev/sdg", .type = VV_VOL_LUKS1, .blkid_type = "crypto_LUKS", .uuid = U1, .lun = 5 },
	};
	struct vv_disks d = { .dev = two, .n = 2 };
	size_t i = 99, o = 99;

	(void)state;
	assert_int_equal(match(&d, "uuid:" U1, &i, &o), -ENOTUNIQ);
	assert_string_equal(two[i].path, "/dev/sdc");
	assert_string_equal(two[o].path, "/dev/sdg");
	/* By LUN each is still unique. */
	assert_int_equal(match(&d, "lun:5", &i, &o), 0);
	assert_string_equal(two[i].path, "/dev/sdg");
}

static void test_devname_and_bad(void **state)
{
	struct vv_match m = { .kind = VV_MATCH_DEVNAME, .value = "/dev/sdb" };
	struct vv_match none = { .kind = VV_MATCH_NONE };
	size_t i = 99, o = 99;

	(void)state;
	assert_int_equal(vv_discover_match(&disks, &m, &i, &o), 0);
	assert_string_equal(devs[i].path, "/dev/sdb");
	assert_int_equal(vv_discover_match(&disks, &none, &i, &o), -EINVAL);
}

static void put(const char *dir, const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/*
 * A suspended dm device, and one stacked on it, are not probed (a read
 * would block the scan until the volume resumes); the others are.
 */
static void test_scan_skips_suspended(void **state)
{
	char root[] = "/tmp/vv-disc-XXXXXX", sys[64], dev[64], cmd[512];
	struct vv_discover_opts o = { 0 };
	struct vv_disks d;
	bool saw_vdz = false;

	(void)state;
	assert_non_null(mkdtemp(root));
	snprintf(sys, sizeof(sys), "%s/sys", root);
	snprintf(dev, sizeof(dev), "%s/dev", root);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/dm-0/dm %s/dm-1/dm %s/dm-1/slaves/dm-0 %s/vdz %s",
		 sys, sys, sys, sys, dev);
	assert_int_equal(system(cmd), 0);
	put(sys, "dm-0/size", "2048\n");
	put(sys, "dm-0/dm/suspended", "1\n");
	put(sys, "dm-1/size", "2048\n");
	put(sys, "dm-1/dm/suspended", "0\n");
	put(sys, "vdz/size", "2048\n");
	/* The "devices": regular files that blkid reads as empty. */
	put(dev, "dm-0", "x");
	put(dev, "dm-1", "x");
	put(dev, "vdz", "x");
	o.sys_block = sys;
	o.dev_dir = dev;
	o.lun_dir = dev;
	assert_int_equal(vv_discover_scan(&o, &d), 0);
	for (size_t i = 0; i < d.n; i++) {
		assert_null(strstr(d.dev[i].path, "dm-"));
		if (strstr(d.dev[i].path, "/vdz"))
			saw_vdz = true;
	}
	assert_true(saw_vdz);
	vv_disks_free(&d);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_by_uuid),
		cmocka_unit_test(test_scan_skips_suspended),
		cmocka_unit_test(test_by_lun_path_guid),
		cmocka_unit_test(test_ambiguous_uuid),
		cmocka_unit_test(test_devname_and_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
