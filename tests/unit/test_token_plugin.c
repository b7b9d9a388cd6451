// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The token plugin (plugin/): validate through its ABI entry point, the
 * errno table, dump, open from the keystore and its refusals (a local
 * file, an untrusted vault, a malformed token, a bad config), the memo of
 * a failed answer, and base/log.c's sink that hands messages to
 * libcryptsetup. The whole plugin under cryptsetup: tests/suites/token-plugin.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "keysrc_helpers.h"
#include "base/log.h"
#include "plugin/plugin.h"
#include "vault/keystore.h"

/* The ABI entry points (plugin/token_abi.c), as libcryptsetup calls them. */
struct crypt_device;
int cryptsetup_token_validate(struct crypt_device *cd, const char *json);
void cryptsetup_token_buffer_free(void *buffer, size_t buffer_len);
const char *cryptsetup_token_version(void);

#define GOOD "{\"type\":\"vaultvol\",\"keyslots\":[\"1\"],\"vv_version\":1," \
	"\"key\":\"https://v.vault.azure.net/secrets/data1/0123abcd\"," \
	"\"kek\":\"https://v.vault.azure.net/keys/kek/99ff\",\"alg\":\"RSA-OAEP\"," \
	"\"name\":\"data1\",\"mount\":\"/data\",\"fs\":\"ext4\"}"

/* ---- what the plugin logs, captured through the sink --------------------- */

static char logged[16384];
static int logged_err;

static void capture(enum vv_log_level lvl, const char *msg, void *ctx)
{
	(void)ctx;
	if (lvl == VV_LOG_ERR)
		logged_err++;
	strncat(logged, msg, sizeof(logged) - strlen(logged) - 2);
	strcat(logged, "\n");
}

static void capture_on(void)
{
	logged[0] = '\0';
	logged_err = 0;
	vv_log_set_sink(capture, NULL);
}

static void test_log_sink(void **state)
{
	(void)state;
	capture_on();
	vv_err("volume %s failed", "d1");
	vv_debug("below the level: not passed on");
	assert_string_equal(logged, "volume d1 failed\n");
	assert_int_equal(logged_err, 1);
	vv_log_set_sink(NULL, NULL);
	vv_err("to stderr again");
	assert_string_equal(logged, "volume d1 failed\n");
}

/* ---- validate ---------------------------------------------------------------- */

static void test_validate(void **state)
{
	static const char *const bad[] = {
		NULL,
		"",
		"not json",
		/* a format this vaultvol does not know */
		"{\"type\":\"vaultvol\",\"keyslots\":[\"1\"],\"vv_version\":2,\"key\":\"k\",\"name\":\"d\"}",
		/* two keyslots */
		"{\"type\":\"vaultvol\",\"keyslots\":[\"1\",\"2\"],\"vv_version\":1,\"key\":\"k\",\"name\":\"d\"}",
		/* no key */
		"{\"type\":\"vaultvol\",\"keyslots\":[\"1\"],\"vv_version\":1,\"name\":\"d\"}",
		/* a mapper name no volume may have */
		"{\"type\":\"vaultvol\",\"keyslots\":[\"1\"],\"vv_version\":1,\"key\":\"k\",\"name\":\"../x\"}",
		/* an algorithm without a KEK */
		"{\"type\":\"vaultvol\",\"keyslots\":[\"1\"],\"vv_version\":1,\"key\":\"k\",\"name\":\"d\","
		"\"alg\":\"RSA-OAEP\"}",
		/* a second document after the first */
		"{\"type\":\"vaultvol\",\"keyslots\":[\"1\"],\"vv_version\":1,\"key\":\"k\",\"name\":\"d\"}{}",
		/* another token type */
		"{\"type\":\"luks2-keyring\",\"keyslots\":[\"1\"],\"key_description\":\"x\"}",
	};

	(void)state;
	assert_int_equal(cryptsetup_token_validate(NULL, GOOD), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("bad[%zu]\n", i);
		assert_int_equal(cryptsetup_token_validate(NULL, bad[i]), -EINVAL);
	}
	assert_string_equal(cryptsetup_token_version(), VV_VERSION);
}

/* ---- the errno libcryptsetup gets ---------------------------------------------- */

static void test_errno_table(void **state)
{
	static const struct {
		const char *ref;
		int rc;
		enum vv_cause cause;
		int want;
	} t[] = {
		{ "https://v.vault.azure.net/secrets/d", -EIO, VV_CAUSE_UNAVAILABLE, -EAGAIN },
		{ "https://v.vault.azure.net/secrets/d", -EIO, VV_CAUSE_THROTTLED, -EAGAIN },
		{ "https://v.vault.azure.net/secrets/d", -EIO, VV_CAUSE_BAD_RESPONSE, -EAGAIN },
		{ "d1", -EIO, VV_CAUSE_UNAVAILABLE, -EAGAIN },
		/* the BEK VOLUME is a disk: waiting does not bring it */
		{ "bek:", -ENOENT, VV_CAUSE_UNAVAILABLE, -ENOENT },
		{ "https://v.vault.azure.net/secrets/d", -EIO, VV_CAUSE_CRYPTO, -EPERM },
		{ "https://v.vault.azure.net/secrets/d", -ENOENT, VV_CAUSE_NOT_FOUND, -ENOENT },
		{ "https://v.vault.azure.net/secrets/d", -EACCES, VV_CAUSE_FORBIDDEN, -ENOENT },
		{ "https://v.vault.azure.net/secrets/d", -EACCES, VV_CAUSE_UNAUTHORIZED, -ENOENT },
		{ "https://rogue.example.net/secrets/d", -EPERM, VV_CAUSE_UNTRUSTED, -ENOENT },
		{ "keystore:d", -EINVAL, VV_CAUSE_CONFIG, -ENOENT },
		{ "keystore:d", -EIO, VV_CAUSE_SYSTEM, -ENOENT },
		/* anything else would stop libcryptsetup's token loop: only this may */
		{ "keystore:d", -ENOMEM, VV_CAUSE_SYSTEM, -ENOMEM },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		print_message("row %zu\n", i);
		assert_int_equal(vv_plugin_errno(t[i].ref, t[i].rc, t[i].cause), t[i].want);
	}
}

/* ---- dump ----------------------------------------------------------------------- */

static void collect(const char *text, void *ctx)
{
	char *buf = ctx;

	strncat(buf, text, 4096 - strlen(buf) - 2);
	strcat(buf, "\n");
}

static void test_dump(void **state)
{
	char buf[4096] = "";

	(void)state;
	vv_plugin_dump(GOOD, collect, buf);
	assert_non_null(strstr(buf, "\tvaultvol key:     https://v.vault.azure.net/secrets/data1/0123abcd\n"));
	assert_non_null(strstr(buf, "\tvaultvol key version: 0123abcd\n"));
	assert_non_null(strstr(buf, "\tvaultvol kek:     https://v.vault.azure.net/keys/kek/99ff\n"));
	assert_non_null(strstr(buf, "\tvaultvol alg:     RSA-OAEP\n"));
	assert_non_null(strstr(buf, "\tvaultvol name:    data1\n"));
	assert_non_null(strstr(buf, "\tvaultvol mount:   /data (ext4, defaults)\n"));

	buf[0] = '\0';
	vv_plugin_dump("{\"type\":\"vaultvol\",\"keyslots\":[\"0\"],\"vv_version\":1,"
		       "\"key\":\"keystore:d1\",\"name\":\"d1\",\"retire\":{\"keyslot\":\"1\","
		       "\"key\":\"keystore:d1/aa\"}}", collect, buf);
	assert_non_null(strstr(buf, "key version: latest (not pinned"));
	assert_non_null(strstr(buf, "\tvaultvol kek:     none (the key is not wrapped)\n"));
	assert_non_null(strstr(buf, "\tvaultvol retire:  keyslot 1, key keystore:d1/aa"));

	buf[0] = '\0';
	vv_plugin_dump("{\"type\":\"vaultvol\"}", collect, buf);
	assert_string_equal(buf, "\tvaultvol:   malformed token (vaultvol refuses it)\n");
}

/* ---- open ----------------------------------------------------------------------- */

struct fixture {
	char *tmp;		/* first: kt_dir_teardown() frees it */
	char conf[512], keys[512], json[1024];
	char *ref;
};

/* "Passphrase" as Key Vault and the keystore hold it: base64 once (ADE). */
#define KEY_TEXT "plugin-test-passphrase-0123456789"
#define KEY_B64 "cGx1Z2luLXRlc3QtcGFzc3BocmFzZS0wMTIzNDU2Nzg5"

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct vv_error err = { 0 };
	struct vv_secret *v;
	char text[700];
	int r;

	if (!f || !(f->tmp = kt_mkdtemp("plugin")))
		return -1;
	snprintf(f->keys, sizeof(f->keys), "%s/keys", f->tmp);
	snprintf(f->conf, sizeof(f->conf), "%s/vaultvol.conf", f->tmp);
	snprintf(text, sizeof(text), "[vault]\nkeystore = %s\n", f->keys);
	if (kt_write(f->conf, text, strlen(text), 0600) < 0)
		return -1;
	v = vv_secret_from(KEY_B64, strlen(KEY_B64));
	r = vv_keystore_put(f->keys, "d1", v, "BEK", NULL, 0, &f->ref, &err);
	vv_secret_free(v);
	if (r < 0)
		return -1;
	snprintf(f->json, sizeof(f->json), "{\"type\":\"vaultvol\",\"keyslots\":[\"0\"],"
		 "\"vv_version\":1,\"key\":\"%s\",\"name\":\"d1\"}", f->ref);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vv_log_set_sink(NULL, NULL);
	free(f->ref);
	return kt_dir_teardown(state);
}

static void test_open_keystore(void **state)
{
	struct fixture *f = *state;
	struct vv_secret *key = NULL;

	capture_on();
	assert_int_equal(vv_plugin_open("/dev/vdx", f->json, f->conf, &key), 0);
	assert_non_null(key);
	assert_int_equal(key->len, strlen(KEY_TEXT));
	assert_memory_equal(key->data, KEY_TEXT, key->len);
	vv_secret_free(key);
	assert_non_null(strstr(logged, "/dev/vdx: volume d1: key keystore:d1/"));
	assert_null(strstr(logged, KEY_TEXT));
	assert_null(strstr(logged, KEY_B64));
	assert_int_equal(logged_err, 0);
}

/*
 * open with json and config conf refuses: -ENOENT, no key, and the log has
 * both phrases (the second may be NULL).
 */
static void expect_refused(const char *json, const char *conf, const char *said,
			   const char *said2)
{
	struct vv_secret *key = NULL;

	capture_on();
	assert_int_equal(vv_plugin_open("/dev/vdx", json, conf, &key), -ENOENT);
	assert_null(key);
	assert_non_null(strstr(logged, said));
	if (said2)
		assert_non_null(strstr(logged, said2));
}

/* A token naming a local file is refused before the file is read, even one that would open. */
static void test_open_local_file(void **state)
{
	struct fixture *f = *state;
	char path[600], json[1024];

	snprintf(path, sizeof(path), "%s/bek", f->tmp);
	assert_int_equal(kt_write(path, KEY_B64, strlen(KEY_B64), 0600), 0);
	snprintf(json, sizeof(json), "{\"type\":\"vaultvol\",\"keyslots\":[\"0\"],"
		 "\"vv_version\":1,\"key\":\"file:%s\",\"name\":\"d1\"}", path);
	expect_refused(json, f->conf, "/dev/vdx: the token of volume d1 names the local file 'file:",
		       "refused, nothing was read");
}

/* A vault no trusted configuration names: -ENOENT, said with the host and the fix. */
static void test_open_untrusted(void **state)
{
	struct fixture *f = *state;

	expect_refused("{\"type\":\"vaultvol\",\"keyslots\":[\"0\"],\"vv_version\":1,"
		       "\"key\":\"https://rogue.example.net/secrets/x/0123456789abcdef0123456789abcdef\","
		       "\"name\":\"d1\"}", f->conf,
		       "/dev/vdx: volume d1: no key access (untrusted-vault)",
		       "https://rogue.example.net is not a trusted vault");
}

static void test_open_malformed_and_bad_config(void **state)
{
	struct fixture *f = *state;
	char bad[600];

	expect_refused("{\"type\":\"vaultvol\"}", f->conf,
		       "/dev/vdx: the vaultvol token is malformed", NULL);
	snprintf(bad, sizeof(bad), "%s/bad.conf", f->tmp);
	assert_int_equal(kt_write(bad, "[vault]\nnosuchkey = 1\n", 22, 0600), 0);
	expect_refused(f->json, bad, "/dev/vdx: volume d1 not unlocked by its vaultvol token: ",
		       "bad.conf:2");
}

/* ---- the memo of a failed answer, and buffers not ours --------------------------- */

static void test_memo(void **state)
{
	int a = 0, b = 0;

	(void)state;
	vv_plugin_memo_put(&a, 0, GOOD, -EAGAIN, 1000);
	assert_int_equal(vv_plugin_memo_get(&a, 0, GOOD, 1000), -EAGAIN);
	assert_int_equal(vv_plugin_memo_get(&a, 0, GOOD, 1000 + VV_PLUGIN_MEMO_MS), -EAGAIN);
	assert_int_equal(vv_plugin_memo_get(&a, 0, GOOD, 1001 + VV_PLUGIN_MEMO_MS), 0);
	assert_int_equal(vv_plugin_memo_get(&a, 0, GOOD, 999), 0);	/* clock went back */
	assert_int_equal(vv_plugin_memo_get(&b, 0, GOOD, 1500), 0);	/* another device */
	assert_int_equal(vv_plugin_memo_get(&a, 1, GOOD, 1500), 0);	/* another token */
	assert_int_equal(vv_plugin_memo_get(&a, 0, "{}", 1500), 0);	/* another JSON */
	/* a success is not remembered, and forgets the failure */
	vv_plugin_memo_put(&a, 0, GOOD, 0, 1200);
	assert_int_equal(vv_plugin_memo_get(&a, 0, GOOD, 1300), 0);
}

static void test_buffer_free_foreign(void **state)
{
	char buf[32];

	(void)state;
	memset(buf, 'k', sizeof(buf));
	cryptsetup_token_buffer_free(buf, sizeof(buf));
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
	cryptsetup_token_buffer_free(NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_sink),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_errno_table),
		cmocka_unit_test(test_dump),
		cmocka_unit_test_setup_teardown(test_open_keystore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_local_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_untrusted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_malformed_and_bad_config, setup, teardown),
		cmocka_unit_test(test_memo),
		cmocka_unit_test(test_buffer_free_foreign),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
