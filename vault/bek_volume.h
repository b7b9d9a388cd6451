/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The platform's "BEK VOLUME": a small vfat disk (LUN 3 on SCSI controller 0
 * in Azure, partition 1) holding one file per encrypted volume:
 *   LinuxPassPhraseFileName            OS disk passphrase (raw bytes)
 *   LinuxPassPhraseFileName_<c>_<lun>  data disk on controller c, LUN lun
 *   <GUID>.BEK                         BitLocker startup key (Windows)
 * The files hold the key itself: no base64, no wrapping.
 *
 * Reading it: libblkid finds the filesystem by label, libmount mounts it
 * read-only, nosuid/nodev/noexec, fmask/dmask 077, with private propagation
 * on a fresh 0700 directory under /run/vaultvol; the file is read into a
 * vv_secret, then the volume is unmounted and the directory removed.
 *
 * The mount-free parts (name checks, picking the file, reading it from a
 * directory) are separate so they can be tested without a block device.
 */
#ifndef VV_BEK_VOLUME_H
#define VV_BEK_VOLUME_H

#include <stdbool.h>
#include <stddef.h>

#include "vault/vault.h"

#define VV_BEK_VOLUME_LABEL "BEK VOLUME"
#define VV_BEK_RUN_DIR "/run/vaultvol"
#define VV_BEK_OS_FILE "LinuxPassPhraseFileName"
/* want value that selects the one BitLocker startup key on the volume */
#define VV_BEK_ANY_BEK "*.BEK"

/* A plain file name (no '/', not "." or "..", 1-255 bytes, no control chars). */
bool vv_bek_file_name_valid(const char *name);
/* True when name ends in ".BEK" (any case): BitLocker startup key bytes. */
bool vv_bek_file_is_windows(const char *name);

/*
 * The ADE file name for a disk: LinuxPassPhraseFileName for the OS disk
 * (controller < 0), LinuxPassPhraseFileName_<controller>_<lun> otherwise.
 */
int vv_bek_file_name_for(int controller, int lun, char *buf, size_t len);

/*
 * Choose the file for want in the directory dirfd:
 *   NULL or ""   LinuxPassPhraseFileName
 *   "*.BEK"      the only *.BEK file (CONFIG error when there are several)
 *   anything else: that name
 * Names match regardless of case, as vfat itself does. The name found is
 * copied to found. NOT_FOUND when nothing matches.
 */
int vv_bek_volume_pick(int dirfd, const char *want, char *found, size_t foundlen,
		       struct vv_error *err);

/* Pick and read from an already-mounted (or any) directory. */
int vv_bek_volume_read_dir(const char *dir, const char *want,
			   struct vv_secret **key, char **found_name,
			   struct vv_error *err);

/*
 * A fresh low-level probe (no cache) of dev, a block device or an image
 * file: true when it carries a vfat filesystem labelled exactly label.
 */
bool vv_bek_volume_probe(const char *dev, const char *label);

/*
 * The one device among devs (n of them, each a confirmed vfat filesystem
 * labelled label): NOT_FOUND when none; CONFIG (-ENOTUNIQ) naming two of
 * them when there are several, never the first one found.
 */
int vv_bek_volume_choose(char *const *devs, size_t n, const char *label, char **devname,
			 struct vv_error *err);

/*
 * The device holding the vfat filesystem labelled label (default
 * "BEK VOLUME"), found with libblkid and confirmed by probing it; two such
 * filesystems are refused (vv_bek_volume_choose).
 */
int vv_bek_volume_find(const char *label, char **devname, struct vv_error *err);

/*
 * All of it: find, mount privately under /run/vaultvol, read, unmount,
 * remove the mount point. device (may be NULL) gets the device path.
 * When the volume is mounted already (ADE's fstab line mounts it at
 * /mnt/azure_bek_disk), the file is read through that mount instead,
 * after checking it is this device's vfat filesystem. A mount failure is
 * a CONFIG cause (a disk matter), never UNAVAILABLE.
 */
int vv_bek_volume_read(const char *label, const char *want,
		       struct vv_secret **key, char **found_name, char **device,
		       struct vv_error *err);

#endif
