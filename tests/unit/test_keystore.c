// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vault/keystore: versions and "latest", metadata round trip, the
 * permission and ownership refusals, atomic 0600 writes, damaged entries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>

#include "keysrc_helpers.h"
#include "vault/keystore.h"
#include "vault/rsa_local.h"

struct fixture {
	char *tmp;		/* first: kt_dir_teardown() frees it */
	char dir[512];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || !(f->tmp = kt_mkdtemp("ks")))
		return -1;
	/* parents are created too: etc/vaultvol does not exist yet */
	snprintf(f->dir, sizeof(f->dir), "%s/etc/vaultvol/keys", f->tmp);
	*state = f;
	return 0;
}

static char *put(const char *dir, const char *name, const char *value,
		 struct vv_error *err)
{
	struct vv_secret *s = vv_secret_from(value, strlen(value));
	const struct vv_tag tags[] = {
		{ "DiskEncryptionKeyFileName", "LinuxPassPhraseFileName" },
		{ "MachineName", "vm1" },
	};
	char *ref = NULL;

	if (vv_keystore_put(dir, name, s, "BEK", tags, 2, &ref, err) < 0)
		ref = NULL;
	vv_secret_free(s);
	return ref;
}

static void test_versions_and_latest(void **state)
{
	struct fixture *f = *state;
	struct vv_error err = { 0 };
	struct vv_secret_bundle *b = NULL;
	char *r1 = put(f->dir, "disk1", "Zmlyc3Q=", &err);
	char *r2;
	struct stat st;

	assert_non_null(r1);
	assert_int_equal(strncmp(r1, "keystore:disk1/", 15), 0);
	assert_true(vv_keystore_version_valid(r1 + 15));
	r2 = put(f->dir, "disk1", "c2Vjb25k", &err);
	assert_non_null(r2);
	assert_string_not_equal(r1, r2);

	/* latest is the second */
	assert_int_equal(vv_keystore_get(f->dir, "disk1", &b, &err), 0);
	assert_string_equal(b->id, r2);
	assert_int_equal(b->value->len, 8);
	assert_memory_equal(b->value->data, "c2Vjb25k", 8);
	assert_string_equal(b->content_type, "BEK");
	assert_int_equal(b->ntags, 2);
	assert_string_equal(vv_bundle_tag(b, "DiskEncryptionKeyFileName"),
			    "LinuxPassPhraseFileName");
	assert_string_equal(vv_bundle_tag(b, "machinename"), "vm1");
	assert_true(b->enabled);
	assert_true(b->created > 1600000000);
	assert_int_equal(b->exp, 0);
	vv_secret_bundle_free(b);

	/* the first version stays readable by its reference */
	assert_int_equal(vv_keystore_get(f->dir, r1 + 9, &b, &err), 0);
	assert_string_equal(b->id, r1);
	assert_memory_equal(b->value->data, "Zmlyc3Q=", 8);
	vv_secret_bundle_free(b);

	/* the directory was created 0700 */
	assert_int_equal(stat(f->dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	free(r1);
	free(r2);
}

/* Every file is 0600 whatever the umask, and no temporary file is left. */
static void test_atomic_files(void **state)
{
	struct fixture *f = *state;
	struct vv_error err = { 0 };
	char entry[600], *ref;
	mode_t old = umask(0);
	DIR *d;
	struct dirent *e;
	int files = 0;

	ref = put(f->dir, "atomic", "dmFsdWU=", &err);
	umask(old);
	assert_non_null(ref);
	snprintf(entry, sizeof(entry), "%s/atomic", f->dir);
	d = opendir(entry);
	assert_non_null(d);
	while ((e = readdir(d))) {
		char p[1200];
		struct stat st;

		if (e->d_name[0] == '.' && (!e->d_name[1] || e->d_name[1] == '.'))
			continue;
		assert_int_not_equal(strncmp(e->d_name, ".tmp", 4), 0);
		snprintf(p, sizeof(p), "%s/%s", entry, e->d_name);
		assert_int_equal(lstat(p, &st), 0);
		assert_true(S_ISREG(st.st_mode));
		assert_int_equal(st.st_mode & 07777, 0600);
		files++;
	}
	closedir(d);
	assert_int_equal(files, 3);	/* <version>, <version>.json, latest */
	{
		char p[1200], *meta;

		snprintf(p, sizeof(p), "%s/%s.json", entry, ref + strlen("keystore:atomic/"));
		meta = kt_read(p, NULL);
		assert_non_null(meta);
		/* metadata names the secret but never holds its value */
		assert_non_null(strstr(meta, "\"contentType\":\"BEK\""));
		assert_non_null(strstr(meta, ref));
		assert_null(strstr(meta, "dmFsdWU="));
		free(meta);
	}
	free(ref);
}

static void test_directory_permissions_refused(void **state)
{
	struct fixture *f = *state;
	struct vv_error err = { 0 };
	struct vv_secret_bundle *b = NULL;
	char *ref = put(f->dir, "perm", "cA==", &err), entry[600], *v;

	assert_non_null(ref);
	/* group-readable keystore */
	assert_int_equal(chmod(f->dir, 0750), 0);
	assert_true(vv_keystore_get(f->dir, "perm", &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_non_null(strstr(err.message, "group or others"));
	assert_null(put(f->dir, "perm", "cA==", &err));
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_int_equal(chmod(f->dir, 0700), 0);

	/* owned by someone else (we are root in the test container) */
	if (geteuid() == 0) {
		assert_int_equal(chown(f->dir, 4242, 4242), 0);
		assert_true(vv_keystore_get(f->dir, "perm", &b, &err) < 0);
		assert_int_equal(err.cause, VV_CAUSE_CONFIG);
		assert_non_null(strstr(err.message, "owned by uid 4242"));
		assert_int_equal(chown(f->dir, 0, 0), 0);
	}

	/* a world-readable entry directory */
	snprintf(entry, sizeof(entry), "%s/perm", f->dir);
	assert_int_equal(chmod(entry, 0705), 0);
	assert_true(vv_keystore_get(f->dir, "perm", &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_int_equal(chmod(entry, 0700), 0);

	/* a world-readable value file */
	v = NULL;
	assert_true(asprintf(&v, "%s/%s", entry, ref + strlen("keystore:perm/")) > 0);
	assert_int_equal(chmod(v, 0644), 0);
	assert_true(vv_keystore_get(f->dir, ref + 9, &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_int_equal(chmod(v, 0600), 0);
	assert_int_equal(vv_keystore_get(f->dir, ref + 9, &b, &err), 0);
	vv_secret_bundle_free(b);
	b = NULL;

	/* a symlink planted as the value file is not followed */
	assert_int_equal(unlink(v), 0);
	assert_int_equal(symlink("/etc/hostname", v), 0);
	assert_true(vv_keystore_get(f->dir, ref + 9, &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_non_null(strstr(err.message, "symbolic link"));
	assert_null(b);
	free(v);
	free(ref);
}

static void test_missing_and_bad_refs(void **state)
{
	struct fixture *f = *state;
	struct vv_error err = { 0 };
	struct vv_secret_bundle *b = NULL;
	char name[VV_KEYSTORE_NAME_MAX + 1], ver[VV_KEYSTORE_VERSION_LEN + 1];
	char missing[600], longname[200];
	static const char *const bad[] = {
		"", "../etc", "a/b", "a/", "a.b", "a/0123456789abcdef0123456789ABCDEF",
		"a/0123456789abcdef0123456789abcde", "/abs",
	};

	free(put(f->dir, "exists", "eA==", &err));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(vv_keystore_split_ref(bad[i], name, ver, &err), -EINVAL);
		assert_true(vv_keystore_get(f->dir, bad[i], &b, &err) < 0);
		assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	}
	memset(longname, 'a', 128);
	longname[128] = '\0';
	assert_int_equal(vv_keystore_split_ref(longname, name, ver, &err), -EINVAL);
	longname[127] = '\0';
	assert_int_equal(vv_keystore_split_ref(longname, name, ver, &err), 0);
	assert_int_equal(vv_keystore_split_ref("n-1/0123456789abcdef0123456789abcdef",
					       name, ver, &err), 0);
	assert_string_equal(name, "n-1");
	assert_string_equal(ver, "0123456789abcdef0123456789abcdef");

	assert_true(vv_keystore_get(f->dir, "nosuch", &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_NOT_FOUND);
	assert_true(vv_keystore_get(f->dir, "exists/0123456789abcdef0123456789abcdef",
				    &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_NOT_FOUND);
	snprintf(missing, sizeof(missing), "%s/nodir", f->tmp);
	assert_true(vv_keystore_get(missing, "exists", &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_NOT_FOUND);
	assert_true(vv_keystore_get("relative/dir", "exists", &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_null(b);
}

static void test_disabled_and_damaged(void **state)
{
	struct fixture *f = *state;
	struct vv_error err = { 0 };
	struct vv_secret_bundle *b = NULL;
	char *ref = put(f->dir, "meta", "bQ==", &err), p[700];

	assert_non_null(ref);
	snprintf(p, sizeof(p), "%s/meta/%s.json", f->dir, ref + strlen("keystore:meta/"));
	assert_int_equal(kt_write(p, "{\"attributes\":{\"enabled\":false,\"exp\":1700000000}}",
				  49, 0600), 0);
	assert_true(vv_keystore_get(f->dir, "meta", &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_DISABLED);
	assert_int_equal(kt_write(p, "{\"attributes\":{\"nbf\":1,\"exp\":1700000000}}", 42,
				  0600), 0);
	assert_int_equal(vv_keystore_get(f->dir, "meta", &b, &err), 0);
	assert_int_equal(b->exp, 1700000000);
	assert_int_equal(b->nbf, 1);
	assert_null(b->content_type);
	vv_secret_bundle_free(b);
	b = NULL;
	assert_int_equal(kt_write(p, "{not json", 9, 0600), 0);
	assert_true(vv_keystore_get(f->dir, "meta", &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_int_equal(kt_write(p, "{\"tags\":{\"a\":1}}", 16, 0600), 0);
	assert_true(vv_keystore_get(f->dir, "meta", &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	/* a damaged pointer to the latest version */
	snprintf(p, sizeof(p), "%s/meta/latest", f->dir);
	assert_int_equal(kt_write(p, "../../x\n", 8, 0600), 0);
	assert_true(vv_keystore_get(f->dir, "meta", &b, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_null(b);
	free(ref);
}

static void test_kek_create(void **state)
{
	struct fixture *f = *state;
	struct vv_error err = { 0 };
	struct vv_secret *pem = NULL;
	EVP_PKEY *pk = NULL;
	char p[600];
	struct stat st;

	assert_int_equal(vv_keystore_create_kek(f->dir, "kek-a", 2048, &err), 0);
	snprintf(p, sizeof(p), "%s/kek-a.pem", f->dir);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(vv_keystore_read_kek(f->dir, "kek-a", &pem, &err), 0);
	assert_int_equal(vv_rsa_load_pem(pem, false, &pk, &err), 0);
	assert_int_equal(EVP_PKEY_get_bits(pk), 2048);
	EVP_PKEY_free(pk);
	vv_secret_free(pem);
	assert_true(vv_keystore_create_kek(f->dir, "kek-a", 2048, &err) < 0);
	assert_non_null(strstr(err.message, "never replaced"));
	assert_true(vv_keystore_create_kek(f->dir, "kek-b", 1024, &err) < 0);
	assert_true(vv_keystore_create_kek(f->dir, "a.b", 2048, &err) < 0);
	assert_true(vv_keystore_read_kek(f->dir, "nokek", &pem, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_NOT_FOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_versions_and_latest),
		cmocka_unit_test(test_atomic_files),
		cmocka_unit_test(test_directory_permissions_refused),
		cmocka_unit_test(test_missing_and_bad_refs),
		cmocka_unit_test(test_disabled_and_damaged),
		cmocka_unit_test(test_kek_create),
	};

	return cmocka_run_group_tests_name("keystore", tests, setup, kt_dir_teardown);
}
