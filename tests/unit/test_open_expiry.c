// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Expiry of the keys that open a volume (agent/open/open_expiry.c), against
 * the Key Vault fake on image files (check-only opens): the secret's exp
 * comes with the key; each distinct KEK is read once after the volumes
 * opened (exact key_gets count); a refused KEK read leaves its expiry
 * unknown and fails nothing; the warning under 30 days names the key, the
 * date and what to do; volumes.json keeps both and status reads them back;
 * the journal gets a warning at most once a UTC day per volume and key
 * (fake clock; the log file stands in for the journal).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent/command.h"
#include "agent/config/config.h"
#include "agent/open/open.h"
#include "agent/volume/crypt.h"
#include "agent/volume/discover.h"
#include "base/log.h"
#include "tests/unit/keysrc_helpers.h"
#include "tests/unit/support/fakes_proc.h"
#include "vault/vault.h"

static struct vv_fakes F;
static char *dir;
static char img_a[PATH_MAX], img_b[PATH_MAX], u_a[64], u_b[64];
/* A fixed "now" for the warning texts and day counts: 2026-12-06 12:00 UTC. */
static const int64_t NOW = 1796558400;

VV_FAKES_GROUP(F, VV_FAKES_NO_PROXY)

static void make_luks(const char *img, char *uuid)
{
	struct vv_crypt_info info;

	assert_int_equal(kt_sh("truncate -s 20M '%s' && printf %%s passphrase-one >'%s/k' && "
			       "cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 "
			       "--pbkdf-force-iterations 1000 --key-file '%s/k' '%s' >/dev/null 2>&1",
			       img, dir, dir, img), 0);
	assert_int_equal(vv_crypt_probe(img, &info), 0);
	snprintf(uuid, 64, "%s", info.uuid);
}

static int setup_all(void **state)
{
	if (group_setup(state) < 0 || !(dir = kt_mkdtemp("open-expiry")))
		return -1;
	snprintf(img_a, sizeof(img_a), "%s/a.img", dir);
	snprintf(img_b, sizeof(img_b), "%s/b.img", dir);
	make_luks(img_a, u_a);
	make_luks(img_b, u_b);
	return 0;
}

static int teardown_all(void **state)
{
	kt_sh("rm -rf '%s'", dir);
	free(dir);
	return group_teardown(state);
}

static struct vv_vault *mkvault(void)
{
	struct vv_vault_config c = {
		.vault_url = F.kv_url, .imds_url = F.imds_url, .ca_file = F.ca,
		.request_timeout_ms = 5000, .total_timeout_ms = 30000,
	};
	struct vv_vault *v = NULL;

	assert_int_equal(vv_vault_new(&c, &v), 0);
	return v;
}

/*
 * KEK "kek1" expiring at kek_exp (0: none), and the secrets s1 and s2 (both
 * wrapped by it) holding the images' passphrase, s1 expiring at s1_exp.
 */
static void put_keys(int64_t kek_exp, int64_t s1_exp)
{
	char x[64] = "";

	if (kek_exp)
		snprintf(x, sizeof(x), ",\"exp\":%lld", (long long)kek_exp);
	assert_int_equal(vv_fakes_ctl_ok(&F, "put_key", "{\"vault\":\"primary\",\"name\":\"kek1\","
					 "\"bits\":2048%s}", x), 0);
	snprintf(x, sizeof(x), ",\"exp\":%lld", (long long)s1_exp);
	assert_int_equal(vv_fakes_ctl_ok(&F, "put_bek", "{\"vault\":\"primary\",\"name\":\"s1\","
					 "\"key\":\"passphrase-one\",\"kek\":\"kek1\"%s}",
					 s1_exp ? x : ""), 0);
	assert_int_equal(vv_fakes_ctl_ok(&F, "put_bek", "{\"vault\":\"primary\",\"name\":\"s2\","
					 "\"key\":\"passphrase-one\",\"kek\":\"kek1\"}"), 0);
}

/* Volumes a (s1) and b (s2) opened check-only, then the KEKs' expiry read. */
static void run(struct vv_vault *vault, struct vv_open_plan *plan, struct vv_disks *disks)
{
	struct vv_open_ctx ctx = { .vault = vault, .check_only = true, .jobs = 2 };
	struct vv_open_env env = { 0 };
	struct vv_config *cfg = NULL;
	struct vv_error err = { 0 };
	char conf[2048];

	snprintf(conf, sizeof(conf),
		 "[volume a]\nmatch = uuid:%s\nkey = %s/secrets/s1\n"
		 "[volume b]\nmatch = uuid:%s\nkey = %s/secrets/s2\n", u_a, F.kv_url, u_b, F.kv_url);
	memset(disks, 0, sizeof(*disks));
	assert_true(vv_discover_add(disks, img_a) >= 0);
	assert_true(vv_discover_add(disks, img_b) >= 0);
	if (vv_config_parse(conf, "test.conf", &cfg, &err) < 0)
		fail_msg("config: %s", err.message);
	env.cfg = cfg;
	env.disks = disks;
	assert_int_equal(vv_open_plan_build(&env, plan), 0);
	assert_int_equal(vv_open_run(&ctx, plan), 0);
	assert_int_equal(ctx.stats.fetches, 2);
	vv_open_kek_expiry(vault, plan);
	vv_config_free(cfg);
}

static void test_days(void **state)
{
	static const struct { int64_t d; long days; } cases[] = {
		{ 0, 0 }, { 1, 0 }, { 86399, 0 }, { 86400, 1 }, { 29 * 86400 + 5, 29 },
		{ -1, -1 }, { -86400, -1 }, { -86401, -2 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(vv_expiry_days(NOW + cases[i].d, NOW), cases[i].days);
}

/* Both keys' expiry recorded; one KEK get for two volumes sharing the KEK. */
static void test_secret_and_kek_expiry(void **state)
{
	int64_t now = (int64_t)time(NULL);
	int64_t kek_exp = now + 10 * 86400 + 600, s1_exp = now + 100 * 86400 + 600;
	struct vv_vault_stats st;
	struct vv_open_plan plan;
	struct vv_disks disks;
	struct vv_vault *vault = mkvault();
	struct vv_vol *a, *b;
	char msg[1024];

	(void)state;
	put_keys(kek_exp, s1_exp);
	run(vault, &plan, &disks);
	vv_vault_get_stats(vault, &st);
	/*
	 * The open itself reads no key (2 secret gets, 2 unwraps); the KEK's
	 * expiry is one get for both volumes.
	 */
	assert_int_equal(st.secret_gets, 2);
	assert_int_equal(st.unwraps, 2);
	assert_int_equal(st.key_gets, 1);
	a = vv_open_plan_find(&plan, "a");
	b = vv_open_plan_find(&plan, "b");
	assert_int_equal(a->fail, VV_FAIL_NONE);
	assert_int_equal(a->secret_exp, s1_exp);
	assert_int_equal(b->secret_exp, 0);		/* s2 has none */
	assert_int_equal(a->kek_exp, kek_exp);
	assert_int_equal(b->kek_exp, kek_exp);
	assert_int_equal(vv_expiry_days(a->kek_exp, now), 10);

	/* 100 days: no warning for the secret; 10 for the KEK: one, saying what to do */
	assert_false(vv_open_expiry_warning(a, false, now, msg, sizeof(msg)));
	assert_true(vv_open_expiry_warning(a, true, now, msg, sizeof(msg)));
	assert_non_null(strstr(msg, "the KEK "));
	assert_non_null(strstr(msg, a->kek_version));
	assert_non_null(strstr(msg, "expires on "));
	assert_non_null(strstr(msg, "(in 10 days)"));
	assert_non_null(strstr(msg, "set a new expiry date"));
	assert_non_null(strstr(msg, "vaultvol rotate"));
	assert_false(vv_open_expiry_warning(b, false, now, msg, sizeof(msg)));
	vv_open_plan_free(&plan);
	vv_disks_free(&disks);
	vv_vault_free(vault);
}

/* A KEK the identity may not read: expiry unknown, the volumes open as before. */
static void test_kek_refused(void **state)
{
	struct vv_vault_stats st;
	struct vv_open_plan plan;
	struct vv_disks disks;
	struct vv_vault *vault = mkvault();

	(void)state;
	put_keys((int64_t)time(NULL) + 86400, 0);
	assert_int_equal(vv_fakes_ctl_ok(&F, "rbac_deny", "{\"vault\":\"primary\",\"method\":\"GET\","
					 "\"path\":\"/keys/*\"}"), 0);
	run(vault, &plan, &disks);
	vv_vault_get_stats(vault, &st);
	assert_int_equal(st.key_gets, 1);		/* asked once, not per volume */
	for (size_t i = 0; i < plan.n; i++) {
		assert_int_equal(plan.v[i].fail, VV_FAIL_NONE);
		assert_int_equal(plan.v[i].kek_exp, 0);
	}
	vv_open_plan_free(&plan);
	vv_disks_free(&disks);
	vv_vault_free(vault);
}

static struct vv_vol mkvol(const char *name, int64_t secret_exp, int64_t kek_exp)
{
	struct vv_vol v = { 0 };

	v.conf.name = (char *)name;
	v.selected = true;
	v.device = "/dev/sdc";
	v.key_version = "https://v.vault.azure.net/secrets/x/0123";
	v.kek_version = "https://v.vault.azure.net/keys/k/4567";
	v.secret_exp = secret_exp;
	v.kek_exp = kek_exp;
	v.expiry_known = true;
	return v;
}

static void test_warning_texts(void **state)
{
	struct vv_vol v = mkvol("app", NOW - 3 * 86400, NOW + 29 * 86400 + 1);
	char msg[1024];

	(void)state;
	assert_true(vv_open_expiry_warning(&v, false, NOW, msg, sizeof(msg)));
	assert_string_equal(msg, "the secret https://v.vault.azure.net/secrets/x/0123 expired on "
			    "2026-12-03 12:00 UTC (3 days ago): set a new expiry date on the "
			    "secret in the vault, or rotate the key (`vaultvol rotate /dev/sdc`)");
	assert_true(vv_open_expiry_warning(&v, true, NOW, msg, sizeof(msg)));
	assert_non_null(strstr(msg, "(in 29 days)"));
	assert_non_null(strstr(msg, "vaultvol rotate /dev/sdc --kek NEW-KEK-REF"));
	v.kek_exp = NOW + 30 * 86400;			/* 30 days: no warning yet */
	assert_false(vv_open_expiry_warning(&v, true, NOW, msg, sizeof(msg)));
	v.kek_exp = 0;					/* none / unknown */
	assert_false(vv_open_expiry_warning(&v, true, NOW, msg, sizeof(msg)));
}

/* volumes.json: both expiries kept; a volume found open keeps the last run's. */
static void test_state_roundtrip(void **state)
{
	struct vv_vol vols[1] = { mkvol("app", NOW + 5 * 86400, NOW + 50 * 86400) };
	struct vv_open_plan plan = { .v = vols, .n = 1 };
	struct vv_error err = { 0 };
	char sd[PATH_MAX];
	struct vv_vol back = mkvol("app", 0, 0);
	struct vv_open_plan bplan = { .v = &back, .n = 1 };
	char *text;

	(void)state;
	snprintf(sd, sizeof(sd), "%s/state-rt", dir);
	assert_int_equal(vv_open_state_write(sd, &plan, &err), 0);
	text = kt_capture("cat '%s/volumes.json'", sd);
	assert_non_null(strstr(text, "\"secret_expires\":"));
	assert_non_null(strstr(text, "\"kek_expires_days\":"));
	free(text);
	/* the next run found it open: no key fetched, the expiries carry over */
	vols[0].expiry_known = false;
	vols[0].secret_exp = vols[0].kek_exp = 0;
	assert_int_equal(vv_open_state_write(sd, &plan, &err), 0);
	back.key_version = back.kek_version = NULL;
	assert_int_equal(vv_open_state_merge(sd, &bplan), 0);
	assert_int_equal(back.secret_exp, NOW + 5 * 86400);
	assert_int_equal(back.kek_exp, NOW + 50 * 86400);
	free(back.key_version);
	free(back.kek_version);
	free(back.key_source);
}

static int count_in(const char *path, const char *needle)
{
	char *s = kt_capture("grep -c -F '%s' '%s' || true", needle, path);
	int n = s ? atoi(s) : -1;

	free(s);
	return n;
}

/* The journal's warning: once per UTC day per volume and key. */
static void test_journal_once_a_day(void **state)
{
	struct vv_vol vols[2] = { mkvol("app", NOW + 2 * 86400, NOW + 20 * 86400),
				  mkvol("db", NOW + 90 * 86400, 0) };
	struct vv_open_plan plan = { .v = vols, .n = 2 };
	char sd[PATH_MAX], log[PATH_MAX];
	char *text;

	(void)state;
	snprintf(sd, sizeof(sd), "%s/state-j", dir);
	snprintf(log, sizeof(log), "%s/j.log", dir);
	assert_int_equal(vv_log_set_file(log), 0);
	vv_open_expiry_report(sd, &plan, true, NOW);
	assert_int_equal(count_in(log, "app: the secret"), 1);
	assert_int_equal(count_in(log, "app: the KEK"), 1);
	assert_int_equal(count_in(log, "db:"), 0);	/* 90 days: nothing to say */
	text = kt_capture("tr -d ' \\n' <'%s/%s'", sd, VV_EXPIRY_WARNED_FILE);
	assert_non_null(strstr(text, "\"app/secret\":\"2026-12-06\""));
	assert_non_null(strstr(text, "\"app/kek\":\"2026-12-06\""));
	free(text);
	assert_int_equal(kt_sh("stat -c %%a '%s/%s' | grep -qx 600", sd, VV_EXPIRY_WARNED_FILE), 0);

	/* the same day, later (another boot): nothing more */
	vv_open_expiry_report(sd, &plan, true, NOW + 11 * 3600);
	assert_int_equal(count_in(log, "app: the secret"), 1);
	assert_int_equal(count_in(log, "app: the KEK"), 1);
	/* the next day: once more each */
	vv_open_expiry_report(sd, &plan, true, NOW + 13 * 3600);
	assert_int_equal(count_in(log, "app: the secret"), 2);
	assert_int_equal(count_in(log, "app: the KEK"), 2);
	/* a new warning for another volume that day is not held back by app's */
	vols[1].secret_exp = NOW + 86400;
	vv_open_expiry_report(sd, &plan, true, NOW + 14 * 3600);
	assert_int_equal(count_in(log, "db: the secret"), 1);
	assert_int_equal(count_in(log, "app: the secret"), 2);
	assert_int_equal(vv_log_set_file(NULL), 0);
}

extern const struct vv_command *const __start_vv_commands[];
extern const struct vv_command *const __stop_vv_commands[];

/* Run `vaultvol [--json] status` in this process, its stdout in out. */
static int run_status(const struct vv_options *opt, const char *out)
{
	char *argv[] = { "status", NULL };
	int fd, saved, rc = -1;

	for (const struct vv_command *const *c = __start_vv_commands; c < __stop_vv_commands; c++) {
		if (strcmp((*c)->name, "status"))
			continue;
		fflush(stdout);
		saved = dup(1);
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		assert_true(saved >= 0 && fd >= 0);
		dup2(fd, 1);
		close(fd);
		optind = 0;
		rc = (*c)->run(opt, 1, argv);
		fflush(stdout);
		dup2(saved, 1);
		close(saved);
	}
	return rc;
}

/* status: the days in their columns, "-" when unknown, a warning line, --json fields. */
static void test_status_shows_days(void **state)
{
	int64_t now = (int64_t)time(NULL);
	struct vv_options opt = { 0 };
	char conf[PATH_MAX], sd[PATH_MAX], out[PATH_MAX], root[PATH_MAX];
	char *text;

	(void)state;
	snprintf(conf, sizeof(conf), "%s/status.conf", dir);
	snprintf(sd, sizeof(sd), "%s/state-status", dir);
	snprintf(out, sizeof(out), "%s/status.out", dir);
	snprintf(root, sizeof(root), "%s/root", dir);
	assert_int_equal(kt_sh("mkdir -p '%s' '%s' && chmod 700 '%s' && printf '%s' >'%s' && "
			       "printf '{\"version\":1,\"volumes\":[{\"name\":\"app\",\"secret_expires\":"
			       "%lld,\"kek_expires\":%lld},{\"name\":\"db\",\"secret_expires\":%lld}]}' "
			       ">'%s/volumes.json' && chmod 600 '%s/volumes.json'", sd, root, sd,
			       "[volume app]\\nmatch = uuid:0a1b2c3d-0000-4000-8000-0000000000aa\\n"
			       "key = keystore:app\\n[volume db]\\nmatch = "
			       "uuid:0a1b2c3d-0000-4000-8000-0000000000bb\\nkey = keystore:db\\n",
			       conf, (long long)(now + 12 * 86400 + 600), (long long)(now + 400 * 86400 + 600),
			       (long long)(now + 45 * 86400 + 600), sd, sd), 0);
	setenv("VAULTVOL_ROOT", root, 1);
	opt.config_path = conf;
	opt.state_dir = sd;
	assert_int_equal(run_status(&opt, out), VV_EXIT_OK);
	text = kt_capture("cat '%s'", out);
	assert_non_null(strstr(text, "SECRET-EXP"));
	assert_non_null(strstr(text, "KEK-EXP"));
	assert_int_equal(kt_sh("grep -Eq '^app .* 12d +400d ' '%s'", out), 0);
	assert_int_equal(kt_sh("grep -Eq '^db .* 45d +- ' '%s'", out), 0);
	assert_non_null(strstr(text, "app: warning: the secret keystore:app expires on "));
	assert_non_null(strstr(text, "(in 12 days)"));
	assert_null(strstr(text, "db: warning: the secret"));
	assert_null(strstr(text, "the KEK"));
	free(text);

	opt.json = true;
	assert_int_equal(run_status(&opt, out), VV_EXIT_OK);
	text = kt_capture("tr -d ' \\n' <'%s'", out);
	assert_non_null(strstr(text, "\"secret_expires_days\":12,"));
	assert_non_null(strstr(text, "\"kek_expires_days\":400,"));
	assert_non_null(strstr(text, "\"secret_expires_days\":45,"));
	free(text);
	unsetenv("VAULTVOL_ROOT");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_days),
		cmocka_unit_test_setup(test_secret_and_kek_expiry, reset),
		cmocka_unit_test_setup(test_kek_refused, reset),
		cmocka_unit_test(test_warning_texts),
		cmocka_unit_test(test_state_roundtrip),
		cmocka_unit_test(test_journal_once_a_day),
		cmocka_unit_test(test_status_shows_days),
	};

	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
