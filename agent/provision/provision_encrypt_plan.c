// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * encrypt's decisions that need no device: what a probe answer means, the
 * ext4 superblock fields, the size to shrink to, the sector size.
 */
#include "agent/provision/provision.h"

#include <errno.h>
#include <string.h>

enum vv_encrypt_kind vv_encrypt_classify(int probe_r, const char *what)
{
	if (probe_r == 0 || !what || !*what)
		return VV_ENC_EMPTY;
	if (!strcmp(what, "filesystem ext4"))
		return VV_ENC_EXT4;
	if (!strcmp(what, "filesystem xfs"))
		return VV_ENC_XFS;
	/* vv_probe_content's words for libblkid's crypto types. */
	if (!strncmp(what, "crypto_LUKS ", 12))
		return VV_ENC_LUKS;
	if (!strncmp(what, "BitLocker ", 10))
		return VV_ENC_BITLOCKER;
	return VV_ENC_OTHER;
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int vv_ext4_sb_parse(const unsigned char *sb, size_t len, uint32_t *block_size,
		     uint64_t *blocks)
{
	uint32_t log;

	if (len < 0x158 || sb[0x38] != 0x53 || sb[0x39] != 0xef)
		return -EINVAL;
	log = le32(sb + 0x18);
	if (log > 6)	/* 1 KiB .. 64 KiB */
		return -EINVAL;
	*block_size = 1024u << log;
	*blocks = le32(sb + 0x04);
	/* INCOMPAT_64BIT: the high half of the block count is valid. */
	if (le32(sb + 0x60) & 0x80)
		*blocks |= (uint64_t)le32(sb + 0x150) << 32;
	return *blocks ? 0 : -EINVAL;
}

uint64_t vv_encrypt_target_size(uint64_t dev_size, uint32_t fs_block)
{
	uint64_t t;

	if (!fs_block || dev_size <= VV_ENCRYPT_SHRINK)
		return 0;
	t = dev_size - VV_ENCRYPT_SHRINK;
	return t - t % fs_block;
}

uint32_t vv_encrypt_sector_size(uint32_t dev_choice, uint32_t fs_block)
{
	uint32_t s = dev_choice;

	while (s > 512 && s > fs_block)
		s /= 2;
	return s;
}
