// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Key Vault answers and error bodies, through the public client calls.
 *
 * Input: a first line "OP REF [ARG...]" naming the call (secret, put, key,
 * wrap, unwrap, bek) and the reference (itself untrusted: it comes from a
 * disk's token), then, after "----" lines, the answers to the requests
 * made with a bearer token. The challenge and the token are canned.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fake_http.h"
#include "tests/fuzz/fz_util.h"
#include "tests/fuzz/vault_fixture.h"
#include "base/secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

FZ_INIT_QUIET()

static void run(struct vv_vault *v, char *line)
{
	char *save = NULL, *op = strtok_r(line, " ", &save);
	char *ref = strtok_r(NULL, " ", &save), *a1 = strtok_r(NULL, " ", &save);
	char *a2 = strtok_r(NULL, " ", &save);
	struct vv_secret_bundle *b = NULL;
	struct vv_key_info *k = NULL;
	struct vv_secret *s = NULL;
	struct vv_error err;
	struct vv_bek *bek = NULL;
	char *wrapped = NULL, *kid = NULL;

	if (!op || !ref)
		return;
	if (!strcmp(op, "secret")) {
		vv_secret_get(v, ref, &b, &err);
	} else if (!strcmp(op, "put")) {
		struct vv_tag tag = { .name = "MachineName", .value = "vm1" };
		struct vv_secret *val = vv_secret_from("c2VjcmV0", 8);

		if (!val)
			abort();
		vv_secret_put(v, ref, val, "BEK", &tag, 1, &b, &err);
		vv_secret_free(val);
	} else if (!strcmp(op, "key")) {
		vv_key_get(v, ref, &k, &err);
	} else if (!strcmp(op, "wrap")) {
		struct vv_secret *plain = vv_secret_from("0123456789abcdef0123456789abcdef", 32);

		if (!plain)
			abort();
		vv_key_wrap(v, ref, a1 ? a1 : "RSA-OAEP", plain, &wrapped, &kid, &err);
		vv_secret_free(plain);
	} else if (!strcmp(op, "unwrap")) {
		vv_key_unwrap(v, ref, a1 ? a1 : "RSA-OAEP", a2 ? a2 : "AAAA", &s, &err);
	} else if (!strcmp(op, "bek")) {
		vv_bek_fetch(v, ref, a1, &bek, &err);
	}
	vv_secret_bundle_free(b);
	vv_key_info_free(k);
	vv_secret_free(s);
	vv_bek_free(bek);
	free(wrapped);
	free(kid);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_parts p;
	struct vv_vault *v;

	fz_split(data, size, &p);
	fz_vault_script(&p, FZ_KV, FZ_TOKEN, fz_token_ok);
	v = fz_vault_new(false);
	run(v, p.part[0]);
	vv_vault_free(v);
	fz_parts_free(&p);
	return 0;
}
