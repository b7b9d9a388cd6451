// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Azure Key Vault data-plane client (api-version 7.4): secrets get/set,
 * keys get/wrapkey/unwrapkey, with the 401 challenge flow, retries and
 * failover to a secondary vault on outage only.
 */
#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "base/b64.h"
#include "base/http.h"
#include "vault/internal.h"
#include "base/log.h"
#include "base/retry.h"
#include "vault/token.h"
#include "vault/trust.h"

#define KV_API "api-version=7.4"

/* Resource and authority a vault announced in its 401 challenge. */
struct challenge {
	char *base;		/* "https://host[:port]" */
	char *resource;
	char *authority;	/* may be NULL */
	struct challenge *next;
};

struct vv_vault {
	struct vv_vault_config cfg;	/* strings below are our own copies */
	struct vv_vault_stats stats;	/* updated with atomics */
	struct vv_http *http;
	struct vv_tokens *tokens;
	pthread_mutex_t lock;		/* protects challenges, in_flight */
	struct challenge *challenges;
	pthread_cond_t gate_cv;		/* a request slot became free */
	int in_flight;			/* operations holding a slot */
	pthread_mutex_t probe;		/* one unauthenticated probe per vault */
	char **trusted;			/* normalised origins a request may go to */
	size_t ntrusted;
	char (*moves)[2][VV_ORIGIN_MAX];	/* normalised from -> to */
	size_t nmoves;
};

#define STAT_INC(v, field) __atomic_add_fetch(&(v)->stats.field, 1, __ATOMIC_RELAXED)

/* ---- configuration ---- */

static void free_config(struct vv_vault_config *c)
{
	free((char *)c->vault_url);
	free((char *)c->secondary_url);
	free((char *)c->imds_url);
	free((char *)c->ca_file);
	free((char *)c->identity_kind);
	free((char *)c->identity_value);
	free((char *)c->aad_authority);
	free((char *)c->aad_tenant);
	free((char *)c->aad_client_id);
	free((char *)c->aad_secret_file);
	free((char *)c->aad_cert_file);
	free((char *)c->keystore_dir);
	free((char *)c->bek_volume_label);
	memset(c, 0, sizeof(*c));
}

/* Copy s (or dflt when s is NULL); *ok turns false on allocation failure. */
static const char *dup_or(const char *s, const char *dflt, bool *ok)
{
	char *r;

	if (!s)
		s = dflt;
	if (!s)
		return NULL;
	r = strdup(s);
	if (!r)
		*ok = false;
	return r;
}

/* Like dup_or, without trailing slashes (URLs are joined with paths). */
static const char *dup_url(const char *s, const char *dflt, bool *ok)
{
	char *r = (char *)dup_or(s, dflt, ok);
	size_t n = r ? strlen(r) : 0;

	while (n && r[n - 1] == '/')
		r[--n] = '\0';
	return r;
}

/* A vault URL as its normalised origin when it is one, else as given. */
static const char *dup_origin(const char *s, bool *ok)
{
	char o[VV_ORIGIN_MAX];

	if (s && vv_origin(s, o, sizeof(o)) == 0)
		return dup_or(o, NULL, ok);
	return dup_url(s, NULL, ok);
}

/*
 * The vaults trusted configuration names: the default vault, the
 * secondary and the allowed list. Nothing else ever gets a request.
 */
static int build_trusted(struct vv_vault *v, const struct vv_vault_config *cfg)
{
	const char *one[2] = { v->cfg.vault_url, v->cfg.secondary_url };
	size_t n = 2;
	char o[VV_ORIGIN_MAX];

	size_t na = 0, nm = cfg ? cfg->nmoves : 0;

	for (const char *const *a = cfg ? cfg->allowed_urls : NULL; a && *a; a++)
		na++;
	n += na + nm;
	v->trusted = calloc(n, sizeof(*v->trusted));
	v->moves = calloc(nm ? nm : 1, sizeof(*v->moves));
	if (!v->trusted || !v->moves)
		return -ENOMEM;
	/* A moved vault's new home is trusted; its old one is never asked. */
	for (size_t i = 0; i < nm; i++) {
		if (vv_origin(cfg->moves[i].from, v->moves[v->nmoves][0], VV_ORIGIN_MAX) < 0 ||
		    vv_origin(cfg->moves[i].to, v->moves[v->nmoves][1], VV_ORIGIN_MAX) < 0)
			return -EINVAL;
		v->nmoves++;
	}
	for (size_t i = 0; i < n; i++) {
		const char *u = i < 2 ? one[i] : i < 2 + na ? cfg->allowed_urls[i - 2] :
			v->moves[i - 2 - na][1];

		if (!u || vv_origin(u, o, sizeof(o)) < 0)
			continue;	/* the config parser already refused bad URLs */
		if (!(v->trusted[v->ntrusted] = strdup(o)))
			return -ENOMEM;
		v->ntrusted++;
	}
	return 0;
}

static bool vault_trusted(const struct vv_vault *v, const char *origin)
{
	for (size_t i = 0; i < v->nmoves; i++)
		if (!strcmp(v->moves[i][0], origin))
			return false;	/* moved away: never contacted */
	for (size_t i = 0; i < v->ntrusted; i++)
		if (!strcmp(v->trusted[i], origin))
			return true;
	return false;
}

static int copy_config(struct vv_vault_config *d, const struct vv_vault_config *s)
{
	bool ok = true;

	memset(d, 0, sizeof(*d));
	d->vault_url = dup_origin(s->vault_url, &ok);
	d->secondary_url = dup_origin(s->secondary_url, &ok);
	d->imds_url = dup_url(s->imds_url, "http://169.254.169.254", &ok);
	d->ca_file = dup_or(s->ca_file, NULL, &ok);
	d->identity_kind = dup_or(s->identity_kind, NULL, &ok);
	d->identity_value = dup_or(s->identity_value, NULL, &ok);
	d->aad_authority = dup_url(s->aad_authority,
				   "https://login.microsoftonline.com", &ok);
	d->aad_tenant = dup_or(s->aad_tenant, NULL, &ok);
	d->aad_client_id = dup_or(s->aad_client_id, NULL, &ok);
	d->aad_secret_file = dup_or(s->aad_secret_file, NULL, &ok);
	d->aad_cert_file = dup_or(s->aad_cert_file, NULL, &ok);
	d->keystore_dir = dup_or(s->keystore_dir, "/etc/vaultvol/keys", &ok);
	d->bek_volume_label = dup_or(s->bek_volume_label, "BEK VOLUME", &ok);
	d->request_timeout_ms = s->request_timeout_ms > 0 ? s->request_timeout_ms : 10000;
	d->total_timeout_ms = s->total_timeout_ms > 0 ? s->total_timeout_ms : 60000;
	d->max_retries = s->max_retries > 0 ? s->max_retries : 5;
	d->max_parallel = s->max_parallel > 0 ? s->max_parallel : 1;
	if (!ok) {
		free_config(d);
		return -ENOMEM;
	}
	return 0;
}

int vv_vault_new(const struct vv_vault_config *cfg, struct vv_vault **out)
{
	static const struct vv_vault_config empty;
	struct vv_vault *v;
	int r;

	*out = NULL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	pthread_mutex_init(&v->lock, NULL);
	pthread_mutex_init(&v->probe, NULL);
	pthread_cond_init(&v->gate_cv, NULL);
	r = copy_config(&v->cfg, cfg ? cfg : &empty);
	if (r < 0)
		goto fail;
	r = build_trusted(v, cfg);
	if (r < 0)
		goto fail;
	/* vv_http_new runs curl_global_init once per process (pthread_once). */
	r = vv_http_new(v->cfg.ca_file, &v->http);
	if (r < 0)
		goto fail;
	r = vv_tokens_new(&v->cfg, v->http, &v->stats, &v->tokens);
	if (r < 0)
		goto fail;
	*out = v;
	return 0;
fail:
	vv_vault_free(v);
	return r;
}

void vv_vault_free(struct vv_vault *v)
{
	struct challenge *c, *n;

	if (!v)
		return;
	vv_tokens_free(v->tokens);
	vv_http_free(v->http);
	for (c = v->challenges; c; c = n) {
		n = c->next;
		free(c->base);
		free(c->resource);
		free(c->authority);
		free(c);
	}
	pthread_cond_destroy(&v->gate_cv);
	pthread_mutex_destroy(&v->probe);
	pthread_mutex_destroy(&v->lock);
	for (size_t i = 0; i < v->ntrusted; i++)
		free(v->trusted[i]);
	free(v->trusted);
	free(v->moves);
	free_config(&v->cfg);
	free(v);
}

const struct vv_vault_config *vv_vault_config_of(const struct vv_vault *v)
{
	return &v->cfg;
}

void vv_vault_get_stats(const struct vv_vault *v, struct vv_vault_stats *st)
{
	const struct vv_vault_stats *s = &v->stats;

	st->secret_gets = __atomic_load_n(&s->secret_gets, __ATOMIC_RELAXED);
	st->secret_puts = __atomic_load_n(&s->secret_puts, __ATOMIC_RELAXED);
	st->key_gets = __atomic_load_n(&s->key_gets, __ATOMIC_RELAXED);
	st->wraps = __atomic_load_n(&s->wraps, __ATOMIC_RELAXED);
	st->unwraps = __atomic_load_n(&s->unwraps, __ATOMIC_RELAXED);
	st->token_requests = __atomic_load_n(&s->token_requests, __ATOMIC_RELAXED);
	st->challenges = __atomic_load_n(&s->challenges, __ATOMIC_RELAXED);
	st->retries = __atomic_load_n(&s->retries, __ATOMIC_RELAXED);
	st->failovers = __atomic_load_n(&s->failovers, __ATOMIC_RELAXED);
	st->connections = vv_http_connections(v->http);
}

/* ---- references ---- */

struct kv_ref {
	char *base;		/* "https://host[:port]": where it is resolved */
	char *moved_from;	/* the vault it names, when moved; else NULL */
	const char *kind;	/* "secrets" or "keys" */
	char *name;
	char *version;		/* NULL: latest */
};

static void kv_ref_free(struct kv_ref *r)
{
	free(r->base);
	free(r->moved_from);
	free(r->name);
	free(r->version);
	memset(r, 0, sizeof(*r));
}

static bool valid_part(const char *s, size_t n, bool dash, size_t max)
{
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || (dash && s[i] == '-')))
			return false;
	return true;
}

/*
 * "https://vault/KIND/name[/version]" (a query is ignored) or, with a
 * configured vault, "name[/version]".
 */
static int parse_ref(const struct vv_vault *v, const char *ref, const char *kind,
		     struct kv_ref *out, struct vv_error *err)
{
	const char *path, *name, *slash, *ver = NULL, *end;
	size_t kl = strlen(kind), nlen, vlen = 0;

	memset(out, 0, sizeof(*out));
	out->kind = kind;
	if (!ref || !*ref)
		goto bad;
	if (!strncmp(ref, "https://", 8)) {
		path = strchr(ref + 8, '/');
		if (!path || path == ref + 8 || strncmp(path + 1, kind, kl) || path[1 + kl] != '/')
			goto bad;
		char o[VV_ORIGIN_MAX];

		/* The host checks see is the host curl connects to. */
		if (vv_origin(ref, o, sizeof(o)) < 0)
			goto bad;
		out->base = strdup(o);
		name = path + 2 + kl;
	} else if (strchr(ref, ':')) {
		goto bad;	/* http:, bek:, keystore:, file: ... are not ours */
	} else {
		if (!v->cfg.vault_url || strncmp(v->cfg.vault_url, "https://", 8)) {
			vv_error_set(err, VV_CAUSE_CONFIG, 0,
				     "'%s': no https vault configured for bare names", ref);
			return -EINVAL;
		}
		out->base = strdup(v->cfg.vault_url);
		name = ref;
	}
	if (!out->base)
		return -ENOMEM;
	for (size_t i = 0; i < v->nmoves; i++)
		if (!strcmp(out->base, v->moves[i][0])) {
			out->moved_from = out->base;
			out->base = strdup(v->moves[i][1]);
			if (!out->base) {
				kv_ref_free(out);
				return -ENOMEM;
			}
			break;
		}
	end = name + strcspn(name, "?#");
	slash = memchr(name, '/', (size_t)(end - name));
	nlen = slash ? (size_t)(slash - name) : (size_t)(end - name);
	if (slash) {
		ver = slash + 1;
		vlen = (size_t)(end - ver);
		if (vlen && ver[vlen - 1] == '/')
			vlen--;
	}
	if (!valid_part(name, nlen, true, 127) ||
	    (ver && vlen && !valid_part(ver, vlen, false, 64)))
		goto bad;
	out->name = strndup(name, nlen);
	if (ver && vlen)
		out->version = strndup(ver, vlen);
	if (!out->name || (ver && vlen && !out->version)) {
		kv_ref_free(out);
		return -ENOMEM;
	}
	return 0;
bad:
	kv_ref_free(out);
	vv_error_set(err, VV_CAUSE_CONFIG, 0,
		     "'%s' is not a Key Vault %s reference (https://VAULT/%s/NAME[/VERSION], "
		     "VAULT a DNS name with an optional port)",
		     ref ? ref : "(null)", kind, kind);
	return -EINVAL;
}

/* ---- the 401 challenge ---- */

/* Value of key in a "Bearer k="v", k2="v2"" challenge, malloc'ed. */
static char *challenge_param(const char *hdr, const char *key)
{
	size_t kl = strlen(key);
	const char *p = hdr;

	if (strncasecmp(p, "Bearer", 6))
		return NULL;
	p += 6;
	while (*p) {
		const char *k, *val;
		size_t n;

		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		k = p;
		while (*p && *p != '=' && *p != ' ' && *p != ',')
			p++;
		n = (size_t)(p - k);
		if (*p != '=')
			continue;
		p++;
		if (*p == '"') {
			val = ++p;
			while (*p && *p != '"')
				p++;
			if (n == kl && !strncasecmp(k, key, kl))
				return strndup(val, (size_t)(p - val));
			if (*p)
				p++;
		} else {
			val = p;
			while (*p && *p != ',' && *p != ' ')
				p++;
			if (n == kl && !strncasecmp(k, key, kl))
				return strndup(val, (size_t)(p - val));
		}
	}
	return NULL;
}

/* Remember (or update) what base announced; copies out resource/authority. */
static int challenge_store(struct vv_vault *v, const char *base,
			   const char *resource, const char *authority)
{
	struct challenge *c;
	char *res = strdup(resource), *auth = authority ? strdup(authority) : NULL;
	int r = -ENOMEM;

	if (!res || (authority && !auth))
		goto fail;
	pthread_mutex_lock(&v->lock);
	for (c = v->challenges; c; c = c->next)
		if (!strcmp(c->base, base))
			break;
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c || !(c->base = strdup(base))) {
			free(c);
			pthread_mutex_unlock(&v->lock);
			goto fail;
		}
		c->next = v->challenges;
		v->challenges = c;
	}
	free(c->resource);
	free(c->authority);
	c->resource = res;
	c->authority = auth;
	pthread_mutex_unlock(&v->lock);
	return 0;
fail:
	free(res);
	free(auth);
	return r;
}

static int challenge_lookup(struct vv_vault *v, const char *base,
			    char **resource, char **authority)
{
	struct challenge *c;
	int r = 0;

	*resource = *authority = NULL;
	pthread_mutex_lock(&v->lock);
	for (c = v->challenges; c; c = c->next)
		if (!strcmp(c->base, base))
			break;
	if (c) {
		*resource = strdup(c->resource);
		*authority = c->authority ? strdup(c->authority) : NULL;
		if (!*resource || (c->authority && !*authority)) {
			free(*resource);
			free(*authority);
			*resource = *authority = NULL;
			r = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&v->lock);
	return r;
}

/* Parse a 401's challenge into resource/authority; -EPROTO if unusable. */
static int parse_challenge(const char *hdr, const char *base, char **resource,
			   char **authority, struct vv_error *err)
{
	char *res = NULL, *scope = NULL, *auth = NULL;
	size_t n;

	*resource = *authority = NULL;
	if (hdr) {
		res = challenge_param(hdr, "resource");
		auth = challenge_param(hdr, "authorization");
		if (!auth)
			auth = challenge_param(hdr, "authorization_uri");
		/* Newer services announce a scope instead of a resource. */
		if (!res && (scope = challenge_param(hdr, "scope"))) {
			n = strlen(scope);
			if (n > 9 && !strcmp(scope + n - 9, "/.default"))
				scope[n - 9] = '\0';
			res = scope;
		}
	}
	if (!res || !*res) {
		vv_error_set(err, VV_CAUSE_UNAUTHORIZED, 401,
			     "%s: 401 without a usable Bearer challenge", base);
		goto fail;
	}
	/*
	 * The token is good at every vault of its audience: a host may only
	 * ask for an audience it belongs to (the SDKs' verifyChallengeResource).
	 */
	if (!vv_challenge_resource_ok(res, base)) {
		vv_error_set(err, VV_CAUSE_UNTRUSTED, 401,
			     "%s: its challenge asks for a token for %s, a domain this host is not in; "
			     "no token was sent",
			     base, res);
		goto fail;
	}
	*resource = res;
	*authority = auth;
	return 0;
fail:
	free(res);
	free(auth);
	return -EPROTO;
}

/* ---- errors ---- */

static const char *json_str(struct json_object *o, const char *key)
{
	struct json_object *val;

	if (!o || !json_object_object_get_ex(o, key, &val) ||
	    !json_object_is_type(val, json_type_string))
		return NULL;
	return json_object_get_string(val);
}

static struct json_object *json_obj(struct json_object *o, const char *key)
{
	struct json_object *val;

	if (!o || !json_object_object_get_ex(o, key, &val) ||
	    !json_object_is_type(val, json_type_object))
		return NULL;
	return val;
}

static bool json_i64(struct json_object *o, const char *key, int64_t *out)
{
	struct json_object *val;

	if (!o || !json_object_object_get_ex(o, key, &val))
		return false;
	if (json_object_is_type(val, json_type_int)) {
		*out = json_object_get_int64(val);
		return true;
	}
	if (json_object_is_type(val, json_type_double)) {
		double d = json_object_get_double(val);

		/* Out of int64's range (1e300, NaN) the cast is undefined. */
		if (!(d > -9.2e18 && d < 9.2e18))
			return false;
		*out = (int64_t)d;
		return true;
	}
	return false;
}

/* Map a Key Vault error answer to a cause; returns -errno for it. */
static int kv_error(const struct vv_http_resp *resp, const char *method,
		    const char *what, bool unwrap, struct vv_error *err)
{
	struct json_object *o = vv_json_parse_wiped(vv_buf_str(&resp->body),
						    vv_buf_len(&resp->body));
	struct json_object *e = json_obj(o, "error");
	const char *code = json_str(e, "code"), *msg = json_str(e, "message");
	const char *inner = json_str(json_obj(e, "innererror"), "code");
	long st = resp->status;
	enum vv_cause cause;
	int r;

	if (st == 404)
		cause = VV_CAUSE_NOT_FOUND;
	else if (st == 403 && ((inner && strcasestr(inner, "Disabled")) ||
			       (code && strcasestr(code, "Disabled"))))
		cause = VV_CAUSE_DISABLED;
	else if (st == 403 && inner && strcasestr(inner, "Expired"))
		cause = VV_CAUSE_EXPIRED;	/* KeyNotYetValidOrExpired */
	else if (st == 403)
		cause = VV_CAUSE_FORBIDDEN;
	else if (st == 401)
		cause = VV_CAUSE_UNAUTHORIZED;
	else if (st == 409 && ((code && strcasestr(code, "Deleted")) ||
			       (inner && strcasestr(inner, "Deleted"))))
		cause = VV_CAUSE_NOT_FOUND;	/* deleted, still recoverable */
	else if (st == 429)
		cause = VV_CAUSE_THROTTLED;
	else if (st >= 500 || st == 408)
		cause = VV_CAUSE_UNAVAILABLE;
	else if (st == 400 && unwrap)
		cause = VV_CAUSE_CRYPTO;	/* wrong key or damaged ciphertext */
	else if (st >= 400)
		cause = VV_CAUSE_CONFIG;
	else
		cause = VV_CAUSE_BAD_RESPONSE;	/* redirects and the like */
	vv_error_set(err, cause, (int)st, "Key Vault %s %s: HTTP %ld%s%s%s%s%s%s", method,
		     what, st, code ? " " : "", code ? code : "",
		     inner ? "/" : "", inner ? inner : "", msg ? ": " : "", msg ? msg : "");
	if (err) {
		snprintf(err->code, sizeof(err->code), "%s", code ? code : "");
		snprintf(err->inner, sizeof(err->inner), "%s", inner ? inner : "");
	}
	vv_json_put_wiped(o);
	switch (cause) {
	case VV_CAUSE_NOT_FOUND: r = -ENOENT; break;
	case VV_CAUSE_UNAVAILABLE:
	case VV_CAUSE_THROTTLED: r = -EIO; break;
	case VV_CAUSE_CONFIG: r = -EINVAL; break;
	case VV_CAUSE_CRYPTO: r = -EBADMSG; break;
	case VV_CAUSE_BAD_RESPONSE: r = -EPROTO; break;
	default: r = -EACCES; break;
	}
	return r;
}

/* ---- one request against one vault, with challenge and retries ---- */

struct kv_op {
	const char *method;
	const char *action;		/* "wrapkey"/"unwrapkey", or NULL */
	const char *path;		/* set by kv_call from the ref and action */
	const struct vv_buf *body;	/* JSON or NULL */
	const char *what;		/* for messages: the reference */
	bool unwrap;
	bool no_failover;		/* writes stay on the primary */
};

/*
 * Returns 0 with a 2xx in resp, or a negative errno with err set. *outage
 * says whether the failure was this vault being unreachable, overloaded or
 * broken (the only case where another vault may be asked).
 */
static int kv_try(struct vv_vault *v, const char *base, const struct kv_op *op,
		  struct vv_http_resp *resp, bool *outage, struct vv_error *err)
{
	struct vv_secret *token = NULL;
	char *resource = NULL, *authority = NULL;
	struct vv_buf url = { 0 };
	struct vv_retry retry;
	bool fetched = false, force = false, probing = false;
	int r;

	*outage = false;
	r = vv_buf_printf(&url, "%s%s?" KV_API, base, op->path);
	if (r < 0)
		goto out;
	r = challenge_lookup(v, base, &resource, &authority);
	if (r < 0)
		goto out;
	if (!resource) {
		/*
		 * Nothing learnt from this vault yet: one caller probes without
		 * a token, the others wait and use what it learns, so N
		 * parallel volumes cost one challenge, not N.
		 */
		pthread_mutex_lock(&v->probe);
		probing = true;
		r = challenge_lookup(v, base, &resource, &authority);
		if (r < 0)
			goto out;
		if (resource) {
			pthread_mutex_unlock(&v->probe);
			probing = false;
		}
	}
	vv_retry_init(&retry, VV_RETRY_KEYVAULT, v->cfg.max_retries, v->cfg.total_timeout_ms);
	/*
	 * At most: one request without a token (learns the challenge), one
	 * with the cached token, one with a freshly fetched token.
	 */
	for (int round = 0; round < 3; round++) {
		struct vv_http_req req = {
			.method = op->method, .url = vv_buf_str(&url),
			.timeout_ms = v->cfg.request_timeout_ms,
		};
		char *nres = NULL, *nauth = NULL;

		vv_secret_free(token);
		token = NULL;
		if (resource) {
			r = vv_token_get(v->tokens, resource, authority, force,
					 &token, &fetched, err);
			if (r < 0)
				goto out;	/* identity trouble: not the vault's outage */
			req.bearer = (const char *)token->data;
			/*
			 * The body (a BEK on a PUT, wrapped key material on a
			 * wrapkey) goes only with the token, to a host whose
			 * challenge passed; the probe is empty, as the SDKs
			 * send it (Content-Length: 0).
			 */
			req.content_type = op->body ? "application/json" : NULL;
			req.body = op->body ? vv_buf_str(op->body) : NULL;
			req.body_len = op->body ? vv_buf_len(op->body) : 0;
		}
		vv_http_resp_free(resp);
		r = vv_http_do_retry(v->http, &req, &retry, &v->stats.retries, resp);
		if (probing && (resp->status != 401 || r < 0)) {
			/* No challenge came: let the next caller probe. */
			pthread_mutex_unlock(&v->probe);
			probing = false;
		}
		if (r < 0 && r != -EIO)
			goto out;
		if (r == -EIO) {
			vv_error_set(err, VV_CAUSE_UNAVAILABLE, 0, "Key Vault %s %s: %s",
				     op->method, op->what, resp->errmsg);
			if (vv_http_fail_remedy(resp))
				vv_error_remedy(err, "%s", vv_http_fail_remedy(resp));
			*outage = true;
			goto out;
		}
		if (resp->status >= 200 && resp->status < 300) {
			r = 0;
			goto out;
		}
		if (resp->status != 401 || (token && fetched))
			break;	/* an answer; a 401 to a fresh token is final */
		STAT_INC(v, challenges);
		r = parse_challenge(resp->www_authenticate, base, &nres, &nauth, err);
		if (r < 0)
			goto out;
		r = challenge_store(v, base, nres, nauth);
		free(resource);
		free(authority);
		resource = nres;
		authority = nauth;
		if (probing) {
			pthread_mutex_unlock(&v->probe);
			probing = false;
		}
		if (r < 0)
			goto out;
		/* A cached token was refused: it may be revoked; get a new one. */
		force = token != NULL;
	}
	r = kv_error(resp, op->method, op->what, op->unwrap, err);
	*outage = err ? (err->cause == VV_CAUSE_UNAVAILABLE ||
			 err->cause == VV_CAUSE_THROTTLED) :
		      r == -EIO;
out:
	if (probing)
		pthread_mutex_unlock(&v->probe);
	vv_secret_free(token);
	free(resource);
	free(authority);
	vv_buf_free(&url);
	return r;
}

/*
 * The secondary holds the configured vault's key material: only references
 * to that vault (or any, when none is configured) may be sent there, and
 * never writes, which would make the two diverge.
 */
static const char *secondary_for(const struct vv_vault *v, const struct kv_ref *ref,
				 const struct kv_op *op)
{
	if (!v->cfg.secondary_url || op->no_failover ||
	    !strcasecmp(v->cfg.secondary_url, ref->base))
		return NULL;
	if (v->cfg.vault_url && strcasecmp(v->cfg.vault_url, ref->base))
		return NULL;
	return v->cfg.secondary_url;
}

static int build_path(struct vv_buf *p, const struct kv_ref *ref, const char *op)
{
	int r = vv_buf_printf(p, "/%s/%s", ref->kind, ref->name);

	if (!r && ref->version)
		r = vv_buf_printf(p, "/%s", ref->version);
	if (!r && op)
		r = vv_buf_printf(p, "/%s", op);
	return r;
}

/* Append to err's message; never cut what is there. */
static void err_append(struct vv_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void err_append(struct vv_error *err, const char *fmt, ...)
{
	size_t n = strlen(err->message);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->message + n, sizeof(err->message) - n, fmt, ap);
	va_end(ap);
}

/*
 * Say where a moved reference was resolved; and when a vault cannot be
 * reached at all, in the remedy, that a VM restored into another region
 * needs a `moved` line (its original vault may be unreachable from there,
 * or gone).
 */
static void explain_vault(const struct kv_ref *ref, const struct vv_http_resp *resp,
			  bool outage, struct vv_error *err)
{
	const char *kind = strcmp(ref->kind, "keys") ? "secret" : "key";

	if (ref->moved_from) {
		err_append(err, " (its vault %s is mapped to %s by [vault] moved)",
			   ref->moved_from, ref->base);
		/* The mapping says the keys were restored there: this one was not. */
		if (err->cause == VV_CAUSE_NOT_FOUND)
			vv_error_remedy(err, "the %s %s was not restored into %s: restore it there "
					"from its backup (az keyvault %s restore --vault-name ... "
					"--file ...), then run this again; or fix the moved line",
					kind, ref->name, ref->base, kind);
	} else if (outage && resp->fail == VV_HTTP_CONNECT) {
		/* Said once, as the remedy: the message is what happened. */
		vv_error_remedy(err, "if %s is gone or out of reach because this VM was restored "
				"into another region, add 'moved = %s https://NEW-VAULT' under [vault] "
				"(a /etc/vaultvol/conf.d/*.conf drop-in); otherwise check network, DNS "
				"and firewall", ref->base, ref->base);
	}
}

/*
 * A 403 of the identity's role or access policy: the remedy names the grant
 * the refused request needed, not a generic one (a refused store needs
 * secrets set, which granting secrets get does not give; a refused unwrap
 * needs keys unwrapKey, while the secret itself was readable).
 */
#define KV_CRYPTO_ROLE "Key Vault Crypto Service Encryption User"
static const struct kv_grant {
	const char *kind, *method, *action;	/* the request; action NULL: none */
	const char *what, *perm, *role;
} kv_grants[] = {
	{ "secrets", "GET", NULL, "read the secret", "secrets get", "Key Vault Secrets User" },
	{ "secrets", "PUT", NULL, "store the secret", "secrets set", "Key Vault Secrets Officer" },
	{ "keys", "GET", NULL, "read the KEK", "keys get", KV_CRYPTO_ROLE },
	{ "keys", "POST", "wrapkey", "wrap with the KEK", "keys wrapKey", KV_CRYPTO_ROLE },
	{ "keys", "POST", "unwrapkey", "unwrap with the KEK", "keys unwrapKey", KV_CRYPTO_ROLE },
};

static void explain_denied(const struct kv_ref *ref, const struct kv_op *op,
			   struct vv_error *err)
{
	const struct kv_grant *g;

	if (err->cause != VV_CAUSE_FORBIDDEN || err->remedy[0])
		return;
	for (size_t i = 0; i < sizeof(kv_grants) / sizeof(kv_grants[0]); i++) {
		g = &kv_grants[i];
		if (strcmp(g->kind, ref->kind) || strcmp(g->method, op->method) ||
		    (g->action ? !op->action || strcmp(g->action, op->action) : !!op->action))
			continue;
		vv_error_remedy(err, "the VM's identity may not %s: grant %s to that identity "
				"(Azure RBAC role %s, or the permission in the vault's access "
				"policy)", g->what, g->perm, g->role);
		return;
	}
}

/*
 * Run op against the reference's vault and, on outage only, against the
 * secondary vault (same path, its host instead). Each vault gets the full
 * retry budget.
 */
static int kv_call(struct vv_vault *v, const struct kv_ref *ref,
		   const struct kv_op *req, struct vv_http_resp *resp,
		   struct vv_error *err)
{
	const char *bases[2] = { ref->base, secondary_for(v, ref, req) };
	struct kv_op call = *req, *op = &call;
	struct vv_buf path = { 0 };
	struct vv_error local;
	bool outage = false;
	int r;

	if (!err)
		err = &local;
	/* The same path on whichever vault answers: built once, here. */
	r = build_path(&path, ref, req->action);
	if (r < 0)
		return r;
	call.path = vv_buf_str(&path);
	/* Before any byte leaves: only vaults trusted configuration names. */
	if (!vault_trusted(v, ref->base)) {
		vv_error_set(err, VV_CAUSE_UNTRUSTED, 0,
			     "%s is not a trusted vault (no trusted configuration names it): "
			     "if it is yours, add 'allowed = %s' under [vault] in "
			     "/etc/vaultvol/vaultvol.conf or a /etc/vaultvol/conf.d/*.conf drop-in, "
			     "or pass --vault %s",
			     ref->base, ref->base, ref->base);
		vv_buf_free(&path);
		return -EPERM;
	}
	r = -EINVAL;
	/* At most max_parallel operations in flight: one kept-alive connection by default. */
	pthread_mutex_lock(&v->lock);
	while (v->in_flight >= v->cfg.max_parallel)
		pthread_cond_wait(&v->gate_cv, &v->lock);
	v->in_flight++;
	pthread_mutex_unlock(&v->lock);
	for (int i = 0; i < 2 && bases[i]; i++) {
		if (i > 0) {
			if (!outage)
				break;
			vv_log_with(VV_LOG_WARN, &(struct vv_log_fields){
					.cause = vv_cause_str(err->cause),
					.message_id = VV_MSGID_VAULT_FAILOVER },
				"vault: %s unavailable (%s), trying secondary %s",
				bases[0], err->message, bases[1]);
			STAT_INC(v, failovers);
		}
		vv_error_clear(err);
		r = kv_try(v, bases[i], op, resp, &outage, err);
		if (r == 0)
			break;
		if (i > 0) {
			/* Say that this is the secondary's answer, the primary being down. */
			size_t n = strlen(err->message);

			snprintf(err->message + n, sizeof(err->message) - n,
				 " (from the secondary; primary unavailable)");
		}
	}
	pthread_mutex_lock(&v->lock);
	v->in_flight--;
	pthread_cond_signal(&v->gate_cv);
	pthread_mutex_unlock(&v->lock);
	if (r < 0) {
		explain_vault(ref, resp, outage, err);
		explain_denied(ref, req, err);
	}
	vv_buf_free(&path);
	return r;
}

/* ---- response parsing ---- */

static int64_t attr_i64(struct json_object *attrs, const char *key)
{
	int64_t n = 0;

	return json_i64(attrs, key, &n) ? n : 0;
}

static bool attr_enabled(struct json_object *attrs)
{
	struct json_object *val;

	if (!attrs || !json_object_object_get_ex(attrs, "enabled", &val))
		return true;
	return json_object_get_boolean(val);
}

/* attributes.recoveryLevel (malloc'ed, NULL when absent) and recoverableDays. */
static bool attr_recovery(struct json_object *attrs, char **level, int *days)
{
	const char *l = json_str(attrs, "recoveryLevel");
	int64_t d = attr_i64(attrs, "recoverableDays");

	*days = d > 0 && d < 100000 ? (int)d : 0;
	*level = NULL;
	return !l || (*level = strdup(l)) != NULL;
}

/* Does a returned id ("https://v/KIND/name/version") match what we asked? */
static bool id_matches(const char *id, const struct kv_ref *ref)
{
	const char *p = id && !strncmp(id, "https://", 8) ? strchr(id + 8, '/') : NULL;
	size_t kl = strlen(ref->kind), nl = strlen(ref->name);

	if (!p || strncmp(p + 1, ref->kind, kl) || p[1 + kl] != '/')
		return false;
	p += 2 + kl;
	/* Key Vault names are case-insensitive. */
	if (strncasecmp(p, ref->name, nl) || (p[nl] != '/' && p[nl] != '\0'))
		return false;
	if (!ref->version)
		return true;
	return p[nl] == '/' && !strcasecmp(p + nl + 1, ref->version);
}

static int parse_bundle(const struct vv_http_resp *resp, const struct kv_ref *ref,
			struct vv_secret_bundle **out, struct vv_error *err)
{
	struct json_object *o = vv_json_parse_wiped(vv_buf_str(&resp->body),
						    vv_buf_len(&resp->body));
	struct json_object *attrs = json_obj(o, "attributes"), *tags = json_obj(o, "tags");
	const char *value = json_str(o, "value"), *id = json_str(o, "id");
	const char *ct = json_str(o, "contentType");
	struct vv_secret_bundle *b = NULL;
	int r = -EPROTO;

	if (!value || !id_matches(id, ref)) {
		vv_error_set(err, VV_CAUSE_BAD_RESPONSE, (int)resp->status,
			     "Key Vault secret %s: answer %s", ref->name,
			     !o ? "is not JSON" : !value ? "has no value" :
			     "is for another secret");
		goto out;
	}
	r = -ENOMEM;
	b = calloc(1, sizeof(*b));
	if (!b || !(b->id = strdup(id)) || (ct && !(b->content_type = strdup(ct))))
		goto out;
	b->value = vv_secret_from(value, strlen(value));
	if (!b->value)
		goto out;
	if (tags) {
		size_t n = (size_t)json_object_object_length(tags);

		b->tags = calloc(n ? n : 1, sizeof(*b->tags));
		if (!b->tags)
			goto out;
		json_object_object_foreach(tags, k, tv) {
			if (!json_object_is_type(tv, json_type_string))
				continue;
			b->tags[b->ntags].name = strdup(k);
			b->tags[b->ntags].value = strdup(json_object_get_string(tv));
			if (!b->tags[b->ntags].name || !b->tags[b->ntags].value) {
				b->ntags++;
				goto out;
			}
			b->ntags++;
		}
	}
	b->enabled = attr_enabled(attrs);
	b->nbf = attr_i64(attrs, "nbf");
	b->exp = attr_i64(attrs, "exp");
	b->created = attr_i64(attrs, "created");
	b->updated = attr_i64(attrs, "updated");
	if (!attr_recovery(attrs, &b->recovery_level, &b->recoverable_days))
		goto out;
	*out = b;
	b = NULL;
	r = 0;
out:
	vv_secret_bundle_free(b);
	vv_json_put_wiped(o);
	return r;
}

/*
 * Parse ref_str as a KIND reference into *ref, then make the call: 0, or
 * -errno with err set. *ref is the caller's to free either way.
 */
static int kv_call_ref(struct vv_vault *v, const char *ref_str, const char *kind,
		       struct kv_ref *ref, const struct kv_op *op, struct vv_http_resp *resp,
		       struct vv_error *err)
{
	int r = parse_ref(v, ref_str, kind, ref, err);

	if (r < 0)
		return r;
	return kv_call(v, ref, op, resp, err);
}

/* ---- secrets ---- */

int vv_secret_get(struct vv_vault *v, const char *ref_str,
		  struct vv_secret_bundle **out, struct vv_error *err)
{
	struct vv_http_resp resp = { 0 };
	struct kv_ref ref;
	struct kv_op op = { .method = "GET", .what = ref_str };
	int r;

	*out = NULL;
	vv_error_clear(err);
	STAT_INC(v, secret_gets);
	r = kv_call_ref(v, ref_str, "secrets", &ref, &op, &resp, err);
	if (r < 0)
		goto out;
	r = parse_bundle(&resp, &ref, out, err);
	if (r == 0 && !(*out)->enabled) {
		/* The service answers 403 for these; a bundle saying so is the same. */
		vv_error_set(err, VV_CAUSE_DISABLED, (int)resp.status,
			     "Key Vault secret %s is disabled", ref_str);
		vv_secret_bundle_free(*out);
		*out = NULL;
		r = -EACCES;
	}
out:
	vv_http_resp_free(&resp);
	kv_ref_free(&ref);
	return r;
}

int vv_secret_put(struct vv_vault *v, const char *name,
		  const struct vv_secret *value, const char *content_type,
		  const struct vv_tag *tags, size_t ntags,
		  struct vv_secret_bundle **out, struct vv_error *err)
{
	struct vv_secret_bundle *b = NULL;
	struct vv_http_resp resp = { 0 };
	struct vv_buf body = { 0 };
	struct kv_ref ref;
	struct kv_op op = { .method = "PUT", .what = name, .body = &body,
			    .no_failover = true };
	int r;

	if (out)
		*out = NULL;
	vv_error_clear(err);
	STAT_INC(v, secret_puts);
	r = parse_ref(v, name, "secrets", &ref, err);
	if (r < 0)
		return r;
	if (ref.version || !value) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0,
			     "secret put %s: needs a value and a name without version", name);
		r = -EINVAL;
		goto out;
	}
	/* The body holds the secret: build it in locked memory only. */
	r = vv_buf_puts(&body, "{\"value\":");
	if (!r)
		r = vv_buf_json_str(&body, (const char *)value->data, value->len);
	if (!r && content_type) {
		r = vv_buf_puts(&body, ",\"contentType\":");
		if (!r)
			r = vv_buf_json_str(&body, content_type, strlen(content_type));
	}
	if (!r && ntags) {
		r = vv_buf_puts(&body, ",\"tags\":{");
		for (size_t i = 0; !r && i < ntags; i++) {
			if (i)
				r = vv_buf_puts(&body, ",");
			if (!r)
				r = vv_buf_json_str(&body, tags[i].name, strlen(tags[i].name));
			if (!r)
				r = vv_buf_puts(&body, ":");
			if (!r)
				r = vv_buf_json_str(&body, tags[i].value, strlen(tags[i].value));
		}
		if (!r)
			r = vv_buf_puts(&body, "}");
	}
	if (!r)
		r = vv_buf_puts(&body, "}");
	if (r < 0)
		goto out;
	r = kv_call(v, &ref, &op, &resp, err);
	if (r < 0)
		goto out;
	r = parse_bundle(&resp, &ref, &b, err);
	if (r < 0)
		goto out;
	if (out) {
		*out = b;
		b = NULL;
	}
out:
	vv_secret_bundle_free(b);
	vv_http_resp_free(&resp);
	vv_buf_free(&body);
	kv_ref_free(&ref);
	return r;
}

/* ---- keys ---- */

int vv_key_get(struct vv_vault *v, const char *kek_ref,
	       struct vv_key_info **out, struct vv_error *err)
{
	struct vv_http_resp resp = { 0 };
	struct vv_key_info *k = NULL;
	struct json_object *o = NULL, *key, *attrs;
	unsigned char *n = NULL;
	const char *kid, *kty, *n64;
	size_t nlen = 0, i = 0;
	struct kv_ref ref;
	struct kv_op op = { .method = "GET", .what = kek_ref };
	int r;

	*out = NULL;
	vv_error_clear(err);
	STAT_INC(v, key_gets);
	r = kv_call_ref(v, kek_ref, "keys", &ref, &op, &resp, err);
	if (r < 0)
		goto out;
	o = vv_json_parse_wiped(vv_buf_str(&resp.body), vv_buf_len(&resp.body));
	key = json_obj(o, "key");
	attrs = json_obj(o, "attributes");
	kid = json_str(key, "kid");
	kty = json_str(key, "kty");
	n64 = json_str(key, "n");
	r = -EPROTO;
	if (!kid || !kty || !id_matches(kid, &ref)) {
		vv_error_set(err, VV_CAUSE_BAD_RESPONSE, (int)resp.status,
			     "Key Vault key %s: answer without a matching kid/kty", kek_ref);
		goto out;
	}
	if (n64 && vv_b64_decode(VV_B64_URL, n64, strlen(n64), &n, &nlen) < 0) {
		vv_error_set(err, VV_CAUSE_BAD_RESPONSE, (int)resp.status,
			     "Key Vault key %s: modulus is not base64url", kek_ref);
		goto out;
	}
	r = -ENOMEM;
	k = calloc(1, sizeof(*k));
	if (!k || !(k->kid = strdup(kid)) || !(k->kty = strdup(kty)))
		goto out;
	k->enabled = attr_enabled(attrs);
	k->nbf = attr_i64(attrs, "nbf");
	k->exp = attr_i64(attrs, "exp");
	if (!attr_recovery(attrs, &k->recovery_level, &k->recoverable_days))
		goto out;
	while (i < nlen && n[i] == 0)
		i++;
	if (i < nlen) {
		unsigned top = n[i], lead = 0;

		while (!(top & 0x80)) {
			top <<= 1;
			lead++;
		}
		k->bits = (unsigned)((nlen - i) * 8 - lead);
	}
	*out = k;
	k = NULL;
	r = 0;
out:
	vv_key_info_free(k);
	free(n);
	vv_json_put_wiped(o);
	vv_http_resp_free(&resp);
	kv_ref_free(&ref);
	return r;
}

/*
 * base64url without padding, from base64url or base64, padded or not;
 * NULL when the text is neither.
 */
static char *b64url_normalize(const char *in)
{
	size_t n = strlen(in);
	char *o;

	while (n && in[n - 1] == '=')
		n--;
	o = strndup(in, n);
	for (size_t i = 0; o && i < n; i++) {
		if (o[i] == '+')
			o[i] = '-';
		else if (o[i] == '/')
			o[i] = '_';
		else if (!((o[i] >= 'a' && o[i] <= 'z') || (o[i] >= 'A' && o[i] <= 'Z') ||
			   (o[i] >= '0' && o[i] <= '9') || o[i] == '-' || o[i] == '_')) {
			free(o);
			return NULL;
		}
	}
	return o;
}

/* POST wrapkey/unwrapkey with {"alg","value"}; returns the answer's kid and value. */
static int key_op(struct vv_vault *v, const char *kek_ref, const char *alg,
		  const char *opname, const char *value, size_t value_len,
		  struct json_object **ans, struct kv_ref *ref, struct vv_error *err)
{
	struct vv_http_resp resp = { 0 };
	struct vv_buf body = { 0 };
	bool unwrap = !strcmp(opname, "unwrapkey");
	struct kv_op op = { .method = "POST", .action = opname, .what = kek_ref,
			    .body = &body, .unwrap = unwrap };
	int r;

	*ans = NULL;
	r = parse_ref(v, kek_ref, "keys", ref, err);
	if (r < 0)
		return r;
	r = vv_buf_printf(&body, "{\"alg\":\"%s\",\"value\":", alg);
	if (!r)
		r = vv_buf_json_str(&body, value, value_len);
	if (!r)
		r = vv_buf_puts(&body, "}");
	if (r < 0)
		goto out;
	r = kv_call(v, ref, &op, &resp, err);
	if (r < 0)
		goto out;
	*ans = vv_json_parse_wiped(vv_buf_str(&resp.body), vv_buf_len(&resp.body));
	if (!json_str(*ans, "value") ||
	    (json_str(*ans, "kid") && !id_matches(json_str(*ans, "kid"), ref))) {
		vv_error_set(err, VV_CAUSE_BAD_RESPONSE, (int)resp.status,
			     "Key Vault %s %s: answer without a value for this key",
			     opname, kek_ref);
		vv_json_put_wiped(*ans);
		*ans = NULL;
		r = -EPROTO;
	}
out:
	vv_http_resp_free(&resp);
	vv_buf_free(&body);
	return r;
}

/* The remote half of vv_key_wrap() (vault/kek.c), which checked the arguments. */
int vv_kv_key_wrap(struct vv_vault *v, const char *kek_ref, const char *alg,
		   const struct vv_secret *plain, char **wrapped, char **kid_out,
		   struct vv_error *err)
{
	struct vv_secret *b64 = NULL;
	struct json_object *ans = NULL;
	struct kv_ref ref = { 0 };
	const char *val, *kid;
	int r;

	*wrapped = NULL;
	if (kid_out)
		*kid_out = NULL;
	STAT_INC(v, wraps);
	r = vv_b64_encode_secret(VV_B64_URL, plain->data, plain->len, &b64);
	if (r < 0)
		return r;
	r = key_op(v, kek_ref, alg, "wrapkey", (const char *)b64->data,
		   strlen((const char *)b64->data), &ans, &ref, err);
	if (r < 0)
		goto out;
	val = json_str(ans, "value");
	kid = json_str(ans, "kid");
	*wrapped = b64url_normalize(val);
	if (!*wrapped) {
		vv_error_set(err, VV_CAUSE_BAD_RESPONSE, 200,
			     "wrapkey %s: value is not base64url", kek_ref);
		r = -EPROTO;
		goto out;
	}
	if (kid_out && !(*kid_out = strdup(kid ? kid : kek_ref))) {
		free(*wrapped);
		*wrapped = NULL;
		r = -ENOMEM;
	}
out:
	vv_json_put_wiped(ans);
	vv_secret_free(b64);
	kv_ref_free(&ref);
	return r;
}

/* The remote half of vv_key_unwrap() (vault/kek.c), which checked the arguments. */
int vv_kv_key_unwrap(struct vv_vault *v, const char *kek_ref, const char *alg,
		     const char *wrapped, struct vv_secret **plain,
		     struct vv_error *err)
{
	struct json_object *ans = NULL;
	struct kv_ref ref = { 0 };
	char *norm = NULL;
	const char *val;
	int r;

	*plain = NULL;
	STAT_INC(v, unwraps);
	norm = b64url_normalize(wrapped);
	if (!norm || !*norm) {
		vv_error_set(err, VV_CAUSE_CRYPTO, 0, "unwrap: wrapped key is not base64url");
		r = -EINVAL;
		goto out;
	}
	r = key_op(v, kek_ref, alg, "unwrapkey", norm, strlen(norm), &ans, &ref, err);
	if (r < 0)
		goto out;
	val = json_str(ans, "value");
	r = vv_b64_decode_secret(VV_B64_URL, val, strlen(val), plain);
	if (r < 0) {
		vv_error_set(err, VV_CAUSE_BAD_RESPONSE, 200,
			     "unwrapkey %s: value is not base64url", kek_ref);
		r = -EPROTO;
	}
out:
	vv_json_put_wiped(ans);
	free(norm);
	kv_ref_free(&ref);
	return r;
}
