// SPDX-License-Identifier: GPL-2.0-or-later
/* `vaultvol open [--all | VOLUME...]`: unlock and mount encrypted volumes. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent/command.h"
#include "agent/volume/crypt.h"
#include "agent/error_view.h"
#include "agent/open/open.h"
#include "base/log.h"

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void print_volume(const struct vv_vol *v, bool check)
{
	char line[1024];

	if (v->undescribed) {
		printf("%s: undescribed %s volume on %s (uuid %s): not opened; `vaultvol status` "
		       "says how to describe it\n", v->conf.name, vv_vol_type_str(v->type),
		       v->device ? v->device : "?", v->uuid[0] ? v->uuid : "?");
		return;
	}
	if (v->fail) {
		if (v->warning[0])
			fprintf(stderr, "%s: warning: %s\n", v->conf.name, v->warning);
		fprintf(stderr, "%s: FAILED (%s%s%s): %s\n", v->conf.name, vv_fail_str(v->fail),
			v->fail == VV_FAIL_KEY_ACCESS ? ", " : "",
			v->fail == VV_FAIL_KEY_ACCESS ? vv_cause_str(v->error.cause) : "",
			v->error.message);
		if (v->error.remedy[0])
			fprintf(stderr, "%s:   remedy: %s\n", v->conf.name, v->error.remedy);
		return;
	}
	if (v->reformat_skip || v->crypttab_left) {
		fprintf(stderr, "%s: warning: %s\n", v->conf.name, v->warning);
		return;
	}
	vv_open_vol_describe(v, check, line, sizeof(line));
	printf("%s: %s\n", v->conf.name, line);
	if (v->reencrypt_pct >= 0)
		printf("%s: encryption in progress, %d%%\n", v->conf.name, v->reencrypt_pct);
	if (v->warning[0])
		fprintf(stderr, "%s: warning: %s\n", v->conf.name, v->warning);
}

static void print_json(const struct vv_open_plan *plan, const struct vv_open_stats *st,
		       int failed)
{
	struct json_object *o = json_object_new_object(), *a = json_object_new_array();
	struct json_object *s = json_object_new_object();

	for (size_t i = 0; i < plan->n; i++)
		if (plan->v[i].selected)
			json_object_array_add(a, vv_open_vol_json(&plan->v[i]));
	json_object_object_add(o, "volumes", a);
	json_object_object_add(o, "failed", json_object_new_int(failed));
	json_object_object_add(s, "key_fetches", json_object_new_int((int)st->fetches));
	json_object_object_add(s, "opened", json_object_new_int((int)st->opened));
	json_object_object_add(s, "mounted", json_object_new_int((int)st->mounted));
	json_object_object_add(s, "unchanged", json_object_new_int((int)st->unchanged));
	json_object_object_add(s, "undescribed", json_object_new_int((int)st->undescribed));
	json_object_object_add(s, "relocated", json_object_new_int((int)st->relocated));
	json_object_object_add(o, "stats", s);
	printf("%s\n", json_object_to_json_string_ext(o, VV_OPEN_JSON_FLAGS));
	json_object_put(o);
}

/* Does any selected volume have a failure that time may fix? */
static bool retryable(const struct vv_open_plan *plan)
{
	for (size_t i = 0; i < plan->n; i++)
		if (plan->v[i].selected && plan->v[i].fail && plan->v[i].transient)
			return true;
	return false;
}

/* An option's decimal value in [lo, hi], else false after "vaultvol open: expect". */
static bool opt_number(const char *arg, long lo, long hi, const char *expect, long *out)
{
	char *end;

	*out = strtol(arg, &end, 10);
	if (*end || *out < lo || *out > hi) {
		fprintf(stderr, "vaultvol open: %s\n", expect);
		return false;
	}
	return true;
}

struct open_args {
	bool all, json;
	long wait_s;
};

static int parse_args(int argc, char **argv, struct open_args *a, struct vv_open_ctx *ctx)
{
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "wait", required_argument, NULL, 'w' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "check", no_argument, NULL, 'C' },
		{ "json", no_argument, NULL, 'J' },
		{ 0 }
	};
	long jobs = 0;
	int c;

	while ((c = getopt_long(argc, argv, "aw:j:", longopts, NULL)) != -1) {
		switch (c) {
		case 'a': a->all = true; break;
		case 'C': ctx->check_only = true; break;
		case 'J': a->json = true; break;
		case 'w':
			if (!opt_number(optarg, 0, 86400, "--wait takes seconds (0-86400)", &a->wait_s))
				return VV_EXIT_USAGE;
			break;
		case 'j':
			if (!opt_number(optarg, 1, 64, "--jobs takes 1-64", &jobs))
				return VV_EXIT_USAGE;
			break;
		default:
			return VV_EXIT_USAGE;
		}
	}
	if (a->all == (optind < argc)) {
		fprintf(stderr, "vaultvol open: give --all or volume names (see --help)\n");
		return VV_EXIT_USAGE;
	}
	ctx->jobs = (int)jobs;
	return VV_EXIT_OK;
}

/*
 * A named volume that discovery no longer finds but volumes.json recorded:
 * its disk is detached, or cannot be read (a failed disk hides the token
 * that named it). That is a missing disk, reported for the volume (exit
 * 1, retried under --wait as a disk that comes up late), not an unknown
 * name (exit 2).
 */
static int add_recorded(struct vv_open_setup *s, int argc, char **argv)
{
	size_t first = s->plan.n;
	int r = vv_open_plan_add_recorded_names(&s->plan, s->prev, s->nprev, argv + optind,
						(size_t)(argc - optind));

	if (r < 0)
		return r;
	for (size_t i = first; i < s->plan.n; i++) {
		struct vv_vol *v = &s->plan.v[i];

		vv_vol_fail(v, VV_FAIL_MISSING, VV_CAUSE_NONE,
			    "attach the disk; if it is attached, look for I/O errors (dmesg) and "
			    "replace it or restore the volume from backup",
			    "no attached disk shows volume %s any more (last opened with LUKS UUID %s): "
			    "detached, or unreadable", v->conf.name,
			    v->opened_uuid[0] ? v->opened_uuid : v->uuid[0] ? v->uuid : "unknown");
		v->transient = true;
	}
	return 0;
}

/*
 * Set up and run until nothing failed that time may fix, or --wait is over:
 * a vault that is not reachable yet or a disk that is not attached yet may
 * be there in a moment; the volumes that opened are left alone by the next
 * round. Returns the number of failed volumes, or a negative exit status
 * when the set-up failed (reported already); s is set up on success.
 */
static int open_until(const struct vv_options *opt, const struct open_args *a, int argc,
		      char **argv, struct vv_open_ctx *ctx, struct vv_open_setup *s)
{
	long long deadline = now_ms() + a->wait_s * 1000;
	struct vv_error err = { 0 };
	int failed, r, attempt = 0;
	char bad[128];

	for (;;) {
		long long left;
		long pause;

		r = vv_open_setup(opt, true, s, &err);
		if (r < 0) {
			vv_error_print(a->json, 0, "open", &err);
			vv_open_teardown(s);
			return r == -EINVAL ? -VV_EXIT_USAGE : -VV_EXIT_FAILURE;
		}
		if (!a->all && add_recorded(s, argc, argv) < 0) {
			vv_open_teardown(s);
			return -VV_EXIT_FAILURE;
		}
		if (!a->all && vv_open_select(&s->plan, argv + optind, (size_t)(argc - optind),
					      bad, sizeof(bad)) < 0) {
			vv_fail(&err, -ENOENT, VV_CAUSE_NOT_FOUND,
				"no volume named '%s' (`vaultvol status` lists them)", bad);
			vv_error_print(a->json, 0, "open", &err);
			vv_open_teardown(s);
			return -VV_EXIT_USAGE;
		}
		ctx->vault = s->vault;
		failed = vv_open_run(ctx, &s->plan);
		attempt++;
		if (!failed || !retryable(&s->plan) || now_ms() >= deadline)
			return failed;
		left = deadline - now_ms();
		pause = attempt < 4 ? 2000L << attempt : 30000;
		if (pause > left)
			pause = (long)left;
		vv_info("open: %d volume(s) failed transiently; retrying in %ld ms", failed, pause);
		if (!ctx->check_only && vv_open_state_write(opt->state_dir, &s->plan, &err) < 0)
			vv_warn("%s", err.message);
		vv_open_teardown(s);
		usleep((useconds_t)pause * 1000);
	}
}

/* The outcome: JSON, one journal entry per volume, or plain lines. */
static void report(const struct vv_open_setup *s, const struct vv_open_ctx *ctx, bool json,
		   int failed)
{
	/* Under systemd, one journal entry per volume with its fields. */
	bool journal = vv_log_journal();
	size_t shown = 0;

	if (json) {
		print_json(&s->plan, &ctx->stats, failed);
		return;
	}
	for (size_t i = 0; i < s->plan.n; i++)
		if (s->plan.v[i].selected) {
			if (journal)
				vv_open_vol_log(&s->plan.v[i], ctx->check_only);
			else
				print_volume(&s->plan.v[i], ctx->check_only);
			shown++;
		}
	if (!shown)
		printf("no encrypted volumes described (config, ADE state or vaultvol tokens)\n");
	else
		printf("open: %u opened, %u mounted, %u unchanged, %d failed, %u undescribed%s\n",
		       ctx->stats.opened, ctx->stats.mounted, ctx->stats.unchanged, failed,
		       ctx->stats.undescribed, ctx->stats.relocated ?
		       ", LUNs exchanged (see the warnings)" : "");
}

static int run_open(const struct vv_options *opt, int argc, char **argv)
{
	struct open_args a = { .json = opt->json };
	struct vv_open_ctx ctx = { 0 };
	struct vv_error err = { 0 };
	struct vv_open_setup s;
	int failed, r;

	r = parse_args(argc, argv, &a, &ctx);
	if (r != VV_EXIT_OK)
		return r;
	/* It only reads headers: an unusable /run must not hide them. */
	vv_crypt_locks_check();
	failed = open_until(opt, &a, argc, argv, &ctx, &s);
	if (failed < 0)
		return -failed;
	/*
	 * The KEKs' expiry is asked after the volumes are open, and after
	 * their lines are out: it never fails or holds up a volume. (JSON is
	 * one document: it waits for them.)
	 */
	if (!a.json)
		report(&s, &ctx, false, failed);
	vv_open_kek_expiry(ctx.vault, &s.plan);
	if (a.json)
		report(&s, &ctx, true, failed);
	vv_open_expiry_report(opt->state_dir, &s.plan, vv_log_journal(), (int64_t)time(NULL));
	if (ctx.stats.relocated)
		fprintf(stderr, "vaultvol open: %u volume(s) found on another disk than described "
			"(exchanged LUNs?): each used its own disk (by UUID), not its LUN's; fix "
			"the descriptions\n",
			ctx.stats.relocated);
	if (!ctx.check_only && vv_open_state_write(opt->state_dir, &s.plan, &err) < 0)
		fprintf(stderr, "vaultvol open: warning: %s\n", err.message);
	vv_debug("open: %u key fetch(es), %u reuse(s)", ctx.stats.fetches, ctx.stats.key_waits);
	vv_open_teardown(&s);
	/* A volume found away from its described disk needs a person: not a success. */
	return failed || ctx.stats.relocated ? VV_EXIT_FAILURE : VV_EXIT_OK;
}

VV_COMMAND(open,
	.name = "open",
	.summary = "unlock and mount encrypted volumes",
	.usage =
	"Usage: vaultvol [OPTIONS] open [--wait S] [--jobs N] [--check] [--json] (--all | VOLUME...)\n"
	"\n"
	"Finds the encrypted disks (LUKS1, LUKS2, BitLocker) by UUID, Azure LUN, stable\n"
	"path or BitLocker GUID, fetches each volume's key (its vaultvol token first, then\n"
	"the config file, then ADE state), unlocks it, stacks dm-quiesce when available,\n"
	"and mounts it. Volumes open in parallel; each key is fetched once. Running it\n"
	"again changes nothing for volumes that are already open and mounted.\n"
	"\n"
	"  --all        every described volume\n"
	"  --wait S     retry volumes whose vault is unreachable or whose disk is not\n"
	"               there yet, for up to S seconds (the boot service uses this)\n"
	"  --jobs N     volumes handled in parallel (default 8)\n"
	"  --check      only verify that each key opens its volume; change nothing\n"
	"  --json       machine-readable result\n"
	"\n"
	"Encrypted disks nobody describes are listed (\"undescribed\") and counted, not\n"
	"opened, and are no failure. Where volumes.json records the UUID a volume last\n"
	"opened with, that UUID decides which disk is the volume's, whatever its LUN\n"
	"says now (exchanged LUNs never swap mounts). ADE's resource disk, new and\n"
	"unencrypted after a restore, is encrypted again ([ade] resource_disk).\n"
	"\n"
	"Once the volumes are open, each remote KEK's expiry is read (best effort). A\n"
	"secret or KEK that expires within 30 days (or has expired) gets a warning on\n"
	"stderr; under systemd, in the journal at most once a day per volume and key\n"
	"(remembered in the state directory, expiry-warned.json).\n"
	"\n"
	"Exit status: 0 all opened, 1 some volume failed (each failure is printed with\n"
	"its cause and a remedy) or was found on another disk than described, 2 usage\n"
	"or configuration error.\n",
	.order = 10,
	.run = run_open);
