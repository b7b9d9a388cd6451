/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the provision tests share (test_provision.c on the local keystore,
 * test_provision_vault.c on the Key Vault fake): a scratch directory with
 * the usual paths and a vault client, the image digest and the check that
 * a token's key opens its volume. Include after <cmocka.h>.
 */
#ifndef VV_TEST_PROV_FIXTURE_H
#define VV_TEST_PROV_FIXTURE_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "agent/volume/crypt.h"
#include "agent/volume/luks2_token.h"
#include "tests/unit/keysrc_helpers.h"
#include "vault/vault.h"

struct prov_fx {
	char *dir;		/* everything lives below it */
	char store[512], state[512], img[512], copy[512];
	struct vv_vault *v;	/* set by the test file's setup */
};

/* A fixture under a fresh /tmp/vv-TAG-* directory; NULL on failure. */
static inline struct prov_fx *prov_fx_new(const char *tag)
{
	struct prov_fx *f = calloc(1, sizeof(*f));

	if (!f || !(f->dir = kt_mkdtemp(tag)))
		return NULL;
	snprintf(f->store, sizeof(f->store), "%s/keys", f->dir);
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	snprintf(f->img, sizeof(f->img), "%s/disk.img", f->dir);
	snprintf(f->copy, sizeof(f->copy), "%s/copy.img", f->dir);
	return f;
}

/* cmocka teardown of a prov_fx. */
static inline int prov_fx_teardown(void **state)
{
	struct prov_fx *f = *state;

	vv_vault_free(f->v);
	return kt_fixture_done(f->dir, f);
}

static inline void prov_sha256_file(const char *path, unsigned char out[32])
{
	unsigned char buf[65536];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 32;
	ssize_t got;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
	while ((got = read(fd, buf, sizeof(buf))) > 0)
		EVP_DigestUpdate(ctx, buf, (size_t)got);
	assert_int_equal(got, 0);
	EVP_DigestFinal_ex(ctx, out, &n);
	EVP_MD_CTX_free(ctx);
	close(fd);
}

/*
 * Read img's token, fetch its key from v and try it: the keyslot it
 * opens, or -errno.
 */
static inline int prov_token_opens(struct vv_vault *v, const char *img, struct vv_token *t)
{
	struct vv_bek *b = NULL;
	struct vv_error err;
	int r;

	r = vv_token_read(img, t);
	if (r < 0)
		return r;
	r = vv_bek_fetch(v, t->key, t->kek, &b, &err);
	if (r < 0)
		return r;
	r = vv_crypt_check_key(img, b->key);
	vv_bek_free(b);
	return r;
}

/* 0 when the token's key opens exactly the token's keyslot. */
static inline int prov_token_opens_own(struct vv_vault *v, const char *img, struct vv_token *t)
{
	int r = prov_token_opens(v, img, t);

	return r < 0 ? r : (r == t->keyslot ? 0 : -1000 - r);
}

#endif
