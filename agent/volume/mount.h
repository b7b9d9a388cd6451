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

#include "base/error.h"

/* vv_mount_volume flags */
#define VV_MOUNT_READONLY	0x1	/* add "ro" (and drop any "rw"): read-only must win */
/*
 * The mount point, filesystem or options came from the disk (its vaultvol
 * token), which anyone who can write the disk's bytes writes: the
 * filesystem must pass vv_mount_fs_allowed (also when detected), libmount
 * runs no /sbin/mount.TYPE helper, and the mount point must be empty.
 */
#define VV_MOUNT_UNTRUSTED	0x2

/* A failed mount helper's (ntfs-3g's) output kept in the error: all of it, up to this. */
#define VV_MOUNT_HELPER_OUT_MAX	4096

/*
 * Mount block device dev on target. Missing directories of target are
 * created with mode 0755 one component at a time without following
 * symlinks; an existing target must be reached without symlinks too.
 * fs NULL or "" or "auto": detected with libblkid; "ntfs" and "ntfs-3g" go
 * through ntfs-3g. options: comma-separated mount options (NULL or "" =
 * defaults); "nosuid" and "nodev" are added unless options say "suid" or
 * "dev".
 *
 * Returns 0 when mounted now, 1 when dev was already mounted on target (left
 * alone: idempotent), -EBUSY when target already has another filesystem or
 * dev is mounted elsewhere, -ENOTEMPTY when an untrusted target is not
 * empty, -EMEDIUMTYPE for an untrusted filesystem type, -ELOOP when target
 * involves a symlink, -errno otherwise; err gets a one-line reason.
 */
int vv_mount_volume(const char *dev, const char *target, const char *fs,
		    const char *options, unsigned flags, struct vv_error *err);

/* Filesystems a token may name (or a token volume may hold): ext4, xfs, btrfs, vfat, ntfs, ntfs3. */
bool vv_mount_fs_allowed(const char *fs);

/*
 * Options a token asks for, parsed with libmount: the generic VFS ones
 * (ro, noatime, nosuid, ...) and a fixed list of filesystem ones (discard,
 * errors=, compress=, uid=, umask=, ...); "suid", "dev" and "exec" only when
 * allowed (VV_TOKOPT_* of agent/config/config.h). Anything else (bind, remount,
 * x-* and helper options, journal_path=, ...) is refused. 0, or -EPERM /
 * -EINVAL with the refused option named in why.
 */
int vv_mount_options_check(const char *options, unsigned allowed, char *why, size_t whylen);

/*
 * The option string vv_mount_volume passes on (*out malloc'ed): "defaults"
 * dropped; with readonly "ro" first and any "rw"/"ro" removed, since
 * read-only is a safety setting that must win; "nosuid" and "nodev"
 * appended unless the options say "suid"/"nosuid" or "dev"/"nodev"
 * (every vaultvol mount defaults to both). 0 or -ENOMEM.
 */
int vv_mount_options_build(const char *options, bool readonly, char **out);

/*
 * Open the directory target (O_RDONLY|O_DIRECTORY|O_CLOEXEC), creating
 * missing components with mode 0755 whatever the umask, without following
 * a symlink anywhere: a symlink planted on the way (/data -> /etc) is
 * -ELOOP, a file -ENOTDIR, a "." or ".." component -EINVAL. fd or -errno.
 */
int vv_mount_point_open(const char *target);
/*
 * What vv_mount_point_open falls back to when a component is missing or
 * openat2 is not available: one component at a time, mkdirat + openat
 * with O_NOFOLLOW. The same contract (tests run both).
 */
int vv_mount_point_walk(const char *target);

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
int vv_umount(const char *target, struct vv_error *err);

#endif
