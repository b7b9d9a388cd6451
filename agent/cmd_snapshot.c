// SPDX-License-Identifier: GPL-2.0-or-later
/* `vaultvol snapshot`: scripts, freeze, snapshot command or service, report. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/command.h"
#include "agent/error_view.h"
#include "agent/config/config.h"
#include "agent/snapshot/snapshot.h"
#include "agent/snapshot/snapshot_config.h"
#include "base/log.h"

static int parse_seconds(const char *s, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (!*s || *end || v < 1 || v > 3600)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

static int run_snapshot(const struct vv_options *opt, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "consistency", required_argument, NULL, 'C' },
		{ "service", required_argument, NULL, 's' },
		{ "exclude", required_argument, NULL, 'x' },
		{ "scripts-config", required_argument, NULL, 'P' },
		{ "hooks-dir", required_argument, NULL, 'H' },
		{ "hook-timeout", required_argument, NULL, 'T' },
		{ 0 }
	};
	struct vv_snapshot_opts so = { .requested = VV_CONS_APP };
	struct vv_snapshot_report rep;
	struct vv_config *cfg = NULL;
	const char **excl = NULL;
	size_t nexcl = 0;
	struct vv_error err = { 0 };
	int c, r, status = VV_EXIT_USAGE;

	while ((c = getopt_long(argc, argv, "+t:", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (parse_seconds(optarg, &so.timeout_s)) {
				fprintf(stderr, "vaultvol snapshot: --timeout takes 1..3600 seconds\n");
				goto out;
			}
			break;
		case 'C':
			if (vv_consistency_parse(optarg, &so.requested)) {
				fprintf(stderr, "vaultvol snapshot: --consistency is app or fs\n");
				goto out;
			}
			break;
		case 's': so.service_url = optarg; break;
		case 'x': {
			const char *x = optarg;

			if (vv_exclude_append(&excl, &nexcl, &x, 1))
				goto out;
			break;
		}
		case 'P': so.plugin_config = optarg; break;
		case 'H': so.hooks_dir = optarg; break;
		case 'T':
			if (parse_seconds(optarg, &so.hook_timeout_s)) {
				fprintf(stderr, "vaultvol snapshot: --hook-timeout takes 1..3600 seconds\n");
				goto out;
			}
			break;
		default:
			goto out;
		}
	}
	if (optind < argc && !strcmp(argv[optind], "--"))
		optind++;
	if (optind < argc)
		so.cmd = argv + optind;
	if (!so.cmd == !so.service_url) {
		fprintf(stderr, "vaultvol snapshot: give either -- CMD... or --service URL\n");
		goto out;
	}

	r = vv_config_load(opt->config_path, &cfg, &err);
	if (r) {
		vv_error_print(opt->json, 0, "snapshot", &err);
		goto out;
	}
	if (vv_exclude_append(&excl, &nexcl, (const char *const *)cfg->snapshot.exclude,
			      cfg->snapshot.nexclude))
		goto out;
	vv_snapshot_opts_from_config(&so, opt, cfg);
	so.exclude = excl;
	so.n_exclude = nexcl;
	/* --json: stdout carries only the report. */
	so.cmd_stdout_to_stderr = opt->json;

	vv_snapshot_run(&so, &rep);
	if (opt->json) {
		char *json = NULL;

		if (vv_snapshot_report_json(&rep, &json) == 0)
			printf("%s\n", json);
		free(json);
	} else {
		vv_snapshot_report_text(&rep, stdout);
	}
	fflush(stdout);
	/* Under systemd (a timer running snapshots): one entry to search for. */
	if (vv_log_journal())
		vv_log_with(VV_LOG_INFO, &(struct vv_log_fields){
				.message_id = VV_MSGID_SNAPSHOT },
			    "snapshot: %s consistency (asked %s), snapshot %s",
			    vv_consistency_name(rep.achieved), vv_consistency_name(rep.requested),
			    rep.snapshot_ok ? "taken" : "not taken");
	status = vv_snapshot_exit_status(&rep);
	vv_snapshot_report_free(&rep);
out:
	free(excl);
	vv_config_free(cfg);
	return status;
}

VV_COMMAND(snapshot,
	.name = "snapshot",
	.summary = "application-consistent snapshot: scripts, freeze, CMD, thaw",
	.usage =
	"Usage: vaultvol [--json] snapshot [OPTIONS] -- CMD [ARGS...]\n"
	"       vaultvol [--json] snapshot [OPTIONS] --service URL\n"
	"\n"
	"Runs the pre-snapshot scripts, freezes every ext3/ext4/xfs/btrfs\n"
	"filesystem (the deadline is armed before the first freeze), runs CMD\n"
	"(or asks the backup service at URL to take the snapshot), thaws, runs\n"
	"the post-snapshot scripts and reports the consistency achieved.\n"
	"\n"
	"  -t, --timeout S         freeze deadline in seconds (default: config, 60)\n"
	"      --consistency L     app (default: run scripts) or fs (freeze only)\n"
	"      --service URL       backup service (docs/snapshot-protocol.md)\n"
	"      --exclude MOUNT     never freeze MOUNT (a pattern; repeatable)\n"
	"      --scripts-config F  VMSnapshotScriptPluginConfig.json (\"\" for none;\n"
	"                          default: config, /etc/azure/...)\n"
	"      --hooks-dir DIR     hook directory, each run with freeze/thaw\n"
	"      --hook-timeout S    timeout of each hook (default 60)\n"
	"\n"
	"CMD runs with VAULTVOL_FROZEN (frozen mount points, one a line),\n"
	"VAULTVOL_DEADLINE_MS and VAULTVOL_CONSISTENCY in its environment. It is\n"
	"not killed at the deadline, but a snapshot finishing after it is only\n"
	"crash-consistent.\n"
	"\n"
	"Exit status: 0 the requested consistency was reached, 3 a weaker one\n"
	"(see the reason), 1 no snapshot, 2 usage or configuration error.\n",
	.order = 40,
	.run = run_snapshot);
