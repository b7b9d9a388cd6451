// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The LUKS2 "vaultvol" token JSON (agent/volume/luks2_token.c): a disk's header is not
 * authenticated, so this text is whatever the disk's writer chose. What
 * parses must serialise and parse again to the same text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fz_util.h"

#include "agent/volume/luks2_token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

FZ_INIT_QUIET()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *json = fz_strndup(data, size), *out = NULL, *out2 = NULL;
	struct vv_token t = { 0 }, t2 = { 0 };

	if (vv_token_from_json(json, &t) == 0 && vv_token_to_json(&t, &out) == 0) {
		if (vv_token_from_json(out, &t2) != 0 || vv_token_to_json(&t2, &out2) != 0 ||
		    strcmp(out, out2))
			abort();
	}
	vv_token_clear(&t);
	vv_token_clear(&t2);
	free(out);
	free(out2);
	free(json);
	return 0;
}
