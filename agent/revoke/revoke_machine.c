// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The revocation state machine, pure: no clock, no I/O. The table is in
 * revoke.h; tests/unit/test_revoke.c walks every cell of it.
 */
#include "agent/revoke/revoke.h"

#include <stdio.h>
#include <string.h>

const char *vv_rv_state_str(enum vv_rv_state s)
{
	switch (s) {
	case VV_RV_OPEN: return "open";
	case VV_RV_PENDING: return "pending";
	case VV_RV_INACCESSIBLE: return "inaccessible";
	}
	return "unknown";
}

const char *vv_rv_verdict_str(enum vv_rv_verdict v)
{
	switch (v) {
	case VV_RV_OK: return "ok";
	case VV_RV_REVOKED: return "revoked";
	case VV_RV_OUTAGE: return "outage";
	}
	return "unknown";
}

const char *vv_rv_action_str(enum vv_rv_action a)
{
	switch (a) {
	case VV_RV_NONE: return "none";
	case VV_RV_SUSPEND: return "suspend";
	case VV_RV_RESUME: return "resume";
	}
	return "unknown";
}

bool vv_rv_cause_revokes(enum vv_cause c)
{
	switch (c) {
	case VV_CAUSE_CONFIG:
	case VV_CAUSE_UNTRUSTED:
	case VV_CAUSE_CRYPTO:
		return false;
	default:
		return vv_cause_is_definite(c);
	}
}

static void set_cause(struct vv_rv_vol *v, const char *cause)
{
	snprintf(v->cause, sizeof(v->cause), "%s", cause);
}

static enum vv_rv_action revoked(struct vv_rv_vol *next, const char *cause, int64_t now,
				 int grace_s)
{
	set_cause(next, cause);
	if (next->state == VV_RV_INACCESSIBLE)
		return VV_RV_NONE;
	if (next->state == VV_RV_OPEN || next->first_seen > now) {
		next->state = VV_RV_PENDING;
		next->first_seen = now;
	}
	if (now - next->first_seen < grace_s)
		return VV_RV_NONE;
	next->state = VV_RV_INACCESSIBLE;
	return VV_RV_SUSPEND;
}

enum vv_rv_action vv_rv_next(const struct vv_rv_vol *cur, const struct vv_rv_check *in,
			     int64_t now, int grace_s, struct vv_rv_vol *next)
{
	enum vv_rv_state was = cur->state;

	*next = *cur;
	switch (in->verdict) {
	case VV_RV_REVOKED:
		return revoked(next, in->cause, now, grace_s);
	case VV_RV_OK:
		next->state = VV_RV_OPEN;
		next->first_seen = 0;
		next->cause[0] = '\0';
		return was == VV_RV_INACCESSIBLE ? VV_RV_RESUME : VV_RV_NONE;
	case VV_RV_OUTAGE:
		break;
	}
	return VV_RV_NONE;
}
