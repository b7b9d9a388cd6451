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
	char msg[512];
	int r;

	r = vv_provision(f->v, &req, &res, &err, msg, sizeof(msg));
	if (r < 0)
		fail_msg("provision: %s", msg);
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
	char kid1[512], kid2[512], kid3[512], kek[512], msg[512];

	put_key("kek1", kid1, sizeof(kid1));
	snprintf(kek, sizeof(kek), "%s/keys/kek1", F.kv_url);
	provision(f, kek);
	assert_int_equal(kt_sh("cp --sparse=always '%s' '%s'", f->img, f->copy), 0);
	assert_int_equal(prov_token_opens_own(f->v, f->img, &t0), 0);

	/* BEK */
	if (vv_rotate(f->v, &rq, &rr, &err, msg, sizeof(msg)) < 0)
		fail_msg("rotate --bek: %s", msg);
	vv_rotate_result_clear(&rr);
	assert_int_equal(prov_token_opens_own(f->v, f->img, &t1), 0);
	assert_string_not_equal(t1.key, t0.key);
	assert_int_not_equal(t1.keyslot, t0.keyslot);
	assert_string_equal(t1.kek, kid1);

	/* KEK: a new version of the same key (Key Vault's key rotation) */
	put_key("kek1", kid2, sizeof(kid2));
	rq.bek = false;
	rq.kek = kek;		/* unversioned: the latest version wraps */
	if (vv_rotate(f->v, &rq, &rr, &err, msg, sizeof(msg)) < 0)
		fail_msg("rotate --kek: %s", msg);
	vv_rotate_result_clear(&rr);
	assert_int_equal(prov_token_opens_own(f->v, f->img, &t2), 0);
	assert_string_equal(t2.kek, kid2);
	assert_int_equal(t2.keyslot, t1.keyslot);

	/* KEK: another key, another algorithm */
	put_key("kek2", kid3, sizeof(kid3));
	rq.kek = kid3;
	rq.alg = "RSA-OAEP-256";
	if (vv_rotate(f->v, &rq, &rr, &err, msg, sizeof(msg)) < 0)
		fail_msg("rotate --kek kek2: %s", msg);
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
	char kid[512], msg[512];

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
			vv_rotate(v, &kq, &rr, &err, msg, sizeof(msg));
			_exit(3);
		}
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
		assert_int_equal(prov_token_opens_own(f->v, f->img, &t), 0);
		vv_token_clear(&t);
		if (vv_rotate(f->v, &rq, &rr, &err, msg, sizeof(msg)) < 0)
			fail_msg("rotate after kill at step %d: %s", (int)steps[i], msg);
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
	char kid[512], kid2[512], msg[512];

	put_key("kek1", kid, sizeof(kid));
	provision(f, kid);
	put_key("kek3", kid2, sizeof(kid2));
	assert_int_equal(vv_fakes_ctl_ok(&F, "disable", "{\"kind\":\"key\",\"name\":\"kek3\"}"), 0);
	prov_sha256_file(f->img, h1);
	rq.kek = kid2;
	assert_true(vv_rotate(f->v, &rq, &rr, &err, msg, sizeof(msg)) < 0);
	assert_int_equal(err.cause, VV_CAUSE_DISABLED);
	vv_rotate_result_clear(&rr);
	rq.kek = NULL;
	rq.bek = true;
	/* secret PUTs refused: no new version, so no keyslot either */
	assert_int_equal(vv_fakes_ctl_ok(&F, "rbac_deny", "{\"path\":\"/secrets/*\",\"method\":\"PUT\"}"), 0);
	assert_true(vv_rotate(f->v, &rq, &rr, &err, msg, sizeof(msg)) < 0);
	assert_int_equal(err.cause, VV_CAUSE_FORBIDDEN);
	vv_rotate_result_clear(&rr);
	prov_sha256_file(f->img, h2);
	assert_memory_equal(h1, h2, 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_provision_tags_and_token, setup, prov_fx_teardown),
		cmocka_unit_test_setup_teardown(test_rotate_bek_kek_old_copy, setup, prov_fx_teardown),
		cmocka_unit_test_setup_teardown(test_rotate_killed_resumes, setup, prov_fx_teardown),
		cmocka_unit_test_setup_teardown(test_disabled_kek_changes_nothing, setup, prov_fx_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
