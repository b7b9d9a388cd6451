// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * agent/handler*: the waagent extension handler protocol on its own, with
 * stand-in operations: HandlerEnvironment.json, sequence numbers, the
 * settings envelope, CMS-encrypted protected settings (certificates made
 * with the openssl CLI), the strict schema, status rendering limits, the
 * handled check, heartbeat, and the whole enable flow.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "agent/command.h"
#include "agent/handler/handler.h"
#include "base/log.h"

/* ---- helpers --------------------------------------------------------- */

static char *mktmp(void)
{
	char *p = strdup("/tmp/vv-handler-XXXXXX");

	assert_non_null(p);
	assert_non_null(mkdtemp(p));
	return p;
}

static __attribute__((format(printf, 1, 2))) int sh(const char *fmt, ...)
{
	char *cmd = NULL;
	va_list ap;
	int st;

	va_start(ap, fmt);
	assert_true(vasprintf(&cmd, fmt, ap) >= 0);
	va_end(ap);
	st = system(cmd);
	free(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static struct json_object *parse(const char *text)
{
	struct vv_error err = { 0 };
	struct json_object *o = vv_handler_json_parse(text, strlen(text), &err);

	if (!o)
		fail_msg("parse failed: %s", err.message);
	return o;
}

/* ---- HandlerEnvironment.json ----------------------------------------- */

static void test_env_parse(void **state)
{
	static const char good[] =
		"[{\"name\": \"Vaultvol.Linux\", \"version\": \"1.0\", \"handlerEnvironment\": {"
		"\"logFolder\": \"/var/log/azure/x\", \"configFolder\": \"/w/config\","
		"\"statusFolder\": \"/w/status\", \"heartbeatFile\": \"/w/heartbeat.log\","
		"\"deploymentid\": \"ignored\"}}]";
	struct vv_handler_env env;
	struct vv_error err = { 0 };

	(void)state;
	assert_int_equal(vv_handler_env_parse(good, strlen(good), &env, &err), 0);
	assert_string_equal(env.name, "Vaultvol.Linux");
	assert_string_equal(env.config_folder, "/w/config");
	assert_string_equal(env.status_folder, "/w/status");
	assert_string_equal(env.log_folder, "/var/log/azure/x");
	assert_string_equal(env.heartbeat_file, "/w/heartbeat.log");
	vv_handler_env_clear(&env);

	/* A bare object, no optional folders, numeric version tolerated. */
	{
		static const char bare[] = "{\"version\": 1.0, \"handlerEnvironment\": "
			"{\"configFolder\": \"/c\", \"statusFolder\": \"/s\"}}";

		assert_int_equal(vv_handler_env_parse(bare, strlen(bare), &env, &err), 0);
		assert_null(env.log_folder);
		assert_null(env.heartbeat_file);
		vv_handler_env_clear(&env);
	}
	{
		static const char *const bad[] = {
			"[{\"handlerEnvironment\": {\"configFolder\": \"/c\"}}]",
			"[{\"handlerEnvironment\": {\"configFolder\": \"c\", \"statusFolder\": \"/s\"}}]",
			"[{\"handlerEnvironment\": {\"configFolder\": 5, \"statusFolder\": \"/s\"}}]",
			"[{\"handlerEnvironment\": \"x\"}]",
			"[]",
			"[{\"handlerEnvironment\": {\"configFolder\": \"/c\", \"statusFolder\": \"/s\"}}] x",
			"not json",
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			err.message[0] = '\0';
			assert_int_equal(vv_handler_env_parse(bad[i], strlen(bad[i]), &env, &err), -EINVAL);
			assert_true(strlen(err.message) > 0);
			assert_null(env.config_folder);
		}
	}
}

static void test_env_load_and_find_dir(void **state)
{
	struct vv_handler_env env;
	struct vv_error err = { 0 };
	char *dir = mktmp(), *found = NULL, path[512];

	(void)state;
	assert_int_equal(vv_handler_env_load(dir, &env, &err), -ENOENT);
	snprintf(path, sizeof(path), "%s/HandlerEnvironment.json", dir);
	write_file(path, "[{\"handlerEnvironment\": {\"configFolder\": \"/c\", \"statusFolder\": \"/s\"}}]");
	assert_int_equal(vv_handler_env_load(dir, &env, &err), 0);
	vv_handler_env_clear(&env);

	assert_int_equal(vv_handler_find_dir(dir, &found), 0);
	assert_string_equal(found, dir);
	free(found);
	setenv("VV_HANDLER_DIR", "/from/env", 1);
	assert_int_equal(vv_handler_find_dir(NULL, &found), 0);
	assert_string_equal(found, "/from/env");
	free(found);
	unsetenv("VV_HANDLER_DIR");
	/* Without either: the test binary's directory (no environment file). */
	assert_int_equal(vv_handler_find_dir(NULL, &found), 0);
	assert_true(found[0] == '/');
	free(found);
	sh("rm -rf '%s'", dir);
	free(dir);
}

/* ---- sequence numbers ------------------------------------------------ */

static void test_pick_seq(void **state)
{
	struct vv_error err = { 0 };
	char *dir = mktmp();
	int seq = -1;

	(void)state;
	assert_int_equal(vv_handler_pick_seq(dir, NULL, &seq, &err), -ENOENT);
	assert_int_equal(sh("cd '%s' && touch -- 0.settings 2.settings 10.settings x.settings "
			    "11.settings.bak 12.status -3.settings 99999999999.settings", dir), 0);
	assert_int_equal(vv_handler_pick_seq(dir, NULL, &seq, &err), 0);
	assert_int_equal(seq, 10);
	assert_int_equal(vv_handler_pick_seq(dir, "", &seq, &err), 0);
	assert_int_equal(seq, 10);
	assert_int_equal(vv_handler_pick_seq(dir, "7", &seq, &err), 0);
	assert_int_equal(seq, 7);
	assert_int_equal(vv_handler_pick_seq(dir, "-1", &seq, &err), -EINVAL);
	assert_non_null(strstr(err.message, "ConfigSequenceNumber"));
	assert_int_equal(vv_handler_pick_seq(dir, "1a", &seq, &err), -EINVAL);
	assert_int_equal(vv_handler_pick_seq(dir, "9999999999", &seq, &err), -EINVAL);
	assert_int_equal(vv_handler_pick_seq("/nonexistent/vv", NULL, &seq, &err), -ENOENT);
	sh("rm -rf '%s'", dir);
	free(dir);
}

/* ---- the settings envelope ------------------------------------------- */

static void test_settings_parse(void **state)
{
	static const char good[] =
		"{\"runtimeSettings\": [{\"handlerSettings\": {"
		"\"protectedSettingsCertThumbprint\": \"ABCD\", \"protectedSettings\": \"TUlJ\","
		"\"publicSettings\": {\"operation\": \"reopen\"}, \"other\": 1}}]}";
	struct vv_handler_settings s;
	struct vv_error err = { 0 };

	(void)state;
	assert_int_equal(vv_handler_settings_parse(good, strlen(good), &s, &err), 0);
	assert_string_equal(s.thumbprint, "ABCD");
	assert_string_equal(s.protected_b64, "TUlJ");
	assert_non_null(s.public_settings);
	vv_handler_settings_clear(&s);

	{
		static const char nothing[] = "{\"runtimeSettings\": [{\"handlerSettings\": {}}]}";

		assert_int_equal(vv_handler_settings_parse(nothing, strlen(nothing), &s, &err), 0);
		assert_null(s.public_settings);
		assert_null(s.protected_b64);
		vv_handler_settings_clear(&s);
	}
	{
		static const struct { const char *text, *why; } bad[] = {
			{ "{}", "runtimeSettings" },
			{ "{\"runtimeSettings\": {}}", "must be an array" },
			{ "{\"runtimeSettings\": []}", "exactly one" },
			{ "{\"runtimeSettings\": [{\"handlerSettings\": {}}, {\"handlerSettings\": {}}]}", "exactly one" },
			{ "{\"runtimeSettings\": [{\"handlerSettings\": 3}]}", "handlerSettings" },
			{ "{\"runtimeSettings\": [{\"handlerSettings\": {\"publicSettings\": \"x\"}}]}",
			  "publicSettings must be an object" },
			{ "{\"runtimeSettings\": [{\"handlerSettings\": {\"protectedSettings\": \"TUlJ\"}}]}",
			  "without protectedSettingsCertThumbprint" },
			{ "{\"runtimeSettings\": [{\"handlerSettings\": {\"protectedSettings\": 5, "
			  "\"protectedSettingsCertThumbprint\": \"A\"}}]}", "must be a string" },
			{ "{\"runtimeSettings\": [", "malformed JSON" },
			{ "{\"runtimeSettings\": []} {}", "data after the end" },
			{ "[1]", "not an object" },
			{ "{\"a\":[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]}", "nested deeper" },
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			err.message[0] = '\0';
			assert_int_equal(vv_handler_settings_parse(bad[i].text, strlen(bad[i].text), &s,
								   &err), -EINVAL);
			if (!strstr(err.message, bad[i].why))
				fail_msg("case %zu: '%s' lacks '%s'", i, err.message, bad[i].why);
		}
	}
	/* A NUL byte inside the text must not cut parsing short silently. */
	{
		static const char nul[] = "{\"runtimeSettings\": []}\0garbage";

		assert_int_equal(vv_handler_settings_parse(nul, sizeof(nul) - 1, &s, &err), -EINVAL);
		assert_non_null(strstr(err.message, "NUL"));
	}
}

static void test_settings_load_size_cap(void **state)
{
	struct vv_error err = { 0 };
	char *dir = mktmp(), path[512];
	struct vv_handler_settings s;

	(void)state;
	snprintf(path, sizeof(path), "%s/0.settings", dir);
	assert_int_equal(sh("python3 -c 'import json,sys; json.dump({\"runtimeSettings\": "
			    "[{\"handlerSettings\": {\"publicSettings\": {\"x\": \"a\" * 1100000}}}]}, "
			    "open(sys.argv[1], \"w\"))' '%s'", path), 0);
	assert_int_equal(vv_handler_settings_load(path, &s, &err), -EINVAL);
	assert_non_null(strstr(err.message, "larger than"));
	snprintf(path, sizeof(path), "%s", dir);
	assert_int_equal(vv_handler_settings_load(path, &s, &err), -EINVAL);
	assert_non_null(strstr(err.message, "not a regular file"));
	sh("rm -rf '%s'", dir);
	free(dir);
}

/* ---- the schema ------------------------------------------------------- */

static int build(const char *pub, const char *prot, struct vv_handler_request *req,
		 struct vv_error *err)
{
	struct json_object *p = pub ? parse(pub) : NULL;
	struct json_object *q = prot ? parse(prot) : NULL;
	int r = vv_handler_request_build(p, q, req, err);

	json_object_put(p);
	json_object_put(q);
	return r;
}

static void test_schema_good(void **state)
{
	struct vv_handler_request req;
	struct vv_error err = { 0 };

	(void)state;
	assert_int_equal(build(NULL, NULL, &req, &err), 0);
	assert_int_equal(req.op, VV_HOP_REOPEN);
	assert_int_equal(req.nvolumes, 0);
	vv_handler_request_clear(&req);

	assert_int_equal(build("{\"operation\": \"reopen\", \"volumes\": [\"data1\", \"data_2\"],"
			       "\"vaultUrl\": \"https://v.vault.azure.net\"}", NULL, &req, &err), 0);
	assert_int_equal(req.nvolumes, 2);
	assert_string_equal(req.volumes[1].name, "data_2");
	assert_string_equal(req.vault_url, "https://v.vault.azure.net");
	vv_handler_request_clear(&req);

	assert_int_equal(build("{\"operation\": \"provision\", \"volumes\": [{\"name\": \"d1\","
			       "\"device\": \"/dev/disk/azure/scsi1/lun0\", \"mount\": \"/data\", \"fs\": \"ext4\","
			       "\"options\": \"noatime\", \"key\": \"keystore:d1\"}],"
			       "\"kekUrl\": \"keystore-kek:k\", \"kekAlgorithm\": \"RSA-OAEP-256\"}",
			       NULL, &req, &err), 0);
	assert_int_equal(req.op, VV_HOP_PROVISION);
	assert_string_equal(req.volumes[0].device, "/dev/disk/azure/scsi1/lun0");
	assert_string_equal(req.volumes[0].fs, "ext4");
	assert_string_equal(req.kek_alg, "RSA-OAEP-256");
	vv_handler_request_clear(&req);

	assert_int_equal(build("{\"vaultMoved\": {\"from\": \"https://old.vault.azure.net\","
			       "\"to\": \"https://new.vault.azure.net\"}}", NULL, &req, &err), 0);
	assert_string_equal(req.moved_from, "https://old.vault.azure.net");
	assert_string_equal(req.moved_to, "https://new.vault.azure.net");
	vv_handler_request_clear(&req);

	assert_int_equal(build("{\"operation\": \"rotate\", \"rotate\": \"kek\", \"volumes\": [\"d1\"],"
			       "\"kekUrl\": \"https://v.vault.azure.net/keys/k/1\"}", NULL, &req, &err), 0);
	assert_true(req.rotate_kek);
	assert_false(req.require_purge_protection);
	vv_handler_request_clear(&req);

	assert_int_equal(build("{\"operation\": \"rotate\", \"volumes\": [\"d1\"],"
			       "\"requirePurgeProtection\": true}", NULL, &req, &err), 0);
	assert_true(req.require_purge_protection);
	vv_handler_request_clear(&req);
	assert_int_equal(build("{\"operation\": \"provision\", \"volumes\": [{\"name\": \"d1\","
			       "\"device\": \"/dev/x\"}], \"requirePurgeProtection\": false}", NULL,
			       &req, &err), 0);
	assert_false(req.require_purge_protection);
	vv_handler_request_clear(&req);

	assert_int_equal(build("{\"operation\": \"snapshot\", \"timeoutSeconds\": 30,"
			       "\"serviceUrl\": \"http://127.0.0.1:8080\", \"consistency\": \"filesystem\"}", NULL,
			       &req, &err), 0);
	assert_int_equal(req.timeout_s, 30);
	assert_true(req.fs_consistent);
	assert_string_equal(req.service_url, "http://127.0.0.1:8080");
	vv_handler_request_clear(&req);

	assert_int_equal(build("{\"aadClientId\": \"app\", \"aadTenantId\": \"t\"}",
			       "{\"aadClientSecret\": \"s3cr3t-value\"}", &req, &err), 0);
	assert_non_null(req.aad_client_secret);
	assert_int_equal(req.aad_client_secret->len, strlen("s3cr3t-value"));
	assert_memory_equal(req.aad_client_secret->data, "s3cr3t-value", req.aad_client_secret->len);
	vv_handler_request_clear(&req);
}

static void test_schema_hostile(void **state)
{
	static const struct { const char *pub, *prot, *why; } bad[] = {
		{ "{\"operation\": 5}", NULL, "operation must be a string" },
		{ "{\"operation\": \"format\"}", NULL, "\"format\" is not one of" },
		{ "{\"operation\": \"reopen\\u0000x\"}", NULL, "is not one of" },
		{ "{\"volumes\": \"data\"}", NULL, "volumes must be an array" },
		{ "{\"volumes\": [1]}", NULL, "volumes[0] must be a string" },
		{ "{\"volumes\": [\"../etc\"]}", NULL, "volumes[0] must be a volume name" },
		{ "{\"volumes\": [\"\"]}", NULL, "must be a volume name" },
		{ "{\"volumes\": [\"a\", \"a\"]}", NULL, "listed twice" },
		{ "{\"volume\": [\"a\"]}", NULL, "unknown key \"volume\"" },
		{ "{\"vaultUrl\": \"http://v\"}", NULL, "https://" },
		{ "{\"vaultUrl\": [\"https://v\"]}", NULL, "vaultUrl must be a string" },
		{ "{\"vaultUrl\": \"https://v w\"}", NULL, "printable text without spaces" },
		{ "{\"vaultMoved\": \"https://a https://b\"}", NULL, "vaultMoved must be an object" },
		{ "{\"vaultMoved\": {\"from\": \"https://a\"}}", NULL, "vaultMoved.to" },
		{ "{\"vaultMoved\": {\"from\": \"http://a\", \"to\": \"https://b\"}}", NULL,
		  "must be https:// vault URLs" },
		{ "{\"vaultMoved\": {\"from\": \"https://a\", \"to\": \"https://b\", \"x\": 1}}", NULL,
		  "unknown key \"x\"" },
		{ "{\"timeoutSeconds\": \"10\", \"operation\": \"snapshot\"}", NULL, "must be an integer" },
		{ "{\"timeoutSeconds\": 1.5, \"operation\": \"snapshot\"}", NULL, "must be an integer" },
		{ "{\"timeoutSeconds\": 0, \"operation\": \"snapshot\"}", NULL, "between 1 and 3600" },
		{ "{\"operation\": \"snapshot\"}", NULL, "serviceUrl (the backup service) is required" },
		{ "{\"operation\": \"snapshot\", \"serviceUrl\": \"ftp://x\"}", NULL, "http:// or https://" },
		{ "{\"operation\": \"snapshot\", \"serviceUrl\": \"http://x\", \"volumes\": [\"a\"]}", NULL,
		  "does not apply to snapshot" },
		{ "{\"operation\": \"snapshot\", \"serviceUrl\": \"http://x\", \"consistency\": \"app\"}", NULL,
		  "\"app\" is not one of \"application\", \"filesystem\"" },
		{ "{\"consistency\": \"filesystem\"}", NULL, "consistency applies to snapshot only" },
		{ "{\"timeoutSeconds\": 10}", NULL, "snapshot only" },
		{ "{\"operation\": \"rotate\", \"volumes\": [\"a\"], \"requirePurgeProtection\": \"yes\"}",
		  NULL, "requirePurgeProtection must be true or false" },
		{ "{\"operation\": \"rotate\", \"volumes\": [\"a\"], \"requirePurgeProtection\": 1}",
		  NULL, "requirePurgeProtection must be true or false" },
		{ "{\"requirePurgeProtection\": true}", NULL,
		  "requirePurgeProtection applies to provision and rotate only" },
		{ "{\"kekAlgorithm\": \"RSA-OAEP\"}", NULL, "needs publicSettings.kekUrl" },
		{ "{\"kekUrl\": \"keystore-kek:k\"}", NULL, "provision and rotate only" },
		{ "{\"operation\": \"rotate\"}", NULL, "must list the volumes" },
		{ "{\"operation\": \"rotate\", \"volumes\": [\"a\"], \"rotate\": \"kek\"}", NULL, "needs publicSettings.kekUrl" },
		{ "{\"rotate\": \"kek\", \"kekUrl\": \"x\"}", NULL, "rotate\" only" },
		{ "{\"operation\": \"provision\", \"volumes\": [\"a\"]}", NULL, "must be an object" },
		{ "{\"operation\": \"provision\", \"volumes\": [{\"name\": \"a\"}]}", NULL, "device is required" },
		{ "{\"operation\": \"provision\", \"volumes\": [{\"name\": \"a\", \"device\": \"sdc\"}]}", NULL,
		  "absolute path" },
		{ "{\"operation\": \"provision\", \"volumes\": [{\"name\": \"a\", \"device\": \"/dev/x\", \"size\": 1}]}",
		  NULL, "unknown key \"size\"" },
		{ "{\"operation\": \"provision\", \"volumes\": [{\"name\": \"a\", \"device\": \"/dev/x\", \"fs\": \"EXT4;\"}]}",
		  NULL, "filesystem type" },
		{ "{\"operation\": \"provision\", \"volumes\": [{\"name\": \"a\", \"device\": \"/dev/x\", \"fs\": \"vfat\"}]}",
		  NULL, "fs must be \"ext4\" or \"xfs\"" },
		{ "{\"aadClientId\": \"app\"}", NULL, "needs protectedSettings.aadClientSecret" },
		{ NULL, "{\"aadClientSecret\": \"TOPSECRET-1\"}", "needs publicSettings.aadClientId" },
		{ NULL, "{\"aadClientSecret\": 42}", "aadClientSecret must be a string" },
		{ NULL, "{\"aadClientSecret\": \"\"}", "1 to 1024" },
		{ NULL, "{\"password\": \"TOPSECRET-2\"}", "unknown key \"password\"" },
		{ "{\"aadClientId\": \"a\", \"managedIdentityClientId\": \"b\"}", "{\"aadClientSecret\": \"TOPSECRET-3\"}",
		  "not both" },
	};
	struct vv_handler_request req;
	struct vv_error err = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err.message[0] = '\0';
		assert_int_equal(build(bad[i].pub, bad[i].prot, &req, &err), -EINVAL);
		if (!strstr(err.message, bad[i].why))
			fail_msg("case %zu: '%s' lacks '%s'", i, err.message, bad[i].why);
		assert_null(strstr(err.message, "TOPSECRET"));
		assert_null(req.volumes);
		assert_null(req.aad_client_secret);
	}
}

static void test_schema_limits(void **state)
{
	struct vv_handler_request req;
	struct vv_error err = { 0 };
	char *pub, key[2100];
	size_t off;

	(void)state;
	/* 65 volumes: one too many. */
	pub = malloc(65 * 16 + 64);
	assert_non_null(pub);
	off = (size_t)sprintf(pub, "{\"volumes\": [");
	for (int i = 0; i < 65; i++)
		off += (size_t)sprintf(pub + off, "%s\"v%d\"", i ? "," : "", i);
	strcpy(pub + off, "]}");
	assert_int_equal(build(pub, NULL, &req, &err), -EINVAL);
	assert_non_null(strstr(err.message, "at most 64"));
	/* 64 are fine. */
	off = (size_t)sprintf(pub, "{\"volumes\": [");
	for (int i = 0; i < 64; i++)
		off += (size_t)sprintf(pub + off, "%s\"v%d\"", i ? "," : "", i);
	strcpy(pub + off, "]}");
	assert_int_equal(build(pub, NULL, &req, &err), 0);
	assert_int_equal(req.nvolumes, 64);
	vv_handler_request_clear(&req);
	free(pub);

	/* A very long unknown key is echoed cut and sanitized. */
	memset(key, 'k', sizeof(key));
	key[0] = '\x01';
	key[sizeof(key) - 1] = '\0';
	assert_true(asprintf(&pub, "{\"%s\": 1}", key) > 0);
	assert_int_equal(build(pub, NULL, &req, &err), -EINVAL);
	assert_non_null(strstr(err.message, "unknown key \"?kkk"));
	assert_non_null(strstr(err.message, "...\""));
	assert_true(strlen(err.message) < 200);
	free(pub);

	/* An over-long URL. */
	memset(key, 'a', sizeof(key));
	key[sizeof(key) - 1] = '\0';
	assert_true(asprintf(&pub, "{\"vaultUrl\": \"https://%s\"}", key) > 0);
	assert_int_equal(build(pub, NULL, &req, &err), -EINVAL);
	assert_non_null(strstr(err.message, "longer than 2048"));
	free(pub);
}

/* ---- status rendering -------------------------------------------------- */

static struct json_object *status_of(struct json_object *root)
{
	struct json_object *st;

	assert_true(json_object_is_type(root, json_type_array));
	assert_int_equal(json_object_array_length(root), 1);
	assert_true(json_object_object_get_ex(json_object_array_get_idx(root, 0), "status", &st));
	return st;
}

static const char *str_at(struct json_object *o, const char *k)
{
	struct json_object *v;

	assert_true(json_object_object_get_ex(o, k, &v));
	assert_true(json_object_is_type(v, json_type_string));
	return json_object_get_string(v);
}

static void test_status_render_fields(void **state)
{
	struct vv_handler_result r = { 0 };
	struct json_object *root, *st, *item, *v, *subs, *fm;
	char *text = NULL;

	(void)state;
	vv_handler_result_add(&r, "data1", VV_HS_SUCCESS, 0, "opened as /dev/mapper/data1");
	vv_handler_result_add(&r, "data2", VV_HS_ERROR, 1, "wrong key\nfor volume \x01\xff");
	vv_handler_result_summarize(&r, "reopen");
	assert_int_equal(r.status, VV_HS_WARNING);
	assert_int_equal(r.code, 1);
	assert_int_equal(vv_handler_status_render("Vaultvol.Linux", "reopen", &r,
						  "2024-05-01T12:00:00Z", &text), 0);
	root = json_tokener_parse(text);
	assert_non_null(root);
	item = json_object_array_get_idx(root, 0);
	assert_string_equal(str_at(item, "version"), "1.0");
	assert_string_equal(str_at(item, "timestampUTC"), "2024-05-01T12:00:00Z");
	st = status_of(root);
	assert_string_equal(str_at(st, "name"), "Vaultvol.Linux");
	assert_string_equal(str_at(st, "operation"), "reopen");
	assert_string_equal(str_at(st, "status"), "warning");
	assert_true(json_object_object_get_ex(st, "code", &v));
	assert_int_equal(json_object_get_int(v), 1);
	assert_true(json_object_object_get_ex(st, "formattedMessage", &fm));
	assert_string_equal(str_at(fm, "lang"), "en-US");
	assert_non_null(strstr(str_at(fm, "message"), "1 of 2 volumes succeeded, 1 failed"));
	assert_true(json_object_object_get_ex(st, "substatus", &subs));
	assert_int_equal(json_object_array_length(subs), 2);
	v = json_object_array_get_idx(subs, 1);
	assert_string_equal(str_at(v, "name"), "data2");
	assert_string_equal(str_at(v, "status"), "error");
	assert_true(json_object_object_get_ex(v, "formattedMessage", &fm));
	/* Control bytes and non-ASCII never reach the file. */
	assert_string_equal(str_at(fm, "message"), "wrong key for volume ??");
	json_object_put(root);
	free(text);
	vv_handler_result_clear(&r);

	/* All failed -> error; none -> success. */
	vv_handler_result_add(&r, "a", VV_HS_ERROR, 1, "x");
	vv_handler_result_summarize(&r, "reopen");
	assert_int_equal(r.status, VV_HS_ERROR);
	vv_handler_result_clear(&r);
	vv_handler_result_summarize(&r, "reopen");
	assert_int_equal(r.status, VV_HS_SUCCESS);
	assert_int_equal(r.code, 0);
	vv_handler_result_clear(&r);
}

static void test_status_limits(void **state)
{
	struct vv_handler_result r = { 0 };
	struct json_object *root, *st, *fm, *subs;
	char big[3000], *text = NULL;

	(void)state;
	memset(big, 'm', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	vv_handler_result_set(&r, VV_HS_ERROR, 1, "%s", big);
	assert_int_equal(strlen(r.message), VV_HANDLER_MSG_MAX);
	/* 400 volumes with 1,000-character messages: ~400 KB unbounded. */
	for (int i = 0; i < 400; i++) {
		char name[24];

		snprintf(name, sizeof(name), "vol%d", i);
		assert_int_equal(vv_handler_result_add(&r, name, VV_HS_ERROR, 1, "%.1000s", big), 0);
	}
	assert_int_equal(vv_handler_status_render("n", "reopen", &r, "2024-05-01T12:00:00Z", &text), 0);
	assert_true(strlen(text) < VV_HANDLER_STATUS_MAX);
	root = json_tokener_parse(text);
	assert_non_null(root);
	st = status_of(root);
	assert_true(json_object_object_get_ex(st, "formattedMessage", &fm));
	assert_true(strlen(str_at(fm, "message")) <= VV_HANDLER_MSG_MAX);
	assert_true(json_object_object_get_ex(st, "substatus", &subs));
	assert_true(json_object_array_length(subs) > 0);
	json_object_put(root);
	free(text);

	/* Thousands of volumes: some are dropped and the message says so. */
	for (int i = 400; i < 3000; i++) {
		char name[24];

		snprintf(name, sizeof(name), "volume-%d", i);
		assert_int_equal(vv_handler_result_add(&r, name, VV_HS_ERROR, 1, "%.1000s", big), 0);
	}
	assert_int_equal(vv_handler_status_render("n", "reopen", &r, "2024-05-01T12:00:00Z", &text), 0);
	assert_true(strlen(text) < VV_HANDLER_STATUS_MAX);
	root = json_tokener_parse(text);
	st = status_of(root);
	assert_true(json_object_object_get_ex(st, "formattedMessage", &fm));
	assert_non_null(strstr(str_at(fm, "message"), "more volumes not listed"));
	assert_true(strlen(str_at(fm, "message")) <= VV_HANDLER_MSG_MAX);
	json_object_put(root);
	free(text);
	vv_handler_result_clear(&r);
}

static void test_utf8_cut_and_sanitize(void **state)
{
	char s[16], out[128];

	(void)state;
	strcpy(s, "ab\xc3\xa9" "cd");	/* "abécd": é is 2 bytes */
	vv_handler_utf8_cut(s, 3);
	assert_string_equal(s, "ab");
	strcpy(s, "ab\xc3\xa9" "cd");
	vv_handler_utf8_cut(s, 4);
	assert_string_equal(s, "ab\xc3\xa9");
	strcpy(s, "abc");
	vv_handler_utf8_cut(s, 10);
	assert_string_equal(s, "abc");

	vv_handler_sanitize("a\tb\xff", out, sizeof(out));
	assert_string_equal(out, "a?b?");
	{
		char longin[200];

		memset(longin, 'x', sizeof(longin));
		longin[199] = '\0';
		vv_handler_sanitize(longin, out, sizeof(out));
		assert_int_equal(strlen(out), 67);
		assert_string_equal(out + 64, "...");
		vv_handler_sanitize(longin, out, 10);
		assert_true(strlen(out) < 10);
	}
}

/* ---- status file, handled check, heartbeat --------------------------- */

static void test_status_write_and_handled(void **state)
{
	struct vv_handler_result r = { 0 };
	char *dir = mktmp(), path[512], *text;
	struct stat st;
	int code = -1;

	(void)state;
	assert_int_equal(vv_handler_status_handled(dir, 3, &code), 0);
	vv_handler_result_set(&r, VV_HS_TRANSITIONING, 0, "working");
	assert_int_equal(vv_handler_status_write(dir, 3, "n", "reopen", &r), 0);
	snprintf(path, sizeof(path), "%s/3.status", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(vv_handler_status_handled(dir, 3, &code), 0);

	vv_handler_result_set(&r, VV_HS_ERROR, 2, "invalid settings");
	assert_int_equal(vv_handler_status_write(dir, 3, "n", "enable", &r), 0);
	assert_int_equal(vv_handler_status_handled(dir, 3, &code), 1);
	assert_int_equal(code, 2);

	vv_handler_result_set(&r, VV_HS_SUCCESS, 0, "ok");
	assert_int_equal(vv_handler_status_write(dir, 3, "n", "disable", &r), 0);
	assert_int_equal(vv_handler_status_handled(dir, 3, &code), 0);
	assert_int_equal(vv_handler_status_write(dir, 3, "n", "reopen", &r), 0);
	assert_int_equal(vv_handler_status_handled(dir, 3, &code), 1);
	assert_int_equal(code, 0);
	/* No temp files left behind. */
	assert_int_equal(sh("test $(ls -A '%s' | wc -l) -eq 1", dir), 0);

	write_file(path, "garbage");
	assert_int_equal(vv_handler_status_handled(dir, 3, &code), 0);
	write_file(path, "[{\"status\": {\"operation\": \"reopen\", \"status\": \"success\"}}]");
	assert_int_equal(vv_handler_status_handled(dir, 3, &code), 1);
	assert_int_equal(code, 0);

	snprintf(path, sizeof(path), "%s/hb.json", dir);
	assert_int_equal(vv_handler_heartbeat_write(path, "ready", 0, "all good"), 0);
	text = read_text(path);
	assert_non_null(text);
	{
		struct json_object *root = json_tokener_parse(text), *item, *hb, *v;

		assert_non_null(root);
		item = json_object_array_get_idx(root, 0);
		assert_true(json_object_object_get_ex(item, "version", &v));
		assert_true(json_object_is_type(v, json_type_double));
		assert_true(json_object_object_get_ex(item, "heartbeat", &hb));
		assert_string_equal(str_at(hb, "status"), "ready");
		assert_string_equal(str_at(hb, "Message"), "all good");
		assert_true(json_object_object_get_ex(hb, "code", &v));
		assert_int_equal(json_object_get_int(v), 0);
		json_object_put(root);
	}
	free(text);
	vv_handler_result_clear(&r);
	sh("rm -rf '%s'", dir);
	free(dir);
}

/* ---- CMS-encrypted protected settings ---------------------------------- */

struct certs {
	char *dir;
	char thumb[41];		/* the waagent certificate */
	char other[41];		/* a certificate waagent does not have */
};

static void thumbprint_of(const char *pem, char out[41])
{
	char cmd[1024];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "openssl x509 -in '%s' -noout -fingerprint -sha1 | "
		 "sed 's/.*=//; s/://g'", pem);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, 41, p));
	pclose(p);
	assert_int_equal(strlen(out), 40);
}

static void make_certs(struct certs *c)
{
	c->dir = mktmp();
	assert_int_equal(sh("cd '%s' && mkdir waagent && "
			    "openssl req -x509 -newkey rsa:2048 -nodes -keyout a.key -out a.crt "
			    "-subj /CN=vv-test-a -days 2 2>/dev/null && "
			    "openssl req -x509 -newkey rsa:2048 -nodes -keyout b.key -out b.crt "
			    "-subj /CN=vv-test-b -days 2 2>/dev/null", c->dir), 0);
	{
		char p[512];

		snprintf(p, sizeof(p), "%s/a.crt", c->dir);
		thumbprint_of(p, c->thumb);
		snprintf(p, sizeof(p), "%s/b.crt", c->dir);
		thumbprint_of(p, c->other);
	}
	assert_int_equal(sh("cd '%s' && cp a.crt waagent/%s.crt && cp a.key waagent/%s.prv",
			    c->dir, c->thumb, c->thumb), 0);
}

/* base64 of CMS EnvelopedData of plain for cert (a.crt or b.crt); malloc'ed. */
static char *encrypt_for(const struct certs *c, const char *cert, const char *plain)
{
	char path[512], cmd[1024], *out = malloc(65536);
	FILE *p;
	size_t n;

	assert_non_null(out);
	snprintf(path, sizeof(path), "%s/plain", c->dir);
	write_file(path, plain);
	snprintf(cmd, sizeof(cmd), "openssl cms -encrypt -binary -outform DER -aes256 -in '%s' "
		 "'%s/%s' | base64 -w0", path, c->dir, cert);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, 65535, p);
	out[n] = '\0';
	pclose(p);
	unlink(path);
	assert_true(n > 100);
	return out;
}

static void test_cms_decrypt(void **state)
{
	struct certs c;
	struct vv_secret *plain = NULL;
	struct vv_error err = { 0 };
	char wa[512], lower[41];
	char *b64;

	(void)state;
	make_certs(&c);
	snprintf(wa, sizeof(wa), "%s/waagent", c.dir);

	b64 = encrypt_for(&c, "a.crt", "{\"aadClientSecret\": \"xyz\"}");
	assert_int_equal(vv_handler_decrypt(wa, c.thumb, b64, &plain, &err), 0);
	assert_string_equal((const char *)plain->data, "{\"aadClientSecret\": \"xyz\"}");
	vv_secret_free(plain);
	plain = NULL;
	/* A lower-case thumbprint finds the upper-case files. */
	for (int i = 0; i < 41; i++)
		lower[i] = (char)(c.thumb[i] >= 'A' && c.thumb[i] <= 'F' ? c.thumb[i] + 32 : c.thumb[i]);
	assert_int_equal(vv_handler_decrypt(wa, lower, b64, &plain, &err), 0);
	vv_secret_free(plain);
	plain = NULL;

	/* Hostile inputs. */
	assert_int_equal(vv_handler_decrypt(wa, c.thumb, "not*base64", &plain, &err), -EINVAL);
	assert_non_null(strstr(err.message, "not valid base64"));
	assert_int_equal(vv_handler_decrypt(wa, c.thumb, "TWFu", &plain, &err), -EINVAL);
	assert_non_null(strstr(err.message, "not DER CMS EnvelopedData"));
	assert_int_equal(vv_handler_decrypt(wa, "../../etc/passwd", b64, &plain, &err), -EINVAL);
	assert_non_null(strstr(err.message, "not 40 hex digits"));
	assert_int_equal(vv_handler_decrypt(wa, c.other, b64, &plain, &err), -ENOENT);
	/* was "...<OTHER>.crt: not found"; the whole message: test_cms_missing_certificate */
	assert_non_null(strstr(err.message, "which is not in"));
	free(b64);

	/* Encrypted to a certificate we do not hold. */
	b64 = encrypt_for(&c, "b.crt", "{}");
	assert_int_equal(vv_handler_decrypt(wa, c.thumb, b64, &plain, &err), -EACCES);
	assert_non_null(strstr(err.message, "not encrypted to certificate"));
	/* A certificate file that is not the one its name claims. */
	assert_int_equal(sh("cd '%s' && cp b.crt waagent/%s.crt && cp b.key waagent/%s.prv",
			    c.dir, c.other, c.thumb), 0);
	assert_int_equal(vv_handler_decrypt(wa, c.thumb, b64, &plain, &err), -EINVAL);
	assert_non_null(strstr(err.message, "does not belong"));
	assert_int_equal(sh("cd '%s' && cp a.crt waagent/%s.crt", c.dir, c.other), 0);
	assert_int_equal(vv_handler_decrypt(wa, c.other, b64, &plain, &err), -EINVAL);
	assert_non_null(strstr(err.message, "does not match thumbprint"));
	assert_null(plain);
	free(b64);
	sh("rm -rf '%s'", c.dir);
	free(c.dir);
}

/*
 * Settings encrypted to a certificate waagent did not write: the message
 * says what happened, which certificates this VM has, and the fix.
 */
static void test_cms_missing_certificate(void **state)
{
	static const char fix[] = "the settings were made for another VM or before its "
		"certificate changed; apply the extension settings again so the platform "
		"encrypts them to the certificate of this VM";
	struct vv_secret *plain = NULL;
	struct vv_error err = { 0 };
	struct certs c;
	char wa[512], want[2048], z[3][41];
	char *b64;

	(void)state;
	make_certs(&c);
	snprintf(wa, sizeof(wa), "%s/waagent", c.dir);
	b64 = encrypt_for(&c, "b.crt", "{}");

	/* one certificate on this VM */
	assert_int_equal(vv_handler_decrypt(wa, c.other, b64, &plain, &err), -ENOENT);
	assert_int_equal(err.cause, VV_CAUSE_NOT_FOUND);
	snprintf(want, sizeof(want), "protected settings are encrypted to certificate %s, which "
		 "is not in %s (this VM has 1 certificate: %s): %s", c.other, wa, c.thumb, fix);
	assert_string_equal(err.message, want);
	assert_null(strchr(err.message, '\''));	/* scripts single-quote it */

	/* four: the first three in name order (a lower-case name shown upper), then "..." */
	for (int i = 0; i < 3; i++)
		snprintf(z[i], sizeof(z[i]), "%039d%c", 0, i == 2 ? 'a' : '0' + i);
	assert_int_equal(sh("cd '%s/waagent' && : >%s.crt && : >%s.crt && : >%s.crt && "
			    ": >TransportCert.pem && : >short.crt && : >%.39sX.crt && "
			    ": >%s.prv", c.dir, z[2], z[0], z[1], c.other, c.other), 0);
	z[2][39] = 'A';
	assert_int_equal(vv_handler_decrypt(wa, c.other, b64, &plain, &err), -ENOENT);
	snprintf(want, sizeof(want), "protected settings are encrypted to certificate %s, which "
		 "is not in %s (this VM has 4 certificates: %s, %s, %s, ...): %s", c.other, wa,
		 z[0], z[1], z[2], fix);
	assert_string_equal(err.message, want);

	/* none at all, and a waagent directory that is not there */
	assert_int_equal(sh("rm -f '%s'/waagent/*.crt", c.dir), 0);
	assert_int_equal(vv_handler_decrypt(wa, c.other, b64, &plain, &err), -ENOENT);
	snprintf(want, sizeof(want), "protected settings are encrypted to certificate %s, which "
		 "is not in %s (this VM has 0 certificates): %s", c.other, wa, fix);
	assert_string_equal(err.message, want);
	assert_int_equal(vv_handler_decrypt("/nonexistent/waagent", c.other, b64, &plain, &err),
			 -ENOENT);
	assert_non_null(strstr(err.message, "which is not in /nonexistent/waagent (this VM has "
			       "0 certificates)"));

	/* the certificate without its private key */
	assert_int_equal(sh("cd '%s' && cp b.crt waagent/%s.crt && rm -f waagent/%s.prv", c.dir,
			    c.other, c.other), 0);
	assert_int_equal(vv_handler_decrypt(wa, c.other, b64, &plain, &err), -ENOENT);
	snprintf(want, sizeof(want), "protected settings certificate %s is in %s but its private "
		 "key %s/%s.prv is not: waagent writes both from the certificates of the goal "
		 "state; restart waagent so it writes them again", c.other, wa, wa, c.other);
	assert_string_equal(err.message, want);
	assert_null(plain);
	free(b64);
	sh("rm -rf '%s'", c.dir);
	free(c.dir);
}

/* ---- the enable flow with stand-in operations ------------------------- */

static int fake_calls;
static enum vv_handler_op fake_last_op;

static int fake_op(const struct vv_handler_ctx *ctx, const struct vv_handler_request *req,
		   struct vv_handler_result *res)
{
	fake_calls++;
	fake_last_op = req->op;
	assert_non_null(ctx->env);
	if (req->vault_url)
		assert_string_equal(ctx->opt->vault_url, req->vault_url);
	for (size_t i = 0; i < req->nvolumes; i++) {
		bool bad = strncmp(req->volumes[i].name, "bad", 3) == 0;

		vv_handler_result_add(res, req->volumes[i].name, bad ? VV_HS_ERROR : VV_HS_SUCCESS,
				      bad ? 1 : 0, bad ? "failed: no such disk" : "opened");
	}
	return 0;
}

static const struct vv_handler_ops fake_ops = {
	.reopen = fake_op, .provision = fake_op, .rotate = fake_op, .snapshot = NULL,
};

struct tree {
	struct certs c;
	char hdir[256], wa[256], cfg[512], status[512], logs[512], hb[512];
};

static void make_tree(struct tree *t)
{
	char path[600];

	make_certs(&t->c);
	snprintf(t->wa, sizeof(t->wa), "%s/waagent", t->c.dir);
	snprintf(t->hdir, sizeof(t->hdir), "%s/waagent/Vaultvol.Linux-0.1.0", t->c.dir);
	snprintf(t->cfg, sizeof(t->cfg), "%s/config", t->hdir);
	snprintf(t->status, sizeof(t->status), "%s/status", t->hdir);
	snprintf(t->logs, sizeof(t->logs), "%s/log", t->c.dir);
	snprintf(t->hb, sizeof(t->hb), "%s/heartbeat.log", t->hdir);
	assert_int_equal(sh("mkdir -p '%s'", t->cfg), 0);
	snprintf(path, sizeof(path), "%s/HandlerEnvironment.json", t->hdir);
	{
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fprintf(f, "[{\"name\": \"Vaultvol.Linux\", \"version\": \"1.0\", \"handlerEnvironment\": "
			"{\"logFolder\": \"%s\", \"configFolder\": \"%s\", \"statusFolder\": \"%s\", "
			"\"heartbeatFile\": \"%s\"}}]", t->logs, t->cfg, t->status, t->hb);
		fclose(f);
	}
}

static void put_settings(struct tree *t, int seq, const char *pub, const char *prot)
{
	char path[600], *b64 = prot ? encrypt_for(&t->c, "a.crt", prot) : NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%d.settings", t->cfg, seq);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "{\"runtimeSettings\": [{\"handlerSettings\": {");
	if (b64)
		fprintf(f, "\"protectedSettingsCertThumbprint\": \"%s\", \"protectedSettings\": \"%s\", ",
			t->c.thumb, b64);
	fprintf(f, "\"publicSettings\": %s}}]}", pub ? pub : "null");
	fclose(f);
	free(b64);
}

static struct json_object *read_status(struct tree *t, int seq)
{
	char path[600], *text;
	struct json_object *o;

	snprintf(path, sizeof(path), "%s/%d.status", t->status, seq);
	text = read_text(path);
	assert_non_null(text);
	o = json_tokener_parse(text);
	assert_non_null(o);
	free(text);
	return o;
}

static void test_enable_flow(void **state)
{
	struct vv_options opt = { .config_path = "/nonexistent", .state_dir = "/nonexistent" };
	struct vv_handler_args a = { .ops = &fake_ops };
	struct json_object *root, *st, *subs, *fm;
	struct tree t;
	char path[600], *before, *after, *log;
	struct stat s1, s2;

	(void)state;
	make_tree(&t);
	a.handler_dir = t.hdir;
	a.waagent_dir = t.wa;

	/* No settings yet: nothing to do, success. */
	assert_int_equal(vv_handler_install(&opt, &a), VV_EXIT_OK);
	assert_int_equal(vv_handler_enable(&opt, &a), VV_EXIT_OK);
	assert_int_equal(fake_calls, 0);

	put_settings(&t, 0, "{\"operation\": \"reopen\", \"volumes\": [\"data1\", \"bad2\"],"
		     "\"vaultUrl\": \"https://v.example\", \"aadClientId\": \"app\"}",
		     "{\"aadClientSecret\": \"VV-PROTECTED-SECRET-7\"}");
	assert_int_equal(vv_handler_enable(&opt, &a), VV_EXIT_FAILURE);
	assert_int_equal(fake_calls, 1);
	root = read_status(&t, 0);
	st = status_of(root);
	assert_string_equal(str_at(st, "operation"), "reopen");
	assert_string_equal(str_at(st, "status"), "warning");
	assert_true(json_object_object_get_ex(st, "substatus", &subs));
	assert_int_equal(json_object_array_length(subs), 2);
	assert_string_equal(str_at(json_object_array_get_idx(subs, 0), "status"), "success");
	assert_string_equal(str_at(json_object_array_get_idx(subs, 1), "status"), "error");
	json_object_put(root);

	/* The same sequence number again: not redone, file untouched. */
	snprintf(path, sizeof(path), "%s/0.status", t.status);
	before = read_text(path);
	assert_int_equal(stat(path, &s1), 0);
	usleep(20000);
	assert_int_equal(vv_handler_enable(&opt, &a), VV_EXIT_FAILURE);
	assert_int_equal(fake_calls, 1);
	assert_int_equal(stat(path, &s2), 0);
	after = read_text(path);
	assert_string_equal(before, after);
	assert_true(s1.st_mtim.tv_sec == s2.st_mtim.tv_sec && s1.st_mtim.tv_nsec == s2.st_mtim.tv_nsec);
	free(before);
	free(after);
	/* disable keeps the status; enable after it still skips. */
	assert_int_equal(vv_handler_disable(&opt, &a), VV_EXIT_OK);
	assert_int_equal(vv_handler_enable(&opt, &a), VV_EXIT_FAILURE);
	assert_int_equal(fake_calls, 1);

	/* Newer settings, all good. */
	put_settings(&t, 1, "{\"volumes\": [\"data1\"]}", NULL);
	assert_int_equal(vv_handler_enable(&opt, &a), VV_EXIT_OK);
	assert_int_equal(fake_calls, 2);
	root = read_status(&t, 1);
	st = status_of(root);
	assert_string_equal(str_at(st, "status"), "success");
	json_object_put(root);

	/* Invalid settings: the operation never runs; the status names the problem. */
	put_settings(&t, 2, "{\"volumes\": \"data1\"}", NULL);
	assert_int_equal(vv_handler_enable(&opt, &a), VV_EXIT_USAGE);
	assert_int_equal(fake_calls, 2);
	root = read_status(&t, 2);
	st = status_of(root);
	assert_string_equal(str_at(st, "status"), "error");
	assert_string_equal(str_at(st, "operation"), "enable");
	assert_true(json_object_object_get_ex(st, "formattedMessage", &fm));
	assert_non_null(strstr(str_at(fm, "message"), "volumes must be an array"));
	assert_true(json_object_object_get_ex(st, "substatus", &subs));
	assert_int_equal(json_object_array_length(subs), 0);
	json_object_put(root);

	/* Protected plaintext that is not JSON. */
	put_settings(&t, 3, "{}", "VV-PROTECTED-SECRET-8 not json");
	assert_int_equal(vv_handler_enable(&opt, &a), VV_EXIT_USAGE);
	assert_int_equal(fake_calls, 2);
	root = read_status(&t, 3);
	assert_true(json_object_object_get_ex(status_of(root), "formattedMessage", &fm));
	assert_non_null(strstr(str_at(fm, "message"), "protectedSettings: malformed JSON"));
	json_object_put(root);

	/* An operation this build lacks (stand-in table has no snapshot). */
	put_settings(&t, 4, "{\"operation\": \"snapshot\", \"serviceUrl\": \"http://127.0.0.1:1\"}", NULL);
	assert_int_equal(vv_handler_enable(&opt, &a), VV_EXIT_FAILURE);
	assert_int_equal(fake_calls, 2);
	root = read_status(&t, 4);
	assert_string_equal(str_at(status_of(root), "status"), "error");
	json_object_put(root);

	/* ConfigSequenceNumber selects an older one; handled -> not redone. */
	a.seq_env = "1";
	assert_int_equal(vv_handler_enable(&opt, &a), VV_EXIT_OK);
	assert_int_equal(fake_calls, 2);
	a.seq_env = "9";
	assert_int_equal(vv_handler_enable(&opt, &a), VV_EXIT_USAGE);
	root = read_status(&t, 9);
	assert_true(json_object_object_get_ex(status_of(root), "formattedMessage", &fm));
	assert_non_null(strstr(str_at(fm, "message"), "9.settings"));
	json_object_put(root);
	a.seq_env = NULL;

	/* Heartbeat present, log written, and no secret anywhere. */
	assert_int_equal(access(t.hb, F_OK), 0);
	snprintf(path, sizeof(path), "%s/" VV_HANDLER_LOG_NAME, t.logs);
	log = read_text(path);
	assert_non_null(log);
	assert_non_null(strstr(log, "already handled"));
	free(log);
	assert_int_equal(sh("! grep -r -q VV-PROTECTED-SECRET '%s' '%s'", t.status, t.logs), 0);
	assert_int_equal(sh("! grep -q VV-PROTECTED-SECRET '%s'", t.hb), 0);

	/* A missing HandlerEnvironment.json is a usage error. */
	unlink(strcat(strcpy(path, t.hdir), "/HandlerEnvironment.json"));
	assert_int_equal(vv_handler_enable(&opt, &a), VV_EXIT_USAGE);
	sh("rm -rf '%s'", t.c.dir);
	free(t.c.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env_parse),
		cmocka_unit_test(test_env_load_and_find_dir),
		cmocka_unit_test(test_pick_seq),
		cmocka_unit_test(test_settings_parse),
		cmocka_unit_test(test_settings_load_size_cap),
		cmocka_unit_test(test_schema_good),
		cmocka_unit_test(test_schema_hostile),
		cmocka_unit_test(test_schema_limits),
		cmocka_unit_test(test_status_render_fields),
		cmocka_unit_test(test_status_limits),
		cmocka_unit_test(test_utf8_cut_and_sanitize),
		cmocka_unit_test(test_status_write_and_handled),
		cmocka_unit_test(test_cms_decrypt),
		cmocka_unit_test(test_cms_missing_certificate),
		cmocka_unit_test(test_enable_flow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
