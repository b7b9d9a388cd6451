// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * agent/revoke/revoke_check.c against the Key Vault fake (its own file: it
 * needs the fakes, test_revoke.c does not): each definite answer about the
 * secret or its KEK (403 disabled, 404 deleted, RBAC denied, expired, not
 * yet valid) is a revocation; each outage (5xx, 429, a timeout, a refused
 * connection: the transport's class for DNS failures too, base/http.c) is
 * not. Then a pass whose check is the real one: a revocation suspends only
 * past the grace, an outage never does however long, and access returning
 * resumes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "agent/revoke/revoke.h"
#include "tests/unit/support/fakes_proc.h"
#include "vault/vault.h"

static struct vv_fakes F;

VV_FAKES_GROUP(F, VV_FAKES_FAST_RETRY | VV_FAKES_NO_PROXY)

#define GRACE 600
#define T0 1000

static struct vv_vault *mkvault(const char *url)
{
	struct vv_vault_config c = {
		.vault_url = url ? url : F.kv_url, .imds_url = F.imds_url, .ca_file = F.ca,
		.request_timeout_ms = 1000, .total_timeout_ms = 4000, .max_retries = 1,
	};
	struct vv_vault *v = NULL;

	assert_int_equal(vv_vault_new(&c, &v), 0);
	return v;
}

/* The secret "s" (ADE style), wrapped by the KEK "kek" when wrapped. */
static void put_secret(bool wrapped, const char *attrs)
{
	if (wrapped)
		assert_int_equal(vv_fakes_ctl_ok(&F, "put_key", "{\"name\":\"kek\",\"bits\":1024}"),
				 0);
	assert_int_equal(vv_fakes_ctl_ok(&F, "put_bek", "{\"name\":\"s\",\"key\":\"pass\"%s%s}",
					 wrapped ? ",\"kek\":\"kek\"" : "", attrs ? attrs : ""), 0);
}

static void expect_verdict(struct vv_vault *v, const char *kek, enum vv_rv_verdict want,
			   const char *cause)
{
	struct vv_rv_target t = { .name = "data", .crypt_name = "data", .key_ref = "s",
				  .kek_ref = kek };
	struct vv_rv_check out;

	vv_rv_check_vault(v, &t, &out);
	if (out.verdict != want || !strstr(out.cause, cause))
		fail_msg("got %s '%s', wanted %s '%s'", vv_rv_verdict_str(out.verdict), out.cause,
			 vv_rv_verdict_str(want), cause);
}

static void test_definite_answers_revoke(void **state)
{
	char at[64];
	struct vv_vault *v = mkvault(NULL);

	(void)state;
	put_secret(true, NULL);
	expect_verdict(v, NULL, VV_RV_OK, "");
	/* the secret disabled, then deleted */
	assert_int_equal(vv_fakes_ctl_ok(&F, "disable", "{\"kind\":\"secret\",\"name\":\"s\"}"), 0);
	expect_verdict(v, NULL, VV_RV_REVOKED, "secret s: ");
	expect_verdict(v, NULL, VV_RV_REVOKED, "HTTP 403");
	assert_int_equal(vv_fakes_ctl_ok(&F, "enable", "{\"kind\":\"secret\",\"name\":\"s\"}"), 0);
	expect_verdict(v, NULL, VV_RV_OK, "");
	assert_int_equal(vv_fakes_ctl_ok(&F, "delete", "{\"kind\":\"secret\",\"name\":\"s\"}"), 0);
	expect_verdict(v, NULL, VV_RV_REVOKED, "HTTP 404");
	assert_int_equal(vv_fakes_ctl_ok(&F, "recover", "{\"kind\":\"secret\",\"name\":\"s\"}"), 0);
	expect_verdict(v, NULL, VV_RV_OK, "");
	/* access removed (RBAC) */
	assert_int_equal(vv_fakes_ctl_ok(&F, "rbac_deny", "{\"path\":\"*\",\"count\":-1}"), 0);
	expect_verdict(v, NULL, VV_RV_REVOKED, "HTTP 403");
	assert_int_equal(vv_fakes_ctl_ok(&F, "reset", NULL), 0);
	/* the secret's own attributes: expired, not yet valid */
	snprintf(at, sizeof(at), ",\"exp\":%lld", (long long)time(NULL) - 60);
	put_secret(true, at);
	expect_verdict(v, NULL, VV_RV_REVOKED, "secret s: expired");
	snprintf(at, sizeof(at), ",\"nbf\":%lld", (long long)time(NULL) + 3600);
	put_secret(false, at);
	expect_verdict(v, NULL, VV_RV_REVOKED, "secret s: not yet valid");
	vv_vault_free(v);
}

/* The KEK named by the secret's tag, or by the volume: disabled, expired, gone. */
static void test_kek_answers_revoke(void **state)
{
	struct vv_vault *v = mkvault(NULL);
	char kek[256], at[96];

	(void)state;
	put_secret(true, NULL);
	assert_int_equal(vv_fakes_ctl_ok(&F, "revoke_key", "{\"name\":\"kek\"}"), 0);
	expect_verdict(v, NULL, VV_RV_REVOKED, "KEK ");
	/* a local KEK named by the volume is not the vault's to revoke */
	expect_verdict(v, "file:/nonexistent/kek.pem", VV_RV_OK, "");
	snprintf(kek, sizeof(kek), "%s/keys/kek", F.kv_url);
	expect_verdict(v, kek, VV_RV_REVOKED, "HTTP 403");
	assert_int_equal(vv_fakes_ctl_ok(&F, "unrevoke_key", "{\"name\":\"kek\"}"), 0);
	expect_verdict(v, NULL, VV_RV_OK, "");
	snprintf(at, sizeof(at), "{\"kind\":\"key\",\"name\":\"kek\",\"exp\":%lld}",
		 (long long)time(NULL) - 60);
	assert_int_equal(vv_fakes_ctl_ok(&F, "set_attributes", "%s", at), 0);
	expect_verdict(v, NULL, VV_RV_REVOKED, "expired");
	snprintf(kek, sizeof(kek), "%s/keys/nosuchkek", F.kv_url);
	expect_verdict(v, kek, VV_RV_REVOKED, "HTTP 404");
	vv_vault_free(v);
}

static void test_outages_do_not_revoke(void **state)
{
	static const int statuses[] = { 500, 502, 503, 504, 429 };
	struct vv_vault *v = mkvault(NULL);
	char url[96], pin[128], st[16];
	int port;

	(void)state;
	put_secret(true, NULL);
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"status\":%d,\"when\":\"authed\","
						 "\"count\":-1}", statuses[i]), 0);
		snprintf(st, sizeof(st), "HTTP %d", statuses[i]);
		expect_verdict(v, NULL, VV_RV_OUTAGE, st);
		assert_int_equal(vv_fakes_ctl_ok(&F, "faults_clear", NULL), 0);
	}
	/* the KEK's read failing the same way */
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"status\":503,\"path\":\"/keys/*\","
					 "\"count\":-1}"), 0);
	expect_verdict(v, NULL, VV_RV_OUTAGE, "KEK ");
	assert_int_equal(vv_fakes_ctl_ok(&F, "faults_clear", NULL), 0);
	/* no answer in time */
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"delay_ms\":3000,\"when\":\"authed\","
					 "\"count\":-1}"), 0);
	expect_verdict(v, NULL, VV_RV_OUTAGE, "secret s: ");
	assert_int_equal(vv_fakes_ctl_ok(&F, "faults_clear", NULL), 0);
	vv_vault_free(v);
	/* nobody listening (a DNS failure is the same class to the transport) */
	port = vv_fakes_closed_port();
	assert_true(port > 0);
	snprintf(url, sizeof(url), "https://down.vault.azure.net:%d", port);
	snprintf(pin, sizeof(pin), "down.vault.azure.net:%d:127.0.0.1", port);
	vv_fakes_pin(pin);
	v = mkvault(url);
	expect_verdict(v, NULL, VV_RV_OUTAGE, "secret s: ");
	vv_vault_free(v);
}

/* ---- a pass with the real check: the grace, outages, access returning ---- */

struct world {
	struct vv_vault *vault;
	unsigned suspends, resumes;
	bool suspended;		/* the mapping, as the kernel would say */
};

static void w_check(void *ctx, const struct vv_rv_target *t, struct vv_rv_check *out)
{
	vv_rv_check_vault(((struct world *)ctx)->vault, t, out);
}

static int w_sync(void *ctx, const struct vv_rv_target *t, struct vv_error *err)
{
	(void)ctx;
	(void)t;
	(void)err;
	return 0;
}

static int w_suspend(void *ctx, const struct vv_rv_target *t, struct vv_error *err)
{
	(void)t;
	(void)err;
	((struct world *)ctx)->suspends++;
	((struct world *)ctx)->suspended = true;
	return 0;
}

static int w_resume(void *ctx, const struct vv_rv_target *t, struct vv_error *err)
{
	(void)t;
	(void)err;
	((struct world *)ctx)->resumes++;
	((struct world *)ctx)->suspended = false;
	return 0;
}

static int w_suspended(void *ctx, const struct vv_rv_target *t)
{
	(void)t;
	return ((struct world *)ctx)->suspended;
}

static void test_pass_with_vault(void **state)
{
	struct world w = { .vault = mkvault(NULL) };
	struct vv_rv_ops ops = { w_check, w_sync, w_suspend, w_resume, w_suspended, &w };
	struct vv_rv_target tg = { .name = "data", .crypt_name = "data", .key_ref = "s" };
	struct vv_rv_table t = { .boot_id = "0f3c2a4e-1111-4222-8333-944455556666" };
	struct vv_rv_stats st;

	(void)state;
	put_secret(true, NULL);
	/* KEK disabled: pending, not suspended within the grace */
	assert_int_equal(vv_fakes_ctl_ok(&F, "revoke_key", "{\"name\":\"kek\"}"), 0);
	assert_int_equal(vv_rv_pass(&ops, &tg, 1, &t, T0, GRACE, &st), 0);
	assert_int_equal(st.revoked, 1);
	assert_int_equal(vv_rv_table_get(&t, "data")->state, VV_RV_PENDING);
	assert_int_equal(vv_rv_pass(&ops, &tg, 1, &t, T0 + GRACE - 1, GRACE, &st), 0);
	assert_int_equal(w.suspends, 0);
	/* the vault down far past the grace: still nothing suspended */
	assert_int_equal(vv_fakes_ctl_ok(&F, "fault", "{\"status\":503,\"when\":\"authed\","
					 "\"count\":-1}"), 0);
	assert_int_equal(vv_rv_pass(&ops, &tg, 1, &t, T0 + 100 * GRACE, GRACE, &st), 0);
	assert_int_equal(st.outages, 1);
	assert_int_equal(w.suspends, 0);
	assert_int_equal(vv_rv_table_get(&t, "data")->state, VV_RV_PENDING);
	/* the refusal seen again past the grace: suspended */
	assert_int_equal(vv_fakes_ctl_ok(&F, "faults_clear", NULL), 0);
	assert_int_equal(vv_rv_pass(&ops, &tg, 1, &t, T0 + 100 * GRACE, GRACE, &st), 0);
	assert_int_equal(w.suspends, 1);
	assert_int_equal(vv_rv_table_get(&t, "data")->state, VV_RV_INACCESSIBLE);
	assert_non_null(strstr(vv_rv_table_get(&t, "data")->cause, "KEK "));
	/* access returns: resumed, nothing recorded */
	assert_int_equal(vv_fakes_ctl_ok(&F, "unrevoke_key", "{\"name\":\"kek\"}"), 0);
	assert_int_equal(vv_rv_pass(&ops, &tg, 1, &t, T0 + 101 * GRACE, GRACE, &st), 0);
	assert_int_equal(w.resumes, 1);
	assert_int_equal(t.n, 0);
	vv_rv_table_free(&t);
	vv_vault_free(w.vault);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_definite_answers_revoke, reset),
		cmocka_unit_test_setup(test_kek_answers_revoke, reset),
		cmocka_unit_test_setup(test_outages_do_not_revoke, reset),
		cmocka_unit_test_setup(test_pass_with_vault, reset),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
