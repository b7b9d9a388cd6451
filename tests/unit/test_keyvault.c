// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Key Vault client against the fakes over real TLS on 127.0.0.1: challenge
 * flow, token reuse, secrets, keys, wrap/unwrap, every fault, failover,
 * connection reuse.
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <openssl/rand.h>

#include "tests/unit/support/fakes_proc.h"
#include "base/retry.h"
#include "vault/vault.h"
#include "agent/config/config.h"

static struct vv_fakes F;

struct opts {
	bool secondary;
	const char *vault_url;
	const char *allowed;		/* one more trusted vault */
	const struct vv_vault_move *move;	/* one [vault] moved mapping */
	int request_timeout_ms;
	int max_retries;
	int max_parallel;
};

static struct vv_vault *mkvault(const struct opts *o)
{
	const char *allowed[] = { o ? o->allowed : NULL, NULL };
	struct vv_vault_config c = {
		.vault_url = o && o->vault_url ? o->vault_url : F.kv_url,
		.allowed_urls = allowed,
		.moves = o ? o->move : NULL,
		.nmoves = o && o->move ? 1 : 0,
		.secondary_url = o && o->secondary ? F.kv2_url : NULL,
		.imds_url = F.imds_url,
		.ca_file = F.ca,
		.request_timeout_ms = o && o->request_timeout_ms ? o->request_timeout_ms : 5000,
		.total_timeout_ms = 30000,
		.max_retries = o && o->max_retries ? o->max_retries : 5,
		.max_parallel = o ? o->max_parallel : 0,
	};
	struct vv_vault *v = NULL;

	assert_int_equal(vv_vault_new(&c, &v), 0);
	assert_non_null(v);
	return v;
}

static void put_secret(const char *vault, const char *name, const char *value,
		       char *id, size_t idlen)
{
	char buf[256];

	assert_non_null(vv_fakes_ctl_str(&F, buf, sizeof(buf), "id", "put_secret",
					 "{\"vault\":\"%s\",\"name\":\"%s\",\"value\":\"%s\"}",
					 vault, name, value));
	if (id)
		snprintf(id, idlen, "%s", buf);
}

static void put_key(const char *name, char *kid, size_t len)
{
	assert_non_null(vv_fakes_ctl_str(&F, kid, len, "kid", "put_key",
					 "{\"vault\":\"all\",\"name\":\"%s\",\"bits\":2048}", name));
}

static void check_value(struct vv_secret_bundle *b, const char *value)
{
	assert_non_null(b);
	assert_non_null(b->value);
	assert_int_equal(b->value->len, strlen(value));
	assert_memory_equal(b->value->data, value, strlen(value));
}

static long ctr(const char *name)
{
	long n = vv_fakes_counter(&F, name);

	assert_true(n >= 0);
	return n;
}

VV_FAKES_GROUP(F, VV_FAKES_FAST_RETRY | VV_FAKES_NO_PROXY)

/* ---- basics ---- */

static void test_get_by_name_version_url(void **state)
{
	struct vv_secret_bundle *b = NULL;
	struct vv_vault_stats st;
	struct vv_error err;
	struct vv_vault *v;
	char id1[512], id2[512], ref[700];
	const char *ver1;

	(void)state;
	put_secret("primary", "disk1", "first-value", id1, sizeof(id1));
	put_secret("primary", "disk1", "second-value", id2, sizeof(id2));
	v = mkvault(NULL);

	/* bare name: latest version */
	assert_int_equal(vv_secret_get(v, "disk1", &b, &err), 0);
	check_value(b, "second-value");
	assert_string_equal(b->id, id2);
	assert_true(b->enabled);
	assert_true(b->created > 0);
	vv_secret_bundle_free(b);

	/* name/version: the older one */
	ver1 = strrchr(id1, '/') + 1;
	snprintf(ref, sizeof(ref), "disk1/%s", ver1);
	assert_int_equal(vv_secret_get(v, ref, &b, &err), 0);
	check_value(b, "first-value");
	assert_string_equal(b->id, id1);
	vv_secret_bundle_free(b);

	/* full URL with version */
	assert_int_equal(vv_secret_get(v, id1, &b, &err), 0);
	check_value(b, "first-value");
	vv_secret_bundle_free(b);

	/* full URL without version, with a trailing query */
	snprintf(ref, sizeof(ref), "%s/secrets/disk1?api-version=7.4", F.kv_url);
	assert_int_equal(vv_secret_get(v, ref, &b, &err), 0);
	check_value(b, "second-value");
	vv_secret_bundle_free(b);

	vv_vault_get_stats(v, &st);
	assert_int_equal(st.secret_gets, 4);
	assert_int_equal(st.challenges, 1);
	assert_int_equal(st.token_requests, 1);
	assert_int_equal(st.retries, 0);
	/* one kept-alive connection to the vault, one to IMDS */
	assert_int_equal(st.connections, 2);
	assert_int_equal(ctr("primary.connections"), 1);
	assert_int_equal(ctr("imds.token"), 1);
	/* 4 gets + the first unauthenticated attempt */
	assert_int_equal(ctr("primary.get_secret"), 5);
	vv_vault_free(v);
}

static void test_challenge_authorization_uri(void **state)
{
	struct vv_secret_bundle *b = NULL;
	struct vv_vault_stats st;
	struct vv_error err;
	struct vv_vault *v;

	(void)state;
	assert_int_equal(vv_fakes_ctl_ok(&F, "config", "{\"challenge_style\":\"authorization_uri\"}"), 0);
	put_secret("primary", "uri-style", "v1", NULL, 0);
	v = mkvault(NULL);
	assert_int_equal(vv_secret_get(v, "uri-style", &b, &err), 0);
	check_value(b, "v1");
	vv_secret_bundle_free(b);
	vv_vault_get_stats(v, &st);
	assert_int_equal(st.challenges, 1);
	assert_int_equal(st.token_requests, 1);
	vv_vault_free(v);
}

static void test_one_token_many_requests(void **state)
{
	struct vv_secret_bundle *b = NULL;
	struct vv_vault_stats st;
	struct vv_error err;
	struct vv_vault *v;
	char name[32];

	(void)state;
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "shared-%d", i);
		put_secret("primary", name, name, NULL, 0);
	}
	v = mkvault(NULL);
	/* 20 "volumes" over 5 distinct secrets, each fetched when needed */
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "shared-%d", i % 5);
		assert_int_equal(vv_secret_get(v, name, &b, &err), 0);
		check_value(b, name);
		vv_secret_bundle_free(b);
	}
	vv_vault_get_stats(v, &st);
	assert_int_equal(st.secret_gets, 20);
	assert_int_equal(st.token_requests, 1);
	assert_int_equal(st.challenges, 1);
	assert_int_equal(st.connections, 2);
	assert_int_equal(ctr("imds.token"), 1);
	assert_int_equal(ctr("tokens_issued"), 1);
	assert_int_equal(ctr("primary.connections"), 1);
	assert_int_equal(ctr("primary.requests"), 21);
	vv_vault_free(v);
}

struct par {
	struct vv_vault *v;
	int fails;
};

static void *par_get(void *arg)
{
	struct par *p = arg;
	struct vv_secret_bundle *b;
	struct vv_error err;

	for (int i = 0; i < 5; i++) {
		b = NULL;
		if (vv_secret_get(p->v, "par", &b, &err) < 0)
			__atomic_add_fetch(&p->fails, 1, __ATOMIC_RELAXED);
		vv_secret_bundle_free(b);
	}
	return NULL;
}

static void run_parallel(const struct opts *o, struct vv_vault_stats *st)
{
	struct par p = { 0 };
	pthread_t th[8];

	p.v = mkvault(o);
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&th[i], NULL, par_get, &p), 0);
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(p.fails, 0);
	vv_vault_get_stats(p.v, st);
	vv_vault_free(p.v);
}

/*
 * Volumes open in parallel: one probe (challenge), one token; by default
 * one connection, with max_parallel no more connections than that.
 */
static void test_parallel_one_token(void **state)
{
	struct opts o = { .max_parallel = 4 };
	struct vv_vault_stats st;

	(void)state;
	put_secret("primary", "par", "pv", NULL, 0);
	run_parallel(NULL, &st);
	assert_int_equal(st.secret_gets, 40);
	assert_int_equal(st.token_requests, 1);
	assert_int_equal(st.challenges, 1);
	assert_int_equal(ctr("imds.token"), 1);
	assert_int_equal(ctr("primary.connections"), 1);
	assert_int_equal(ctr("primary.requests"), 41);

	assert_int_equal(vv_fakes_ctl_ok(&F, "reset_counters", NULL), 0);
	/* a slow vault makes the callers overlap */
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"delay_ms\":50,\"count\":20}"), 0);
	run_parallel(&o, &st);
	assert_int_equal(st.token_requests, 1);
	assert_int_equal(st.challenges, 1);
	assert_int_equal(ctr("primary.requests"), 41);
	assert_true(ctr("primary.connections") <= 4);
	assert_true(ctr("primary.connections") >= 2);
}

/* A revoked/expired token is refused: one new token, then success. */
static void test_token_refreshed_after_401(void **state)
{
	struct vv_secret_bundle *b = NULL;
	struct vv_vault_stats st;
	struct vv_error err;
	struct vv_vault *v;

	(void)state;
	put_secret("primary", "s", "x", NULL, 0);
	v = mkvault(NULL);
	assert_int_equal(vv_secret_get(v, "s", &b, &err), 0);
	vv_secret_bundle_free(b);
	assert_int_equal(vv_fakes_ctl_ok(&F, "expire_tokens", NULL), 0);
	assert_int_equal(vv_secret_get(v, "s", &b, &err), 0);
	check_value(b, "x");
	vv_secret_bundle_free(b);
	vv_vault_get_stats(v, &st);
	assert_int_equal(st.token_requests, 2);
	assert_int_equal(st.challenges, 2);
	vv_vault_free(v);
}

/* 401 even with a fresh token: UNAUTHORIZED, definite, no failover. */
static void test_unauthorized_fresh_token(void **state)
{
	struct vv_secret_bundle *b = NULL;
	struct vv_vault_stats st;
	struct vv_error err;
	struct opts o = { .secondary = true };
	struct vv_vault *v;

	(void)state;
	put_secret("all", "s", "x", NULL, 0);
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"server\":\"primary\",\"status\":401,"
					 "\"when\":\"authed\",\"count\":-1}"), 0);
	v = mkvault(&o);
	assert_true(vv_secret_get(v, "s", &b, &err) < 0);
	assert_null(b);
	assert_int_equal(err.cause, VV_CAUSE_UNAUTHORIZED);
	assert_int_equal(err.http_status, 401);
	assert_true(vv_cause_is_definite(err.cause));
	vv_vault_get_stats(v, &st);
	assert_int_equal(st.token_requests, 1);
	assert_int_equal(st.failovers, 0);
	assert_int_equal(ctr("secondary.requests"), 0);
	vv_vault_free(v);
}

/* A challenge sending us for a token for another service is refused. */
static void test_challenge_foreign_resource(void **state)
{
	struct vv_secret_bundle *b = NULL;
	struct vv_vault_stats st;
	struct vv_error err;
	struct vv_vault *v;

	(void)state;
	put_secret("primary", "s", "x", NULL, 0);
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"server\":\"primary\",\"status\":401,"
		"\"when\":\"unauthed\",\"body\":\"\",\"headers\":{\"WWW-Authenticate\":"
		"\"Bearer authorization=\\\"https://login.windows.net/t\\\", "
		"resource=\\\"https://management.azure.com\\\"\"}}"), 0);
	v = mkvault(NULL);
	assert_true(vv_secret_get(v, "s", &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_UNTRUSTED);
	assert_non_null(strstr(err.message, "management.azure.com"));
	vv_vault_get_stats(v, &st);
	assert_int_equal(st.token_requests, 0);
	assert_int_equal(ctr("imds.token"), 0);
	vv_vault_free(v);
}

static void test_attributes_and_tags(void **state)
{
	struct vv_secret_bundle *b = NULL;
	struct vv_error err;
	struct vv_vault *v;
	int64_t now = time(NULL);

	(void)state;
	assert_int_equal(vv_fakes_ctl_ok(&F, "put_secret",
		"{\"name\":\"tagged\",\"value\":\"dGVzdA==\",\"content_type\":\"Wrapped BEK\","
		"\"tags\":{\"DiskEncryptionKeyFileName\":\"LinuxPassPhraseFileName\","
		"\"DiskEncryptionKeyEncryptionAlgorithm\":\"RSA-OAEP\"},"
		"\"nbf\":%lld,\"exp\":%lld}", (long long)(now - 100), (long long)(now - 10)), 0);
	v = mkvault(NULL);
	/* expired secrets are still read; exp is reported for the caller to judge */
	assert_int_equal(vv_secret_get(v, "tagged", &b, &err), 0);
	check_value(b, "dGVzdA==");
	assert_string_equal(b->content_type, "Wrapped BEK");
	assert_int_equal(b->ntags, 2);
	assert_string_equal(vv_bundle_tag(b, "DiskEncryptionKeyFileName"), "LinuxPassPhraseFileName");
	assert_string_equal(vv_bundle_tag(b, "diskencryptionkeyencryptionalgorithm"), "RSA-OAEP");
	assert_int_equal(b->nbf, now - 100);
	assert_int_equal(b->exp, now - 10);
	vv_secret_bundle_free(b);
	vv_vault_free(v);
}

/*
 * Found by fuzzing: "exp": 1e300 was cast from double to int64 (undefined;
 * UBSan aborts the unit-asan run). A time out of range is no time at all.
 */
static void test_exp_out_of_range(void **state)
{
	struct vv_secret_bundle *b = NULL;
	struct vv_error err;
	struct vv_vault *v;
	char id[256];

	(void)state;
	put_secret("primary", "far", "x", id, sizeof(id));
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"server\":\"primary\",\"status\":200,"
		"\"when\":\"authed\",\"body\":{\"value\":\"x\",\"id\":\"%s\","
		"\"attributes\":{\"enabled\":true,\"exp\":1e300,\"nbf\":-1e300}}}", id), 0);
	v = mkvault(NULL);
	assert_int_equal(vv_secret_get(v, "far", &b, &err), 0);
	assert_int_equal(b->exp, 0);
	assert_int_equal(b->nbf, 0);
	vv_secret_bundle_free(b);
	vv_vault_free(v);
}

static void test_put_then_get(void **state)
{
	static const char value[] = "quote\" back\\slash\nnewline \x01 ctl";
	struct vv_tag tags[] = {
		{ "MachineName", "vm-1" },
		{ "DiskEncryptionKeyFileName", "LinuxPassPhraseFileName_1_0" },
	};
	struct vv_secret_bundle *b = NULL, *g = NULL;
	struct vv_secret *s = vv_secret_from(value, sizeof(value) - 1);
	struct vv_vault_stats st;
	struct vv_error err;
	struct vv_vault *v;

	(void)state;
	v = mkvault(NULL);
	assert_int_equal(vv_secret_put(v, "newdisk", s, "BEK", tags, 2, &b, &err), 0);
	assert_non_null(b);
	assert_non_null(strstr(b->id, "/secrets/newdisk/"));
	assert_true(strlen(strrchr(b->id, '/') + 1) == 32);
	assert_string_equal(b->content_type, "BEK");
	assert_true(vv_secret_equal(b->value, s));
	assert_int_equal(vv_secret_get(v, b->id, &g, &err), 0);
	assert_true(vv_secret_equal(g->value, s));
	assert_string_equal(vv_bundle_tag(g, "MachineName"), "vm-1");
	assert_string_equal(vv_bundle_tag(g, "DiskEncryptionKeyFileName"), "LinuxPassPhraseFileName_1_0");
	vv_vault_get_stats(v, &st);
	assert_int_equal(st.secret_puts, 1);
	assert_int_equal(ctr("primary.set_secret.ok"), 1);
	vv_secret_bundle_free(b);
	vv_secret_bundle_free(g);
	/* a version in a put reference is a mistake */
	assert_true(vv_secret_put(v, "newdisk/0123456789abcdef0123456789abcdef", s, NULL,
				  NULL, 0, NULL, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	vv_secret_free(s);
	vv_vault_free(v);
}

static void test_key_get(void **state)
{
	struct vv_key_info *k = NULL;
	struct vv_error err;
	struct vv_vault *v;
	char kid[256];

	(void)state;
	put_key("kek1", kid, sizeof(kid));
	v = mkvault(NULL);
	assert_int_equal(vv_key_get(v, kid, &k, &err), 0);
	assert_string_equal(k->kid, kid);
	assert_string_equal(k->kty, "RSA");
	assert_int_equal(k->bits, 2048);
	assert_true(k->enabled);
	vv_key_info_free(k);
	assert_int_equal(vv_key_get(v, "kek1", &k, &err), 0);
	assert_string_equal(k->kid, kid);
	vv_key_info_free(k);
	assert_true(vv_key_get(v, "nokey", &k, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_NOT_FOUND);
	assert_string_equal(err.code, "KeyNotFound");
	vv_vault_free(v);
}

/* attributes.recoveryLevel/recoverableDays reach secret bundles and key infos. */
static void test_recovery_level(void **state)
{
	struct vv_secret_bundle *b = NULL;
	struct vv_key_info *k = NULL;
	struct vv_error err;
	struct vv_vault *v;
	char kid[256], id[256];

	(void)state;
	put_key("kekrl", kid, sizeof(kid));
	put_secret("primary", "secrl", "dmFs", id, sizeof(id));
	v = mkvault(NULL);
	assert_int_equal(vv_secret_get(v, id, &b, &err), 0);
	assert_string_equal(b->recovery_level, "Recoverable+Purgeable");
	assert_int_equal(b->recoverable_days, 90);
	assert_false(vv_recovery_level_protected(b->recovery_level));
	vv_secret_bundle_free(b);
	assert_int_equal(vv_fakes_ctl_ok(&F, "vault_settings",
					 "{\"recovery_level\":\"Recoverable\",\"recoverable_days\":30}"), 0);
	assert_int_equal(vv_secret_get(v, id, &b, &err), 0);
	assert_string_equal(b->recovery_level, "Recoverable");
	assert_int_equal(b->recoverable_days, 30);
	assert_true(vv_recovery_level_protected(b->recovery_level));
	vv_secret_bundle_free(b);
	assert_int_equal(vv_key_get(v, kid, &k, &err), 0);
	assert_string_equal(k->recovery_level, "Recoverable");
	assert_int_equal(k->recoverable_days, 30);
	vv_key_info_free(k);
	assert_int_equal(vv_fakes_ctl_ok(&F, "vault_settings",
					 "{\"recovery_level\":\"Purgeable\"}"), 0);
	assert_int_equal(vv_key_get(v, kid, &k, &err), 0);
	assert_string_equal(k->recovery_level, "Purgeable");
	assert_int_equal(k->recoverable_days, 0);
	vv_key_info_free(k);
	assert_int_equal(vv_fakes_ctl_ok(&F, "vault_settings",
					 "{\"recovery_level\":\"Recoverable+Purgeable\"}"), 0);
	vv_vault_free(v);
}

static void test_recovery_level_helpers(void **state)
{
	static const char *const yes[] = { "Recoverable", "Recoverable+ProtectedSubscription",
		"CustomizedRecoverable", "CustomizedRecoverable+ProtectedSubscription" };
	static const char *const no[] = { "Purgeable", "Recoverable+Purgeable",
		"CustomizedRecoverable+Purgeable", "", "recoverable", "Recoverable " };
	char buf[512];

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		assert_true(vv_recovery_level_protected(yes[i]));
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		assert_false(vv_recovery_level_protected(no[i]));
	assert_false(vv_recovery_level_protected(NULL));
	vv_purge_advice("the KEK", "https://myvault.vault.azure.net/keys/k/1", "Recoverable+Purgeable",
			buf, sizeof(buf));
	assert_non_null(strstr(buf, "the KEK https://myvault.vault.azure.net/keys/k/1 in vault "
			       "myvault has no purge protection (recoveryLevel Recoverable+Purgeable)"));
	assert_non_null(strstr(buf, "az keyvault update --name myvault "
			       "--enable-purge-protection true"));
	vv_purge_advice("the secret", "https://127.0.0.1:8443/secrets/s/1", NULL, buf, sizeof(buf));
	assert_non_null(strstr(buf, "in vault 127.0.0.1 has no purge protection "
			       "(recoveryLevel not stated)"));
}

static bool is_b64url_unpadded(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return false;
	return true;
}

static void test_wrap_unwrap_all_algs(void **state)
{
	static const char *const algs[] = { "RSA-OAEP", "RSA-OAEP-256", "RSA1_5" };
	struct vv_vault_stats st;
	struct vv_error err;
	struct vv_vault *v;
	unsigned char raw[48];
	char kid[256];

	(void)state;
	put_key("kek", kid, sizeof(kid));
	v = mkvault(NULL);
	assert_int_equal(RAND_bytes(raw, sizeof(raw)), 1);
	for (int i = 0; i < 3; i++) {
		struct vv_secret *plain = vv_secret_from(raw, sizeof(raw)), *back = NULL;
		char *wrapped = NULL, *kid_out = NULL;

		assert_int_equal(vv_key_wrap(v, kid, algs[i], plain, &wrapped, &kid_out, &err), 0);
		assert_true(is_b64url_unpadded(wrapped));
		assert_int_equal(strlen(wrapped), 342);	/* 256 bytes, unpadded */
		assert_string_equal(kid_out, kid);
		assert_int_equal(vv_key_unwrap(v, kid, algs[i], wrapped, &back, &err), 0);
		assert_true(vv_secret_equal(plain, back));
		vv_secret_free(back);
		back = NULL;
		/* the wrong algorithm does not give the key back */
		if (i != 2) {
			int r = vv_key_unwrap(v, kid, algs[(i + 1) % 2], wrapped, &back, &err);

			assert_true(r < 0);
			assert_int_equal(err.cause, VV_CAUSE_CRYPTO);
			assert_null(back);
		}
		free(wrapped);
		free(kid_out);
		vv_secret_free(plain);
	}
	vv_vault_get_stats(v, &st);
	assert_int_equal(st.wraps, 3);
	assert_int_equal(st.unwraps, 5);
	assert_int_equal(st.token_requests, 1);
	vv_vault_free(v);
}

/* Wrapped values from other tools: padded, or in the standard alphabet. */
static void test_unwrap_accepts_padded(void **state)
{
	struct vv_secret *back = NULL;
	struct vv_error err;
	struct vv_vault *v;
	char kid[256], w[600], pad[700];
	size_t n;

	(void)state;
	put_key("kekp", kid, sizeof(kid));
	assert_non_null(vv_fakes_ctl_str(&F, w, sizeof(w), "value", "wrap",
		"{\"name\":\"kekp\",\"alg\":\"RSA-OAEP-256\",\"plaintext\":\"my passphrase\"}"));
	n = strlen(w);
	snprintf(pad, sizeof(pad), "%s%s", w, n % 4 == 2 ? "==" : n % 4 == 3 ? "=" : "");
	v = mkvault(NULL);
	assert_int_equal(vv_key_unwrap(v, kid, "RSA-OAEP-256", w, &back, &err), 0);
	assert_int_equal(back->len, 13);
	assert_memory_equal(back->data, "my passphrase", 13);
	vv_secret_free(back);
	assert_int_equal(vv_key_unwrap(v, kid, "RSA-OAEP-256", pad, &back, &err), 0);
	assert_memory_equal(back->data, "my passphrase", 13);
	vv_secret_free(back);
	for (char *p = pad; *p; p++)
		*p = *p == '-' ? '+' : *p == '_' ? '/' : *p;
	assert_int_equal(vv_key_unwrap(v, kid, "RSA-OAEP-256", pad, &back, &err), 0);
	assert_memory_equal(back->data, "my passphrase", 13);
	vv_secret_free(back);
	back = NULL;
	assert_true(vv_key_unwrap(v, kid, "RSA-OAEP-256", "not base64!", &back, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CRYPTO);
	assert_true(vv_key_unwrap(v, kid, "AES-KW", w, &back, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	vv_vault_free(v);
}

static void test_key_revoked_and_expired(void **state)
{
	struct vv_secret *plain = vv_secret_from("k", 1), *back = NULL;
	struct vv_error err;
	struct vv_vault *v;
	char kid[256], *w = NULL;
	struct opts o = { .secondary = true };

	(void)state;
	put_key("kr", kid, sizeof(kid));
	v = mkvault(&o);
	assert_int_equal(vv_key_wrap(v, kid, "RSA-OAEP", plain, &w, NULL, &err), 0);
	assert_int_equal(vv_fakes_ctl_ok(&F, "revoke_key", "{\"vault\":\"primary\",\"name\":\"kr\"}"), 0);
	assert_true(vv_key_unwrap(v, kid, "RSA-OAEP", w, &back, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_DISABLED);
	assert_int_equal(err.http_status, 403);
	assert_string_equal(err.inner, "KeyDisabled");
	/* the secondary holds the same key, enabled: revocation is not routed around */
	assert_int_equal(ctr("secondary.requests"), 0);
	assert_int_equal(vv_fakes_ctl_ok(&F, "unrevoke_key", "{\"vault\":\"primary\",\"name\":\"kr\"}"), 0);
	assert_int_equal(vv_fakes_ctl_ok(&F, "set_attributes", "{\"kind\":\"key\",\"name\":\"kr\","
					 "\"exp\":%lld}", (long long)time(NULL) - 5), 0);
	free(w);
	w = NULL;
	assert_true(vv_key_wrap(v, kid, "RSA-OAEP", plain, &w, NULL, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_EXPIRED);
	assert_null(w);
	vv_secret_free(plain);
	vv_vault_free(v);
}

/* ---- faults ---- */

static void expect_fail(struct vv_vault *v, const char *ref, enum vv_cause cause,
			int status, const char *code, const char *inner)
{
	struct vv_secret_bundle *b = NULL;
	struct vv_error err;

	assert_true(vv_secret_get(v, ref, &b, &err) < 0);
	assert_null(b);
	if (err.cause != cause)
		fprintf(stderr, "got %s: %s\n", vv_cause_str(err.cause), err.message);
	assert_int_equal(err.cause, cause);
	assert_int_equal(err.http_status, status);
	if (code)
		assert_string_equal(err.code, code);
	if (inner)
		assert_string_equal(err.inner, inner);
}

/* No failover happened and the secondary vault was never asked. */
static void expect_primary_only(struct vv_vault *v)
{
	struct vv_vault_stats st;

	vv_vault_get_stats(v, &st);
	assert_int_equal(st.failovers, 0);
	assert_int_equal(ctr("secondary.requests"), 0);
}

static void test_not_found(void **state)
{
	struct opts o = { .secondary = true };
	struct vv_vault *v;
	struct vv_vault_stats st;

	(void)state;
	/* present only in the secondary: a 404 from the primary is final */
	put_secret("secondary", "only2", "x", NULL, 0);
	v = mkvault(&o);
	expect_fail(v, "only2", VV_CAUSE_NOT_FOUND, 404, "SecretNotFound", NULL);
	assert_true(vv_cause_is_definite(VV_CAUSE_NOT_FOUND));
	vv_vault_get_stats(v, &st);
	assert_int_equal(st.failovers, 0);
	assert_int_equal(st.retries, 0);
	assert_int_equal(ctr("secondary.requests"), 0);
	vv_vault_free(v);
}

/*
 * The secret is in both vaults, but op makes the primary refuse it: a
 * definite 403 that must not fail over.
 */
static void check_primary_refusal(const char *name, const char *op, const char *arg,
				  enum vv_cause cause, const char *inner)
{
	struct opts o = { .secondary = true };
	struct vv_vault *v;

	put_secret("all", name, "x", NULL, 0);
	assert_int_equal(vv_fakes_ctl_ok(&F, op, "%s", arg), 0);
	v = mkvault(&o);
	expect_fail(v, name, cause, 403, "Forbidden", inner);
	expect_primary_only(v);
	vv_vault_free(v);
}

static void test_disabled(void **state)
{
	(void)state;
	check_primary_refusal("dis", "disable", "{\"vault\":\"primary\",\"name\":\"dis\"}",
			      VV_CAUSE_DISABLED, "SecretDisabled");
}

static void test_rbac_forbidden(void **state)
{
	struct vv_vault *v;

	(void)state;
	check_primary_refusal("locked", "rbac_deny", "{\"vault\":\"primary\"}", VV_CAUSE_FORBIDDEN,
			      "ForbiddenByRbac");
	/* access-policy style denial */
	assert_int_equal(vv_fakes_ctl_ok(&F, "rbac_clear", "{\"vault\":\"primary\"}"), 0);
	assert_int_equal(vv_fakes_ctl_ok(&F, "rbac_deny", "{\"vault\":\"primary\",\"style\":\"policy\"}"), 0);
	v = mkvault(NULL);
	expect_fail(v, "locked", VV_CAUSE_FORBIDDEN, 403, "Forbidden", "AccessDenied");
	vv_vault_free(v);
}

/* The remedy of a 403 names the grant the refused request needed. */
static void deny(const char *path, const char *method, const char *style)
{
	assert_int_equal(vv_fakes_ctl_ok(&F, "rbac_clear", NULL), 0);
	assert_int_equal(vv_fakes_ctl_ok(&F, "rbac_deny", "{\"vault\":\"primary\",\"path\":\"%s\","
					 "\"method\":\"%s\",\"style\":\"%s\"}", path, method, style), 0);
}

static void expect_grant(const struct vv_error *err, const char *grant)
{
	if (err->cause != VV_CAUSE_FORBIDDEN || !strstr(err->remedy, grant))
		fprintf(stderr, "%s: %s\nremedy: %s\n", vv_cause_str(err->cause), err->message,
			err->remedy);
	assert_int_equal(err->cause, VV_CAUSE_FORBIDDEN);
	assert_non_null(strstr(err->remedy, grant));
}

static void test_rbac_remedy_names_grant(void **state)
{
	struct vv_secret *plain = vv_secret_from("k", 1), *back = NULL;
	struct vv_secret_bundle *b = NULL;
	struct vv_key_info *ki = NULL;
	struct vv_error err;
	struct vv_vault *v;
	char kid[256], *w = NULL;

	(void)state;
	put_secret("primary", "g", "x", NULL, 0);
	put_key("kg", kid, sizeof(kid));
	v = mkvault(NULL);
	assert_int_equal(vv_key_wrap(v, kid, "RSA-OAEP", plain, &w, NULL, &err), 0);
	deny("/secrets/*", "GET", "rbac");
	assert_true(vv_secret_get(v, "g", &b, &err) < 0);
	expect_grant(&err, "grant secrets get");
	deny("/secrets/*", "PUT", "policy");
	assert_true(vv_secret_put(v, "g2", plain, NULL, NULL, 0, NULL, &err) < 0);
	expect_grant(&err, "grant secrets set");
	deny("/keys/*", "GET", "rbac");
	assert_true(vv_key_get(v, kid, &ki, &err) < 0);
	expect_grant(&err, "grant keys get");
	deny("/keys/*/wrapkey", "POST", "rbac");
	free(w);
	w = NULL;
	assert_true(vv_key_wrap(v, kid, "RSA-OAEP", plain, &w, NULL, &err) < 0);
	expect_grant(&err, "grant keys wrapKey");
	assert_int_equal(vv_fakes_ctl_ok(&F, "rbac_clear", NULL), 0);
	assert_int_equal(vv_key_wrap(v, kid, "RSA-OAEP", plain, &w, NULL, &err), 0);
	deny("/keys/*/unwrapkey", "POST", "policy");
	assert_true(vv_key_unwrap(v, kid, "RSA-OAEP", w, &back, &err) < 0);
	expect_grant(&err, "grant keys unwrapKey");
	assert_null(back);
	assert_int_equal(vv_fakes_ctl_ok(&F, "rbac_clear", NULL), 0);
	vv_key_info_free(ki);
	vv_secret_free(plain);
	free(w);
	vv_vault_free(v);
}

/*
 * The token expires at the unwrap, after the secret was read with it: a
 * new token is fetched and the POST sent again, body and all.
 */
static void test_token_expired_at_unwrap(void **state)
{
	struct vv_secret *plain = vv_secret_from("kk", 2), *back = NULL;
	struct vv_secret_bundle *b = NULL;
	struct vv_vault_stats st;
	struct vv_error err;
	struct vv_vault *v;
	char kid[256], *w = NULL;

	(void)state;
	put_secret("primary", "t", "x", NULL, 0);
	put_key("kt", kid, sizeof(kid));
	v = mkvault(NULL);
	assert_int_equal(vv_key_wrap(v, kid, "RSA-OAEP", plain, &w, NULL, &err), 0);
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"path\":\"/keys/*/unwrapkey\","
					 "\"when\":\"authed\",\"count\":1,\"expire_tokens\":true}"), 0);
	assert_int_equal(vv_secret_get(v, "t", &b, &err), 0);
	vv_secret_bundle_free(b);
	assert_int_equal(vv_key_unwrap(v, kid, "RSA-OAEP", w, &back, &err), 0);
	assert_int_equal(back->len, 2);
	assert_memory_equal(back->data, "kk", 2);
	vv_vault_get_stats(v, &st);
	assert_int_equal(st.token_requests, 2);
	assert_int_equal(ctr("primary.faults"), 1);
	assert_int_equal(ctr("primary.challenges.bad_token"), 1);
	assert_int_equal(ctr("primary.unwrapkey.ok"), 1);
	vv_secret_free(back);
	vv_secret_free(plain);
	free(w);
	vv_vault_free(v);
}

static void get_ok(struct vv_vault *v, const char *ref, const char *value)
{
	struct vv_secret_bundle *b = NULL;
	struct vv_error err;
	int r = vv_secret_get(v, ref, &b, &err);

	if (r < 0)
		fprintf(stderr, "get %s: %s: %s\n", ref, vv_cause_str(err.cause), err.message);
	assert_int_equal(r, 0);
	check_value(b, value);
	vv_secret_bundle_free(b);
}

/*
 * A reference naming a vault no trusted configuration names (as a hostile
 * disk's token would) is refused before any byte is sent: no request, no
 * token, and the message names the host and the line to add.
 */
static void test_untrusted_vault_refused(void **state)
{
	struct vv_secret_bundle *b = NULL;
	struct vv_vault_stats st;
	struct vv_error err;
	struct vv_vault *v;
	char ref[256];
	long before = ctr("primary.requests");

	(void)state;
	put_secret("primary", "s", "x", NULL, 0);
	before = ctr("primary.requests");
	vv_fakes_pin("rogue.example.net:1:127.0.0.1");
	snprintf(ref, sizeof(ref), "https://rogue.example.net:%s/secrets/s",
		 strrchr(F.kv_url, ':') + 1);
	v = mkvault(NULL);
	assert_int_equal(vv_secret_get(v, ref, &b, &err), -EPERM);
	assert_int_equal(err.cause, VV_CAUSE_UNTRUSTED);
	assert_true(vv_cause_is_definite(err.cause));
	assert_non_null(strstr(err.message, "rogue.example.net"));
	assert_non_null(strstr(err.message, "allowed = https://rogue.example.net:"));
	/* user info, IP literals and other spellings are not vault references */
	assert_true(vv_secret_get(v, "https://myvault.vault.azure.net@rogue.example.net/secrets/s",
				  &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_true(vv_secret_get(v, "https://127.0.0.1/secrets/s", &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	vv_vault_get_stats(v, &st);
	assert_int_equal(st.token_requests, 0);
	assert_int_equal(ctr("primary.requests"), before);
	assert_int_equal(ctr("imds.token"), 0);
	vv_vault_free(v);
}

/*
 * A trusted host whose challenge names an audience it is not part of
 * (rogue.example.net asking for https://vault.azure.net) gets no token: the
 * SDKs' verifyChallengeResource.
 */
static void test_challenge_other_domain(void **state)
{
	struct vv_secret_bundle *b = NULL;
	struct vv_vault_stats st;
	struct vv_error err;
	struct vv_vault *v;
	char url[128], pin[128], ref[192];
	struct opts o = { .vault_url = url };

	(void)state;
	put_secret("primary", "s", "x", NULL, 0);
	snprintf(url, sizeof(url), "https://rogue.example.net:%s", strrchr(F.kv_url, ':') + 1);
	snprintf(pin, sizeof(pin), "rogue.example.net:%s:127.0.0.1", strrchr(F.kv_url, ':') + 1);
	vv_fakes_pin(pin);
	v = mkvault(&o);
	snprintf(ref, sizeof(ref), "%s/secrets/s", url);
	assert_true(vv_secret_get(v, ref, &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_UNTRUSTED);
	assert_non_null(strstr(err.message, "vault.azure.net"));
	vv_vault_get_stats(v, &st);
	assert_int_equal(st.challenges, 1);
	assert_int_equal(st.token_requests, 0);
	assert_int_equal(ctr("imds.token"), 0);
	assert_int_equal(ctr("primary.requests"), ctr("primary.unauthed"));
	vv_vault_free(v);
}

/* The unauthenticated probe of a PUT carries no body (Content-Length: 0). */
static void test_probe_has_no_body(void **state)
{
	struct vv_secret *val = vv_secret_from("probe-secret-value", 18);
	struct vv_secret_bundle *b = NULL;
	struct vv_error err;
	struct vv_vault *v;

	(void)state;
	v = mkvault(NULL);
	assert_int_equal(vv_secret_put(v, "probe", val, NULL, NULL, 0, &b, &err), 0);
	assert_true(ctr("primary.unauthed") >= 1);
	assert_int_equal(ctr("primary.unauthed_with_body"), 0);
	assert_int_equal(ctr("primary.set_secret.ok"), 1);
	vv_secret_bundle_free(b);
	vv_vault_free(v);
	vv_secret_free(val);
}

/*
 * Tokens are cached per resource and tenant: a vault whose challenge names
 * another tenant does not get the token obtained for the first one.
 */
static void test_token_cache_per_tenant(void **state)
{
	struct vv_vault_stats st;
	struct vv_vault *v;
	char ref[192];
	struct opts o = { .secondary = true };

	(void)state;
	put_secret("all", "t", "x", NULL, 0);
	v = mkvault(&o);
	get_ok(v, "t", "x");
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"server\":\"secondary\",\"status\":401,"
		"\"when\":\"unauthed\",\"body\":\"\",\"headers\":{\"WWW-Authenticate\":"
		"\"Bearer authorization=\\\"https://login.windows.net/other-tenant\\\", "
		"resource=\\\"https://vault.azure.net\\\"\"}}"), 0);
	snprintf(ref, sizeof(ref), "%s/secrets/t", F.kv2_url);
	get_ok(v, ref, "x");
	vv_vault_get_stats(v, &st);
	assert_int_equal(st.token_requests, 2);
	/* the same tenant again: cached */
	get_ok(v, "t", "x");
	vv_vault_get_stats(v, &st);
	assert_int_equal(st.token_requests, 2);
	vv_vault_free(v);
}

static void test_throttled_then_ok(void **state)
{
	struct vv_vault_stats st;
	struct vv_vault *v;
	long long t0, t;

	(void)state;
	put_secret("primary", "t", "tv", NULL, 0);
	v = mkvault(NULL);
	get_ok(v, "t", "tv");	/* challenge and token out of the way */

	/* without Retry-After: the 1, 2 s schedule (scaled to ~10, ~20 ms) */
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"status\":429,\"when\":\"authed\",\"count\":2}"), 0);
	t0 = vv_retry_now_ms();
	get_ok(v, "t", "tv");
	t = vv_retry_now_ms() - t0;
	assert_true(t >= 24 && t < 1000);
	vv_vault_get_stats(v, &st);
	assert_int_equal(st.retries, 2);

	/* with Retry-After: 10 s each (scaled: ~100 ms), far above the schedule */
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"status\":429,\"when\":\"authed\","
					 "\"count\":2,\"retry_after\":10}"), 0);
	t0 = vv_retry_now_ms();
	get_ok(v, "t", "tv");
	t = vv_retry_now_ms() - t0;
	assert_true(t >= 200);
	vv_vault_get_stats(v, &st);
	assert_int_equal(st.retries, 4);
	assert_int_equal(st.token_requests, 1);
	vv_vault_free(v);
}

static void test_throttled_exhausted(void **state)
{
	struct opts o = { .max_retries = 2 };
	struct vv_vault_stats st;
	struct vv_vault *v;

	(void)state;
	put_secret("primary", "t", "tv", NULL, 0);
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"status\":429,\"when\":\"authed\",\"count\":-1}"), 0);
	v = mkvault(&o);
	expect_fail(v, "t", VV_CAUSE_THROTTLED, 429, NULL, NULL);
	assert_false(vv_cause_is_definite(VV_CAUSE_THROTTLED));
	vv_vault_get_stats(v, &st);
	assert_int_equal(st.retries, 2);
	/* first unauthenticated request + 3 authenticated attempts */
	assert_int_equal(ctr("primary.status.429"), 3);
	vv_vault_free(v);
}

static void test_5xx_retried(void **state)
{
	struct opts o = { .max_retries = 3 };
	struct vv_vault_stats st;
	struct vv_vault *v;

	(void)state;
	put_secret("primary", "f", "fv", NULL, 0);
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"status\":503,\"count\":1}"), 0);
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"status\":500,\"when\":\"authed\",\"count\":1}"), 0);
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"status\":502,\"when\":\"authed\",\"count\":1}"), 0);
	v = mkvault(&o);
	get_ok(v, "f", "fv");
	vv_vault_get_stats(v, &st);
	assert_int_equal(st.retries, 3);
	vv_vault_free(v);

	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"status\":500,\"count\":-1}"), 0);
	v = mkvault(&o);
	expect_fail(v, "f", VV_CAUSE_UNAVAILABLE, 500, NULL, NULL);
	vv_vault_get_stats(v, &st);
	assert_int_equal(st.retries, 3);
	vv_vault_free(v);
}

static void test_timeout(void **state)
{
	struct opts o = { .request_timeout_ms = 300, .max_retries = 2 };
	struct vv_vault_stats st;
	struct vv_error err;
	struct vv_vault *v;
	long long t0;

	(void)state;
	put_secret("primary", "slow", "sv", NULL, 0);
	v = mkvault(&o);
	get_ok(v, "slow", "sv");
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"delay_ms\":1500,\"count\":1}"), 0);
	get_ok(v, "slow", "sv");
	vv_vault_get_stats(v, &st);
	assert_int_equal(st.retries, 1);

	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"delay_ms\":1500,\"count\":3}"), 0);
	t0 = vv_retry_now_ms();
	expect_fail(v, "slow", VV_CAUSE_UNAVAILABLE, 0, NULL, NULL);
	/* Gave up without waiting for the slow answers (3 x 1500 ms). */
	assert_true(vv_retry_now_ms() - t0 < 4500);
	(void)err;
	vv_vault_get_stats(v, &st);
	assert_int_equal(st.retries, 3);
	vv_vault_free(v);
}

static void test_garbage_body(void **state)
{
	struct opts o = { .secondary = true };
	struct vv_vault_stats st;
	struct vv_vault *v;

	(void)state;
	put_secret("all", "g", "gv", NULL, 0);
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"garbage\":true,\"status\":200,"
					 "\"when\":\"authed\",\"count\":1}"), 0);
	v = mkvault(&o);
	expect_fail(v, "g", VV_CAUSE_BAD_RESPONSE, 200, NULL, NULL);
	vv_vault_get_stats(v, &st);
	assert_int_equal(st.failovers, 0);
	/* a well-formed answer for another secret is not accepted either */
	put_secret("primary", "other", "ov", NULL, 0);
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"status\":200,\"when\":\"authed\",\"count\":1,"
		"\"body\":{\"value\":\"ov\",\"id\":\"%s/secrets/other/0123456789abcdef0123456789abcdef\"}}",
		F.kv_url), 0);
	expect_fail(v, "g", VV_CAUSE_BAD_RESPONSE, 200, NULL, NULL);
	get_ok(v, "g", "gv");
	vv_vault_free(v);
}

static void test_connection_closed(void **state)
{
	struct opts o = { .max_retries = 2 };
	struct vv_vault_stats st;
	struct vv_vault *v;

	(void)state;
	put_secret("primary", "c", "cv", NULL, 0);
	v = mkvault(&o);
	get_ok(v, "c", "cv");
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"close\":true,\"count\":1}"), 0);
	get_ok(v, "c", "cv");
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"reset\":true,\"count\":1}"), 0);
	get_ok(v, "c", "cv");
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"truncate\":true,\"count\":1}"), 0);
	get_ok(v, "c", "cv");
	vv_vault_get_stats(v, &st);
	/*
	 * libcurl itself repeats a request once when a reused connection
	 * turns out dead; the truncated body is ours to retry.
	 */
	assert_int_equal(ctr("primary.faults"), 3);
	assert_true(st.retries >= 1);
	assert_true(ctr("primary.connections") >= 3);
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"close\":true,\"count\":-1}"), 0);
	expect_fail(v, "c", VV_CAUSE_UNAVAILABLE, 0, NULL, NULL);
	vv_vault_free(v);
}

/* ---- secondary vault ---- */

static void test_failover_on_outage(void **state)
{
	struct opts o = { .secondary = true, .max_retries = 1 };
	struct vv_secret_bundle *b = NULL;
	struct vv_vault_stats st;
	struct vv_error err;
	struct vv_vault *v;
	char id[256];

	(void)state;
	put_secret("all", "rep", "same", id, sizeof(id));
	v = mkvault(&o);

	/* 5xx after retries */
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"server\":\"primary\",\"status\":503,\"count\":-1}"), 0);
	assert_int_equal(vv_secret_get(v, id, &b, &err), 0);
	check_value(b, "same");
	assert_non_null(strstr(b->id, F.kv2_url));
	vv_secret_bundle_free(b);
	vv_vault_get_stats(v, &st);
	assert_int_equal(st.failovers, 1);
	assert_true(ctr("secondary.get_secret.ok") == 1);

	/* 429 after retries */
	assert_int_equal(vv_fakes_ctl_ok(&F, "faults_clear", NULL), 0);
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"server\":\"primary\",\"status\":429,\"count\":-1}"), 0);
	get_ok(v, "rep", "same");
	/* timeouts */
	assert_int_equal(vv_fakes_ctl_ok(&F, "faults_clear", NULL), 0);
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"server\":\"primary\",\"delay_ms\":6000,\"count\":2}"), 0);
	vv_vault_free(v);
	o.request_timeout_ms = 300;
	v = mkvault(&o);
	get_ok(v, "rep", "same");
	vv_vault_get_stats(v, &st);
	assert_int_equal(st.failovers, 1);
	vv_vault_free(v);
	/* both down: the outage is reported */
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"server\":\"primary\",\"status\":503,\"count\":-1}"), 0);
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"server\":\"secondary\",\"status\":503,\"count\":-1}"), 0);
	v = mkvault(&o);
	expect_fail(v, "rep", VV_CAUSE_UNAVAILABLE, 503, NULL, NULL);
	vv_vault_free(v);
}

/* Writes stay on the primary; references to other vaults never fail over. */
static void test_failover_limits(void **state)
{
	struct opts o = { .secondary = true, .max_retries = 1 };
	struct vv_secret *val = vv_secret_from("v", 1);
	struct vv_secret_bundle *b = NULL;
	struct vv_vault_stats st;
	struct vv_error err;
	struct vv_vault *v;
	char url[128], ref[300];

	(void)state;
	put_secret("all", "rep", "same", NULL, 0);
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"server\":\"primary\",\"status\":503,\"count\":-1}"), 0);
	v = mkvault(&o);
	assert_true(vv_secret_put(v, "rep", val, NULL, NULL, 0, NULL, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_UNAVAILABLE);
	expect_primary_only(v);
	vv_vault_free(v);

	/* the configured vault is another one: its secondary is no replica of this */
	snprintf(url, sizeof(url), "https://other.vault.azure.net:%s", strrchr(F.kv_url, ':') + 1);
	snprintf(ref, sizeof(ref), "other.vault.azure.net:%s:127.0.0.1", strrchr(F.kv_url, ':') + 1);
	vv_fakes_pin(ref);
	o.vault_url = url;
	o.allowed = F.kv_url;
	v = mkvault(&o);
	snprintf(ref, sizeof(ref), "%s/secrets/rep", F.kv_url);
	assert_true(vv_secret_get(v, ref, &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_UNAVAILABLE);
	assert_int_equal(ctr("secondary.requests"), 0);
	vv_vault_free(v);

	/* on outage, what the secondary answers is reported as the secondary's */
	o.vault_url = NULL;
	v = mkvault(&o);
	expect_fail(v, "only-primary", VV_CAUSE_NOT_FOUND, 404, "SecretNotFound", NULL);
	vv_vault_get_stats(v, &st);
	assert_int_equal(st.failovers, 1);
	assert_true(vv_secret_get(v, "only-primary", &b, &err) < 0);
	assert_non_null(strstr(err.message, "secondary"));
	vv_vault_free(v);
	vv_secret_free(val);
}

static void test_failover_on_connect_failure(void **state)
{
	struct vv_vault_stats st;
	struct vv_vault *v;
	char url[64], pin[96];
	struct opts o = { .secondary = true, .max_retries = 1, .vault_url = url };
	int port = vv_fakes_closed_port();

	(void)state;
	assert_true(port > 0);
	snprintf(url, sizeof(url), "https://down.vault.azure.net:%d", port);
	snprintf(pin, sizeof(pin), "down.vault.azure.net:%d:127.0.0.1", port);
	vv_fakes_pin(pin);
	put_secret("secondary", "rep", "from-2", NULL, 0);
	v = mkvault(&o);
	get_ok(v, "rep", "from-2");
	vv_vault_get_stats(v, &st);
	assert_int_equal(st.failovers, 1);
	assert_int_equal(st.retries, 1);
	vv_vault_free(v);
	/* without a secondary: UNAVAILABLE, no HTTP status */
	o.secondary = false;
	v = mkvault(&o);
	expect_fail(v, "rep", VV_CAUSE_UNAVAILABLE, 0, NULL, NULL);
	vv_vault_free(v);
}

/*
 * Cross-region restore: the keys of a vault that is gone now live in
 * another one with the same names and versions. With `moved`, a reference
 * to the old vault (secret, and the KEK its tag names) is resolved at the
 * new one, and the old one gets nothing - not even when it is also in the
 * allow-list.
 */
static void test_moved_vault(void **state)
{
	struct vv_secret *plain = vv_secret_from("restored-passphrase", 19), *got = NULL;
	struct vv_vault_move mv;
	struct vv_secret_bundle *b = NULL;
	struct vv_bek *bek = NULL;
	struct vv_error err;
	struct vv_vault *v;
	char old[128], pin[128], kid[256], oldkid[300], ref[300], *wrapped = NULL;
	int dead = vv_fakes_closed_port();
	struct opts o = { .move = &mv };

	(void)state;
	assert_true(dead > 0);
	/* old.vault.azure.net is pinned to a port nobody listens on */
	snprintf(old, sizeof(old), "https://old.vault.azure.net:%d", dead);
	snprintf(pin, sizeof(pin), "old.vault.azure.net:%d:127.0.0.1", dead);
	vv_fakes_pin(pin);
	mv.from = old;
	mv.to = F.kv_url;
	o.allowed = old;
	put_key("kek", kid, sizeof(kid));
	v = mkvault(NULL);
	assert_int_equal(vv_key_wrap(v, kid, "RSA-OAEP", plain, &wrapped, NULL, &err), 0);
	vv_vault_free(v);
	/* the secret's KEK tag names the old vault, as the restored copy does */
	snprintf(oldkid, sizeof(oldkid), "%s%s", old, strstr(kid, "/keys/"));
	assert_int_equal(vv_fakes_ctl_ok(&F, "put_secret",
		"{\"vault\":\"primary\",\"name\":\"moved\",\"value\":\"%s\",\"content_type\":\"Wrapped BEK\","
		"\"tags\":{\"DiskEncryptionKeyEncryptionKeyURL\":\"%s\","
		"\"DiskEncryptionKeyEncryptionAlgorithm\":\"RSA-OAEP\"}}", wrapped, oldkid), 0);

	v = mkvault(&o);
	snprintf(ref, sizeof(ref), "%s/secrets/moved", old);
	assert_int_equal(vv_secret_get(v, ref, &b, &err), 0);
	assert_non_null(strstr(b->id, F.kv_url));
	vv_secret_bundle_free(b);
	if (vv_bek_fetch(v, ref, NULL, &bek, &err) < 0)
		fprintf(stderr, "fetch: %s\n", err.message);
	assert_non_null(bek);
	assert_int_equal(bek->key->len, 19);
	assert_memory_equal(bek->key->data, "restored-passphrase", 19);
	vv_bek_free(bek);
	vv_vault_free(v);

	/* a KEK that was not restored: the error names it and the new vault */
	snprintf(ref, sizeof(ref), "%s/keys/notrestored/0123456789abcdef0123456789abcdef", old);
	v = mkvault(&o);
	assert_true(vv_key_unwrap(v, ref, "RSA-OAEP", wrapped, &got, &err) < 0);
	assert_null(got);
	assert_int_equal(err.cause, VV_CAUSE_NOT_FOUND);
	assert_non_null(strstr(err.message, "notrestored"));
	assert_non_null(strstr(err.message, "is mapped to"));
	assert_non_null(strstr(err.message, F.kv_url));
	/* ...and the fix is restoring it there, not soft-delete recovery */
	assert_non_null(strstr(err.remedy, "key notrestored was not restored into"));
	vv_vault_free(v);

	/* without the mapping, an unreachable vault suggests it */
	v = mkvault(&(struct opts){ .vault_url = old, .max_retries = 1 });
	assert_true(vv_secret_get(v, "moved", &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_UNAVAILABLE);
	/* said once: in the remedy, not also in the message */
	assert_null(strstr(err.message, "moved ="));
	assert_non_null(strstr(err.remedy, "add 'moved = https://old.vault.azure.net:"));
	vv_vault_free(v);
	free(wrapped);
	vv_secret_free(plain);
}

/* ---- TLS ---- */

static void test_tls_verified(void **state)
{
	struct vv_vault_stats st;
	struct vv_vault *v;

	(void)state;
	put_secret("primary", "tls", "x", NULL, 0);
	/* a certificate from a CA we do not trust */
	assert_int_equal(vv_fakes_ctl_ok(&F, "tls", "{\"vault\":\"primary\",\"cert\":\"untrusted\"}"), 0);
	v = mkvault(NULL);
	expect_fail(v, "tls", VV_CAUSE_UNAVAILABLE, 0, NULL, NULL);
	vv_vault_get_stats(v, &st);
	assert_int_equal(st.retries, 0);	/* it would not verify next time either */
	vv_vault_free(v);
	/* trusted CA, but for another host name */
	assert_int_equal(vv_fakes_ctl_ok(&F, "tls", "{\"vault\":\"primary\",\"cert\":\"wronghost\"}"), 0);
	v = mkvault(NULL);
	expect_fail(v, "tls", VV_CAUSE_UNAVAILABLE, 0, NULL, NULL);
	vv_vault_free(v);
	assert_int_equal(vv_fakes_ctl_ok(&F, "tls", "{\"vault\":\"primary\",\"cert\":\"expired\"}"), 0);
	v = mkvault(NULL);
	expect_fail(v, "tls", VV_CAUSE_UNAVAILABLE, 0, NULL, NULL);
	vv_vault_free(v);
	assert_int_equal(vv_fakes_ctl_ok(&F, "tls", "{\"vault\":\"primary\",\"cert\":\"server\"}"), 0);
	v = mkvault(NULL);
	get_ok(v, "tls", "x");
	vv_vault_free(v);
}

/* ---- references ---- */

static void test_bad_references(void **state)
{
	static const char *const bad[] = {
		"", "http://127.0.0.1/secrets/x", "bek:LinuxPassPhraseFileName", "keystore:x",
		"file:/etc/passwd", "https://h/keys/x", "https:///secrets/x", "a b",
		"name/version/extra", "name/ver-sion", "../x",
	};
	struct vv_secret_bundle *b = NULL;
	struct vv_key_info *k = NULL;
	struct vv_error err;
	struct vv_vault *v;
	struct vv_vault_config none = { .imds_url = F.imds_url, .ca_file = F.ca };

	(void)state;
	v = mkvault(NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_true(vv_secret_get(v, bad[i], &b, &err) < 0);
		assert_int_equal(err.cause, VV_CAUSE_CONFIG);
		assert_true(vv_cause_is_definite(err.cause));
	}
	assert_true(vv_key_get(v, "https://h/secrets/x", &k, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_int_equal(ctr("primary.requests"), 0);
	vv_vault_free(v);
	/* bare names need a configured vault */
	assert_int_equal(vv_vault_new(&none, &v), 0);
	assert_true(vv_secret_get(v, "disk", &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	vv_vault_free(v);
}

static void test_cause_names(void **state)
{
	(void)state;
	assert_string_equal(vv_cause_str(VV_CAUSE_NOT_FOUND), "not-found");
	assert_string_equal(vv_cause_str(VV_CAUSE_UNAVAILABLE), "unavailable");
	assert_string_equal(vv_cause_str((enum vv_cause)999), "unknown");
	assert_true(vv_cause_is_definite(VV_CAUSE_DISABLED));
	assert_true(vv_cause_is_definite(VV_CAUSE_FORBIDDEN));
	assert_true(vv_cause_is_definite(VV_CAUSE_UNAUTHORIZED));
	assert_false(vv_cause_is_definite(VV_CAUSE_UNAVAILABLE));
	assert_false(vv_cause_is_definite(VV_CAUSE_THROTTLED));
}

/* ---- AAD application instead of a managed identity ---- */

static struct vv_vault *mk_aad_vault(const char *secret_file, const char *cert_file)
{
	struct vv_vault_config c = {
		.vault_url = F.kv_url, .imds_url = F.imds_url, .ca_file = F.ca,
		.aad_authority = F.aad_url, .aad_client_id = F.aad_client_id,
		.aad_secret_file = secret_file, .aad_cert_file = cert_file,
		.request_timeout_ms = 5000, .total_timeout_ms = 20000, .max_retries = 2,
	};
	struct vv_vault *v = NULL;

	/* no tenant configured: learnt from the challenge's authority */
	assert_int_equal(vv_vault_new(&c, &v), 0);
	return v;
}

static void write_file(const char *path, const char *a, const char *b)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(a, f);
	if (b)
		fputs(b, f);
	fclose(f);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 65536);

	assert_non_null(f);
	assert_non_null(buf);
	assert_true(fread(buf, 1, 65535, f) > 0);
	fclose(f);
	return buf;
}

static void test_aad_client_secret(void **state)
{
	struct vv_vault_stats st;
	struct vv_vault *v;
	char path[300], line[200];

	(void)state;
	put_secret("primary", "aad", "av", NULL, 0);
	snprintf(path, sizeof(path), "%s/aad-secret", F.dir);
	snprintf(line, sizeof(line), "%s\n", F.aad_client_secret);
	write_file(path, line, NULL);
	/* as secret as a key file: readable by others is refused, naming the fix */
	assert_int_equal(chmod(path, 0644), 0);
	v = mk_aad_vault(path, NULL);
	expect_fail(v, "aad", VV_CAUSE_CONFIG, 0, NULL, NULL);
	assert_int_equal(ctr("primary.aad_token.ok"), 0);
	vv_vault_free(v);
	assert_int_equal(chmod(path, 0600), 0);
	v = mk_aad_vault(path, NULL);
	get_ok(v, "aad", "av");
	get_ok(v, "aad", "av");
	vv_vault_get_stats(v, &st);
	assert_int_equal(st.token_requests, 1);
	assert_int_equal(ctr("primary.aad_token.ok"), 1);
	assert_int_equal(ctr("imds.token"), 0);
	vv_vault_free(v);

	/* a wrong secret is refused by AAD: unauthorized, not retried */
	write_file(path, "not-the-secret\n", NULL);
	v = mk_aad_vault(path, NULL);
	expect_fail(v, "aad", VV_CAUSE_UNAUTHORIZED, 401, NULL, NULL);
	vv_vault_get_stats(v, &st);
	assert_int_equal(st.retries, 0);
	vv_vault_free(v);

	/* a FIFO or a symbolic link in its place: refused at once, no hang */
	{
		char link[320];

		assert_int_equal(unlink(path), 0);
		assert_int_equal(mkfifo(path, 0600), 0);
		v = mk_aad_vault(path, NULL);
		expect_fail(v, "aad", VV_CAUSE_CONFIG, 0, NULL, NULL);
		vv_vault_free(v);
		assert_int_equal(unlink(path), 0);
		write_file(path, line, NULL);
		assert_int_equal(chmod(path, 0600), 0);
		snprintf(link, sizeof(link), "%s.link", path);
		assert_int_equal(symlink(path, link), 0);
		v = mk_aad_vault(link, NULL);
		expect_fail(v, "aad", VV_CAUSE_CONFIG, 0, NULL, NULL);
		vv_vault_free(v);
		unlink(link);
	}
}

/*
 * [vault] aad_authority in the config file decides where the client
 * secret goes: the token request reaches the fake AAD it names, and an
 * authority nothing listens on gets no request at all (the fake's counter
 * stays), so the configured value, not the default, is what is used.
 */
static void test_aad_authority_from_config(void **state)
{
	struct vv_config *cfg = NULL;
	struct vv_vault_config vc;
	struct vv_error err = { 0 };
	struct vv_vault *v = NULL;
	char path[300], line[200], text[2048];
	const char *authorities[2] = { F.aad_url, "https://127.0.0.1:1" };

	(void)state;
	put_secret("primary", "aadcfg", "cv", NULL, 0);
	snprintf(path, sizeof(path), "%s/aad-secret-cfg", F.dir);
	snprintf(line, sizeof(line), "%s\n", F.aad_client_secret);
	write_file(path, line, NULL);
	assert_int_equal(chmod(path, 0600), 0);
	for (int i = 1; i >= 0; i--) {
		snprintf(text, sizeof(text),
			 "[vault]\nurl = %s\nca_file = %s\nimds = %s\naad_authority = %s/\n"
			 "aad_client_id = %s\naad_secret_file = %s\ntimeout = 5\n",
			 F.kv_url, F.ca, F.imds_url, authorities[i], F.aad_client_id, path);
		assert_int_equal(vv_config_parse(text, "t.conf", &cfg, &err), 0);
		assert_int_equal(vv_config_vault(cfg, NULL, &vc), 0);
		vc.max_retries = 1;
		assert_int_equal(vv_vault_new(&vc, &v), 0);
		if (i == 1) {
			expect_fail(v, "aadcfg", VV_CAUSE_UNAVAILABLE, 0, NULL, NULL);
			assert_int_equal(ctr("primary.aad_token.ok"), 0);
		} else {
			get_ok(v, "aadcfg", "cv");
			assert_int_equal(ctr("primary.aad_token.ok"), 1);
		}
		assert_int_equal(ctr("imds.token"), 0);
		vv_vault_free(v);
		vv_config_free(cfg);
		cfg = NULL;
	}
	unlink(path);
}

static void test_aad_certificate(void **state)
{
	struct vv_vault_stats st;
	struct vv_vault *v;
	char path[300], *cert, *key;

	(void)state;
	put_secret("primary", "aadc", "cv", NULL, 0);
	cert = slurp(F.aad_cert);
	key = slurp(F.aad_key);
	snprintf(path, sizeof(path), "%s/app-bundle.pem", F.dir);
	write_file(path, cert, key);
	v = mk_aad_vault(NULL, path);
	get_ok(v, "aadc", "cv");
	vv_vault_get_stats(v, &st);
	assert_int_equal(st.token_requests, 1);
	assert_int_equal(ctr("primary.aad_token.ok"), 1);
	vv_vault_free(v);
	/* key first, then certificate: same result */
	write_file(path, key, cert);
	v = mk_aad_vault(NULL, path);
	get_ok(v, "aadc", "cv");
	vv_vault_free(v);
	/* a certificate alone cannot sign */
	v = mk_aad_vault(NULL, F.aad_cert);
	expect_fail(v, "aadc", VV_CAUSE_CONFIG, 0, NULL, NULL);
	vv_vault_free(v);
	free(cert);
	free(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_get_by_name_version_url, reset),
		cmocka_unit_test_setup(test_challenge_authorization_uri, reset),
		cmocka_unit_test_setup(test_recovery_level, reset),
		cmocka_unit_test(test_recovery_level_helpers),
		cmocka_unit_test_setup(test_one_token_many_requests, reset),
		cmocka_unit_test_setup(test_parallel_one_token, reset),
		cmocka_unit_test_setup(test_token_refreshed_after_401, reset),
		cmocka_unit_test_setup(test_unauthorized_fresh_token, reset),
		cmocka_unit_test_setup(test_challenge_foreign_resource, reset),
		cmocka_unit_test_setup(test_untrusted_vault_refused, reset),
		cmocka_unit_test_setup(test_exp_out_of_range, reset),
		cmocka_unit_test_setup(test_challenge_other_domain, reset),
		cmocka_unit_test_setup(test_probe_has_no_body, reset),
		cmocka_unit_test_setup(test_token_cache_per_tenant, reset),
		cmocka_unit_test_setup(test_attributes_and_tags, reset),
		cmocka_unit_test_setup(test_put_then_get, reset),
		cmocka_unit_test_setup(test_key_get, reset),
		cmocka_unit_test_setup(test_wrap_unwrap_all_algs, reset),
		cmocka_unit_test_setup(test_unwrap_accepts_padded, reset),
		cmocka_unit_test_setup(test_key_revoked_and_expired, reset),
		cmocka_unit_test_setup(test_not_found, reset),
		cmocka_unit_test_setup(test_disabled, reset),
		cmocka_unit_test_setup(test_rbac_forbidden, reset),
		cmocka_unit_test_setup(test_rbac_remedy_names_grant, reset),
		cmocka_unit_test_setup(test_token_expired_at_unwrap, reset),
		cmocka_unit_test_setup(test_throttled_then_ok, reset),
		cmocka_unit_test_setup(test_throttled_exhausted, reset),
		cmocka_unit_test_setup(test_5xx_retried, reset),
		cmocka_unit_test_setup(test_timeout, reset),
		cmocka_unit_test_setup(test_garbage_body, reset),
		cmocka_unit_test_setup(test_connection_closed, reset),
		cmocka_unit_test_setup(test_failover_on_outage, reset),
		cmocka_unit_test_setup(test_failover_on_connect_failure, reset),
		cmocka_unit_test_setup(test_failover_limits, reset),
		cmocka_unit_test_setup(test_moved_vault, reset),
		cmocka_unit_test_setup(test_tls_verified, reset),
		cmocka_unit_test_setup(test_bad_references, reset),
		cmocka_unit_test(test_cause_names),
		cmocka_unit_test_setup(test_aad_client_secret, reset),
		cmocka_unit_test_setup(test_aad_certificate, reset),
		cmocka_unit_test_setup(test_aad_authority_from_config, reset),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
