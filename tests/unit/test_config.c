// SPDX-License-Identifier: GPL-2.0-or-later
/* agent/config: the config file format, its strictness and the vault merge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent/config/config.h"
#include "tests/unit/config_expect.h"

static const char full[] =
	"# vaultvol test config\n"
	"[vault]\n"
	"url = https://main.vault.azure.net\n"
	"secondary = https://backup.vault.azure.net\n"
	"imds = http://127.0.0.1:8080\n"
	"ca_file = /etc/ssl/test-ca.pem\n"
	"identity = client_id:1234-abcd\n"
	"keystore = /etc/vaultvol/keys\n"
	"timeout = 30\n"
	"\n"
	"[volume data1]\n"
	"match = uuid:0A1B2C3D-0000-4000-8000-00000000abcd\n"
	"key = https://main.vault.azure.net/secrets/data1/0123456789abcdef\n"
	"kek = https://main.vault.azure.net/keys/kek/fedcba\n"
	"alg = RSA-OAEP-256\n"
	"mount = /data1\n"
	"fs = ext4\n"
	"options = noatime,nodiratime\n"
	"quiesce = no\n"
	"  # indented comment\n"
	"[volume win]\n"
	"match = bitlocker:{5A95DB04-6EBC-4BA9-99A3-15A87A3D07B2}\n"
	"key = keystore:winbek\n"
	"mount = /win\n"
	"readonly = no\n"
	"[volume lun]\n"
	"match = lun:2-part1\n"
	"key = bek:LinuxPassPhraseFileName_1_2\n"
	"[snapshot]\n"
	"timeout = 90\n"
	"exclude = /scratch, /mnt/resource\n"
	"scripts_config = /etc/azure/VMSnapshotScriptPluginConfig.json\n"
	"hooks_dir = /etc/qemu/fsfreeze-hook.d\n";

static void test_full_config(void **state)
{
	struct vv_config *cfg = NULL;
	const struct vv_volume_conf *v;
	struct vv_error err = { 0 };

	(void)state;
	assert_int_equal(vv_config_parse(full, "t.conf", &cfg, &err), 0);
	assert_string_equal(cfg->vault.url, "https://main.vault.azure.net");
	assert_string_equal(cfg->vault.secondary, "https://backup.vault.azure.net");
	assert_string_equal(cfg->vault.imds, "http://127.0.0.1:8080");
	assert_string_equal(cfg->vault.identity_kind, "client_id");
	assert_string_equal(cfg->vault.identity_value, "1234-abcd");
	assert_int_equal(cfg->vault.timeout_s, 30);
	assert_int_equal(cfg->nvolumes, 3);

	v = vv_config_volume(cfg, "data1");
	assert_non_null(v);
	assert_int_equal(v->match.kind, VV_MATCH_UUID);
	/* UUIDs are compared in lower case: blkid reports them that way. */
	assert_string_equal(v->match.value, "0a1b2c3d-0000-4000-8000-00000000abcd");
	assert_string_equal(v->alg, "RSA-OAEP-256");
	assert_string_equal(v->options, "noatime,nodiratime");
	assert_int_equal(v->quiesce, VV_TRI_NO);
	assert_int_equal(v->readonly, VV_TRI_AUTO);
	assert_int_equal(v->origin, VV_ORIGIN_CONFIG);
	assert_string_equal(v->where, "t.conf:11");

	v = vv_config_volume(cfg, "win");
	assert_int_equal(v->match.kind, VV_MATCH_BITLOCKER);
	assert_string_equal(v->match.value, "5a95db04-6ebc-4ba9-99a3-15a87a3d07b2");
	assert_int_equal(v->readonly, VV_TRI_NO);

	v = vv_config_volume(cfg, "lun");
	assert_int_equal(v->match.kind, VV_MATCH_LUN);
	assert_int_equal(v->match.lun, 2);
	assert_int_equal(v->match.part, 1);
	assert_null(v->mount);
	assert_null(vv_config_volume(cfg, "nope"));

	assert_int_equal(cfg->snapshot.timeout_s, 90);
	assert_int_equal(cfg->snapshot.nexclude, 2);
	assert_string_equal(cfg->snapshot.exclude[0], "/scratch");
	assert_string_equal(cfg->snapshot.exclude[1], "/mnt/resource");
	assert_string_equal(cfg->snapshot.hooks_dir, "/etc/qemu/fsfreeze-hook.d");
	vv_config_free(cfg);
}

static void test_defaults(void **state)
{
	struct vv_config *cfg = NULL;
	struct vv_error err = { 0 };

	(void)state;
	assert_int_equal(vv_config_parse("", "e", &cfg, &err), 0);
	assert_int_equal(cfg->nvolumes, 0);
	assert_int_equal(cfg->snapshot.timeout_s, VV_SNAPSHOT_DEFAULT_TIMEOUT_S);
	assert_null(cfg->vault.url);
	vv_config_free(cfg);
}

static void test_strictness(void **state)
{
	(void)state;
	expect_error("[vault]\nurl = https://a\n[nonsense]\n", "bad.conf:3:", "unknown section [nonsense]");
	expect_error("[vault]\nurl = https://a\nurll = https://b\n", "bad.conf:3:", "unknown key 'urll'");
	expect_error("[vault]\nurl = https://a\nurl = https://b\n", "bad.conf:3:", "duplicate key 'url'");
	expect_error("[vault]\n[vault]\n", "bad.conf:2:", "duplicate section [vault]");
	expect_error("[ade]\nresource_disk = wipe\n", "bad.conf:2:", "expected reencrypt or skip");
	expect_error("[ade]\nresource = skip\n", "bad.conf:2:", "unknown key 'resource' in [ade]");
	expect_error("[ade]\n[ade]\n", "bad.conf:2:", "duplicate section [ade]");
	{
		struct vv_config *c = NULL;
		struct vv_error e = { 0 };

		assert_int_equal(vv_config_parse("[ade]\nresource_disk = skip\n", "a.conf", &c, &e),
				 0);
		assert_true(c->ade_resource_skip);
		vv_config_free(c);
		assert_int_equal(vv_config_parse("[vault]\n", "a.conf", &c, &e), 0);
		assert_false(c->ade_resource_skip);
		assert_false(c->vault.require_purge_protection);
		vv_config_free(c);
		assert_int_equal(vv_config_parse("[vault]\nrequire_purge_protection = yes\n",
						 "a.conf", &c, &e), 0);
		assert_true(c->vault.require_purge_protection);
		vv_config_free(c);
		assert_int_equal(vv_config_parse("[vault]\nrequire_purge_protection = no\n",
						 "a.conf", &c, &e), 0);
		assert_false(c->vault.require_purge_protection);
		vv_config_free(c);
	}
	expect_error("[volume a]\nmatch = lun:1\n[volume a]\nmatch = lun:2\n", "bad.conf:3:",
		     "duplicate section [volume a]");
	expect_error("url = https://a\n", "bad.conf:1:", "outside any section");
	expect_error("[vault]\nurl = http://insecure\n", "bad.conf:2:", "https://");
	expect_error("[vault]\ntimeout = 0\n", "bad.conf:2:", "timeout");
	expect_error("[vault]\ntimeout = 12s\n", "bad.conf:2:", "timeout");
	expect_error("[vault]\nrequire_purge_protection = maybe\n", "bad.conf:2:",
		     "require_purge_protection: invalid value 'maybe' (expected yes or no)");
	expect_error("[vault]\nrequire_purge_protection = yes\nrequire_purge_protection = no\n",
		     "bad.conf:3:", "require_purge_protection");
	expect_error("[vault]\nidentity = user:abc\n", "bad.conf:2:", "client_id:ID");
	expect_error("[vault]\njust words\n", "bad.conf:2:", "key = value");
	expect_error("[vault]\nurl =\n", "bad.conf:2:", "empty value");
	expect_error("[volume]\n", "bad.conf:1:", "needs a name");
	expect_error("[volume -bad]\n", "bad.conf:1:", "invalid volume name");
	expect_error("[volume ok]\nkey = keystore:x\n", "bad.conf:1:", "has no 'match'");
	expect_error("[volume ok]\nmatch = /dev/sdc\n", "bad.conf:2:", "bare device name");
	expect_error("[volume ok]\nmatch = path:/dev/sdc\n", "bad.conf:2:", "not a stable device path");
	expect_error("[volume ok]\nmatch = uuid:1234\n", "bad.conf:2:", "not a LUKS UUID");
	expect_error("[volume ok]\nmatch = lun:300\n", "bad.conf:2:", "not a LUN");
	expect_error("[volume ok]\nmatch = lun:1\nkey = ftp://x\n", "bad.conf:3:", "key: invalid");
	expect_error("[volume ok]\nmatch = lun:1\nkek = https://v/secrets/x\n", "bad.conf:3:", "kek: invalid");
	expect_error("[volume ok]\nmatch = lun:1\nalg = RSA-OAEP\n", "bad.conf:1:", "'alg' needs 'kek'");
	expect_error("[volume ok]\nmatch = lun:1\nalg = AES\n", "bad.conf:3:", "alg: invalid");
	expect_error("[volume ok]\nmatch = lun:1\nmount = data\n", "bad.conf:3:", "mount: invalid");
	expect_error("[volume ok]\nmatch = lun:1\nreadonly = maybe\n", "bad.conf:3:", "readonly");
	expect_error("[volume ok]\nmatch = lun:1\nquiesce = sometimes\n", "bad.conf:3:", "quiesce");
	expect_error("[volume ok]\nmatch = lun:1\noptions = a b\n", "bad.conf:3:", "options");
	expect_error("[snapshot]\nexclude = /a, relative\n", "bad.conf:2:", "'relative'");
	expect_error("[snapshot]\nscripts_config = x.json\n", "bad.conf:2:", "scripts_config");
	expect_error("[snapshot]\nfreeze = yes\n", "bad.conf:2:", "unknown key 'freeze' in [snapshot]");
	expect_error("[vault]\n\n\n[vault\n", "bad.conf:4:", "malformed section");
}

static void test_match_strings(void **state)
{
	struct vv_match m;
	char why[256], buf[128];

	(void)state;
	assert_int_equal(vv_match_parse("lun:7", &m, why, sizeof(why)), 0);
	assert_string_equal(vv_match_str(&m, buf, sizeof(buf)), "lun:7");
	vv_match_clear(&m);
	assert_int_equal(vv_match_parse("path:/dev/disk/by-id/wwn-0x5000", &m, why, sizeof(why)), 0);
	assert_string_equal(vv_match_str(&m, buf, sizeof(buf)), "path:/dev/disk/by-id/wwn-0x5000");
	vv_match_clear(&m);
	assert_int_equal(vv_match_parse("path:/dev/disk/by-id/../../sda", &m, why, sizeof(why)), -EINVAL);
	assert_int_equal(vv_match_parse("uuid:", &m, why, sizeof(why)), -EINVAL);
	assert_int_equal(vv_match_parse("bitlocker:{5a95db04-6ebc-4ba9-99a3-15a87a3d07b2", &m, why,
					sizeof(why)), -EINVAL);
	assert_true(vv_volume_name_valid("data_1.x+y-z"));
	assert_false(vv_volume_name_valid("a/b"));
	assert_false(vv_volume_name_valid(""));
	assert_false(vv_volume_name_valid("a b"));
}

/* One mount point rule for the config file and for tokens (tokens: stricter). */
static void test_mount_point_rules(void **state)
{
	static const struct {
		const char *path;
		int config, token;	/* 0, -EINVAL (malformed), -EPERM (protected) */
		const char *why;
	} c[] = {
		{ "/data", 0, 0, NULL },
		{ "/data/tok", 0, 0, NULL },
		{ "/srv/www", 0, 0, NULL },
		{ "/mnt/x", 0, 0, NULL },
		{ "/etcetera", 0, 0, NULL },
		{ "/variable", 0, 0, NULL },
		{ "/", -EPERM, -EPERM, "root directory" },
		{ "/etc", -EPERM, -EPERM, "/etc is a system directory" },
		{ "/etc/ssh", -EPERM, -EPERM, "under the system directory /etc" },
		{ "/usr/local/bin", -EPERM, -EPERM, "/usr" },
		{ "/bin", -EPERM, -EPERM, "system directory" },
		{ "/sbin/x", -EPERM, -EPERM, "/sbin" },
		{ "/lib", -EPERM, -EPERM, "system directory" },
		{ "/lib64/x", -EPERM, -EPERM, "/lib64" },
		{ "/libx32", -EPERM, -EPERM, "system directory" },
		{ "/boot/efi", -EPERM, -EPERM, "/boot" },
		{ "/proc", -EPERM, -EPERM, NULL },
		{ "/sys/kernel", -EPERM, -EPERM, NULL },
		{ "/dev/shm", -EPERM, -EPERM, NULL },
		{ "/run/user", -EPERM, -EPERM, NULL },
		{ "/root/.ssh", -EPERM, -EPERM, "/root" },
		{ "/var", -EPERM, -EPERM, "/var is a system directory" },
		/* root's config may use these; a disk may not */
		{ "/var/lib/mysql", 0, -EPERM, "only vaultvol.conf" },
		{ "/var/lib/vaultvol", 0, -EPERM, "under /var" },
		{ "/tmp", 0, -EPERM, "/tmp is where only vaultvol.conf" },
		{ "/tmp/x", 0, -EPERM, "under /tmp" },
		{ "/home/alice/.ssh", 0, -EPERM, "under /home" },
		/* malformed for everyone */
		{ "", -EINVAL, -EINVAL, "absolute" },
		{ "data", -EINVAL, -EINVAL, "absolute" },
		{ "/data/", -EINVAL, -EINVAL, "normalised" },
		{ "//etc", -EINVAL, -EINVAL, "normalised" },
		{ "/data//x", -EINVAL, -EINVAL, "normalised" },
		{ "/data/../etc", -EINVAL, -EINVAL, "normalised" },
		{ "/data/..", -EINVAL, -EINVAL, "normalised" },
		{ "/./etc", -EINVAL, -EINVAL, "normalised" },
		{ "/data/.", -EINVAL, -EINVAL, "normalised" },
		{ "/da ta", -EINVAL, -EINVAL, "space" },
		{ "/data\tx", -EINVAL, -EINVAL, "space" },
	};
	char why[256];

	(void)state;
	assert_int_equal(vv_mount_point_check(NULL, VV_ORIGIN_CONFIG, why, sizeof(why)), -EINVAL);
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		int rc = vv_mount_point_check(c[i].path, VV_ORIGIN_CONFIG, why, sizeof(why));
		int rt = vv_mount_point_check(c[i].path, VV_ORIGIN_TOKEN, why, sizeof(why));

		if (rc != c[i].config || rt != c[i].token)
			fail_msg("'%s': config %d token %d, want %d %d", c[i].path, rc, rt,
				 c[i].config, c[i].token);
		if (c[i].why && !strstr(why, c[i].why))
			fail_msg("'%s': '%s' does not say '%s'", c[i].path, why, c[i].why);
	}
	/* The parser uses the same rule. */
	expect_error("[volume ok]\nmatch = lun:1\nmount = /etc\n", "bad.conf:3:",
		     "/etc is a system directory");
	expect_error("[volume ok]\nmatch = lun:1\nmount = /data/../etc\n", "bad.conf:3:",
		     "normalised");
	expect_error("[volume ok]\nmatch = lun:1\nmount = /var\n", "bad.conf:3:", "/var");
}

static void test_uuid_rule(void **state)
{
	static const char *const good[] = {
		"0a1b2c3d-0000-4000-8000-00000000abcd", "5A95DB04-6EBC-4BA9-99A3-15A87A3D07B2",
	};
	static const char *const bad[] = {
		"", "../../tmp/x", "0a1b2c3d-0000-4000-8000-00000000abc",
		"0a1b2c3d-0000-4000-8000-00000000abcde", "0a1b2c3d_0000-4000-8000-00000000abcd",
		"{5a95db04-6ebc-4ba9-99a3-15a87a3d07b2}", "0a1b2c3d-0000-4000-8000-00000000abc/",
		"0a1b2c3d-0000-4000-8000-00000000abcd/..", "g a1b2c3d-0000-4000-8000-00000000abc",
	};

	(void)state;
	assert_false(vv_uuid_valid(NULL));
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(vv_uuid_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (vv_uuid_valid(bad[i]))
			fail_msg("'%s' accepted as a UUID", bad[i]);
}

/* [open] token_options_allowed: what a token may ask for. */
static void test_open_section(void **state)
{
	struct vv_config *cfg = NULL;
	struct vv_error err = { 0 };

	(void)state;
	assert_int_equal(vv_config_parse("[volume a]\nmatch = lun:1\n", "t.conf", &cfg, &err), 0);
	assert_int_equal(cfg->token_options_allowed, 0);
	vv_config_free(cfg);
	assert_int_equal(vv_config_parse("[open]\ntoken_options_allowed = exec\n", "t.conf", &cfg,
					 &err), 0);
	assert_int_equal(cfg->token_options_allowed, VV_TOKOPT_EXEC);
	vv_config_free(cfg);
	assert_int_equal(vv_config_parse("[open]\ntoken_options_allowed = suid, dev,exec\n",
					 "t.conf", &cfg, &err), 0);
	assert_int_equal(cfg->token_options_allowed, VV_TOKOPT_SUID | VV_TOKOPT_DEV | VV_TOKOPT_EXEC);
	vv_config_free(cfg);
	expect_error("[open]\ntoken_options_allowed = exec, bind\n", "bad.conf:2:", "'bind'");
	expect_error("[open]\ntoken_options = exec\n", "bad.conf:2:", "unknown key");
	expect_error("[open]\n[open]\n", "bad.conf:2:", "duplicate section [open]");
	expect_error("[open x]\n", "bad.conf:1:", "takes no name");
}

static void test_vault_merge(void **state)
{
	struct vv_config *cfg = NULL;
	struct vv_vault_config vc;
	struct vv_options opt = { .vault_url = "https://override.example", .ca_file = "/tmp/ca.pem" };
	struct vv_error err = { 0 };

	(void)state;
	assert_int_equal(vv_config_parse(full, "t.conf", &cfg, &err), 0);
	assert_int_equal(vv_config_vault(cfg, NULL, &vc), 0);
	assert_string_equal(vc.vault_url, "https://main.vault.azure.net");
	assert_string_equal(vc.ca_file, "/etc/ssl/test-ca.pem");
	assert_string_equal(vc.keystore_dir, "/etc/vaultvol/keys");
	assert_int_equal(vc.total_timeout_ms, 30000);
	assert_int_equal(vv_config_vault(cfg, &opt, &vc), 0);
	assert_string_equal(vc.vault_url, "https://override.example");
	assert_string_equal(vc.ca_file, "/tmp/ca.pem");
	assert_string_equal(vc.secondary_url, "https://backup.vault.azure.net");
	assert_string_equal(vc.imds_url, "http://127.0.0.1:8080");
	/* No config at all: only the command line. */
	assert_int_equal(vv_config_vault(NULL, &opt, &vc), 0);
	assert_string_equal(vc.vault_url, "https://override.example");
	assert_null(vc.keystore_dir);
	vv_config_free(cfg);
}

static char tmpdir[] = "/tmp/vv-test-config-XXXXXX";

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_load_file(void **state)
{
	struct vv_config *cfg = NULL;
	struct vv_error err = { 0 };
	char path[256];

	(void)state;
	assert_non_null(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/vaultvol.conf", tmpdir);

	/* An explicitly named file must exist. */
	assert_int_equal(vv_config_load(path, &cfg, &err), -ENOENT);
	assert_non_null(strstr(err.message, path));

	write_file(path, full, 0644);
	assert_int_equal(vv_config_load(path, &cfg, &err), 0);
	assert_string_equal(cfg->path, path);
	assert_int_equal(cfg->nvolumes, 3);
	vv_config_free(cfg);
	cfg = NULL;

	/* Group- or world-writable: someone else could redirect keys and mounts. */
	write_file(path, full, 0664);
	assert_int_equal(vv_config_load(path, &cfg, &err), -EPERM);
	assert_non_null(strstr(err.message, "writable by group or others"));
	write_file(path, full, 0602);
	assert_int_equal(vv_config_load(path, &cfg, &err), -EPERM);
	assert_null(cfg);

	/* Errors from a file carry its name and the line. */
	write_file(path, "[vault]\nurl = https://a\n\n[volume x]\nmatch = lun:1\nbogus = 1\n", 0600);
	assert_int_equal(vv_config_load(path, &cfg, &err), -EINVAL);
	{
		char want[300];

		snprintf(want, sizeof(want), "%s:6: unknown key 'bogus'", path);
		assert_non_null(strstr(err.message, want));
	}
	/* Someone else's file (when we can arrange one: needs root). */
	write_file(path, "[vault]\n", 0600);
	if (geteuid() == 0 && chown(path, 65534, 65534) == 0) {
		assert_int_equal(vv_config_load(path, &cfg, &err), -EPERM);
		assert_non_null(strstr(err.message, "owned by uid 65534"));
	}
	unlink(path);
	rmdir(tmpdir);
}

/*
 * The allow-list: `allowed` in [vault], drop-ins in conf.d/ beside the file
 * (name order, lists grow, a volume described twice is an error), the
 * directory checked like the files, and provision's drop-in writer.
 */
/*
 * [vault] aad_authority: the AAD host that receives the client secret.
 * https with a plain host only; the error names file:line and the fix.
 */
static void test_aad_authority(void **state)
{
	static char dir[] = "/tmp/vv-test-aadauth-XXXXXX";
	struct vv_config *cfg = NULL;
	struct vv_vault_config vc;
	struct vv_error err = { 0 };
	char path[256], d[256], f[320];

	(void)state;
	/* not set: NULL, the vault library's public-cloud default */
	assert_int_equal(vv_config_parse("[vault]\nurl = https://a.vault.azure.net\n", "t", &cfg, &err), 0);
	assert_int_equal(vv_config_vault(cfg, NULL, &vc), 0);
	assert_null(vc.aad_authority);
	vv_config_free(cfg);
	/* good: a sovereign cloud, a port and a trailing slash */
	assert_int_equal(vv_config_parse("[vault]\naad_authority = https://login.microsoftonline.us\n",
					 "t", &cfg, &err), 0);
	assert_int_equal(vv_config_vault(cfg, NULL, &vc), 0);
	assert_string_equal(vc.aad_authority, "https://login.microsoftonline.us");
	vv_config_free(cfg);
	assert_int_equal(vv_config_parse("[vault]\naad_authority = https://login.test:8443/\n",
					 "t", &cfg, &err), 0);
	assert_string_equal(cfg->vault.aad_authority, "https://login.test:8443/");
	vv_config_free(cfg);
	cfg = NULL;

	/* bad: each names file:line, the key, what is wrong and the fix */
	expect_error("[vault]\naad_authority = http://login.microsoftonline.us\n", "bad.conf:2:",
		     "aad_authority: invalid value 'http://login.microsoftonline.us': the client "
		     "secret is sent to it, so it must be https:// (expected https://HOST[:PORT]");
	expect_error("[vault]\naad_authority = login.microsoftonline.us\n", "bad.conf:2:",
		     "must be https://");
	expect_error("[vault]\naad_authority = garbage\n", "bad.conf:2:",
		     "aad_authority: invalid value 'garbage'");
	expect_error("[vault]\naad_authority = https://\n", "bad.conf:2:", "names no host");
	expect_error("[vault]\naad_authority = https:///tenant\n", "bad.conf:2:", "no path");
	expect_error("[vault]\naad_authority = https://:443\n", "bad.conf:2:", "names no host");
	expect_error("[vault]\naad_authority = https://login.test/tenant\n", "bad.conf:2:",
		     "no path: vaultvol appends /TENANT/oauth2/token itself");
	expect_error("[vault]\naad_authority = https://login.test?x=1\n", "bad.conf:2:",
		     "no query or fragment");
	expect_error("[vault]\naad_authority = https://login.test/#x\n", "bad.conf:2:",
		     "no query or fragment");
	expect_error("[vault]\naad_authority = https://login.test:0\n", "bad.conf:2:", "1-65535");
	expect_error("[vault]\naad_authority = https://login.test:44x\n", "bad.conf:2:",
		     "not a number");
	expect_error("[vault]\naad_authority = https://login.test:\n", "bad.conf:2:", ":PORT");
	/* userinfo may be a password: refused and not echoed */
	assert_int_equal(vv_config_parse("[vault]\naad_authority = https://u:pw@evil.example\n",
					 "t", &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.message, "t:2: aad_authority: invalid value '(hidden)': "
			       "no user@ part"));
	assert_null(strstr(err.message, "pw"));
	assert_null(cfg);
	expect_error("[vault]\naad_authority = https://a\naad_authority = https://b\n",
		     "bad.conf:3:", "duplicate key 'aad_authority'");

	/* a drop-in sets it like the other [vault] keys */
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/vaultvol.conf", dir);
	snprintf(d, sizeof(d), "%s/conf.d", dir);
	snprintf(f, sizeof(f), "%s/10-cloud.conf", d);
	write_file(path, "[vault]\nurl = https://main.vault.usgovcloudapi.net\n", 0600);
	assert_int_equal(mkdir(d, 0755), 0);
	write_file(f, "[vault]\naad_authority = https://login.microsoftonline.us\n", 0600);
	assert_int_equal(vv_config_load(path, &cfg, &err), 0);
	assert_int_equal(vv_config_vault(cfg, NULL, &vc), 0);
	assert_string_equal(vc.aad_authority, "https://login.microsoftonline.us");
	vv_config_free(cfg);
	unlink(f);
	rmdir(d);
	unlink(path);
	rmdir(dir);
}

static void test_allowed_and_dropins(void **state)
{
	static char dir[] = "/tmp/vv-test-dropin-XXXXXX";
	struct vv_config *cfg = NULL;
	struct vv_vault_config vc;
	struct vv_error err = { 0 };
	char path[256], d[256], f[320];
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/vaultvol.conf", dir);
	snprintf(d, sizeof(d), "%s/conf.d", dir);

	/* bad URLs are refused by name, good ones normalised */
	assert_int_equal(vv_config_parse("[vault]\nallowed = https://a@evil.example/\n", "t",
					 &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.message, "t:2: allowed: 'https://a@evil.example/'"));
	assert_int_equal(vv_config_parse("[vault]\nallowed = https://127.0.0.1\n", "t",
					 &cfg, &err), -EINVAL);
	assert_int_equal(vv_config_parse("[vault]\nallowed = https://KV1.vault.azure.net:443/x, "
					 "https://kv2.vault.azure.net:8443\n", "t", &cfg, &err), 0);
	assert_int_equal(cfg->vault.nallowed, 2);
	assert_string_equal(cfg->vault.allowed[0], "https://kv1.vault.azure.net");
	assert_string_equal(cfg->vault.allowed[1], "https://kv2.vault.azure.net:8443");
	assert_null(cfg->vault.allowed[2]);
	assert_int_equal(vv_config_vault(cfg, NULL, &vc), 0);
	assert_string_equal(vc.allowed_urls[1], "https://kv2.vault.azure.net:8443");
	vv_config_free(cfg);

	/* moved: lines add up, normalised; chains, self-moves and junk refused */
	assert_int_equal(vv_config_parse("[vault]\nmoved = https://A.vault.azure.net https://b.vault.azure.net:443\n"
					 "moved = https://c.vault.azure.net https://d.vault.azure.net\n",
					 "t", &cfg, &err), 0);
	assert_int_equal(cfg->vault.nmoves, 2);
	assert_string_equal(cfg->vault.moves[0].from, "https://a.vault.azure.net");
	assert_string_equal(cfg->vault.moves[0].to, "https://b.vault.azure.net");
	assert_int_equal(vv_config_vault(cfg, NULL, &vc), 0);
	assert_int_equal(vc.nmoves, 2);
	assert_string_equal(vc.moves[1].to, "https://d.vault.azure.net");
	vv_config_free(cfg);
	assert_int_equal(vv_config_parse("[vault]\nmoved = https://a.vault.azure.net\n", "t", &cfg,
					 &err), -EINVAL);
	assert_non_null(strstr(err.message, "t:2: moved: expected two vault URLs"));
	assert_int_equal(vv_config_parse("[vault]\nmoved = https://a.vault.azure.net https://a.vault.azure.net\n",
					 "t", &cfg, &err), -EINVAL);
	assert_int_equal(vv_config_parse("[vault]\nmoved = https://a.vault.azure.net https://b.vault.azure.net\n"
					 "moved = https://b.vault.azure.net https://c.vault.azure.net\n",
					 "t", &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.message, "no chains"));
	/* other keys still may not repeat */
	assert_int_equal(vv_config_parse("[vault]\nurl = https://a.vault.azure.net\nurl = https://b.vault.azure.net\n",
					 "t", &cfg, &err), -EINVAL);

	/* main file + two drop-ins in name order */
	write_file(path, "[vault]\nurl = https://main.vault.azure.net\nallowed = https://a.vault.azure.net\n"
		   "[volume v1]\nmatch = lun:1\nkey = k1\n", 0644);
	assert_int_equal(mkdir(d, 0755), 0);
	snprintf(f, sizeof(f), "%s/20-b.conf", d);
	write_file(f, "[vault]\nallowed = https://b.vault.azure.net\n[volume v2]\nmatch = lun:2\nkey = k2\n", 0644);
	snprintf(f, sizeof(f), "%s/10-a.conf", d);
	write_file(f, "[vault]\nallowed = https://a.vault.azure.net https://c.vault.azure.net\n"
		   "[open]\ntoken_options_allowed = exec\n", 0600);
	snprintf(f, sizeof(f), "%s/ignored.conf.bak", d);
	write_file(f, "garbage\n", 0600);
	assert_int_equal(vv_config_load(path, &cfg, &err), 0);
	assert_int_equal(cfg->vault.nallowed, 3);
	assert_string_equal(cfg->vault.allowed[1], "https://c.vault.azure.net");
	assert_string_equal(cfg->vault.allowed[2], "https://b.vault.azure.net");
	assert_int_equal(cfg->nvolumes, 2);
	assert_non_null(vv_config_volume(cfg, "v2"));
	assert_int_equal(cfg->token_options_allowed, VV_TOKOPT_EXEC);

	/* provision's writer: nothing for a vault already trusted or a local ref */
	assert_int_equal(vv_config_trust_vault(path, cfg, "https://b.vault.azure.net/secrets/x/1",
					       &err), 0);
	assert_int_equal(vv_config_trust_vault(path, cfg, "keystore:x", &err), 0);
	assert_int_equal(vv_config_trust_vault(path, cfg, "https://new.vault.azure.net:8443/keys/k/v",
					       &err), 0);
	vv_config_free(cfg);
	snprintf(f, sizeof(f), "%s/50-vault-new.vault.azure.net-8443.conf", d);
	assert_int_equal(stat(f, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(vv_config_load(path, &cfg, &err), 0);
	assert_int_equal(cfg->vault.nallowed, 4);
	assert_string_equal(cfg->vault.allowed[3], "https://new.vault.azure.net:8443");
	vv_config_free(cfg);
	cfg = NULL;
	unlink(f);

	/*
	 * A `moved` target is trusted only while the line stays: a token that
	 * now names it (adopt --rewrite, provision there) gets its own entry.
	 */
	snprintf(f, sizeof(f), "%s/40-moved.conf", d);
	write_file(f, "[vault]\nmoved = https://old.vault.azure.net https://dr.vault.azure.net\n", 0600);
	assert_int_equal(vv_config_load(path, &cfg, &err), 0);
	assert_int_equal(vv_config_trust_vault(path, cfg, "https://dr.vault.azure.net/secrets/x/1",
					       &err), 0);
	vv_config_free(cfg);
	cfg = NULL;
	unlink(f);
	snprintf(f, sizeof(f), "%s/50-vault-dr.vault.azure.net.conf", d);
	assert_int_equal(stat(f, &st), 0);
	assert_int_equal(vv_config_load(path, &cfg, &err), 0);
	assert_string_equal(cfg->vault.allowed[cfg->vault.nallowed - 1], "https://dr.vault.azure.net");
	vv_config_free(cfg);
	cfg = NULL;
	unlink(f);

	/* a volume described twice, and [snapshot] in a drop-in, are errors */
	snprintf(f, sizeof(f), "%s/30-dup.conf", d);
	write_file(f, "[volume v1]\nmatch = lun:3\nkey = k3\n", 0600);
	assert_int_equal(vv_config_load(path, &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.message, "[volume v1] is already described at"));
	write_file(f, "[snapshot]\ntimeout = 5\n", 0600);
	assert_int_equal(vv_config_load(path, &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.message, "[snapshot] belongs in the main config file"));
	unlink(f);

	/* a drop-in or a directory others can write is refused */
	snprintf(f, sizeof(f), "%s/20-b.conf", d);
	assert_int_equal(chmod(f, 0666), 0);
	assert_int_equal(vv_config_load(path, &cfg, &err), -EPERM);
	assert_int_equal(chmod(f, 0644), 0);
	assert_int_equal(chmod(d, 0777), 0);
	assert_int_equal(vv_config_load(path, &cfg, &err), -EPERM);
	assert_non_null(strstr(err.message, "conf.d: writable by group or others"));
	assert_null(cfg);
	assert_int_equal(chmod(d, 0755), 0);

	/* an explicit path must exist, drop-ins or not */
	unlink(path);
	assert_int_equal(vv_config_load(path, &cfg, &err), -ENOENT);
	snprintf(f, sizeof(f), "%s/20-b.conf", d);
	unlink(f);
	snprintf(f, sizeof(f), "%s/10-a.conf", d);
	unlink(f);
	snprintf(f, sizeof(f), "%s/ignored.conf.bak", d);
	unlink(f);
	rmdir(d);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_config),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_strictness),
		cmocka_unit_test(test_match_strings),
		cmocka_unit_test(test_mount_point_rules),
		cmocka_unit_test(test_uuid_rule),
		cmocka_unit_test(test_open_section),
		cmocka_unit_test(test_vault_merge),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_allowed_and_dropins),
		cmocka_unit_test(test_aad_authority),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
