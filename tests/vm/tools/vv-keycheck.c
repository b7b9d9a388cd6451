// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Guest/host test tool: does a key reference open a LUKS device? The key is
 * fetched through vault/ (keystore, local KEK, vault) exactly as vaultvol
 * does and checked with vv_crypt_check_key (no activation).
 *
 *   vv-keycheck [--keystore DIR] DEVICE KEY-REF [KEK-REF]
 *       exit 0 and "keyslot N" when it opens, 1 when the key is wrong,
 *       2 on any other error
 *   vv-keycheck [--keystore DIR] --token DEVICE
 *       the key and KEK named by the device's vaultvol token must open
 *       exactly the token's keyslot; prints "KEY KEYSLOT"
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/volume/crypt.h"
#include "agent/volume/luks2_token.h"
#include "vault/vault.h"

static int check(struct vv_vault *v, const char *dev, const char *ref, const char *kek,
		 int want_slot)
{
	struct vv_bek *b = NULL;
	struct vv_error err = { 0 };
	int r;

	r = vv_bek_fetch(v, ref, kek, &b, &err);
	if (r < 0) {
		fprintf(stderr, "fetch %s: %s\n", ref, err.message[0] ? err.message : strerror(-r));
		return 2;
	}
	r = vv_crypt_check_key(dev, b->key);
	vv_bek_free(b);
	if (r == -EPERM) {
		fprintf(stderr, "%s does not open %s\n", ref, dev);
		return 1;
	}
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", dev, vv_crypt_strerror(r));
		return 2;
	}
	if (want_slot >= 0 && r != want_slot) {
		fprintf(stderr, "%s opens keyslot %d, the token names %d\n", ref, r, want_slot);
		return 1;
	}
	printf("keyslot %d\n", r);
	return 0;
}

int main(int argc, char **argv)
{
	struct vv_vault_config cfg = { 0 };
	struct vv_vault *v = NULL;
	struct vv_token t;
	int i = 1, rc;

	if (argc > 3 && !strcmp(argv[1], "--keystore")) {
		cfg.keystore_dir = argv[2];
		i = 3;
	}
	if (vv_vault_new(&cfg, &v) < 0)
		return 2;
	if (argc - i == 2 && !strcmp(argv[i], "--token")) {
		rc = vv_token_read(argv[i + 1], &t);
		if (rc < 0) {
			fprintf(stderr, "%s: no usable vaultvol token (%s)\n", argv[i + 1],
				strerror(-rc));
			rc = 2;
		} else {
			printf("%s %d\n", t.key, t.keyslot);
			rc = check(v, argv[i + 1], t.key, t.kek, t.keyslot);
			vv_token_clear(&t);
		}
	} else if (argc - i == 2 || argc - i == 3) {
		rc = check(v, argv[i], argv[i + 1], argc - i == 3 ? argv[i + 2] : NULL, -1);
	} else {
		fprintf(stderr, "usage: vv-keycheck [--keystore DIR] DEVICE KEY-REF [KEK-REF]\n"
			"       vv-keycheck [--keystore DIR] --token DEVICE\n");
		rc = 2;
	}
	vv_vault_free(v);
	return rc;
}
