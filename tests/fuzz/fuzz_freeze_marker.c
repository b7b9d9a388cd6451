// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The frozen-marker file, <state_dir>/frozen.json (agent/freeze/freeze_marker.c):
 * what a crashed freeze left behind, read at the next start to thaw. Read
 * through vv_marker_read from this harness's scratch directory; whether
 * its owner is alive is asked too (only /proc is read: nothing is thawed).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/freeze/freeze_marker.h"
#include "tests/fuzz/fz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[4096];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir;

	(void)argc;
	(void)argv;
	fz_quiet();
	dir = fz_dir("freeze_marker");
	if (vv_marker_path(dir, path, sizeof(path)) < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vv_marker mk;
	const char *rel = strrchr(path, '/') + 1;
	char dir[4096];

	snprintf(dir, sizeof(dir), "%.*s", (int)(rel - path - 1), path);
	if (fz_write(dir, rel, data, size) < 0)
		abort();
	if (vv_marker_read(path, &mk) == 0) {
		vv_marker_live(&mk);
		vv_marker_clear(&mk);
	}
	return 0;
}
