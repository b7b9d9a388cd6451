// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Tokens from the fake IMDS (and the AAD client assertion): string-typed
 * numbers, caching, user-assigned identities, retry rules, no proxy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tests/unit/support/fakes_proc.h"
#include "base/b64.h"
#include "base/http.h"
#include "vault/token.h"

#define VAULT_RES "https://vault.azure.net"

static struct vv_fakes F;

/* A token source over its own HTTP client, as vv_vault builds it. */
struct src {
	struct vv_vault_config cfg;
	struct vv_vault_stats stats;
	struct vv_http *http;
	struct vv_tokens *t;
};

static void src_open(struct src *s, const char *kind, const char *value, int max_retries)
{
	memset(s, 0, sizeof(*s));
	s->cfg.imds_url = F.imds_url;
	s->cfg.identity_kind = kind;
	s->cfg.identity_value = value;
	s->cfg.request_timeout_ms = 2000;
	s->cfg.total_timeout_ms = 20000;
	s->cfg.max_retries = max_retries;
	assert_int_equal(vv_http_new(NULL, &s->http), 0);
	assert_int_equal(vv_tokens_new(&s->cfg, s->http, &s->stats, &s->t), 0);
}

static void src_close(struct src *s)
{
	vv_tokens_free(s->t);
	vv_http_free(s->http);
}

static long ctr(const char *name)
{
	long n = vv_fakes_counter(&F, name);

	assert_true(n >= 0);
	return n;
}

/* Parse n bytes of JSON (not NUL-terminated). */
static struct json_object *parse_n(const unsigned char *raw, size_t n)
{
	struct json_tokener *tk = json_tokener_new();
	struct json_object *o = json_tokener_parse_ex(tk, (const char *)raw, (int)n);

	json_tokener_free(tk);
	return o;
}

/* The claims of a JWT-shaped token (the fake's tokens are JWTs). */
static struct json_object *claims(const struct vv_secret *tok)
{
	const char *s = (const char *)tok->data, *a = strchr(s, '.'), *b;
	unsigned char *raw = NULL;
	struct json_object *o;
	size_t n = 0;

	assert_non_null(a);
	b = strchr(a + 1, '.');
	assert_non_null(b);
	assert_int_equal(vv_b64_decode(VV_B64_URL, a + 1, (size_t)(b - a - 1), &raw, &n), 0);
	o = parse_n(raw, n);
	free(raw);
	assert_non_null(o);
	return o;
}

static const char *cstr(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

VV_FAKES_GROUP(F, VV_FAKES_FAST_RETRY)

static void get_ok(struct src *s, bool force, bool expect_fetch, struct vv_secret **out)
{
	struct vv_secret *tok = NULL;
	struct vv_error err = { 0 };
	bool fetched = !expect_fetch;
	int r = vv_token_get(s->t, VAULT_RES, NULL, force, &tok, &fetched, &err);

	if (r < 0)
		fprintf(stderr, "token: %s: %s\n", vv_cause_str(err.cause), err.message);
	assert_int_equal(r, 0);
	assert_non_null(tok);
	assert_int_equal(fetched, expect_fetch);
	if (out)
		*out = tok;
	else
		vv_secret_free(tok);
}

static void get_fail(struct src *s, enum vv_cause cause, int status)
{
	struct vv_secret *tok = NULL;
	struct vv_error err = { 0 };

	assert_true(vv_token_get(s->t, VAULT_RES, NULL, false, &tok, NULL, &err) < 0);
	assert_null(tok);
	if (err.cause != cause)
		fprintf(stderr, "got %s: %s\n", vv_cause_str(err.cause), err.message);
	assert_int_equal(err.cause, cause);
	assert_int_equal(err.http_status, status);
}

static void test_system_identity_cached(void **state)
{
	struct vv_secret *a = NULL, *b = NULL;
	struct json_object *c;
	struct src s;

	(void)state;
	src_open(&s, NULL, NULL, 3);
	/* expires_on/expires_in arrive as JSON strings; the token is cached */
	get_ok(&s, false, true, &a);
	get_ok(&s, false, false, &b);
	assert_true(vv_secret_equal(a, b));
	for (int i = 0; i < 10; i++)
		get_ok(&s, false, false, NULL);
	assert_int_equal(ctr("imds.token"), 1);
	assert_int_equal(s.stats.token_requests, 1);
	c = claims(a);
	assert_string_equal(cstr(c, "aud"), VAULT_RES);
	assert_string_equal(cstr(c, "appid"), "c1d00000-0000-4000-8000-000000000001");
	json_object_put(c);
	/* force: the vault refused it, fetch a new one */
	vv_secret_free(b);
	get_ok(&s, true, true, &b);
	assert_false(vv_secret_equal(a, b));
	assert_int_equal(ctr("imds.token"), 2);
	vv_secret_free(a);
	vv_secret_free(b);
	src_close(&s);
}

static void test_refresh_margin(void **state)
{
	(void)state;
	/* 5 minutes before expiry ... */
	assert_int_equal(vv_token_refresh_at(1000, 1000 + 86399), 1000 + 86399 - 300);
	assert_int_equal(vv_token_refresh_at(1000, 1000 + 3600), 1000 + 3300);
	assert_int_equal(vv_token_refresh_at(1000, 1000 + 601), 1000 + 301);
	/* ... or at half-life for short tokens, never past expiry */
	assert_int_equal(vv_token_refresh_at(1000, 1000 + 400), 1000 + 200);
	assert_int_equal(vv_token_refresh_at(1000, 1001), 1001);
	assert_int_equal(vv_token_refresh_at(1000, 1000), 1000);
	assert_int_equal(vv_token_refresh_at(1000, 10), 1000);
}

static void test_short_lived_token_refetched(void **state)
{
	struct src s;

	(void)state;
	assert_int_equal(vv_fakes_ctl_ok(&F, "config", "{\"imds_token_lifetime\":2}"), 0);
	src_open(&s, NULL, NULL, 3);
	get_ok(&s, false, true, NULL);
	sleep(2);
	get_ok(&s, false, true, NULL);
	assert_int_equal(ctr("imds.token"), 2);
	src_close(&s);
}

static void test_user_assigned(void **state)
{
	static const char *const kinds[] = { "client_id", "object_id", "msi_res_id" };
	char cid[64], oid[64], rid[300];
	struct json_object *o, *id, *v;
	struct src s;

	(void)state;
	o = vv_fakes_ctl(&F, "imds_identity", "{\"name\":\"uami-a\"}");
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "identity", &id));
	snprintf(cid, sizeof(cid), "%s", cstr(id, "client_id"));
	snprintf(oid, sizeof(oid), "%s", cstr(id, "object_id"));
	snprintf(rid, sizeof(rid), "%s", cstr(id, "msi_res_id"));
	json_object_put(o);
	assert_int_equal(vv_fakes_ctl_ok(&F, "imds_identity", "{\"name\":\"uami-b\"}"), 0);

	for (int i = 0; i < 3; i++) {
		const char *val = i == 0 ? cid : i == 1 ? oid : rid;
		struct vv_secret *tok = NULL;

		src_open(&s, kinds[i], val, 3);
		get_ok(&s, false, true, &tok);
		v = claims(tok);
		assert_string_equal(cstr(v, "appid"), cid);
		assert_string_equal(cstr(v, "oid"), oid);
		json_object_put(v);
		vv_secret_free(tok);
		src_close(&s);
	}
	/* an identity the VM does not have: definite, not retried */
	assert_int_equal(vv_fakes_ctl_ok(&F, "reset_counters", NULL), 0);
	src_open(&s, "client_id", "00000000-dead-4000-8000-000000000000", 3);
	get_fail(&s, VV_CAUSE_NO_IDENTITY, 400);
	assert_int_equal(ctr("imds.token"), 1);
	assert_int_equal(s.stats.retries, 0);
	src_close(&s);
	/* a kind IMDS does not know: refused before any request */
	src_open(&s, "mi_name", "x", 3);
	get_fail(&s, VV_CAUSE_CONFIG, 0);
	assert_int_equal(ctr("imds.token"), 1);
	src_close(&s);
}

static void test_no_identity(void **state)
{
	struct src s;

	(void)state;
	assert_int_equal(vv_fakes_ctl_ok(&F, "imds_system", "{\"enabled\":false}"), 0);
	src_open(&s, NULL, NULL, 3);
	get_fail(&s, VV_CAUSE_NO_IDENTITY, 400);
	assert_int_equal(ctr("imds.token"), 1);
	assert_int_equal(s.stats.retries, 0);
	src_close(&s);
}

static void test_retried_statuses(void **state)
{
	static const int codes[] = { 404, 410, 429, 500, 503 };
	struct src s;

	(void)state;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"server\":\"imds\",\"status\":%d}",
						 codes[i]), 0);
	src_open(&s, NULL, NULL, 5);
	get_ok(&s, false, true, NULL);
	assert_int_equal(s.stats.retries, 5);
	assert_int_equal(ctr("imds.token"), 6);
	src_close(&s);
}

static void test_4xx_not_retried(void **state)
{
	struct src s;

	(void)state;
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"server\":\"imds\",\"status\":400}"), 0);
	src_open(&s, NULL, NULL, 5);
	get_fail(&s, VV_CAUSE_CONFIG, 400);
	assert_int_equal(ctr("imds.token"), 1);
	assert_int_equal(s.stats.retries, 0);
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"server\":\"imds\",\"status\":403}"), 0);
	get_fail(&s, VV_CAUSE_CONFIG, 403);
	assert_int_equal(ctr("imds.token"), 2);
	assert_int_equal(s.stats.retries, 0);
	/* and then it works */
	get_ok(&s, false, true, NULL);
	src_close(&s);
}

static void test_outage_exhausts_retries(void **state)
{
	struct src s;

	(void)state;
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"server\":\"imds\",\"status\":500,\"count\":-1}"), 0);
	src_open(&s, NULL, NULL, 2);
	get_fail(&s, VV_CAUSE_UNAVAILABLE, 500);
	assert_int_equal(ctr("imds.token"), 3);
	assert_int_equal(s.stats.retries, 2);
	src_close(&s);
	assert_int_equal(vv_fakes_ctl_ok(&F, "faults_clear", NULL), 0);
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"server\":\"imds\",\"status\":429,\"count\":-1}"), 0);
	src_open(&s, NULL, NULL, 1);
	get_fail(&s, VV_CAUSE_THROTTLED, 429);
	src_close(&s);
}

static void test_timeout_retried(void **state)
{
	struct src s;

	(void)state;
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"server\":\"imds\",\"delay_ms\":3000}"), 0);
	src_open(&s, NULL, NULL, 3);
	s.cfg.request_timeout_ms = 300;
	get_ok(&s, false, true, NULL);
	assert_int_equal(s.stats.retries, 1);
	src_close(&s);
}

static void test_garbage_answer(void **state)
{
	struct src s;

	(void)state;
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"server\":\"imds\",\"garbage\":true,\"status\":200}"), 0);
	src_open(&s, NULL, NULL, 3);
	get_fail(&s, VV_CAUSE_BAD_RESPONSE, 200);
	/* a well-formed answer without a token is no better */
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"server\":\"imds\",\"status\":200,"
					 "\"body\":{\"expires_in\":\"3600\",\"token_type\":\"Bearer\"}}"), 0);
	get_fail(&s, VV_CAUSE_BAD_RESPONSE, 200);
	src_close(&s);
}

/*
 * Found by fuzzing: expires_in = INT64_MAX made now + expires_in overflow
 * (undefined; UBSan aborts the unit-asan run). The lifetime is capped: the
 * token is used and cached, and the cache still expires.
 */
static void test_huge_expires_in(void **state)
{
	struct src s;

	(void)state;
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"server\":\"imds\",\"status\":200,"
		"\"body\":{\"access_token\":\"huge-lifetime-token\",\"token_type\":\"Bearer\","
		"\"expires_in\":\"9223372036854775807\",\"resource\":\"https://vault.azure.net\"}}"), 0);
	src_open(&s, NULL, NULL, 3);
	get_ok(&s, false, true, NULL);
	get_ok(&s, false, false, NULL);
	src_close(&s);
}

/* IMDS is never reached through a proxy, whatever the environment says. */
static void test_no_proxy(void **state)
{
	static const char *const vars[] = { "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY" };
	char proxy[64];
	struct src s;
	int port = vv_fakes_closed_port();

	(void)state;
	assert_true(port > 0);
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", port);
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
	for (int i = 0; i < 4; i++)
		setenv(vars[i], proxy, 1);
	src_open(&s, NULL, NULL, 0);
	get_ok(&s, false, true, NULL);
	src_close(&s);
	for (int i = 0; i < 4; i++)
		unsetenv(vars[i]);
}

struct par {
	struct src *s;
	int fails;
};

static void *par_get(void *arg)
{
	struct par *p = arg;
	struct vv_secret *tok = NULL;
	struct vv_error err;

	if (vv_token_get(p->s->t, VAULT_RES, NULL, false, &tok, NULL, &err) < 0)
		__atomic_add_fetch(&p->fails, 1, __ATOMIC_RELAXED);
	vv_secret_free(tok);
	return NULL;
}

static void test_concurrent_callers_one_fetch(void **state)
{
	pthread_t th[12];
	struct src s;
	struct par p = { .s = &s };

	(void)state;
	/* slow IMDS: every caller arrives while the first fetch is in flight */
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"server\":\"imds\",\"delay_ms\":300}"), 0);
	src_open(&s, NULL, NULL, 3);
	for (int i = 0; i < 12; i++)
		assert_int_equal(pthread_create(&th[i], NULL, par_get, &p), 0);
	for (int i = 0; i < 12; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(p.fails, 0);
	assert_int_equal(ctr("imds.token"), 1);
	assert_int_equal(s.stats.token_requests, 1);
	src_close(&s);
}

/* ---- AAD certificate client assertion ---- */

static void test_jwt_client_assertion(void **state)
{
	struct vv_secret *jwt = NULL;
	struct vv_error err;
	struct json_object *h, *p, *v;
	unsigned char *raw = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t n = 0;
	const char *s, *d1, *d2;
	char path[300], cmd[1400], *x5t;
	EVP_MD_CTX *ctx;
	X509 *cert;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/bundle.pem", F.dir);
	snprintf(cmd, sizeof(cmd), "cat '%s' '%s' > '%s'", F.aad_cert, F.aad_key, path);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(vv_jwt_client_assertion(path, "app-id", "https://aad/t/oauth2/token",
						 1700000000, &jwt, &err), 0);
	s = (const char *)jwt->data;
	d1 = strchr(s, '.');
	d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	assert_non_null(d2);

	assert_int_equal(vv_b64_decode(VV_B64_URL, s, (size_t)(d1 - s), &raw, &n), 0);
	h = parse_n(raw, n);
	free(raw);
	assert_non_null(h);
	assert_true(json_object_object_get_ex(h, "alg", &v));
	assert_string_equal(json_object_get_string(v), "RS256");
	assert_true(json_object_object_get_ex(h, "x5t", &v));

	f = fopen(F.aad_cert, "r");
	assert_non_null(f);
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(cert);
	assert_int_equal(X509_digest(cert, EVP_sha1(), md, &mdlen), 1);
	x5t = vv_b64_encode(VV_B64_URL, md, mdlen);
	assert_string_equal(json_object_get_string(v), x5t);
	free(x5t);

	assert_int_equal(vv_b64_decode(VV_B64_URL, d1 + 1, (size_t)(d2 - d1 - 1), &raw, &n), 0);
	p = parse_n(raw, n);
	free(raw);
	assert_non_null(p);
	assert_string_equal(cstr(p, "aud"), "https://aad/t/oauth2/token");
	assert_string_equal(cstr(p, "iss"), "app-id");
	assert_string_equal(cstr(p, "sub"), "app-id");
	assert_int_equal(strlen(cstr(p, "jti")), 32);
	assert_true(json_object_object_get_ex(p, "exp", &v));
	assert_int_equal(json_object_get_int64(v), 1700000600);
	assert_true(json_object_object_get_ex(p, "nbf", &v));
	assert_int_equal(json_object_get_int64(v), 1700000000);

	/* the signature verifies with the certificate's public key */
	assert_int_equal(vv_b64_decode(VV_B64_URL, d2 + 1, strlen(d2 + 1), &raw, &n), 0);
	ctx = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, X509_get0_pubkey(cert)), 1);
	assert_int_equal(EVP_DigestVerify(ctx, raw, n, (const unsigned char *)s, (size_t)(d2 - s)), 1);
	/* and not for a changed payload */
	assert_int_not_equal(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, X509_get0_pubkey(cert)), 0);
	assert_int_not_equal(EVP_DigestVerify(ctx, raw, n, (const unsigned char *)s, (size_t)(d2 - s - 1)), 1);
	EVP_MD_CTX_free(ctx);
	free(raw);
	X509_free(cert);
	json_object_put(h);
	json_object_put(p);
	vv_secret_free(jwt);

	/* no private key in the file: a configuration error */
	assert_true(vv_jwt_client_assertion(F.aad_cert, "a", "b", 1, &jwt, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_null(jwt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_system_identity_cached, reset),
		cmocka_unit_test_setup(test_huge_expires_in, reset),
		cmocka_unit_test(test_refresh_margin),
		cmocka_unit_test_setup(test_short_lived_token_refetched, reset),
		cmocka_unit_test_setup(test_user_assigned, reset),
		cmocka_unit_test_setup(test_no_identity, reset),
		cmocka_unit_test_setup(test_retried_statuses, reset),
		cmocka_unit_test_setup(test_4xx_not_retried, reset),
		cmocka_unit_test_setup(test_outage_exhausts_retries, reset),
		cmocka_unit_test_setup(test_timeout_retried, reset),
		cmocka_unit_test_setup(test_garbage_answer, reset),
		cmocka_unit_test_setup(test_no_proxy, reset),
		cmocka_unit_test_setup(test_concurrent_callers_one_fetch, reset),
		cmocka_unit_test_setup(test_jwt_client_assertion, reset),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
