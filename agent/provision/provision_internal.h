/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by provision.c, provision_adopt.c and provision_rotate.c. */
#ifndef VV_PROVISION_INTERNAL_H
#define VV_PROVISION_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/volume/luks2_token.h"
#include "base/error.h"
#include "base/secret.h"
#include "vault/vault.h"

/*
 * Why a callee failed, copied into buf: the message it recorded in err
 * when there is one, else strerror(-r). A copy, because the vv_fail that
 * adds context rewrites err->message.
 */
const char *pv_why(const struct vv_error *err, int r, char *buf, size_t len);

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
