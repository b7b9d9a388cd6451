// SPDX-License-Identifier: GPL-2.0-or-later
#include "agent/volume/unlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <libcryptsetup.h>
#include <unistd.h>

#include "base/log.h"

/* Larger than any volume key libcryptsetup supports (512-bit XTS = 64 B). */
#define VV_VK_MAX 256

struct vv_unlock {
	struct crypt_device *cd;
	enum vv_vol_type type;
};

/* libcryptsetup's messages (never key material) at debug level. */
static void log_cb(int level, const char *msg, void *usrptr)
{
	size_t n = strlen(msg);

	(void)usrptr;
	if (n && msg[n - 1] == '\n')
		n--;
	if (level != CRYPT_LOG_DEBUG && level != CRYPT_LOG_DEBUG_JSON)
		vv_debug("libcryptsetup: %.*s", (int)n, msg);
}

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
	struct crypt_device *cd = NULL;
	struct vv_unlock *u;
	int r;

	*out = NULL;
	if (header)
		r = crypt_init_data_device(&cd, header, device);
	else
		r = crypt_init(&cd, device);
	if (r < 0)
		return r == -ENOTBLK || r == -ENOENT ? -ENOENT : r;
	crypt_set_log_callback(cd, log_cb, NULL);
	/* Loading only reads: repair of a damaged header is never attempted here. */
	r = crypt_load(cd, CRYPT_LUKS, NULL);
	if (r < 0 && !header)
		r = crypt_load(cd, CRYPT_BITLK, NULL);
	if (r < 0) {
		crypt_free(cd);
		return r == -ENOENT ? -ENOENT : -EINVAL;
	}
	u = calloc(1, sizeof(*u));
	if (!u) {
		crypt_free(cd);
		return -ENOMEM;
	}
	u->cd = cd;
	u->type = type_of(cd);
	if (info) {
		const char *s = crypt_get_uuid(cd);

		memset(info, 0, sizeof(*info));
		info->type = u->type;
		snprintf(info->uuid, sizeof(info->uuid), "%s", s ? s : "");
		snprintf(info->cipher, sizeof(info->cipher), "%s-%s",
			 crypt_get_cipher(cd) ? crypt_get_cipher(cd) : "?",
			 crypt_get_cipher_mode(cd) ? crypt_get_cipher_mode(cd) : "?");
		info->data_offset = crypt_get_data_offset(cd);
	}
	*out = u;
	return 0;
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

int vv_unlock_activate(struct vv_unlock *u, const char *name,
		       const struct vv_secret *vk, uint32_t flags)
{
	if (crypt_status(NULL, name) != CRYPT_INACTIVE)
		return -EEXIST;
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
	if (crypt_status(NULL, name) != CRYPT_INACTIVE)
		return -EEXIST;
	return crypt_activate_by_passphrase(u->cd, name, keyslot < 0 ? CRYPT_ANY_SLOT : keyslot,
					    (const char *)key->data, key->len, flags);
}

/* A LUKS2 segment size: a number of bytes, or "dynamic" (to the device's end). */
static bool segment_size(struct json_object *seg, uint64_t dev_size, uint64_t *size)
{
	struct json_object *sz, *off;
	const char *s;
	char *end;

	if (!json_object_object_get_ex(seg, "size", &sz) ||
	    !json_object_object_get_ex(seg, "offset", &off))
		return false;
	s = json_object_get_string(sz);
	if (s && !strcmp(s, "dynamic")) {
		uint64_t o = strtoull(json_object_get_string(off), &end, 10);

		if (*end || o > dev_size)
			return false;
		*size = dev_size - o;
		return true;
	}
	*size = s ? strtoull(s, &end, 10) : 0;
	return s && *s && !*end;
}

int vv_luks2_encrypted_percent(const char *json, uint64_t dev_size)
{
	struct json_object *root = json ? json_tokener_parse(json) : NULL, *segs;
	uint64_t done = 0, total = 0;
	int pct = -1;

	if (!root || !json_object_object_get_ex(root, "segments", &segs) ||
	    !json_object_is_type(segs, json_type_object))
		goto out;
	json_object_object_foreach(segs, key, seg) {
		struct json_object *type, *flags;
		uint64_t size;
		bool backup = false;

		(void)key;
		if (json_object_object_get_ex(seg, "flags", &flags) &&
		    json_object_is_type(flags, json_type_array))
			for (size_t i = 0; i < json_object_array_length(flags); i++)
				if (!strncmp(json_object_get_string(json_object_array_get_idx(flags, i)),
					     "backup-", 7))
					backup = true;
		if (backup)
			continue;
		if (!json_object_object_get_ex(seg, "type", &type) ||
		    !segment_size(seg, dev_size, &size))
			goto out;
		total += size;
		if (!strcmp(json_object_get_string(type), "crypt"))
			done += size;
	}
	if (total)
		pct = (int)(done * 100 / total);
out:
	json_object_put(root);
	return pct;
}

int vv_unlock_reencrypt_percent(struct vv_unlock *u)
{
	const char *json = NULL, *dev;
	uint64_t size = 0;
	int fd;

	if (!vv_unlock_reencrypting(u) || crypt_dump_json(u->cd, &json, 0) < 0)
		return -1;
	dev = crypt_get_device_name(u->cd);
	fd = dev ? open(dev, O_RDONLY | O_CLOEXEC) : -1;
	if (fd >= 0) {
		off_t end = lseek(fd, 0, SEEK_END);

		size = end > 0 ? (uint64_t)end : 0;
		close(fd);
	}
	return size ? vv_luks2_encrypted_percent(json, size) : -1;
}

struct dump_buf {
	char *out;
	size_t len, used;
};

/* Collect "Protection: VMK protected with X" lines of crypt_dump's output. */
static void dump_cb(int level, const char *msg, void *usrptr)
{
	struct dump_buf *b = usrptr;
	const char *p;

	if (level != CRYPT_LOG_NORMAL)
		return;
	for (p = strstr(msg, "Protection:"); p; p = strstr(p, "Protection:")) {
		size_t n;
		int w;

		p += strlen("Protection:");
		p += strspn(p, " \t");
		if (!strncmp(p, "VMK protected with ", 19))
			p += 19;
		n = strcspn(p, "\n");
		if (b->used >= b->len)
			return;
		w = snprintf(b->out + b->used, b->len - b->used, "%s%.*s",
			     b->used ? ", " : "", (int)n, p);
		if (w > 0)
			b->used += (size_t)w < b->len - b->used ? (size_t)w : b->len - b->used - 1;
	}
}

int vv_unlock_protectors(struct vv_unlock *u, char *buf, size_t len)
{
	struct dump_buf b = { .out = buf, .len = len };
	int r;

	if (!len)
		return -EINVAL;
	buf[0] = '\0';
	if (u->type != VV_VOL_BITLK)
		return -ENOTSUP;
	crypt_set_log_callback(u->cd, dump_cb, &b);
	r = crypt_dump(u->cd);
	crypt_set_log_callback(u->cd, log_cb, NULL);
	if (r < 0)
		return r;
	return buf[0] ? 0 : -ENOENT;
}

void vv_unlock_free(struct vv_unlock *u)
{
	if (!u)
		return;
	crypt_free(u->cd);
	free(u);
}
