// SPDX-License-Identifier: GPL-2.0-or-later
/* Header backups: private directory, 0600 files, distinct names, restorable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <libcryptsetup.h>

#include "agent/volume/header_backup.h"
#include "tests/unit/keysrc_helpers.h"
#include "tests/unit/luks_craft.h"

static int check_pw(const char *img, const char *pw)
{
	struct crypt_device *cd = NULL;
	int r;

	if (crypt_init(&cd, img) < 0)
		return -1;
	r = crypt_load(cd, CRYPT_LUKS2, NULL);
	if (r == 0)
		r = crypt_activate_by_passphrase(cd, NULL, CRYPT_ANY_SLOT, pw, strlen(pw), 0);
	crypt_free(cd);
	return r;
}

static int count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void test_backup_and_restore(void **state)
{
	char *img = kt_luks_image(CRYPT_LUKS2, "hb-img", "old");
	char *st = kt_mkdtemp("hb-state");
	char sub[512], dir[1024], p1[4200], p2[4200];
	struct crypt_device *cd = NULL;
	struct stat sb;

	(void)state;
	assert_non_null(img);
	/* state_dir missing components are created 0700 */
	snprintf(sub, sizeof(sub), "%s/var/lib/vaultvol", st);
	snprintf(dir, sizeof(dir), "%s/%s", sub, VV_HEADER_BACKUP_DIR);
	assert_int_equal(vv_header_backup(img, sub, p1, sizeof(p1)), 0);
	assert_int_equal(stat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0700);
	assert_int_equal(stat(sub, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0700);
	assert_int_equal(stat(p1, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_true(sb.st_size >= 16384);
	assert_int_equal(strncmp(p1, dir, strlen(dir)), 0);

	/* two backups in a row get distinct names */
	assert_int_equal(vv_header_backup(img, sub, p2, sizeof(p2)), 0);
	assert_string_not_equal(p1, p2);
	assert_int_equal(count_files(dir), 2);

	/* change the header (new passphrase, old one gone), then restore p1 */
	assert_int_equal(crypt_init(&cd, img), 0);
	assert_int_equal(crypt_load(cd, CRYPT_LUKS2, NULL), 0);
	assert_int_equal(crypt_keyslot_change_by_passphrase(cd, 0, 0, "old", 3, "new", 3), 0);
	crypt_free(cd);
	assert_true(check_pw(img, "old") < 0);
	assert_int_equal(check_pw(img, "new"), 0);
	assert_int_equal(crypt_init(&cd, img), 0);
	assert_int_equal(crypt_header_restore(cd, CRYPT_LUKS2, p1), 0);
	crypt_free(cd);
	assert_int_equal(check_pw(img, "old"), 0);

	assert_int_equal(kt_sh("rm -rf '%s'", st), 0);
	unlink(img);
	free(img);
	free(st);
}

static void test_refuses_open_dir(void **state)
{
	char *img = kt_luks_image(CRYPT_LUKS2, "hb-img", "old");
	char *st = kt_mkdtemp("hb-state");
	char dir[1024], p[4200];

	(void)state;
	assert_non_null(img);
	snprintf(dir, sizeof(dir), "%s/%s", st, VV_HEADER_BACKUP_DIR);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(vv_header_backup(img, st, p, sizeof(p)), -EPERM);
	assert_string_equal(p, "");
	assert_int_equal(count_files(dir), 0);
	assert_int_equal(rmdir(dir), 0);
	/* a symlink in its place is refused too */
	assert_int_equal(symlink("/tmp", dir), 0);
	assert_int_equal(vv_header_backup(img, st, p, sizeof(p)), -ENOTDIR);
	assert_int_equal(kt_sh("rm -rf '%s'", st), 0);
	unlink(img);
	free(img);
	free(st);
}

static void test_not_luks(void **state)
{
	char *st = kt_mkdtemp("hb-state");
	char path[] = "/tmp/vv-hb-plain-XXXXXX";
	char dir[1024], p[4200];
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4 << 20), 0);
	close(fd);
	assert_true(vv_header_backup(path, st, p, sizeof(p)) < 0);
	snprintf(dir, sizeof(dir), "%s/%s", st, VV_HEADER_BACKUP_DIR);
	assert_int_equal(count_files(dir), 0);
	assert_int_equal(vv_header_backup(path, "", p, sizeof(p)), -EINVAL);
	unlink(path);
	assert_int_equal(kt_sh("rm -rf '%s'", st), 0);
	free(st);
}

/*
 * The UUID names the backup file, and a header is not authenticated: a
 * header whose UUID is "../escape" must not put a file outside the
 * backup directory (nor anywhere else).
 */
static void test_hostile_uuid(void **state)
{
	char *st = kt_mkdtemp("hb-state");
	char img[1024], p[4200];
	char *found;

	(void)state;
	snprintf(img, sizeof(img), "%s/hostile.img", st);
	assert_int_equal(kt_luks1_with_uuid(img, "pw", "../escape"), 0);
	assert_int_equal(vv_header_backup(img, st, p, sizeof(p)), -EINVAL);
	assert_string_equal(p, "");
	found = kt_capture("find '%s' -name '*.luks' | wc -l", st);
	assert_non_null(found);
	assert_int_equal(atoi(found), 0);
	free(found);
	/* The same image with a real UUID is backed up as usual. */
	assert_int_equal(kt_luks1_with_uuid(img, "pw", "0a1b2c3d-0000-4000-8000-00000000abcd"), 0);
	assert_int_equal(vv_header_backup(img, st, p, sizeof(p)), 0);
	assert_non_null(strstr(p, "/header-backups/0a1b2c3d-0000-4000-8000-00000000abcd-"));
	assert_int_equal(kt_sh("rm -rf '%s'", st), 0);
	free(st);
}

/*
 * A state directory too small for the backup (a small OS disk): refused up
 * front as -ENOSPC naming the room needed, nothing left behind, instead of
 * libcryptsetup's -EIO after a partial file. Needs root for a 1 MiB tmpfs.
 */
static void test_no_room(void **state)
{
	char *img = kt_luks_image(CRYPT_LUKS2, "hb-img", "old");
	char *st = kt_mkdtemp("hb-small");
	char dir[1024], p[4200];
	int r;

	(void)state;
	assert_non_null(img);
	if (kt_sh("mount -t tmpfs -o size=1m,mode=0700 tmpfs '%s' 2>/dev/null", st) != 0) {
		unlink(img);
		free(img);
		rmdir(st);
		free(st);
		skip();
	}
	r = vv_header_backup(img, st, p, sizeof(p));
	snprintf(dir, sizeof(dir), "%s/%s", st, VV_HEADER_BACKUP_DIR);
	assert_int_equal(r, -ENOSPC);
	assert_string_equal(p, "");
	assert_int_equal(count_files(dir), 0);
	assert_int_equal(kt_sh("umount '%s' && rmdir '%s'", st, st), 0);
	unlink(img);
	free(img);
	free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backup_and_restore),
		cmocka_unit_test(test_refuses_open_dir),
		cmocka_unit_test(test_not_luks),
		cmocka_unit_test(test_no_room),
		cmocka_unit_test(test_hostile_uuid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
