// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `vaultvol adopt --rewrite` against the Key Vault fake on an image file: a
 * volume provisioned against the "primary" vault, whose secrets are then
 * restored into the "secondary" one with the same names and versions (as
 * Key Vault's backup/restore does), gets its token rewritten to the new
 * vault once a `moved` line maps it there. Checked: the new references, the
 * header backup holding the old token, nothing else in the header changed
 * (JSON metadata minus the tokens, keyslot and data areas byte for byte),
 * the old vault not asked; and that nothing is written without a moved
 * line, when the key is not at the new vault, when the operator says no,
 * or (the command) without a terminal and without --yes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <json-c/json.h>

#include "agent/command.h"
#include "agent/provision/provision.h"
#include "agent/volume/luks2_token.h"
#include "tests/unit/keysrc_helpers.h"
#include "tests/unit/prov_fixture.h"
#include "tests/unit/support/fakes_proc.h"
#include "vault/vault.h"

static struct vv_fakes F;

VV_FAKES_GROUP(F, VV_FAKES_NO_PROXY)

static struct vv_vault *mkvault(const char *url, const struct vv_vault_move *mv)
{
	struct vv_vault_config c = {
		.vault_url = url, .imds_url = F.imds_url, .ca_file = F.ca,
		.moves = mv, .nmoves = mv ? 1 : 0,
		.request_timeout_ms = 5000, .total_timeout_ms = 30000,
	};
	struct vv_vault *v = NULL;

	assert_int_equal(vv_vault_new(&c, &v), 0);
	return v;
}

/* A volume whose token names the primary vault, its secret wrapped by kek1. */
static int setup(void **state)
{
	struct vv_provision_req req = { .secret = "data1", .mount = "/data",
		.recovery = VV_RECOVERY_PRINT, .format_only = true,
		.recovery_iterations = 4, .recovery_max_kb = 8192 };
	struct prov_fx *f = prov_fx_new("rewrite");
	struct vv_provision_result res;
	struct vv_error err = { 0 };
	char kid[512], kek[512];
	int fd;

	if (!f)
		return -1;
	fd = open(f->img, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 32 << 20) < 0)
		return -1;
	close(fd);
	if (vv_fakes_ctl_ok(&F, "reset", NULL) < 0 ||
	    !vv_fakes_ctl_str(&F, kid, sizeof(kid), "kid", "put_key",
			      "{\"vault\":\"all\",\"name\":\"kek1\",\"bits\":2048}"))
		return -1;
	f->v = mkvault(F.kv_url, NULL);
	snprintf(kek, sizeof(kek), "%s/keys/kek1", F.kv_url);
	req.device = f->img;
	req.kek = kek;
	req.state_dir = f->state;
	if (vv_provision(f->v, &req, &res, &err) < 0) {
		fprintf(stderr, "provision: %s\n", err.message);
		return -1;
	}
	vv_provision_result_clear(&res);
	*state = f;
	return 0;
}

/* The primary's secrets into the secondary, same names, versions and tags. */
static void restore_into_secondary(void)
{
	struct json_object *ans = vv_fakes_ctl(&F, "export", "{\"vault\":\"primary\"}"), *ops;

	assert_non_null(ans);
	assert_true(json_object_object_get_ex(ans, "ops", &ops));
	for (size_t i = 0; i < json_object_array_length(ops); i++) {
		struct json_object *op = json_object_array_get_idx(ops, i), *kind;

		assert_true(json_object_object_get_ex(op, "op", &kind));
		if (strcmp(json_object_get_string(kind), "put_secret"))
			continue;	/* kek1 is in both vaults already */
		json_object_object_del(op, "op");
		json_object_object_add(op, "vault", json_object_new_string("secondary"));
		assert_int_equal(vv_fakes_ctl_ok(&F, "put_secret", "%s",
						 json_object_to_json_string(op)), 0);
	}
	json_object_put(ans);
}

/* What must not change: the header's JSON without its tokens, and everything after the headers. */
struct header_rest {
	struct json_object *json;
	unsigned char tail[32];
};

static void header_rest(const char *img, struct header_rest *h)
{
	unsigned char bin[4096], buf[65536];
	uint64_t hdr_size = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 32;
	char *json;
	ssize_t got;
	int fd = open(img, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, bin, sizeof(bin), 0), (ssize_t)sizeof(bin));
	for (int i = 0; i < 8; i++)
		hdr_size = hdr_size << 8 | bin[8 + i];	/* big-endian hdr_size */
	assert_true(hdr_size > 4096 && hdr_size <= 4 << 20);
	json = calloc(1, hdr_size - 4096 + 1);
	assert_int_equal(pread(fd, json, hdr_size - 4096, 4096), (ssize_t)(hdr_size - 4096));
	h->json = json_tokener_parse(json);
	assert_non_null(h->json);
	json_object_object_del(h->json, "tokens");
	free(json);
	/* the secondary header, then keyslots and data */
	assert_true(lseek(fd, (off_t)(2 * hdr_size), SEEK_SET) >= 0);
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while ((got = read(fd, buf, sizeof(buf))) > 0)
		EVP_DigestUpdate(ctx, buf, (size_t)got);
	EVP_DigestFinal_ex(ctx, h->tail, &n);
	EVP_MD_CTX_free(ctx);
	close(fd);
}

static int backups(const struct prov_fx *f)
{
	char *s = kt_capture("ls '%s/header-backups' 2>/dev/null | wc -l", f->state);
	int n = s ? atoi(s) : -1;

	free(s);
	return n;
}

struct seen {
	int calls;
	bool answer;
	int backups_then;
	const struct prov_fx *f;
};

static bool confirm(const struct vv_token *before, const struct vv_token *after, void *arg)
{
	struct seen *s = arg;

	s->calls++;
	s->backups_then = backups(s->f);
	assert_string_not_equal(before->key, after->key);
	return s->answer;
}

/* ref's path (from "/secrets/" or "/keys/") at origin. */
static void at(char *buf, size_t len, const char *origin, const char *ref)
{
	const char *p = strstr(ref, "/secrets/");

	snprintf(buf, len, "%s%s", origin, p ? p : strstr(ref, "/keys/"));
}

static void test_rewrite(void **state)
{
	struct prov_fx *f = *state;
	struct vv_vault_move mv = { .from = F.kv_url, .to = F.kv2_url };
	struct seen seen = { .answer = true, .f = f };
	struct vv_rewrite_req req = { .device = f->img, .moves = &mv, .nmoves = 1,
				      .state_dir = f->state, .confirm = confirm,
				      .confirm_arg = &seen };
	struct vv_rewrite_result res;
	struct header_rest h0, h1;
	struct vv_error err = { 0 };
	struct vv_token t, tb;
	struct vv_vault *v;
	char want[600];
	long old_gets;
	int nb;

	restore_into_secondary();
	header_rest(f->img, &h0);
	nb = backups(f);
	old_gets = vv_fakes_counter(&F, "primary.requests");
	assert_true(old_gets > 0);	/* provision used it: the counter counts */
	v = mkvault(F.kv2_url, &mv);
	if (vv_adopt_rewrite(v, &req, &res, &err) < 0)
		fail_msg("rewrite: %s", err.message);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.backups_then, nb);	/* asked before the backup */
	/* the old vault got nothing */
	assert_int_equal(vv_fakes_counter(&F, "primary.requests"), old_gets);

	/* same names and versions, at the new vault; nothing else */
	at(want, sizeof(want), F.kv2_url, res.before.key);
	assert_string_equal(res.after.key, want);
	assert_non_null(strstr(res.before.key, F.kv_url));
	at(want, sizeof(want), F.kv2_url, res.before.kek);
	assert_string_equal(res.after.kek, want);
	assert_int_equal(vv_token_read(f->img, &t), 0);
	assert_string_equal(t.key, res.after.key);
	assert_string_equal(t.kek, res.after.kek);
	assert_string_equal(t.alg, res.before.alg);
	assert_string_equal(t.name, res.before.name);
	assert_string_equal(t.mount, res.before.mount);
	assert_int_equal(t.keyslot, res.before.keyslot);
	assert_int_equal(t.token_id, res.before.token_id);
	vv_token_clear(&t);

	/* the backup, taken before the write, holds the old token */
	assert_int_equal(backups(f), nb + 1);
	assert_int_equal(vv_token_read(res.backup, &tb), 0);
	assert_string_equal(tb.key, res.before.key);
	vv_token_clear(&tb);

	/* the header minus the token: unchanged */
	header_rest(f->img, &h1);
	assert_true(json_object_equal(h0.json, h1.json));
	assert_memory_equal(h0.tail, h1.tail, 32);
	json_object_put(h0.json);
	json_object_put(h1.json);

	/* and the volume opens with the token's key, from the new vault */
	vv_vault_free(v);
	v = mkvault(F.kv2_url, NULL);
	assert_int_equal(prov_token_opens_own(v, f->img, &t), 0);
	vv_token_clear(&t);
	vv_vault_free(v);
	vv_rewrite_result_clear(&res);
}

/* Each refusal leaves the image as it was and takes no backup. */
static void test_refusals_write_nothing(void **state)
{
	struct prov_fx *f = *state;
	struct vv_vault_move mv = { .from = F.kv_url, .to = F.kv2_url };
	struct seen seen = { .answer = true, .f = f };
	struct vv_rewrite_req req = { .device = f->img, .state_dir = f->state,
				      .confirm = confirm, .confirm_arg = &seen };
	struct vv_rewrite_result res;
	struct vv_error err = { 0 };
	unsigned char h0[32], h1[32];
	struct vv_vault *v = mkvault(F.kv2_url, &mv);
	struct vv_token t;
	char line[400];
	int nb = backups(f);

	prov_sha256_file(f->img, h0);
	/* no moved line for the token's vault: say so, and the line to add */
	assert_int_equal(vv_adopt_rewrite(v, &req, &res, &err), -ENOENT);
	assert_non_null(strstr(err.message, "no [vault] moved line"));
	assert_non_null(strstr(err.message, F.kv_url));
	snprintf(line, sizeof(line), "moved = %s https://NEW-VAULT", F.kv_url);
	assert_non_null(strstr(err.remedy, line));
	vv_rewrite_result_clear(&res);

	/* the key is not at the new vault (not restored): name the secret and the vault */
	req.moves = &mv;
	req.nmoves = 1;
	assert_true(vv_adopt_rewrite(v, &req, &res, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_NOT_FOUND);
	assert_non_null(strstr(err.message, "/secrets/data1/"));
	assert_non_null(strstr(err.message, F.kv2_url));
	assert_non_null(strstr(err.message, "nothing was written"));
	assert_non_null(strstr(err.remedy, F.kv2_url));
	vv_rewrite_result_clear(&res);

	/* a secret of that name and version there, but another key: it opens no keyslot */
	assert_int_equal(vv_token_read(f->img, &t), 0);
	assert_int_equal(vv_fakes_ctl_ok(&F, "put_bek", "{\"vault\":\"secondary\",\"name\":\"data1\","
					 "\"version\":\"%s\",\"key\":\"not-this-volume-key\","
					 "\"kek\":\"kek1\"}", strrchr(t.key, '/') + 1), 0);
	vv_token_clear(&t);
	assert_int_equal(vv_adopt_rewrite(v, &req, &res, &err), -EPERM);
	assert_non_null(strstr(err.message, "does not open keyslot 0"));
	assert_int_equal(seen.calls, 0);
	vv_rewrite_result_clear(&res);

	/* restored, but the operator says no */
	restore_into_secondary();
	seen.answer = false;
	assert_int_equal(vv_adopt_rewrite(v, &req, &res, &err), -ECANCELED);
	assert_int_equal(seen.calls, 1);
	assert_non_null(strstr(err.message, "not confirmed"));
	vv_rewrite_result_clear(&res);

	prov_sha256_file(f->img, h1);
	assert_memory_equal(h0, h1, 32);
	assert_int_equal(backups(f), nb);
	vv_vault_free(v);
}

static void test_ref_move(void **state)
{
	const struct vv_vault_move mv[] = {
		{ "https://old.vault.azure.net", "https://new.vault.azure.net" },
		{ "https://b.vault.azure.net:8443", "https://c.vault.azure.net" },
	};
	char *out = NULL;

	(void)state;
	assert_int_equal(vv_ref_move("https://OLD.vault.azure.net/secrets/x/0123", mv, 2, &out), 1);
	assert_string_equal(out, "https://new.vault.azure.net/secrets/x/0123");
	free(out);
	assert_int_equal(vv_ref_move("https://old.vault.azure.net:443/keys/k/9", mv, 2, &out), 1);
	assert_string_equal(out, "https://new.vault.azure.net/keys/k/9");
	free(out);
	assert_int_equal(vv_ref_move("https://b.vault.azure.net:8443/secrets/y", mv, 2, &out), 1);
	assert_string_equal(out, "https://c.vault.azure.net/secrets/y");
	free(out);
	/* another port is another vault */
	assert_int_equal(vv_ref_move("https://b.vault.azure.net/secrets/y", mv, 2, &out), 0);
	assert_null(out);
	assert_int_equal(vv_ref_move("https://other.vault.azure.net/secrets/y", mv, 2, &out), 0);
	assert_int_equal(vv_ref_move("keystore:y", mv, 2, &out), -EINVAL);
	assert_int_equal(vv_ref_move("data1", mv, 2, &out), -EINVAL);
	assert_null(out);
}

extern const struct vv_command *const __start_vv_commands[];
extern const struct vv_command *const __stop_vv_commands[];

/* `vaultvol [--json] adopt ARGS...` in this process, stdin from /dev/null. */
static int run_adopt(const struct vv_options *opt, char **argv, int argc)
{
	int saved = dup(0), fd = open("/dev/null", O_RDONLY), rc = -1;

	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, 0);
	close(fd);
	for (const struct vv_command *const *c = __start_vv_commands; c < __stop_vv_commands; c++)
		if (!strcmp((*c)->name, "adopt")) {
			optind = 0;
			rc = (*c)->run(opt, argc, argv);
		}
	dup2(saved, 0);
	close(saved);
	return rc;
}

/* The command: no terminal and no --yes refuses; --yes rewrites. */
static void test_command_terminal(void **state)
{
	struct prov_fx *f = *state;
	struct vv_options opt = { 0 };
	char conf[PATH_MAX], want[600];
	char *no_yes[] = { "adopt", f->img, "--rewrite", NULL };
	char *yes[] = { "adopt", f->img, "--rewrite", "--yes", NULL };
	char *mixed[] = { "adopt", f->img, "--rewrite", "--secret", "x", NULL };
	unsigned char h0[32], h1[32];
	struct vv_token t;
	int nb = backups(f);

	restore_into_secondary();
	snprintf(conf, sizeof(conf), "%s/vaultvol.conf", f->dir);
	assert_int_equal(kt_sh("printf '[vault]\\nurl = %s\\nimds = %s\\nca_file = %s\\n"
			       "moved = %s %s\\n' >'%s' && chmod 600 '%s'", F.kv2_url, F.imds_url,
			       F.ca, F.kv_url, F.kv2_url, conf, conf), 0);
	opt.config_path = conf;
	opt.state_dir = f->state;
	prov_sha256_file(f->img, h0);
	assert_int_equal(run_adopt(&opt, mixed, 5), 2);
	assert_int_equal(run_adopt(&opt, no_yes, 3), 2);
	prov_sha256_file(f->img, h1);
	assert_memory_equal(h0, h1, 32);
	assert_int_equal(backups(f), nb);

	assert_int_equal(run_adopt(&opt, yes, 4), 0);
	assert_int_equal(backups(f), nb + 1);
	assert_int_equal(vv_token_read(f->img, &t), 0);
	snprintf(want, sizeof(want), "%s/secrets/data1/", F.kv2_url);
	assert_int_equal(strncmp(t.key, want, strlen(want)), 0);
	vv_token_clear(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref_move),
		cmocka_unit_test_setup_teardown(test_rewrite, setup, prov_fx_teardown),
		cmocka_unit_test_setup_teardown(test_refusals_write_nothing, setup, prov_fx_teardown),
		cmocka_unit_test_setup_teardown(test_command_terminal, setup, prov_fx_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
