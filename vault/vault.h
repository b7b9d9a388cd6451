/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vault/: where a volume's key comes from. This is the public API the agent
 * (and later the token plugin and initramfs helper) use. It knows nothing of
 * volumes: it turns a key reference into key bytes in a struct vv_secret.
 *
 * Key references (strings stored in LUKS2 tokens and config files):
 *   https://<vault>/secrets/<name>[/<version>]   Key Vault secret
 *   <name>[/<version>]                           secret in the configured vault
 *   bek:<file name>                              file on the platform's BEK VOLUME
 *                                                ("bek:" = LinuxPassPhraseFileName,
 *                                                "bek:*.BEK" = its only .BEK file)
 *   keystore:<name>                              local keystore (root-only dir)
 *   file:<absolute path>                         key file
 * KEK references:
 *   https://<vault>/keys/<name>/<version>        remote wrap/unwrap
 *   file:<absolute path to PEM private key>      local wrap/unwrap
 *   keystore-kek:<name>                          PEM in the local keystore
 */
#ifndef VV_VAULT_H
#define VV_VAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/readfile.h"
#include "base/secret.h"

/* ---- key and KEK references as text (vault/keyref.c) ---- */

/* True for "file:" and "keystore-kek:" KEK references (wrapped locally). */
bool vv_kek_ref_is_local(const char *kek_ref);
/* True for a wrap algorithm both Key Vault and the local PEM path implement. */
bool vv_kek_alg_valid(const char *alg);

/*
 * The unversioned form of a storable key reference (keystore:N/V ->
 * keystore:N, https://V/secrets/N/VER -> https://V/secrets/N, N/V -> N).
 * Malloc'ed; NULL for references that cannot hold versions (file:, bek:).
 */
char *vv_ref_unversioned(const char *ref);

/* The secret's name part (keystore:N/V -> N), malloc'ed, NULL on bad input. */
char *vv_ref_name(const char *ref);

/* ---- small files that hold key material (vault/keyfile.c) ---- */

enum {
	/* Owned by root or by us, no group/other permission bits at all. */
	VV_KF_PRIVATE = VV_RF_PRIVATE,
	/* A symbolic link as the last component is always refused now. */
	VV_KF_NOFOLLOW = 1 << 1,
};

/* Largest key file we read: PEM keys are a few KiB, BEKs far less. */
#define VV_KEYFILE_MAX (64 * 1024)

/*
 * Read the regular file path (relative to dirfd, or AT_FDCWD) into a new
 * secret. Causes: NOT_FOUND (missing), CONFIG (not a regular file, too big,
 * permissions, a symlink). Returns 0 or -errno.
 */
int vv_key_file_read(int dirfd, const char *path, unsigned flags,
		     struct vv_secret **out, struct vv_error *err);

/* ---- the local keystore (vault/keystore.c; layout in vault/keystore.h) ---- */

#define VV_KEYSTORE_DEFAULT_DIR "/etc/vaultvol/keys"

/*
 * Generate an RSA KEK of the given size (2048..8192 bits) as <dir>/NAME.pem,
 * referenced as keystore-kek:NAME. Never replaces an existing KEK: secrets
 * wrapped by it would be lost.
 */
int vv_keystore_create_kek(const char *dir, const char *name, unsigned bits,
			   struct vv_error *err);

/* ---- the vault client ---- */

struct vv_vault_move {
	const char *from, *to;	/* https://HOST[:PORT] */
};

struct vv_vault_config {
	const char *vault_url;		/* default vault for bare names; may be NULL */
	const char *secondary_url;	/* same key material, tried on outage only */
	/*
	 * The only vaults a bearer token (or any request) is ever sent to:
	 * vault_url, secondary_url and these "https://host[:port]" origins.
	 * They come from trusted configuration (root-owned config and its
	 * drop-ins, the extension's protected settings, the command line),
	 * never from a disk or a vault answer. NULL-terminated; may be NULL.
	 */
	const char *const *allowed_urls;
	/*
	 * A vault's keys restored into another one (cross-region restore: Key
	 * Vault's backup/restore keeps names and versions): every reference to
	 * moves[i].from is resolved at moves[i].to with the same path; from is
	 * never contacted, to is trusted. From trusted configuration only.
	 */
	const struct vv_vault_move *moves;
	size_t nmoves;
	const char *imds_url;		/* default http://169.254.169.254 */
	const char *ca_file;		/* extra CA bundle (tests); verification stays on */
	const char *identity_kind;	/* NULL, "client_id", "object_id", "msi_res_id" */
	const char *identity_value;
	/* AAD application (older ADE setups) instead of managed identity: */
	const char *aad_authority;	/* default https://login.microsoftonline.com */
	const char *aad_tenant;
	const char *aad_client_id;
	const char *aad_secret_file;	/* file holding the client secret */
	const char *aad_cert_file;	/* PEM cert+key for client assertion */
	const char *keystore_dir;	/* default /etc/vaultvol/keys */
	const char *bek_volume_label;	/* default "BEK VOLUME" */
	int request_timeout_ms;		/* per request, default 10000 */
	int total_timeout_ms;		/* per operation incl. retries, default 60000 */
	int max_retries;		/* default 5 */
	/*
	 * Key Vault requests in flight at once per client (default 1: every
	 * volume's fetch goes over one kept-alive connection; raise it to
	 * trade connections for latency when many distinct secrets are
	 * fetched from a slow vault).
	 */
	int max_parallel;
};

/* Counters, for tests and the bench (N volumes, K secrets -> K gets + 1 token). */
struct vv_vault_stats {
	/* calls of vv_secret_get/put, vv_key_get/wrap/unwrap (remote refs) */
	unsigned secret_gets, secret_puts, key_gets, wraps, unwraps;
	unsigned token_requests;	/* IMDS/AAD token fetches */
	unsigned challenges;		/* 401 challenges received */
	unsigned retries, failovers;
	unsigned connections;		/* new TCP connections opened (vault + IMDS/AAD) */
};

/* "https://host[:port]" of an origin, plenty for any DNS name and port. */
#define VV_ORIGIN_MAX 300

/*
 * The origin of an https URL, normalised: lower-case host, ":443" dropped,
 * path/query ignored. Only DNS host names (letters, digits, '-', '.') and a
 * port 1-65535 are accepted: no user info ("https://a@b"), no IP literals,
 * no percent-escapes, so the host a check sees is the host curl connects
 * to. 0, or -EINVAL when url is not such a URL.
 */
int vv_origin(const char *url, char *out, size_t outlen);

struct vv_vault;	/* thread-safe client: token cache, connection reuse */

int vv_vault_new(const struct vv_vault_config *cfg, struct vv_vault **out);
void vv_vault_free(struct vv_vault *v);
void vv_vault_get_stats(const struct vv_vault *v, struct vv_vault_stats *st);

struct vv_tag {
	char *name;
	char *value;
};

/* What a Key Vault secret bundle says; value in locked memory. */
struct vv_secret_bundle {
	char *id;		/* full URL with version */
	char *content_type;	/* may be NULL */
	struct vv_tag *tags;
	size_t ntags;
	bool enabled;
	int64_t nbf, exp, created, updated;	/* 0 when absent */
	/* attributes.recoveryLevel/recoverableDays: the vault's soft delete and
	 * purge protection; NULL/0 when absent (keystore, an answer without). */
	char *recovery_level;
	int recoverable_days;
	struct vv_secret *value;		/* the raw "value" string */
};
void vv_secret_bundle_free(struct vv_secret_bundle *b);
const char *vv_bundle_tag(const struct vv_secret_bundle *b, const char *name);

int vv_secret_get(struct vv_vault *v, const char *ref,
		  struct vv_secret_bundle **out, struct vv_error *err);
int vv_secret_put(struct vv_vault *v, const char *name,
		  const struct vv_secret *value, const char *content_type,
		  const struct vv_tag *tags, size_t ntags,
		  struct vv_secret_bundle **out, struct vv_error *err);

struct vv_key_info {
	char *kid;		/* full URL with version */
	char *kty;		/* RSA, RSA-HSM */
	bool enabled;
	int64_t nbf, exp;
	unsigned bits;		/* modulus size */
	char *recovery_level;	/* as in struct vv_secret_bundle */
	int recoverable_days;
};
void vv_key_info_free(struct vv_key_info *k);
int vv_key_get(struct vv_vault *v, const char *kek_ref,
	       struct vv_key_info **out, struct vv_error *err);

/*
 * Is a remote KEK fit to wrap a new key: RSA or RSA-HSM of 2048, 3072 or
 * 4096 bits (what Azure Disk Encryption accepts, and no weaker), enabled,
 * its nbf past and its exp ahead? One key GET. 0, else -errno with err
 * saying why: CONFIG (type or size), DISABLED, EXPIRED (also not yet
 * valid), or the vault's cause. *out (may be NULL) gets the key's
 * description whenever it was read, fit or not (NULL otherwise).
 */
int vv_kek_check(struct vv_vault *v, const char *kek_ref, struct vv_key_info **out,
		 struct vv_error *err);

/* ---- soft delete and purge protection (vault/recovery.c) ---- */

/*
 * Does a Key Vault DeletionRecoveryLevel protect a deleted object from
 * being purged before its retention ends? True for Recoverable,
 * Recoverable+ProtectedSubscription, CustomizedRecoverable and
 * CustomizedRecoverable+ProtectedSubscription; false for the "Purgeable"
 * levels, for NULL (not stated) and anything unknown.
 */
bool vv_recovery_level_protected(const char *level);

/*
 * One sentence for an unprotected key or KEK: "WHAT ID in vault NAME has
 * no purge protection (recoveryLevel L): ...; turn it on: az keyvault
 * update --name NAME --enable-purge-protection true". For warnings and
 * refusals alike. Returns what snprintf returns.
 */
int vv_purge_advice(const char *what, const char *id, const char *level,
		    char *buf, size_t len);

/*
 * The refusal when purge protection is required: 0 when level protects,
 * else -EPERM with cause config and "purge protection is required: " and
 * the advice above in err.
 */
int vv_purge_require(const char *what, const char *id, const char *level,
		     struct vv_error *err);

/*
 * Wrap/unwrap with a KEK (vault/kek.c): https://VAULT/keys/... references go
 * to Key Vault (v required), file: and keystore-kek: ones to the local PEM
 * path (v may be NULL; its keystore_dir is used when given).
 * alg: "RSA-OAEP", "RSA-OAEP-256", "RSA1_5". wrapped is base64url, unpadded.
 */
int vv_key_wrap(struct vv_vault *v, const char *kek_ref, const char *alg,
		const struct vv_secret *plain, char **wrapped, char **kid_out,
		struct vv_error *err);
int vv_key_unwrap(struct vv_vault *v, const char *kek_ref, const char *alg,
		  const char *wrapped, struct vv_secret **plain,
		  struct vv_error *err);

/*
 * The key that opens a volume, resolved from a key reference: fetched,
 * base64-decoded once (ADE convention), unwrapped when the secret is tagged
 * with a KEK (or kek_ref is given), with its provenance for status output.
 */
struct vv_bek {
	struct vv_secret *key;	/* passphrase bytes or .BEK file bytes */
	char *source;		/* "keyvault", "bek-volume", "keystore", "file" */
	char *secret_id;	/* versioned URL / file name / path */
	char *kek_id;		/* versioned KEK URL or NULL */
	char *alg;		/* unwrap algorithm or NULL */
	char *file_name;	/* DiskEncryptionKeyFileName tag, if any */
	bool wrapped;
	bool windows_bek;	/* .BEK file bytes (BitLocker startup key) */
	int64_t nbf, exp;	/* 0 when absent; caller decides (warn on open) */
	/* The secret's metadata as stored, for `key show` and status output: */
	char *content_type;	/* "BEK", "Wrapped BEK", other, or NULL */
	struct vv_tag *tags;	/* copy of the secret's tags (none for files) */
	size_t ntags;
	/* The secret's vault's recoveryLevel/recoverableDays (NULL/0: not a vault
	 * secret). The KEK's are filled only by callers that asked the vault
	 * about the KEK: fetching makes no key request (unwrap says nothing). */
	char *recovery_level;
	int recoverable_days;
	char *kek_recovery_level;
	int kek_recoverable_days;
};
void vv_bek_free(struct vv_bek *b);

/*
 * kek_ref may be NULL: then the secret's tags decide. A secret whose value
 * is not a base64 key is -ENOKEY (cause config: "the secret's value is not
 * a base64 key").
 */
int vv_bek_fetch(struct vv_vault *v, const char *key_ref, const char *kek_ref,
		 struct vv_bek **out, struct vv_error *err);
/*
 * vv_bek_fetch for `key show`: on -ENOKEY, *out still holds the secret's
 * metadata (reference, content type, tags, dates) with key NULL.
 */
int vv_bek_inspect(struct vv_vault *v, const char *key_ref, const char *kek_ref,
		   struct vv_bek **out, struct vv_error *err);

/*
 * Store a BEK: base64 once, wrap with kek_ref when given, tag ADE-style
 * (DiskEncryptionKeyFileName, ...EncryptionAlgorithm, ...EncryptionKeyURL,
 * MachineName), contentType "BEK" or "Wrapped BEK". For keystore: refs it
 * writes a file. Returns the new versioned reference in *stored_ref.
 */
int vv_bek_store(struct vv_vault *v, const char *key_ref_base,
		 const struct vv_secret *bek, const char *kek_ref,
		 const char *alg, const char *file_name,
		 char **stored_ref, char **kek_id_out, struct vv_error *err);

/* What the vault said about a stored key and its KEK ("" / 0: nothing said,
 * as for keystore: references and local KEKs). */
struct vv_bek_store_info {
	char recovery_level[64];	/* the stored secret's vault */
	int recoverable_days;
	char kek_recovery_level[64];	/* the remote KEK's vault */
	int kek_recoverable_days;
};

/*
 * vv_bek_store, telling *info (may be NULL) the recovery levels. With
 * require_purge_protection, a remote KEK whose vault lacks purge protection
 * is refused (cause CONFIG) before anything is wrapped or stored, and a
 * stored secret whose vault lacks it is refused after the put (the new
 * version opens nothing yet; *stored_ref is still set so callers can name
 * it). Local references are not checked.
 */
int vv_bek_store_ex(struct vv_vault *v, const char *key_ref_base,
		    const struct vv_secret *bek, const char *kek_ref,
		    const char *alg, const char *file_name,
		    bool require_purge_protection, struct vv_bek_store_info *info,
		    char **stored_ref, char **kek_id_out, struct vv_error *err);

#endif
