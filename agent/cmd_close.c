// SPDX-License-Identifier: GPL-2.0-or-later
/* `vaultvol close [--all | VOLUME...]`: unmount and close volumes. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "agent/command.h"
#include "agent/volume/crypt.h"
#include "agent/error_view.h"
#include "agent/open/open.h"

static int run_close(const struct vv_options *opt, int argc, char **argv)
{
	struct vv_open_setup s;
	bool all;
	struct vv_error err = { 0 };
	char bad[128];
	int failed, r;

	if (vv_command_all_flag(argc, argv, &all))
		return VV_EXIT_USAGE;
	if (all == (optind < argc)) {
		fprintf(stderr, "vaultvol close: give --all or volume names (see --help)\n");
		return VV_EXIT_USAGE;
	}
	/* It only reads headers: an unusable /run must not hide them. */
	vv_crypt_locks_check();
	r = vv_open_setup(opt, false, &s, &err);
	if (r < 0) {
		vv_error_print(opt->json, 0, "close", &err);
		vv_open_teardown(&s);
		return r == -EINVAL ? VV_EXIT_USAGE : VV_EXIT_FAILURE;
	}
	/*
	 * A volume whose disk failed or was detached is no longer found by
	 * discovery (its token was on that disk), but its mappings and mounts
	 * are still there and must be taken away: volumes.json knows its name.
	 */
	if (!all && vv_open_plan_add_recorded_names(&s.plan, s.prev, s.nprev, argv + optind,
						    (size_t)(argc - optind)) < 0) {
		vv_open_teardown(&s);
		return VV_EXIT_FAILURE;
	}
	if (!all && vv_open_select(&s.plan, argv + optind, (size_t)(argc - optind),
				   bad, sizeof(bad)) < 0) {
		fprintf(stderr, "vaultvol close: no volume named '%s' (`vaultvol status` lists them)\n",
			bad);
		vv_open_teardown(&s);
		return VV_EXIT_USAGE;
	}
	/* Failures found while planning (a missing disk) do not stop a close. */
	for (size_t i = 0; i < s.plan.n; i++)
		s.plan.v[i].fail = VV_FAIL_NONE;
	failed = vv_close_run(&s.plan);
	for (size_t i = 0; i < s.plan.n; i++) {
		struct vv_vol *v = &s.plan.v[i];

		/* Undescribed disks were never opened by vaultvol: nothing to say. */
		if (!v->selected || v->undescribed)
			continue;
		if (v->fail)
			fprintf(stderr, "%s: FAILED (%s): %s\n%s:   remedy: %s\n", v->conf.name,
				vv_fail_str(v->fail), v->error.message, v->conf.name,
				v->error.remedy);
		else
			printf("%s: %s\n", v->conf.name, v->changed ? "closed" : "already closed");
	}
	if (vv_open_state_write(opt->state_dir, &s.plan, &err) < 0)
		fprintf(stderr, "vaultvol close: warning: %s\n", err.message);
	vv_open_teardown(&s);
	return failed ? VV_EXIT_FAILURE : VV_EXIT_OK;
}

VV_COMMAND(close,
	.name = "close",
	.summary = "unmount and close encrypted volumes",
	.usage =
	"Usage: vaultvol [OPTIONS] close (--all | VOLUME...)\n"
	"\n"
	"Unmounts each volume (every mount of its device), removes its dm-quiesce layer\n"
	"and closes its crypt mapping. Volumes that are not open are reported as\n"
	"already closed. Nothing is written to the disks. A volume whose disk failed or\n"
	"was detached (so its token can no longer be read) is still closed by name when\n"
	"volumes.json recorded it.\n"
	"\n"
	"Exit status: 0 closed, 1 some volume could not be closed (busy), 2 usage or\n"
	"configuration error.\n",
	.order = 11,
	.run = run_close);
