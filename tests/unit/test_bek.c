// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vault/bek: resolving key references and storing BEKs ADE-style, with the
 * local keystore and local PEM KEKs (no network). Checks the exact bytes at
 * each step: base64 decoded once, wrapped value = base64url(RSA ciphertext)
 * stored as is, .BEK bytes untouched, tags and content types.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "keysrc_helpers.h"
#include "base/b64.h"
#include "vault/keystore.h"
#include "vault/rsa_local.h"
#include "vault/vault.h"

struct fixture {
	char *tmp;
	char store[512], pem[512], pem2[512], kref[600], kref2[600];
	struct vv_vault *v;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct vv_vault_config cfg = { 0 };

	if (!f || !(f->tmp = kt_mkdtemp("bek")))
		return -1;
	snprintf(f->store, sizeof(f->store), "%s/keys", f->tmp);
	snprintf(f->pem, sizeof(f->pem), "%s/kek.pem", f->tmp);
	snprintf(f->pem2, sizeof(f->pem2), "%s/other.pem", f->tmp);
	snprintf(f->kref, sizeof(f->kref), "file:%s", f->pem);
	snprintf(f->kref2, sizeof(f->kref2), "file:%s", f->pem2);
	if (kt_genrsa(f->pem) != 0 || kt_genrsa(f->pem2) != 0)
		return -1;
	/* No vault URL: bare names go to the keystore. */
	cfg.keystore_dir = f->store;
	if (vv_vault_new(&cfg, &f->v) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vv_vault_free(f->v);
	return kt_fixture_done(f->tmp, f);
}

static struct vv_secret *sec(const void *p, size_t n)
{
	struct vv_secret *s = vv_secret_from(p, n);

	assert_non_null(s);
	return s;
}

/* A keystore entry written as another tool (ADE) would have written it. */
static char *raw_put(struct fixture *f, const char *name, const char *value,
		     const char *ct, const struct vv_tag *tags, size_t ntags)
{
	struct vv_secret *s = sec(value, strlen(value));
	struct vv_error err = { 0 };
	char *ref = NULL;

	assert_int_equal(vv_keystore_put(f->store, name, s, ct, tags, ntags, &ref, &err), 0);
	vv_secret_free(s);
	return ref;
}

static struct vv_bek *fetch_ok(struct fixture *f, const char *ref, const char *kek)
{
	struct vv_bek *b = NULL;
	struct vv_error err = { 0 };
	int r = vv_bek_fetch(f->v, ref, kek, &b, &err);

	if (r != 0)
		print_error("fetch %s: %s\n", ref, err.message);
	assert_int_equal(r, 0);
	assert_non_null(b);
	return b;
}

/* ADE: value = base64(passphrase) once; a base64-looking passphrase survives. */
static void test_decode_exactly_once(void **state)
{
	struct fixture *f = *state;
	const char *pass = "Zm9vYmFy";	/* base64 of "foobar", but it IS the passphrase */
	char *val = vv_b64_encode(VV_B64_STD, pass, strlen(pass));
	const struct vv_tag tags[] = {
		{ "DiskEncryptionKeyFileName", "LinuxPassPhraseFileName" },
		/* older ADE tagged the algorithm on unwrapped secrets too */
		{ "DiskEncryptionKeyEncryptionAlgorithm", "RSA-OAEP" },
	};
	char *ref = raw_put(f, "ade-plain", val, "BEK", tags, 2);
	struct vv_bek *b = fetch_ok(f, "keystore:ade-plain", NULL);

	assert_string_equal(val, "Wm05dlltRnk=");
	assert_int_equal(b->key->len, strlen(pass));
	assert_memory_equal(b->key->data, pass, b->key->len);
	assert_false(b->wrapped);
	assert_false(b->windows_bek);
	assert_null(b->kek_id);
	assert_string_equal(b->source, "keystore");
	assert_string_equal(b->secret_id, ref);
	assert_string_equal(b->file_name, "LinuxPassPhraseFileName");
	assert_string_equal(b->content_type, "BEK");
	assert_int_equal(b->ntags, 2);
	vv_bek_free(b);

	/* a trailing newline (hand-set secret) is not part of the base64 */
	free(ref);
	free(val);
	ref = raw_put(f, "ade-nl", "Zm9vYmFy\n", NULL, NULL, 0);
	b = fetch_ok(f, "ade-nl", NULL);	/* bare name: keystore when no vault */
	assert_int_equal(b->key->len, 6);
	assert_memory_equal(b->key->data, "foobar", 6);
	vv_bek_free(b);
	free(ref);
}

static void test_store_plain_round_trip(void **state)
{
	struct fixture *f = *state;
	const char *pass = "correct horse battery staple";
	struct vv_secret *k = sec(pass, strlen(pass));
	struct vv_secret_bundle *raw = NULL;
	struct vv_error err = { 0 };
	char *ref = NULL, *kid = (char *)"unset", host[256];
	struct vv_bek *b;

	assert_int_equal(vv_bek_store(f->v, "keystore:plain1", k, NULL, NULL, NULL, &ref,
				      &kid, &err), 0);
	assert_null(kid);
	assert_int_equal(strncmp(ref, "keystore:plain1/", 16), 0);
	/* stored bytes: standard base64 of K, once */
	assert_int_equal(vv_keystore_get(f->store, ref + 9, &raw, &err), 0);
	assert_int_equal(raw->value->len, 40);
	assert_memory_equal(raw->value->data, "Y29ycmVjdCBob3JzZSBiYXR0ZXJ5IHN0YXBsZQ==", 40);
	assert_string_equal(raw->content_type, "BEK");
	assert_string_equal(vv_bundle_tag(raw, "DiskEncryptionKeyFileName"),
			    "LinuxPassPhraseFileName");
	assert_null(vv_bundle_tag(raw, "DiskEncryptionKeyEncryptionKeyURL"));
	assert_null(vv_bundle_tag(raw, "DiskEncryptionKeyEncryptionAlgorithm"));
	assert_int_equal(gethostname(host, sizeof(host)), 0);
	assert_string_equal(vv_bundle_tag(raw, "MachineName"), host);
	vv_secret_bundle_free(raw);

	b = fetch_ok(f, ref, NULL);
	assert_true(vv_secret_equal(b->key, k));
	assert_string_equal(b->secret_id, ref);
	vv_bek_free(b);
	free(ref);
	vv_secret_free(k);
}

/* Wrapped with a local PEM KEK, all three algorithms; unwrap chosen by the tags. */
static void test_store_wrapped_local_kek(void **state)
{
	struct fixture *f = *state;
	static const char *const algs[] = { "RSA-OAEP", "RSA-OAEP-256", "RSA1_5" };
	unsigned char key[32];

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (unsigned char)(0xa5 ^ (i * 29));
	for (size_t i = 0; i < 3; i++) {
		struct vv_secret *k = sec(key, sizeof(key)), *direct = NULL;
		struct vv_secret_bundle *raw = NULL;
		struct vv_error err = { 0 };
		char *ref = NULL, *kid = NULL;
		unsigned char *ct = NULL;
		size_t ctlen = 0;
		struct vv_bek *b;

		assert_int_equal(vv_bek_store(f->v, "keystore:wrapped", k, f->kref, algs[i],
					      NULL, &ref, &kid, &err), 0);
		assert_string_equal(kid, f->kref);
		assert_int_equal(vv_keystore_get(f->store, ref + 9, &raw, &err), 0);
		assert_string_equal(raw->content_type, "Wrapped BEK");
		assert_string_equal(vv_bundle_tag(raw, "DiskEncryptionKeyEncryptionKeyURL"),
				    f->kref);
		assert_string_equal(vv_bundle_tag(raw, "DiskEncryptionKeyEncryptionAlgorithm"),
				    algs[i]);
		/* value = base64url(RSA ciphertext), unpadded, not base64'd again */
		assert_int_equal(raw->value->len, 342);
		assert_int_equal(vv_b64_decode(VV_B64_URL, (char *)raw->value->data,
					       raw->value->len, &ct, &ctlen), 0);
		assert_int_equal(ctlen, 256);
		raw->value->data[raw->value->len] = '\0';
		assert_int_equal(vv_local_unwrap(NULL, f->kref, algs[i],
						 (char *)raw->value->data, &direct, &err), 0);
		assert_int_equal(direct->len, sizeof(key));
		assert_memory_equal(direct->data, key, sizeof(key));

		b = fetch_ok(f, ref, NULL);
		assert_true(b->wrapped);
		assert_true(vv_secret_equal(b->key, k));
		assert_string_equal(b->kek_id, f->kref);
		assert_string_equal(b->alg, algs[i]);
		assert_string_equal(b->content_type, "Wrapped BEK");
		vv_bek_free(b);

		/* the other KEK cannot open it */
		b = NULL;
		assert_true(vv_bek_fetch(f->v, ref, f->kref2, &b, &err) < 0);
		assert_null(b);
		assert_int_equal(err.cause, VV_CAUSE_CRYPTO);

		free(ct);
		vv_secret_free(direct);
		vv_secret_bundle_free(raw);
		free(ref);
		free(kid);
		vv_secret_free(k);
	}
}

/* Offline recovery: the tag names a vault KEK, the caller gives a PEM copy. */
static void test_kek_override_and_missing_kek(void **state)
{
	struct fixture *f = *state;
	struct vv_secret *k = sec("recover-me", 10);
	struct vv_error err = { 0 };
	char *wrapped = NULL, *ref;
	struct vv_bek *b = NULL;
	const struct vv_tag tags[] = {
		{ "DiskEncryptionKeyEncryptionKeyURL",
		  "https://127.0.0.1:9/keys/kek/0123456789abcdef0123456789abcdef" },
		{ "DiskEncryptionKeyEncryptionAlgorithm", "RSA-OAEP-256" },
	};

	assert_int_equal(vv_local_wrap(NULL, f->kref, "RSA-OAEP-256", k, &wrapped, NULL,
				       &err), 0);
	ref = raw_put(f, "ade-wrapped", wrapped, "Wrapped BEK", tags, 2);
	b = fetch_ok(f, "keystore:ade-wrapped", f->kref);
	assert_true(vv_secret_equal(b->key, k));
	assert_string_equal(b->kek_id, f->kref);
	assert_string_equal(b->alg, "RSA-OAEP-256");
	vv_bek_free(b);
	free(ref);

	/* wrapped (by content type) but no KEK anywhere: a clear refusal */
	b = NULL;
	ref = raw_put(f, "nokek", wrapped, "Wrapped BEK", NULL, 0);
	assert_true(vv_bek_fetch(f->v, "keystore:nokek", NULL, &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_non_null(strstr(err.message, "names no KEK"));
	/* with a KEK given and no content type saying "BEK", it is unwrapped (RSA-OAEP default) */
	free(wrapped);
	free(ref);
	assert_int_equal(vv_local_wrap(NULL, f->kref, NULL, k, &wrapped, NULL, &err), 0);
	ref = raw_put(f, "untyped", wrapped, NULL, NULL, 0);
	b = fetch_ok(f, "keystore:untyped", f->kref);
	assert_true(b->wrapped);
	assert_string_equal(b->alg, "RSA-OAEP");
	assert_true(vv_secret_equal(b->key, k));
	vv_bek_free(b);
	b = NULL;
	/* a KEK given for a secret that says plain "BEK" is not used */
	free(ref);
	ref = raw_put(f, "plainbek", "cmVjb3Zlci1tZQ==", "BEK", NULL, 0);
	b = fetch_ok(f, "keystore:plainbek", f->kref);
	assert_false(b->wrapped);
	assert_true(vv_secret_equal(b->key, k));
	vv_bek_free(b);
	b = NULL;
	/* an unknown algorithm tag */
	{
		const struct vv_tag bad[] = {
			{ "DiskEncryptionKeyEncryptionKeyURL", f->kref },
			{ "DiskEncryptionKeyEncryptionAlgorithm", "RSA-OAEP-384" },
		};

		free(ref);
		ref = raw_put(f, "badalg", wrapped, "Wrapped BEK", bad, 2);
		assert_true(vv_bek_fetch(f->v, "keystore:badalg", NULL, &b, &err) < 0);
		assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	}
	free(ref);
	free(wrapped);
	vv_secret_free(k);
}

/* Windows: the .BEK file bytes, base64 once, zeros and all. */
static void test_windows_bek(void **state)
{
	struct fixture *f = *state;
	unsigned char bekfile[156];
	const char *name = "3F2504E0-4F89-11D3-9A0C-0305E82C3301.BEK";
	struct vv_secret *k;
	struct vv_error err = { 0 };
	char *ref = NULL, path[700];
	struct vv_bek *b;

	for (size_t i = 0; i < sizeof(bekfile); i++)
		bekfile[i] = (unsigned char)(i < 48 ? 0 : i * 7);
	k = sec(bekfile, sizeof(bekfile));
	assert_int_equal(vv_bek_store(f->v, "keystore:win", k, NULL, NULL, name, &ref, NULL,
				      &err), 0);
	b = fetch_ok(f, ref, NULL);
	assert_true(b->windows_bek);
	assert_string_equal(b->file_name, name);
	assert_int_equal(b->key->len, sizeof(bekfile));
	assert_memory_equal(b->key->data, bekfile, sizeof(bekfile));
	vv_bek_free(b);
	free(ref);
	/* wrapped too: 156 bytes fit RSA-OAEP-256 with a 2048-bit KEK */
	assert_int_equal(vv_bek_store(f->v, "keystore:win", k, f->kref, "RSA-OAEP-256", name,
				      &ref, NULL, &err), 0);
	b = fetch_ok(f, "keystore:win", NULL);
	assert_true(b->windows_bek);
	assert_true(b->wrapped);
	assert_true(vv_secret_equal(b->key, k));
	vv_bek_free(b);
	free(ref);

	/* the same bytes as a key file */
	snprintf(path, sizeof(path), "%s/%s", f->tmp, name);
	assert_int_equal(kt_write(path, bekfile, sizeof(bekfile), 0400), 0);
	snprintf(path, sizeof(path), "file:%s/%s", f->tmp, name);
	b = fetch_ok(f, path, NULL);
	assert_string_equal(b->source, "file");
	assert_true(b->windows_bek);
	assert_false(b->wrapped);
	assert_string_equal(b->file_name, name);
	assert_true(vv_secret_equal(b->key, k));
	vv_bek_free(b);
	vv_secret_free(k);
}

static void test_key_files(void **state)
{
	struct fixture *f = *state;
	struct vv_error err = { 0 };
	struct vv_bek *b = NULL;
	char path[600], ref[700];

	/* a key file is K itself: base64-looking content is not decoded */
	snprintf(path, sizeof(path), "%s/keyfile", f->tmp);
	assert_int_equal(kt_write(path, "Zm9vYmFy", 8, 0600), 0);
	snprintf(ref, sizeof(ref), "file:%s", path);
	b = fetch_ok(f, ref, NULL);
	assert_int_equal(b->key->len, 8);
	assert_memory_equal(b->key->data, "Zm9vYmFy", 8);
	assert_string_equal(b->secret_id, ref);
	vv_bek_free(b);
	b = NULL;
	/* group-readable: refused */
	assert_int_equal(chmod(path, 0640), 0);
	assert_true(vv_bek_fetch(f->v, ref, NULL, &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	/* relative, missing, empty */
	assert_true(vv_bek_fetch(f->v, "file:keyfile", NULL, &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	snprintf(ref, sizeof(ref), "file:%s/none", f->tmp);
	assert_true(vv_bek_fetch(f->v, ref, NULL, &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_NOT_FOUND);
	assert_int_equal(kt_write(path, "", 0, 0600), 0);
	snprintf(ref, sizeof(ref), "file:%s", path);
	assert_true(vv_bek_fetch(f->v, ref, NULL, &b, &err) < 0);
	assert_null(b);
}

static void test_bad_refs_and_values(void **state)
{
	struct fixture *f = *state;
	struct vv_error err = { 0 };
	struct vv_bek *b = NULL;
	struct vv_secret *k = sec("k", 1), *empty = sec("", 0);
	char *ref = NULL;

	assert_true(vv_bek_fetch(f->v, "ftp://x", NULL, &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_true(vv_bek_fetch(f->v, "", NULL, &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_true(vv_bek_fetch(f->v, "keystore:missing", NULL, &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_NOT_FOUND);
	/*
	 * A value that is not base64 is reported, not passed through: the
	 * secret is not a disk key, a definite answer (config, never retried
	 * as a bad response was), with the secret's id and the fix.
	 */
	free(raw_put(f, "garbage", "not base64!", "BEK", NULL, 0));
	assert_int_equal(vv_bek_fetch(f->v, "keystore:garbage", NULL, &b, &err), -ENOKEY);
	assert_null(b);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_non_null(strstr(err.message, "keystore:garbage/"));
	assert_non_null(strstr(err.message, "the secret's value is not a base64 key"));
	assert_non_null(strstr(err.remedy, "vaultvol key put"));
	/* key show still gets the secret's metadata, without a key */
	assert_int_equal(vv_bek_inspect(f->v, "keystore:garbage", NULL, &b, &err), -ENOKEY);
	assert_non_null(b);
	assert_null(b->key);
	assert_non_null(strstr(b->secret_id, "keystore:garbage/"));
	assert_string_equal(b->content_type, "BEK");
	vv_bek_free(b);
	b = NULL;
	/* this host has no BEK volume */
	assert_true(vv_bek_fetch(f->v, "bek:LinuxPassPhraseFileName", NULL, &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_NOT_FOUND);
	assert_null(b);

	/* store: only vault and keystore destinations, non-empty keys, known algs */
	assert_true(vv_bek_store(f->v, "bek:x", k, NULL, NULL, NULL, &ref, NULL, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_true(vv_bek_store(f->v, "file:/tmp/x", k, NULL, NULL, NULL, &ref, NULL, &err) < 0);
	assert_true(vv_bek_store(f->v, "keystore:e", empty, NULL, NULL, NULL, &ref, NULL,
				 &err) < 0);
	assert_true(vv_bek_store(f->v, "keystore:e", k, f->kref, "RSA-OAEP-1", NULL, &ref,
				 NULL, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_true(vv_bek_store(f->v, "keystore:e", k, NULL, NULL, "../x", &ref, NULL,
				 &err) < 0);
	/* a KEK that cannot be read: nothing is stored */
	assert_true(vv_bek_store(f->v, "keystore:e", k, "file:/nonexistent.pem", NULL, NULL,
				 &ref, NULL, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_NOT_FOUND);
	assert_null(ref);
	assert_true(vv_bek_fetch(f->v, "keystore:e", NULL, &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_NOT_FOUND);
	/* a vault reference without a vault client */
	assert_true(vv_bek_fetch(NULL, "https://127.0.0.1:9/secrets/x", NULL, &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	vv_secret_free(k);
	vv_secret_free(empty);
}

/* exp/nbf are handed to the caller, not enforced on fetch. */
static void test_exp_nbf_copied(void **state)
{
	struct fixture *f = *state;
	char *ref = raw_put(f, "dated", "ZGF0ZWQ=", "BEK", NULL, 0), p[800];
	struct vv_bek *b;

	snprintf(p, sizeof(p), "%s/dated/%s.json", f->store, ref + strlen("keystore:dated/"));
	assert_int_equal(kt_write(p, "{\"contentType\":\"BEK\",\"attributes\":"
				  "{\"nbf\":1000,\"exp\":2000}}", 59, 0600), 0);
	b = fetch_ok(f, ref, NULL);
	assert_int_equal(b->nbf, 1000);
	assert_int_equal(b->exp, 2000);
	assert_memory_equal(b->key->data, "dated", 5);
	vv_bek_free(b);
	free(ref);
}

/* keystore-kek: KEKs kept in the keystore, through vv_bek_store/fetch. */
static void test_keystore_kek(void **state)
{
	struct fixture *f = *state;
	struct vv_error err = { 0 };
	struct vv_secret *k = sec("0123456789abcdef0123456789abcdef", 32);
	char *ref = NULL, *kid = NULL;
	struct vv_bek *b;

	assert_int_equal(vv_keystore_create_kek(f->store, "local-kek", 2048, &err), 0);
	assert_int_equal(vv_bek_store(f->v, "data1", k, "keystore-kek:local-kek", NULL, NULL,
				      &ref, &kid, &err), 0);
	assert_string_equal(kid, "keystore-kek:local-kek");
	b = fetch_ok(f, "data1", NULL);
	assert_true(b->wrapped);
	assert_string_equal(b->alg, "RSA-OAEP");
	assert_string_equal(b->kek_id, "keystore-kek:local-kek");
	assert_true(vv_secret_equal(b->key, k));
	vv_bek_free(b);
	free(ref);
	free(kid);
	vv_secret_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_exactly_once),
		cmocka_unit_test(test_store_plain_round_trip),
		cmocka_unit_test(test_store_wrapped_local_kek),
		cmocka_unit_test(test_kek_override_and_missing_kek),
		cmocka_unit_test(test_windows_bek),
		cmocka_unit_test(test_key_files),
		cmocka_unit_test(test_bad_refs_and_values),
		cmocka_unit_test(test_exp_nbf_copied),
		cmocka_unit_test(test_keystore_kek),
	};

	return cmocka_run_group_tests_name("bek", tests, setup, teardown);
}
