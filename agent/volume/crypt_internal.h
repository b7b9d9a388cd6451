/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared by the files of agent/volume/ that call libcryptsetup (crypt*.c,
 * luks2_token.c, header_backup.c, resource_disk.c); nothing outside
 * agent/volume/ includes it.
 */
#ifndef VV_CRYPT_INTERNAL_H
#define VV_CRYPT_INTERNAL_H

#include <libcryptsetup.h>

#include "agent/volume/crypt.h"

struct vv_unlock {
	struct crypt_device *cd;
	enum vv_vol_type type;
	/* What libcryptsetup said at error level in the last step, bounded ("": nothing). */
	char reason[VV_CRYPT_REASON_MAX];
	/*
	 * BitLocker: what the header told while it was read, which
	 * libcryptsetup says only at debug level: the type ("normal",
	 * "encrypt-on-write", "unknown"; "" not told) and, when not fully
	 * encrypted, the current and next conversion state (-1: not told).
	 */
	char bitlk_type[32];
	int bitlk_state[2];
};

struct vv_luks2 {
	struct crypt_device *cd;
};

/* libcryptsetup's messages (never key material), at debug level. */
void vv_crypt_log(int level, const char *msg, void *usrptr);

/* The log callback of a struct vv_unlock (usrptr): vv_crypt_log, and keeps its reason. */
void vv_unlock_log(int level, const char *msg, void *usrptr);

/* Route libcryptsetup's messages without a context of their own to vv_crypt_log. */
void vv_crypt_quiet(void);

#endif
