// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The open-state file, <state_dir>/volumes.json (agent/open/open_state.c): read
 * back by every open (vv_open_state_read, which pins ADE kernel names) and
 * by status (vv_open_state_merge). Written to this harness's scratch
 * directory and read through both public entries.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/open/open.h"
#include "tests/fuzz/fz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

FZ_INIT_SCRATCH(dir, "open_state", NULL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vv_vol vols[2];
	struct vv_open_plan plan = { .v = vols, .n = 2 };
	struct vv_prev *prev = NULL;
	size_t n = 0;

	if (fz_write(dir, VV_OPEN_STATE_FILE, data, size) < 0)
		abort();
	struct vv_error err = { 0 };

	vv_open_state_read(dir, &prev, &n, &err);
	vv_prev_free(prev, n);
	/* Two volumes a state file commonly names. */
	memset(vols, 0, sizeof(vols));
	vols[0].conf.name = "data1";
	vols[1].conf.name = "ade-0";
	vv_open_state_merge(dir, &plan);
	for (size_t i = 0; i < 2; i++) {
		free(vols[i].key_source);
		free(vols[i].key_version);
		free(vols[i].kek_version);
		free(vols[i].mounted_on);
	}
	return 0;
}
