/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one place that talks to libcryptsetup for opening volumes: probe the
 * header, check a key, activate and deactivate. Everything that opens a
 * volume (open, provision, rotate, the token plugin) goes through here, so
 * error meanings are mapped once.
 */
#ifndef VV_CRYPT_H
#define VV_CRYPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/secret.h"

enum vv_vol_type { VV_VOL_UNKNOWN = 0, VV_VOL_LUKS1, VV_VOL_LUKS2, VV_VOL_BITLK };

const char *vv_vol_type_str(enum vv_vol_type t);

struct vv_crypt_info {
	enum vv_vol_type type;
	char uuid[64];		/* LUKS UUID or BitLocker volume GUID */
	char cipher[64];	/* e.g. aes-xts-plain64 */
	uint64_t data_offset;	/* sectors */
	uint64_t size;		/* device size in sectors */
};

/* Read the header without changing anything. -EINVAL: no usable header. */
int vv_crypt_probe(const char *device, struct vv_crypt_info *info);

/*
 * Check that key opens the volume without activating it (works on image
 * files, without device-mapper). Returns the keyslot (>= 0) or -EPERM
 * for a wrong key, -EINVAL for a bad header, other -errno.
 */
int vv_crypt_check_key(const char *device, const struct vv_secret *key);

/*
 * Activate device as /dev/mapper/name with key. flags are CRYPT_ACTIVATE_*.
 * Returns the keyslot used (LUKS) or 0 (BitLocker), -EEXIST when a mapping
 * of that name already exists, -EPERM wrong key, other -errno.
 */
int vv_crypt_activate(const char *device, const char *name,
		      const struct vv_secret *key, uint32_t flags);

/* Remove the mapping. -ENODEV when it does not exist. */
int vv_crypt_deactivate(const char *name);

/* Is a mapping active; if so and dev_out is given, its underlying device. */
bool vv_crypt_is_active(const char *name, char *dev_out, size_t dev_len);

/* A short human explanation of a vv_crypt_* error for messages. */
const char *vv_crypt_strerror(int err);

#endif
