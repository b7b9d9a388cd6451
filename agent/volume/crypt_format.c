// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Writing LUKS2 headers: format, add BEK and recovery keyslots, remove a
 * keyslot. Every change is a libcryptsetup header write, itself crash-safe
 * (two header copies with sequence numbers); the order of changes, and
 * the header backups between them, are the callers' (agent/provision/).
 */
#include "agent/volume/crypt.h"
#include "agent/volume/crypt_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

static int luks2_new(struct crypt_device *cd, struct vv_luks2 **out)
{
	struct vv_luks2 *l = calloc(1, sizeof(*l));

	if (!l) {
		crypt_free(cd);
		return -ENOMEM;
	}
	l->cd = cd;
	*out = l;
	return 0;
}

/* A crypt device on device, with its LUKS2 header loaded when load. */
static int luks2_open(const char *device, bool load, struct vv_luks2 **out)
{
	struct crypt_device *cd = NULL;
	int r;

	*out = NULL;
	vv_crypt_quiet();
	r = crypt_init(&cd, device);
	if (r < 0)
		return r;
	if (load && crypt_load(cd, CRYPT_LUKS2, NULL) < 0) {
		crypt_free(cd);
		return -EINVAL;
	}
	return luks2_new(cd, out);
}

int vv_luks2_init(const char *device, struct vv_luks2 **out)
{
	return luks2_open(device, false, out);
}

int vv_luks2_load(const char *device, struct vv_luks2 **out)
{
	return luks2_open(device, true, out);
}

void vv_luks2_free(struct vv_luks2 *l)
{
	if (!l)
		return;
	crypt_free(l->cd);
	free(l);
}

/* PBKDF2-SHA256 at the minimum iteration count, for the next keyslot added. */
static int set_bek_pbkdf(struct crypt_device *cd)
{
	/*
	 * No benchmark: the count is fixed. 1000 is libcryptsetup's floor for
	 * PBKDF2; the BEK is 256 random bits, which no iteration count could
	 * make stronger, and unlocking stays a few microseconds of CPU with no
	 * memory cost at boot.
	 */
	const struct crypt_pbkdf_type pbkdf = {
		.type = CRYPT_KDF_PBKDF2,
		.hash = "sha256",
		.iterations = VV_BEK_PBKDF2_ITERATIONS,
		.flags = CRYPT_PBKDF_NO_BENCHMARK,
	};

	return crypt_set_pbkdf_type(cd, &pbkdf);
}

int vv_luks2_format(struct vv_luks2 *l, uint32_t sector_size, const char *label)
{
	struct crypt_params_luks2 params = {
		.sector_size = sector_size,
		/* LUKS2 labels hold 47 bytes; longer names just go without. */
		.label = label && strlen(label) < 48 ? label : NULL,
		.subsystem = "vaultvol",
	};
	int r;

	/*
	 * The BEK's PBKDF is set before formatting: libcryptsetup then also
	 * derives the volume key digest at the fixed minimum instead of
	 * benchmarking for it (the digest covers a 512-bit random key, for
	 * which iterations add nothing either).
	 */
	r = set_bek_pbkdf(l->cd);
	/* 512-bit volume key: AES-256 in XTS mode uses two 256-bit keys. */
	if (r >= 0)
		r = crypt_format(l->cd, CRYPT_LUKS2, "aes", "xts-plain64", NULL, NULL, 64, &params);
	return r;
}

/*
 * Any-slot unlocks (cryptsetup open, systemd-cryptsetup, the token plugin)
 * try a preferred keyslot first. Best effort: a failure only costs unlock
 * time.
 */
static void prefer_slot(struct crypt_device *cd, int slot)
{
	int r = crypt_keyslot_set_priority(cd, slot, CRYPT_SLOT_PRIORITY_PREFER);

	if (r < 0)
		vv_warn("cannot prefer keyslot %d: %s", slot, strerror(-r));
}

int vv_luks2_add_bek_keyslot(struct vv_luks2 *l, int from_slot, const struct vv_secret *from,
			     const struct vv_secret *bek)
{
	struct vv_secret *vk = NULL;
	size_t len;
	int r = 0, size;

	/* The volume key stays in locked memory. */
	if (from) {
		size = crypt_get_volume_key_size(l->cd);
		if (size <= 0)
			return -EINVAL;
		vk = vv_secret_new((size_t)size);
		if (!vk)
			return -ENOMEM;
		len = vk->cap;
		r = crypt_volume_key_get(l->cd, from_slot, (char *)vk->data, &len,
					 (const char *)from->data, from->len);
		if (r >= 0) {
			vk->len = len;
			r = set_bek_pbkdf(l->cd);
		}
	}
	/* Just formatted (from NULL): vv_luks2_format set the BEK's PBKDF already. */
	if (r >= 0)
		r = crypt_keyslot_add_by_volume_key(l->cd, CRYPT_ANY_SLOT,
						    vk ? (const char *)vk->data : NULL,
						    vk ? vk->len : 0,
						    (const char *)bek->data, bek->len);
	vv_secret_free(vk);
	if (r >= 0)
		prefer_slot(l->cd, r);
	return r;
}

int vv_luks2_add_recovery_keyslot(struct vv_luks2 *l, const struct vv_luks2_kdf *kdf,
				  const struct vv_secret *pass)
{
	const struct crypt_pbkdf_type *def = crypt_get_pbkdf_default(CRYPT_LUKS2);
	struct crypt_pbkdf_type argon = *def;
	int r;

	/* A passphrase a human types keeps argon2id at libcryptsetup's defaults. */
	argon.type = CRYPT_KDF_ARGON2ID;
	argon.flags &= ~CRYPT_PBKDF_NO_BENCHMARK;
	if (kdf->iter_ms)
		argon.time_ms = kdf->iter_ms;
	if (kdf->max_kb)
		argon.max_memory_kb = kdf->max_kb;
	if (kdf->parallel)
		argon.parallel_threads = kdf->parallel;
	if (kdf->iterations) {
		argon.iterations = kdf->iterations;
		argon.flags |= CRYPT_PBKDF_NO_BENCHMARK;
	}
	r = crypt_set_pbkdf_type(l->cd, &argon);
	if (r >= 0)
		r = crypt_keyslot_add_by_volume_key(l->cd, CRYPT_ANY_SLOT, NULL, 0,
						    (const char *)pass->data, pass->len);
	return r;
}

int vv_luks2_keyslot_max(void)
{
	return crypt_keyslot_max(CRYPT_LUKS2);
}

bool vv_luks2_keyslot_active(struct vv_luks2 *l, int slot)
{
	crypt_keyslot_info st = crypt_keyslot_status(l->cd, slot);

	return st == CRYPT_SLOT_ACTIVE || st == CRYPT_SLOT_ACTIVE_LAST;
}

bool vv_luks2_keyslot_is_bek(struct vv_luks2 *l, int slot)
{
	struct crypt_pbkdf_type p;

	if (crypt_keyslot_get_pbkdf(l->cd, slot, &p) < 0 || !p.type)
		return false;
	return !strcmp(p.type, CRYPT_KDF_PBKDF2) &&
	       p.iterations == VV_BEK_PBKDF2_ITERATIONS;
}

int vv_luks2_check_written(struct vv_luks2 *l)
{
	/* A detached header's file, else the device that holds the header. */
	const char *dev = crypt_get_metadata_device_name(l->cd) ?: crypt_get_device_name(l->cd);
	const char *want = crypt_get_uuid(l->cd), *got;
	int max = crypt_keyslot_max(CRYPT_LUKS2);
	struct crypt_device *cd = NULL;
	int r;

	if (!dev || !want)
		return -EINVAL;
	r = crypt_init(&cd, dev);
	if (r < 0)
		return r;
	/* A header that does not load, or another volume's, is not what we wrote. */
	r = crypt_load(cd, CRYPT_LUKS2, NULL) < 0 ? -EIO : 0;
	got = r ? NULL : crypt_get_uuid(cd);
	if (!got || strcmp(got, want))
		r = -EIO;
	for (int i = 0; !r && i < max; i++)
		if ((crypt_keyslot_status(l->cd, i) >= CRYPT_SLOT_ACTIVE) !=
		    (crypt_keyslot_status(cd, i) >= CRYPT_SLOT_ACTIVE))
			r = -EIO;
	crypt_free(cd);
	return r;
}

int vv_luks2_destroy_keyslot(struct vv_luks2 *l, int slot)
{
	return crypt_keyslot_destroy(l->cd, slot);
}

int vv_luks2_check_keyslot(const char *device, int slot, const struct vv_secret *key)
{
	struct vv_luks2 *l = NULL;
	int r;

	r = vv_luks2_load(device, &l);
	if (r < 0)
		return r;
	/* No name: the key is only checked, nothing is activated. */
	r = crypt_activate_by_passphrase(l->cd, NULL, slot, (const char *)key->data,
					 key->len, 0);
	vv_luks2_free(l);
	if (r == -ENOENT)
		r = -EPERM;	/* slot inactive: this key does not open it */
	return r;
}
