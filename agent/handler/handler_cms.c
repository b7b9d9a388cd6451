// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * protectedSettings: base64 of DER CMS EnvelopedData, encrypted by the
 * extension framework to the VM's certificate whose SHA-1 thumbprint the
 * settings name. waagent keeps that certificate and its key as
 * <waagent_dir>/<THUMBPRINT>.crt and .prv (PEM). Decrypted with OpenSSL's
 * CMS code; the private key file and the plaintext only ever sit in locked,
 * wiped memory (struct vv_secret, OpenSSL's secure-memory BIO).
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/handler/handler.h"
#include "agent/handler/handler_internal.h"
#include "base/b64.h"
#include "vault/vault.h"

#define PEM_FILE_MAX (64 * 1024)

/* Never prompt for a passphrase: waagent's keys have none. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* Read a small file into a secret (for the private key). */
static int read_into_secret(const char *path, struct vv_secret **out)
{
	struct vv_error e = { 0 };
	int r;

	r = vv_key_file_read(AT_FDCWD, path, 0, out, &e);
	if (r == 0 && (!(*out)->len || (*out)->len > PEM_FILE_MAX)) {
		vv_secret_free(*out);
		*out = NULL;
		r = -EINVAL;
	}
	return r;
}

static bool is_hex40(const char *t)
{
	size_t i;

	for (i = 0; t[i]; i++)
		if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f') ||
		      (t[i] >= 'A' && t[i] <= 'F')))
			return false;
	return i == 40;
}

/* waagent names the files in upper case; accept the name as given too. */
static char *pick_file(const char *dir, const char *thumb_upper,
		       const char *thumb_given, const char *ext)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s.%s", dir, thumb_upper, ext) < 0)
		return NULL;
	if (access(p, F_OK) == 0 || strcmp(thumb_upper, thumb_given) == 0)
		return p;
	free(p);
	if (asprintf(&p, "%s/%s.%s", dir, thumb_given, ext) < 0)
		return NULL;
	return p;
}

static X509 *load_cert(const char *path, struct vv_error *err, int *r)
{
	char *text = NULL;
	size_t len = 0;
	X509 *x = NULL;
	BIO *b = NULL;

	*r = vv_handler_read_file(path, PEM_FILE_MAX, &text, &len, NULL);
	if (*r < 0) {
		vv_fail(err, *r, *r == -ENOENT ? VV_CAUSE_NOT_FOUND : VV_CAUSE_CONFIG,
			"protected settings certificate %s: %s", path,
			*r == -ENOENT ? "not found" : strerror(-*r));
		if (*r != -ENOENT)
			*r = -EINVAL;
		goto out;
	}
	b = BIO_new_mem_buf(text, (int)len);
	if (b)
		x = PEM_read_bio_X509(b, NULL, no_passphrase, NULL);
	if (!x)
		*r = vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			     "protected settings certificate %s is not a PEM certificate", path);
out:
	BIO_free(b);
	free(text);
	return x;
}

static EVP_PKEY *load_key(const char *path, struct vv_error *err, int *r)
{
	struct vv_secret *pem = NULL;
	EVP_PKEY *k = NULL;
	BIO *b = NULL;

	*r = read_into_secret(path, &pem);
	if (*r < 0) {
		vv_fail(err, *r, *r == -ENOENT ? VV_CAUSE_NOT_FOUND : VV_CAUSE_CONFIG,
			"protected settings private key %s: %s", path,
			*r == -ENOENT ? "not found" :
			*r == -EINVAL ? "not a small regular file" : strerror(-*r));
		goto out;
	}
	b = BIO_new_mem_buf(pem->data, (int)pem->len);
	if (b)
		k = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL);
	if (!k)
		*r = vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			     "protected settings private key %s is not a PEM private key", path);
out:
	BIO_free(b);
	vv_secret_free(pem);
	return k;
}

/* The thumbprint as 40 upper-case hex digits, the form waagent names files with. */
static int parse_thumbprint(const char *thumbprint, char upper[41], struct vv_error *err)
{
	if (!thumbprint || !is_hex40(thumbprint)) {
		char clean[80];

		vv_handler_sanitize(thumbprint ? thumbprint : "", clean, sizeof(clean));
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "protectedSettingsCertThumbprint \"%s\" is not 40 hex digits", clean);
	}
	for (int i = 0; i < 41; i++)
		upper[i] = (char)(thumbprint[i] >= 'a' && thumbprint[i] <= 'f' ?
				  thumbprint[i] - 'a' + 'A' : thumbprint[i]);
	return 0;
}

/* base64 DER -> CMS EnvelopedData, nothing after it. */
static int parse_envelope(const char *b64, CMS_ContentInfo **out, struct vv_error *err)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	CMS_ContentInfo *cms;
	size_t derlen = 0;
	int r;

	r = vv_b64_decode(VV_B64_STD, b64, strlen(b64), &der, &derlen);
	if (r < 0)
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "protectedSettings is not valid base64");
	p = der;
	cms = derlen <= INT32_MAX ? d2i_CMS_ContentInfo(NULL, &p, (long)derlen) : NULL;
	if (!cms || p != der + derlen ||
	    OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_enveloped) {
		CMS_ContentInfo_free(cms);
		free(der);
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "protectedSettings is not DER CMS EnvelopedData");
	}
	free(der);
	*out = cms;
	return 0;
}

/*
 * The settings name a certificate waagent did not write: the settings were
 * encrypted for another VM (a template or a copied VM), or before this VM's
 * certificate was renewed. Say so, with the certificates this VM does have
 * (<40 hex>.crt in waagent_dir, the first three in name order) and the fix,
 * rather than a bare file error. No apostrophes: scripts quote the message.
 */
#define SHOW_CERTS 3
static int missing_cert(const char *waagent_dir, const char *upper, struct vv_error *err)
{
	char have[SHOW_CERTS][41], list[SHOW_CERTS * 42 + 8] = "";
	struct dirent *e;
	size_t n = 0, len = 0;
	DIR *d;

	d = opendir(waagent_dir);
	while (d && (e = readdir(d))) {
		char t[41];
		size_t k;

		if (strlen(e->d_name) != 44 || strcmp(e->d_name + 40, ".crt"))
			continue;
		memcpy(t, e->d_name, 40);
		t[40] = '\0';
		if (!is_hex40(t))
			continue;
		for (int i = 0; i < 40; i++)
			if (t[i] >= 'a' && t[i] <= 'f')
				t[i] = (char)(t[i] - 'a' + 'A');
		/* Keep the SHOW_CERTS smallest names: the list does not depend on readdir order. */
		k = n < SHOW_CERTS ? n : SHOW_CERTS;
		while (k > 0 && strcmp(have[k - 1], t) > 0) {
			if (k < SHOW_CERTS)
				memcpy(have[k], have[k - 1], 41);
			k--;
		}
		if (k < SHOW_CERTS)
			memcpy(have[k], t, 41);
		n++;
	}
	if (d)
		closedir(d);
	for (size_t i = 0; i < n && i < SHOW_CERTS; i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "", have[i]);
	if (n > SHOW_CERTS)
		snprintf(list + len, sizeof(list) - len, ", ...");
	return vv_fail(err, -ENOENT, VV_CAUSE_NOT_FOUND,
		       "protected settings are encrypted to certificate %s, which is not in %s "
		       "(this VM has %zu certificate%s%s%s): the settings were made for another VM "
		       "or before its certificate changed; apply the extension settings again so "
		       "the platform encrypts them to the certificate of this VM",
		       upper, waagent_dir, n, n == 1 ? "" : "s", n ? ": " : "", list);
}

/*
 * waagent_dir/<THUMBPRINT>.crt and .prv: the certificate must have that
 * thumbprint and the key must be its own.
 */
static int load_pair(const char *waagent_dir, const char *thumbprint, const char *upper,
		     X509 **certp, EVP_PKEY **keyp, struct vv_error *err)
{
	char actual[41], *crt_path = NULL, *prv_path = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int r;

	crt_path = pick_file(waagent_dir, upper, thumbprint, "crt");
	prv_path = pick_file(waagent_dir, upper, thumbprint, "prv");
	if (!crt_path || !prv_path) {
		r = vv_fail(err, -ENOMEM, VV_CAUSE_SYSTEM, "out of memory");
		goto out;
	}
	cert = load_cert(crt_path, err, &r);
	if (!cert) {
		if (r == -ENOENT)
			r = missing_cert(waagent_dir, upper, err);
		goto out;
	}
	if (!X509_digest(cert, EVP_sha1(), md, &mdlen) || mdlen != 20) {
		r = vv_fail(err, -EINVAL, VV_CAUSE_SYSTEM,
			    "cannot compute the certificate thumbprint");
		goto out;
	}
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(actual + 2 * i, 3, "%02X", md[i]);
	if (strcmp(actual, upper) != 0) {
		r = vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			    "certificate %s does not match thumbprint %s", crt_path, upper);
		goto out;
	}
	key = load_key(prv_path, err, &r);
	if (!key) {
		if (r == -ENOENT)
			vv_fail(err, r, VV_CAUSE_NOT_FOUND,
				"protected settings certificate %s is in %s but its private key "
				"%s is not: waagent writes both from the certificates of the goal "
				"state; restart waagent so it writes them again", upper,
				waagent_dir, prv_path);
		goto out;
	}
	if (X509_check_private_key(cert, key) != 1) {
		r = vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			    "private key %s does not belong to certificate %s", prv_path, upper);
		goto out;
	}
	*certp = cert;
	*keyp = key;
	cert = NULL;
	key = NULL;
	r = 0;
out:
	EVP_PKEY_free(key);
	X509_free(cert);
	free(crt_path);
	free(prv_path);
	return r;
}

/*
 * Say plainly when the data was encrypted for another certificate (the
 * commonest field mistake) rather than as a decryption failure.
 */
static int check_recipient(CMS_ContentInfo *cms, X509 *cert, const char *upper,
			   struct vv_error *err)
{
	STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);

	for (int i = 0; ris && i < sk_CMS_RecipientInfo_num(ris); i++) {
		CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, i);

		if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_TRANS &&
		    CMS_RecipientInfo_ktri_cert_cmp(ri, cert) == 0)
			return 0;
	}
	return vv_fail(err, -EACCES, VV_CAUSE_CONFIG,
		       "protectedSettings is not encrypted to certificate %s", upper);
}

/* Decrypt into a NUL-terminated secret; OpenSSL's copy lives in wiped memory. */
static int decrypt_to_secret(CMS_ContentInfo *cms, EVP_PKEY *key, X509 *cert,
			     const char *upper, struct vv_secret **plain, struct vv_error *err)
{
	struct vv_secret *out = NULL;
	BIO *mem;
	char *data;
	long n;
	int r;

	/* Secure-memory BIO: its buffer is wiped on growth and on free. */
	mem = BIO_new(BIO_s_secmem());
	if (!mem)
		return -ENOMEM;
	if (CMS_decrypt(cms, key, cert, NULL, mem, 0) != 1) {
		r = vv_fail(err, -EACCES, VV_CAUSE_CONFIG,
			    "protectedSettings cannot be decrypted with certificate %s", upper);
		goto out;
	}
	n = BIO_get_mem_data(mem, &data);
	if (n < 0 || n > VV_HANDLER_PROTECTED_MAX) {
		r = vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			    "decrypted protectedSettings exceed %d bytes", VV_HANDLER_PROTECTED_MAX);
		goto out;
	}
	out = vv_secret_new((size_t)n + 1);
	if (!out || vv_secret_set(out, data, (size_t)n) < 0) {
		vv_secret_free(out);
		r = -ENOMEM;
		goto out;
	}
	out->data[out->len] = '\0';
	*plain = out;
	r = 0;
out:
	BIO_free(mem);
	return r;
}

int vv_handler_decrypt(const char *waagent_dir, const char *thumbprint,
		       const char *b64, struct vv_secret **plain,
		       struct vv_error *err)
{
	CMS_ContentInfo *cms = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	char upper[41];
	int r;

	*plain = NULL;
	r = parse_thumbprint(thumbprint, upper, err);
	if (!r)
		r = parse_envelope(b64, &cms, err);
	if (!r)
		r = load_pair(waagent_dir, thumbprint, upper, &cert, &key, err);
	if (!r)
		r = check_recipient(cms, cert, upper, err);
	if (!r)
		r = decrypt_to_secret(cms, key, cert, upper, plain, err);
	/* Leave no stale OpenSSL errors for later, unrelated callers. */
	ERR_clear_error();
	EVP_PKEY_free(key);
	X509_free(cert);
	CMS_ContentInfo_free(cms);
	return r;
}
