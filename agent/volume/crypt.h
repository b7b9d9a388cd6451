/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one place that talks to libcryptsetup: probe a header, check a key,
 * activate and deactivate (open, the token plugin), and change LUKS2
 * headers (format, add and remove keyslots: provision, adopt, rotate).
 * Error meanings are mapped once, here; nothing outside agent/volume/
 * includes <libcryptsetup.h>. crypt.c holds the unlock paths,
 * crypt_inspect.c what is read for reports (reencryption progress,
 * BitLocker protectors), crypt_format.c what writes a header.
 *
 * Unlocking comes in one step (vv_crypt_activate) or in two, for opening
 * many volumes in parallel threads:
 *
 *   1. vv_unlock_load, then vv_unlock_volume_key: read the header, then
 *      run the key derivation (PBKDF2/argon2, the slow part) to get the
 *      volume key. The derivation involves no device-mapper, so threads
 *      may run it concurrently; it works on image files (tests).
 *   2. vv_unlock_activate: create the dm-crypt mapping from the volume key.
 *      libcryptsetup's device-mapper backend keeps process-wide state
 *      without locks (a use count that releases libdevmapper's control
 *      descriptor, moved by every crypt_init() and crypt_free(); a log
 *      context), so the caller serialises with one mutex every call that
 *      touches it: vv_unlock_load, vv_unlock_activate, vv_unlock_free,
 *      vv_crypt_*, vv_quiesce_*. Only vv_unlock_volume_key runs unlocked.
 *
 * The one-step vv_crypt_activate runs the key derivation inside the
 * device-mapper critical section; both map errors the same way
 * (vv_crypt_strerror applies). The two-step path also supports the
 * detached LUKS headers older ADE setups use, and names BitLocker
 * protectors for error messages. Nothing in the unlock paths writes to a
 * disk.
 */
#ifndef VV_CRYPT_H
#define VV_CRYPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/secret.h"

enum vv_vol_type { VV_VOL_UNKNOWN = 0, VV_VOL_LUKS1, VV_VOL_LUKS2, VV_VOL_BITLK };

const char *vv_vol_type_str(enum vv_vol_type t);

/* Activation flags: the same bits as libcryptsetup's CRYPT_ACTIVATE_*. */
#define VV_CRYPT_READONLY (1u << 0)

/* libcryptsetup's own words kept in an error (its error-level messages), bounded. */
#define VV_CRYPT_REASON_MAX 1024

struct vv_crypt_info {
	enum vv_vol_type type;
	char uuid[64];		/* LUKS UUID or BitLocker volume GUID */
	char cipher[64];	/* e.g. aes-xts-plain64 */
	uint64_t data_offset;	/* sectors */
	uint64_t size;		/* device size in sectors */
	/* vv_unlock_load failed: what libcryptsetup said ("" when nothing). */
	char reason[VV_CRYPT_REASON_MAX];
};

/* ---- one step ------------------------------------------------------------ */

/* Read the header without changing anything. -EINVAL: no usable header. */
int vv_crypt_probe(const char *device, struct vv_crypt_info *info);

/*
 * Check that key opens the volume without activating it (works on image
 * files, without device-mapper). Returns the keyslot (>= 0) or -EPERM
 * for a wrong key, -EINVAL for a bad header, other -errno.
 */
int vv_crypt_check_key(const char *device, const struct vv_secret *key);

/*
 * Activate device as /dev/mapper/name with key. flags are VV_CRYPT_*.
 * Returns the keyslot used (LUKS) or 0 (BitLocker), -EEXIST when a mapping
 * of that name already exists, -ENXIO when device-mapper is not available,
 * -EPERM wrong key, other -errno.
 */
int vv_crypt_activate(const char *device, const char *name,
		      const struct vv_secret *key, uint32_t flags);

/* Remove the mapping. -ENODEV when it does not exist. */
int vv_crypt_deactivate(const char *name);

/* Is a mapping active; if so and dev_out is given, its underlying device. */
bool vv_crypt_is_active(const char *name, char *dev_out, size_t dev_len);

/*
 * Revocation enforcement (crypt_suspend.c, device-mapper: serialise). LUKS
 * only: -ENOTSUP for any other mapping, before anything changes. header is
 * a detached LUKS header file, or NULL when it is on the disk.
 *
 * vv_crypt_suspend: suspend name and wipe its volume key from the kernel;
 * I/O to it blocks (it does not fail) until a resume. The caller syncs
 * the filesystem first. -ENODEV when no such mapping.
 * vv_crypt_resume_by_key: resume it with the keyslot passphrase that opens
 * it; -EPERM wrong key. vv_crypt_suspended: 1 suspended, 0 not, -errno.
 */
int vv_crypt_suspend(const char *name, const char *header);
int vv_crypt_resume_by_key(const char *name, const char *header, const struct vv_secret *key);
int vv_crypt_suspended(const char *name);

/* A short human explanation of a vv_crypt_* error for messages. */
const char *vv_crypt_strerror(int err);

/* ---- two steps ----------------------------------------------------------- */

struct vv_unlock;

/*
 * Load the header of device (or of header, a detached LUKS header file,
 * when not NULL). -EINVAL: no usable header (damaged / not encrypted),
 * -ENOENT: device missing. info (may be NULL) gets type and UUID, and on
 * failure libcryptsetup's reason.
 */
int vv_unlock_load(const char *device, const char *header, struct vv_unlock **out,
		   struct vv_crypt_info *info);

/*
 * What libcryptsetup said at error level in the last step on u (load, key
 * derivation or activation), e.g. "BITLK devices with type
 * 'encrypt-on-write' cannot be activated."; "" when it said nothing.
 */
const char *vv_unlock_reason(const struct vv_unlock *u);

/*
 * A BitLocker volume whose header already tells that libcryptsetup will
 * not activate it (encrypt-on-write, a conversion not finished, protection
 * suspended with a clear key): -ENOTSUP with why and the remedy that fits,
 * before any key is derived. 0 otherwise (and for LUKS).
 */
int vv_unlock_refusal(struct vv_unlock *u, char *why, size_t why_len, char *remedy,
		      size_t remedy_len);

/*
 * Derive the volume key with key (passphrase, .BEK file bytes or BitLocker
 * recovery password), trying only keyslot (a token names it) or every
 * keyslot (-1). Returns the keyslot (>= 0; 0 for BitLocker) with *vk set,
 * -EPERM for a wrong key, other -errno.
 */
int vv_unlock_volume_key(struct vv_unlock *u, int keyslot, const struct vv_secret *key,
			 struct vv_secret **vk);

/*
 * Memory (KiB) the key derivation may need: the largest argon2 memory cost
 * among the keyslots it would try (keyslot, or all active ones for -1); 0
 * for PBKDF2, LUKS1 and BitLocker. Lets a caller keep parallel argon2 runs
 * within the machine's memory.
 */
unsigned long vv_unlock_kdf_memory_kb(struct vv_unlock *u, int keyslot);

/*
 * Activate the mapping name from a volume key (device-mapper: serialise).
 * flags are VV_CRYPT_*. -EEXIST when a mapping of that name exists, -ENXIO
 * when device-mapper is not available.
 */
int vv_unlock_activate(struct vv_unlock *u, const char *name,
		       const struct vv_secret *vk, uint32_t flags);

/*
 * LUKS2 with an encryption (reencryption) in progress, e.g. ADE's online
 * encryption (`cryptsetup reencrypt --encrypt --init-only`, then in the
 * background): such a volume activates only by passphrase, which lets
 * libcryptsetup build the mixed crypt/plain segment table; a volume key
 * alone cannot (vv_unlock_activate fails).
 */
bool vv_unlock_reencrypting(struct vv_unlock *u);

/* Check key against keyslot (-1 any) without activating: keyslot or -EPERM. */
int vv_unlock_check_passphrase(struct vv_unlock *u, int keyslot, const struct vv_secret *key);

/* Activate name by passphrase (device-mapper: serialise). -EEXIST as above. */
int vv_unlock_activate_passphrase(struct vv_unlock *u, const char *name, int keyslot,
				  const struct vv_secret *key, uint32_t flags);

/* Percent of the data already encrypted (0-100), -1 when not reencrypting. */
int vv_unlock_reencrypt_percent(struct vv_unlock *u);

/*
 * The same from LUKS2 metadata JSON (crypt_dump_json) and the data
 * device's size in bytes, for tests: the share of the data segments (not
 * backup-*) that are crypt segments. -1 when it cannot be told.
 */
int vv_luks2_encrypted_percent(const char *json, uint64_t dev_size);

/*
 * BitLocker: the protectors of the volume, as libcryptsetup describes them
 * ("smart card, recovery passphrase"). -ENOTSUP for other volume types.
 */
int vv_unlock_protectors(struct vv_unlock *u, char *buf, size_t len);

void vv_unlock_free(struct vv_unlock *u);

/* ---- changing a LUKS2 header (provision, adopt, rotate) ------------------ */

/*
 * BEK keyslots: PBKDF2-SHA256 at 1000 iterations, the minimum libcryptsetup
 * accepts (see agent/provision/provision.h for why).
 */
#define VV_BEK_PBKDF2_ITERATIONS 1000

/* A LUKS2 header open for changes. */
/*
 * libcryptsetup takes a lock file per device in its lock directory
 * (/run/cryptsetup) before it reads a LUKS2 header, and fails the read
 * when it cannot create one: with /run read-only or out of space or
 * inodes, every LUKS2 volume would look unreadable, and a token-described
 * one absent. Commands that only read headers (open, close, status) call
 * this first: when the directory cannot take a lock file, it says so and
 * turns the locking off for this process. A header read torn by a
 * concurrent writer is caught by the header's checksums, and no other
 * libcryptsetup user can take a lock there to write one either.
 */
void vv_crypt_locks_check(void);

struct vv_luks2;

/* Open device to format it (nothing read yet). -errno from libcryptsetup. */
int vv_luks2_init(const char *device, struct vv_luks2 **out);

/* Open device's LUKS2 header. -EINVAL when device holds no LUKS2 header. */
int vv_luks2_load(const char *device, struct vv_luks2 **out);

/*
 * Write a new LUKS2 header: aes-xts-plain64 with a random 512-bit volume
 * key, sector_size bytes per encryption sector, label (when it fits the
 * 47 bytes LUKS2 holds, else none), subsystem "vaultvol". No keyslot yet.
 */
int vv_luks2_format(struct vv_luks2 *l, uint32_t sector_size, const char *label);

/*
 * Add a BEK keyslot for bek (PBKDF2 at VV_BEK_PBKDF2_ITERATIONS) and mark
 * it preferred, so any-slot unlocks try it before the argon2id recovery
 * keyslot. The volume key comes from the header just formatted through l
 * (from NULL) or is unlocked with from through keyslot from_slot, by
 * number (an any-slot unlock could first spend seconds on the recovery
 * keyslot). Returns the new keyslot or -errno.
 */
int vv_luks2_add_bek_keyslot(struct vv_luks2 *l, int from_slot, const struct vv_secret *from,
			     const struct vv_secret *bek);

/* Argon2id cost, as cryptsetup's options; 0 keeps libcryptsetup's default. */
struct vv_luks2_kdf {
	uint32_t iter_ms;	/* --iter-time */
	uint32_t max_kb;	/* --pbkdf-memory */
	uint32_t iterations;	/* --pbkdf-force-iterations: no benchmark */
	uint32_t parallel;	/* --pbkdf-parallel */
};

/*
 * Add an argon2id keyslot for a passphrase a human types (the recovery
 * passphrase) to a header just formatted through l. The new keyslot or
 * -errno.
 */
int vv_luks2_add_recovery_keyslot(struct vv_luks2 *l, const struct vv_luks2_kdf *kdf,
				  const struct vv_secret *pass);

/* How many keyslots a LUKS2 header has room for. */
int vv_luks2_keyslot_max(void);

/* Is keyslot slot in use? */
bool vv_luks2_keyslot_active(struct vv_luks2 *l, int slot);

/* Is slot a vaultvol BEK keyslot (PBKDF2 at VV_BEK_PBKDF2_ITERATIONS)? */
bool vv_luks2_keyslot_is_bek(struct vv_luks2 *l, int slot);

/*
 * Did the format and the keyslots of l land? Its header is loaded afresh
 * from the disk (libcryptsetup reads with O_DIRECT) and must carry l's UUID
 * and the same active keyslots. A disk that loses writes still shows the
 * old header, or none: -EIO, and nothing may then be written on top of a
 * header that is not the one formatted (a token in another volume's
 * header). 0 or -EIO (or libcryptsetup's error opening the device).
 */
int vv_luks2_check_written(struct vv_luks2 *l);

/* Erase keyslot slot. -errno. */
int vv_luks2_destroy_keyslot(struct vv_luks2 *l, int slot);

void vv_luks2_free(struct vv_luks2 *l);

/* ---- in-place encryption (encrypt; crypt_reencrypt.c) -------------------- */

/*
 * A new LUKS2 header in the file header for data_device, its data starting
 * data_offset bytes into data_device (vv_luks2_format then writes only the
 * file). -errno.
 */
int vv_luks2_init_detached(const char *header, const char *data_device, uint64_t data_offset,
			   struct vv_luks2 **out);

/*
 * Put the LUKS2 header in file header (made with vv_luks2_init_detached
 * for data_device, keyslot slot opened by key) into LUKS2 encryption state with a data shift of shift bytes,
 * libcryptsetup's "datashift" resilience, backward direction and the
 * first segment moved (the layout of `cryptsetup reencrypt --encrypt
 * --reduce-device-size 2*shift`), in sector_size-byte encryption sectors
 * (as the header was formatted). Writes the moved first segment into the
 * space data_device's filesystem gave up; the header itself is still only
 * in the file. -errno.
 */
int vv_luks2_encrypt_init(const char *header, const char *data_device, int slot,
			  const struct vv_secret *key, uint64_t shift, uint32_t sector_size);

/* Copy the LUKS2 header in file header to the start of device. -errno. */
int vv_luks2_header_restore(const char *device, const char *header);

/*
 * Is device's LUKS2 header in reencryption (encryption) state? 1 yes, 0 no,
 * -EINVAL when device holds no LUKS2 header.
 */
int vv_luks2_reencrypt_pending(const char *device);

/*
 * Called after each hotzone with the bytes done of size; a non-zero return
 * stops the run cleanly (resumable).
 */
typedef int (*vv_reencrypt_progress)(uint64_t size, uint64_t done, void *ctx);

/*
 * Resume (or start, after vv_luks2_encrypt_init) device's reencryption,
 * offline, with key opening keyslot slot, and run it to the end or until
 * progress asks to stop: 0 done, -EINTR stopped, other -errno.
 */
int vv_luks2_reencrypt_run(const char *device, int slot, const struct vv_secret *key,
			   vv_reencrypt_progress progress, void *ctx);

/*
 * Does key open exactly keyslot slot of device's LUKS2 header? Returns
 * slot, -EPERM (also for an inactive keyslot), -EINVAL when device is not
 * LUKS2, other -errno. Nothing is activated.
 */
int vv_luks2_check_keyslot(const char *device, int slot, const struct vv_secret *key);

/* ---- the token plugin's side (crypt_token.c) ----------------------------- */

/*
 * What libcryptsetup hands an external token handler (plugin/), so the
 * plugin needs no <libcryptsetup.h>: cd is the crypt device it passes.
 */
struct crypt_device;

/* The JSON of token id as libcryptsetup stores it (owned by cd). 0 or -errno. */
int vv_crypt_token_json(struct crypt_device *cd, int id, const char **json);
/* The device (or image file) cd was opened on, "" when it cannot say. */
const char *vv_crypt_device_name(struct crypt_device *cd);
/*
 * One line through libcryptsetup's logger (crypt_log): errors always
 * shown, warnings and information with `cryptsetup -v`, debug with
 * --debug; dump lines (VV_CRYPT_LOG_DUMP) as luksDump prints its own.
 * vv_level is an enum vv_log_level (base/log.h) or VV_CRYPT_LOG_DUMP; the
 * line is prefix + msg and gets its newline here.
 */
#define VV_CRYPT_LOG_DUMP (-1)
void vv_crypt_log_line(struct crypt_device *cd, int vv_level, const char *prefix,
		       const char *msg);

#endif
