/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Finding encrypted volumes: every block device is probed with libblkid
 * (read-only); LUKS1, LUKS2 and BitLocker ones are read with libcryptsetup
 * for their UUID / volume GUID and, on LUKS2, the vaultvol token. Each
 * device also gets the names that survive a restore: its Azure LUN (from
 * the /dev/disk/azure/scsi1/lun<N>[-part<M>] links) and every stable
 * /dev/disk/... link that points at it.
 *
 * Matching a volume description to a device is pure (no I/O) so it can be
 * tested: by LUKS UUID, LUN, stable path or BitLocker GUID. Two devices
 * with the same UUID are ambiguous (a cloned disk attached twice): matching
 * refuses and names both, rather than opening one at random.
 */
#ifndef VV_DISCOVER_H
#define VV_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "agent/config/config.h"
#include "agent/volume/crypt.h"
#include "agent/volume/luks2_token.h"

struct vv_blockdev {
	char *path;		/* /dev/vdb, /dev/sdc1, or an image file (tests) */
	dev_t devno;		/* 0 for image files */
	enum vv_vol_type type;	/* VV_VOL_UNKNOWN: no usable LUKS/BitLocker header */
	char blkid_type[32];	/* what libblkid saw: crypto_LUKS, BitLocker, ext4, "" */
	int probe_rc;		/* vv_crypt_probe result: 0, or -EINVAL (damaged) */
	char probe_reason[VV_CRYPT_REASON_MAX];	/* probe failed: libcryptsetup's words */
	char uuid[64];		/* LUKS UUID or BitLocker GUID, lower case */
	int lun;		/* Azure data disk LUN, -1 when none */
	int part;		/* partition number with lun, 0 = whole disk */
	char **links;		/* stable /dev/disk/... names of this device */
	size_t nlinks;
	int token_rc;		/* vv_token_read: 0, -ENOENT (none), -EINVAL (bad) */
	struct vv_token token;	/* valid when token_rc == 0 */
};

struct vv_disks {
	struct vv_blockdev *dev;
	size_t n;
};

struct vv_discover_opts {
	const char *sys_block;	/* default /sys/class/block */
	const char *dev_dir;	/* default /dev (device nodes, /dev/disk links) */
	const char *lun_dir;	/* default <dev_dir>/disk/azure/scsi1 */
};

/*
 * Probe every block device (opts NULL: the defaults). Devices that cannot
 * be opened (empty CD drives, ...) are skipped. Returns 0 or -errno.
 */
int vv_discover_scan(const struct vv_discover_opts *opts, struct vv_disks *out);

/*
 * Probe one device or image file and append it (every readable device is
 * kept, so a LUN or path match can say "present but not encrypted"):
 * 1 when it has a LUKS or BitLocker signature, 0 when not, -errno.
 */
int vv_discover_add(struct vv_disks *d, const char *path);

void vv_disks_free(struct vv_disks *d);

/*
 * The device a match names. UUID and GUID matches consider only devices
 * with a LUKS/BitLocker signature. 0 with *idx set; -ENOENT when none;
 * -ENOTUNIQ when two devices carry the same UUID/GUID (*idx and *other are
 * the first two); -EINVAL for a match kind that cannot be resolved.
 * VV_MATCH_DEVNAME compares the kernel name as given (callers decide
 * whether to trust it).
 */
int vv_discover_match(const struct vv_disks *d, const struct vv_match *m,
		      size_t *idx, size_t *other);

#endif
