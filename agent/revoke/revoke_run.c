// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * One enforcement pass: check each volume, step its state machine, do the
 * action, and commit the new state only when the action succeeded (a
 * failed suspend stays pending, a failed resume stays inaccessible, both
 * retried next pass). Every change is logged with the volume and cause.
 */
#include "agent/revoke/revoke.h"

#include <stdio.h>
#include <string.h>

#include "base/log.h"

static void log_vol(enum vv_log_level lvl, const char *vol, const char *cause,
		    const char *fmt, const char *a, const char *b)
{
	struct vv_log_fields f = { .volume = vol, .cause = cause && *cause ? cause : NULL,
				   .message_id = VV_MSGID_REVOCATION };

	vv_log_with(lvl, &f, fmt, vol, a, b);
}

/* Do the action; 0 or -errno with the failure logged. */
static int act(const struct vv_rv_ops *ops, const struct vv_rv_target *tg,
	       enum vv_rv_action a)
{
	struct vv_error err = { 0 };
	int r = 0;

	if (a == VV_RV_SUSPEND) {
		/* What applications wrote reaches the disk before the key goes. */
		if (tg->mount) {
			r = ops->sync(ops->ctx, tg, &err);
			if (r < 0)
				vv_log_with(VV_LOG_WARN, &(struct vv_log_fields){ .volume = tg->name },
					    "%s: sync before suspend failed: %s (suspending anyway)",
					    tg->name, err.message);
		}
		vv_error_clear(&err);
		r = ops->suspend(ops->ctx, tg, &err);
	} else if (a == VV_RV_RESUME) {
		r = ops->resume(ops->ctx, tg, &err);
	}
	if (r < 0)
		log_vol(VV_LOG_ERR, tg->name, vv_cause_str(err.cause), "%s: %s failed: %s",
			vv_rv_action_str(a), err.message);
	return r;
}

static void log_transition(const struct vv_rv_target *tg, const struct vv_rv_vol *from,
			   const struct vv_rv_vol *to, int64_t now, int grace_s)
{
	char left[64];

	if (from->state == to->state)
		return;
	switch (to->state) {
	case VV_RV_PENDING:
		snprintf(left, sizeof(left), "%llds", (long long)(to->first_seen + grace_s - now));
		log_vol(VV_LOG_WARN, tg->name, to->cause,
			"%s: key revoked: %s; suspending in %s unless access returns", to->cause,
			left);
		break;
	case VV_RV_INACCESSIBLE:
		log_vol(VV_LOG_ERR, tg->name, to->cause,
			"%s: inaccessible: %s; suspended, key wiped from the kernel%s", to->cause,
			tg->mount ? " (I/O blocks until access returns)" : "");
		break;
	case VV_RV_OPEN:
		if (from->state == VV_RV_INACCESSIBLE)
			log_vol(VV_LOG_INFO, tg->name, from->cause,
				"%s: open: access returned (was: %s)%s", from->cause,
				"; resumed");
		else
			log_vol(VV_LOG_INFO, tg->name, from->cause,
				"%s: open: access returned within the grace period (was: %s)%s",
				from->cause, "");
		break;
	}
}

static bool is_target(const struct vv_rv_target *tg, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(tg[i].name, name))
			return true;
	return false;
}

/*
 * An opted-out volume that is not suspended: not checked. A pending
 * revocation recorded before the opt-out would otherwise sit in the state
 * file (and status) for a suspend that never comes: dropped, and said so.
 */
static void skip_exempt(struct vv_rv_table *t, const struct vv_rv_target *tg,
			const struct vv_rv_vol *rec)
{
	struct vv_rv_vol v;

	if (!rec) {
		vv_log_with(VV_LOG_DEBUG, &(struct vv_log_fields){ .volume = tg->name },
			    "%s: not checked (revocation = no)", tg->name);
		return;
	}
	v = *rec;
	log_vol(VV_LOG_INFO, tg->name, v.cause,
		"%s: revocation = no: its %s revocation is dropped (%s)",
		vv_rv_state_str(v.state), v.cause);
	v.state = VV_RV_OPEN;
	vv_rv_table_set(t, &v);
}

/*
 * Recorded inaccessible, but the kernel says the mapping runs: someone
 * resumed it by hand (cryptsetup luksResume). The record would otherwise
 * keep status saying `inaccessible` about a volume in use, and the watch
 * would never suspend it again. Dropped, and said so; true when it was.
 */
static bool reconcile(const struct vv_rv_ops *ops, struct vv_rv_table *t,
		      const struct vv_rv_target *tg, const struct vv_rv_vol *rec)
{
	struct vv_rv_vol v;

	if (!rec || rec->state != VV_RV_INACCESSIBLE || ops->suspended(ops->ctx, tg) != 0)
		return false;
	v = *rec;
	log_vol(VV_LOG_WARN, tg->name, v.cause,
		"%s: resumed outside vaultvol watch: open, no longer inaccessible (was: %s)%s",
		v.cause, tg->exempt ? "" : "; suspended again after the grace period if "
		"the key is still revoked (revocation = no in its [volume] section keeps it open)");
	v.state = VV_RV_OPEN;
	vv_rv_table_set(t, &v);
	return true;
}

int vv_rv_pass(const struct vv_rv_ops *ops, const struct vv_rv_target *tg, size_t n,
	       struct vv_rv_table *t, int64_t now, int grace_s, struct vv_rv_stats *st)
{
	int failed = 0;

	memset(st, 0, sizeof(*st));
	/* A volume closed since it was recorded has nothing left to enforce. */
	for (size_t i = t->n; i-- > 0;) {
		if (is_target(tg, n, t->v[i].name))
			continue;
		log_vol(VV_LOG_INFO, t->v[i].name, t->v[i].cause,
			"%s: no longer open, its %s state dropped (%s)",
			vv_rv_state_str(t->v[i].state), t->v[i].cause);
		t->v[i].state = VV_RV_OPEN;
		vv_rv_table_set(t, &t->v[i]);
	}
	for (size_t i = 0; i < n; i++) {
		struct vv_rv_vol cur = { 0 }, next;
		struct vv_rv_check in = { 0 };
		const struct vv_rv_vol *rec = vv_rv_table_get(t, tg[i].name);
		enum vv_rv_action a;

		if (reconcile(ops, t, &tg[i], rec)) {
			st->resumed_by_hand++;
			rec = NULL;
		}
		if (tg[i].exempt && (!rec || rec->state != VV_RV_INACCESSIBLE)) {
			skip_exempt(t, &tg[i], rec);
			st->exempt++;
			continue;
		}
		if (rec)
			cur = *rec;
		else
			snprintf(cur.name, sizeof(cur.name), "%s", tg[i].name);
		ops->check(ops->ctx, &tg[i], &in);
		st->checked++;
		if (in.verdict == VV_RV_OK)
			st->ok++;
		else if (in.verdict == VV_RV_REVOKED)
			st->revoked++;
		else {
			st->outages++;
			log_vol(cur.state == VV_RV_OPEN ? VV_LOG_INFO : VV_LOG_WARN, tg[i].name,
				in.cause, "%s: key check: outage, nothing changes (%s)%s", in.cause,
				cur.state == VV_RV_OPEN ? "" : cur.state == VV_RV_PENDING ?
				"; the revocation stays pending" : "; stays suspended");
		}
		a = vv_rv_next(&cur, &in, now, grace_s, &next);
		if (a != VV_RV_NONE && act(ops, &tg[i], a) < 0) {
			failed++;
			st->failed++;
			/* Not done: keep the state the world is in. */
			next = cur;
			if (a == VV_RV_SUSPEND && cur.state == VV_RV_OPEN) {
				/* grace 0: the revocation is still pending */
				next.state = VV_RV_PENDING;
				next.first_seen = now;
				snprintf(next.cause, sizeof(next.cause), "%s", in.cause);
			}
		} else if (a == VV_RV_SUSPEND) {
			st->suspended++;
		} else if (a == VV_RV_RESUME) {
			st->resumed++;
		}
		log_transition(&tg[i], &cur, &next, now, grace_s);
		if (vv_rv_table_set(t, &next) < 0) {
			failed++;
			st->failed++;
		}
		if (next.state == VV_RV_PENDING)
			st->pending++;
		else if (next.state == VV_RV_INACCESSIBLE)
			st->inaccessible++;
	}
	return failed;
}
