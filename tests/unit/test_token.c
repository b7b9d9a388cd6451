// SPDX-License-Identifier: GPL-2.0-or-later
/* The vaultvol LUKS2 token: JSON round trip, strict parsing, on-disk read/write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <libcryptsetup.h>

#include "agent/volume/discover.h"
#include "agent/volume/luks2_token.h"
#include "tests/unit/luks_craft.h"

static const char full_json[] =
	"{\"type\":\"vaultvol\",\"keyslots\":[\"1\"],\"vv_version\":1,"
	"\"key\":\"https://v.vault.azure.net/secrets/data1/0123abcd\","
	"\"kek\":\"https://v.vault.azure.net/keys/kek/99ff\","
	"\"alg\":\"RSA-OAEP\",\"name\":\"data1\",\"mount\":\"/data\","
	"\"fs\":\"ext4\",\"options\":\"defaults,noatime\"}";

static void test_parse_full(void **state)
{
	struct vv_token t;

	(void)state;
	assert_int_equal(vv_token_from_json(full_json, &t), 0);
	assert_int_equal(t.keyslot, 1);
	assert_int_equal(t.token_id, -1);
	assert_string_equal(t.key, "https://v.vault.azure.net/secrets/data1/0123abcd");
	assert_string_equal(t.kek, "https://v.vault.azure.net/keys/kek/99ff");
	assert_string_equal(t.alg, "RSA-OAEP");
	assert_string_equal(t.name, "data1");
	assert_string_equal(t.mount, "/data");
	assert_string_equal(t.fs, "ext4");
	assert_string_equal(t.options, "defaults,noatime");
	vv_token_clear(&t);
	assert_null(t.key);
	assert_int_equal(t.keyslot, -1);
}

static void test_round_trip(void **state)
{
	struct vv_token a = {
		.token_id = -1, .keyslot = 7,
		.key = "keystore:data-1/0123456789abcdef0123456789abcdef",
		.kek = "keystore-kek:kek1", .alg = "RSA-OAEP-256",
		.name = "data-1", .mount = "/srv/data \"quoted\"", .fs = "xfs",
		.options = NULL,
	};
	struct vv_token b;
	char *json = NULL, *json2 = NULL;

	(void)state;
	assert_int_equal(vv_token_to_json(&a, &json), 0);
	assert_non_null(strstr(json, "\"keyslots\":[\"7\"]"));
	assert_non_null(strstr(json, "\"type\":\"vaultvol\""));
	assert_null(strstr(json, "options"));
	assert_int_equal(vv_token_from_json(json, &b), 0);
	assert_int_equal(b.keyslot, 7);
	assert_string_equal(b.key, a.key);
	assert_string_equal(b.kek, a.kek);
	assert_string_equal(b.alg, a.alg);
	assert_string_equal(b.name, a.name);
	assert_string_equal(b.mount, a.mount);
	assert_string_equal(b.fs, a.fs);
	assert_null(b.options);
	assert_int_equal(vv_token_to_json(&b, &json2), 0);
	assert_string_equal(json, json2);
	vv_token_clear(&b);
	free(json);
	free(json2);
}

static void test_minimal_unwrapped(void **state)
{
	struct vv_token t;

	(void)state;
	assert_int_equal(vv_token_from_json(
		"{\"type\":\"vaultvol\",\"keyslots\":[\"0\"],\"vv_version\":1,"
		"\"key\":\"keystore:d\",\"name\":\"d\",\"future_field\":{\"x\":1}}", &t), 0);
	assert_int_equal(t.keyslot, 0);
	assert_null(t.kek);
	assert_null(t.alg);
	assert_null(t.mount);
	vv_token_clear(&t);
}

static void test_retire_marker(void **state)
{
	struct vv_token a = {
		.keyslot = 2, .key = "keystore:d/22222222222222222222222222222222",
		.kek = "keystore-kek:k", .name = "d",
		.retire_key = "keystore:d/11111111111111111111111111111111",
		.retire_kek = "keystore-kek:k", .retire_alg = "RSA-OAEP-256",
		.retire_keyslot = 0,
	};
	struct vv_token b;
	char *json = NULL;

	(void)state;
	assert_int_equal(vv_token_to_json(&a, &json), 0);
	assert_non_null(strstr(json, "\"retire\":{\"keyslot\":\"0\""));
	assert_int_equal(vv_token_from_json(json, &b), 0);
	assert_int_equal(b.keyslot, 2);
	assert_int_equal(b.retire_keyslot, 0);
	assert_string_equal(b.retire_key, a.retire_key);
	assert_string_equal(b.retire_kek, a.retire_kek);
	assert_string_equal(b.retire_alg, a.retire_alg);
	vv_token_clear(&b);
	free(json);

	/* no marker: nothing emitted, nothing parsed */
	a.retire_key = NULL;
	assert_int_equal(vv_token_to_json(&a, &json), 0);
	assert_null(strstr(json, "retire"));
	assert_int_equal(vv_token_from_json(json, &b), 0);
	assert_null(b.retire_key);
	vv_token_clear(&b);
	free(json);

	/* retiring the keyslot the token uses is refused both ways */
	a.retire_key = "keystore:d/1";
	a.retire_keyslot = 2;
	assert_int_equal(vv_token_to_json(&a, &json), -EINVAL);
	assert_null(json);
}

static void test_malformed_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"not json",
		"[]",
		"{\"type\":\"vaultvol\"",
		/* wrong type */
		"{\"type\":\"luks2-keyring\",\"keyslots\":[\"1\"],\"vv_version\":1,\"key\":\"k\",\"name\":\"n\"}",
		/* unknown format version, missing version */
		"{\"type\":\"vaultvol\",\"keyslots\":[\"1\"],\"vv_version\":2,\"key\":\"k\",\"name\":\"n\"}",
		"{\"type\":\"vaultvol\",\"keyslots\":[\"1\"],\"key\":\"k\",\"name\":\"n\"}",
		"{\"type\":\"vaultvol\",\"keyslots\":[\"1\"],\"vv_version\":\"1\",\"key\":\"k\",\"name\":\"n\"}",
		/* keyslots: none, two, number, out of range, junk */
		"{\"type\":\"vaultvol\",\"keyslots\":[],\"vv_version\":1,\"key\":\"k\",\"name\":\"n\"}",
		"{\"type\":\"vaultvol\",\"keyslots\":[\"1\",\"2\"],\"vv_version\":1,\"key\":\"k\",\"name\":\"n\"}",
		"{\"type\":\"vaultvol\",\"keyslots\":[1],\"vv_version\":1,\"key\":\"k\",\"name\":\"n\"}",
		"{\"type\":\"vaultvol\",\"keyslots\":[\"32\"],\"vv_version\":1,\"key\":\"k\",\"name\":\"n\"}",
		"{\"type\":\"vaultvol\",\"keyslots\":[\"-1\"],\"vv_version\":1,\"key\":\"k\",\"name\":\"n\"}",
		"{\"type\":\"vaultvol\",\"keyslots\":[\"1x\"],\"vv_version\":1,\"key\":\"k\",\"name\":\"n\"}",
		/* required strings missing, empty, wrong type */
		"{\"type\":\"vaultvol\",\"keyslots\":[\"1\"],\"vv_version\":1,\"name\":\"n\"}",
		"{\"type\":\"vaultvol\",\"keyslots\":[\"1\"],\"vv_version\":1,\"key\":\"\",\"name\":\"n\"}",
		"{\"type\":\"vaultvol\",\"keyslots\":[\"1\"],\"vv_version\":1,\"key\":\"k\"}",
		"{\"type\":\"vaultvol\",\"keyslots\":[\"1\"],\"vv_version\":1,\"key\":5,\"name\":\"n\"}",
		/* alg without kek, control chars, relative mount, bad mapper name */
		"{\"type\":\"vaultvol\",\"keyslots\":[\"1\"],\"vv_version\":1,\"key\":\"k\",\"name\":\"n\",\"alg\":\"RSA-OAEP\"}",
		"{\"type\":\"vaultvol\",\"keyslots\":[\"1\"],\"vv_version\":1,\"key\":\"k\\n\",\"name\":\"n\"}",
		"{\"type\":\"vaultvol\",\"keyslots\":[\"1\"],\"vv_version\":1,\"key\":\"k\",\"name\":\"n\",\"mount\":\"data\"}",
		"{\"type\":\"vaultvol\",\"keyslots\":[\"1\"],\"vv_version\":1,\"key\":\"k\",\"name\":\"../x\"}",
		"{\"type\":\"vaultvol\",\"keyslots\":[\"1\"],\"vv_version\":1,\"key\":\"k\",\"name\":\"..\"}",
		/* retire: same keyslot, no key, not an object, alg without kek */
		"{\"type\":\"vaultvol\",\"keyslots\":[\"1\"],\"vv_version\":1,\"key\":\"k\",\"name\":\"n\",\"retire\":{\"keyslot\":\"1\",\"key\":\"o\"}}",
		"{\"type\":\"vaultvol\",\"keyslots\":[\"1\"],\"vv_version\":1,\"key\":\"k\",\"name\":\"n\",\"retire\":{\"keyslot\":\"0\"}}",
		"{\"type\":\"vaultvol\",\"keyslots\":[\"1\"],\"vv_version\":1,\"key\":\"k\",\"name\":\"n\",\"retire\":\"0\"}",
		"{\"type\":\"vaultvol\",\"keyslots\":[\"1\"],\"vv_version\":1,\"key\":\"k\",\"name\":\"n\",\"retire\":{\"keyslot\":\"0\",\"key\":\"o\",\"alg\":\"RSA-OAEP\"}}",
		/* trailing document */
		"{\"type\":\"vaultvol\",\"keyslots\":[\"1\"],\"vv_version\":1,\"key\":\"k\",\"name\":\"n\"} {}",
	};
	struct vv_token t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = vv_token_from_json(bad[i], &t);

		if (r != -EINVAL)
			fail_msg("accepted or wrong error %d for: %s", r, bad[i]);
		assert_null(t.key);
		assert_null(t.name);
	}
	assert_int_equal(vv_token_from_json(NULL, &t), -EINVAL);
}

/*
 * The token's name becomes /dev/mapper/<name>: the config file's rule for
 * volume names, not just "no slash".
 */
static void test_name_rule(void **state)
{
	static const char *const bad[] = {
		"a b", "-x", ".hidden", "a:b", "a\\b", "caf\u00e9", "a*", "x$(id)",
		"0123456789012345678901234567890123456789012345678901234567890123456789",
	};
	static const char *const good[] = { "data1", "data_1.x+y-z", "luks-0a1b" };
	char json[512];
	struct vv_token t;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(json, sizeof(json), "{\"type\":\"vaultvol\",\"keyslots\":[\"1\"],"
			 "\"vv_version\":1,\"key\":\"k\",\"name\":\"%s\"}", bad[i]);
		if (vv_token_from_json(json, &t) != -EINVAL)
			fail_msg("name '%s' accepted", bad[i]);
		assert_null(t.name);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(json, sizeof(json), "{\"type\":\"vaultvol\",\"keyslots\":[\"1\"],"
			 "\"vv_version\":1,\"key\":\"k\",\"name\":\"%s\"}", good[i]);
		assert_int_equal(vv_token_from_json(json, &t), 0);
		assert_string_equal(t.name, good[i]);
		vv_token_clear(&t);
	}
}

static void test_to_json_refuses(void **state)
{
	struct vv_token t = { .keyslot = 1, .key = "k", .name = "n" };
	char *json = NULL;

	(void)state;
	t.keyslot = -1;
	assert_int_equal(vv_token_to_json(&t, &json), -EINVAL);
	t.keyslot = 1;
	t.name = NULL;
	assert_int_equal(vv_token_to_json(&t, &json), -EINVAL);
	t.name = "n";
	t.alg = "RSA-OAEP";
	assert_int_equal(vv_token_to_json(&t, &json), -EINVAL);
	t.alg = NULL;
	t.mount = "rel";
	assert_int_equal(vv_token_to_json(&t, &json), -EINVAL);
	assert_null(json);
}

/* Add a LUKS2 token to img with libcryptsetup itself, not through vaultvol. */
static void set_raw_token(const char *img, const char *json)
{
	struct crypt_device *cd = NULL;

	assert_int_equal(crypt_init(&cd, img), 0);
	assert_int_equal(crypt_load(cd, CRYPT_LUKS2, NULL), 0);
	assert_int_equal(crypt_token_json_set(cd, CRYPT_ANY_TOKEN, json), 0);
	crypt_free(cd);
}

static void test_read_write_image(void **state)
{
	char *img = kt_luks_image(CRYPT_LUKS2, "token", "pw");
	struct vv_token w = {
		.token_id = -1, .keyslot = 0,
		.key = "keystore:data1/00112233445566778899aabbccddeeff",
		.name = "data1", .mount = "/data", .fs = "ext4",
		.options = "defaults",
	};
	struct vv_token r;
	struct crypt_device *cd = NULL;
	const char *type = NULL;
	int max, i, n = 0;

	(void)state;
	assert_non_null(img);
	assert_int_equal(vv_token_read(img, &r), -ENOENT);
	assert_int_equal(r.token_id, -1);

	/* A foreign token is ignored, and left alone. */
	set_raw_token(img, "{\"type\":\"other\",\"keyslots\":[\"0\"]}");
	assert_int_equal(vv_token_read(img, &r), -ENOENT);

	assert_int_equal(vv_token_write(img, &w), 0);
	assert_int_equal(vv_token_read(img, &r), 0);
	assert_int_equal(r.token_id, 1);
	assert_int_equal(r.keyslot, 0);
	assert_string_equal(r.key, w.key);
	assert_null(r.kek);
	assert_string_equal(r.mount, "/data");
	vv_token_clear(&r);

	/* Rewriting replaces in place: still one vaultvol token, same id. */
	w.key = "keystore:data1/ffeeddccbbaa99887766554433221100";
	w.kek = "keystore-kek:k1";
	w.alg = "RSA-OAEP";
	assert_int_equal(vv_token_write(img, &w), 0);
	assert_int_equal(vv_token_read(img, &r), 0);
	assert_int_equal(r.token_id, 1);
	assert_string_equal(r.key, w.key);
	assert_string_equal(r.kek, "keystore-kek:k1");
	assert_string_equal(r.alg, "RSA-OAEP");
	vv_token_clear(&r);

	assert_int_equal(crypt_init(&cd, img), 0);
	assert_int_equal(crypt_load(cd, CRYPT_LUKS2, NULL), 0);
	max = crypt_token_max(CRYPT_LUKS2);
	for (i = 0; i < max; i++) {
		crypt_token_info st = crypt_token_status(cd, i, &type);

		if (st != CRYPT_TOKEN_INACTIVE && st != CRYPT_TOKEN_INVALID &&
		    type && !strcmp(type, VV_TOKEN_TYPE))
			n++;
	}
	assert_int_equal(crypt_token_status(cd, 0, &type), CRYPT_TOKEN_EXTERNAL_UNKNOWN);
	assert_string_equal(type, "other");
	crypt_free(cd);
	assert_int_equal(n, 1);

	/* A token for an empty keyslot is refused; the stored one is unchanged. */
	w.keyslot = 5;
	assert_int_equal(vv_token_write(img, &w), -EINVAL);
	assert_int_equal(vv_token_read(img, &r), 0);
	assert_int_equal(r.keyslot, 0);
	vv_token_clear(&r);

	unlink(img);
	free(img);
}

static void test_malformed_on_disk(void **state)
{
	char *img = kt_luks_image(CRYPT_LUKS2, "token", "pw");
	struct vv_token r;

	(void)state;
	assert_non_null(img);
	/* libcryptsetup accepts it (valid LUKS2 token), we do not: no key. */
	set_raw_token(img, "{\"type\":\"vaultvol\",\"keyslots\":[\"0\"],\"vv_version\":1,\"name\":\"x\"}");
	assert_int_equal(vv_token_read(img, &r), -EINVAL);
	assert_null(r.name);
	unlink(img);
	free(img);
}

static void test_not_luks2(void **state)
{
	char *img = kt_luks_image(CRYPT_LUKS1, "token", "pw");
	char path[] = "/tmp/vv-token-plain-XXXXXX";
	struct vv_token t = { .keyslot = 0, .key = "k", .name = "n" };
	struct vv_token r;
	int fd;

	(void)state;
	assert_non_null(img);
	assert_int_equal(vv_token_read(img, &r), -ENOENT);
	assert_true(vv_token_write(img, &t) < 0);
	unlink(img);
	free(img);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4 << 20), 0);
	close(fd);
	assert_int_equal(vv_token_read(path, &r), -EINVAL);
	assert_true(vv_token_write(path, &t) < 0);
	unlink(path);
	assert_true(vv_token_read("/nonexistent/vv-dev", &r) < 0);
}

/*
 * Discovery reads each header once (vv_unlock_load, then the token from
 * that same load): what it finds must be what vv_token_read finds.
 */
static void test_discovery_reads_token(void **state)
{
	char *good = kt_luks_image(CRYPT_LUKS2, "token", "pw");
	char *bad = kt_luks_image(CRYPT_LUKS2, "token", "pw");
	char *luks1 = kt_luks_image(CRYPT_LUKS1, "token", "pw");
	struct vv_token w = {
		.token_id = -1, .keyslot = 0, .key = "keystore:disc/00112233445566778899aabbccddeeff",
		.name = "disc", .mount = "/disc", .fs = "ext4",
	};
	struct vv_disks d = { 0 };

	(void)state;
	assert_non_null(good);
	assert_non_null(bad);
	assert_non_null(luks1);
	assert_int_equal(vv_token_write(good, &w), 0);
	set_raw_token(bad, "{\"type\":\"vaultvol\",\"keyslots\":[\"0\"],\"vv_version\":1,\"name\":\"x\"}");
	assert_int_equal(vv_discover_add(&d, good), 1);
	assert_int_equal(vv_discover_add(&d, bad), 1);
	assert_int_equal(vv_discover_add(&d, luks1), 1);
	assert_int_equal(d.n, 3);
	assert_int_equal(d.dev[0].probe_rc, 0);
	assert_int_equal(d.dev[0].type, VV_VOL_LUKS2);
	assert_int_equal(d.dev[0].token_rc, 0);
	assert_string_equal(d.dev[0].token.key, w.key);
	assert_string_equal(d.dev[0].token.name, "disc");
	assert_int_equal(d.dev[1].token_rc, -EINVAL);
	assert_int_equal(d.dev[2].type, VV_VOL_LUKS1);
	assert_int_equal(d.dev[2].token_rc, -ENOENT);
	vv_disks_free(&d);
	unlink(good);
	unlink(bad);
	unlink(luks1);
	free(good);
	free(bad);
	free(luks1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_full),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_minimal_unwrapped),
		cmocka_unit_test(test_retire_marker),
		cmocka_unit_test(test_malformed_refused),
		cmocka_unit_test(test_name_rule),
		cmocka_unit_test(test_to_json_refuses),
		cmocka_unit_test(test_read_write_image),
		cmocka_unit_test(test_malformed_on_disk),
		cmocka_unit_test(test_not_luks2),
		cmocka_unit_test(test_discovery_reads_token),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
