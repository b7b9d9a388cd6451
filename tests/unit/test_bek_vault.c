// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vault/bek against the Key Vault and IMDS fakes (tests/fakes) over real TLS
 * on 127.0.0.1: ADE secrets made by the fake exactly as ADE makes them
 * (put_bek), remote unwrap chosen by the tags for each algorithm, offline
 * unwrap of the same secret with the KEK's PEM (proving local and vault RSA
 * agree byte for byte), vv_bek_store with a vault KEK (tags, versioned kid)
 * and its refusal of disabled, expired and not-yet-valid KEKs, and the
 * `vaultvol key show` command against the vault.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <libgen.h>
#include <time.h>

#include "keysrc_helpers.h"
#include "tests/unit/support/fakes_proc.h"
#include "base/b64.h"
#include "vault/rsa_local.h"
#include "vault/vault.h"

static struct {
	char *dir;
	char kv[128], imds[128], ca[600], pem[600], pemref[700], bin[PATH_MAX];
	char kid[400];		/* versioned KEK id */
	struct vv_vault *v;
} F;

#define CTL(...) kt_capture("tests/fakes/fakectl.py -s %s " __VA_ARGS__)

/* One string field of ports.json (a flat file, one "key": value per line). */
static int port_field(const char *json, const char *key, char *out, size_t len)
{
	char pat[64];
	const char *p, *e;

	snprintf(pat, sizeof(pat), "\"%s\": \"", key);
	p = strstr(json, pat);
	if (!p)
		return -1;
	p += strlen(pat);
	e = strchr(p, '"');
	if (!e || (size_t)(e - p) >= len)
		return -1;
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
	return 0;
}

static int setup(void **state)
{
	struct vv_vault_config cfg = { 0 };
	char path[700], self[PATH_MAX], pins[256], *ports, *out;
	ssize_t n;

	(void)state;
	F.dir = kt_mkdtemp("bekkv");
	if (!F.dir)
		return -1;
	out = kt_capture("FAKES_START_TIMEOUT=120 tests/fakes/start.sh %s --quiet", F.dir);
	if (!out)
		return -1;
	free(out);
	snprintf(path, sizeof(path), "%s/ports.json", F.dir);
	ports = kt_read(path, NULL);
	if (!ports || port_field(ports, "kv_url", F.kv, sizeof(F.kv)) ||
	    port_field(ports, "imds_url", F.imds, sizeof(F.imds)) ||
	    port_field(ports, "ca", F.ca, sizeof(F.ca)))
		return -1;
	/* a KEK in the vault, and its private PEM for the offline path */
	out = CTL("-f kid put_key name=kek bits=2048", F.dir);
	if (!out)
		return -1;
	snprintf(F.kid, sizeof(F.kid), "%s", out);
	free(out);
	snprintf(F.pem, sizeof(F.pem), "%s/kek.pem", F.dir);
	if (kt_sh("umask 077 && tests/fakes/fakectl.py -s %s key_pem name=kek >%s", F.dir,
		  F.pem) != 0)
		return -1;
	snprintf(F.pemref, sizeof(F.pemref), "file:%s", F.pem);
	if (port_field(ports, "resolve", pins, sizeof(pins)))
		return -1;
	vv_fakes_pin(pins);
	free(ports);
	cfg.vault_url = F.kv;
	cfg.imds_url = F.imds;
	cfg.ca_file = F.ca;
	if (vv_vault_new(&cfg, &F.v) < 0)
		return -1;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -1;
	self[n] = '\0';
	snprintf(F.bin, sizeof(F.bin), "%s/vaultvol", dirname(dirname(self)));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	vv_vault_free(F.v);
	kt_sh("tests/fakes/stop.sh %s", F.dir);
	kt_rmrf(F.dir);
	free(F.dir);
	return 0;
}

static struct vv_bek *fetch_ok(const char *ref, const char *kek)
{
	struct vv_bek *b = NULL;
	struct vv_error err = { 0 };
	int r = vv_bek_fetch(F.v, ref, kek, &b, &err);

	if (r)
		print_error("fetch %s: %s (%s)\n", ref, err.message, vv_cause_str(err.cause));
	assert_int_equal(r, 0);
	return b;
}

static void test_ade_unwrapped(void **state)
{
	char *id;
	struct vv_bek *b;

	(void)state;
	/* a passphrase that is itself valid base64: decoded once only */
	id = CTL("-f id put_bek name=plain key=Zm9vYmFy", F.dir);
	assert_non_null(id);
	b = fetch_ok("plain", NULL);
	assert_int_equal(b->key->len, 8);
	assert_memory_equal(b->key->data, "Zm9vYmFy", 8);
	assert_string_equal(b->source, "keyvault");
	assert_string_equal(b->secret_id, id);
	assert_false(b->wrapped);
	assert_string_equal(b->content_type, "BEK");
	assert_string_equal(b->file_name, "LinuxPassPhraseFileName");
	vv_bek_free(b);
	/* by full versioned URL too */
	b = fetch_ok(id, NULL);
	assert_memory_equal(b->key->data, "Zm9vYmFy", 8);
	vv_bek_free(b);
	free(id);
}

static void test_ade_wrapped_each_alg(void **state)
{
	static const char *const algs[] = { "RSA-OAEP", "RSA-OAEP-256", "RSA1_5" };
	/* "a random key, 32 bytes" in standard base64 */
	const char *k64 = "q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k=";
	unsigned char *k = NULL;
	size_t klen = 0;

	(void)state;
	assert_int_equal(vv_b64_decode(VV_B64_STD, k64, strlen(k64), &k, &klen), 0);
	for (size_t i = 0; i < 3; i++) {
		struct vv_vault_stats before, after;
		char name[32], *id;
		struct vv_bek *b;

		snprintf(name, sizeof(name), "wrapped-%zu", i);
		id = CTL("-f id put_bek name=%s key_b64=%s kek=kek alg=%s", F.dir, name, k64,
			 algs[i]);
		assert_non_null(id);
		/* tags pick the KEK and the algorithm; the vault unwraps */
		vv_vault_get_stats(F.v, &before);
		b = fetch_ok(name, NULL);
		vv_vault_get_stats(F.v, &after);
		assert_int_equal(after.unwraps, before.unwraps + 1);
		assert_true(b->wrapped);
		assert_string_equal(b->alg, algs[i]);
		assert_string_equal(b->kek_id, F.kid);
		assert_string_equal(b->content_type, "Wrapped BEK");
		assert_int_equal(b->key->len, klen);
		assert_memory_equal(b->key->data, k, klen);
		vv_bek_free(b);
		/* offline: the same secret, unwrapped with the KEK's PEM, no vault call */
		vv_vault_get_stats(F.v, &before);
		b = fetch_ok(id, F.pemref);
		vv_vault_get_stats(F.v, &after);
		assert_int_equal(after.unwraps, before.unwraps);
		assert_string_equal(b->kek_id, F.pemref);
		assert_int_equal(b->key->len, klen);
		assert_memory_equal(b->key->data, k, klen);
		vv_bek_free(b);
		free(id);
	}
	free(k);
}

static void test_windows_bek_from_vault(void **state)
{
	unsigned char bek[156];
	char *b64, *id;
	struct vv_bek *b;

	(void)state;
	for (size_t i = 0; i < sizeof(bek); i++)
		bek[i] = (unsigned char)(i < 16 ? 0 : 255 - i);
	b64 = vv_b64_encode(VV_B64_STD, bek, sizeof(bek));
	id = CTL("-f id put_bek name=win key_b64=%s file_name=11111111-2222-3333-4444-555555555555.BEK "
		 "kek=kek alg=RSA-OAEP-256", F.dir, b64);
	assert_non_null(id);
	b = fetch_ok("win", NULL);
	assert_true(b->windows_bek);
	assert_true(b->wrapped);
	assert_int_equal(b->key->len, sizeof(bek));
	assert_memory_equal(b->key->data, bek, sizeof(bek));
	vv_bek_free(b);
	free(id);
	free(b64);
}

static void test_store_with_vault_kek(void **state)
{
	struct vv_secret *k = vv_secret_from("stored-through-the-vault-0123456", 32);
	struct vv_secret_bundle *raw = NULL;
	struct vv_secret *direct = NULL;
	struct vv_error err = { 0 };
	char kek_unversioned[400], *ref = NULL, *kid = NULL, *slash;
	struct vv_bek *b;
	char host[256];

	(void)state;
	/* the KEK named without a version: the tag records the versioned kid */
	snprintf(kek_unversioned, sizeof(kek_unversioned), "%s", F.kid);
	slash = strrchr(kek_unversioned, '/');
	*slash = '\0';
	assert_int_equal(vv_bek_store(F.v, "stored", k, kek_unversioned, "RSA-OAEP-256", NULL,
				      &ref, &kid, &err), 0);
	assert_string_equal(kid, F.kid);
	assert_int_equal(strncmp(ref, F.kv, strlen(F.kv)), 0);
	assert_non_null(strstr(ref, "/secrets/stored/"));
	assert_int_equal(vv_secret_get(F.v, ref, &raw, &err), 0);
	assert_string_equal(raw->content_type, "Wrapped BEK");
	assert_string_equal(vv_bundle_tag(raw, "DiskEncryptionKeyEncryptionKeyURL"), F.kid);
	assert_string_equal(vv_bundle_tag(raw, "DiskEncryptionKeyEncryptionAlgorithm"),
			    "RSA-OAEP-256");
	assert_string_equal(vv_bundle_tag(raw, "DiskEncryptionKeyFileName"),
			    "LinuxPassPhraseFileName");
	assert_int_equal(gethostname(host, sizeof(host)), 0);
	assert_string_equal(vv_bundle_tag(raw, "MachineName"), host);
	/* the stored value is the wrapkey output itself: our local RSA opens it */
	raw->value->data[raw->value->len] = '\0';
	assert_int_equal(vv_local_unwrap(NULL, F.pemref, "RSA-OAEP-256",
					 (char *)raw->value->data, &direct, &err), 0);
	assert_true(vv_secret_equal(direct, k));
	b = fetch_ok(ref, NULL);
	assert_true(vv_secret_equal(b->key, k));
	assert_string_equal(b->kek_id, F.kid);
	vv_bek_free(b);
	vv_secret_free(direct);
	vv_secret_bundle_free(raw);
	free(ref);
	free(kid);

	/* unwrapped to the vault: base64 once, contentType BEK */
	assert_int_equal(vv_bek_store(F.v, "stored-plain", k, NULL, NULL, NULL, &ref, &kid,
				      &err), 0);
	assert_null(kid);
	assert_int_equal(vv_secret_get(F.v, ref, &raw, &err), 0);
	assert_string_equal(raw->content_type, "BEK");
	assert_int_equal(raw->value->len, 44);
	assert_memory_equal(raw->value->data, "c3RvcmVkLXRocm91Z2gtdGhlLXZhdWx0LTAxMjM0NTY=", 44);
	vv_secret_bundle_free(raw);
	free(ref);
	vv_secret_free(k);
}

/* A KEK that is disabled, expired, not yet valid or too weak is not used to wrap. */
static void test_store_refuses_bad_kek(void **state)
{
	struct vv_secret *k = vv_secret_from("0123456789abcdef0123456789abcdef", 32);
	struct vv_vault_stats before, after;
	struct vv_error err = { 0 };
	char *ref = NULL, *out, kid[400];
	static const struct { const char *attrs; enum vv_cause cause; } cases[] = {
		{ "enabled=false", VV_CAUSE_DISABLED },
		{ "exp=1000000000", VV_CAUSE_EXPIRED },
		{ "nbf=4102444800", VV_CAUSE_EXPIRED },	/* 2100-01-01 */
	};

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		char name[32];

		snprintf(name, sizeof(name), "badkek%zu", i);
		out = CTL("-f kid put_key name=%s bits=2048", F.dir, name);
		assert_non_null(out);
		snprintf(kid, sizeof(kid), "%s", out);
		free(out);
		out = CTL("set_attributes kind=key name=%s %s", F.dir, name, cases[i].attrs);
		assert_non_null(out);
		free(out);
		vv_vault_get_stats(F.v, &before);
		assert_true(vv_bek_store(F.v, "never-stored", k, kid, NULL, NULL, &ref, NULL,
					 &err) < 0);
		vv_vault_get_stats(F.v, &after);
		assert_int_equal(err.cause, cases[i].cause);
		assert_null(ref);
		/* refused before any wrap or secret write */
		assert_int_equal(after.wraps, before.wraps);
		assert_int_equal(after.secret_puts, before.secret_puts);
	}
	/* A 1024-bit RSA key is no KEK (ADE takes 2048, 3072 and 4096). */
	out = CTL("-f kid put_key name=weakkek bits=1024", F.dir);
	assert_non_null(out);
	snprintf(kid, sizeof(kid), "%s", out);
	free(out);
	vv_vault_get_stats(F.v, &before);
	assert_true(vv_bek_store(F.v, "never-stored", k, kid, NULL, NULL, &ref, NULL, &err) < 0);
	vv_vault_get_stats(F.v, &after);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_non_null(strstr(err.message, "RSA of 1024 bits"));
	assert_null(ref);
	assert_int_equal(after.wraps, before.wraps);
	assert_int_equal(after.secret_puts, before.secret_puts);
	vv_secret_free(k);
}

/* Purge protection: reported by vv_bek_store_ex and vv_bek_fetch, required on demand. */
static void test_store_purge_protection(void **state)
{
	struct vv_secret *k = vv_secret_from("0123456789abcdef0123456789abcdef", 32);
	struct vv_vault_stats before, after;
	struct vv_bek_store_info info;
	struct vv_error err = { 0 };
	char *ref = NULL, *kid = NULL, *out;
	struct vv_bek *b;

	(void)state;
	/* Recoverable+Purgeable (the fake's default): told, not refused */
	assert_int_equal(vv_bek_store_ex(F.v, "pp-warn", k, F.kid, NULL, NULL, false, &info,
					 &ref, &kid, &err), 0);
	assert_string_equal(info.recovery_level, "Recoverable+Purgeable");
	assert_int_equal(info.recoverable_days, 90);
	assert_string_equal(info.kek_recovery_level, "Recoverable+Purgeable");
	b = fetch_ok(ref, NULL);
	assert_string_equal(b->recovery_level, "Recoverable+Purgeable");
	assert_int_equal(b->recoverable_days, 90);
	assert_null(b->kek_recovery_level);	/* fetching asks nothing about the KEK */
	vv_bek_free(b);
	free(ref);
	free(kid);
	ref = kid = NULL;

	/* required: the remote KEK is refused before any wrap or put */
	vv_vault_get_stats(F.v, &before);
	assert_int_equal(vv_bek_store_ex(F.v, "pp-never", k, F.kid, NULL, NULL, true, &info,
					 &ref, &kid, &err), -EPERM);
	vv_vault_get_stats(F.v, &after);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_non_null(strstr(err.message, "purge protection is required: the KEK "));
	assert_non_null(strstr(err.message, "--enable-purge-protection true"));
	assert_null(ref);
	assert_int_equal(after.wraps, before.wraps);
	assert_int_equal(after.secret_puts, before.secret_puts);

	/* required, no KEK: the put's answer decides; the new version opens nothing */
	assert_int_equal(vv_bek_store_ex(F.v, "pp-plain", k, NULL, NULL, NULL, true, &info,
					 &ref, &kid, &err), -EPERM);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_non_null(strstr(err.message, "the secret "));
	assert_string_equal(info.recovery_level, "Recoverable+Purgeable");
	free(ref);
	ref = NULL;

	/* a local KEK says nothing (and is not checked) */
	assert_int_equal(vv_bek_store_ex(F.v, "pp-local", k, F.pemref, NULL, NULL, false,
					 &info, &ref, &kid, &err), 0);
	assert_string_equal(info.recovery_level, "Recoverable+Purgeable");
	assert_string_equal(info.kek_recovery_level, "");
	free(ref);
	free(kid);
	ref = kid = NULL;

	/* a protected vault passes */
	out = CTL("vault_settings recovery_level=Recoverable", F.dir);
	assert_non_null(out);
	free(out);
	assert_int_equal(vv_bek_store_ex(F.v, "pp-ok", k, F.kid, NULL, NULL, true, &info,
					 &ref, &kid, &err), 0);
	assert_string_equal(info.recovery_level, "Recoverable");
	assert_string_equal(info.kek_recovery_level, "Recoverable");
	free(ref);
	free(kid);
	out = CTL("vault_settings recovery_level=Recoverable+Purgeable", F.dir);
	assert_non_null(out);
	free(out);
	vv_secret_free(k);
}

static void test_disabled_secret(void **state)
{
	struct vv_bek *b = NULL;
	struct vv_error err = { 0 };
	char *out;

	(void)state;
	out = CTL("-f id put_bek name=off key=x", F.dir);
	assert_non_null(out);
	free(out);
	out = CTL("disable name=off", F.dir);
	assert_non_null(out);
	free(out);
	assert_true(vv_bek_fetch(F.v, "off", NULL, &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_DISABLED);
	assert_null(b);
}

/* The CLI against the vault: right fingerprint, exp warning, no key. */
static void test_cli_show(void **state)
{
	char *out, *err_text, errpath[700], want[100];

	(void)state;
	out = CTL("-f id put_bek name=cli key=cli-passphrase-value exp=1000000000", F.dir);
	assert_non_null(out);
	free(out);
	snprintf(errpath, sizeof(errpath), "%s/cli.err", F.dir);
	out = kt_capture("%s --vault %s --imds %s --ca-file %s key show cli 2>%s", F.bin, F.kv,
			 F.imds, F.ca, errpath);
	assert_non_null(out);
	{
		struct vv_secret *s = vv_secret_from("cli-passphrase-value", 20);
		char fp[65];

		vv_secret_fingerprint(s, fp);
		vv_secret_free(s);
		snprintf(want, sizeof(want), "sha256:%s", fp);
	}
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, "source:       keyvault"));
	assert_non_null(strstr(out, "(EXPIRED)"));
	assert_null(strstr(out, "cli-passphrase-value"));
	err_text = kt_read(errpath, NULL);
	assert_non_null(err_text);
	assert_non_null(strstr(err_text, "expired"));
	assert_null(strstr(err_text, "cli-passphrase-value"));
	free(err_text);
	/* the vault's recovery level and what it means */
	assert_non_null(strstr(out, "recovery:     Recoverable+Purgeable, 90 days "
			       "(NOT purge-protected)"));
	assert_null(strstr(out, "KEK recovery:"));	/* not wrapped */
	free(out);

	/* wrapped by the vault KEK: its level too (one key GET); JSON fields */
	out = CTL("-f id put_bek name=cliw key=cli-passphrase-value kek=kek", F.dir);
	assert_non_null(out);
	free(out);
	out = CTL("vault_settings recovery_level=Recoverable recoverable_days=30", F.dir);
	assert_non_null(out);
	free(out);
	out = kt_capture("%s --vault %s --imds %s --ca-file %s key show cliw 2>%s", F.bin, F.kv,
			 F.imds, F.ca, errpath);
	assert_non_null(out);
	assert_non_null(strstr(out, "recovery:     Recoverable, 30 days (purge-protected)"));
	assert_non_null(strstr(out, "KEK recovery: Recoverable, 30 days (purge-protected)"));
	free(out);
	out = kt_capture("%s --json --vault %s --imds %s --ca-file %s key show cliw 2>%s", F.bin,
			 F.kv, F.imds, F.ca, errpath);
	assert_non_null(out);
	assert_non_null(strstr(out, "\"recovery_level\":\"Recoverable\",\"recoverable_days\":30,"
			       "\"purge_protected\":true,\"kek_recovery_level\":\"Recoverable\","
			       "\"kek_purge_protected\":true"));
	free(out);
	out = CTL("vault_settings recovery_level=Recoverable+Purgeable", F.dir);
	assert_non_null(out);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ade_unwrapped),
		cmocka_unit_test(test_ade_wrapped_each_alg),
		cmocka_unit_test(test_windows_bek_from_vault),
		cmocka_unit_test(test_store_with_vault_kek),
		cmocka_unit_test(test_store_refuses_bad_kek),
		cmocka_unit_test(test_store_purge_protection),
		cmocka_unit_test(test_disabled_secret),
		cmocka_unit_test(test_cli_show),
	};

	return cmocka_run_group_tests_name("bek_vault", tests, setup, teardown);
}
