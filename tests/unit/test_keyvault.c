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
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <openssl/rand.h>

#include "tests/unit/support/fakes_proc.h"
#include "vault/retry.h"
#include "vault/vault.h"

static struct vv_fakes F;

struct opts {
	bool secondary;
	const char *vault_url;
	int request_timeout_ms;
	int max_retries;
};

static struct vv_vault *mkvault(const struct opts *o)
{
	struct vv_vault_config c = {
		.vault_url = o && o->vault_url ? o->vault_url : F.kv_url,
		.secondary_url = o && o->secondary ? F.kv2_url : NULL,
		.imds_url = F.imds_url,
		.ca_file = F.ca,
		.request_timeout_ms = o && o->request_timeout_ms ? o->request_timeout_ms : 5000,
		.total_timeout_ms = 30000,
		.max_retries = o && o->max_retries ? o->max_retries : 5,
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

static __attribute__((unused)) void put_key(const char *name, char *kid, size_t len)
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

static int group_setup(void **state)
{
	(void)state;
	/* Retries in these tests wait 1% of the real schedule. */
	setenv("VV_TEST_BACKOFF_SCALE", "0.01", 1);
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	return vv_fakes_start(&F, NULL) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	vv_fakes_stop(&F);
	return 0;
}

static int reset(void **state)
{
	(void)state;
	return vv_fakes_ctl_ok(&F, "reset", NULL);
}

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_get_by_name_version_url, reset),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
