// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Provision and rotate against the Key Vault fake (TLS on 127.0.0.1, IMDS
 * tokens, remote wrap/unwrap), on image files: the same code paths as with
 * the local keystore, with versioned https:// references in the token.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "agent/volume/crypt.h"
#include "agent/provision/provision.h"
#include "agent/volume/luks2_token.h"
#include "base/log.h"
#include "tests/unit/keysrc_helpers.h"
#include "tests/unit/prov_fixture.h"
#include "tests/unit/support/fakes_proc.h"
#include "vault/vault.h"

static struct vv_fakes F;

static struct vv_vault *mkvault(void)
{
	struct vv_vault_config c = {
		.vault_url = F.kv_url,
		.imds_url = F.imds_url,
		.ca_file = F.ca,
		.request_timeout_ms = 5000,
		.total_timeout_ms = 30000,
	};
	struct vv_vault *v = NULL;

	assert_int_equal(vv_vault_new(&c, &v), 0);
	return v;
}

VV_FAKES_GROUP(F, VV_FAKES_NO_PROXY)

static int setup(void **state)
{
	struct prov_fx *f = prov_fx_new("provkv");
	int fd;

	if (!f)
		return -1;
	fd = open(f->img, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 64 << 20) < 0)
		return -1;
	close(fd);
	if (vv_fakes_ctl_ok(&F, "reset", NULL) < 0)
		return -1;
	f->v = mkvault();
	*state = f;
	return 0;
}

/* A new version of RSA key name in the fake; its versioned kid. */
static void put_key(const char *name, char *kid, size_t len)
{
	assert_non_null(vv_fakes_ctl_str(&F, kid, len, "kid", "put_key",
					 "{\"vault\":\"all\",\"name\":\"%s\",\"bits\":2048}", name));
}

static void provision(struct prov_fx *f, const char *kek)
{
	struct vv_provision_req req = {
		.device = f->img, .secret = "data1", .kek = kek, .mount = "/data",
		.recovery = VV_RECOVERY_SECRET, .format_only = true,
		.state_dir = f->state, .recovery_iterations = 4, .recovery_max_kb = 8192,
	};
	struct vv_provision_result res;
	struct vv_error err = { 0 };
	int r;

	r = vv_provision(f->v, &req, &res, &err);
	if (r < 0)
		fail_msg("provision: %s", err.message);
	vv_provision_result_clear(&res);
}

static void test_provision_tags_and_token(void **state)
{
	struct prov_fx *f = *state;
	struct vv_secret_bundle *b = NULL;
	struct vv_token t;
	struct vv_error err;
	char kid[512], kek[512], prefix[600];

	put_key("kek1", kid, sizeof(kid));
	snprintf(kek, sizeof(kek), "%s/keys/kek1", F.kv_url);
	provision(f, kek);
	assert_int_equal(prov_token_opens_own(f->v, f->img, &t), 0);
	/* versioned secret URL in this vault, versioned KEK URL, algorithm */
	snprintf(prefix, sizeof(prefix), "%s/secrets/data1/", F.kv_url);
	assert_int_equal(strncmp(t.key, prefix, strlen(prefix)), 0);
	assert_int_equal(strlen(t.key), strlen(prefix) + 32);
	assert_string_equal(t.kek, kid);
	assert_string_equal(t.alg, "RSA-OAEP");

	/* ADE conventions on the stored secret */
	assert_int_equal(vv_secret_get(f->v, t.key, &b, &err), 0);
	assert_string_equal(b->content_type, "Wrapped BEK");
	assert_string_equal(vv_bundle_tag(b, "DiskEncryptionKeyEncryptionKeyURL"), kid);
	assert_string_equal(vv_bundle_tag(b, "DiskEncryptionKeyEncryptionAlgorithm"), "RSA-OAEP");
	assert_string_equal(vv_bundle_tag(b, "DiskEncryptionKeyFileName"),
			    "LinuxPassPhraseFileName");
	vv_secret_bundle_free(b);
	/* the recovery passphrase: its own secret, wrapped by the same KEK */
	assert_int_equal(vv_secret_get(f->v, "data1-recovery", &b, &err), 0);
	assert_string_equal(b->content_type, "Wrapped BEK");
	assert_string_equal(vv_bundle_tag(b, "DiskEncryptionKeyEncryptionKeyURL"), kid);
	vv_secret_bundle_free(b);
	vv_token_clear(&t);
}

static void test_rotate_bek_kek_old_copy(void **state)
{
	struct prov_fx *f = *state;
	struct vv_rotate_req rq = { .device = f->img, .bek = true, .state_dir = f->state };
	struct vv_rotate_result rr;
	struct vv_token t0, t1, t2, t3, tc;
	struct vv_error err = { 0 };
	char kid1[512], kid2[512], kid3[512], kek[512];

	put_key("kek1", kid1, sizeof(kid1));
	snprintf(kek, sizeof(kek), "%s/keys/kek1", F.kv_url);
	provision(f, kek);
	assert_int_equal(kt_sh("cp --sparse=always '%s' '%s'", f->img, f->copy), 0);
	assert_int_equal(prov_token_opens_own(f->v, f->img, &t0), 0);

	/* BEK */
	if (vv_rotate(f->v, &rq, &rr, &err) < 0)
		fail_msg("rotate --bek: %s", err.message);
	vv_rotate_result_clear(&rr);
	assert_int_equal(prov_token_opens_own(f->v, f->img, &t1), 0);
	assert_string_not_equal(t1.key, t0.key);
	assert_int_not_equal(t1.keyslot, t0.keyslot);
	assert_string_equal(t1.kek, kid1);

	/* KEK: a new version of the same key (Key Vault's key rotation) */
	put_key("kek1", kid2, sizeof(kid2));
	rq.bek = false;
	rq.kek = kek;		/* unversioned: the latest version wraps */
	if (vv_rotate(f->v, &rq, &rr, &err) < 0)
		fail_msg("rotate --kek: %s", err.message);
	vv_rotate_result_clear(&rr);
	assert_int_equal(prov_token_opens_own(f->v, f->img, &t2), 0);
	assert_string_equal(t2.kek, kid2);
	assert_int_equal(t2.keyslot, t1.keyslot);

	/* KEK: another key, another algorithm */
	put_key("kek2", kid3, sizeof(kid3));
	rq.kek = kid3;
	rq.alg = "RSA-OAEP-256";
	if (vv_rotate(f->v, &rq, &rr, &err) < 0)
		fail_msg("rotate --kek kek2: %s", err.message);
	vv_rotate_result_clear(&rr);
	assert_int_equal(prov_token_opens_own(f->v, f->img, &t3), 0);
	assert_string_equal(t3.kek, kid3);
	assert_string_equal(t3.alg, "RSA-OAEP-256");

	/* the pre-rotation copy opens with the versions in its own token */
	assert_int_equal(prov_token_opens_own(f->v, f->copy, &tc), 0);
	assert_string_equal(tc.key, t0.key);
	assert_string_equal(tc.kek, kid1);

	vv_token_clear(&t0);
	vv_token_clear(&t1);
	vv_token_clear(&t2);
	vv_token_clear(&t3);
	vv_token_clear(&tc);
}

static void kill_after(enum vv_rotate_step step, const struct vv_token *t, void *arg)
{
	(void)t;
	if (step == *(const enum vv_rotate_step *)arg)
		raise(SIGKILL);
}

static void test_rotate_killed_resumes(void **state)
{
	static const enum vv_rotate_step steps[] = {
		VV_ROT_STORED, VV_ROT_KEYSLOT_ADDED, VV_ROT_TOKEN_UPDATED,
		VV_ROT_OLD_KEYSLOT_REMOVED,
	};
	struct prov_fx *f = *state;
	struct vv_rotate_req rq = { .device = f->img, .bek = true, .state_dir = f->state };
	struct vv_rotate_result rr;
	struct vv_token t;
	struct vv_error err = { 0 };
	char kid[512];

	put_key("kek1", kid, sizeof(kid));
	provision(f, kid);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		int st;
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			/* A client of its own: the parent's connections stay the parent's. */
			struct vv_vault *v = mkvault();
			struct vv_rotate_req kq = rq;

			kq.progress = kill_after;
			kq.progress_arg = (void *)&steps[i];
			vv_rotate(v, &kq, &rr, &err);
			_exit(3);
		}
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
		assert_int_equal(prov_token_opens_own(f->v, f->img, &t), 0);
		vv_token_clear(&t);
		if (vv_rotate(f->v, &rq, &rr, &err) < 0)
			fail_msg("rotate after kill at step %d: %s", (int)steps[i], err.message);
		assert_int_equal(rr.resumed, steps[i] >= VV_ROT_KEYSLOT_ADDED);
		vv_rotate_result_clear(&rr);
		assert_int_equal(prov_token_opens_own(f->v, f->img, &t), 0);
		assert_null(t.retire_key);
		vv_token_clear(&t);
	}
}

static void test_disabled_kek_changes_nothing(void **state)
{
	struct prov_fx *f = *state;
	struct vv_rotate_req rq = { .device = f->img, .state_dir = f->state };
	struct vv_rotate_result rr;
	struct vv_error err = { 0 };
	unsigned char h1[32], h2[32];
	char kid[512], kid2[512];

	put_key("kek1", kid, sizeof(kid));
	provision(f, kid);
	put_key("kek3", kid2, sizeof(kid2));
	assert_int_equal(vv_fakes_ctl_ok(&F, "disable", "{\"kind\":\"key\",\"name\":\"kek3\"}"), 0);
	prov_sha256_file(f->img, h1);
	rq.kek = kid2;
	assert_true(vv_rotate(f->v, &rq, &rr, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_DISABLED);
	vv_rotate_result_clear(&rr);
	rq.kek = NULL;
	rq.bek = true;
	/* secret PUTs refused: no new version, so no keyslot either */
	assert_int_equal(vv_fakes_ctl_ok(&F, "rbac_deny", "{\"path\":\"/secrets/*\",\"method\":\"PUT\"}"), 0);
	assert_true(vv_rotate(f->v, &rq, &rr, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_FORBIDDEN);
	vv_rotate_result_clear(&rr);
	prov_sha256_file(f->img, h2);
	assert_memory_equal(h1, h2, 32);
}

/* ---- guards against losing a key ------------------------------------------ */

/* Provision f->img (format only) with kek; r, err filled. Warnings go to f->dir/log. */
static int try_provision(struct prov_fx *f, const char *kek, bool require, bool force,
			 struct vv_error *err)
{
	struct vv_provision_req req = {
		.device = f->img, .secret = "data1", .kek = kek, .mount = "/data",
		.recovery = VV_RECOVERY_SECRET, .format_only = true, .force = force,
		.require_purge_protection = require,
		.state_dir = f->state, .recovery_iterations = 4, .recovery_max_kb = 8192,
	};
	struct vv_provision_result res;
	int r;

	r = vv_provision(f->v, &req, &res, err);
	vv_provision_result_clear(&res);
	return r;
}

/* Log to a fresh f->dir/log; returns its path in buf. */
static const char *log_to(struct prov_fx *f, char *buf, size_t len)
{
	snprintf(buf, len, "%s/log", f->dir);
	unlink(buf);
	assert_int_equal(vv_log_set_file(buf), 0);
	return buf;
}

/* The log so far (malloc'ed, "" when empty); logging to it stops. */
static char *log_text(const char *path)
{
	char *t;

	vv_log_set_file(NULL);
	t = kt_read(path, NULL);
	return t ? t : strdup("");
}

static void set_recovery(const char *level)
{
	assert_int_equal(vv_fakes_ctl_ok(&F, "vault_settings", "{\"recovery_level\":\"%s\"}",
					 level), 0);
}

/* Recoverable+Purgeable: provisioned, with a warning naming vault and setting; Recoverable: none. */
static void test_purge_protection_warns(void **state)
{
	struct prov_fx *f = *state;
	struct vv_error err = { 0 };
	struct vv_token t;
	char kid[512], path[600], *log;

	put_key("kek1", kid, sizeof(kid));
	log_to(f, path, sizeof(path));
	if (try_provision(f, kid, false, false, &err) < 0)
		fail_msg("provision: %s", err.message);
	log = log_text(path);
	assert_non_null(strstr(log, "has no purge protection (recoveryLevel Recoverable+Purgeable)"));
	assert_non_null(strstr(log, "the KEK https://"));
	assert_non_null(strstr(log, "az keyvault update --name "));
	assert_non_null(strstr(log, "--enable-purge-protection true"));
	/* one warning for the one vault that holds the KEK and both secrets */
	assert_null(strstr(strstr(log, "no purge protection") + 1, "no purge protection"));
	free(log);
	assert_int_equal(prov_token_opens_own(f->v, f->img, &t), 0);
	vv_token_clear(&t);

	set_recovery("Recoverable");
	log_to(f, path, sizeof(path));
	if (try_provision(f, kid, true, true, &err) < 0)
		fail_msg("provision --force --require-purge-protection: %s", err.message);
	log = log_text(path);
	assert_null(strstr(log, "purge protection"));
	free(log);
	assert_int_equal(prov_token_opens_own(f->v, f->img, &t), 0);
	vv_token_clear(&t);
}

/* Required and missing: refused, cause config, the image byte for byte as before. */
static void test_purge_protection_required(void **state)
{
	struct prov_fx *f = *state;
	struct vv_error err = { 0 };
	unsigned char h1[32], h2[32];
	char kid[512];

	put_key("kek1", kid, sizeof(kid));
	assert_int_equal(kt_sh("head -c 1048576 /dev/urandom | dd of='%s' conv=notrunc "
			       "status=none", f->img), 0);
	prov_sha256_file(f->img, h1);
	/* with a KEK: refused before the secret is stored */
	assert_int_equal(vv_fakes_ctl_ok(&F, "reset_counters", NULL), 0);
	assert_int_equal(try_provision(f, kid, true, true, &err), -EPERM);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_non_null(strstr(err.message, "purge protection is required: the KEK "));
	assert_non_null(strstr(err.message, "--enable-purge-protection true"));
	assert_int_equal(vv_fakes_counter(&F, "primary.set_secret"), 0);
	assert_int_equal(vv_fakes_counter(&F, "primary.wrapkey"), 0);
	prov_sha256_file(f->img, h2);
	assert_memory_equal(h1, h2, 32);
	/* no KEK: the stored secret's answer refuses it before step 5 */
	assert_int_equal(try_provision(f, NULL, true, true, &err), -EPERM);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_non_null(strstr(err.message, "purge protection is required: the secret "));
	prov_sha256_file(f->img, h2);
	assert_memory_equal(h1, h2, 32);
	/* a secret in a vault that says nothing is not taken as protected */
	set_recovery("CustomizedRecoverable+Purgeable");
	assert_int_equal(try_provision(f, kid, true, true, &err), -EPERM);
	prov_sha256_file(f->img, h2);
	assert_memory_equal(h1, h2, 32);
	/* the same with protection on: provisioned */
	set_recovery("Recoverable+ProtectedSubscription");
	if (try_provision(f, kid, true, true, &err) < 0)
		fail_msg("provision: %s", err.message);
}

/* KEKs a new key must not be wrapped with: refused with the reason, nothing written. */
static const struct bad_kek {
	const char *name, *attrs, *why;
	enum vv_cause cause;
	bool weak;
} bad_keks[] = {
	{ "old1024", NULL, "RSA of 1024 bits", VV_CAUSE_CONFIG, true },
	{ "expired", "\"exp\":1000000000", "expired at", VV_CAUSE_EXPIRED, false },
	{ "early", "\"nbf\":4102444800", "is not valid before", VV_CAUSE_EXPIRED, false },
	{ "off", "\"enabled\":false", "disabled key", VV_CAUSE_DISABLED, false },
};

/* Seed a bad KEK (the 1024-bit one imported from a PEM, as an old key would be). */
static void seed_bad_kek(struct prov_fx *f, const struct bad_kek *b, char *kid, size_t len)
{
	if (b->weak) {
		char pem[600], *text, *esc, *o;

		snprintf(pem, sizeof(pem), "%s/old1024.pem", f->dir);
		assert_int_equal(kt_sh("umask 077 && openssl genpkey -quiet -algorithm RSA "
				       "-pkeyopt rsa_keygen_bits:1024 -out '%s'", pem), 0);
		text = kt_read(pem, NULL);
		assert_non_null(text);
		esc = o = calloc(1, strlen(text) * 2 + 1);
		for (const char *p = text; *p; p++) {
			if (*p == '\n') {
				*o++ = '\\';
				*o++ = 'n';
			} else {
				*o++ = *p;
			}
		}
		assert_non_null(vv_fakes_ctl_str(&F, kid, len, "kid", "put_key",
						 "{\"name\":\"%s\",\"pem\":\"%s\"}", b->name, esc));
		free(esc);
		free(text);
		return;
	}
	put_key(b->name, kid, len);
	assert_int_equal(vv_fakes_ctl_ok(&F, "set_attributes",
					 "{\"kind\":\"key\",\"name\":\"%s\",%s}", b->name,
					 b->attrs), 0);
}

static void test_bad_kek_provision(void **state)
{
	struct prov_fx *f = *state;
	unsigned char h1[32], h2[32];
	char kid[512];

	assert_int_equal(kt_sh("head -c 1048576 /dev/urandom | dd of='%s' conv=notrunc "
			       "status=none", f->img), 0);
	prov_sha256_file(f->img, h1);
	for (size_t i = 0; i < sizeof(bad_keks) / sizeof(bad_keks[0]); i++) {
		struct vv_error err = { 0 };

		seed_bad_kek(f, &bad_keks[i], kid, sizeof(kid));
		assert_int_equal(vv_fakes_ctl_ok(&F, "reset_counters", NULL), 0);
		assert_true(try_provision(f, kid, false, true, &err) < 0);
		if (err.cause != bad_keks[i].cause || !strstr(err.message, bad_keks[i].why))
			fail_msg("%s: %s (%s)", bad_keks[i].name, err.message,
				 vv_cause_str(err.cause));
		assert_int_equal(vv_fakes_counter(&F, "primary.set_secret"), 0);
		assert_int_equal(vv_fakes_counter(&F, "primary.wrapkey"), 0);
		prov_sha256_file(f->img, h2);
		assert_memory_equal(h1, h2, 32);
	}
}

static void test_bad_kek_rotate(void **state)
{
	struct prov_fx *f = *state;
	struct vv_rotate_result rr;
	unsigned char h1[32], h2[32];
	char kid[512], bad[512];

	put_key("kek1", kid, sizeof(kid));
	provision(f, kid);
	prov_sha256_file(f->img, h1);
	for (size_t i = 0; i < sizeof(bad_keks) / sizeof(bad_keks[0]); i++) {
		seed_bad_kek(f, &bad_keks[i], bad, sizeof(bad));
		/* KEK rotation, and BEK rotation under the new KEK */
		for (int bek = 0; bek < 2; bek++) {
			struct vv_rotate_req rq = { .device = f->img, .bek = bek, .kek = bad,
						    .state_dir = f->state };
			struct vv_error err = { 0 };

			assert_int_equal(vv_fakes_ctl_ok(&F, "reset_counters", NULL), 0);
			assert_true(vv_rotate(f->v, &rq, &rr, &err) < 0);
			vv_rotate_result_clear(&rr);
			if (err.cause != bad_keks[i].cause || !strstr(err.message, bad_keks[i].why))
				fail_msg("%s (bek %d): %s (%s)", bad_keks[i].name, bek, err.message,
					 vv_cause_str(err.cause));
			assert_int_equal(vv_fakes_counter(&F, "primary.set_secret"), 0);
			prov_sha256_file(f->img, h2);
			assert_memory_equal(h1, h2, 32);
		}
	}
	/* the token's own KEK gone bad: a BEK rotation under it is refused too */
	assert_int_equal(vv_fakes_ctl_ok(&F, "set_attributes",
					 "{\"kind\":\"key\",\"name\":\"kek1\",\"exp\":1000000000}"), 0);
	{
		struct vv_rotate_req rq = { .device = f->img, .bek = true, .state_dir = f->state };
		struct vv_error err = { 0 };

		assert_true(vv_rotate(f->v, &rq, &rr, &err) < 0);
		vv_rotate_result_clear(&rr);
		assert_int_equal(err.cause, VV_CAUSE_EXPIRED);
		prov_sha256_file(f->img, h2);
		assert_memory_equal(h1, h2, 32);
	}
}

/* Rotate with purge protection required: refused before the header changes. */
static void test_rotate_purge_protection(void **state)
{
	struct prov_fx *f = *state;
	struct vv_rotate_req rq = { .device = f->img, .bek = true, .state_dir = f->state,
				    .require_purge_protection = true };
	struct vv_rotate_result rr;
	struct vv_error err = { 0 };
	unsigned char h1[32], h2[32];
	char kid[512], path[600], *log;
	struct vv_token t;

	put_key("kek1", kid, sizeof(kid));
	provision(f, kid);
	prov_sha256_file(f->img, h1);
	assert_int_equal(vv_rotate(f->v, &rq, &rr, &err), -EPERM);
	vv_rotate_result_clear(&rr);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_non_null(strstr(err.message, "purge protection is required"));
	prov_sha256_file(f->img, h2);
	assert_memory_equal(h1, h2, 32);
	/* not required: rotated, with the warning */
	rq.require_purge_protection = false;
	log_to(f, path, sizeof(path));
	if (vv_rotate(f->v, &rq, &rr, &err) < 0)
		fail_msg("rotate: %s", err.message);
	vv_rotate_result_clear(&rr);
	log = log_text(path);
	assert_non_null(strstr(log, "has no purge protection (recoveryLevel Recoverable+Purgeable)"));
	free(log);
	assert_int_equal(prov_token_opens_own(f->v, f->img, &t), 0);
	vv_token_clear(&t);
}

/* Adopt: purge protection required -> refused unwritten; a KEK gone bad -> a warning. */
static void test_adopt_guards(void **state)
{
	struct prov_fx *f = *state;
	struct vv_adopt_req aq = { .device = f->img, .secret = "data1", .force = true,
				   .require_purge_protection = true, .state_dir = f->state };
	struct vv_error err = { 0 };
	unsigned char h1[32], h2[32];
	char kid[512], path[600], *log;
	struct vv_token t;

	put_key("kek1", kid, sizeof(kid));
	provision(f, kid);
	prov_sha256_file(f->img, h1);
	assert_int_equal(vv_adopt(f->v, &aq, NULL, &err), -EPERM);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_non_null(strstr(err.message, "purge protection is required: the KEK "));
	prov_sha256_file(f->img, h2);
	assert_memory_equal(h1, h2, 32);

	/* an expired KEK still unwraps: adopting warns and goes on */
	assert_int_equal(vv_fakes_ctl_ok(&F, "set_attributes",
					 "{\"kind\":\"key\",\"name\":\"kek1\",\"exp\":1000000000}"), 0);
	aq.require_purge_protection = false;
	log_to(f, path, sizeof(path));
	if (vv_adopt(f->v, &aq, &t, &err) < 0)
		fail_msg("adopt: %s", err.message);
	vv_token_clear(&t);
	log = log_text(path);
	assert_non_null(strstr(log, "expired at"));
	assert_non_null(strstr(log, "vaultvol rotate --kek"));
	assert_non_null(strstr(log, "has no purge protection"));
	free(log);
	/* protected vault, required: adopted */
	set_recovery("Recoverable");
	aq.require_purge_protection = true;
	if (vv_adopt(f->v, &aq, NULL, &err) < 0)
		fail_msg("adopt: %s", err.message);
}

/* The command line: --require-purge-protection and [vault] require_purge_protection. */
static void test_cli_require_purge_protection(void **state)
{
	struct prov_fx *f = *state;
	unsigned char h1[32], h2[32];
	char kid[512], self[600], bin[700], conf[600], errp[600], common[4200], *err_text;
	ssize_t n;

	put_key("kek1", kid, sizeof(kid));
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(bin, sizeof(bin), "%s/vaultvol", self);
	snprintf(conf, sizeof(conf), "%s/vaultvol.conf", f->dir);
	snprintf(errp, sizeof(errp), "%s/cli.err", f->dir);
	snprintf(common, sizeof(common), "%s --config %s --state-dir %s --vault %s --imds %s "
		 "--ca-file %s provision %s --secret data1 --kek %s --format-only "
		 "--recovery secret --recovery-iterations 4 --recovery-memory 8192",
		 bin, conf, f->state, F.kv_url, F.imds_url, F.ca, f->img, kid);
	prov_sha256_file(f->img, h1);

	/* the option */
	assert_int_equal(kt_sh("umask 077 && printf '[vault]\\n' >%s", conf), 0);
	assert_int_equal(kt_sh("%s --require-purge-protection >/dev/null 2>%s", common, errp), 1);
	err_text = kt_read(errp, NULL);
	assert_non_null(err_text);
	assert_non_null(strstr(err_text, "purge protection is required: the KEK "));
	assert_non_null(strstr(err_text, "--enable-purge-protection true"));
	free(err_text);
	prov_sha256_file(f->img, h2);
	assert_memory_equal(h1, h2, 32);

	/* the config key */
	assert_int_equal(kt_sh("umask 077 && printf '[vault]\\nrequire_purge_protection = yes\\n' "
			       ">%s", conf), 0);
	assert_int_equal(kt_sh("%s >/dev/null 2>%s", common, errp), 1);
	err_text = kt_read(errp, NULL);
	assert_non_null(strstr(err_text, "purge protection is required"));
	free(err_text);
	prov_sha256_file(f->img, h2);
	assert_memory_equal(h1, h2, 32);

	/* neither: provisioned, with the warning */
	assert_int_equal(kt_sh("umask 077 && printf '[vault]\\nrequire_purge_protection = no\\n' "
			       ">%s", conf), 0);
	assert_int_equal(kt_sh("%s >/dev/null 2>%s", common, errp), 0);
	err_text = kt_read(errp, NULL);
	assert_non_null(strstr(err_text, "warning: the KEK "));
	assert_non_null(strstr(err_text, "has no purge protection"));
	free(err_text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_provision_tags_and_token, setup, prov_fx_teardown),
		cmocka_unit_test_setup_teardown(test_rotate_bek_kek_old_copy, setup, prov_fx_teardown),
		cmocka_unit_test_setup_teardown(test_rotate_killed_resumes, setup, prov_fx_teardown),
		cmocka_unit_test_setup_teardown(test_disabled_kek_changes_nothing, setup, prov_fx_teardown),
		cmocka_unit_test_setup_teardown(test_purge_protection_warns, setup, prov_fx_teardown),
		cmocka_unit_test_setup_teardown(test_purge_protection_required, setup, prov_fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_kek_provision, setup, prov_fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_kek_rotate, setup, prov_fx_teardown),
		cmocka_unit_test_setup_teardown(test_rotate_purge_protection, setup, prov_fx_teardown),
		cmocka_unit_test_setup_teardown(test_adopt_guards, setup, prov_fx_teardown),
		cmocka_unit_test_setup_teardown(test_cli_require_purge_protection, setup,
						prov_fx_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
