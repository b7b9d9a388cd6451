// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * IMDS and AAD token answers and error bodies, through vv_secret_get (the
 * token is fetched on the vault's challenge).
 *
 * Input: a first line "imds" or "aad" (which identity the client uses),
 * then, after "----" lines, the token endpoint's answers. The challenge
 * and the secret are canned.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fake_http.h"
#include "tests/fuzz/fz_util.h"
#include "tests/fuzz/vault_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

FZ_INIT_QUIET()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vv_secret_bundle *b = NULL;
	struct vv_error err;
	struct fz_parts p;
	struct vv_vault *v;

	fz_split(data, size, &p);
	fz_vault_script(&p, FZ_TOKEN, FZ_KV, fz_bundle_ok);
	v = fz_vault_new(!strcmp(p.part[0], "aad"));
	vv_secret_get(v, FZ_SECRET, &b, &err);
	vv_secret_bundle_free(b);
	vv_vault_free(v);
	fz_parts_free(&p);
	return 0;
}
