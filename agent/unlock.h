/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unlocking in two steps, for opening many volumes in parallel threads:
 *
 *   1. vv_unlock_load + vv_unlock_volume_key: read the header and run the
 *      key derivation (PBKDF2/argon2, the slow part) to get the volume key.
 *      No device-mapper is involved, so threads may do this concurrently,
 *      and it works on image files (tests).
 *   2. vv_unlock_activate: create the dm-crypt mapping from the volume key.
 *      libcryptsetup's device-mapper backend keeps process-wide state
 *      without locks (a use count that releases libdevmapper's control
 *      descriptor, a log context), so the caller serialises every call
 *      that touches device-mapper (this one, vv_crypt_is_active,
 *      vv_crypt_deactivate, vv_quiesce_*) with one mutex.
 *
 * This complements agent/crypt.h (one-step vv_crypt_activate, which runs
 * the key derivation inside the device-mapper critical section) and maps
 * errors the same way (vv_crypt_strerror applies). It also supports the
 * detached LUKS headers older ADE setups use, and names BitLocker
 * protectors for error messages. Nothing here writes to a disk.
 */
#ifndef VV_UNLOCK_H
#define VV_UNLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "agent/crypt.h"
#include "vault/secret.h"

struct vv_unlock;

/*
 * Load the header of device (or of header, a detached LUKS header file,
 * when not NULL). -EINVAL: no usable header (damaged / not encrypted),
 * -ENOENT: device missing. info (may be NULL) gets type and UUID.
 */
int vv_unlock_load(const char *device, const char *header, struct vv_unlock **out,
		   struct vv_crypt_info *info);

/*
 * Derive the volume key with key (passphrase, .BEK file bytes or BitLocker
 * recovery password). Returns the keyslot (>= 0; 0 for BitLocker) with *vk
 * set, -EPERM for a wrong key, other -errno.
 */
int vv_unlock_volume_key(struct vv_unlock *u, const struct vv_secret *key,
			 struct vv_secret **vk);

/*
 * Activate the mapping name from a volume key (device-mapper: serialise).
 * flags are CRYPT_ACTIVATE_*. -EEXIST when a mapping of that name exists.
 */
int vv_unlock_activate(struct vv_unlock *u, const char *name,
		       const struct vv_secret *vk, uint32_t flags);

/*
 * BitLocker: the protectors of the volume, as libcryptsetup describes them
 * ("smart card, recovery passphrase"). -ENOTSUP for other volume types.
 */
int vv_unlock_protectors(struct vv_unlock *u, char *buf, size_t len);

void vv_unlock_free(struct vv_unlock *u);

#endif
