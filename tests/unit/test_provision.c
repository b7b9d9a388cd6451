// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Provision, adopt and rotate on image files with the local keystore and a
 * local KEK (no device-mapper: format_only, keys checked with
 * crypt_activate_by_passphrase without a name). Rotation is killed with a
 * real SIGKILL after each step in a child process.
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
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <libcryptsetup.h>
#include <openssl/evp.h>

#include "agent/volume/crypt.h"
#include "agent/provision/provision.h"
#include "agent/provision/provision_internal.h"
#include "agent/volume/quiesce.h"
#include "agent/volume/luks2_token.h"
#include "tests/unit/keysrc_helpers.h"
#include "tests/unit/prov_fixture.h"
#include "vault/keystore.h"
#include "vault/vault.h"

static int setup(void **state)
{
	struct vv_vault_config cfg = { 0 };
	struct vv_error err;
	struct prov_fx *f = prov_fx_new("prov");

	if (!f)
		return -1;
	cfg.keystore_dir = f->store;
	if (vv_vault_new(&cfg, &f->v) < 0)
		return -1;
	if (vv_keystore_create_kek(f->store, "kek1", 2048, &err) < 0 ||
	    vv_keystore_create_kek(f->store, "kek2", 2048, &err) < 0)
		return -1;
	*state = f;
	return 0;
}

static void make_image(const char *path, long long size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
}

static struct vv_provision_req base_req(struct prov_fx *f)
{
	struct vv_provision_req req = {
		.device = f->img,
		.secret = "keystore:data1",
		.kek = "keystore-kek:kek1",
		.mount = "/data",
		.fs = "ext4",
		.options = "noatime",
		.recovery = VV_RECOVERY_PRINT,
		.format_only = true,
		.state_dir = f->state,
		/* fixed argon2id cost: the benchmark alone takes seconds */
		.recovery_iterations = 4,
		.recovery_max_kb = 8192,
	};
	return req;
}

static int count_active_keyslots(const char *img)
{
	struct crypt_device *cd = NULL;
	int n = 0;

	assert_int_equal(crypt_init(&cd, img), 0);
	assert_int_equal(crypt_load(cd, CRYPT_LUKS2, NULL), 0);
	for (int i = 0; i < crypt_keyslot_max(CRYPT_LUKS2); i++) {
		crypt_keyslot_info st = crypt_keyslot_status(cd, i);

		if (st == CRYPT_SLOT_ACTIVE || st == CRYPT_SLOT_ACTIVE_LAST)
			n++;
	}
	crypt_free(cd);
	return n;
}

static int count_files(const char *dir)
{
	return kt_sh("test $(ls -A '%s' 2>/dev/null | wc -l) -eq 0", dir) == 0 ? 0 : 1;
}

static void test_refs(void **state)
{
	char *s;

	(void)state;
	s = vv_ref_unversioned("keystore:data1/0123456789abcdef0123456789abcdef");
	assert_string_equal(s, "keystore:data1");
	free(s);
	s = vv_ref_unversioned("https://v.vault.azure.net/secrets/d1/abc");
	assert_string_equal(s, "https://v.vault.azure.net/secrets/d1");
	free(s);
	s = vv_ref_unversioned("https://v.vault.azure.net/secrets/d1");
	assert_string_equal(s, "https://v.vault.azure.net/secrets/d1");
	free(s);
	s = vv_ref_unversioned("d1/abc");
	assert_string_equal(s, "d1");
	free(s);
	assert_null(vv_ref_unversioned("file:/etc/key"));
	assert_null(vv_ref_unversioned("bek:LinuxPassPhraseFileName"));
	assert_null(vv_ref_unversioned("https://v.vault.azure.net/keys/k/1"));
	assert_null(vv_ref_unversioned(""));
	s = vv_ref_name("https://v.vault.azure.net/secrets/d1/abc");
	assert_string_equal(s, "d1");
	free(s);
	s = vv_ref_name("keystore:data-2");
	assert_string_equal(s, "data-2");
	free(s);
}

static void test_recovery_format(void **state)
{
	struct vv_secret *a = NULL, *b = NULL;

	(void)state;
	assert_int_equal(vv_recovery_generate(&a), 0);
	assert_int_equal(vv_recovery_generate(&b), 0);
	assert_int_equal(a->len, 48 + 7);
	for (size_t i = 0; i < a->len; i++) {
		if (i % 7 == 6)
			assert_int_equal(a->data[i], '-');
		else
			assert_true(a->data[i] >= '0' && a->data[i] <= '9');
	}
	assert_false(vv_secret_equal(a, b));
	vv_secret_free(a);
	vv_secret_free(b);
}

/* Refusal: nothing written to the device, nothing stored in the keystore. */
static void refuse_case(struct prov_fx *f, const char *what_expected)
{
	struct vv_provision_req req = base_req(f);
	struct vv_provision_result res;
	struct vv_error err;
	unsigned char h1[32], h2[32];

	prov_sha256_file(f->img, h1);
	assert_int_equal(vv_provision(f->v, &req, &res, &err), -EEXIST);
	assert_non_null(strstr(err.message, what_expected));
	prov_sha256_file(f->img, h2);
	assert_memory_equal(h1, h2, 32);
	assert_int_equal(count_files(f->store), 1);	/* the KEKs only */
	assert_int_equal(kt_sh("test ! -e '%s/data1'", f->store), 0);
	vv_provision_result_clear(&res);
}

/* A disk with no room after the LUKS2 header: refused before anything is stored or written. */
static void test_refuse_too_small(void **state)
{
	struct prov_fx *f = *state;
	struct vv_provision_req req = base_req(f);
	struct vv_provision_result res;
	struct vv_error err;
	unsigned char h1[32], h2[32];

	/* (refused at step 1, so even a full provision never reaches activation here) */
	req.format_only = false;
	make_image(f->img, 16 << 20);
	prov_sha256_file(f->img, h1);
	assert_int_equal(vv_provision(f->v, &req, &res, &err), -ENOSPC);
	assert_non_null(strstr(err.message, "is 16 MiB: too small for the LUKS2 header"));
	assert_non_null(strstr(err.message, "use a disk of 24 MiB or more"));
	prov_sha256_file(f->img, h2);
	assert_memory_equal(h1, h2, 32);
	assert_int_equal(count_files(f->store), 1);	/* the KEKs only: no secret stored */
	vv_provision_result_clear(&res);
	/* xfs needs 300 MiB after the header */
	make_image(f->img, 64 << 20);
	req.fs = "xfs";
	assert_int_equal(vv_provision(f->v, &req, &res, &err), -ENOSPC);
	assert_non_null(strstr(err.message, "an xfs filesystem (300 MiB at least)"));
	vv_provision_result_clear(&res);
	/* --format-only needs the header and a data area */
	req.format_only = true;
	make_image(f->img, 16 << 20);
	assert_int_equal(vv_provision(f->v, &req, &res, &err), -ENOSPC);
	assert_non_null(strstr(err.message, "a data area (1 MiB at least)"));
	vv_provision_result_clear(&res);
}

/* Without device-mapper (this build host), a full provision writes nothing. */
static void test_refuse_without_dm(void **state)
{
	struct prov_fx *f = *state;
	struct vv_provision_req req = base_req(f);
	struct vv_provision_result res;
	struct vv_error err;
	unsigned char h1[32], h2[32];
	char why[256];

	if (vv_dm_available(why, sizeof(why)) == 0)
		skip();
	req.format_only = false;
	make_image(f->img, 64 << 20);
	prov_sha256_file(f->img, h1);
	assert_int_equal(vv_provision(f->v, &req, &res, &err), -ENODEV);
	assert_non_null(strstr(err.message, "device-mapper is not available"));
	assert_non_null(strstr(err.remedy, "modprobe dm_mod dm_crypt"));
	prov_sha256_file(f->img, h2);
	assert_memory_equal(h1, h2, 32);
	assert_int_equal(count_files(f->store), 1);	/* the KEKs only: no secret stored */
	vv_provision_result_clear(&res);
}

static void test_refuse_data(void **state)
{
	struct prov_fx *f = *state;
	char bl[600];

	make_image(f->img, 64 << 20);
	assert_int_equal(kt_sh("mkfs.ext4 -q -F '%s' >/dev/null 2>&1", f->img), 0);
	refuse_case(f, "filesystem ext4");

	make_image(f->img, 320 << 20);	/* xfs needs 300 MiB */
	assert_int_equal(kt_sh("mkfs.xfs -q -f '%s' >/dev/null 2>&1", f->img), 0);
	refuse_case(f, "filesystem xfs");

	make_image(f->img, 64 << 20);
	assert_int_equal(kt_sh("echo 'label: gpt' | sfdisk -q '%s' >/dev/null 2>&1", f->img), 0);
	refuse_case(f, "partition table gpt");

	make_image(f->img, 64 << 20);
	assert_int_equal(kt_sh("echo ',,L' | sfdisk -q '%s' >/dev/null 2>&1", f->img), 0);
	refuse_case(f, "partition table dos");

	make_image(f->img, 32 << 20);
	assert_int_equal(kt_sh("printf pw | cryptsetup luksFormat -q --type luks2 "
			       "--pbkdf pbkdf2 --pbkdf-force-iterations 1000 '%s' - "
			       ">/dev/null 2>&1", f->img), 0);
	refuse_case(f, "crypto_LUKS");

	snprintf(bl, sizeof(bl), "%s/bl", f->dir);
	assert_int_equal(kt_sh("mkdir -p '%s' && tar -C '%s' -xJf '%s/testdata/bitlocker/"
			       "windows-images.tar.xz' && cp '%s'/bitlk-aes-xts-128.img '%s'",
			       bl, bl, getenv("VV_SHARED") ? getenv("VV_SHARED") : "/work/shared",
			       bl, f->img), 0);
	refuse_case(f, "BitLocker");
}

static void check_pbkdf(const char *img, int slot, const char *type, uint32_t iters)
{
	struct crypt_device *cd = NULL;
	struct crypt_pbkdf_type p;

	assert_int_equal(crypt_init(&cd, img), 0);
	assert_int_equal(crypt_load(cd, CRYPT_LUKS2, NULL), 0);
	assert_int_equal(crypt_keyslot_get_pbkdf(cd, slot, &p), 0);
	assert_string_equal(p.type, type);
	if (iters) {
		assert_int_equal(p.iterations, iters);
		assert_string_equal(p.hash, "sha256");
	} else {
		assert_true(p.max_memory_kb > 0);
	}
	crypt_free(cd);
}

static void test_provision_format(void **state)
{
	struct prov_fx *f = *state;
	struct vv_provision_req req = base_req(f);
	struct vv_provision_result res;
	struct vv_token t;
	struct vv_bek *b = NULL;
	struct vv_error err;
	struct crypt_device *cd = NULL;
	struct stat st;

	make_image(f->img, 64 << 20);
	assert_int_equal(vv_provision(f->v, &req, &res, &err), 0);
	assert_int_equal(res.sector_size, 4096);
	assert_true(res.bek_keyslot >= 0);
	assert_true(res.recovery_keyslot >= 0);
	assert_int_not_equal(res.bek_keyslot, res.recovery_keyslot);
	assert_non_null(res.recovery);
	assert_string_equal(res.mapper_path, "");

	/* header: aes-xts-plain64, 512-bit key, 4096-byte sectors, our label */
	assert_int_equal(crypt_init(&cd, f->img), 0);
	assert_int_equal(crypt_load(cd, CRYPT_LUKS2, NULL), 0);
	assert_string_equal(crypt_get_cipher(cd), "aes");
	assert_string_equal(crypt_get_cipher_mode(cd), "xts-plain64");
	assert_int_equal(crypt_get_volume_key_size(cd), 64);
	assert_int_equal(crypt_get_sector_size(cd), 4096);
	assert_string_equal(crypt_get_label(cd), "data1");
	crypt_free(cd);

	/* BEK keyslot PBKDF2 at 1000 iterations, recovery keyslot argon2id */
	check_pbkdf(f->img, res.bek_keyslot, CRYPT_KDF_PBKDF2, 1000);
	check_pbkdf(f->img, res.recovery_keyslot, CRYPT_KDF_ARGON2ID, 0);
	assert_int_equal(count_active_keyslots(f->img), 2);
	/* any-slot unlocks try the cheap BEK keyslot first */
	assert_int_equal(crypt_init(&cd, f->img), 0);
	assert_int_equal(crypt_load(cd, CRYPT_LUKS2, NULL), 0);
	assert_int_equal(crypt_keyslot_get_priority(cd, res.bek_keyslot), CRYPT_SLOT_PRIORITY_PREFER);
	assert_int_equal(crypt_keyslot_get_priority(cd, res.recovery_keyslot), CRYPT_SLOT_PRIORITY_NORMAL);
	crypt_free(cd);

	/* token: versioned key, KEK, alg, keyslot, name, mount, fs, options */
	assert_int_equal(vv_token_read(f->img, &t), 0);
	assert_int_equal(strncmp(t.key, "keystore:data1/", 15), 0);
	assert_int_equal(strlen(t.key), 15 + 32);
	assert_string_equal(t.kek, "keystore-kek:kek1");
	assert_string_equal(t.alg, "RSA-OAEP");
	assert_int_equal(t.keyslot, res.bek_keyslot);
	assert_string_equal(t.name, "data1");
	assert_string_equal(t.mount, "/data");
	assert_string_equal(t.fs, "ext4");
	assert_string_equal(t.options, "noatime");
	assert_null(t.retire_key);

	/* the stored secret is wrapped, ADE-tagged, and opens the BEK keyslot */
	assert_int_equal(vv_bek_fetch(f->v, t.key, NULL, &b, &err), 0);
	assert_true(b->wrapped);
	assert_string_equal(b->content_type, "Wrapped BEK");
	assert_int_equal(b->key->len, 32);
	assert_int_equal(vv_crypt_check_key(f->img, b->key), res.bek_keyslot);
	vv_bek_free(b);
	vv_token_clear(&t);

	/* the printed recovery passphrase opens the recovery keyslot */
	assert_int_equal(vv_crypt_check_key(f->img, res.recovery), res.recovery_keyslot);

	/* one header backup, 0600, in a 0700 directory */
	assert_int_equal(stat(res.backup, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(kt_sh("test $(stat -c %%a '%s/header-backups') = 700", f->state), 0);
	vv_provision_result_clear(&res);

	/* a second provision refuses: the device now holds LUKS */
	assert_int_equal(vv_provision(f->v, &req, &res, &err), -EEXIST);
	vv_provision_result_clear(&res);
}

static void test_provision_recovery_secret_512(void **state)
{
	struct prov_fx *f = *state;
	struct vv_provision_req req = base_req(f);
	struct vv_provision_result res;
	struct vv_bek *b = NULL;
	struct vv_error err;
	struct crypt_device *cd = NULL;

	/* not a multiple of 4096: 512-byte sectors */
	make_image(f->img, (64 << 20) + 512);
	req.recovery = VV_RECOVERY_SECRET;
	req.kek = NULL;
	req.name = "vol.b";
	assert_int_equal(vv_provision(f->v, &req, &res, &err), 0);
	assert_int_equal(res.sector_size, 512);
	assert_null(res.recovery);
	assert_non_null(res.recovery_ref);
	assert_int_equal(strncmp(res.recovery_ref, "keystore:data1-recovery/", 24), 0);
	assert_null(res.token.kek);
	assert_null(res.token.alg);
	assert_string_equal(res.token.name, "vol.b");
	assert_int_equal(vv_bek_fetch(f->v, res.recovery_ref, NULL, &b, &err), 0);
	assert_int_equal(vv_crypt_check_key(f->img, b->key), res.recovery_keyslot);
	vv_bek_free(b);
	assert_int_equal(crypt_init(&cd, f->img), 0);
	assert_int_equal(crypt_load(cd, CRYPT_LUKS2, NULL), 0);
	assert_int_equal(crypt_get_sector_size(cd), 512);
	crypt_free(cd);
	vv_provision_result_clear(&res);
}

static void test_provision_force(void **state)
{
	struct prov_fx *f = *state;
	struct vv_provision_req req = base_req(f);
	struct vv_provision_result res;
	struct vv_error err;
	char what[128];

	make_image(f->img, 64 << 20);
	assert_int_equal(kt_sh("echo 'label: gpt' | sfdisk -q '%s' >/dev/null 2>&1 && "
			       "mkfs.ext4 -q -F '%s' >/dev/null 2>&1", f->img, f->img), 0);
	req.force = true;
	assert_int_equal(vv_provision(f->v, &req, &res, &err), 0);
	vv_provision_result_clear(&res);
	/* exactly LUKS now: the old GPT (incl. its backup header) is gone */
	assert_int_equal(vv_probe_content(f->img, what, sizeof(what)), 1);
	assert_string_equal(what, "crypto_LUKS (crypto)");
	assert_int_equal(kt_sh("blkid -p -o value -s PTTYPE '%s' | grep -q .", f->img), 1);
}

static void test_bad_requests(void **state)
{
	struct prov_fx *f = *state;
	struct vv_provision_req req = base_req(f);
	struct vv_provision_result res;
	struct vv_error err;
	unsigned char h1[32], h2[32];

	make_image(f->img, 64 << 20);
	prov_sha256_file(f->img, h1);
	req.secret = "keystore:data1/0123456789abcdef0123456789abcdef";
	assert_int_equal(vv_provision(f->v, &req, &res, &err), -EINVAL);
	req.secret = "file:/etc/key";
	assert_int_equal(vv_provision(f->v, &req, &res, &err), -EINVAL);
	req.secret = "keystore:data1";
	req.fs = "btrfs";
	assert_int_equal(vv_provision(f->v, &req, &res, &err), -EINVAL);
	req.fs = "xfs";
	req.label = "much-too-long-label";
	assert_int_equal(vv_provision(f->v, &req, &res, &err), -EINVAL);
	req.label = NULL;
	req.mount = "data";
	assert_int_equal(vv_provision(f->v, &req, &res, &err), -EINVAL);
	/* The token gets the mount point: never one open would refuse from a disk. */
	req.mount = "/etc";
	assert_int_equal(vv_provision(f->v, &req, &res, &err), -EINVAL);
	assert_non_null(strstr(err.message, "/etc is a system directory"));
	req.mount = "/var/lib/app";
	assert_int_equal(vv_provision(f->v, &req, &res, &err), -EINVAL);
	req.mount = "/data";
	req.name = "../x";
	assert_int_equal(vv_provision(f->v, &req, &res, &err), -EINVAL);
	req.name = NULL;
	/* a token never names a local file: refused before anything is fetched */
	req.kek = "file:/root/kek.pem";
	assert_int_equal(vv_provision(f->v, &req, &res, &err), -EINVAL);
	assert_non_null(strstr(err.message, "--kek file:/root/kek.pem: a vaultvol token never"));
	assert_non_null(strstr(err.message, "keystore-kek:NAME"));
	/* a KEK that does not exist: fails before the device is touched */
	req.kek = "keystore-kek:nope";
	assert_true(vv_provision(f->v, &req, &res, &err) < 0);
	prov_sha256_file(f->img, h2);
	assert_memory_equal(h1, h2, 32);
	vv_provision_result_clear(&res);
}

static void provision_ok(struct prov_fx *f, const char *img, struct vv_provision_result *res)
{
	struct vv_provision_req req = base_req(f);
	struct vv_error err;

	req.device = img;
	make_image(img, 64 << 20);
	assert_int_equal(vv_provision(f->v, &req, res, &err), 0);
}

static void test_rotate_bek_then_kek(void **state)
{
	struct prov_fx *f = *state;
	struct vv_provision_result pres;
	struct vv_rotate_req rq = { .device = f->img, .bek = true, .state_dir = f->state };
	struct vv_rotate_result rr;
	struct vv_token t0, t1, t2, tc;
	struct vv_bek *old = NULL;
	struct vv_error err;
	char copy[600];

	provision_ok(f, f->img, &pres);
	/* the disk as a backup would have copied it before the rotations */
	snprintf(copy, sizeof(copy), "%s/copy.img", f->dir);
	assert_int_equal(kt_sh("cp --sparse=always '%s' '%s'", f->img, copy), 0);
	assert_int_equal(prov_token_opens(f->v, f->img, &t0), pres.bek_keyslot);

	/* BEK rotation: new version, new keyslot, old keyslot gone */
	assert_int_equal(vv_rotate(f->v, &rq, &rr, &err), 0);
	assert_false(rr.resumed);
	assert_int_equal(rr.backups, 4);
	assert_int_equal(prov_token_opens_own(f->v, f->img, &t1), 0);
	assert_string_not_equal(t1.key, t0.key);
	assert_int_not_equal(t1.keyslot, t0.keyslot);
	assert_string_equal(t1.kek, "keystore-kek:kek1");
	assert_null(t1.retire_key);
	assert_int_equal(count_active_keyslots(f->img), 2);	/* new BEK + recovery */
	check_pbkdf(f->img, t1.keyslot, CRYPT_KDF_PBKDF2, 1000);
	{
		struct crypt_device *cd = NULL;

		assert_int_equal(crypt_init(&cd, f->img), 0);
		assert_int_equal(crypt_load(cd, CRYPT_LUKS2, NULL), 0);
		assert_int_equal(crypt_keyslot_get_priority(cd, t1.keyslot),
				 CRYPT_SLOT_PRIORITY_PREFER);
		crypt_free(cd);
	}
	assert_int_equal(vv_bek_fetch(f->v, t0.key, t0.kek, &old, &err), 0);
	assert_int_equal(vv_crypt_check_key(f->img, old->key), -EPERM);
	assert_int_equal(vv_crypt_check_key(copy, old->key), t0.keyslot);
	vv_bek_free(old);
	assert_int_equal(vv_crypt_check_key(f->img, pres.recovery), pres.recovery_keyslot);
	vv_rotate_result_clear(&rr);

	/* KEK rotation: same keyslot, new version wrapped by kek2 */
	rq.bek = false;
	rq.kek = "keystore-kek:kek2";
	rq.alg = "RSA-OAEP-256";
	assert_int_equal(vv_rotate(f->v, &rq, &rr, &err), 0);
	assert_int_equal(rr.backups, 1);
	assert_int_equal(prov_token_opens(f->v, f->img, &t2), t1.keyslot);
	assert_string_not_equal(t2.key, t1.key);
	assert_string_equal(t2.kek, "keystore-kek:kek2");
	assert_string_equal(t2.alg, "RSA-OAEP-256");
	assert_int_equal(t2.keyslot, t1.keyslot);
	vv_rotate_result_clear(&rr);

	/* the old versions still exist and still open the pre-rotation copy */
	assert_int_equal(prov_token_opens(f->v, copy, &tc), t0.keyslot);
	assert_string_equal(tc.key, t0.key);
	assert_int_equal(vv_bek_fetch(f->v, t1.key, NULL, &old, &err), 0);
	assert_int_equal(vv_crypt_check_key(f->img, old->key), t1.keyslot);
	vv_bek_free(old);

	vv_token_clear(&t0);
	vv_token_clear(&t1);
	vv_token_clear(&t2);
	vv_token_clear(&tc);
	vv_provision_result_clear(&pres);
}

struct killer {
	enum vv_rotate_step at;
};

static void kill_at(enum vv_rotate_step step, const struct vv_token *t, void *arg)
{
	const struct killer *k = arg;

	(void)t;
	if (step == k->at)
		raise(SIGKILL);
}

/* Run a rotation in a child that SIGKILLs itself right after step `at`. */
static void rotate_killed(struct prov_fx *f, bool bek, const char *kek, enum vv_rotate_step at)
{
	struct killer k = { .at = at };
	struct vv_rotate_req rq = { .device = f->img, .bek = bek, .kek = kek,
				    .state_dir = f->state, .progress = kill_at,
				    .progress_arg = &k };
	int st;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct vv_rotate_result rr;
		struct vv_error err;

		vv_rotate(f->v, &rq, &rr, &err);
		_exit(3);	/* not killed: the step never came */
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);
}

static void test_rotate_killed_each_step(void **state)
{
	static const enum vv_rotate_step bek_steps[] = {
		VV_ROT_CHECKED, VV_ROT_STORED, VV_ROT_KEYSLOT_ADDED,
		VV_ROT_TOKEN_UPDATED, VV_ROT_OLD_KEYSLOT_REMOVED, VV_ROT_DONE,
	};
	static const enum vv_rotate_step kek_steps[] = {
		VV_ROT_CHECKED, VV_ROT_STORED, VV_ROT_TOKEN_UPDATED, VV_ROT_DONE,
	};
	struct prov_fx *f = *state;
	struct vv_provision_result pres;
	struct vv_rotate_req rq = { .device = f->img, .bek = true, .state_dir = f->state };
	struct vv_rotate_result rr;
	struct vv_token before, mid, after;
	struct vv_error err;

	provision_ok(f, f->img, &pres);
	for (size_t i = 0; i < sizeof(bek_steps) / sizeof(bek_steps[0]); i++) {
		assert_true(prov_token_opens(f->v, f->img, &before) >= 0);
		rotate_killed(f, true, NULL, bek_steps[i]);
		/* killed: the volume opens with the key its token names */
		assert_int_equal(prov_token_opens_own(f->v, f->img, &mid), 0);
		/* run again: an interrupted rotation is completed, not repeated */
		rq.bek = true;
		rq.kek = NULL;
		assert_int_equal(vv_rotate(f->v, &rq, &rr, &err), 0);
		assert_int_equal(prov_token_opens_own(f->v, f->img, &after), 0);
		assert_null(after.retire_key);
		assert_int_equal(count_active_keyslots(f->img), 2);
		if (bek_steps[i] >= VV_ROT_KEYSLOT_ADDED && bek_steps[i] < VV_ROT_DONE)
			assert_true(rr.resumed);
		else
			assert_false(rr.resumed);
		assert_string_not_equal(after.key, before.key);
		assert_int_equal(vv_crypt_check_key(f->img, pres.recovery),
				 pres.recovery_keyslot);
		vv_rotate_result_clear(&rr);
		vv_token_clear(&before);
		vv_token_clear(&mid);
		vv_token_clear(&after);
	}
	for (size_t i = 0; i < sizeof(kek_steps) / sizeof(kek_steps[0]); i++) {
		const char *kek = i % 2 ? "keystore-kek:kek1" : "keystore-kek:kek2";

		assert_true(prov_token_opens(f->v, f->img, &before) >= 0);
		rotate_killed(f, false, kek, kek_steps[i]);
		assert_int_equal(prov_token_opens(f->v, f->img, &mid), before.keyslot);
		if (kek_steps[i] >= VV_ROT_TOKEN_UPDATED)
			assert_string_equal(mid.kek, kek);
		else
			assert_string_equal(mid.kek, before.kek);
		vv_token_clear(&before);
		vv_token_clear(&mid);
	}
	assert_int_equal(count_active_keyslots(f->img), 2);
	vv_provision_result_clear(&pres);
}

static void test_rotate_refusals(void **state)
{
	struct prov_fx *f = *state;
	struct vv_rotate_req rq = { .device = f->img, .bek = true, .state_dir = f->state };
	struct vv_provision_result pres;
	struct vv_rotate_result rr;
	struct vv_error err;
	char lock[600];
	unsigned char h1[32], h2[32];
	int fd;

	/* no token */
	make_image(f->img, 32 << 20);
	assert_int_equal(kt_sh("printf pw | cryptsetup luksFormat -q --type luks2 "
			       "--pbkdf pbkdf2 --pbkdf-force-iterations 1000 '%s' - "
			       ">/dev/null 2>&1", f->img), 0);
	assert_int_equal(vv_rotate(f->v, &rq, &rr, &err), -ENOENT);
	vv_rotate_result_clear(&rr);

	/* another header-changing command holds the lock */
	provision_ok(f, f->img, &pres);
	snprintf(lock, sizeof(lock), "%s/header-change.lock", f->state);
	fd = open(lock, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	prov_sha256_file(f->img, h1);
	assert_int_equal(vv_rotate(f->v, &rq, &rr, &err), -EBUSY);
	prov_sha256_file(f->img, h2);
	assert_memory_equal(h1, h2, 32);
	close(fd);
	vv_rotate_result_clear(&rr);

	/* KEK unusable for the new version: fails before the header changes */
	rq.bek = false;
	rq.kek = "keystore-kek:missing";
	assert_true(vv_rotate(f->v, &rq, &rr, &err) < 0);
	prov_sha256_file(f->img, h2);
	assert_memory_equal(h1, h2, 32);
	vv_rotate_result_clear(&rr);
	vv_provision_result_clear(&pres);
}

static void test_adopt(void **state)
{
	struct prov_fx *f = *state;
	struct vv_adopt_req req = { .device = f->img, .secret = "keystore:legacy",
				    .mount = "/legacy", .fs = "xfs", .state_dir = f->state };
	const char *save;
	struct vv_secret *key = vv_secret_from("0123456789abcdef0123456789abcdef", 32);
	struct vv_secret *wrong = vv_secret_from("not the key", 11);
	struct vv_token t;
	struct vv_error err;
	char *ref = NULL, *kid = NULL, keyfile[600];
	unsigned char h1[32], h2[32];

	/* an existing LUKS2 volume (cryptsetup defaults) keyed by key */
	make_image(f->img, 32 << 20);
	snprintf(keyfile, sizeof(keyfile), "%s/legacy.key", f->dir);
	assert_int_equal(kt_write(keyfile, key->data, key->len, 0600), 0);
	assert_int_equal(kt_sh("cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 "
			       "--pbkdf-force-iterations 1000 '%s' '%s' >/dev/null 2>&1",
			       f->img, keyfile), 0);

	/* what open would refuse from a token is not written into one */
	prov_sha256_file(f->img, h1);
	req.mount = "/usr/local";
	assert_int_equal(vv_adopt(f->v, &req, &t, &err), -EINVAL);
	assert_non_null(strstr(err.message, "/usr"));
	/* a file: key or KEK would make a token open refuses */
	save = req.mount;
	req.mount = NULL;
	req.secret = "file:/root/legacy.key";
	assert_int_equal(vv_adopt(f->v, &req, &t, &err), -EINVAL);
	assert_non_null(strstr(err.message, "--secret file:/root/legacy.key: a vaultvol token never"));
	req.secret = "keystore:legacy";
	req.kek = "file:/root/kek.pem";
	assert_int_equal(vv_adopt(f->v, &req, &t, &err), -EINVAL);
	assert_non_null(strstr(err.message, "--kek file:/root/kek.pem"));
	req.kek = NULL;
	req.mount = save;
	req.mount = "/legacy";
	req.fs = "squashfs";
	assert_int_equal(vv_adopt(f->v, &req, &t, &err), -EINVAL);
	assert_non_null(strstr(err.message, "squashfs"));
	req.fs = "xfs";
	prov_sha256_file(f->img, h2);
	assert_memory_equal(h1, h2, 32);

	/* wrong key: refused, nothing written */
	assert_int_equal(vv_bek_store(f->v, "keystore:legacy", wrong, NULL, NULL, NULL,
				      &ref, &kid, &err), 0);
	free(ref);
	prov_sha256_file(f->img, h1);
	assert_int_equal(vv_adopt(f->v, &req, &t, &err), -EPERM);
	prov_sha256_file(f->img, h2);
	assert_memory_equal(h1, h2, 32);

	/* the right key, wrapped: the token records the exact version and KEK */
	assert_int_equal(vv_bek_store(f->v, "keystore:legacy", key, "keystore-kek:kek1",
				      NULL, NULL, &ref, &kid, &err), 0);
	assert_int_equal(vv_adopt(f->v, &req, &t, &err), 0);
	assert_string_equal(t.key, ref);
	assert_string_equal(t.kek, "keystore-kek:kek1");
	assert_string_equal(t.alg, "RSA-OAEP");
	assert_int_equal(t.keyslot, 0);
	assert_string_equal(t.name, "legacy");
	assert_string_equal(t.mount, "/legacy");
	assert_string_equal(t.fs, "xfs");
	vv_token_clear(&t);
	assert_int_equal(kt_sh("test $(ls '%s/header-backups' | wc -l) -ge 1", f->state), 0);

	/* adopting again needs force */
	assert_int_equal(vv_adopt(f->v, &req, &t, &err), -EEXIST);
	req.force = true;
	assert_int_equal(vv_adopt(f->v, &req, &t, &err), 0);
	vv_token_clear(&t);
	free(ref);
	free(kid);

	/* an adopted volume rotates like a provisioned one */
	{
		struct vv_rotate_req rq = { .device = f->img, .bek = true,
					    .state_dir = f->state };
		struct vv_rotate_result rr;

		assert_int_equal(vv_rotate(f->v, &rq, &rr, &err), 0);
		assert_int_equal(prov_token_opens_own(f->v, f->img, &t), 0);
		assert_int_equal(vv_crypt_check_key(f->img, key), -EPERM);
		assert_int_equal(count_active_keyslots(f->img), 1);
		vv_token_clear(&t);
		vv_rotate_result_clear(&rr);
	}

	/* LUKS1 cannot hold a token */
	make_image(f->img, 32 << 20);
	assert_int_equal(kt_sh("cryptsetup luksFormat -q --type luks1 --pbkdf-force-iterations "
			       "1000 '%s' '%s' >/dev/null 2>&1", f->img, keyfile), 0);
	req.force = false;
	assert_int_equal(vv_adopt(f->v, &req, &t, &err), -EINVAL);
	vv_secret_free(key);
	vv_secret_free(wrong);
}

/*
 * The state directory's room is checked before any key is stored: a full
 * directory is an error naming it, the need and the fix; enough room is 0.
 */
static void test_state_room(void **state)
{
	struct vv_error err = { 0 };

	(void)state;
	assert_int_equal(pv_state_room("/dev/x", "/tmp", 1, &err), 0);
	assert_int_equal(pv_state_room("/dev/x", "/tmp", UINT64_MAX / 2, &err), -ENOSPC);
	assert_non_null(strstr(err.message, "/tmp"));
	assert_non_null(strstr(err.message, "/dev/x"));
	assert_non_null(strstr(err.message, "nothing was written"));
	assert_non_null(strstr(err.remedy, "--state-dir"));
	/* A directory that is not there yet is made (and reported) later. */
	vv_error_clear(&err);
	assert_int_equal(pv_state_room("/dev/x", "/nonexistent/vv", UINT64_MAX / 2, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refs),
		cmocka_unit_test(test_state_room),
		cmocka_unit_test(test_recovery_format),
		cmocka_unit_test_setup_teardown(test_refuse_data, setup, prov_fx_teardown),
		cmocka_unit_test_setup_teardown(test_refuse_without_dm, setup, prov_fx_teardown),
		cmocka_unit_test_setup_teardown(test_refuse_too_small, setup, prov_fx_teardown),
		cmocka_unit_test_setup_teardown(test_provision_format, setup, prov_fx_teardown),
		cmocka_unit_test_setup_teardown(test_provision_recovery_secret_512, setup, prov_fx_teardown),
		cmocka_unit_test_setup_teardown(test_provision_force, setup, prov_fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, prov_fx_teardown),
		cmocka_unit_test_setup_teardown(test_rotate_bek_then_kek, setup, prov_fx_teardown),
		cmocka_unit_test_setup_teardown(test_rotate_killed_each_step, setup, prov_fx_teardown),
		cmocka_unit_test_setup_teardown(test_rotate_refusals, setup, prov_fx_teardown),
		cmocka_unit_test_setup_teardown(test_adopt, setup, prov_fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
