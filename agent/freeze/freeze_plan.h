/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Which filesystems a snapshot freezes, and in what order. Pure: reads a
 * mountinfo file and a sysfs tree (both paths can point at a test copy),
 * changes nothing.
 *
 * - Candidates: mounted ext3/ext4/xfs/btrfs. tmpfs and every other type are
 *   not frozen; excluded mount points and the Azure resource disk are
 *   skipped with the reason recorded.
 * - One entry per superblock: bind mounts (same st_dev) and several mounts
 *   of one btrfs (same source) are frozen once, through a mount point that
 *   is not hidden under another mount.
 * - Dependencies: a filesystem whose block device is (or is stacked on) a
 *   loop device must freeze BEFORE the filesystem holding the loop's
 *   backing file, or its freeze-time sync blocks on the frozen parent. The
 *   stack is walked through /sys/dev/block/M:m, slaves/ and
 *   loop/backing_file.
 * - Waves: wave 0 has no dependency; wave k freezes after waves < k.
 *   Members of one wave are independent and freeze in parallel. `/` always
 *   goes alone in the last wave. Thaw runs the waves in reverse.
 */
#ifndef VV_FREEZE_PLAN_H
#define VV_FREEZE_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* One device-mapper layer under a filesystem (outermost first). */
struct vv_fs_layer {
	char *kname;		/* kernel name: dm-1, vda, loop0 */
	char *dm_name;		/* /dev/mapper name, NULL when not dm */
	char *dm_uuid;		/* e.g. CRYPT-LUKS2-<uuid>-data, NULL when not dm */
	char *backing_file;	/* loop devices: the file, NULL otherwise */
	bool partition;		/* a partition (its disk follows it) */
	bool leaf;		/* a disk: sits on nothing else we can see */
};

struct vv_fs {
	char *target;		/* mount point used to freeze it */
	char *source;		/* device as mounted */
	char *fstype;
	int mount_id;
	dev_t devno;		/* st_dev of the superblock */
	unsigned n_mounts;	/* mounts of this superblock (bind mounts) */
	int wave;
	/* Filesystems (indices into plan->fs) that must freeze before this. */
	size_t *before;
	size_t n_before;
	/* Block device stack, top first; leaves are the disks. */
	struct vv_fs_layer *layers;
	size_t n_layers;
};

struct vv_fs_skip {
	char *target;
	char *fstype;
	char *reason;
};

struct vv_freeze_plan {
	struct vv_fs *fs;	/* sorted by wave, then mount order */
	size_t n;
	int n_waves;
	struct vv_fs_skip *skipped;
	size_t n_skipped;
};

struct vv_plan_opts {
	const char *mountinfo;		/* NULL: /proc/self/mountinfo */
	const char *sysfs;		/* NULL: /sys */
	const char *const *exclude;	/* mount points or fnmatch patterns */
	size_t n_exclude;
	const dev_t *resource_devs;	/* devices of the resource disk */
	size_t n_resource_devs;
};

/* 0 and *plan filled, or -errno (mountinfo unreadable, no memory). */
int vv_freeze_plan_build(const struct vv_plan_opts *o, struct vv_freeze_plan *plan);
void vv_freeze_plan_free(struct vv_freeze_plan *plan);

/* Is this filesystem type one we freeze? */
bool vv_freeze_fstype_ok(const char *fstype);

/*
 * Devices of the Azure resource (temporary) disk as seen under devroot
 * (NULL: /dev): /dev/disk/azure/resource{,-part1},
 * /dev/disk/cloud/azure_resource{,-part1}, and (real /dev only) the
 * filesystems labelled "ephemeral0" (cloud-init) or "Temporary Storage"
 * (libblkid). Returns how many were found (at most max).
 */
size_t vv_freeze_resource_devs(const char *devroot, dev_t *out, size_t max);

#endif
