/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Mounting an opened volume through libmount, and asking whether something
 * is mounted. Used by `vaultvol open/close` and by provisioning.
 *
 * NTFS (BitLocker volumes made by Windows) is mounted by executing ntfs-3g
 * directly: libmount would need a /sbin/mount.ntfs-3g helper, which minimal
 * systems (and the test guest) do not have, and the kernel's ntfs3 driver is
 * not what users of these volumes expect.
 */
#ifndef VV_MOUNT_H
#define VV_MOUNT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Mount block device dev on target (created with mode 0755, parents too,
 * when missing). fs NULL or "" or "auto": detected with libblkid; "ntfs" and
 * "ntfs-3g" go through ntfs-3g. options: comma-separated mount options (NULL
 * or "" = defaults); readonly adds "ro".
 *
 * Returns 0 when mounted now, 1 when dev was already mounted on target (left
 * alone: idempotent), -EBUSY when target already has another filesystem or
 * dev is mounted elsewhere, -errno otherwise; err gets a one-line reason.
 */
int vv_mount_volume(const char *dev, const char *target, const char *fs,
		    const char *options, bool readonly, char *err, size_t errlen);

/*
 * True when path is mounted: a block device (by device number or, for FUSE
 * mounts such as ntfs-3g, by source path) or a mount point.
 */
bool vv_mount_is_mounted(const char *path);

/*
 * Where block device dev is mounted: 0 and the (first) mount point copied to
 * target, -ENOENT when it is not mounted.
 */
int vv_mount_find(const char *dev, char *target, size_t len);

/* The filesystem type libblkid finds on dev: 0, or -ENOENT when none. */
int vv_mount_detect_fs(const char *dev, char *fs, size_t len);

/* Unmount target. 0, -ENOENT when nothing is mounted there, -errno. */
int vv_umount(const char *target, char *err, size_t errlen);

#endif
