/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by provision.c, provision_adopt.c and provision_rotate.c. */
#ifndef VV_PROVISION_INTERNAL_H
#define VV_PROVISION_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/provision/provision.h"
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
 * Returns the held fd, or -errno with err set (-EBUSY: another command
 * holds it).
 */
int pv_lock(const char *state_dir, struct vv_error *err);
/*
 * Back up device's header into state_dir (vv_header_backup); a failure is
 * recorded in err with the remedy that fits (space, a read-only or shared
 * directory). 0 or -errno.
 */
int pv_backup(const char *device, const char *state_dir, char *path_out, size_t len,
	      struct vv_error *err);
/*
 * Whether state_dir's filesystem has need bytes free for device's header
 * files; -ENOSPC with the message and remedy in err when not. Checked
 * before anything is stored or written, so a full directory costs nothing.
 */
int pv_state_room(const char *device, const char *state_dir, uint64_t need,
		  struct vv_error *err);
void pv_unlock(int fd);

/*
 * The key and KEK references a token is to carry: never a local file, as
 * open and the token plugin refuse such tokens (a disk must not choose
 * which file root reads). -EINVAL with err naming the option and the fix.
 */
int pv_check_token_refs(const char *secret, const char *kek, struct vv_error *err);

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

/* ---- guards against losing a key (provision_guard.c) ---- */

/* Vaults already warned about in this run: one warning per vault. */
struct pv_warned {
	char origin[4][VV_ORIGIN_MAX];
	int n;
};

/*
 * Warn (once per vault, through seen) when level - a secret's or KEK's
 * attributes.recoveryLevel - lacks purge protection. "" or NULL (a local
 * reference, nothing said) is not warned about.
 */
void pv_purge_warn(const char *what, const char *id, const char *level,
		   struct pv_warned *seen);

/*
 * vv_bek_store_ex with the guards: require refuses (cause CONFIG) a vault
 * without purge protection before a byte on the device is written;
 * otherwise such a vault is warned about. Arguments as vv_bek_store's.
 */
int pv_store_guarded(struct vv_vault *v, const char *base, const struct vv_secret *key,
		     const char *kek, const char *alg, const char *file_name, bool require,
		     struct pv_warned *seen, char **ref, char **kek_id, struct vv_error *err);

/*
 * Adopt: the existing key's secret (b, fetched) and its remote KEK (one
 * key GET) are checked. A KEK unfit to wrap new keys (size, dates) is a
 * warning: the volume opens with it today, and adopting is the way to
 * `rotate --kek` away from it. Purge protection missing: warning, or a
 * refusal (cause CONFIG) with require.
 */
int pv_adopt_guard(struct vv_vault *v, const struct vv_bek *b, bool require,
		   struct vv_error *err);

/* path: tool in /usr/sbin, /sbin, /usr/bin or /bin (never $PATH). -ENOENT. */
int pv_find_tool(const char *tool, char *path, size_t len);

/* Erase every signature libblkid finds on device (--force only), like wipefs -a. */
int pv_wipe_signatures(const char *device);

/*
 * One provisioning run: what its phases pass on to each other. provision.c
 * runs them all; provision_encrypt.c runs the key, keyslot and token
 * phases on a header file before the device is touched.
 */
struct prov {
	struct vv_vault *v;
	const struct vv_provision_req *req;
	struct vv_provision_result *res;
	struct vv_error *err;
	const char *fs;
	char *name;
	struct vv_secret *bek, *recovery;
	char *ref, *kek_id;	/* the BEK's stored version and its KEK version */
	char *rbase, *rkek;	/* --recovery secret: where, and its KEK version */
	bool had_data;
	struct pv_warned warned;	/* vaults without purge protection, warned about */
};

/* Request checks: secret without version, token references, mount point, name. */
int pv_check_req(struct prov *p);
/* New BEK (and recovery passphrase) generated in locked memory, stored and read back. */
int pv_make_and_store_keys(struct prov *p);
/* Format the header open in l, add the BEK and recovery keyslots (res->*_keyslot). */
int pv_format_keyslots(struct prov *p, struct vv_luks2 *l);
/* Fill res->token from the stored key and request, and write it into header. */
int pv_write_token(struct prov *p, const char *header);
/* The token in header names a key that the vault gives and that opens its keyslot. */
int pv_check_token_opens(struct prov *p, const char *header);

#endif
