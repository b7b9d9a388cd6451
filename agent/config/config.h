/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * /etc/vaultvol/vaultvol.conf: INI with `[section]` headers, `key = value`
 * lines and whole-line `#` comments. Parsing is strict because the file
 * decides where keys come from and what gets mounted where: an unknown
 * section or key, a repeated section or key, or a bad value is an error
 * naming file:line, and the file must be owned by root (or the calling
 * user, for tests) and not writable by group or others.
 *
 *   [vault]
 *   url = https://myvault.vault.azure.net     default vault for bare names
 *   secondary = https://backup.vault.azure.net  same keys, tried on outage
 *   allowed = https://other.vault.azure.net ...  more vaults keys may come
 *                                              from (lines add up)
 *   moved = https://OLD https://NEW           OLD's keys now live at NEW
 *                                              (lines add up)
 *   imds = http://169.254.169.254
 *   ca_file = /path/ca.pem                     extra CA; verification stays on
 *   identity = client_id:ID | object_id:ID | msi_res_id:ID
 *   aad_tenant = ..., aad_client_id = ..., aad_secret_file = /path,
 *   aad_cert_file = /path                      AAD application instead of MSI
 *   aad_authority = https://login.microsoftonline.us   AAD login host (sovereign
 *                                              clouds; default the public one)
 *   keystore = /etc/vaultvol/keys              local keystore directory
 *   timeout = 60                               seconds per key operation,
 *                                              retries included
 *   require_purge_protection = yes|no          provision/adopt/rotate refuse a
 *                                              vault without purge protection
 *                                              (default no: a warning)
 *   [volume NAME]                              NAME = the /dev/mapper name
 *   match = uuid:LUKS-UUID | lun:N | path:/dev/disk/... | bitlocker:GUID
 *   key = KEY-REF (vault/vault.h), kek = KEK-REF, alg = RSA-OAEP...
 *   mount = /data, fs = ext4, options = noatime
 *   readonly = yes|no      (default: yes for BitLocker/NTFS, no otherwise)
 *   quiesce = auto|yes|no  (stack dm-quiesce; auto = when it is loaded)
 *   revocation = yes|no    no: `vaultvol watch` never suspends this volume
 *                          (default yes: covered when [revocation] enforces)
 *   [open]
 *   token_options_allowed = exec, suid, dev   what a disk's token may ask for
 *   [snapshot]
 *   timeout = 60           freeze deadline in seconds
 *   exclude = /scratch, /tmp/x     mount points never frozen
 *   scripts_config = /etc/azure/VMSnapshotScriptPluginConfig.json
 *   hooks_dir = /etc/qemu/fsfreeze-hook.d
 *   [revocation]                               `vaultvol watch` (docs/revocation.md)
 *   enforce = yes|no       suspend a volume whose Key Vault secret or KEK is
 *                          revoked past the grace period (default no)
 *   check = 5m             how often watch re-checks (30s, 5m, 1h or seconds;
 *                          10s-1d, default 5m)
 *   grace = 10m            how long a revocation must last (0-7d, default 10m)
 */
#ifndef VV_CONFIG_H
#define VV_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/options.h"
#include "base/error.h"
#include "vault/vault.h"

enum vv_match_kind {
	VV_MATCH_NONE = 0,
	VV_MATCH_UUID,		/* LUKS UUID (lower case) */
	VV_MATCH_LUN,		/* Azure data disk LUN, /dev/disk/azure/scsi1/lun<N> */
	VV_MATCH_PATH,		/* stable path: /dev/disk/by-..., /dev/disk/azure/... */
	VV_MATCH_BITLOCKER,	/* BitLocker volume GUID (lower case) */
	VV_MATCH_DEVNAME,	/* kernel name (/dev/sdc): ADE state only, never trusted alone */
};

struct vv_match {
	enum vv_match_kind kind;
	char *value;		/* UUID, GUID or path; NULL for LUN */
	int lun;
	int part;		/* partition number for lun:N-partM, 0 = whole disk */
};

enum vv_tristate { VV_TRI_AUTO = 0, VV_TRI_YES, VV_TRI_NO };

/* Where a volume description came from (also the key-reference order). */
enum vv_origin { VV_ORIGIN_TOKEN = 0, VV_ORIGIN_CONFIG, VV_ORIGIN_ADE };
const char *vv_origin_str(enum vv_origin o);

/* One volume as described by the config file, ADE state or a token. */
struct vv_volume_conf {
	char *name;		/* mapper name */
	struct vv_match match;
	char *key;		/* key reference, NULL when another source gives it */
	char *kek;
	char *alg;
	char *mount;		/* NULL: open only */
	char *fs;
	char *options;
	char *header;		/* detached LUKS header (ADE), NULL when on disk */
	enum vv_tristate readonly;	/* AUTO: BitLocker/NTFS read-only */
	enum vv_tristate quiesce;
	/* NO: `vaultvol watch` never suspends it; AUTO (unset) and YES: covered */
	enum vv_tristate revocation;
	enum vv_origin origin;
	bool ade_resource;	/* ADE's resourceencrypt line: the platform's resource disk */
	char *where;		/* "file:line" of the description, for messages */
};

struct vv_config_vault {
	char *url, *secondary, *imds, *ca_file;
	char **allowed;		/* normalised vault origins, NULL-terminated */
	size_t nallowed;
	struct vv_vault_move *moves;	/* normalised; strings owned */
	size_t nmoves;
	char *identity_kind, *identity_value;
	char *aad_tenant, *aad_client_id, *aad_secret_file, *aad_cert_file;
	char *aad_authority;	/* https://HOST[:PORT]; NULL = login.microsoftonline.com */
	char *keystore;
	int timeout_s;		/* 0 = the vault library's default */
	bool require_purge_protection;	/* provision, adopt, rotate: refuse, not warn */
};

struct vv_config_snapshot {
	int timeout_s;		/* freeze deadline, default 60 */
	char **exclude;		/* mount points, nexclude of them */
	size_t nexclude;
	char *scripts_config;	/* VMSnapshotScriptPluginConfig.json, NULL = none */
	char *hooks_dir;	/* qemu-ga style hook directory, NULL = none */
};

/* [revocation]: what `vaultvol watch` enforces. */
struct vv_config_revocation {
	bool enforce;
	int check_s;		/* seconds between checks */
	int grace_s;		/* seconds a revocation must last before a suspend */
	/* VV_REV_SET_*: which keys the file gave (a drop-in overrides only those) */
	unsigned given;
};
#define VV_REV_SET_ENFORCE	0x1
#define VV_REV_SET_CHECK	0x2
#define VV_REV_SET_GRACE	0x4
#define VV_REVOCATION_DEFAULT_CHECK_S	300
#define VV_REVOCATION_DEFAULT_GRACE_S	600
#define VV_REVOCATION_CHECK_MIN_S	10
#define VV_REVOCATION_CHECK_MAX_S	86400
#define VV_REVOCATION_GRACE_MAX_S	(7 * 86400)

/*
 * A duration: plain seconds, or a number with s, m, h or d ("30s", "5m",
 * "1h"). 0 with *secs, or -EINVAL (malformed or over INT_MAX seconds).
 */
int vv_duration_parse(const char *s, int *secs);

/* [open] token_options_allowed: the mount options a token may ask for. */
#define VV_TOKOPT_SUID	0x1
#define VV_TOKOPT_DEV	0x2
#define VV_TOKOPT_EXEC	0x4

struct vv_config {
	char *path;		/* the file read, or NULL when it did not exist */
	struct vv_config_vault vault;
	unsigned token_options_allowed;	/* VV_TOKOPT_*, 0 = none */
	struct vv_volume_conf *volumes;
	size_t nvolumes;
	struct vv_config_snapshot snapshot;
	struct vv_config_revocation revocation;
	/* [ade] resource_disk = reencrypt (default) | skip */
	bool ade_resource_skip;
};

#define VV_SNAPSHOT_DEFAULT_TIMEOUT_S 60

/*
 * Read and validate the config file and its drop-ins (conf.d/NAME.conf beside
 * it, in name order, e.g. /etc/vaultvol/conf.d/). path NULL means
 * VV_DEFAULT_CONFIG. A missing file is an empty configuration only at the
 * default path (a machine that relies on tokens and ADE state needs none);
 * a path given explicitly (--config) must exist. Returns 0, or -errno with
 * a message "FILE:LINE: what is wrong" in err; *out is set only on
 * success.
 */
int vv_config_load(const char *path, struct vv_config **out, struct vv_error *err);

/* One file, without drop-ins; must_exist false: ENOENT is an empty config. */
int vv_config_load_file(const char *path, bool must_exist, struct vv_config **out,
			struct vv_error *err);

/*
 * Add the vault URLs of an `allowed` value (space or comma separated) as
 * normalised origins; duplicates are dropped. file:line for messages.
 */
int vv_config_add_allowed(struct vv_config_vault *c, const char *value, struct vv_error *err,
			  const char *file, int line);

/*
 * Add a `moved = OLD NEW` mapping (normalised origins). A vault moved
 * twice, or moved to itself, is an error naming file:line.
 */
int vv_config_add_moved(struct vv_config_vault *c, const char *value, struct vv_error *err,
			const char *file, int line);

/* The drop-in directory of a config file: "conf.d" beside it. */
int vv_config_dropin_dir(const char *config_path, char *out, size_t outlen);

/*
 * Make a vault trusted on this machine: write (atomically, 0644, root)
 * DROPIN_DIR/50-vault-HOST[-PORT].conf with "[vault] allowed = ORIGIN",
 * unless the configuration already trusts it. Called by provision, adopt
 * and rotate with the references they used, so a restored OS disk carries
 * its own allow-list. ref: any key or KEK reference; non-vault references
 * are ignored. 0 or -errno with a message in err.
 */
int vv_config_trust_vault(const char *config_path, const struct vv_config *cfg,
			  const char *ref, struct vv_error *err);

/* The same from a string (tests; no ownership checks); name is used in messages. */
int vv_config_parse(const char *text, const char *name, struct vv_config **out,
		    struct vv_error *err);

void vv_config_free(struct vv_config *cfg);

/* The [volume NAME] section, or NULL. */
const struct vv_volume_conf *vv_config_volume(const struct vv_config *cfg, const char *name);

/*
 * Fill a vault client configuration from [vault], with command-line
 * overrides (--vault, --imds, --ca-file) taking precedence. The strings
 * point into cfg and opt, which must outlive vcfg. cfg or opt may be NULL.
 */
int vv_config_vault(const struct vv_config *cfg, const struct vv_options *opt,
		    struct vv_vault_config *vcfg);

/*
 * Parse a match specification ("uuid:...", "lun:N", "path:/dev/disk/...",
 * "bitlocker:GUID"). Bare device names (/dev/sdc) are refused: they change
 * across reboots and restores. 0 or -EINVAL with a reason in why.
 */
int vv_match_parse(const char *spec, struct vv_match *m, char *why, size_t whylen);
void vv_match_clear(struct vv_match *m);
/* "uuid:...", "lun:3" ... for messages and status; buf returned. */
const char *vv_match_str(const struct vv_match *m, char *buf, size_t len);

/*
 * Identifiers that reach file names, device-mapper names and messages are
 * checked here, one function per kind, whoever read them (config file,
 * ADE state, a disk's header or token).
 *
 * Mapper names: 1-64 of [A-Za-z0-9._+-], not starting with '.' or '-'.
 */
bool vv_volume_name_valid(const char *name);

/* A LUKS UUID or BitLocker volume GUID: 8-4-4-4-12 hex digits, no braces. */
bool vv_uuid_valid(const char *s);

/*
 * A mount point, from the config file (VV_ORIGIN_CONFIG, VV_ORIGIN_ADE) or
 * a disk's token (VV_ORIGIN_TOKEN): absolute, normalised (no "//", "." or
 * ".." component, no trailing '/'), printable without spaces, not "/".
 * Refused for everyone: /etc /usr /bin /sbin /lib* /boot /proc /sys /dev
 * /run /root and anything below them, and /var itself. A token is refused
 * below /var, /tmp and /home as well (state, spool, other users' files):
 * only root's config may put a volume there. 0, -EINVAL (malformed) or
 * -EPERM (a protected place), with a phrase naming the path in why.
 */
int vv_mount_point_check(const char *path, enum vv_origin from, char *why, size_t whylen);

void vv_volume_conf_clear(struct vv_volume_conf *v);
/* Deep copy; -ENOMEM. */
int vv_volume_conf_copy(struct vv_volume_conf *dst, const struct vv_volume_conf *src);

#endif
