/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Re-encrypting the Azure resource disk the way ADE does (ResourceDiskUtil:
 * luksFormat with the BEK volume's passphrase, mapper resourceencrypt,
 * ext4, mounted at its fstab mount point). A restore or redeploy gives the
 * VM a new, empty and unencrypted resource disk; it is temporary storage and
 * holds nothing to keep. open_plan.c decides that a disk is one (ADE's state
 * AND the platform's udev link); this file only does the work.
 */
#ifndef VV_RESOURCE_DISK_H
#define VV_RESOURCE_DISK_H

#include <stddef.h>

#include "base/error.h"
#include "base/secret.h"

/*
 * Refuse a device in use (mounted, held by device-mapper or swap: an
 * exclusive open fails), format it LUKS2 with pass in one keyslot, activate
 * it as name and make an ext4 filesystem on /dev/mapper/name. uuid (64
 * bytes) gets the new LUKS UUID. 0, or -errno with a message in err.
 * Device-mapper work inside: the caller serialises as for vv_unlock_*.
 */
int vv_resource_disk_format(const char *device, const char *name, const struct vv_secret *pass,
			    char *uuid, size_t uuidlen, struct vv_error *err);

/* mkfs.ext4 on dev (no device-mapper; may run unserialised). */
int vv_resource_disk_mkfs(const char *dev, struct vv_error *err);

#endif
