// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What the config file gives a snapshot (agent/snapshot/snapshot_config.c):
 * the defaults `vaultvol snapshot`, `vaultvol freeze` and the handler share,
 * the exclude list, and key references from the token, then the config.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agent/snapshot/snapshot_config.h"

static void test_defaults_from_empty_config(void **state)
{
	struct vv_config cfg = { 0 };
	struct vv_options opt = { .state_dir = "/st" };
	struct vv_snapshot_opts so = { 0 };

	(void)state;
	vv_snapshot_opts_from_config(&so, &opt, &cfg);
	assert_int_equal(so.timeout_s, VV_SNAPSHOT_DEFAULT_TIMEOUT_S);
	assert_string_equal(so.plugin_config, VV_PLUGIN_CONFIG_DEFAULT);
	assert_null(so.hooks_dir);
	assert_null(so.ca_file);
	assert_string_equal(so.state_dir, "/st");
	assert_ptr_equal(so.key_refs, vv_key_refs_token_then_config);
	assert_ptr_equal(so.key_refs_ctx, &cfg);
	assert_int_equal(vv_snapshot_config_timeout(&cfg), VV_SNAPSHOT_DEFAULT_TIMEOUT_S);
}

static void test_config_then_caller(void **state)
{
	struct vv_config cfg = { 0 };
	struct vv_options opt = { .ca_file = "/cli.pem" };
	struct vv_snapshot_opts so = { 0 };

	(void)state;
	cfg.snapshot.timeout_s = 30;
	cfg.snapshot.scripts_config = "/etc/plugin.json";
	cfg.snapshot.hooks_dir = "/etc/hooks";
	cfg.vault.ca_file = "/cfg.pem";
	vv_snapshot_opts_from_config(&so, &opt, &cfg);
	assert_int_equal(so.timeout_s, 30);
	assert_string_equal(so.plugin_config, "/etc/plugin.json");
	assert_string_equal(so.hooks_dir, "/etc/hooks");
	/* --ca-file wins over the config's */
	assert_string_equal(so.ca_file, "/cli.pem");

	/* What the caller set stays ("" is "no plugin config"). */
	memset(&so, 0, sizeof(so));
	so.timeout_s = 5;
	so.plugin_config = "";
	so.hooks_dir = "/cli/hooks";
	opt.ca_file = NULL;
	vv_snapshot_opts_from_config(&so, &opt, &cfg);
	assert_int_equal(so.timeout_s, 5);
	assert_string_equal(so.plugin_config, "");
	assert_string_equal(so.hooks_dir, "/cli/hooks");
	assert_string_equal(so.ca_file, "/cfg.pem");
}

static void test_exclude_append(void **state)
{
	const char *cli[] = { "/a" }, *conf[] = { "/b", "/c/*" };
	const char **excl = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(vv_exclude_append(&excl, &n, conf, 0), 0);
	assert_null(excl);
	assert_int_equal(n, 0);
	assert_int_equal(vv_exclude_append(&excl, &n, cli, 1), 0);
	assert_int_equal(vv_exclude_append(&excl, &n, conf, 2), 0);
	assert_int_equal(n, 3);
	assert_string_equal(excl[0], "/a");
	assert_string_equal(excl[1], "/b");
	assert_string_equal(excl[2], "/c/*");
	free(excl);
}

static void test_key_refs_from_config(void **state)
{
	struct vv_volume_conf vols[2] = {
		{ .name = "data", .key = "keystore:data", .kek = "keystore:kek", .alg = "RSA-OAEP" },
		{ .name = "nokey" },
	};
	struct vv_config cfg = { .volumes = vols, .nvolumes = 2 };
	char *key = NULL, *kek = NULL, *alg = NULL;

	(void)state;
	/* No token on a device that does not exist: the [volume] section. */
	assert_int_equal(vv_key_refs_token_then_config(&cfg, "data", "/nonexistent/dev", &key,
						       &kek, &alg), 0);
	assert_string_equal(key, "keystore:data");
	assert_string_equal(kek, "keystore:kek");
	assert_string_equal(alg, "RSA-OAEP");
	free(key);
	free(kek);
	free(alg);
	assert_int_equal(vv_key_refs_token_then_config(&cfg, "nokey", "/nonexistent/dev", &key,
						       &kek, &alg), -ENOENT);
	assert_int_equal(vv_key_refs_token_then_config(&cfg, "other", "/nonexistent/dev", &key,
						       &kek, &alg), -ENOENT);
	assert_int_equal(vv_key_refs_token_then_config(NULL, "data", "/nonexistent/dev", &key,
						       &kek, &alg), -ENOENT);
	assert_int_equal(vv_key_refs_token_then_config(&cfg, NULL, "/nonexistent/dev", &key,
						       &kek, &alg), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_from_empty_config),
		cmocka_unit_test(test_config_then_caller),
		cmocka_unit_test(test_exclude_append),
		cmocka_unit_test(test_key_refs_from_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
