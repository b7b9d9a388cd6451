/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reopening volumes: discover -> plan -> fetch keys -> unlock -> stack
 * dm-quiesce -> mount -> record state. Used by `vaultvol open`, `close`,
 * `status`, and by the extension handler.
 *
 * Planning (pure, open_plan.c) merges the three descriptions of a volume.
 * The key reference comes from, in this order: the volume's own vaultvol
 * LUKS2 token, its [volume] section in the config file, ADE state. Mount
 * point, filesystem and options come from the config file, else the token,
 * else ADE. A token's are what a disk asks for, and a header is not
 * authenticated: they are held to vv_mount_point_check (agent/config/config.h),
 * vv_mount_fs_allowed and vv_mount_options_check (agent/volume/mount.h), and
 * mounted with VV_MOUNT_UNTRUSTED; a volume they refuse fails as
 * VV_FAIL_REFUSED (after its key reference is checked, before any mapping). A config section and an ADE entry with the same name, or that
 * match the same disk, are one volume (the config file wins). A disk with a
 * vaultvol token and no other description is a volume of its own, named by
 * the token.
 *
 * Running (open.c) works on volumes in parallel (bounded threads). Every
 * distinct (key reference, KEK) is fetched once, however many volumes share
 * it. Key derivation runs in parallel; device-mapper work is serialised
 * (see agent/volume/crypt.h). An open and mounted volume is verified and left
 * alone; an open one without its mount is mounted. Failures are per volume,
 * with a cause and a remedy; nothing is written to any disk (activation and
 * mounting aside).
 */
#ifndef VV_OPEN_H
#define VV_OPEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/config/config.h"
#include "agent/config/crypttab.h"
#include "agent/volume/discover.h"
#include "vault/vault.h"

enum vv_vstate {
	VV_VS_UNKNOWN = 0,
	VV_VS_CLOSED,		/* not open (check-only runs leave it so) */
	VV_VS_OPEN,		/* mapping active, not mounted (or no mount point) */
	VV_VS_MOUNTED,
	VV_VS_FAILED,
	VV_VS_UNDESCRIBED,	/* an encrypted disk no token, config or ADE entry describes */
};
const char *vv_vstate_str(enum vv_vstate s);

enum vv_fail {
	VV_FAIL_NONE = 0,
	VV_FAIL_NO_KEY_REF,	/* no token, config or ADE key reference */
	VV_FAIL_KEY_ACCESS,	/* the key source refused or is unreachable (cause) */
	VV_FAIL_WRONG_KEY,	/* no keyslot / protector accepts the key */
	VV_FAIL_HEADER,		/* no usable LUKS/BitLocker header on the disk */
	VV_FAIL_MISSING,	/* no disk matches */
	VV_FAIL_AMBIGUOUS,	/* two disks match (same UUID) */
	VV_FAIL_UNTRUSTED,	/* only a kernel device name identifies the disk */
	VV_FAIL_UNSUPPORTED,	/* e.g. a BitLocker protector Linux cannot use */
	VV_FAIL_CONFLICT,	/* name or disk already used by something else */
	VV_FAIL_TOKEN,		/* the vaultvol token is malformed */
	VV_FAIL_ACTIVATE,	/* device-mapper refused */
	VV_FAIL_QUIESCE,	/* quiesce = yes but dm-quiesce is not usable */
	VV_FAIL_MOUNT,
	VV_FAIL_REFUSED,	/* the disk asks for what no disk may (token mount point, options, fs) */
};
/* Short stable names for status and JSON: "wrong-key", "key-access", ... */
const char *vv_fail_str(enum vv_fail f);

/*
 * A key that could not be fetched for reference ref (err as vv_bek_fetch
 * left it), judged the same by `open` and the token plugin (open_key.c):
 * the remedy that fits (the vault's own when it gave one; a BEK VOLUME
 * disk's for bek: references, which waiting does not fix; else the
 * cause's), and whether it is transient (an unreachable or overloaded
 * vault, or an answer that did not parse: worth retrying).
 */
const char *vv_open_key_remedy(const char *ref, const struct vv_error *err);
bool vv_open_key_transient(const char *ref, enum vv_cause cause);
/*
 * The same judgment for a command an operator ran (key, provision, adopt,
 * rotate, encrypt): when err has no remedy and its cause is a key source's,
 * give it the cause's remedy, worded for a command that is run again
 * rather than a boot service that retries. ref may be NULL. Returns
 * whether err is a key source's failure (its cause is worth naming).
 */
bool vv_key_remedy_fill(const char *ref, struct vv_error *err);
/*
 * A fetched key the vault dates as expired or not yet valid is used all
 * the same (the volume's data matters more than the date), with a word:
 * that word in buf for `open` and the plugin alike; false when the dates
 * are fine. ref names the key when the vault gave no version.
 */
bool vv_open_key_dates_warning(const struct vv_bek *bek, const char *ref, char *buf,
			       size_t len);

struct vv_vol;
/*
 * Mark v failed: kind f, and in v->error the cause (VV_CAUSE_NONE: the one
 * that goes with f; for VV_FAIL_KEY_ACCESS the key source's, as given), the
 * message and the remedy (NULL: none). Planning and running record failures
 * only through here (open_fail.c).
 */
void vv_vol_fail(struct vv_vol *v, enum vv_fail f, enum vv_cause cause, const char *remedy,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* What to do about a token whose mount point, filesystem or options are refused. */
#define VV_TOKEN_MOUNT_REMEDY \
	"rewrite the token with `vaultvol adopt --force --mount PATH` (PATH outside the " \
	"system directories), or describe the volume in /etc/vaultvol/vaultvol.conf"


struct vv_vol {
	struct vv_volume_conf conf;	/* merged description; conf.key is the ref used */
	enum vv_origin key_origin;	/* where conf.key came from */
	int keyslot;			/* the keyslot the token names, -1: any */
	char *alt_key, *alt_kek;	/* token "retire": the previous key, tried on wrong key */
	int alt_keyslot;
	bool mount_from_token;		/* conf.mount/fs/options are the token's: untrusted */
	/*
	 * Set by planning when the token asks for what no disk may: the run
	 * fails the volume with it (VV_FAIL_REFUSED) once its key reference has
	 * been checked, so a hostile key reference is reported first, and
	 * before any mapping or mount.
	 */
	char refusal[400];
	bool selected;			/* part of this run */

	/* the disk */
	char *device;			/* NULL when not resolved */
	enum vv_vol_type type;
	char uuid[64];
	int lun;
	/*
	 * The UUID this volume had when it last opened (volumes.json). Where
	 * it is known it decides which disk is the volume's, whatever its
	 * LUN or path says now (exchanged LUNs must not swap mounts).
	 */
	char opened_uuid[64];
	bool relocated;			/* found by opened_uuid on another disk than described */
	bool undescribed;		/* state VV_VS_UNDESCRIBED: listed, never opened */
	/*
	 * ADE's resource disk came back fresh and unencrypted (a restore or
	 * redeploy): re-encrypt it (reformat) or leave it (skip). Only for an
	 * ADE resourceencrypt line whose disk carries the platform's
	 * /dev/disk/azure/resource link.
	 */
	bool reformat, reformat_skip;
	/*
	 * /etc/crypttab lists the disk (agent/config/crypttab.h): it is
	 * systemd-cryptsetup's to open, under this name. crypttab_left: it was
	 * not open, and this run left it so (a warning says why).
	 */
	char crypttab[128];
	bool crypttab_left;
	/* Open as a dm-crypt mapping of another name (crypttab's): its name. */
	char foreign[128];
	int reencrypt_pct;		/* LUKS2 encryption in progress: percent done, -1 none */
	const struct vv_secret *pass;	/* run-time: activate by passphrase (reencryption) */

	/* outcome */
	enum vv_vstate state;
	enum vv_fail fail;		/* what kind of failure; its details are in error */
	/*
	 * The failure as the one error value: cause (for VV_FAIL_KEY_ACCESS
	 * what the key source said), message (one line) and remedy. The CLI
	 * line, volumes.json and the handler substatus are views of it. Set
	 * with vv_vol_fail() only.
	 */
	struct vv_error error;
	bool transient;			/* worth retrying (vault unreachable, disk not yet there) */
	bool changed;			/* this run activated or mounted something */
	bool quiesced;			/* dm-quiesce stacked under the mount */
	char warning[512];		/* opened, but ... (expired secret, mounted elsewhere) */
	char last_error[40];		/* status: vv_fail_str of the last run, from volumes.json */
	char *key_source;		/* "keyvault", "bek-volume", "keystore", "file" */
	char *key_version;		/* versioned secret id actually used */
	char *kek_version;
	/*
	 * When the secret and the KEK that opened it expire (the vault's
	 * "exp", seconds since the epoch; 0: none, or not known). The
	 * secret's comes with the key; the KEK's from vv_open_kek_expiry.
	 * expiry_known: this run fetched the key (a volume found open keeps
	 * what volumes.json recorded).
	 */
	int64_t secret_exp, kek_exp;
	bool expiry_known;
	char *mounted_on;		/* where it is mounted now */
	char top[200];			/* /dev/mapper/NAME, the device the mount uses */
};

struct vv_open_plan {
	struct vv_vol *v;
	size_t n;
};

/* What a previous run recorded (volumes.json), used to pin ADE kernel names. */
struct vv_prev {
	char *name;
	char *uuid;
	char *opened_uuid;	/* the UUID it had when it last opened; NULL if never */
};

struct vv_open_env {
	const struct vv_config *cfg;		/* may be NULL */
	const struct vv_volume_conf *ade;	/* from vv_ade_load */
	size_t nade;
	const struct vv_disks *disks;
	const struct vv_prev *prev;
	size_t nprev;
	const struct vv_crypttab *crypttab;	/* may be NULL */
};

/*
 * True when the platform marks b as the Azure resource disk (or one of its
 * partitions): a /dev/disk/azure/resource[-partN] or
 * /dev/disk/cloud/azure_resource[-partN] link points at it.
 */
bool vv_open_is_resource_disk(const struct vv_blockdev *b);

/* Build the plan (pure: no I/O). Every volume starts selected. -ENOMEM only. */
int vv_open_plan_build(const struct vv_open_env *env, struct vv_open_plan *plan);
void vv_open_plan_free(struct vv_open_plan *plan);
struct vv_vol *vv_open_plan_find(struct vv_open_plan *plan, const char *name);

/*
 * Add NAME to the plan from what volumes.json recorded (prev), with no
 * device: for `close` of a volume whose disk can no longer be read (failed,
 * detached), so its token is gone from discovery while its mappings are
 * still there. -ENOENT when NAME was never recorded, -ENOMEM.
 */
int vv_open_plan_add_recorded(struct vv_open_plan *plan, const struct vv_prev *prev,
			      size_t nprev, const char *name);
/*
 * vv_open_plan_add_recorded for each of names that the plan lacks; the
 * added volumes are the last ones of the plan. The number added, or -ENOMEM.
 */
int vv_open_plan_add_recorded_names(struct vv_open_plan *plan, const struct vv_prev *prev,
				    size_t nprev, char *const *names, size_t n);

/*
 * Select only the named volumes. -ENOENT when a name is unknown (it is
 * copied to bad).
 */
int vv_open_select(struct vv_open_plan *plan, char *const *names, size_t n,
		   char *bad, size_t badlen);

struct vv_open_stats {
	unsigned fetches;	/* distinct key fetches performed */
	unsigned key_waits;	/* volumes that reused a fetch in flight or done */
	unsigned failed, opened, mounted, unchanged;
	unsigned undescribed;	/* encrypted disks nobody describes (listed, not opened) */
	unsigned relocated;	/* opened from another disk than described: needs attention */
};

struct vv_open_ctx {
	struct vv_vault *vault;		/* shared by all threads; may be NULL (no vault refs) */
	int jobs;			/* parallel volumes, 0 = default (8) */
	/*
	 * Derive each volume key and stop: no device-mapper, no mount. For
	 * host tests on image files; state stays CLOSED on success.
	 */
	bool check_only;
	struct vv_open_stats stats;	/* out */
};

/*
 * Open (and mount) every selected volume. Returns the number that failed.
 * Undescribed volumes are counted (stats.undescribed), never opened, and
 * are no failure.
 */
int vv_open_run(struct vv_open_ctx *ctx, struct vv_open_plan *plan);

/*
 * Close every selected volume: unmount the top device everywhere it is
 * mounted, remove the quiesce layer, remove the crypt mapping. Returns the
 * number that failed (busy mounts).
 */
int vv_close_run(struct vv_open_plan *plan);

/*
 * Refresh state from the running system (mappings, mounts) without
 * changing anything; for status.
 */
void vv_open_refresh(struct vv_open_plan *plan);

/*
 * <state_dir>/volumes.json: what the last runs found, per volume (never a
 * key): written atomically (temporary file, fsync, rename) with mode 0600.
 * Entries of volumes not selected in plan are carried over unchanged.
 */
#define VV_OPEN_STATE_FILE "volumes.json"
/* json-c output flags for volumes.json and --json: readable, URLs unescaped. */
#define VV_OPEN_JSON_FLAGS (JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE)
int vv_open_state_write(const char *state_dir, const struct vv_open_plan *plan,
			struct vv_error *err);
/* The names and UUIDs recorded there (none when the file is missing). */
int vv_open_state_read(const char *state_dir, struct vv_prev **prev, size_t *n,
		       struct vv_error *err);
void vv_prev_free(struct vv_prev *prev, size_t n);
/* One volume as JSON (status --json, state file); NULL on ENOMEM. */
struct json_object *vv_open_vol_json(const struct vv_vol *v);
/*
 * One journal entry per volume outcome, with structured fields
 * (agent/open/open_journal.c); commands use it instead of their plain lines
 * when vv_log_journal() says the journal is the log.
 */
void vv_open_vol_log(const struct vv_vol *v, bool check);
/*
 * The line `open` prints for a volume that opened, after "NAME: ", e.g.
 * "mounted on /data (LUKS2 /dev/sdc, key keyvault REF)"; the plain output
 * and the journal entry both use it.
 */
void vv_open_vol_describe(const struct vv_vol *v, bool check, char *buf, size_t len);

/*
 * Fill what only a run knows (key source and version, last error, warning)
 * into plan volumes from volumes.json, for `status`.
 */
int vv_open_state_merge(const char *state_dir, struct vv_open_plan *plan);

/*
 * Expiry of the keys that open a volume (open_expiry.c). Days are whole
 * days from now, rounded down: 0 is "within a day", negative "expired".
 * Under VV_EXPIRY_WARN_DAYS a volume gets a warning naming the key, the
 * date and what to do.
 */
#define VV_EXPIRY_WARN_DAYS 30
/* <state_dir>/expiry-warned.json: the day each warning last went to the journal. */
#define VV_EXPIRY_WARNED_FILE "expiry-warned.json"
long vv_expiry_days(int64_t exp, int64_t now);
/*
 * The remote KEKs' expiry, after the volumes are open: one vv_key_get per
 * distinct KEK of the volumes whose key this run fetched. Best effort: a
 * refusal leaves that KEK's expiry unknown; after an outage no further
 * KEK is asked. Never fails a volume.
 */
void vv_open_kek_expiry(struct vv_vault *vault, struct vv_open_plan *plan);
/*
 * The warning about v's secret (kek false) or KEK when it expires within
 * VV_EXPIRY_WARN_DAYS of now (or has expired): true with the text in buf
 * (without the volume's name).
 */
bool vv_open_expiry_warning(const struct vv_vol *v, bool kek, int64_t now, char *buf,
			    size_t len);
/*
 * The run's expiry warnings: on stderr every run, or, when the journal is
 * the log, one entry (MESSAGE_ID VV_MSGID_KEY_EXPIRING) per volume and key
 * at most once a UTC day, remembered in <state_dir>/VV_EXPIRY_WARNED_FILE.
 */
void vv_open_expiry_report(const char *state_dir, const struct vv_open_plan *plan,
			   bool journal, int64_t now);

/* The crypt mapping's name under a quiesce layer named name. */
void vv_open_crypt_name(const char *name, char *buf, size_t len);

/*
 * Everything open, close and status start from: the config file (and a
 * vault client when need_vault), ADE state, the disks, the previous state,
 * and the plan built from them.
 *
 * Test hooks (environment): VAULTVOL_ROOT prefixes the ADE state files
 * (/etc/crypttab, /etc/fstab, azure_crypt_mount); VAULTVOL_LUN_DIR replaces
 * /dev/disk/azure/scsi1 (the lun<N> links).
 */
struct vv_options;
struct vv_open_setup {
	struct vv_config *cfg;
	struct vv_vault *vault;
	struct vv_volume_conf *ade;
	size_t nade;
	struct vv_disks disks;
	struct vv_prev *prev;
	size_t nprev;
	struct vv_crypttab crypttab;
	struct vv_open_plan plan;
};

/* 0, or -errno with a message; a config error is -EINVAL (exit status 2). */
int vv_open_setup(const struct vv_options *opt, bool need_vault, struct vv_open_setup *s,
		  struct vv_error *err);
void vv_open_teardown(struct vv_open_setup *s);

#endif
