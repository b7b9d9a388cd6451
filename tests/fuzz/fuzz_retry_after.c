// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Retry-After (delta-seconds or HTTP-date), as Key Vault, IMDS and the
 * backup service send it: vv_retry_after_ms, and vv_retry_next which scales
 * and jitters what it says.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fz_util.h"
#include <time.h>

#include "base/retry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

FZ_INIT_QUIET()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *hdr = fz_strndup(data, size);
	struct vv_retry r;
	long ms;

	/* A fixed "now" keeps runs reproducible; the real one is tried too. */
	ms = vv_retry_after_ms(hdr, (time_t)1700000000);
	if (ms < -1 || ms > 24L * 3600 * 1000)
		abort();
	vv_retry_init(&r, VV_RETRY_IMDS, 5, 60000);
	r.scale = 1.0;
	vv_retry_next(&r, hdr);
	free(hdr);
	return 0;
}
