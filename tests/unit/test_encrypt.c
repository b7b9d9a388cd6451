// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * encrypt's pure decisions (agent/provision/provision_encrypt_plan.c) and
 * its progress line (agent/cmd_encrypt_progress.c); and vv_encrypt's
 * refusals on image files, which come before any vault call or write.
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
#include <unistd.h>
#include <cmocka.h>

#include "agent/cmd_encrypt_progress.h"
#include "agent/provision/provision.h"

static void test_classify(void **state)
{
	(void)state;
	assert_int_equal(vv_encrypt_classify(1, "filesystem ext4"), VV_ENC_EXT4);
	assert_int_equal(vv_encrypt_classify(1, "filesystem xfs"), VV_ENC_XFS);
	assert_int_equal(vv_encrypt_classify(1, "crypto_LUKS (crypto)"), VV_ENC_LUKS);
	assert_int_equal(vv_encrypt_classify(1, "BitLocker (crypto)"), VV_ENC_BITLOCKER);
	assert_int_equal(vv_encrypt_classify(0, ""), VV_ENC_EMPTY);
	/* ext2/ext3 and look-alikes are not ext4: refused, not guessed at. */
	assert_int_equal(vv_encrypt_classify(1, "filesystem ext3"), VV_ENC_OTHER);
	assert_int_equal(vv_encrypt_classify(1, "filesystem ext4dev"), VV_ENC_OTHER);
	assert_int_equal(vv_encrypt_classify(1, "swap (other)"), VV_ENC_OTHER);
	assert_int_equal(vv_encrypt_classify(1, "partition table gpt"), VV_ENC_OTHER);
	assert_int_equal(vv_encrypt_classify(1, "several signatures"), VV_ENC_OTHER);
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8 & 0xff;
	p[2] = v >> 16 & 0xff;
	p[3] = v >> 24 & 0xff;
}

static void test_ext4_sb(void **state)
{
	unsigned char sb[1024] = { 0 };
	uint32_t bs;
	uint64_t n;

	(void)state;
	put32(sb + 0x04, 262144);
	put32(sb + 0x18, 2);	/* 1024 << 2 */
	assert_int_equal(vv_ext4_sb_parse(sb, sizeof(sb), &bs, &n), -EINVAL);	/* no magic */
	sb[0x38] = 0x53;
	sb[0x39] = 0xef;
	assert_int_equal(vv_ext4_sb_parse(sb, sizeof(sb), &bs, &n), 0);
	assert_int_equal(bs, 4096);
	assert_int_equal(n, 262144);
	/* The high half counts only with INCOMPAT_64BIT. */
	put32(sb + 0x150, 1);
	assert_int_equal(vv_ext4_sb_parse(sb, sizeof(sb), &bs, &n), 0);
	assert_int_equal(n, 262144);
	put32(sb + 0x60, 0x80);
	assert_int_equal(vv_ext4_sb_parse(sb, sizeof(sb), &bs, &n), 0);
	assert_true(n == (1ULL << 32) + 262144);
	put32(sb + 0x18, 7);	/* 128 KiB blocks: not ext4 */
	assert_int_equal(vv_ext4_sb_parse(sb, sizeof(sb), &bs, &n), -EINVAL);
	assert_int_equal(vv_ext4_sb_parse(sb, 100, &bs, &n), -EINVAL);	/* short */
}

static void test_target_size(void **state)
{
	(void)state;
	assert_true(vv_encrypt_target_size(256ULL << 20, 4096) == 224ULL << 20);
	/* Rounded down to whole blocks. */
	assert_true(vv_encrypt_target_size((256ULL << 20) + 1000, 4096) == 224ULL << 20);
	assert_true(vv_encrypt_target_size((256ULL << 20) + 5000, 4096) == (224ULL << 20) + 4096);
	assert_true(vv_encrypt_target_size(32ULL << 20, 4096) == 0);
	assert_true(vv_encrypt_target_size(1ULL << 20, 1024) == 0);
	assert_true(vv_encrypt_target_size(256ULL << 20, 0) == 0);
}

static void test_sector_size(void **state)
{
	(void)state;
	assert_int_equal(vv_encrypt_sector_size(4096, 4096), 4096);
	/* A 1 KiB-block ext4 keeps 1 KiB I/O: sectors no larger. */
	assert_int_equal(vv_encrypt_sector_size(4096, 1024), 1024);
	assert_int_equal(vv_encrypt_sector_size(4096, 2048), 2048);
	assert_int_equal(vv_encrypt_sector_size(512, 4096), 512);
	assert_int_equal(vv_encrypt_sector_size(4096, 65536), 4096);
}

static void test_progress_plain(void **state)
{
	struct vv_progress pg;
	const uint64_t total = 1000;

	(void)state;
	vv_progress_init(&pg, false);
	assert_true(vv_progress_due(&pg, 30, total, 100.0));	/* the first report */
	assert_false(vv_progress_due(&pg, 60, total, 101.0));	/* same 10 % step, 1 s */
	assert_true(vv_progress_due(&pg, 100, total, 102.0));	/* a new 10 % step */
	assert_false(vv_progress_due(&pg, 150, total, 106.9));
	assert_true(vv_progress_due(&pg, 160, total, 107.0));	/* 5 s since the last line */
	assert_true(vv_progress_due(&pg, 1000, total, 107.1));	/* the end, always */
	assert_false(vv_progress_due(&pg, 1000, total, 107.2));	/* but once */
}

static void test_progress_tty(void **state)
{
	struct vv_progress pg;

	(void)state;
	vv_progress_init(&pg, true);
	assert_true(vv_progress_due(&pg, 0, 100, 10.0));
	assert_false(vv_progress_due(&pg, 50, 100, 10.1));	/* not faster than 4/s */
	assert_true(vv_progress_due(&pg, 60, 100, 10.3));
	assert_true(vv_progress_due(&pg, 100, 100, 10.31));
}

static void test_progress_format(void **state)
{
	struct vv_progress pg;
	char buf[96];
	const uint64_t mib = 1ULL << 20;

	(void)state;
	vv_progress_init(&pg, false);
	vv_progress_due(&pg, 0, 1000 * mib, 0.0);
	assert_string_equal(vv_progress_format(&pg, 0, 1000 * mib, 0.0, buf, sizeof(buf)),
			    "  0.0% 0.0 MiB/s ETA -:--");
	/* 250 MiB in 2 s: 125 MiB/s, 750 MiB left: 6 s. */
	assert_string_equal(vv_progress_format(&pg, 250 * mib, 1000 * mib, 2.0, buf, sizeof(buf)),
			    " 25.0% 125.0 MiB/s ETA 0:06");
	assert_string_equal(vv_progress_format(&pg, 1000 * mib, 1000 * mib, 8.0, buf, sizeof(buf)),
			    "100.0% 125.0 MiB/s ETA 0:00");
	/* A resumed run: the rate counts only what this run did. */
	vv_progress_init(&pg, false);
	vv_progress_due(&pg, 500 * mib, 1000 * mib, 0.0);
	assert_string_equal(vv_progress_format(&pg, 600 * mib, 1000 * mib, 1.0, buf, sizeof(buf)),
			    " 60.0% 100.0 MiB/s ETA 0:04");
	/* Hours. */
	vv_progress_init(&pg, false);
	vv_progress_due(&pg, 0, 10000 * mib, 0.0);
	assert_string_equal(vv_progress_format(&pg, 1 * mib, 10000 * mib, 1.0, buf, sizeof(buf)),
			    "  0.0% 1.0 MiB/s ETA 2:46:39");
}

/* vv_encrypt on an image file: refused before the vault (NULL) is needed. */
static int encrypt_image(const char *what, uint64_t size, struct vv_error *err)
{
	char dir[] = "/tmp/vv-test-encrypt.XXXXXX", img[64], state[64];
	struct vv_provision_req req = { .secret = "keystore:unit-enc" };
	struct vv_encrypt_result res;
	int fd, r;

	assert_non_null(mkdtemp(dir));
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(state, sizeof(state), "%s/state", dir);
	fd = open(img, O_CREAT | O_RDWR, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
	if (!strcmp(what, "swap")) {
		char cmd[160];

		/* mkswap (util-linux, as libblkid) writes what libblkid recognises. */
		snprintf(cmd, sizeof(cmd), "mkswap -q %s >/dev/null 2>&1", img);
		assert_int_equal(system(cmd), 0);
	}
	req.device = img;
	req.state_dir = state;
	r = vv_encrypt(NULL, &req, NULL, NULL, &res, err);
	vv_provision_result_clear(&res.p);
	unlink(img);
	{
		char lock[96];

		snprintf(lock, sizeof(lock), "%s/header-change.lock", state);
		unlink(lock);
	}
	rmdir(state);
	rmdir(dir);
	return r;
}

static void test_refusals(void **state)
{
	struct vv_error err = { 0 };

	(void)state;
	assert_int_equal(encrypt_image("blank", 64 << 20, &err), -ENOENT);
	assert_non_null(strstr(err.message, "holds no filesystem: there is nothing to keep"));
	assert_non_null(strstr(err.remedy, "vaultvol provision"));
	assert_int_equal(encrypt_image("swap", 64 << 20, &err), -EOPNOTSUPP);
	assert_non_null(strstr(err.message, "encrypt knows how to keep ext4 only"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_ext4_sb),
		cmocka_unit_test(test_target_size),
		cmocka_unit_test(test_sector_size),
		cmocka_unit_test(test_progress_plain),
		cmocka_unit_test(test_progress_tty),
		cmocka_unit_test(test_progress_format),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests_name("encrypt", tests, NULL, NULL);
}
