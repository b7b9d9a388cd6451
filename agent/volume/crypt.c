// SPDX-License-Identifier: GPL-2.0-or-later
#include "agent/volume/crypt.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libcryptsetup.h>

#include "agent/volume/unlock.h"

const char *vv_vol_type_str(enum vv_vol_type t)
{
	switch (t) {
	case VV_VOL_LUKS1: return "LUKS1";
	case VV_VOL_LUKS2: return "LUKS2";
	case VV_VOL_BITLK: return "BitLocker";
	default: return "unknown";
	}
}

/*
 * The one-step operations are the two-step unlock (agent/volume/unlock.c) run
 * back to back, so reading a header, deriving a key and mapping errors
 * live in one place.
 */
int vv_crypt_probe(const char *device, struct vv_crypt_info *info)
{
	struct vv_unlock *u = NULL;
	int r;

	r = vv_unlock_load(device, NULL, &u, info);
	vv_unlock_free(u);
	return r;
}

int vv_crypt_check_key(const char *device, const struct vv_secret *key)
{
	struct vv_unlock *u = NULL;
	struct vv_secret *vk = NULL;
	int r;

	r = vv_unlock_load(device, NULL, &u, NULL);
	if (r == 0)
		r = vv_unlock_volume_key(u, -1, key, &vk);
	vv_secret_free(vk);
	vv_unlock_free(u);
	return r;
}

int vv_crypt_activate(const char *device, const char *name,
		      const struct vv_secret *key, uint32_t flags)
{
	struct vv_unlock *u = NULL;
	struct vv_secret *vk = NULL;
	int r, slot;

	if (crypt_status(NULL, name) != CRYPT_INACTIVE)
		return -EEXIST;
	r = vv_unlock_load(device, NULL, &u, NULL);
	if (r < 0)
		goto out;
	r = slot = vv_unlock_volume_key(u, -1, key, &vk);
	if (r < 0)
		goto out;
	r = vv_unlock_activate(u, name, vk, flags);
	if (r >= 0)
		r = slot;
out:
	vv_secret_free(vk);
	vv_unlock_free(u);
	return r;
}

int vv_crypt_deactivate(const char *name)
{
	crypt_status_info st = crypt_status(NULL, name);

	if (st == CRYPT_INACTIVE || st == CRYPT_INVALID)
		return -ENODEV;
	return crypt_deactivate(NULL, name);
}

bool vv_crypt_is_active(const char *name, char *dev_out, size_t dev_len)
{
	struct crypt_device *cd = NULL;
	crypt_status_info st = crypt_status(NULL, name);

	if (st != CRYPT_ACTIVE && st != CRYPT_BUSY)
		return false;
	if (dev_out && dev_len) {
		dev_out[0] = '\0';
		if (crypt_init_by_name(&cd, name) == 0) {
			const char *d = crypt_get_device_name(cd);

			snprintf(dev_out, dev_len, "%s", d ? d : "");
			crypt_free(cd);
		}
	}
	return true;
}

const char *vv_crypt_strerror(int err)
{
	switch (err) {
	case -EPERM: return "wrong key (no keyslot accepts it)";
	case -EINVAL: return "no usable LUKS or BitLocker header (damaged, truncated or not encrypted)";
	case -ENOENT: return "device not found";
	case -EEXIST: return "a mapping of that name already exists";
	case -EBUSY: return "device is busy (already open or in use)";
	case -ENOTSUP: return "unsupported volume or protector";
	case -ENOMEM: return "out of memory";
	default: return strerror(-err);
	}
}
