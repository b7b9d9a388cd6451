// SPDX-License-Identifier: GPL-2.0-or-later
/* Bearer tokens: IMDS managed identity and AAD client credentials, cached. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "base/b64.h"
#include "vault/vault.h"
#include "base/log.h"
#include "base/retry.h"
#include "vault/token.h"

/* Refresh this long before expiry (half the lifetime if that is shorter). */
#define VV_TOKEN_MARGIN_S 300
#define VV_AAD_SECRET_MAX 4096
/* Managed-identity tokens live 24 h; nothing announced beyond a week is believed. */
#define VV_TOKEN_LIFE_MAX_S (7 * 86400)

struct tok_entry {
	char *resource;
	char *tenant;			/* from the challenge's authority; "" when none */
	struct vv_secret *token;	/* NUL-terminated */
	int64_t refresh_at;		/* wall clock, seconds */
	struct tok_entry *next;
};

struct vv_tokens {
	const struct vv_vault_config *cfg;
	struct vv_http *http;
	struct vv_vault_stats *stats;
	pthread_mutex_t lock;	/* held across a fetch: one fetch serves all */
	struct tok_entry *cache;
};

int vv_tokens_new(const struct vv_vault_config *cfg, struct vv_http *http,
		  struct vv_vault_stats *stats, struct vv_tokens **out)
{
	struct vv_tokens *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (!t)
		return -ENOMEM;
	t->cfg = cfg;
	t->http = http;
	t->stats = stats;
	pthread_mutex_init(&t->lock, NULL);
	*out = t;
	return 0;
}

void vv_tokens_free(struct vv_tokens *t)
{
	struct tok_entry *e, *n;

	if (!t)
		return;
	for (e = t->cache; e; e = n) {
		n = e->next;
		free(e->resource);
		free(e->tenant);
		vv_secret_free(e->token);
		free(e);
	}
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* A JSON member that is a number or a string holding one (IMDS sends strings). */
static bool json_i64(struct json_object *o, const char *key, int64_t *out)
{
	struct json_object *v;
	const char *s;
	char *end;
	long long n;

	if (!json_object_object_get_ex(o, key, &v))
		return false;
	if (json_object_is_type(v, json_type_int)) {
		*out = json_object_get_int64(v);
		return true;
	}
	if (!json_object_is_type(v, json_type_string))
		return false;
	s = json_object_get_string(v);
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return false;
	*out = n;
	return true;
}

static const char *json_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int64_t vv_token_refresh_at(int64_t now, int64_t expires_on)
{
	int64_t life = expires_on - now;

	if (life <= 0)
		return now;
	return expires_on - (life / 2 < VV_TOKEN_MARGIN_S ? life / 2 : VV_TOKEN_MARGIN_S);
}

/* access_token plus expiry from an IMDS or AAD answer. */
static int parse_token(const struct vv_http_resp *resp, const char *who,
		       struct vv_secret **token, int64_t *refresh_at,
		       struct vv_error *err)
{
	struct json_object *o = vv_json_parse_wiped(vv_buf_str(&resp->body),
						    vv_buf_len(&resp->body));
	int64_t now = time(NULL), exp_on = 0, exp_in = 0;
	const char *at, *type;
	int r = -EPROTO;

	at = json_str(o, "access_token");
	type = json_str(o, "token_type");
	if (!at || !*at || (type && strcasecmp(type, "Bearer"))) {
		vv_error_set(err, VV_CAUSE_BAD_RESPONSE, (int)resp->status,
			     "%s: answer without a bearer access_token", who);
		goto out;
	}
	if (!(json_i64(o, "expires_on", &exp_on) && exp_on > 0)) {
		/* Bounded before adding: expires_in = INT64_MAX must not overflow. */
		if (json_i64(o, "expires_in", &exp_in) && exp_in > 0)
			exp_on = now + (exp_in < VV_TOKEN_LIFE_MAX_S ? exp_in : VV_TOKEN_LIFE_MAX_S);
		else
			exp_on = now;	/* unknown: use once, never cache */
	}
	/* No token is cached longer than a token can live. */
	if (exp_on > now + VV_TOKEN_LIFE_MAX_S)
		exp_on = now + VV_TOKEN_LIFE_MAX_S;
	*refresh_at = vv_token_refresh_at(now, exp_on);
	*token = vv_secret_from(at, strlen(at));
	r = *token ? 0 : -ENOMEM;
out:
	vv_json_put_wiped(o);
	return r;
}

/*
 * IMDS is on the VM's own host, so a failure there is no vault outage: the
 * vault remedy ("check network, DNS and firewall") would send the operator
 * to the wrong place.
 */
#define IMDS_REMEDY "the VM's instance metadata service (IMDS, 169.254.169.254) gave no " \
	"token: check that no firewall rule or HTTP proxy setting intercepts it, then retry " \
	"(the boot service retries by itself)"

/* Map a token endpoint's error answer; err already has the HTTP status. */
static int token_error(const struct vv_http_resp *resp, int rc, bool imds,
		       struct vv_error *err)
{
	const char *who = imds ? "IMDS" : "AAD";
	struct json_object *o;
	const char *code, *desc;
	enum vv_cause cause;

	if (rc < 0) {
		vv_error_set(err, VV_CAUSE_UNAVAILABLE, 0, "%s: %s", who, resp->errmsg);
		if (vv_http_fail_remedy(resp))
			vv_error_remedy(err, "%s", vv_http_fail_remedy(resp));
		else if (imds)
			vv_error_remedy(err, "%s", IMDS_REMEDY);
		return -EIO;
	}
	o = vv_json_parse_wiped(vv_buf_str(&resp->body), vv_buf_len(&resp->body));
	code = json_str(o, "error");
	desc = json_str(o, "error_description");
	if (resp->status == 429)
		cause = VV_CAUSE_THROTTLED;
	else if (resp->status >= 500 || (imds && (resp->status == 404 || resp->status == 410)))
		cause = VV_CAUSE_UNAVAILABLE;
	else if (imds && desc && strcasestr(desc, "identity"))
		cause = VV_CAUSE_NO_IDENTITY;
	else if (imds)
		cause = VV_CAUSE_CONFIG;
	else
		cause = VV_CAUSE_UNAUTHORIZED;	/* bad client secret/cert, unknown app */
	vv_error_set(err, cause, (int)resp->status, "%s token: HTTP %ld%s%s%s%s", who,
		     resp->status, code ? " " : "", code ? code : "",
		     desc ? ": " : "", desc ? desc : "");
	if (err && code)
		snprintf(err->code, sizeof(err->code), "%s", code);
	if (imds && (cause == VV_CAUSE_UNAVAILABLE || cause == VV_CAUSE_THROTTLED))
		vv_error_remedy(err, "%s", IMDS_REMEDY);
	vv_json_put_wiped(o);
	return cause == VV_CAUSE_UNAVAILABLE || cause == VV_CAUSE_THROTTLED ? -EIO : -EACCES;
}

/*
 * Send a token request (IMDS's retry policy when imds, else Key Vault's)
 * and read the token of a 200 answer; any other answer is the endpoint's
 * error. 0, or -errno with err set.
 */
static int send_for_token(struct vv_tokens *t, const struct vv_http_req *req, bool imds,
			  struct vv_secret **token, int64_t *refresh_at, struct vv_error *err)
{
	const struct vv_vault_config *c = t->cfg;
	struct vv_http_resp resp = { 0 };
	struct vv_retry retry;
	int r;

	vv_retry_init(&retry, imds ? VV_RETRY_IMDS : VV_RETRY_KEYVAULT, c->max_retries,
		      c->total_timeout_ms);
	r = vv_http_do_retry(t->http, req, &retry, &t->stats->retries, &resp);
	if (r < 0 && r != -EIO)
		goto out;
	if (r == 0 && resp.status == 200)
		r = parse_token(&resp, imds ? "IMDS" : "AAD", token, refresh_at, err);
	else
		r = token_error(&resp, r, imds, err);
out:
	vv_http_resp_free(&resp);
	return r;
}

static int imds_fetch(struct vv_tokens *t, const char *resource,
		      struct vv_secret **token, int64_t *refresh_at,
		      struct vv_error *err)
{
	static const char *const hdrs[] = { "Metadata: true", NULL };
	const struct vv_vault_config *c = t->cfg;
	struct vv_buf url = { 0 };
	struct vv_http_req req;
	const char *base = c->imds_url;
	size_t blen = strlen(base);
	int r;

	if (c->identity_kind && strcmp(c->identity_kind, "client_id") &&
	    strcmp(c->identity_kind, "object_id") &&
	    strcmp(c->identity_kind, "msi_res_id")) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "unknown identity kind '%s'",
			     c->identity_kind);
		return -EINVAL;
	}
	while (blen && base[blen - 1] == '/')
		blen--;
	r = vv_buf_append(&url, base, blen);
	if (!r)
		r = vv_buf_puts(&url, "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=");
	if (!r)
		r = vv_buf_urlenc(&url, resource, strlen(resource));
	if (!r && c->identity_kind && c->identity_value) {
		r = vv_buf_printf(&url, "&%s=", c->identity_kind);
		if (!r)
			r = vv_buf_urlenc(&url, c->identity_value, strlen(c->identity_value));
	}
	if (r < 0)
		goto out;
	req = (struct vv_http_req){
		.method = "GET", .url = vv_buf_str(&url), .headers = hdrs,
		.timeout_ms = c->request_timeout_ms,
		/* The link-local endpoint must never be reached through a proxy. */
		.no_proxy = true, .allow_http = true,
	};
	r = send_for_token(t, &req, true, token, refresh_at, err);
out:
	vv_buf_free(&url);
	return r;
}

/*
 * "/proc/self/fd/N" naming a memory file (memfd) this process created: the
 * handler hands its decrypted secret over that way, never on a disk. It is
 * a magic link O_NOFOLLOW refuses, so the descriptor is read directly.
 */
static int read_own_memfd(const char *path, struct vv_secret **out, struct vv_error *err)
{
	struct stat st;
	char *end;
	long fd;

	if (strncmp(path, "/proc/self/fd/", 14))
		return -ENOENT;
	errno = 0;
	fd = strtol(path + 14, &end, 10);
	if (errno || *end || end == path + 14 || fd < 0 || fd > INT_MAX)
		return -ENOENT;
	/* Only a memfd answers F_GET_SEALS: no file of anyone else's. */
	if (fcntl((int)fd, F_GET_SEALS) < 0 || fstat((int)fd, &st) < 0 ||
	    !S_ISREG(st.st_mode) || st.st_size > VV_AAD_SECRET_MAX)
		return -ENOENT;
	*out = vv_secret_new((size_t)st.st_size);
	if (!*out || pread((int)fd, (*out)->data, (size_t)st.st_size, 0) != st.st_size) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "%s: cannot read", path);
		vv_secret_free(*out);
		*out = NULL;
		return -EIO;
	}
	(*out)->len = (size_t)st.st_size;
	return 0;
}

/*
 * Read the AAD client secret file into locked memory, trailing newline cut.
 * It is as secret as a key file and gets the same checks (root-owned, no
 * group/other access, no symlink, regular file).
 */
static int read_secret_file(const char *path, struct vv_secret **out,
			    struct vv_error *err)
{
	struct vv_secret *s = NULL;
	int r;

	r = read_own_memfd(path, &s, err);
	if (r == -ENOENT)
		r = vv_key_file_read(AT_FDCWD, path, VV_KF_PRIVATE, &s, err);
	if (r < 0) {
		char inner[sizeof(err->message) - 20];

		size_t n = strnlen(err->message, sizeof(inner) - 1);

		memcpy(inner, err->message, n);
		inner[n] = '\0';
		snprintf(err->message, sizeof(err->message), "AAD secret file: %s", inner);
		goto out;
	}
	while (s->len && (s->data[s->len - 1] == '\n' || s->data[s->len - 1] == '\r'))
		s->data[--s->len] = '\0';
	if (!s->len || s->len > VV_AAD_SECRET_MAX) {
		r = -EINVAL;
		vv_error_set(err, VV_CAUSE_CONFIG, 0,
			     "AAD secret file %s: empty or larger than %d bytes", path,
			     VV_AAD_SECRET_MAX);
		goto out;
	}
	*out = s;
	s = NULL;
out:
	vv_secret_free(s);
	return r;
}

/* "https://login.windows.net/<tenant>[/...]" -> tenant, if it looks like one. */
static char *tenant_from_authority(const char *authority)
{
	const char *p, *e;

	if (!authority || strncmp(authority, "https://", 8))
		return NULL;
	p = strchr(authority + 8, '/');
	if (!p)
		return NULL;
	p++;
	e = p + strcspn(p, "/?#");
	if (e == p)
		return NULL;
	for (const char *q = p; q < e; q++)
		if (!(q[0] == '-' || q[0] == '.' || (q[0] >= '0' && q[0] <= '9') ||
		      (q[0] >= 'a' && q[0] <= 'z') || (q[0] >= 'A' && q[0] <= 'Z')))
			return NULL;
	return strndup(p, (size_t)(e - p));
}

static int aad_fetch(struct vv_tokens *t, const char *resource,
		     const char *authority, struct vv_secret **token,
		     int64_t *refresh_at, struct vv_error *err)
{
	const struct vv_vault_config *c = t->cfg;
	struct vv_secret *cred = NULL;
	struct vv_buf url = { 0 }, body = { 0 };
	struct vv_http_req req;
	char *tenant = NULL;
	size_t alen = strlen(c->aad_authority);
	int r;

	/* The credential only ever goes to the configured authority host. */
	tenant = c->aad_tenant ? strdup(c->aad_tenant) : tenant_from_authority(authority);
	if (!tenant) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "AAD: no tenant configured or announced");
		r = -EINVAL;
		goto out;
	}
	while (alen && c->aad_authority[alen - 1] == '/')
		alen--;
	r = vv_buf_append(&url, c->aad_authority, alen);
	if (!r)
		r = vv_buf_printf(&url, "/%s/oauth2/token", tenant);
	if (!r)
		r = vv_buf_puts(&body, "grant_type=client_credentials&client_id=");
	if (!r)
		r = vv_buf_urlenc(&body, c->aad_client_id, strlen(c->aad_client_id));
	if (!r)
		r = vv_buf_puts(&body, "&resource=");
	if (!r)
		r = vv_buf_urlenc(&body, resource, strlen(resource));
	if (r < 0)
		goto out;
	if (c->aad_secret_file) {
		r = read_secret_file(c->aad_secret_file, &cred, err);
		if (!r)
			r = vv_buf_puts(&body, "&client_secret=");
	} else if (c->aad_cert_file) {
		r = vv_jwt_client_assertion(c->aad_cert_file, c->aad_client_id,
					    vv_buf_str(&url), time(NULL), &cred, err);
		if (!r)
			r = vv_buf_puts(&body, "&client_assertion_type="
					"urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
					"&client_assertion=");
	} else {
		vv_error_set(err, VV_CAUSE_CONFIG, 0,
			     "AAD: client %s has neither a secret file nor a certificate",
			     c->aad_client_id);
		r = -EINVAL;
	}
	if (!r)
		r = vv_buf_urlenc(&body, (const char *)cred->data, cred->len);
	if (r < 0)
		goto out;
	req = (struct vv_http_req){
		.method = "POST", .url = vv_buf_str(&url),
		.content_type = "application/x-www-form-urlencoded",
		.body = vv_buf_str(&body), .body_len = vv_buf_len(&body),
		.timeout_ms = c->request_timeout_ms,
	};
	r = send_for_token(t, &req, false, token, refresh_at, err);
out:
	vv_buf_free(&url);
	vv_buf_free(&body);
	vv_secret_free(cred);
	free(tenant);
	return r;
}

int vv_token_get(struct vv_tokens *t, const char *resource,
		 const char *authority, bool force, struct vv_secret **token,
		 bool *fetched, struct vv_error *err)
{
	struct vv_secret *fresh = NULL;
	struct tok_entry *e;
	int64_t refresh_at = 0;
	char *tenant = tenant_from_authority(authority);
	const char *tn = tenant ? tenant : "";
	int r;

	*token = NULL;
	if (fetched)
		*fetched = false;
	pthread_mutex_lock(&t->lock);
	/*
	 * Keyed by resource and tenant, as the SDKs cache: a token a vault of
	 * one tenant obtained is never handed to a vault of another.
	 */
	for (e = t->cache; e; e = e->next)
		if (!strcmp(e->resource, resource) && !strcmp(e->tenant, tn))
			break;
	if (e && !force && time(NULL) < e->refresh_at) {
		*token = vv_secret_from(e->token->data, e->token->len);
		r = *token ? 0 : -ENOMEM;
		goto out;
	}
	__atomic_add_fetch(&t->stats->token_requests, 1, __ATOMIC_RELAXED);
	if (t->cfg->aad_client_id)
		r = aad_fetch(t, resource, authority, &fresh, &refresh_at, err);
	else
		r = imds_fetch(t, resource, &fresh, &refresh_at, err);
	if (r < 0)
		goto out;
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e || !(e->resource = strdup(resource)) || !(e->tenant = strdup(tn))) {
			if (e)
				free(e->resource);
			free(e);
			r = -ENOMEM;
			goto out;
		}
		e->next = t->cache;
		t->cache = e;
	}
	vv_secret_free(e->token);
	e->token = fresh;
	e->refresh_at = refresh_at;
	fresh = NULL;
	*token = vv_secret_from(e->token->data, e->token->len);
	r = *token ? 0 : -ENOMEM;
	if (fetched)
		*fetched = true;
	vv_debug("vault: new token for %s (tenant %s)", resource, *tn ? tn : "-");
out:
	pthread_mutex_unlock(&t->lock);
	vv_secret_free(fresh);
	free(tenant);
	return r;
}

/* ---- JWT client assertion (RS256) ---- */

static int b64url_append(struct vv_buf *b, const void *p, size_t n)
{
	char *s = vv_b64_encode(VV_B64_URL, p, n);
	int r;

	if (!s)
		return -ENOMEM;
	r = vv_buf_puts(b, s);
	free(s);
	return r;
}

int vv_jwt_client_assertion(const char *pem_file, const char *client_id,
			    const char *audience, int64_t now,
			    struct vv_secret **jwt, struct vv_error *err)
{
	struct json_object *hdr = NULL, *pl = NULL;
	unsigned char sha1[EVP_MAX_MD_SIZE], jti[16], *sig = NULL;
	unsigned int sha1_len = 0;
	char jti_hex[33], *x5t = NULL;
	struct vv_buf out = { 0 };
	EVP_MD_CTX *md = NULL;
	EVP_PKEY *pkey = NULL;
	X509 *cert = NULL;
	size_t siglen = 0;
	const char *s;
	struct vv_secret *pem = NULL;
	BIO *bio = NULL;
	int r = -EINVAL;

	*jwt = NULL;
	/* Read like every file (no link, no FIFO), into locked memory: it holds the key. */
	r = vv_key_file_read(AT_FDCWD, pem_file, 0, &pem, err);
	if (r < 0)
		goto out;
	r = -EINVAL;
	bio = BIO_new_mem_buf(pem->data, (int)pem->len);
	if (bio)
		cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	/* From the start again, whichever comes first in the file. */
	BIO_free(bio);
	bio = BIO_new_mem_buf(pem->data, (int)pem->len);
	if (bio)
		pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (!cert || !pkey || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0,
			     "AAD certificate %s: need a PEM certificate and its RSA key",
			     pem_file);
		goto out;
	}
	if (!X509_digest(cert, EVP_sha1(), sha1, &sha1_len) ||
	    RAND_bytes(jti, sizeof(jti)) != 1) {
		r = -EIO;
		goto out;
	}
	for (size_t i = 0; i < sizeof(jti); i++)
		snprintf(jti_hex + 2 * i, 3, "%02x", jti[i]);
	r = -ENOMEM;
	x5t = vv_b64_encode(VV_B64_URL, sha1, sha1_len);
	hdr = json_object_new_object();
	pl = json_object_new_object();
	if (!x5t || !hdr || !pl)
		goto out;
	json_object_object_add(hdr, "alg", json_object_new_string("RS256"));
	json_object_object_add(hdr, "typ", json_object_new_string("JWT"));
	json_object_object_add(hdr, "x5t", json_object_new_string(x5t));
	json_object_object_add(pl, "aud", json_object_new_string(audience));
	json_object_object_add(pl, "iss", json_object_new_string(client_id));
	json_object_object_add(pl, "sub", json_object_new_string(client_id));
	json_object_object_add(pl, "jti", json_object_new_string(jti_hex));
	json_object_object_add(pl, "nbf", json_object_new_int64(now));
	json_object_object_add(pl, "iat", json_object_new_int64(now));
	json_object_object_add(pl, "exp", json_object_new_int64(now + 600));
	s = json_object_to_json_string_ext(hdr, JSON_C_TO_STRING_PLAIN);
	if (!s || b64url_append(&out, s, strlen(s)) < 0 || vv_buf_puts(&out, ".") < 0)
		goto out;
	s = json_object_to_json_string_ext(pl, JSON_C_TO_STRING_PLAIN);
	if (!s || b64url_append(&out, s, strlen(s)) < 0)
		goto out;
	md = EVP_MD_CTX_new();
	if (!md)
		goto out;
	r = -EIO;
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) != 1 ||
	    EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)vv_buf_str(&out),
			   vv_buf_len(&out)) != 1 ||
	    !(sig = OPENSSL_malloc(siglen)) ||
	    EVP_DigestSign(md, sig, &siglen, (const unsigned char *)vv_buf_str(&out),
			   vv_buf_len(&out)) != 1) {
		vv_error_set(err, VV_CAUSE_CRYPTO, 0, "AAD certificate %s: signing failed", pem_file);
		goto out;
	}
	r = -ENOMEM;
	if (vv_buf_puts(&out, ".") < 0 || b64url_append(&out, sig, siglen) < 0)
		goto out;
	*jwt = vv_secret_from(vv_buf_str(&out), vv_buf_len(&out));
	r = *jwt ? 0 : -ENOMEM;
out:
	OPENSSL_free(sig);
	EVP_MD_CTX_free(md);
	json_object_put(hdr);
	json_object_put(pl);
	free(x5t);
	vv_buf_free(&out);
	EVP_PKEY_free(pkey);
	X509_free(cert);
	BIO_free(bio);
	vv_secret_free(pem);
	return r;
}
