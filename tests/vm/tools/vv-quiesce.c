// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Guest test tool: drives agent/volume/quiesce.c (libdevmapper, no dmsetup) so the
 * quiesce_agent scenario exercises the wrapper the agent uses.
 * Usage: vv-quiesce available | create NAME DEV [SECTORS] | freeze NAME MS |
 *        thaw NAME | status NAME | remove NAME
 * Exit status: 0, or the errno of the failure (e.g. 16 for EBUSY), so a
 * scenario can check which error came back. status prints
 * "<state> <epoch> <last_freeze_us> <expiries> <held> <suspended>".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/volume/quiesce.h"

int main(int argc, char **argv)
{
	struct vv_quiesce_status st = { 0 };
	const char *cmd = argc > 1 ? argv[1] : "";
	int r = -EINVAL;

	if (!strcmp(cmd, "available") && argc == 2) {
		r = vv_quiesce_available();
		if (r >= 0) {
			printf("%d\n", r);
			return r ? 0 : 1;
		}
	} else if (!strcmp(cmd, "create") && (argc == 4 || argc == 5)) {
		r = vv_quiesce_create(argv[2], argv[3],
				      argc == 5 ? strtoull(argv[4], NULL, 10) : 0);
	} else if (!strcmp(cmd, "freeze") && argc == 4) {
		r = vv_quiesce_freeze(argv[2], (unsigned)strtoul(argv[3], NULL, 10));
	} else if (!strcmp(cmd, "thaw") && argc == 3) {
		r = vv_quiesce_thaw(argv[2]);
	} else if (!strcmp(cmd, "status") && argc == 3) {
		r = vv_quiesce_status(argv[2], &st);
		if (r == 0)
			printf("%s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %d\n",
			       vv_quiesce_state_name(st.state), st.epoch, st.last_freeze_us,
			       st.expiries, st.held_writes, st.suspended);
	} else if (!strcmp(cmd, "remove") && argc == 3) {
		r = vv_quiesce_remove(argv[2]);
	} else {
		fprintf(stderr, "usage: vv-quiesce available | create NAME DEV [SECTORS] | "
			"freeze NAME MS | thaw NAME | status NAME | remove NAME\n");
		return 2;
	}
	if (r < 0)
		fprintf(stderr, "vv-quiesce %s: %s\n", cmd, strerror(-r));
	return r < 0 ? -r : 0;
}
