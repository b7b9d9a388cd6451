// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `vaultvol freeze --timeout S` and `vaultvol thaw`, for manual use and for
 * orchestrators that take the snapshot themselves. The freeze outlives the
 * command: a detached watchdog thaws at the deadline or when signalled;
 * `vaultvol thaw` ends it early and also thaws what a crashed vaultvol
 * left frozen (the marker in the state directory).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/command.h"
#include "agent/error_view.h"
#include "agent/config/config.h"
#include "agent/freeze/freeze_exec.h"
#include "agent/freeze/freeze_marker.h"
#include "agent/freeze/freeze_plan.h"
#include "agent/freeze/freeze_watchdog.h"

static int wd_thaw(void *ctx, size_t idx)
{
	struct vv_freezer *fz = ctx;
	int count = 0, r;

	if (fz->t[idx].fd < 0 && !fz->t[idx].dm_name)
		return 0;
	r = fz->t[idx].ops->thaw(&fz->t[idx], &count);
	return r ? r : count;
}

static int load_excludes(const struct vv_options *opt, struct vv_config **cfg, int *timeout_s,
			 bool have_timeout)
{
	struct vv_error err = { 0 };

	if (vv_config_load(opt->config_path, cfg, &err)) {
		vv_error_print(opt->json, 0, NULL, &err);
		return -EINVAL;
	}
	if (!have_timeout)
		*timeout_s = (*cfg)->snapshot.timeout_s > 0 ? (*cfg)->snapshot.timeout_s
							    : VV_SNAPSHOT_DEFAULT_TIMEOUT_S;
	return 0;
}

static int run_freeze(const struct vv_options *opt, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "exclude", required_argument, NULL, 'x' },
		{ 0 }
	};
	struct vv_config *cfg = NULL;
	struct vv_freeze_plan plan = { 0 };
	struct vv_freezer fz = { 0 };
	struct vv_watchdog wd;
	struct vv_watchdog_cfg wcfg = { 0 };
	struct vv_marker mk = { 0 };
	struct vv_recover_result rr;
	struct vv_plan_opts po = { 0 };
	dev_t resource[8];
	const char **excl = NULL;
	size_t nexcl = 0, frozen = 0;
	char marker[PATH_MAX];
	int *fds = NULL;
	int c, timeout_s = 0, status = VV_EXIT_USAGE;
	bool have_timeout = false, fz_open = false;

	while ((c = getopt_long(argc, argv, "t:", longopts, NULL)) != -1) {
		switch (c) {
		case 't': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (!*optarg || *end || v < 1 || v > 3600) {
				fprintf(stderr, "vaultvol freeze: --timeout takes 1..3600 seconds\n");
				goto out;
			}
			timeout_s = (int)v;
			have_timeout = true;
			break;
		}
		case 'x': {
			const char **nx = realloc(excl, (nexcl + 1) * sizeof(*nx));

			if (!nx)
				goto out;
			excl = nx;
			excl[nexcl++] = optarg;
			break;
		}
		default:
			goto out;
		}
	}
	if (load_excludes(opt, &cfg, &timeout_s, have_timeout))
		goto out;
	for (size_t i = 0; i < cfg->snapshot.nexclude; i++) {
		const char **nx = realloc(excl, (nexcl + 1) * sizeof(*nx));

		if (!nx)
			goto out;
		excl = nx;
		excl[nexcl++] = cfg->snapshot.exclude[i];
	}
	status = VV_EXIT_FAILURE;
	if (vv_marker_path(opt->state_dir, marker, sizeof(marker)))
		goto out;
	vv_marker_recover(opt->state_dir, false, &rr);
	if (rr.skipped_live) {
		fprintf(stderr, "vaultvol freeze: already frozen (%s); run `vaultvol thaw` first\n",
			marker);
		goto out;
	}
	po.exclude = excl;
	po.n_exclude = nexcl;
	po.resource_devs = resource;
	po.n_resource_devs = vv_freeze_resource_devs(NULL, resource, 8);
	if (vv_freeze_plan_build(&po, &plan)) {
		fprintf(stderr, "vaultvol freeze: cannot read the mount table\n");
		goto out;
	}
	if (vv_freezer_open(&fz, &plan, NULL))
		goto out;
	fz_open = true;
	if (!fz.n) {
		fprintf(stderr, "vaultvol freeze: no filesystem to freeze\n");
		status = VV_EXIT_OK;
		goto out;
	}
	fds = calloc(fz.n, sizeof(*fds));
	mk.m = calloc(fz.n, sizeof(*mk.m));
	if (!fds || !mk.m)
		goto out;
	for (size_t i = 0; i < fz.n; i++) {
		fds[i] = fz.t[i].fd;
		mk.m[i].target = (char *)plan.fs[i].target;
		mk.m[i].devno = plan.fs[i].devno;
		mk.m[i].dm_name = fz.t[i].dm_name;
	}
	mk.n = fz.n;
	fz.deadline_ms = vv_clock_ms() + (long long)timeout_s * 1000;
	wcfg.n = fz.n;
	wcfg.thaw = wd_thaw;
	wcfg.ctx = &fz;
	wcfg.deadline_ms = fz.deadline_ms;
	wcfg.marker_path = marker;
	wcfg.detached = true;
	wcfg.keep_fds = fds;
	wcfg.n_keep = fz.n;
	wcfg.child_init = vv_freeze_after_fork;
	if (vv_watchdog_start(&wcfg, &wd)) {
		fprintf(stderr, "vaultvol freeze: cannot start the watchdog; not freezing\n");
		goto out;
	}
	mk.wd_pid = wd.pid;
	mk.wd_start = vv_proc_starttime(wd.pid);
	mk.deadline_ms = fz.deadline_ms;
	mk.created = (long long)time(NULL);
	vv_boot_id(mk.boot_id);
	if (vv_marker_write(marker, &mk) < 0) {
		fprintf(stderr, "vaultvol freeze: cannot write %s; not freezing\n", marker);
		kill(wd.pid, SIGTERM);
		goto out;
	}
	vv_freezer_freeze(&fz);
	for (size_t i = 0; i < fz.n; i++)
		if (fz.t[i].state == VV_FZ_FROZEN || fz.t[i].state == VV_FZ_BUSY)
			frozen++;
	if (opt->json) {
		printf("{\"frozen\":%zu,\"total\":%zu,\"timeout_s\":%d,\"watchdog_pid\":%d,"
		       "\"freeze_ms\":%lld,\"filesystems\":[", frozen, fz.n, timeout_s, (int)wd.pid,
		       fz.all_frozen_ms - fz.first_freeze_ms);
		for (size_t i = 0; i < fz.n; i++)
			printf("%s{\"mount\":\"%s\",\"state\":\"%s\",\"method\":\"%s\"}", i ? "," : "",
			       fz.t[i].fs->target, vv_freeze_state_name(fz.t[i].state),
			       fz.t[i].ops->name);
		printf("]}\n");
	} else {
		for (size_t i = 0; i < fz.n; i++)
			printf("%-24s %s%s%s\n", fz.t[i].fs->target, vv_freeze_state_name(fz.t[i].state),
			       fz.t[i].err && fz.t[i].state != VV_FZ_FROZEN ? ": " : "",
			       fz.t[i].err && fz.t[i].state != VV_FZ_FROZEN ? strerror(-fz.t[i].err) : "");
		printf("frozen %zu of %zu; thawed at the latest in %d s (watchdog pid %d)\n", frozen,
		       fz.n, timeout_s, (int)wd.pid);
	}
	fflush(stdout);
	if (frozen == 0) {
		/* Nothing held: let the watchdog go now. */
		kill(wd.pid, SIGTERM);
		status = VV_EXIT_FAILURE;
	} else {
		status = frozen == fz.n ? VV_EXIT_OK : VV_EXIT_PARTIAL;
	}
out:
	free(fds);
	free(mk.m);
	if (fz_open)
		vv_freezer_close(&fz);
	vv_freeze_plan_free(&plan);
	free(excl);
	vv_config_free(cfg);
	return status;
}

/* --all: every freezable filesystem mounted now, whoever froze it. */
static int thaw_all_mounted(int *thawed, int *errors)
{
	struct vv_freeze_plan plan;
	struct vv_plan_opts po = { 0 };
	int r = vv_freeze_plan_build(&po, &plan);

	if (r)
		return r;
	/* Parents first: reverse wave order. */
	for (size_t k = plan.n; k-- > 0;) {
		int fd = open(plan.fs[k].target, O_RDONLY | O_DIRECTORY | O_CLOEXEC), count = 0;

		if (fd < 0) {
			(*errors)++;
			continue;
		}
		if (vv_thaw_fd(fd, &count) < 0)
			(*errors)++;
		else if (count > 0) {
			(*thawed)++;
			printf("thawed %s\n", plan.fs[k].target);
		}
		close(fd);
	}
	vv_freeze_plan_free(&plan);
	return 0;
}

static int run_thaw(const struct vv_options *opt, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ 0 }
	};
	struct vv_recover_result rr;
	bool all = false;
	int c, r, thawed, errors;

	while ((c = getopt_long(argc, argv, "a", longopts, NULL)) != -1) {
		if (c != 'a')
			return VV_EXIT_USAGE;
		all = true;
	}
	r = vv_marker_recover(opt->state_dir, true, &rr);
	thawed = rr.thawed;
	errors = rr.errors;
	if (r && r != -ENOENT)
		errors++;
	if (all && thaw_all_mounted(&thawed, &errors))
		errors++;
	if (opt->json)
		printf("{\"marker\":%s,\"thawed\":%d,\"errors\":%d}\n", rr.found ? "true" : "false",
		       thawed, errors);
	else if (!rr.found && !all)
		printf("nothing frozen by vaultvol (use --all to thaw every filesystem)\n");
	else
		printf("thawed %d filesystem(s)%s\n", thawed, errors ? ", with errors" : "");
	return errors ? VV_EXIT_FAILURE : VV_EXIT_OK;
}

VV_COMMAND(freeze,
	.name = "freeze",
	.summary = "freeze filesystems until `vaultvol thaw` or the deadline",
	.usage =
	"Usage: vaultvol [--json] freeze [--timeout S] [--exclude MOUNT]...\n"
	"\n"
	"Freezes every ext3/ext4/xfs/btrfs filesystem (loop-backed ones before\n"
	"the filesystem holding their file, / last) and returns. A watchdog\n"
	"process thaws them at the deadline (default: config, 60 s) or when\n"
	"signalled; `vaultvol thaw` ends the freeze early.\n"
	"\n"
	"Exit status: 0 all frozen, 3 some could not be frozen, 1 none.\n",
	.order = 41,
	.run = run_freeze);

VV_COMMAND(thaw,
	.name = "thaw",
	.summary = "thaw what vaultvol froze (also after a crash)",
	.usage =
	"Usage: vaultvol [--json] thaw [--all]\n"
	"\n"
	"Thaws the filesystems listed in the frozen-state marker (left by\n"
	"`vaultvol freeze` or by a vaultvol that died while frozen) and stops\n"
	"its watchdog. --all also thaws every mounted ext3/ext4/xfs/btrfs\n"
	"filesystem, whoever froze it.\n",
	.order = 42,
	.run = run_thaw);
