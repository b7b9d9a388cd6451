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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/command.h"
#include "agent/error_view.h"
#include "agent/config/config.h"
#include "agent/freeze/freeze_exec.h"
#include "agent/freeze/freeze_marker.h"
#include "agent/freeze/freeze_plan.h"
#include "agent/freeze/freeze_session.h"
#include "agent/snapshot/snapshot_config.h"

static int load_excludes(const struct vv_options *opt, struct vv_config **cfg, int *timeout_s,
			 bool have_timeout)
{
	struct vv_error err = { 0 };

	if (vv_config_load(opt->config_path, cfg, &err)) {
		vv_error_print(opt->json, 0, NULL, &err);
		return -EINVAL;
	}
	if (!have_timeout)
		*timeout_s = vv_snapshot_config_timeout(*cfg);
	return 0;
}

struct freeze_args {
	const char **excl;	/* --exclude, then the config's; strings not owned */
	size_t nexcl;
	int timeout_s;
	bool have_timeout;
};

/* The command line: 0, or -EINVAL (usage) / -ENOMEM. */
static int parse_args(int argc, char **argv, struct freeze_args *a)
{
	static const struct option longopts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "exclude", required_argument, NULL, 'x' },
		{ 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "t:", longopts, NULL)) != -1) {
		switch (c) {
		case 't': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (!*optarg || *end || v < 1 || v > 3600) {
				fprintf(stderr, "vaultvol freeze: --timeout takes 1..3600 seconds\n");
				return -EINVAL;
			}
			a->timeout_s = (int)v;
			a->have_timeout = true;
			break;
		}
		case 'x': {
			const char *x = optarg;

			if (vv_exclude_append(&a->excl, &a->nexcl, &x, 1))
				return -ENOMEM;
			break;
		}
		default:
			return -EINVAL;
		}
	}
	return 0;
}

/* Refuse a second freeze, then plan what the first would freeze. */
static int plan_freeze(const struct vv_options *opt, const struct freeze_args *a,
		       const char *marker, struct vv_freeze_plan *plan)
{
	struct vv_recover_result rr;
	struct vv_plan_opts po = { 0 };
	dev_t resource[8];

	vv_marker_recover(opt->state_dir, false, &rr);
	if (rr.skipped_live) {
		fprintf(stderr, "vaultvol freeze: already frozen (%s); run `vaultvol thaw` first\n",
			marker);
		return -EBUSY;
	}
	po.exclude = a->excl;
	po.n_exclude = a->nexcl;
	po.resource_devs = resource;
	po.n_resource_devs = vv_freeze_resource_devs(NULL, resource, 8);
	if (vv_freeze_plan_build(&po, plan)) {
		fprintf(stderr, "vaultvol freeze: cannot read the mount table\n");
		return -EIO;
	}
	return 0;
}

static void print_result(const struct vv_options *opt, const struct vv_freeze_session *s,
			 int timeout_s, size_t frozen)
{
	const struct vv_freezer *fz = &s->fz;

	if (opt->json) {
		printf("{\"frozen\":%zu,\"total\":%zu,\"timeout_s\":%d,\"watchdog_pid\":%d,"
		       "\"freeze_ms\":%lld,\"filesystems\":[", frozen, fz->n, timeout_s,
		       (int)s->wd.pid, fz->all_frozen_ms - fz->first_freeze_ms);
		for (size_t i = 0; i < fz->n; i++)
			printf("%s{\"mount\":\"%s\",\"state\":\"%s\",\"method\":\"%s\"}", i ? "," : "",
			       fz->t[i].fs->target, vv_freeze_state_name(fz->t[i].state),
			       fz->t[i].ops->name);
		printf("]}\n");
	} else {
		for (size_t i = 0; i < fz->n; i++)
			printf("%-24s %s%s%s\n", fz->t[i].fs->target,
			       vv_freeze_state_name(fz->t[i].state),
			       fz->t[i].err && fz->t[i].state != VV_FZ_FROZEN ? ": " : "",
			       fz->t[i].err && fz->t[i].state != VV_FZ_FROZEN ?
			       strerror(-fz->t[i].err) : "");
		printf("frozen %zu of %zu; thawed at the latest in %d s (watchdog pid %d)\n", frozen,
		       fz->n, timeout_s, (int)s->wd.pid);
	}
	fflush(stdout);
}

/*
 * Arm a detached watchdog and the marker, freeze, and hand the freeze to
 * the watchdog. An exit status.
 */
static int freeze_detached(const struct vv_options *opt, const struct vv_freeze_plan *plan,
			   int timeout_s, const char *marker)
{
	struct vv_freeze_session s = { 0 };
	size_t frozen = 0;
	int status = VV_EXIT_FAILURE;

	if (vv_freeze_session_open(&s, plan, NULL))
		goto out;
	if (!s.fz.n) {
		fprintf(stderr, "vaultvol freeze: no filesystem to freeze\n");
		status = VV_EXIT_OK;
		goto out;
	}
	if (vv_freeze_session_arm(&s, timeout_s, marker, true)) {
		fprintf(stderr, "vaultvol freeze: cannot start the watchdog; not freezing\n");
		goto out;
	}
	if (vv_freeze_session_mark(&s) < 0) {
		fprintf(stderr, "vaultvol freeze: cannot write %s; not freezing\n", marker);
		vv_freeze_session_disarm(&s);
		goto out;
	}
	vv_freeze_session_freeze(&s);
	for (size_t i = 0; i < s.fz.n; i++)
		if (s.fz.t[i].state == VV_FZ_FROZEN || s.fz.t[i].state == VV_FZ_BUSY)
			frozen++;
	print_result(opt, &s, timeout_s, frozen);
	if (frozen == 0) {
		/* Nothing held: let the watchdog go now. */
		vv_freeze_session_disarm(&s);
		status = VV_EXIT_FAILURE;
	} else {
		status = frozen == s.fz.n ? VV_EXIT_OK : VV_EXIT_PARTIAL;
	}
out:
	vv_freeze_session_close(&s);
	return status;
}

static int run_freeze(const struct vv_options *opt, int argc, char **argv)
{
	struct freeze_args a = { 0 };
	struct vv_config *cfg = NULL;
	struct vv_freeze_plan plan = { 0 };
	char marker[PATH_MAX];
	int status = VV_EXIT_USAGE;

	if (parse_args(argc, argv, &a))
		goto out;
	if (load_excludes(opt, &cfg, &a.timeout_s, a.have_timeout))
		goto out;
	if (vv_exclude_append(&a.excl, &a.nexcl, (const char *const *)cfg->snapshot.exclude,
			      cfg->snapshot.nexclude))
		goto out;
	status = VV_EXIT_FAILURE;
	if (vv_marker_path(opt->state_dir, marker, sizeof(marker)))
		goto out;
	if (plan_freeze(opt, &a, marker, &plan))
		goto out;
	status = freeze_detached(opt, &plan, a.timeout_s, marker);
out:
	vv_freeze_plan_free(&plan);
	free(a.excl);
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
	struct vv_recover_result rr;
	bool all;
	int r, thawed, errors;

	if (vv_command_all_flag(argc, argv, &all))
		return VV_EXIT_USAGE;
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
