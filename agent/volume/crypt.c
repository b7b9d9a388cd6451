// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unlocking: the two-step vv_unlock_* (header, then key derivation, then
 * mapping) and the one-step vv_crypt_* built on it, so reading a header,
 * deriving a key and mapping errors live in one place. Also the one
 * libcryptsetup log callback every file of agent/volume/ uses.
 */
#include "agent/volume/crypt.h"
#include "agent/volume/crypt_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/volume/quiesce.h"
#include "base/log.h"

/* Larger than any volume key libcryptsetup supports (512-bit XTS = 64 B). */
#define VV_VK_MAX 256

/* Our flags are libcryptsetup's bits, passed through unchanged. */
_Static_assert(VV_CRYPT_READONLY == CRYPT_ACTIVATE_READONLY, "VV_CRYPT_READONLY");

void vv_crypt_log(int level, const char *msg, void *usrptr)
{
	size_t n = strlen(msg);

	(void)usrptr;
	if (level == CRYPT_LOG_DEBUG || level == CRYPT_LOG_DEBUG_JSON)
		return;
	if (n && msg[n - 1] == '\n')
		n--;
	vv_debug("libcryptsetup: %.*s", (int)n, msg);
}

/* Append msg (one message, newline dropped) to a bounded "; "-separated list. */
static void reason_add(char *reason, size_t len, const char *msg, size_t n)
{
	size_t used = strlen(reason);

	if (used + (used ? 2 : 0) + n >= len)
		return;	/* bounded: the first messages are the cause, later ones follow from it */
	snprintf(reason + used, len - used, "%s%.*s", used ? "; " : "", (int)n, msg);
}

/* libcryptsetup's debug lines that tell what a BitLocker header says. */
static void bitlk_facts(struct vv_unlock *u, const char *msg)
{
	char type[sizeof(u->bitlk_type)];
	int cur, next;

	if (sscanf(msg, "BITLK type from GUID: %31[^.\n]", type) == 1)
		snprintf(u->bitlk_type, sizeof(u->bitlk_type), "%s", type);
	else if (sscanf(msg, "Unknown/unsupported state detected. Current state: %d, next state: %d",
			&cur, &next) == 2) {
		u->bitlk_state[0] = cur;
		u->bitlk_state[1] = next;
	}
}

void vv_unlock_log(int level, const char *msg, void *usrptr)
{
	struct vv_unlock *u = usrptr;
	size_t n = strlen(msg);

	if (n && msg[n - 1] == '\n')
		n--;
	if (level == CRYPT_LOG_ERROR && n)
		reason_add(u->reason, sizeof(u->reason), msg, n);
	else if (level == CRYPT_LOG_DEBUG && u->type == VV_VOL_UNKNOWN)
		bitlk_facts(u, msg);
	vv_crypt_log(level, msg, NULL);
}

const char *vv_unlock_reason(const struct vv_unlock *u)
{
	return u->reason;
}

void vv_crypt_quiet(void)
{
	crypt_set_log_callback(NULL, vv_crypt_log, NULL);
}

/*
 * libcryptsetup's lock directory: its build's --with-luks2-lock-path, which
 * is /run/cryptsetup on Debian, Ubuntu, Fedora and RHEL (upstream's default).
 * The library does not say which one it was built with.
 */
#define VV_CRYPT_LOCK_DIR "/run/cryptsetup"

void vv_crypt_locks_check(void)
{
	int fd, e;

	/* libcryptsetup makes it 0700 when missing; so do we, or learn why not. */
	if (mkdir(VV_CRYPT_LOCK_DIR, 0700) < 0 && errno != EEXIST) {
		e = errno;
	} else {
		fd = open(VV_CRYPT_LOCK_DIR, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (fd >= 0) {
			close(fd);
			return;
		}
		e = errno;
	}
	if (e != EROFS && e != ENOSPC && e != EDQUOT)
		return;
	vv_warn("%s cannot hold libcryptsetup's header locks (%s); reading headers "
		"without them (remount /run read-write or free space there)",
		VV_CRYPT_LOCK_DIR, strerror(e));
	crypt_metadata_locking(NULL, 0);
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
	case -ENXIO: return "device-mapper is not available (load dm_mod and dm_crypt)";
	default: return strerror(-err);
	}
}

/* ---- two steps ----------------------------------------------------------- */

static enum vv_vol_type type_of(struct crypt_device *cd)
{
	const char *t = crypt_get_type(cd);

	if (t && !strcmp(t, CRYPT_LUKS2))
		return VV_VOL_LUKS2;
	if (t && !strcmp(t, CRYPT_LUKS1))
		return VV_VOL_LUKS1;
	if (t && !strcmp(t, CRYPT_BITLK))
		return VV_VOL_BITLK;
	return VV_VOL_UNKNOWN;
}

int vv_unlock_load(const char *device, const char *header, struct vv_unlock **out,
		   struct vv_crypt_info *info)
{
	char luks_reason[sizeof(((struct vv_unlock *)0)->reason)];
	struct vv_unlock *u;
	int r;

	*out = NULL;
	if (info)
		memset(info, 0, sizeof(*info));
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->bitlk_state[0] = u->bitlk_state[1] = -1;
	/* What libcryptsetup says before the context's own callback is set (no dm). */
	vv_crypt_quiet();
	if (header)
		r = crypt_init_data_device(&u->cd, header, device);
	else
		r = crypt_init(&u->cd, device);
	if (r < 0) {
		r = r == -ENOTBLK || r == -ENOENT ? -ENOENT : r;
		goto fail;
	}
	crypt_set_log_callback(u->cd, vv_unlock_log, u);
	/* Loading only reads: repair of a damaged header is never attempted here. */
	r = crypt_load(u->cd, CRYPT_LUKS, NULL);
	if (r < 0 && !header) {
		snprintf(luks_reason, sizeof(luks_reason), "%s", u->reason);
		u->reason[0] = '\0';
		/*
		 * What a BitLocker header tells about its type and state,
		 * libcryptsetup says only at debug level (vv_unlock_log keeps
		 * those two facts and drops the rest): on for this read only.
		 */
		crypt_set_debug_level(CRYPT_DEBUG_ALL);
		r = crypt_load(u->cd, CRYPT_BITLK, NULL);
		crypt_set_debug_level(CRYPT_DEBUG_NONE);
		/* Not BitLocker either: why it is no LUKS header is the news. */
		if (r < 0 && !u->reason[0])
			snprintf(u->reason, sizeof(u->reason), "%s", luks_reason);
	}
	if (r < 0) {
		r = r == -ENOENT ? -ENOENT : -EINVAL;
		goto fail;
	}
	u->type = type_of(u->cd);
	u->reason[0] = '\0';
	if (info) {
		const char *s = crypt_get_uuid(u->cd);

		info->type = u->type;
		snprintf(info->uuid, sizeof(info->uuid), "%s", s ? s : "");
		snprintf(info->cipher, sizeof(info->cipher), "%s-%s",
			 crypt_get_cipher(u->cd) ? crypt_get_cipher(u->cd) : "?",
			 crypt_get_cipher_mode(u->cd) ? crypt_get_cipher_mode(u->cd) : "?");
		info->data_offset = crypt_get_data_offset(u->cd);
	}
	*out = u;
	return 0;
fail:
	if (info)
		snprintf(info->reason, sizeof(info->reason), "%s", u->reason);
	crypt_free(u->cd);
	free(u);
	return r;
}

static unsigned long slot_memory(struct crypt_device *cd, int slot)
{
	struct crypt_pbkdf_type pbkdf;

	if (crypt_keyslot_get_pbkdf(cd, slot, &pbkdf) < 0 || !pbkdf.type)
		return 0;
	if (strcmp(pbkdf.type, CRYPT_KDF_ARGON2I) && strcmp(pbkdf.type, CRYPT_KDF_ARGON2ID))
		return 0;
	return pbkdf.max_memory_kb;
}

unsigned long vv_unlock_kdf_memory_kb(struct vv_unlock *u, int keyslot)
{
	unsigned long most = 0;
	int max;

	if (u->type != VV_VOL_LUKS2)
		return 0;
	if (keyslot >= 0)
		return slot_memory(u->cd, keyslot);
	max = crypt_keyslot_max(CRYPT_LUKS2);
	for (int s = 0; s < max; s++) {
		crypt_keyslot_info st = crypt_keyslot_status(u->cd, s);
		unsigned long m;

		if (st != CRYPT_SLOT_ACTIVE && st != CRYPT_SLOT_ACTIVE_LAST)
			continue;
		m = slot_memory(u->cd, s);
		if (m > most)
			most = m;
	}
	return most;
}

int vv_unlock_volume_key(struct vv_unlock *u, int keyslot, const struct vv_secret *key,
			 struct vv_secret **vk)
{
	struct vv_secret *s = vv_secret_new(VV_VK_MAX);
	size_t len = VV_VK_MAX;
	int r;

	*vk = NULL;
	if (!s)
		return -ENOMEM;
	u->reason[0] = '\0';
	/* BitLocker has no numbered keyslots to choose from. */
	if (u->type == VV_VOL_BITLK || keyslot < 0)
		keyslot = CRYPT_ANY_SLOT;
	r = crypt_volume_key_get(u->cd, keyslot, (char *)s->data, &len,
				 (const char *)key->data, key->len);
	if (r < 0) {
		vv_secret_free(s);
		/* BitLocker reports a key no protector accepts as -EPERM too. */
		return r;
	}
	s->len = len;
	*vk = s;
	return r;
}

/*
 * 0 when no mapping has this name, -EEXIST when one has, -ENXIO when
 * device-mapper cannot be asked (not loaded: no mapping can be made) or
 * the device there has no live table (what name_free_for looks at).
 */
static int name_free(const char *name)
{
	switch (crypt_status(NULL, name)) {
	case CRYPT_INACTIVE:
		return 0;
	case CRYPT_INVALID:
		return -ENXIO;
	default:
		/* crypt_status calls a device whose table is only loaded active. */
		return vv_dm_live(name) == 0 ? -ENXIO : -EEXIST;
	}
}

/*
 * name_free, after taking away what an interrupted activation of this
 * volume left under NAME: libcryptsetup creates the device, loads its
 * table, then resumes it; a process killed in between (or a load that
 * failed, e.g. a fatal signal failing the kernel's allocation) leaves a
 * device with no table, or with its table loaded and never made live,
 * which would block every later open.
 * Its UUID (libcryptsetup's CRYPT-TYPE-UUID-NAME) proves it is ours.
 */
static int name_free_for(struct vv_unlock *u, const char *name)
{
	const char *type = crypt_get_type(u->cd), *uuid = crypt_get_uuid(u->cd);
	char dm_uuid[160];
	size_t n;
	int r = name_free(name);

	if (r != -ENXIO || !type || !uuid)
		return r;
	n = (size_t)snprintf(dm_uuid, sizeof(dm_uuid), "CRYPT-%s-", type);
	for (; *uuid && n + 1 < sizeof(dm_uuid); uuid++)
		if (*uuid != '-')
			dm_uuid[n++] = *uuid;
	dm_uuid[n] = '\0';
	if (snprintf(dm_uuid + n, sizeof(dm_uuid) - n, "-%s", name) >= (int)(sizeof(dm_uuid) - n))
		return r;
	r = vv_dm_remove_stale(name, dm_uuid);
	if (r == -EEXIST)
		return r;	/* a device that is not a crypt mapping: someone else's */
	if (r != 1)
		return -ENXIO;
	vv_info("%s: removed the remains of an interrupted activation "
		"(a mapping with no active table)", name);
	return name_free(name);
}

int vv_unlock_activate(struct vv_unlock *u, const char *name,
		       const struct vv_secret *vk, uint32_t flags)
{
	int r = name_free_for(u, name);

	if (r < 0)
		return r;
	u->reason[0] = '\0';
	return crypt_activate_by_volume_key(u->cd, name, (const char *)vk->data, vk->len, flags);
}

bool vv_unlock_reencrypting(struct vv_unlock *u)
{
	return u->type == VV_VOL_LUKS2 && crypt_reencrypt_status(u->cd, NULL) != CRYPT_REENCRYPT_NONE;
}

int vv_unlock_check_passphrase(struct vv_unlock *u, int keyslot, const struct vv_secret *key)
{
	return crypt_activate_by_passphrase(u->cd, NULL, keyslot < 0 ? CRYPT_ANY_SLOT : keyslot,
					    (const char *)key->data, key->len, 0);
}

int vv_unlock_activate_passphrase(struct vv_unlock *u, const char *name, int keyslot,
				  const struct vv_secret *key, uint32_t flags)
{
	int r = name_free(name);

	if (r < 0)
		return r;
	u->reason[0] = '\0';
	return crypt_activate_by_passphrase(u->cd, name, keyslot < 0 ? CRYPT_ANY_SLOT : keyslot,
					    (const char *)key->data, key->len, flags);
}

void vv_unlock_free(struct vv_unlock *u)
{
	if (!u)
		return;
	crypt_free(u->cd);
	free(u);
}

/* ---- one step: the two steps back to back -------------------------------- */

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

	/* -ENXIO may be an interrupted activation's remains: vv_unlock_activate sees. */
	r = name_free(name);
	if (r < 0 && r != -ENXIO)
		return r;
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

	/* Debris of an interrupted activation is not an open volume. */
	if ((st != CRYPT_ACTIVE && st != CRYPT_BUSY) || vv_dm_live(name) != 1)
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
