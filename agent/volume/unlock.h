/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unlocking in two steps, for opening many volumes in parallel threads:
 *
 *   1. vv_unlock_load, then vv_unlock_volume_key: read the header, then
 *      run the key derivation (PBKDF2/argon2, the slow part) to get the
 *      volume key. The derivation involves no device-mapper, so threads
 *      may run it concurrently; it works on image files (tests).
 *   2. vv_unlock_activate: create the dm-crypt mapping from the volume key.
 *      libcryptsetup's device-mapper backend keeps process-wide state
 *      without locks (a use count that releases libdevmapper's control
 *      descriptor, moved by every crypt_init() and crypt_free(); a log
 *      context), so the caller serialises with one mutex every call that
 *      touches it: vv_unlock_load, vv_unlock_activate, vv_unlock_free,
 *      vv_crypt_*, vv_quiesce_*. Only vv_unlock_volume_key runs unlocked.
 *
 * This complements agent/volume/crypt.h (one-step vv_crypt_activate, which runs
 * the key derivation inside the device-mapper critical section) and maps
 * errors the same way (vv_crypt_strerror applies). It also supports the
 * detached LUKS headers older ADE setups use, and names BitLocker
 * protectors for error messages. Nothing here writes to a disk.
 */
#ifndef VV_UNLOCK_H
#define VV_UNLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/volume/crypt.h"
#include "base/secret.h"

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
 * recovery password), trying only keyslot (a token names it) or every
 * keyslot (-1). Returns the keyslot (>= 0; 0 for BitLocker) with *vk set,
 * -EPERM for a wrong key, other -errno.
 */
int vv_unlock_volume_key(struct vv_unlock *u, int keyslot, const struct vv_secret *key,
			 struct vv_secret **vk);

/*
 * Memory (KiB) the key derivation may need: the largest argon2 memory cost
 * among the keyslots it would try (keyslot, or all active ones for -1); 0
 * for PBKDF2, LUKS1 and BitLocker. Lets a caller keep parallel argon2 runs
 * within the machine's memory.
 */
unsigned long vv_unlock_kdf_memory_kb(struct vv_unlock *u, int keyslot);

/*
 * Activate the mapping name from a volume key (device-mapper: serialise).
 * flags are CRYPT_ACTIVATE_*. -EEXIST when a mapping of that name exists.
 */
int vv_unlock_activate(struct vv_unlock *u, const char *name,
		       const struct vv_secret *vk, uint32_t flags);

/*
 * LUKS2 with an encryption (reencryption) in progress, e.g. ADE's online
 * encryption (`cryptsetup reencrypt --encrypt --init-only`, then in the
 * background): such a volume activates only by passphrase, which lets
 * libcryptsetup build the mixed crypt/plain segment table; a volume key
 * alone cannot (vv_unlock_activate fails).
 */
bool vv_unlock_reencrypting(struct vv_unlock *u);

/* Check key against keyslot (-1 any) without activating: keyslot or -EPERM. */
int vv_unlock_check_passphrase(struct vv_unlock *u, int keyslot, const struct vv_secret *key);

/* Activate name by passphrase (device-mapper: serialise). -EEXIST as above. */
int vv_unlock_activate_passphrase(struct vv_unlock *u, const char *name, int keyslot,
				  const struct vv_secret *key, uint32_t flags);

/* Percent of the data already encrypted (0-100), -1 when not reencrypting. */
int vv_unlock_reencrypt_percent(struct vv_unlock *u);

/*
 * The same from LUKS2 metadata JSON (crypt_dump_json) and the data
 * device's size in bytes, for tests: the share of the data segments (not
 * backup-*) that are crypt segments. -1 when it cannot be told.
 */
int vv_luks2_encrypted_percent(const char *json, uint64_t dev_size);

/*
 * BitLocker: the protectors of the volume, as libcryptsetup describes them
 * ("smart card, recovery passphrase"). -ENOTSUP for other volume types.
 */
int vv_unlock_protectors(struct vv_unlock *u, char *buf, size_t len);

void vv_unlock_free(struct vv_unlock *u);

#endif
