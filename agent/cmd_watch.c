// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `vaultvol watch [--once]`: revocation enforcement (docs/revocation.md).
 * A long-running service rather than a timer: the grace period is counted
 * across checks, a suspended volume must be resumed soon after access
 * returns, and one process reports its state to systemd (READY=1,
 * STATUS=). --once runs one pass, for tests and for those who prefer a
 * timer.
 *
 * Each pass reads the configuration, the disks and volumes.json afresh
 * (a new key version configured is seen at the next pass), checks every
 * open volume whose key comes from Key Vault, and acts (agent/revoke/).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "agent/command.h"
#include "agent/config/config.h"
#include "agent/error_view.h"
#include "agent/open/open.h"
#include "agent/revoke/revoke.h"
#include "base/log.h"

/* The revocation settings as they are now; false with err when the config is bad. */
static int read_policy(const struct vv_options *opt, struct vv_config_revocation *rv,
		       struct vv_error *err)
{
	struct vv_config *cfg = NULL;
	int r = vv_config_load(opt->config_path, &cfg, err);

	if (r < 0)
		return r;
	*rv = cfg->revocation;
	vv_config_free(cfg);
	return 0;
}

/* One pass. 0, or -errno with err (setup, state file), or the failed actions (> 0). */
static int one_pass(const struct vv_options *opt, int grace_s, bool first,
		    struct vv_rv_stats *st, struct vv_error *err)
{
	struct vv_open_setup s;
	struct vv_rv_table table = { 0 };
	struct vv_rv_ops ops;
	struct vv_rv_targets tg = { 0 };
	char boot[VV_RV_BOOT_ID_LEN + 1], *before = NULL, *after = NULL;
	int64_t now = vv_rv_now();
	int r;

	memset(st, 0, sizeof(*st));
	r = vv_open_setup(opt, true, &s, err);
	if (r < 0)
		goto out;
	vv_open_refresh(&s.plan);
	vv_open_state_merge(opt->state_dir, &s.plan);
	r = vv_rv_boot_id(boot, sizeof(boot));
	if (r < 0) {
		vv_fail(err, r, VV_CAUSE_SYSTEM, "reading the boot id: %s", strerror(-r));
		goto out;
	}
	r = vv_rv_state_load(opt->state_dir, boot, now, &table, err);
	if (r < 0)
		goto out;
	r = vv_rv_targets_pick(&s.plan, first, &tg);
	if (r < 0)
		goto out;
	before = vv_rv_state_format(&table);
	vv_rv_ops_system(s.vault, &ops);
	r = vv_rv_pass(&ops, tg.t, tg.n, &table, now, grace_s, st);
	after = vv_rv_state_format(&table);
	/*
	 * Written when it changed, and while anything is recorded (a pending
	 * clock restarted for a new boot must be kept); not when all is well.
	 */
	if (!before || !after || strcmp(before, after) || table.n) {
		int w = vv_rv_state_save(opt->state_dir, &table, err);

		if (w < 0)
			r = w;
	}
out:
	free(before);
	free(after);
	vv_rv_targets_free(&tg);
	vv_rv_table_free(&table);
	vv_open_teardown(&s);
	return r;
}

static void report(const struct vv_rv_stats *st, int r, const struct vv_error *err,
		   bool once)
{
	char line[512], exempt[48] = "", by_hand[48] = "";

	if (st->exempt)
		snprintf(exempt, sizeof(exempt), "; %u not covered (revocation = no)", st->exempt);
	if (st->resumed_by_hand)
		snprintf(by_hand, sizeof(by_hand), "; %u resumed by hand", st->resumed_by_hand);
	if (r < 0)
		snprintf(line, sizeof(line), "check failed: %.480s", err->message);
	else
		snprintf(line, sizeof(line), "%u checked: %u ok, %u revoked, %u outage; %u pending, "
			 "%u inaccessible%s%s%s", st->checked, st->ok, st->revoked, st->outages,
			 st->pending, st->inaccessible, exempt, by_hand,
			 r > 0 ? "; some actions failed" : "");
	sd_notifyf(0, "STATUS=%s", line);
	if (r < 0)
		vv_err("watch: %s", line);
	else if (once)
		printf("%s\n", line);
	else
		vv_debug("watch: %s", line);
}

/* Sleep secs, or less when SIGTERM/SIGINT arrives (blocked, so no handler and no flag). */
static bool wait_or_stop(const sigset_t *stop, int secs)
{
	struct timespec ts = { .tv_sec = secs };
	int sig = sigtimedwait(stop, NULL, &ts);

	return sig == SIGTERM || sig == SIGINT;
}

static int run_watch(const struct vv_options *opt, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "once", no_argument, NULL, 'o' },
		{ 0 }
	};
	struct vv_config_revocation rv;
	struct vv_error err = { 0 };
	struct vv_rv_stats st;
	sigset_t stop, old;
	bool once = false, first = true;
	int c, r;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c != 'o')
			return VV_EXIT_USAGE;
		once = true;
	}
	if (optind < argc) {
		fprintf(stderr, "vaultvol watch: no arguments expected\n");
		return VV_EXIT_USAGE;
	}
	r = read_policy(opt, &rv, &err);
	if (r < 0) {
		vv_error_print(opt->json, 0, "watch", &err);
		return r == -ENOMEM ? VV_EXIT_FAILURE : VV_EXIT_USAGE;
	}
	if (!rv.enforce) {
		printf("revocation is not enforced ([revocation] enforce = no): nothing to %s\n",
		       once ? "check" : "watch");
		/* A started service ends successfully rather than failing to start. */
		sd_notify(0, "READY=1\nSTATUS=revocation is not enforced ([revocation] enforce = no)");
		return VV_EXIT_OK;
	}
	if (once) {
		r = one_pass(opt, rv.grace_s, true, &st, &err);
		report(&st, r, &err, true);
		return r == 0 ? VV_EXIT_OK : VV_EXIT_FAILURE;
	}
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigprocmask(SIG_BLOCK, &stop, &old);
	vv_info("watch: enforcing revocation: check every %ds, grace %ds", rv.check_s, rv.grace_s);
	/* Ready once watching: a first pass slowed by an outage must not fail the start. */
	sd_notify(0, "READY=1");
	for (;;) {
		vv_error_clear(&err);
		r = one_pass(opt, rv.grace_s, first, &st, &err);
		report(&st, r, &err, false);
		first = false;
		if (wait_or_stop(&stop, rv.check_s))
			break;
		/* The settings may change while we run; a broken file keeps the last good ones. */
		{
			struct vv_config_revocation now_rv;

			vv_error_clear(&err);
			if (read_policy(opt, &now_rv, &err) < 0)
				vv_err("watch: configuration: %s (keeping the last settings)",
				       err.message);
			else if (!now_rv.enforce) {
				vv_info("watch: [revocation] enforce = no now: stopping");
				break;
			} else
				rv = now_rv;
		}
	}
	sd_notify(0, "STOPPING=1");
	sigprocmask(SIG_SETMASK, &old, NULL);
	vv_info("watch: stopped");
	return VV_EXIT_OK;
}

VV_COMMAND(watch,
	.name = "watch",
	.summary = "enforce key revocation: suspend volumes whose key is revoked",
	.usage =
	"Usage: vaultvol [OPTIONS] watch [--once]\n"
	"\n"
	"With [revocation] enforce = yes in vaultvol.conf, checks every `check` interval\n"
	"(default 5m) that each open volume's Key Vault secret, and its KEK when one\n"
	"wraps it, can still be read. A definite refusal (disabled, deleted, expired,\n"
	"access removed: 403, 404) that lasts past `grace` (default 10m) syncs the\n"
	"volume's filesystem and suspends it with its key wiped from the kernel: I/O to\n"
	"it blocks, it does not fail. When access returns (the key enabled again, the\n"
	"permission restored, a new version configured) the volume is resumed and\n"
	"applications continue. An outage (timeout, 5xx, 429, DNS) never suspends\n"
	"anything, however long. Only LUKS volumes whose key comes from Key Vault are\n"
	"covered: never the BEK VOLUME, a keystore or a key file, nor a volume whose\n"
	"[volume] section says revocation = no. State is kept in\n"
	"STATE_DIR/revocation.json; `vaultvol status` shows \"inaccessible: CAUSE\".\n"
	"Runs until SIGTERM, telling systemd READY=1 and STATUS= (vaultvol-watch.service).\n"
	"With enforce = no it says so and exits 0.\n"
	"\n"
	"  --once   one pass, print its summary, and exit: 0 when every action\n"
	"           succeeded, 1 otherwise (for tests and timers)\n"
	"\n"
	"Exit status: 0 ok, 1 a pass failed (--once), 2 bad command line or config.\n",
	.order = 14,
	.run = run_watch);
