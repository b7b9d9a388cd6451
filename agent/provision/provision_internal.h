/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by provision.c, provision_adopt.c and provision_rotate.c. */
#ifndef VV_PROVISION_INTERNAL_H
#define VV_PROVISION_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <libcryptsetup.h>

#include "agent/volume/luks2_token.h"
#include "base/secret.h"
#include "vault/vault.h"

/* printf into msg (may be NULL); returns r so callers can `return pv_fail(...)`. */
int pv_fail(int r, char *msg, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The vault error's message when there is one, else strerror(-r). */
const char *pv_why(const struct vv_error *err, int r);

/* crypt_init + crypt_load(LUKS2) with libcryptsetup's messages at debug level. */
int pv_load_luks2(const char *device, struct crypt_device **out);
void pv_crypt_quiet(void);

/* PBKDF2-SHA256 at the minimum iteration count, for the next keyslot added. */
int pv_set_bek_pbkdf(struct crypt_device *cd);

/*
 * Mark a BEK keyslot "preferred": any-slot unlocks (cryptsetup open,
 * systemd-cryptsetup, the token plugin) try it before the argon2id
 * recovery keyslot. Best effort: a failure only costs unlock time.
 */
void pv_prefer_slot(struct crypt_device *cd, int slot);

/* True when slot is a vaultvol BEK keyslot (PBKDF2 at the minimum count). */
bool pv_slot_is_bek(struct crypt_device *cd, int slot);

/* Does key open exactly keyslot slot of device? slot, -EPERM, -errno. */
int pv_check_slot(const char *device, int slot, const struct vv_secret *key);

/*
 * One header-changing vaultvol command at a time per machine: an exclusive
 * flock on <state_dir>/header-change.lock (state_dir created 0700).
 * Returns the held fd, -EBUSY when another command holds it.
 */
int pv_lock(const char *state_dir);
void pv_unlock(int fd);

/* Deep copy of a token (strings duplicated). -ENOMEM. */
int pv_token_copy(struct vv_token *dst, const struct vv_token *src);

/* 32 random bytes from OpenSSL's private DRBG, in a new secret. */
int pv_random_bek(struct vv_secret **out);

/*
 * Fetch ref (unwrapping with kek when given) and compare with expect: the
 * vault really holds what we are about to enrol. -EIO on a mismatch.
 */
int pv_verify_stored(struct vv_vault *v, const char *ref, const char *kek,
		     const struct vv_secret *expect, struct vv_error *err);

/* Erase every signature libblkid finds on device (--force only), like wipefs -a. */
int pv_wipe_signatures(const char *device);

#endif
