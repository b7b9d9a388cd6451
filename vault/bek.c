// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Resolving a key reference to the bytes that open a volume, and storing a
 * new BEK the way Azure Disk Encryption does.
 *
 * What the bytes are at each step (ADE conventions, REFERENCE.md):
 *
 *  Unwrapped secret (contentType "BEK", no KEK tag):
 *    secret value  = base64(K), standard alphabet, padded, encoded ONCE,
 *                    where K is the Linux passphrase bytes or, on Windows,
 *                    the raw .BEK file (156 bytes for a startup key).
 *    fetch         = base64-decode the value exactly once -> K. A passphrase
 *                    that itself looks like base64 stays as it is.
 *
 *  Wrapped secret (tag DiskEncryptionKeyEncryptionKeyURL, or contentType
 *  "Wrapped BEK"):
 *    wrapkey input = K (on the wire: base64url(K) in "value"; ADE sent
 *                    base64(K), which the service decodes to the same K)
 *    RSA plaintext = K, padded per DiskEncryptionKeyEncryptionAlgorithm
 *                    (RSA-OAEP when the tag is absent)
 *    secret value  = wrapkey's "value": base64url(RSA ciphertext), unpadded,
 *                    stored as is - NOT base64-encoded a second time.
 *    fetch         = unwrapkey(value) with the tagged algorithm -> K
 *                    (remote: the response's base64url "value" decoded once;
 *                    local PEM KEK: base64url-decode the value, RSA-decrypt).
 *
 *  The tag DiskEncryptionKeyEncryptionAlgorithm alone does not mean wrapped:
 *  older ADE versions wrote it on unwrapped secrets too.
 *
 *  BEK volume files and file: key files hold K itself: no decoding at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/b64.h"
#include "vault/bek_volume.h"
#include "vault/internal.h"
#include "vault/keystore.h"
#include "base/log.h"
#include "vault/vault.h"

#define TAG_FILE_NAME "DiskEncryptionKeyFileName"
#define TAG_KEK_ALG "DiskEncryptionKeyEncryptionAlgorithm"
#define TAG_KEK_URL "DiskEncryptionKeyEncryptionKeyURL"
#define TAG_MACHINE "MachineName"
#define CT_BEK "BEK"
#define CT_WRAPPED "Wrapped BEK"

enum ref_kind { REF_VAULT, REF_KEYSTORE, REF_BEK_VOLUME, REF_FILE, REF_BAD };

static const struct vv_vault_config *config_of(const struct vv_vault *v)
{
	return v ? vv_vault_config_of(v) : NULL;
}

static const char *keystore_dir(const struct vv_vault *v)
{
	const struct vv_vault_config *c = config_of(v);

	return c && c->keystore_dir ? c->keystore_dir : VV_KEYSTORE_DEFAULT_DIR;
}

/*
 * Which source a reference names; *rest points past the scheme. A bare
 * name goes to the configured vault, or to the local keystore when no vault
 * is configured (the keystore is the default key source of such machines).
 */
static enum ref_kind classify(const struct vv_vault *v, const char *ref,
			      const char **rest)
{
	const struct vv_vault_config *c = config_of(v);

	*rest = ref;
	if (!ref || !*ref)
		return REF_BAD;
	if (strncmp(ref, "https://", 8) == 0)
		return REF_VAULT;
	if (strncmp(ref, "keystore:", 9) == 0) {
		*rest = ref + 9;
		return REF_KEYSTORE;
	}
	if (strncmp(ref, "bek:", 4) == 0) {
		*rest = ref + 4;
		return REF_BEK_VOLUME;
	}
	if (strncmp(ref, "file:", 5) == 0) {
		*rest = ref + 5;
		return REF_FILE;
	}
	if (strchr(ref, ':'))
		return REF_BAD;
	return c && c->vault_url ? REF_VAULT : REF_KEYSTORE;
}

void vv_bek_free(struct vv_bek *b)
{
	if (!b)
		return;
	vv_secret_free(b->key);
	free(b->source);
	free(b->secret_id);
	free(b->kek_id);
	free(b->alg);
	free(b->file_name);
	free(b->content_type);
	free(b->recovery_level);
	free(b->kek_recovery_level);
	for (size_t i = 0; i < b->ntags; i++) {
		free(b->tags[i].name);
		free(b->tags[i].value);
	}
	free(b->tags);
	free(b);
}

/* strdup that records failure in *ok; NULL in, NULL out. */
static char *dup_ok(const char *s, bool *ok)
{
	char *r;

	if (!s)
		return NULL;
	r = strdup(s);
	if (!r)
		*ok = false;
	return r;
}

static bool copy_tags(struct vv_bek *bek, const struct vv_secret_bundle *b)
{
	bool ok = true;

	if (!b->ntags)
		return true;
	bek->tags = calloc(b->ntags, sizeof(*bek->tags));
	if (!bek->tags)
		return false;
	for (size_t i = 0; i < b->ntags; i++) {
		bek->tags[i].name = dup_ok(b->tags[i].name, &ok);
		bek->tags[i].value = dup_ok(b->tags[i].value, &ok);
		bek->ntags = i + 1;
	}
	return ok;
}

/* Value text without trailing line breaks (a hand-set secret may carry one). */
static size_t value_len(const struct vv_secret *v)
{
	size_t n = v->len;

	while (n && (v->data[n - 1] == '\n' || v->data[n - 1] == '\r'))
		n--;
	return n;
}

/* ADE decoding of a vault or keystore bundle into bek (see the top comment). */
static int decode_bundle(struct vv_vault *v, const struct vv_secret_bundle *b,
			 const char *kek_ref, struct vv_bek *bek, struct vv_error *err)
{
	const char *ct = b->content_type;
	const char *tag_kek = vv_bundle_tag(b, TAG_KEK_URL);
	const char *tag_alg = vv_bundle_tag(b, TAG_KEK_ALG);
	const char *tag_file = vv_bundle_tag(b, TAG_FILE_NAME);
	bool ct_plain = ct && strcasecmp(ct, CT_BEK) == 0;
	bool ct_wrapped = ct && strcasecmp(ct, CT_WRAPPED) == 0;
	bool ok = true;
	size_t n;
	int r;

	if (tag_kek && !*tag_kek)
		tag_kek = NULL;
	if (!b->value) {
		vv_error_set(err, VV_CAUSE_BAD_RESPONSE, 0, "secret %s has no value",
			     b->id ? b->id : "");
		return -EPROTO;
	}
	/* The metadata first: `key show` shows it even when the value is no key. */
	bek->secret_id = dup_ok(b->id, &ok);
	bek->file_name = dup_ok(tag_file, &ok);
	bek->content_type = dup_ok(ct, &ok);
	bek->recovery_level = dup_ok(b->recovery_level, &ok);
	bek->recoverable_days = b->recoverable_days;
	bek->windows_bek = vv_bek_file_is_windows(tag_file);
	bek->nbf = b->nbf;
	bek->exp = b->exp;
	if (!ok || !copy_tags(bek, b)) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "out of memory");
		return -ENOMEM;
	}
	n = value_len(b->value);
	/*
	 * A KEK given by the caller (e.g. a local PEM copy of the vault KEK
	 * for offline recovery) overrides the tag, but does not turn a secret
	 * that says it is a plain BEK into a wrapped one.
	 */
	bek->wrapped = tag_kek || ct_wrapped || (kek_ref && !ct_plain);
	if (kek_ref && !bek->wrapped)
		vv_debug("%s is an unwrapped BEK; the KEK given is not used", b->id);
	if (bek->wrapped) {
		const char *kek = kek_ref ? kek_ref : tag_kek;
		const char *alg = tag_alg && *tag_alg ? tag_alg : "RSA-OAEP";

		if (!kek) {
			vv_error_set(err, VV_CAUSE_CONFIG, 0,
				     "%s is a wrapped BEK but names no KEK "
				     "(tag " TAG_KEK_URL "); give the KEK explicitly",
				     b->id ? b->id : "secret");
			return -EINVAL;
		}
		if (!vv_kek_alg_valid(alg)) {
			vv_error_set(err, VV_CAUSE_CONFIG, 0,
				     "%s: unknown " TAG_KEK_ALG " '%.40s'", b->id, alg);
			return -EINVAL;
		}
		/* The value is public ciphertext text; terminate it in place. */
		b->value->data[n] = '\0';
		/* kek.c sends it to the local PEM path or to Key Vault. */
		r = vv_key_unwrap(v, kek, alg, (const char *)b->value->data, &bek->key,
				  err);
		if (r < 0)
			return r;
		bek->kek_id = dup_ok(kek, &ok);
		bek->alg = dup_ok(alg, &ok);
		if (!ok) {
			vv_error_set(err, VV_CAUSE_CONFIG, 0, "out of memory");
			return -ENOMEM;
		}
	} else {
		r = vv_b64_decode_secret(VV_B64_STD, (const char *)b->value->data, n,
					 &bek->key);
		if (r == -EINVAL) {
			/*
			 * The vault answered well; the secret is simply not a
			 * disk key (someone named the wrong secret): a definite
			 * answer, not an outage to retry.
			 */
			vv_error_set(err, VV_CAUSE_CONFIG, 0,
				     "%s: the secret's value is not a base64 key (a disk-key "
				     "secret holds the key base64-encoded once, as Azure Disk "
				     "Encryption and `vaultvol key put` store it)", b->id);
			vv_error_remedy(err, "name the secret that holds this volume's key, or "
					"store the key again with `vaultvol key put NAME`");
			return -ENOKEY;
		}
		if (r < 0) {
			vv_error_set(err, VV_CAUSE_CONFIG, 0, "cannot allocate locked memory");
			return r;
		}
	}
	if (bek->key->len == 0) {
		vv_error_set(err, VV_CAUSE_BAD_RESPONSE, 0, "%s holds an empty key", b->id);
		return -ENODATA;
	}
	return 0;
}

static int fetch_bek_volume(struct vv_vault *v, const char *want, struct vv_bek *bek,
			    struct vv_error *err)
{
	const struct vv_vault_config *c = config_of(v);
	char *found = NULL;
	bool ok = true;
	int r;

	r = vv_bek_volume_read(c ? c->bek_volume_label : NULL, want, &bek->key, &found,
			       NULL, err);
	if (r < 0)
		return r;
	if (asprintf(&bek->secret_id, "bek:%s", found) < 0) {
		bek->secret_id = NULL;
		ok = false;
	}
	bek->file_name = found;
	bek->windows_bek = vv_bek_file_is_windows(found);
	if (!ok) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* A key file: K itself, root-owned, 0600/0400. */
static int fetch_file(const char *path, struct vv_bek *bek, struct vv_error *err)
{
	const char *base;
	bool ok = true;
	int r;

	if (path[0] != '/') {
		vv_error_set(err, VV_CAUSE_CONFIG, 0,
			     "key file reference file:%s: the path must be absolute", path);
		return -EINVAL;
	}
	r = vv_key_file_read(AT_FDCWD, path, VV_KF_PRIVATE, &bek->key, err);
	if (r < 0)
		return r;
	if (bek->key->len == 0) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "key file %s is empty", path);
		return -ENODATA;
	}
	base = strrchr(path, '/') + 1;
	if (asprintf(&bek->secret_id, "file:%s", path) < 0) {
		bek->secret_id = NULL;
		ok = false;
	}
	bek->file_name = dup_ok(base, &ok);
	bek->windows_bek = vv_bek_file_is_windows(base);
	if (!ok) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* vv_bek_fetch; with keep_meta, a secret that holds no key gives *out without one. */
static int fetch(struct vv_vault *v, const char *key_ref, const char *kek_ref,
		 bool keep_meta, struct vv_bek **out, struct vv_error *err)
{
	static const char *const sources[] = {
		[REF_VAULT] = "keyvault", [REF_KEYSTORE] = "keystore",
		[REF_BEK_VOLUME] = "bek-volume", [REF_FILE] = "file",
	};
	struct vv_secret_bundle *b = NULL;
	struct vv_bek *bek = NULL;
	const char *rest;
	enum ref_kind kind;
	int r;

	*out = NULL;
	vv_error_clear(err);
	if (kek_ref && !*kek_ref)
		kek_ref = NULL;
	kind = classify(v, key_ref, &rest);
	if (kind == REF_BAD) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0,
			     "'%s' is not a key reference (https://VAULT/secrets/NAME, "
			     "NAME, keystore:NAME, bek:FILE, file:/PATH)",
			     key_ref ? key_ref : "");
		return -EINVAL;
	}
	if (kind == REF_VAULT && !v) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "%s needs a vault client", key_ref);
		return -EINVAL;
	}
	bek = calloc(1, sizeof(*bek));
	if (!bek || !(bek->source = strdup(sources[kind]))) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	switch (kind) {
	case REF_VAULT:
		r = vv_secret_get(v, key_ref, &b, err);
		if (r == 0)
			r = decode_bundle(v, b, kek_ref, bek, err);
		break;
	case REF_KEYSTORE:
		r = vv_keystore_get(keystore_dir(v), rest, &b, err);
		if (r == 0)
			r = decode_bundle(v, b, kek_ref, bek, err);
		break;
	case REF_BEK_VOLUME:
		/* The platform put K itself there; a KEK plays no part. */
		r = fetch_bek_volume(v, rest, bek, err);
		break;
	case REF_FILE:
		r = fetch_file(rest, bek, err);
		break;
	default:
		r = -EINVAL;
		break;
	}
	if (r == 0 || (r == -ENOKEY && keep_meta)) {
		if (r < 0) {
			vv_secret_free(bek->key);
			bek->key = NULL;
		}
		*out = bek;
		bek = NULL;
	}
out:
	vv_secret_bundle_free(b);
	vv_bek_free(bek);
	return r;
}

int vv_bek_fetch(struct vv_vault *v, const char *key_ref, const char *kek_ref,
		 struct vv_bek **out, struct vv_error *err)
{
	return fetch(v, key_ref, kek_ref, false, out, err);
}

int vv_bek_inspect(struct vv_vault *v, const char *key_ref, const char *kek_ref,
		   struct vv_bek **out, struct vv_error *err)
{
	return fetch(v, key_ref, kek_ref, true, out, err);
}

/* Refuse to wrap a new BEK with a KEK that is disabled, expired or not yet valid. */
int vv_kek_check(struct vv_vault *v, const char *kek_ref, struct vv_key_info **out,
		 struct vv_error *err)
{
	struct vv_key_info *ki = NULL;
	int64_t now = (int64_t)time(NULL);
	int r;

	if (out)
		*out = NULL;
	r = vv_key_get(v, kek_ref, &ki, err);

	if (r < 0)
		return r;
	if (!ki->kty || (strcmp(ki->kty, "RSA") && strcmp(ki->kty, "RSA-HSM")) ||
	    (ki->bits != 2048 && ki->bits != 3072 && ki->bits != 4096)) {
		/* What Azure Disk Encryption accepts for a KEK, and no weaker. */
		vv_error_set(err, VV_CAUSE_CONFIG, 0,
			     "KEK %s is %s of %u bits; a KEK must be RSA or RSA-HSM of 2048, 3072 "
			     "or 4096 bits: create one (az keyvault key create --kty RSA --size 3072)",
			     ki->kid, ki->kty ? ki->kty : "an unknown key type", ki->bits);
		r = -EINVAL;
	} else if (!ki->enabled) {
		vv_error_set(err, VV_CAUSE_DISABLED, 0, "KEK %s is disabled; not wrapping with it",
			     ki->kid);
		r = -EACCES;
	} else if (ki->exp && ki->exp <= now) {
		vv_error_set(err, VV_CAUSE_EXPIRED, 0, "KEK %s expired at %lld; not wrapping with it",
			     ki->kid, (long long)ki->exp);
		r = -EKEYEXPIRED;
	} else if (ki->nbf && ki->nbf > now) {
		vv_error_set(err, VV_CAUSE_EXPIRED, 0,
			     "KEK %s is not valid before %lld; not wrapping with it",
			     ki->kid, (long long)ki->nbf);
		r = -EKEYEXPIRED;
	}
	/* What was read, also when unfit: callers report more than the refusal. */
	if (out) {
		*out = ki;
		ki = NULL;
	}
	vv_key_info_free(ki);
	return r;
}

static void copy_level(char *dst, size_t len, const char *level)
{
	snprintf(dst, len, "%s", level ? level : "");
}

int vv_bek_store(struct vv_vault *v, const char *key_ref_base,
		 const struct vv_secret *bek, const char *kek_ref,
		 const char *alg, const char *file_name,
		 char **stored_ref, char **kek_id_out, struct vv_error *err)
{
	return vv_bek_store_ex(v, key_ref_base, bek, kek_ref, alg, file_name, false, NULL,
			       stored_ref, kek_id_out, err);
}

int vv_bek_store_ex(struct vv_vault *v, const char *key_ref_base,
		    const struct vv_secret *bek, const char *kek_ref,
		    const char *alg, const char *file_name,
		    bool require_purge_protection, struct vv_bek_store_info *info,
		    char **stored_ref, char **kek_id_out, struct vv_error *err)
{
	struct vv_key_info *ki = NULL;
	struct vv_secret *value = NULL;
	struct vv_secret_bundle *b = NULL;
	struct vv_tag tags[4];
	size_t ntags = 0;
	char host[256], *wrapped = NULL, *kid = NULL;
	const char *rest;
	enum ref_kind kind;
	int r;

	*stored_ref = NULL;
	if (kek_id_out)
		*kek_id_out = NULL;
	if (info)
		memset(info, 0, sizeof(*info));
	vv_error_clear(err);
	if (kek_ref && !*kek_ref)
		kek_ref = NULL;
	kind = classify(v, key_ref_base, &rest);
	if (kind != REF_VAULT && kind != REF_KEYSTORE) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0,
			     "cannot store a key at '%s': give a vault secret "
			     "(https://VAULT/secrets/NAME or NAME) or keystore:NAME",
			     key_ref_base ? key_ref_base : "");
		return -EINVAL;
	}
	if (kind == REF_VAULT && !v) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "%s needs a vault client",
			     key_ref_base);
		return -EINVAL;
	}
	if (!bek || bek->len == 0) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "refusing to store an empty key");
		return -EINVAL;
	}
	if (!file_name)
		file_name = VV_BEK_OS_FILE;
	if (!vv_bek_file_name_valid(file_name)) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "bad key file name '%.100s'", file_name);
		return -EINVAL;
	}
	if (kek_ref) {
		alg = alg ? alg : "RSA-OAEP";
		if (!vv_kek_alg_valid(alg)) {
			vv_error_set(err, VV_CAUSE_CONFIG, 0,
				     "unknown key wrap algorithm '%.40s' "
				     "(RSA-OAEP, RSA-OAEP-256, RSA1_5)", alg);
			return -EINVAL;
		}
		/* A remote KEK is checked first; kek.c does the dispatch. */
		r = 0;
		if (v && !vv_kek_ref_is_local(kek_ref)) {
			r = vv_kek_check(v, kek_ref, &ki, err);
			if (r == 0 && info) {
				copy_level(info->kek_recovery_level,
					   sizeof(info->kek_recovery_level), ki->recovery_level);
				info->kek_recoverable_days = ki->recoverable_days;
			}
			if (r == 0 && require_purge_protection)
				r = vv_purge_require("the KEK", ki->kid, ki->recovery_level, err);
		}
		if (r == 0)
			r = vv_key_wrap(v, kek_ref, alg, bek, &wrapped, &kid, err);
		if (r < 0)
			goto out;
		/* Ciphertext, not key material, but vv_secret_put takes a secret. */
		value = vv_secret_from(wrapped, strlen(wrapped));
		if (!value)
			r = -ENOMEM;
	} else {
		alg = NULL;
		r = vv_b64_encode_secret(VV_B64_STD, bek->data, bek->len, &value);
	}
	if (r < 0) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "cannot allocate locked memory");
		goto out;
	}
	tags[ntags++] = (struct vv_tag){ TAG_FILE_NAME, (char *)file_name };
	if (kid) {
		tags[ntags++] = (struct vv_tag){ TAG_KEK_ALG, (char *)alg };
		tags[ntags++] = (struct vv_tag){ TAG_KEK_URL, kid };
	}
	if (gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = '\0';
		tags[ntags++] = (struct vv_tag){ TAG_MACHINE, host };
	}
	if (kind == REF_KEYSTORE) {
		r = vv_keystore_put(keystore_dir(v), rest, value, kid ? CT_WRAPPED : CT_BEK,
				    tags, ntags, stored_ref, err);
	} else {
		r = vv_secret_put(v, key_ref_base, value, kid ? CT_WRAPPED : CT_BEK, tags,
				  ntags, &b, err);
		if (r == 0 && (!b || !b->id)) {
			vv_error_set(err, VV_CAUSE_BAD_RESPONSE, 0,
				     "the vault stored %s but returned no id", key_ref_base);
			r = -EPROTO;
		}
		if (r == 0 && !(*stored_ref = strdup(b->id))) {
			vv_error_set(err, VV_CAUSE_CONFIG, 0, "out of memory");
			r = -ENOMEM;
		}
		if (r == 0 && info) {
			copy_level(info->recovery_level, sizeof(info->recovery_level),
				   b->recovery_level);
			info->recoverable_days = b->recoverable_days;
		}
		/* Stored, but it opens nothing yet: the caller writes no keyslot. */
		if (r == 0 && require_purge_protection) {
			r = vv_purge_require("the secret", b->id, b->recovery_level, err);
			/* The vault says its level only in the answer: say what it kept. */
			if (r < 0 && err) {
				size_t n = strlen(err->message);

				snprintf(err->message + n, sizeof(err->message) - n,
					 " (the secret version %s was stored before the vault "
					 "said so; it opens nothing: delete it, or keep it)", b->id);
			}
		}
	}
	if (r == 0 && kek_id_out) {
		*kek_id_out = kid;
		kid = NULL;
	}
out:
	vv_key_info_free(ki);
	vv_secret_bundle_free(b);
	vv_secret_free(value);
	free(wrapped);
	free(kid);
	return r;
}
