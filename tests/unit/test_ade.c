// SPDX-License-Identifier: GPL-2.0-or-later
/* agent/ade: ADE state files (azure_crypt_mount, crypttab, fstab) as volumes. */
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

#include "agent/config/config_ade.h"

static char root[] = "/tmp/vv-test-ade-XXXXXX";

static void put(const char *rel, const char *text, mode_t mode)
{
	char path[PATH_MAX], cmd[PATH_MAX + 32];
	int fd;

	snprintf(path, sizeof(path), "%s%s", root, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
	assert_int_equal(system(cmd), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void free_vols(struct vv_volume_conf *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		vv_volume_conf_clear(&v[i]);
	free(v);
}

static const struct vv_volume_conf *find(const struct vv_volume_conf *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].name, name))
			return &v[i];
	return NULL;
}

static void test_no_ade(void **state)
{
	struct vv_volume_conf *v = NULL;
	size_t n = 0;
	struct vv_error err = { 0 };

	(void)state;
	assert_int_equal(vv_ade_load(root, &v, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_string_equal(err.message, "");
	free(v);
}

static void test_crypt_mount(void **state)
{
	struct vv_volume_conf *v = NULL;
	const struct vv_volume_conf *e;
	size_t n = 0;
	struct vv_error err = { 0 };
	char want[PATH_MAX];

	(void)state;
	put(VV_ADE_CRYPT_MOUNT,
	    "\n"
	    "osencrypt /dev/sda2 /boot/luks/osluksheader / ext4 False 0\n"
	    "resourceencrypt /dev/disk/azure/scsi1/lun0 None /data0 ext4 False 0\n"
	    "\n"
	    "bylabel /dev/disk/by-uuid/0A1B2C3D-0000-4000-8000-00000000ABCD None /data1 xfs True 1\n"
	    "kernelname /dev/sdd1 /var/lib/azure_disk_encryption_config/azureluksheaderkernelname "
	    "/data2 ext4 False\n"
	    "short /dev/sde None /x\n"
	    "bad/name /dev/disk/azure/scsi1/lun4 None /y ext4 False 0\n",
	    0644);
	assert_int_equal(vv_ade_load(root, &v, &n, &err), 3);
	assert_int_equal(n, 3);
	/* The OS volume is the initramfs's job; malformed lines are skipped. */
	assert_null(find(v, n, "osencrypt"));
	assert_null(find(v, n, "short"));

	e = find(v, n, "resourceencrypt");
	assert_non_null(e);
	assert_int_equal(e->origin, VV_ORIGIN_ADE);
	assert_int_equal(e->match.kind, VV_MATCH_LUN);
	assert_int_equal(e->match.lun, 0);
	assert_string_equal(e->key, "bek:LinuxPassPhraseFileName");
	assert_string_equal(e->mount, "/data0");
	assert_string_equal(e->fs, "ext4");
	assert_null(e->header);
	assert_non_null(strstr(e->where, "azure_crypt_mount:3"));

	e = find(v, n, "bylabel");
	assert_int_equal(e->match.kind, VV_MATCH_UUID);
	assert_string_equal(e->match.value, "0a1b2c3d-0000-4000-8000-00000000abcd");
	/* uses_cleartext_key=True: ADE's local key file, under the same root. */
	snprintf(want, sizeof(want), "file:%s%s/cleartext_keybylabel", root, VV_ADE_CONFIG_DIR);
	assert_string_equal(e->key, want);
	assert_string_equal(e->fs, "xfs");

	e = find(v, n, "kernelname");
	assert_int_equal(e->match.kind, VV_MATCH_DEVNAME);
	assert_string_equal(e->match.value, "/dev/sdd1");
	assert_string_equal(e->header, "/var/lib/azure_disk_encryption_config/azureluksheaderkernelname");
	free_vols(v, n);
}

/*
 * ADE's files as a restored VM has them: the crypt-mount config (empty),
 * crypttab and fstab; vv_ade_load() must find want volumes.
 */
static void load_tabs(const char *crypttab, const char *fstab, int want,
		      struct vv_volume_conf **v, size_t *n)
{
	struct vv_error err = { 0 };

	put(VV_ADE_CRYPT_MOUNT, "", 0600);
	put("/etc/crypttab", crypttab, 0644);
	put("/etc/fstab", fstab, 0644);
	assert_int_equal(vv_ade_load(root, v, n, &err), want);
}

static void test_crypttab_fstab(void **state)
{
	struct vv_volume_conf *v = NULL;
	const struct vv_volume_conf *e;
	size_t n = 0;

	(void)state;
	load_tabs("# <target name> <source device> <key file> <options>\n"
		  "swapcrypt /dev/sdb2 /dev/urandom swap\n"
		  "osencrypt /dev/sda1 none luks,discard,header=/boot/luks/osluksheader,keyscript=/usr/sbin/azure_crypt_key.sh\n"
		  "data1 /dev/disk/azure/scsi1/lun1 /mnt/azure_bek_disk/LinuxPassPhraseFileName_1_1 luks,nofail\n"
		  "data2 UUID=11111111-2222-4333-8444-555555555555 /mnt/azure_bek_disk/LinuxPassPhraseFileName_1_2 luks,nofail,header=/etc/h2\n"
		  "mine /dev/disk/by-id/foo /etc/keys/mine luks\n"
		  "evil /dev/disk/azure/scsi1/lun9 /mnt/azure_bek_disk/../etc/shadow luks\n",
		  "UUID=abcd / ext4 defaults 0 1\n"
		  "# /dev/mapper/data1 /wrong ext4 defaults 0 0\n"
		  "/dev/mapper/data1 /datadrive1 ext4 defaults,nofail,discard,x-systemd.requires=vaultvol-open.service 0 0\n"
		  "/dev/mapper/data2 /datadrive2 auto defaults,nofail 0 0\n",
		  2, &v, &n);
	assert_null(find(v, n, "swapcrypt"));
	assert_null(find(v, n, "mine"));	/* not ADE's: key not on the BEK volume */
	assert_null(find(v, n, "evil"));	/* a path out of the BEK volume */

	e = find(v, n, "data1");
	assert_non_null(e);
	assert_int_equal(e->match.kind, VV_MATCH_LUN);
	assert_int_equal(e->match.lun, 1);
	assert_string_equal(e->key, "bek:LinuxPassPhraseFileName_1_1");
	assert_string_equal(e->mount, "/datadrive1");
	assert_string_equal(e->fs, "ext4");
	/* boot-time-only options do not reach mount(2) */
	assert_string_equal(e->options, "discard");

	e = find(v, n, "data2");
	assert_int_equal(e->match.kind, VV_MATCH_UUID);
	assert_string_equal(e->header, "/etc/h2");
	assert_string_equal(e->mount, "/datadrive2");
	assert_null(e->fs);		/* auto: detected at mount time */
	assert_null(e->options);
	free_vols(v, n);
}

/* ADE's restored-VM layout: old BEK prefix, resource disk, partitions, headers. */
static void test_crypttab_variants(void **state)
{
	struct vv_volume_conf *v = NULL;
	const struct vv_volume_conf *e;
	size_t n = 0;

	(void)state;
	load_tabs("\n"
		  "resourceencrypt /dev/disk/azure/resource-part1 /mnt/azure_bek_disk/LinuxPassPhraseFileName luks,nofail\n"
		  "\n"
		  "old /dev/disk/azure/scsi1/lun3 /azure_bek_disk/LinuxPassPhraseFileName_1_3 luks,nofail\n"
		  "part /dev/disk/azure/scsi1/lun2-part1 /mnt/azure_bek_disk/LinuxPassPhraseFileName_1_2 luks,nofail\n"
		  "twice /dev/disk/azure/scsi1/lun4 /mnt/azure_bek_disk/LinuxPassPhraseFileName_1_4 luks,header=/a,nofail,header=/b\n"
		  "fake /dev/disk/azure/scsi1/lun5 /mnt/azure_bek_disk/LinuxPassPhraseFileName_1_5 luks,nofail\n",
		  "LABEL=BEK\\040VOLUME /mnt/azure_bek_disk/ auto defaults,discard,nofail 0 0\n"
		  "/dev/mapper/resourceencrypt /mnt/resource auto defaults,discard,nofail 0 0\n",
		  4, &v, &n);
	e = find(v, n, "resourceencrypt");
	assert_non_null(e);
	assert_true(e->ade_resource);
	assert_string_equal(e->key, "bek:LinuxPassPhraseFileName");
	assert_int_equal(e->match.kind, VV_MATCH_PATH);
	assert_string_equal(e->match.value, "/dev/disk/azure/resource-part1");
	assert_string_equal(e->mount, "/mnt/resource");
	e = find(v, n, "old");
	assert_non_null(e);
	assert_false(e->ade_resource);
	assert_string_equal(e->key, "bek:LinuxPassPhraseFileName_1_3");
	e = find(v, n, "part");
	assert_non_null(e);
	assert_int_equal(e->match.kind, VV_MATCH_LUN);
	assert_int_equal(e->match.lun, 2);
	assert_int_equal(e->match.part, 1);
	/* header= twice: the whole line is refused, not "last wins" */
	assert_null(find(v, n, "twice"));
	/* only resourceencrypt with the OS passphrase file is the resource disk */
	e = find(v, n, "fake");
	assert_non_null(e);
	assert_false(e->ade_resource);
	free_vols(v, n);
}

static void test_crypttab_options(void **state)
{
	char a[] = "luks,nofail,header=/x/h", b[] = "luks,header=/a,header=/a", c[] = "header=rel";
	char d[] = "luks,discard";
	char *h = NULL;

	(void)state;
	assert_int_equal(vv_ade_crypttab_options(a, &h), 0);
	assert_string_equal(h, "/x/h");
	free(h);
	assert_int_equal(vv_ade_crypttab_options(b, &h), -EINVAL);
	assert_null(h);
	assert_int_equal(vv_ade_crypttab_options(c, &h), -EINVAL);
	assert_null(h);
	assert_int_equal(vv_ade_crypttab_options(d, &h), 0);
	assert_null(h);
}

static void test_unsafe_state(void **state)
{
	struct vv_volume_conf *v = NULL;
	size_t n = 0;
	struct vv_error err = { 0 };

	(void)state;
	/* A world-writable crypttab could point a mount anywhere: ignored. */
	put("/etc/crypttab",
	    "data1 /dev/disk/azure/scsi1/lun1 /mnt/azure_bek_disk/LinuxPassPhraseFileName_1_1 luks\n",
	    0666);
	put(VV_ADE_CRYPT_MOUNT, "d0 /dev/disk/azure/scsi1/lun0 None /d0 ext4 False 0\n", 0644);
	assert_int_equal(vv_ade_load(root, &v, &n, &err), 1);
	assert_string_equal(v[0].name, "d0");
	assert_non_null(strstr(err.message, "crypttab"));
	free_vols(v, n);
	unlink(strcat(strcpy((char[PATH_MAX]){ 0 }, root), "/etc/crypttab"));
}

static void test_device_match(void **state)
{
	struct vv_match m;

	(void)state;
	assert_int_equal(vv_ade_device_match("/dev/disk/azure/scsi1/lun3-part1", &m), 0);
	assert_int_equal(m.kind, VV_MATCH_LUN);
	assert_int_equal(m.lun, 3);
	assert_int_equal(m.part, 1);
	vv_match_clear(&m);
	assert_int_equal(vv_ade_device_match("PARTUUID=abc-1", &m), 0);
	assert_int_equal(m.kind, VV_MATCH_PATH);
	assert_string_equal(m.value, "/dev/disk/by-partuuid/abc-1");
	vv_match_clear(&m);
	assert_int_equal(vv_ade_device_match("none", &m), -EINVAL);
	assert_int_equal(vv_ade_device_match("UUID=nope", &m), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_ade),
		cmocka_unit_test(test_crypt_mount),
		cmocka_unit_test(test_crypttab_fstab),
		cmocka_unit_test(test_crypttab_variants),
		cmocka_unit_test(test_crypttab_options),
		cmocka_unit_test(test_unsafe_state),
		cmocka_unit_test(test_device_match),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
