// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The 401 WWW-Authenticate challenge, through vv_secret_get with an AAD
 * application (so the authority's tenant is parsed too).
 *
 * Input: the header's value (line breaks become spaces: a header has
 * none). The token and the secret are canned.
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
	static const char head[] = "401\nWWW-Authenticate: ";
	struct vv_secret_bundle *b = NULL;
	struct vv_error err;
	struct vv_vault *v;
	size_t hl = strlen(head);
	char *resp = malloc(hl + size + 2);

	if (!resp)
		abort();
	memcpy(resp, head, hl);
	for (size_t i = 0; i < size; i++)
		resp[hl + i] = data[i] == '\n' || data[i] == '\r' ? ' ' : (char)data[i];
	memcpy(resp + hl + size, "\n", 2);
	fz_http_reset();
	fz_http_push(FZ_PROBE, resp, hl + size + 1);
	fz_http_default(FZ_TOKEN, fz_token_ok);
	fz_http_default(FZ_KV, fz_bundle_ok);
	v = fz_vault_new(true);
	vv_secret_get(v, FZ_SECRET, &b, &err);
	vv_secret_bundle_free(b);
	vv_vault_free(v);
	free(resp);
	return 0;
}
