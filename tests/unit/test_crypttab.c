// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * agent/config/crypttab: which disks /etc/crypttab gives systemd-cryptsetup
 * (parse, match, load), agent/volume/holder: a crypt mapping of any name on
 * a disk (a sysfs tree made here), and planning marking those volumes.
 */
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
#include <sys/sysmacros.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent/config/crypttab.h"
#include "agent/open/open.h"
#include "agent/volume/holder.h"

#define U1 "0a1b2c3d-0000-4000-8000-000000000001"
#define U2 "0a1b2c3d-0000-4000-8000-000000000002"

static const char *tab_text =
	"# <target name> <source device> <key file> <options>\n"
	"\n"
	"ctdata  UUID=0A1B2C3D-0000-4000-8000-000000000001 none luks,_netdev,nofail\n"
	"\tswap\t/dev/sdz\t/dev/urandom\tswap,cipher=aes-xts-plain64\n"
	"later PARTUUID=77aa-01 none luks,noauto\n"
	"lonely\n"		/* one field: skipped, as systemd skips it */
	"bylink /dev/disk/by-id/scsi-3600c\n"
	"   # indented comment\n"
	"ade1 /dev/disk/by-uuid/0a1b2c3d-0000-4000-8000-000000000002 "
	"/mnt/azure_bek_disk/LinuxPassPhraseFileName_1_0 luks,nofail\n"
	"last LABEL=vvdata none noauto,luks";	/* no final newline */

static void test_parse(void **state)
{
	struct vv_crypttab t;

	(void)state;
	assert_int_equal(vv_crypttab_parse(tab_text, &t), 0);
	assert_int_equal(t.n, 6);
	assert_string_equal(t.e[0].name, "ctdata");
	assert_true(t.e[0].keyless);
	assert_false(t.e[1].keyless);	/* /dev/urandom */
	assert_true(t.e[3].keyless);	/* no key field */
	assert_false(t.e[4].keyless);	/* ADE's BEK volume file */
	assert_string_equal(t.e[0].source, "UUID=0A1B2C3D-0000-4000-8000-000000000001");
	assert_false(t.e[0].noauto);
	assert_string_equal(t.e[1].name, "swap");
	assert_string_equal(t.e[1].source, "/dev/sdz");
	assert_true(t.e[2].noauto);
	assert_string_equal(t.e[3].name, "bylink");
	assert_false(t.e[3].noauto);
	assert_string_equal(t.e[5].name, "last");
	assert_true(t.e[5].noauto);
	vv_crypttab_free(&t);

	assert_int_equal(vv_crypttab_parse("", &t), 0);
	assert_int_equal(t.n, 0);
	vv_crypttab_free(&t);
	/* "noauto" only as a whole option */
	assert_int_equal(vv_crypttab_parse("a /dev/x none noautox,xnoauto\n", &t), 0);
	assert_false(t.e[0].noauto);
	vv_crypttab_free(&t);
	assert_int_equal(vv_crypttab_parse("a /dev/x - luks\nb /dev/y\tnone\n", &t), 0);
	assert_true(t.e[0].keyless && t.e[1].keyless);
	vv_crypttab_free(&t);
}

static void test_find(void **state)
{
	char *links[] = { "/dev/disk/by-id/scsi-3600c", "/dev/disk/by-partuuid/77aa-01",
			  "/dev/disk/by-label/vvdata" };
	const struct vv_crypttab_entry *e;
	struct vv_crypttab t;

	(void)state;
	assert_int_equal(vv_crypttab_parse(tab_text, &t), 0);
	/* UUID= matches the LUKS UUID, whatever its case */
	e = vv_crypttab_find(&t, U1, "/dev/sdb", NULL, 0);
	assert_non_null(e);
	assert_string_equal(e->name, "ctdata");
	/* another UUID, no path or link in the table: not crypttab's */
	assert_null(vv_crypttab_find(&t, U2, "/dev/sdc", NULL, 0));
	/* a kernel path */
	e = vv_crypttab_find(&t, U2, "/dev/sdz", NULL, 0);
	assert_non_null(e);
	assert_string_equal(e->name, "swap");
	/* PARTUUID= through the by-partuuid link; a path through a link */
	e = vv_crypttab_find(&t, U2, "/dev/sdc", links + 1, 1);
	assert_string_equal(e->name, "later");
	e = vv_crypttab_find(&t, U2, "/dev/sdc", links, 1);
	assert_string_equal(e->name, "bylink");
	e = vv_crypttab_find(&t, "", "/dev/sdc", links + 2, 1);
	assert_string_equal(e->name, "last");
	/* an empty UUID never matches "UUID=" */
	assert_null(vv_crypttab_find(&t, "", "/dev/sdq", NULL, 0));
	assert_null(vv_crypttab_find(NULL, U1, "/dev/sdb", NULL, 0));
	vv_crypttab_free(&t);
}

static char tmpdir[] = "/tmp/vv-crypttab-XXXXXX";

static void put(const char *rel, const char *text, mode_t mode)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	chmod(path, mode);
}

static void test_load(void **state)
{
	struct vv_error err = { 0 };
	struct vv_crypttab t;
	char path[512];

	(void)state;
	snprintf(path, sizeof(path), "%s/none", tmpdir);
	assert_int_equal(vv_crypttab_load(path, &t, &err), 0);	/* missing: empty */
	assert_int_equal(t.n, 0);
	put("crypttab", tab_text, 0644);
	snprintf(path, sizeof(path), "%s/crypttab", tmpdir);
	assert_int_equal(vv_crypttab_load(path, &t, &err), 0);
	assert_int_equal(t.n, 6);
	vv_crypttab_free(&t);
	/* writable by others: not trusted to say which disks vaultvol leaves */
	put("crypttab", tab_text, 0666);
	assert_true(vv_crypttab_load(path, &t, &err) < 0);
	assert_non_null(strstr(err.message, "crypttab"));
	assert_int_equal(t.n, 0);
}

static void mk(const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

static void test_holder(void **state)
{
	char name[64];

	(void)state;
	mk("sys"); mk("sys/dev"); mk("sys/dev/block"); mk("sys/dev/block/254:16");
	mk("sys/dev/block/254:16/holders");
	{
		char sys[512];

		snprintf(sys, sizeof(sys), "%s/sys", tmpdir);
		/* no holder */
		assert_int_equal(vv_crypt_holder(sys, makedev(254, 16), name, sizeof(name)), -ENOENT);
		assert_int_equal(vv_crypt_holder(sys, makedev(254, 32), name, sizeof(name)), -ENOENT);
		/* a linear mapping (LVM) holds it: not a crypt mapping */
		mk("sys/dev/block/254:16/holders/dm-0"); mk("sys/dev/block/254:16/holders/dm-0/dm");
		put("sys/dev/block/254:16/holders/dm-0/dm/uuid", "LVM-abc\n", 0644);
		put("sys/dev/block/254:16/holders/dm-0/dm/name", "vg-lv\n", 0644);
		assert_int_equal(vv_crypt_holder(sys, makedev(254, 16), name, sizeof(name)), -ENOENT);
		/* systemd-cryptsetup's mapping */
		mk("sys/dev/block/254:16/holders/dm-1"); mk("sys/dev/block/254:16/holders/dm-1/dm");
		put("sys/dev/block/254:16/holders/dm-1/dm/uuid",
		    "CRYPT-LUKS2-0a1b2c3d000040008000000000000001-ctdata\n", 0644);
		put("sys/dev/block/254:16/holders/dm-1/dm/name", "ctdata\n", 0644);
		assert_int_equal(vv_crypt_holder(sys, makedev(254, 16), name, sizeof(name)), 0);
		assert_string_equal(name, "ctdata");
		assert_int_equal(vv_crypt_holder(sys, makedev(254, 16), name, 4), -ENAMETOOLONG);
		/* an interrupted activation's debris (no live table: size 0) opens nothing */
		mk("sys/dev/block/254:48"); mk("sys/dev/block/254:48/holders");
		mk("sys/dev/block/254:48/holders/dm-2"); mk("sys/dev/block/254:48/holders/dm-2/dm");
		put("sys/dev/block/254:48/holders/dm-2/dm/uuid",
		    "CRYPT-LUKS2-0a1b2c3d000040008000000000000002-vol7\n", 0644);
		put("sys/dev/block/254:48/holders/dm-2/dm/name", "vol7\n", 0644);
		put("sys/dev/block/254:48/holders/dm-2/size", "0\n", 0644);
		assert_int_equal(vv_crypt_holder(sys, makedev(254, 48), name, sizeof(name)), -ENOENT);
		put("sys/dev/block/254:48/holders/dm-2/size", "20480\n", 0644);
		assert_int_equal(vv_crypt_holder(sys, makedev(254, 48), name, sizeof(name)), 0);
		assert_string_equal(name, "vol7");
	}
}

/* Planning: a token volume on a disk crypttab lists is marked with crypttab's name. */
static void test_plan_marks(void **state)
{
	static char *sdc_links[] = { "/dev/disk/by-uuid/" U2 };
	static struct vv_blockdev devs[] = {
		{ .path = "/dev/sdb", .type = VV_VOL_LUKS2, .blkid_type = "crypto_LUKS", .uuid = U1,
		  .lun = 0, .token_rc = 0 },
		{ .path = "/dev/sdc", .type = VV_VOL_LUKS2, .blkid_type = "crypto_LUKS", .uuid = U2,
		  .lun = 1, .token_rc = 0, .links = sdc_links, .nlinks = 1 },
	};
	struct vv_disks disks = { .dev = devs, .n = 2 };
	struct vv_open_env env = { .disks = &disks };
	struct vv_open_plan plan;
	struct vv_crypttab t;
	struct vv_vol *a, *b;

	(void)state;
	devs[0].token = (struct vv_token){ .keyslot = 0, .name = "appdata",
					   .key = "https://v.vault.azure.net/secrets/a" };
	devs[1].token = (struct vv_token){ .keyslot = 1, .name = "other",
					   .key = "https://v.vault.azure.net/secrets/b" };
	assert_int_equal(vv_crypttab_parse(tab_text, &t), 0);
	env.crypttab = &t;
	assert_int_equal(vv_open_plan_build(&env, &plan), 0);
	a = vv_open_plan_find(&plan, "appdata");
	b = vv_open_plan_find(&plan, "other");
	assert_non_null(a);
	assert_non_null(b);
	assert_string_equal(a->crypttab, "ctdata");
	/* listed, but with a key file (ADE's line): not left to crypttab */
	assert_string_equal(b->crypttab, "");
	vv_open_plan_free(&plan);
	/* without crypttab, nothing is marked */
	env.crypttab = NULL;
	assert_int_equal(vv_open_plan_build(&env, &plan), 0);
	assert_string_equal(vv_open_plan_find(&plan, "appdata")->crypttab, "");
	vv_open_plan_free(&plan);
	vv_crypttab_free(&t);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[600];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_holder),
		cmocka_unit_test(test_plan_marks),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
