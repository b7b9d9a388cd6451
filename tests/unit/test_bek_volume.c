// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vault/bek_volume, the parts that need no mount: ADE file names, picking
 * the file (case-insensitive like vfat, *.BEK), reading it from a directory
 * with the ownership checks, and probing a vfat image for its label. The
 * mount itself runs in the QEMU guest (tests/vm/scenarios/bek_volume.sh).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "keysrc_helpers.h"
#include "vault/bek_volume.h"

static char *mkvol(void)
{
	char *d = kt_mkdtemp("bekvol");

	if (!d)
		abort();
	return d;
}

static void add(const char *dir, const char *name, const char *content, mode_t mode)
{
	char p[700];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_int_equal(kt_write(p, content, strlen(content), mode), 0);
}

static void test_names(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(vv_bek_file_name_for(-1, 0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "LinuxPassPhraseFileName");
	assert_int_equal(vv_bek_file_name_for(1, 0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "LinuxPassPhraseFileName_1_0");
	assert_int_equal(vv_bek_file_name_for(0, 63, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "LinuxPassPhraseFileName_0_63");
	assert_int_equal(vv_bek_file_name_for(1, -1, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(vv_bek_file_name_for(1, 2, buf, 10), -ENAMETOOLONG);

	assert_true(vv_bek_file_name_valid("LinuxPassPhraseFileName_1_0"));
	assert_true(vv_bek_file_name_valid("3F2504E0-4F89-11D3-9A0C-0305E82C3301.BEK"));
	assert_false(vv_bek_file_name_valid(""));
	assert_false(vv_bek_file_name_valid(NULL));
	assert_false(vv_bek_file_name_valid(".."));
	assert_false(vv_bek_file_name_valid("."));
	assert_false(vv_bek_file_name_valid("../etc/shadow"));
	assert_false(vv_bek_file_name_valid("a/b"));
	assert_false(vv_bek_file_name_valid("a\nb"));

	assert_true(vv_bek_file_is_windows("3F2504E0-4F89-11D3-9A0C-0305E82C3301.BEK"));
	assert_true(vv_bek_file_is_windows("x.bek"));
	assert_false(vv_bek_file_is_windows(".BEK"));
	assert_false(vv_bek_file_is_windows("LinuxPassPhraseFileName"));
	assert_false(vv_bek_file_is_windows(NULL));
}

static void test_pick(void **state)
{
	char *dir = mkvol(), found[256];
	struct vv_error err = { 0 };
	int dfd;

	(void)state;
	add(dir, "LinuxPassPhraseFileName", "os", 0600);
	add(dir, "LINUXPASSPHRASEFILENAME_1_0", "d10", 0600);
	add(dir, "LinuxPassPhraseFileName_1_1", "d11", 0600);
	add(dir, "3F2504E0-4F89-11D3-9A0C-0305E82C3301.BEK", "w", 0600);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);

	/* empty and NULL: the OS disk file */
	assert_int_equal(vv_bek_volume_pick(dfd, NULL, found, sizeof(found), &err), 0);
	assert_string_equal(found, "LinuxPassPhraseFileName");
	assert_int_equal(vv_bek_volume_pick(dfd, "", found, sizeof(found), &err), 0);
	assert_string_equal(found, "LinuxPassPhraseFileName");
	/* case-insensitive, as vfat: the name on disk is returned */
	assert_int_equal(vv_bek_volume_pick(dfd, "LinuxPassPhraseFileName_1_0", found,
					    sizeof(found), &err), 0);
	assert_string_equal(found, "LINUXPASSPHRASEFILENAME_1_0");
	assert_int_equal(vv_bek_volume_pick(dfd, "linuxpassphrasefilename_1_1", found,
					    sizeof(found), &err), 0);
	assert_string_equal(found, "LinuxPassPhraseFileName_1_1");
	/* no fallback to another disk's key */
	assert_int_equal(vv_bek_volume_pick(dfd, "LinuxPassPhraseFileName_1_2", found,
					    sizeof(found), &err), -ENOENT);
	assert_int_equal(err.cause, VV_CAUSE_NOT_FOUND);
	/* *.BEK: the one startup key */
	assert_int_equal(vv_bek_volume_pick(dfd, VV_BEK_ANY_BEK, found, sizeof(found),
					    &err), 0);
	assert_string_equal(found, "3F2504E0-4F89-11D3-9A0C-0305E82C3301.BEK");
	add(dir, "00000000-0000-0000-0000-000000000001.bek", "w2", 0600);
	assert_int_equal(vv_bek_volume_pick(dfd, VV_BEK_ANY_BEK, found, sizeof(found),
					    &err), -EEXIST);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	/* path tricks are names, never paths */
	assert_int_equal(vv_bek_volume_pick(dfd, "../etc/passwd", found, sizeof(found),
					    &err), -EINVAL);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	close(dfd);
	kt_rmrf(dir);
	free(dir);
}

static void test_read_dir(void **state)
{
	char *dir = mkvol(), *found = NULL, p[700];
	struct vv_secret *key = NULL;
	struct vv_error err = { 0 };
	/* a startup key: 156 bytes, with zeros, exactly as on the volume */
	unsigned char bek[156];

	(void)state;
	for (size_t i = 0; i < sizeof(bek); i++)
		bek[i] = (unsigned char)(i % 7 == 0 ? 0 : i);
	/* a passphrase that looks like base64 is read raw: no decoding here */
	add(dir, "LinuxPassPhraseFileName_1_0", "Zm9vYmFy", 0600);
	add(dir, "LinuxPassPhraseFileName_1_1", "", 0600);
	add(dir, "LinuxPassPhraseFileName_1_2", "loose", 0644);
	snprintf(p, sizeof(p), "%s/ABCD.BEK", dir);
	assert_int_equal(kt_write(p, bek, sizeof(bek), 0600), 0);

	assert_int_equal(vv_bek_volume_read_dir(dir, "LinuxPassPhraseFileName_1_0", &key,
						&found, &err), 0);
	assert_int_equal(key->len, 8);
	assert_memory_equal(key->data, "Zm9vYmFy", 8);
	assert_string_equal(found, "LinuxPassPhraseFileName_1_0");
	vv_secret_free(key);
	free(found);

	assert_int_equal(vv_bek_volume_read_dir(dir, "*.BEK", &key, &found, &err), 0);
	assert_int_equal(key->len, sizeof(bek));
	assert_memory_equal(key->data, bek, sizeof(bek));
	assert_true(vv_bek_file_is_windows(found));
	vv_secret_free(key);
	free(found);
	found = NULL;

	/* empty file: an error, not an empty key */
	assert_int_equal(vv_bek_volume_read_dir(dir, "LinuxPassPhraseFileName_1_1", &key,
						&found, &err), -ENODATA);
	assert_null(key);
	assert_null(found);
	/* readable by others: not trusted (our own mount uses fmask=077) */
	assert_true(vv_bek_volume_read_dir(dir, "LinuxPassPhraseFileName_1_2", &key,
					   &found, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	/* a symlink is not followed */
	snprintf(p, sizeof(p), "%s/LinuxPassPhraseFileName", dir);
	assert_int_equal(symlink("/etc/hostname", p), 0);
	assert_true(vv_bek_volume_read_dir(dir, NULL, &key, &found, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_null(key);
	/* missing */
	assert_true(vv_bek_volume_read_dir(dir, "LinuxPassPhraseFileName_9_9", &key,
					   NULL, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_NOT_FOUND);
	kt_rmrf(dir);
	free(dir);
}

/* libblkid on a vfat image file: the label has to match exactly. */
static void test_probe_image(void **state)
{
	char *dir = mkvol(), img[700], other[700];
	char *dev = NULL;
	struct vv_error err = { 0 };

	(void)state;
	snprintf(img, sizeof(img), "%s/bek.img", dir);
	snprintf(other, sizeof(other), "%s/other.img", dir);
	if (kt_sh("command -v mkfs.vfat >/dev/null") != 0) {
		kt_rmrf(dir);
		free(dir);
		skip();
	}
	assert_int_equal(kt_sh("truncate -s 8M %s && mkfs.vfat -n 'BEK VOLUME' %s >/dev/null"
			       " && truncate -s 8M %s && mkfs.vfat -n 'DATA' %s >/dev/null",
			       img, img, other, other), 0);
	assert_true(vv_bek_volume_probe(img, "BEK VOLUME"));
	assert_false(vv_bek_volume_probe(img, "BEK"));
	assert_false(vv_bek_volume_probe(other, "BEK VOLUME"));
	assert_false(vv_bek_volume_probe("/nonexistent", "BEK VOLUME"));
	/* no block device on this host carries the label */
	assert_true(vv_bek_volume_find("VV-NO-SUCH-LABEL", &dev, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_NOT_FOUND);
	assert_null(dev);
	kt_rmrf(dir);
	free(dir);
}

/* Two BEK VOLUMEs: refused, both named; never "the first one". */
static void test_choose(void **state)
{
	char *one[] = { "/dev/sdc" }, *two[] = { "/dev/sdc", "/dev/sdd" };
	struct vv_error err = { 0 };
	char *dev = NULL;

	(void)state;
	assert_int_equal(vv_bek_volume_choose(one, 1, "BEK VOLUME", &dev, &err), 0);
	assert_string_equal(dev, "/dev/sdc");
	free(dev);
	dev = NULL;
	assert_int_equal(vv_bek_volume_choose(two, 2, "BEK VOLUME", &dev, &err), -ENOTUNIQ);
	assert_null(dev);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_non_null(strstr(err.message, "/dev/sdc"));
	assert_non_null(strstr(err.message, "/dev/sdd"));
	assert_int_equal(vv_bek_volume_choose(two, 0, "BEK VOLUME", &dev, &err), -ENOENT);
	assert_int_equal(err.cause, VV_CAUSE_NOT_FOUND);
	assert_non_null(strstr(err.message, "BEK VOLUME"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_pick),
		cmocka_unit_test(test_read_dir),
		cmocka_unit_test(test_probe_image),
		cmocka_unit_test(test_choose),
	};

	return cmocka_run_group_tests_name("bek_volume", tests, NULL, NULL);
}
