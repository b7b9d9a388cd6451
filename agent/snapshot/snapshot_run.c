// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * One snapshot run: pre-scripts, freeze with the deadline armed first,
 * the snapshot (a command or the backup service), thaw, post-scripts,
 * report. Nothing here logs between the first freeze and the thaw: a log
 * file on a frozen filesystem would block the agent until the deadline.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "agent/freeze/freeze_marker.h"
#include "agent/freeze/freeze_plan.h"
#include "agent/freeze/freeze_session.h"
#include "agent/options.h"
#include "agent/snapshot/backup_service.h"
#include "agent/snapshot/snapshot_internal.h"
#include "base/log.h"

/*
 * The one piece of process-wide state: which signal interrupted the run
 * (a handler has no other way to reach it). Written by the handler only.
 */
static volatile sig_atomic_t snap_interrupted;

static void on_signal(int sig)
{
	snap_interrupted = sig;
}

struct run {
	const struct vv_snapshot_opts *o;
	struct vv_snapshot_report *rep;
	struct vv_freeze_plan plan;
	struct vv_freeze_session fs;
	char marker[PATH_MAX];
	bool agent_deadline;	/* the agent thawed at the deadline itself */
	long long snapshot_end_ms;
	struct vv_bsvc *svc;
	char request_id[33];
};

static void on_deadline(void *ctx)
{
	struct run *rn = ctx;

	rn->agent_deadline = true;
	vv_freeze_session_thaw(&rn->fs);
}

/* Called by the command wait at the deadline or on a signal. */
static void cmd_thaw(void *ctx)
{
	struct run *rn = ctx;

	if (snap_interrupted)
		vv_freeze_session_thaw(&rn->fs);
	else
		on_deadline(rn);
}

static int arm_and_freeze(struct run *rn)
{
	struct vv_snapshot_report *rep = rn->rep;
	int r;

	r = vv_freeze_session_open(&rn->fs, &rn->plan, rn->o->ops_override);
	if (r) {
		if (!rn->fs.fz_open)
			vv_report_lower(rep, VV_CONS_CRASH, "cannot prepare the freeze: %s",
					strerror(-r));
		return r;
	}
	if (!rn->fs.fz.n) {
		vv_report_warn(rep, "no filesystem to freeze");
		return 0;
	}
	r = vv_freeze_session_arm(&rn->fs, rep->timeout_s, rn->marker, false);
	if (r) {
		/* Without it an agent crash could leave the VM frozen: do not freeze. */
		vv_report_lower(rep, VV_CONS_CRASH, "cannot start the freeze watchdog (%s); not frozen",
				strerror(-r));
		return r;
	}
	r = vv_freeze_session_mark(&rn->fs);
	if (r)
		vv_report_warn(rep, "cannot write the frozen-state marker %s: %s", rn->marker,
			       strerror(-r));
	vv_freeze_session_freeze(&rn->fs);
	/* A freeze that finished after the deadline is undone at once. */
	if (vv_clock_ms() >= rn->fs.deadline_ms)
		on_deadline(rn);
	return 0;
}

static void note_freeze_results(struct run *rn)
{
	for (size_t i = 0; i < rn->fs.fz.n; i++) {
		const struct vv_freeze_target *t = &rn->fs.fz.t[i];

		if (t->state == VV_FZ_FROZEN || t->state == VV_FZ_BUSY)
			continue;
		vv_report_lower(rn->rep, VV_CONS_CRASH, "%s (%s) not frozen: %s%s%s", t->fs->target,
				t->fs->fstype, vv_freeze_state_name(t->state), t->err ? ": " : "",
				t->err ? strerror(-t->err) : "");
	}
}

static char *frozen_list(const struct vv_freezer *fz)
{
	size_t len = 1;
	char *s;

	for (size_t i = 0; i < fz->n; i++)
		len += strlen(fz->t[i].fs->target) + 1;
	s = calloc(1, len);
	if (!s)
		return NULL;
	for (size_t i = 0; i < fz->n; i++) {
		if (fz->t[i].state != VV_FZ_FROZEN && fz->t[i].state != VV_FZ_BUSY)
			continue;
		if (*s)
			strcat(s, "\n");
		strcat(s, fz->t[i].fs->target);
	}
	return s;
}

static void take_with_cmd(struct run *rn)
{
	struct vv_snapshot_report *rep = rn->rep;
	char *list = frozen_list(&rn->fs.fz);
	char *env[4] = { NULL };
	long long deadline = rn->fs.frozen ? rn->fs.deadline_ms : vv_clock_ms() + 3600000LL * 24;
	int r, n = 0;

	/* An entry that cannot be allocated is left out; the array stays dense. */
	if (list && asprintf(&env[n], "VAULTVOL_FROZEN=%s", list) >= 0)
		n++;
	if (asprintf(&env[n], "VAULTVOL_DEADLINE_MS=%lld",
		     rn->fs.frozen ? rn->fs.deadline_ms - vv_clock_ms() : 0) >= 0)
		n++;
	if (asprintf(&env[n], "VAULTVOL_CONSISTENCY=%s", vv_consistency_name(rep->achieved)) >= 0)
		n++;
	env[n] = NULL;
	r = vv_snap_run_cmd(rn->o->cmd, env, rn->o->cmd_stdout_to_stderr, deadline, cmd_thaw,
			    rn, &snap_interrupted, &rn->snapshot_end_ms);
	rep->snapshot_exit = r;
	if (r == 0) {
		rep->snapshot_ok = true;
	} else if (r < 0) {
		if (asprintf(&rep->snapshot_error, "cannot run %s: %s", rn->o->cmd[0], strerror(-r)) < 0)
			rep->snapshot_error = NULL;
	} else {
		if (asprintf(&rep->snapshot_error, "snapshot command exited with %d", r) < 0)
			rep->snapshot_error = NULL;
	}
	for (int i = 0; i < 3; i++)
		free(env[i]);
	free(list);
}

static void take_with_service(struct run *rn)
{
	struct vv_snapshot_report *rep = rn->rep;
	long long now = vv_clock_ms();
	long left = rn->fs.frozen ? (long)(rn->fs.deadline_ms - now) - VV_BSVC_TAKE_MARGIN_MS
				     : (long)rep->timeout_s * 1000;
	struct vv_error err = { 0 };
	char *body = NULL;
	int status = 0, r;

	if (left < 1)
		left = 1;
	r = vv_bsvc_take_body(rn->request_id, &rn->fs.fz, rep->achieved, left, &body);
	if (!r)
		r = vv_bsvc_take(rn->svc, rep->snapshot_id, body, left, &rep->service_result, &status,
				 &err);
	rn->snapshot_end_ms = vv_clock_ms();
	rep->snapshot_exit = status;
	if (r == 0)
		rep->snapshot_ok = true;
	else
		rep->snapshot_error = strdup(err.message[0] ? err.message : strerror(-r));
	free(body);
}

/* The per-filesystem part of the report; true when a kernel deadline expired. */
static bool report_filesystems(struct run *rn)
{
	struct vv_snapshot_report *rep = rn->rep;
	bool q_expired = false;

	rep->fs = calloc(rn->fs.fz.n ? rn->fs.fz.n : 1, sizeof(*rep->fs));
	for (size_t i = 0; rep->fs && i < rn->fs.fz.n; i++) {
		const struct vv_freeze_target *x = &rn->fs.fz.t[i];
		struct vv_snap_fs *f = &rep->fs[rep->n_fs++];

		f->mount = strdup(x->fs->target);
		f->fstype = strdup(x->fs->fstype);
		f->source = x->fs->source ? strdup(x->fs->source) : NULL;
		snprintf(f->device, sizeof(f->device), "%u:%u", major(x->fs->devno),
			 minor(x->fs->devno));
		f->n_mounts = x->fs->n_mounts;
		f->wave = x->fs->wave;
		f->method = x->ops->name;
		f->state = x->state;
		f->err = x->err;
		f->freeze_ms = x->freeze_end_ms - x->freeze_start_ms;
		f->thaw_count = x->thaw_count;
		f->thaw_err = x->thaw_err;
		f->thawed_elsewhere = x->thawed_elsewhere;
		f->q_valid = x->q_valid;
		f->q_last_freeze_us = x->q_last_freeze_us;
		f->q_expired = x->q_valid && x->q_expiries_after > x->q_expiries_before;
		if (f->q_expired)
			q_expired = true;
		if (x->thaw_err)
			vv_report_warn(rep, "%s: thaw failed: %s", x->fs->target, strerror(-x->thaw_err));
	}
	return q_expired;
}

/* Who thawed, and whether the deadline cost the snapshot its consistency. */
static void report_thaw_cause(struct run *rn, bool q_expired)
{
	struct vv_snapshot_report *rep = rn->rep;
	const struct vv_watchdog *wd = &rn->fs.wd;

	if (wd->cause == VV_WD_DEADLINE)
		rep->thawed_by = strdup("watchdog (deadline)");
	else if (wd->cause == VV_WD_SIGNAL)
		rep->thawed_by = strdup("watchdog (signal)");
	else if (q_expired)
		rep->thawed_by = strdup("kernel (deadline)");
	else if (rn->agent_deadline)
		rep->thawed_by = strdup("agent (deadline)");
	else
		rep->thawed_by = strdup("agent");
	rep->deadline_expired = wd->cause == VV_WD_DEADLINE || q_expired || rn->agent_deadline;

	if (rep->snapshot_attempted && rep->deadline_expired &&
	    rn->snapshot_end_ms >= rn->fs.deadline_ms)
		vv_report_lower(rep, VV_CONS_CRASH,
				"the %d s freeze deadline passed before the snapshot finished; "
				"thawed by %s", rep->timeout_s, rep->thawed_by);
	else if (wd->cause == VV_WD_SIGNAL && wd->thawed_at_ms < rn->snapshot_end_ms)
		vv_report_lower(rep, VV_CONS_CRASH,
				"the freeze watchdog was signalled and thawed before the snapshot finished");
}

static void finish_freeze(struct run *rn)
{
	struct vv_snapshot_report *rep = rn->rep;
	const struct vv_watchdog *wd = &rn->fs.wd;
	long long t = vv_clock_ms(), end;

	if (!rn->fs.frozen)
		return;
	vv_freeze_session_thaw(&rn->fs);
	vv_freeze_session_disarm(&rn->fs);
	/* Someone killed it: the deadline was guarded by us alone. */
	if (wd->term_signal)
		vv_report_warn(rep, "the freeze watchdog was killed by signal %d", wd->term_signal);
	rep->thaw_ms = vv_clock_ms() - t;
	end = rn->fs.fz.last_thaw_ms;
	if (wd->cause != VV_WD_NONE && wd->thawed_at_ms && wd->thawed_at_ms < end)
		end = wd->thawed_at_ms;
	rep->window_ms = rn->fs.fz.first_freeze_ms ? end - rn->fs.fz.first_freeze_ms : 0;

	report_thaw_cause(rn, report_filesystems(rn));
	/* Done: a second call is a no-op. */
	vv_freeze_session_unmark(&rn->fs);
}

static void fill_skipped(struct run *rn)
{
	struct vv_snapshot_report *rep = rn->rep;

	rep->skipped = calloc(rn->plan.n_skipped ? rn->plan.n_skipped : 1, sizeof(char *));
	for (size_t i = 0; rep->skipped && i < rn->plan.n_skipped; i++) {
		const struct vv_fs_skip *s = &rn->plan.skipped[i];

		if (asprintf(&rep->skipped[rep->n_skipped], "%s (%s): %s", s->target, s->fstype,
			     s->reason) >= 0)
			rep->n_skipped++;
	}
}

static int prepare_service(struct run *rn)
{
	struct vv_snapshot_report *rep = rn->rep;
	struct vv_error err = { 0 };
	char *body = NULL;
	long timeout_ms = (long)rep->timeout_s * 1000;
	vv_key_ref_fn refs = rn->o->key_refs ? rn->o->key_refs : vv_key_refs_from_token;
	int r;

	r = vv_bsvc_open(rn->o->service_url, rn->o->ca_file, &rn->svc, &err);
	if (!r)
		r = vv_request_id(rn->request_id);
	if (!r)
		r = vv_bsvc_prepare_body(rn->request_id, &rn->plan, rep->requested, timeout_ms, refs,
					 rn->o->key_refs_ctx, &body);
	if (!r)
		r = vv_bsvc_prepare(rn->svc, body, &rep->snapshot_id, &timeout_ms, &err);
	free(body);
	if (r) {
		vv_report_lower(rep, VV_CONS_FAILED, "backup service: %s",
				err.message[0] ? err.message : strerror(-r));
		return r;
	}
	/* The service may shorten the freeze. */
	if (timeout_ms / 1000 < rep->timeout_s)
		rep->timeout_s = (int)(timeout_ms / 1000 > 0 ? timeout_ms / 1000 : 1);
	return 0;
}

/* What an earlier, crashed run left frozen is thawed first; then the plan. */
static int recover_and_plan(struct run *rn, const char *state_dir)
{
	const struct vv_snapshot_opts *o = rn->o;
	struct vv_snapshot_report *rep = rn->rep;
	struct vv_recover_result rr;
	struct vv_plan_opts po = { 0 };
	dev_t resource[8];
	int r;

	vv_marker_recover(state_dir, false, &rr);
	if (rr.skipped_live) {
		vv_report_lower(rep, VV_CONS_FAILED, "another freeze is in progress (%s)", rn->marker);
		return -EBUSY;
	}
	if (rr.found && !rr.other_boot)
		vv_report_warn(rep, "thawed %d filesystem(s) left frozen by an earlier run", rr.thawed);

	po.mountinfo = o->mountinfo;
	po.sysfs = o->sysfs;
	po.exclude = o->exclude;
	po.n_exclude = o->n_exclude;
	po.resource_devs = resource;
	po.n_resource_devs = o->mountinfo ? 0 : vv_freeze_resource_devs(NULL, resource, 8);
	r = vv_freeze_plan_build(&po, &rn->plan);
	if (r) {
		vv_report_lower(rep, VV_CONS_FAILED, "cannot read the mount table: %s", strerror(-r));
		return r;
	}
	fill_skipped(rn);
	return 0;
}

/* Freeze, snapshot, thaw: the part between the pre- and the post-scripts. */
static void freeze_take_thaw(struct run *rn, const struct vv_snap_scripts *scripts)
{
	struct vv_snapshot_report *rep = rn->rep;
	long long t;

	/* Freeze. */
	t = vv_clock_ms();
	if (!scripts->freeze_enabled)
		vv_report_lower(rep, VV_CONS_CRASH,
				"filesystem freeze disabled (fsFreezeEnabled is false)");
	else if (arm_and_freeze(rn) == 0)
		note_freeze_results(rn);
	rep->freeze_ms = vv_clock_ms() - t;
	rep->flush_ms = rn->fs.fz.flush_ms;

	/* Snapshot. */
	t = vv_clock_ms();
	rep->snapshot_attempted = true;
	if (rn->o->service_url)
		take_with_service(rn);
	else
		take_with_cmd(rn);
	rep->snapshot_ms = rn->snapshot_end_ms - t;

	/* Thaw. */
	finish_freeze(rn);
	if (snap_interrupted)
		vv_report_lower(rep, VV_CONS_FAILED, "interrupted by signal %d",
				(int)snap_interrupted);
	if (!rep->snapshot_ok)
		vv_report_lower(rep, VV_CONS_FAILED, "%s",
				rep->snapshot_error ? rep->snapshot_error : "snapshot failed");
}

/* The report goes to the backup service that took the snapshot. */
static void send_report(struct run *rn)
{
	struct vv_snapshot_report *rep = rn->rep;
	struct vv_error err = { 0 };
	char *json = NULL;

	if (!rn->svc || !rep->snapshot_id)
		return;
	if (vv_snapshot_report_json(rep, &json) == 0 &&
	    vv_bsvc_report(rn->svc, rep->snapshot_id, json, &err) != 0)
		vv_report_warn(rep, "backup service did not take the report: %s", err.message);
	free(json);
}

int vv_snapshot_run(const struct vv_snapshot_opts *o, struct vv_snapshot_report *rep)
{
	struct run rn = { .o = o, .rep = rep };
	struct vv_snap_scripts scripts = { 0 };
	const char *state_dir = o->state_dir ? o->state_dir : VV_DEFAULT_STATE_DIR;
	long long t0 = vv_clock_ms(), t;
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa = { .sa_handler = on_signal }, old[3];
	int r, pre;

	memset(rep, 0, sizeof(*rep));
	rep->requested = o->requested == VV_CONS_FS ? VV_CONS_FS : VV_CONS_APP;
	rep->achieved = rep->requested;
	rep->timeout_s = o->timeout_s > 0 ? o->timeout_s : 60;
	if (!o->cmd && !o->service_url) {
		vv_report_lower(rep, VV_CONS_FAILED, "neither a snapshot command nor a backup service");
		return -EINVAL;
	}
	r = vv_marker_path(state_dir, rn.marker, sizeof(rn.marker));
	if (r) {
		vv_report_lower(rep, VV_CONS_FAILED, "state directory path too long");
		return r;
	}

	/*
	 * Ctrl-C or a TERM must not skip the thaw and the post-scripts: note
	 * the signal, end the freeze, let the command go, finish the run.
	 */
	snap_interrupted = 0;
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < 3; i++)
		sigaction(sigs[i], &sa, &old[i]);

	r = recover_and_plan(&rn, state_dir);
	if (r)
		goto out;
	if (o->service_url && prepare_service(&rn) != 0)
		goto out;

	/* Pre-scripts. */
	t = vv_clock_ms();
	vv_snap_scripts_load(o, rep, &scripts);
	pre = vv_snap_scripts_pre(&scripts, rep);
	rep->pre_ms = vv_clock_ms() - t;
	if (snap_interrupted && pre != -ECANCELED) {
		vv_report_lower(rep, VV_CONS_FAILED, "interrupted by signal %d before the freeze",
				(int)snap_interrupted);
		pre = -ECANCELED;
	}
	if (pre != -ECANCELED)
		freeze_take_thaw(&rn, &scripts);

	/* Post-scripts: owed whenever a pre-script ran. */
	t = vv_clock_ms();
	vv_snap_scripts_post(&scripts, rep);
	rep->post_ms = vv_clock_ms() - t;
	r = 0;
out:
	rep->total_ms = vv_clock_ms() - t0;
	send_report(&rn);
	vv_bsvc_close(rn.svc);
	/* Paths that end early still owe a thaw. */
	finish_freeze(&rn);
	vv_freeze_session_close(&rn.fs);
	vv_snap_scripts_free(&scripts);
	vv_freeze_plan_free(&rn.plan);
	for (int i = 0; i < 3; i++)
		sigaction(sigs[i], &old[i], NULL);
	return r;
}
