/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The ext4 half of encrypt (provision_encrypt_ext4.c), for provision_encrypt.c. */
#ifndef VV_PROVISION_ENCRYPT_H
#define VV_PROVISION_ENCRYPT_H

#include <stdint.h>

#include "agent/provision/provision.h"
#include "base/error.h"

/* device's ext4 block size and block count from its superblock. -errno. */
int pe_ext4_read_sb(const char *device, uint32_t *block_size, uint64_t *blocks);

/* resize2fs -P: the smallest the filesystem can get, in bytes. Read-only. */
int pe_ext4_min_size(const char *device, uint32_t block_size, uint64_t *min_bytes,
		     struct vv_error *err);

/* e2fsck -f -p, then resize2fs to target bytes. */
int pe_ext4_shrink(const char *device, uint64_t target, struct vv_error *err);

#endif
