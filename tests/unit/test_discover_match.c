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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_by_uuid),
		cmocka_unit_test(test_by_lun_path_guid),
		cmocka_unit_test(test_ambiguous_uuid),
		cmocka_unit_test(test_devname_and_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
