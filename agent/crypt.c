// SPDX-License-Identifier: GPL-2.0-or-later
#include "agent/crypt.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libcryptsetup.h>

#include "vault/log.h"

/* libcryptsetup's own messages (never key material) at debug level. */
static void vv_crypt_log(int level, const char *msg, void *usrptr)
{
	size_t n = strlen(msg);

	(void)usrptr;
	if (n && msg[n - 1] == '\n')
		n--;
	if (level == CRYPT_LOG_ERROR)
		vv_debug("libcryptsetup: %.*s", (int)n, msg);
	else if (level != CRYPT_LOG_DEBUG && level != CRYPT_LOG_DEBUG_JSON)
		vv_debug("libcryptsetup: %.*s", (int)n, msg);
}

const char *vv_vol_type_str(enum vv_vol_type t)
{
	switch (t) {
	case VV_VOL_LUKS1: return "LUKS1";
	case VV_VOL_LUKS2: return "LUKS2";
	case VV_VOL_BITLK: return "BitLocker";
	default: return "unknown";
	}
}

/* Load whatever header the device has (LUKS1, LUKS2 or BitLocker). */
static int load_any(const char *device, struct crypt_device **out)
{
	struct crypt_device *cd = NULL;
	int r;

	crypt_set_log_callback(NULL, vv_crypt_log, NULL);
	r = crypt_init(&cd, device);
	if (r < 0)
		return r;
	crypt_set_log_callback(cd, vv_crypt_log, NULL);
	r = crypt_load(cd, CRYPT_LUKS, NULL);
	if (r < 0)
		r = crypt_load(cd, CRYPT_BITLK, NULL);
	if (r < 0) {
		crypt_free(cd);
		return r == -ENOENT ? -ENOENT : -EINVAL;
	}
	*out = cd;
	return 0;
}

static enum vv_vol_type type_of(struct crypt_device *cd)
{
	const char *t = crypt_get_type(cd);

	if (!t)
		return VV_VOL_UNKNOWN;
	if (!strcmp(t, CRYPT_LUKS2))
		return VV_VOL_LUKS2;
	if (!strcmp(t, CRYPT_LUKS1))
		return VV_VOL_LUKS1;
	if (!strcmp(t, CRYPT_BITLK))
		return VV_VOL_BITLK;
	return VV_VOL_UNKNOWN;
}

int vv_crypt_probe(const char *device, struct vv_crypt_info *info)
{
	struct crypt_device *cd = NULL;
	const char *s;
	int r;

	memset(info, 0, sizeof(*info));
	r = load_any(device, &cd);
	if (r < 0)
		return r;
	info->type = type_of(cd);
	s = crypt_get_uuid(cd);
	snprintf(info->uuid, sizeof(info->uuid), "%s", s ? s : "");
	snprintf(info->cipher, sizeof(info->cipher), "%s-%s",
		 crypt_get_cipher(cd) ? crypt_get_cipher(cd) : "?",
		 crypt_get_cipher_mode(cd) ? crypt_get_cipher_mode(cd) : "?");
	info->data_offset = crypt_get_data_offset(cd);
	crypt_free(cd);
	return 0;
}

int vv_crypt_check_key(const char *device, const struct vv_secret *key)
{
	struct crypt_device *cd = NULL;
	int r;

	r = load_any(device, &cd);
	if (r < 0)
		return r;
	/* A NULL name only verifies the key: nothing is activated. */
	r = crypt_activate_by_passphrase(cd, NULL, CRYPT_ANY_SLOT,
					 (const char *)key->data, key->len, 0);
	crypt_free(cd);
	return r;
}

int vv_crypt_activate(const char *device, const char *name,
		      const struct vv_secret *key, uint32_t flags)
{
	struct crypt_device *cd = NULL;
	int r;

	if (crypt_status(NULL, name) != CRYPT_INACTIVE)
		return -EEXIST;
	r = load_any(device, &cd);
	if (r < 0)
		return r;
	r = crypt_activate_by_passphrase(cd, name, CRYPT_ANY_SLOT,
					 (const char *)key->data, key->len, flags);
	crypt_free(cd);
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
