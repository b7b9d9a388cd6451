/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Provisioning, adoption and key rotation of self-describing LUKS2 volumes
 * (docs/provision.md). The library half of `vaultvol provision`, `adopt` and
 * `rotate`: everything here works on block devices and on image files;
 * only activation, mkfs and mount (provision without format_only) need
 * device-mapper.
 *
 * Keyslots vaultvol creates:
 *   BEK keyslot       PBKDF2-SHA256 at 1000 iterations, the minimum
 *                     libcryptsetup accepts: the BEK is 32 random bytes, so
 *                     stretching adds nothing, and argon2's memory cost slows
 *                     boot and fails on small VMs.
 *   recovery keyslot  argon2id with libcryptsetup's defaults: a passphrase a
 *                     human can type needs the stretching.
 */
#ifndef VV_PROVISION_H
#define VV_PROVISION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/volume/crypt.h"
#include "agent/volume/luks2_token.h"
#include "vault/vault.h"

#define VV_BEK_BYTES 32
#define VV_RECOVERY_SUFFIX "-recovery"

/* ---- device probing ------------------------------------------------------ */

/*
 * What libblkid finds on device, read-only (the device is opened O_RDONLY,
 * block devices also O_EXCL so a mounted or mapped one is refused with
 * -EBUSY). Returns 0 and an empty what when nothing is there, 1 with what
 * describing the content ("filesystem ext4", "partition table gpt",
 * "crypto_LUKS", "BitLocker", "several signatures"), -errno on error.
 */
int vv_probe_content(const char *device, char *what, size_t len);

/*
 * The LUKS2 encryption sector size for device: 4096 when its logical block
 * size is at most 4096 and its size is a multiple of 4096, else 512.
 * -errno when the device cannot be inspected.
 */
int vv_pick_sector_size(const char *device, uint32_t *sector_size);
/* Size in bytes of a block device or image file; 0 or -errno. */
int vv_device_size(const char *device, uint64_t *size);

/* ---- provision ----------------------------------------------------------- */

enum vv_recovery_mode {
	VV_RECOVERY_PRINT = 0,	/* returned in res->recovery for the caller to print once */
	VV_RECOVERY_SECRET,	/* stored as its own secret <secret>-recovery */
};

struct vv_provision_req {
	const char *device;
	const char *secret;	/* where to store the BEK, without version:
				   keystore:NAME, NAME, https://V/secrets/NAME */
	const char *kek;	/* KEK reference, NULL: stored unwrapped */
	const char *alg;	/* wrap algorithm, NULL: RSA-OAEP */
	const char *name;	/* mapper name, NULL: the secret's name */
	const char *mount;	/* absolute mount point (recorded in the token) */
	const char *fs;		/* "ext4" (NULL) or "xfs" */
	const char *label;	/* filesystem label, NULL: none */
	const char *options;	/* mount options, NULL: "defaults" */
	enum vv_recovery_mode recovery;
	bool force;		/* overwrite whatever the device holds */
	bool format_only;	/* header, keyslots and token only: no activate,
				   mkfs or mount (prepare an image elsewhere) */
	/*
	 * A vault secret or remote KEK whose vault lacks purge protection
	 * (attributes.recoveryLevel naming "Purgeable") is refused, cause
	 * CONFIG, before the device is written; without it, a warning.
	 */
	bool require_purge_protection;
	const char *state_dir;	/* header backups go below it */
	/*
	 * Recovery keyslot argon2id cost, as cryptsetup's --iter-time,
	 * --pbkdf-memory and --pbkdf-force-iterations: 0 keeps libcryptsetup's
	 * default (a 2 s benchmark up to 1 GiB). iterations != 0 skips the
	 * benchmark and uses iterations and max_kb as given (min 4 and 32).
	 */
	uint32_t recovery_iter_ms;
	uint32_t recovery_max_kb;
	uint32_t recovery_iterations;
	uint32_t recovery_parallel;	/* argon2id threads (--pbkdf-parallel), 0: default */
};

struct vv_provision_result {
	struct vv_token token;	/* as written (token_id filled) */
	int bek_keyslot;
	int recovery_keyslot;	/* -1 until its keyslot exists */
	uint32_t sector_size;
	char *recovery_ref;	/* VV_RECOVERY_SECRET: versioned reference */
	/*
	 * VV_RECOVERY_PRINT: the passphrase, set as soon as its keyslot exists
	 * - also when a later step fails, so the caller can still show it.
	 */
	struct vv_secret *recovery;
	char mapper_path[256];	/* /dev/mapper/NAME when activated */
	char backup[4200];	/* the header backup taken */
};

void vv_provision_result_clear(struct vv_provision_result *res);

/*
 * Provision req->device (see the order of steps in provision.c). Returns 0,
 * -EEXIST when the device holds data and force is not set (nothing written),
 * -errno otherwise; err (may be NULL) gets a one-line reason for any
 * failure, with the key source's cause when the vault refused, else
 * VV_CAUSE_SYSTEM.
 */
int vv_provision(struct vv_vault *v, const struct vv_provision_req *req,
		 struct vv_provision_result *res, struct vv_error *err);

/* Generate a recovery passphrase: 8 groups of 6 digits, '-' separated. */
int vv_recovery_generate(struct vv_secret **out);

/* ---- adopt --------------------------------------------------------------- */

struct vv_adopt_req {
	const char *device;
	const char *secret;	/* key reference (versioned or not; the token
				   records the version fetched) */
	const char *kek;	/* NULL: the secret's tags decide */
	const char *name;	/* mapper name, NULL: derived from the secret */
	const char *mount, *fs, *options;
	bool force;		/* replace an existing vaultvol token */
	bool require_purge_protection;	/* as for provision, before the token write */
	const char *state_dir;
};

/*
 * Fetch the key, check it opens a keyslot, back up the header and write the
 * token. *tok_out (may be NULL) receives the token written. -EEXIST when a
 * vaultvol token exists and force is not set, -EPERM when the key opens no
 * keyslot, -EINVAL when the device is not LUKS2; err as for vv_provision.
 */
int vv_adopt(struct vv_vault *v, const struct vv_adopt_req *req,
	     struct vv_token *tok_out, struct vv_error *err);

/* ---- adopt --rewrite (docs/provision.md) ---------------------------------- */

/*
 * ref at the vault a move maps its vault to, same path (name and version):
 * 1 with *out (malloc'ed), 0 when no move maps its vault, -EINVAL when ref
 * is not an https:// vault reference, -ENOMEM.
 */
int vv_ref_move(const char *ref, const struct vv_vault_move *moves, size_t n, char **out);

/* Asked before anything is written, with the token now and as it would be. */
typedef bool (*vv_rewrite_confirm_fn)(const struct vv_token *before,
				      const struct vv_token *after, void *arg);

struct vv_rewrite_req {
	const char *device;
	const struct vv_vault_move *moves;	/* the [vault] moved lines */
	size_t nmoves;
	const char *state_dir;
	vv_rewrite_confirm_fn confirm;		/* NULL: no question */
	void *confirm_arg;
};

struct vv_rewrite_result {
	struct vv_token before, after;	/* after: as written (or as it would be) */
	char backup[4200];		/* the header backup taken */
};
void vv_rewrite_result_clear(struct vv_rewrite_result *res);

/*
 * Rewrite the vaultvol token's key (and KEK, when its vault moved too) to
 * the vault the moves map them to: fetch the key there and check it opens
 * the token's keyslot, confirm, back up the header, replace the token.
 * -ENOENT (no token, or no move for its vault: err's remedy is the line to
 * add), -ECANCELED (not confirmed), the fetch's or check's error; nothing is
 * written on any failure before the token write.
 */
int vv_adopt_rewrite(struct vv_vault *v, const struct vv_rewrite_req *req,
		     struct vv_rewrite_result *res, struct vv_error *err);

/* ---- rotate -------------------------------------------------------------- */

/* Durable steps of a rotation, reported after each has reached the disk/vault. */
enum vv_rotate_step {
	VV_ROT_CHECKED = 1,	/* current key fetched and verified */
	VV_ROT_STORED,		/* new secret version stored and read back */
	VV_ROT_KEYSLOT_ADDED,	/* BEK: keyslot for the new BEK added */
	VV_ROT_TOKEN_UPDATED,	/* token names the new version */
	VV_ROT_OLD_KEYSLOT_REMOVED,	/* BEK: the old keyslot destroyed */
	VV_ROT_DONE,		/* token final (no retire marker) */
};

const char *vv_rotate_step_str(enum vv_rotate_step s);

/*
 * Called after each step; the CLI prints it as progress. A process killed
 * right after any call (or anywhere in between) leaves a volume that opens
 * with the key its token names; `rotate` run again completes the
 * interrupted rotation instead of starting another.
 */
typedef void (*vv_rotate_progress_fn)(enum vv_rotate_step step,
				      const struct vv_token *token, void *arg);

struct vv_rotate_req {
	const char *device;
	bool bek;		/* new BEK (default when kek is NULL) */
	const char *kek;	/* new KEK reference, NULL: keep the token's */
	const char *alg;	/* NULL: the token's, else RSA-OAEP */
	bool require_purge_protection;	/* as for provision, before any header change */
	const char *state_dir;
	vv_rotate_progress_fn progress;
	void *progress_arg;
};

struct vv_rotate_result {
	struct vv_token before, after;
	bool resumed;		/* an interrupted rotation was completed */
	int backups;		/* header backups taken */
};

void vv_rotate_result_clear(struct vv_rotate_result *res);

/* err as for vv_provision. */
int vv_rotate(struct vv_vault *v, const struct vv_rotate_req *req,
	      struct vv_rotate_result *res, struct vv_error *err);


/*
 * A default LUKS2 header area (both metadata copies and the keyslots), the
 * size of its backup: what the state directory must have room for before
 * provision or encrypt stores a key.
 */
#define VV_LUKS2_HEADER_BYTES (16ULL << 20)

/* ---- encrypt: in place (provision_encrypt*.c, docs/encrypt.md) ----------- */

/*
 * The filesystem gives up this much at the end of the device: the LUKS2
 * header (16 MiB) goes in front of the data, and libcryptsetup's data
 * shift keeps as much again as the moved first segment
 * (`cryptsetup reencrypt --encrypt --reduce-device-size 32M`).
 */
#define VV_ENCRYPT_SHRINK (32ULL << 20)
#define VV_ENCRYPT_SHIFT (VV_ENCRYPT_SHRINK / 2)

/* What encrypt makes of a device's content (vv_probe_content's answer). */
enum vv_encrypt_kind {
	VV_ENC_EXT4,		/* encrypt in place */
	VV_ENC_XFS,		/* refused: xfs cannot shrink */
	VV_ENC_LUKS,		/* resumed when in reencryption with our token, else refused */
	VV_ENC_BITLOCKER,	/* refused: already encrypted */
	VV_ENC_EMPTY,		/* refused: nothing to keep - provision it */
	VV_ENC_OTHER,		/* refused: a filesystem or signature encrypt does not know */
};

/* probe_r and what as vv_probe_content returned them (probe_r >= 0). */
enum vv_encrypt_kind vv_encrypt_classify(int probe_r, const char *what);

/*
 * An ext4 superblock (the 1024 bytes at offset 1024): block size and
 * block count. -EINVAL when it is not one.
 */
int vv_ext4_sb_parse(const unsigned char *sb, size_t len, uint32_t *block_size,
		     uint64_t *blocks);

/*
 * The filesystem size encrypt shrinks to on a device of dev_size bytes:
 * VV_ENCRYPT_SHRINK less, rounded down to whole fs_block blocks; 0 when
 * the device is too small for that.
 */
uint64_t vv_encrypt_target_size(uint64_t dev_size, uint32_t fs_block);

/*
 * The encryption sector size: the device's choice (vv_pick_sector_size)
 * but never larger than the filesystem's block, whose I/O must stay
 * whole sectors (a 1024-byte-block ext4 on 4096-byte sectors would not
 * mount).
 */
uint32_t vv_encrypt_sector_size(uint32_t dev_choice, uint32_t fs_block);

struct vv_encrypt_result {
	struct vv_provision_result p;	/* token, keyslots, recovery, backup */
	bool resumed;			/* an interrupted encryption was resumed */
	bool already;			/* encrypted before, with this secret: nothing done */
	bool stopped;			/* progress asked to stop: resumable */
	uint64_t fs_bytes_before, fs_bytes_after;	/* ext4 size, 0 when resumed */
};

/*
 * Encrypt req->device in place (see provision_encrypt.c for the order),
 * or resume the encryption an earlier run left in the header. req as for
 * provision (fs, label, force, format_only unused). progress is called
 * while data is encrypted; a non-zero return stops (res->stopped, -EINTR).
 * 0, or -errno with err saying why and what to do.
 */
int vv_encrypt(struct vv_vault *v, const struct vv_provision_req *req,
	       vv_reencrypt_progress progress, void *ctx, struct vv_encrypt_result *res,
	       struct vv_error *err);

#endif
