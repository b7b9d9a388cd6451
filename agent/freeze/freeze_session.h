/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One freeze session: the freezer over a plan, the watchdog that owns the
 * deadline and the frozen-state marker, armed in that order before the
 * first freeze and undone in reverse. `vaultvol snapshot` holds the session
 * for the length of its snapshot (attached watchdog); `vaultvol freeze`
 * hands it to a detached watchdog and returns.
 *
 *	open -> arm (deadline, watchdog) -> mark -> freeze -> thaw -> disarm -> unmark
 *
 * close undoes whatever is left, on every path.
 */
#ifndef VV_FREEZE_SESSION_H
#define VV_FREEZE_SESSION_H

#include <stdbool.h>

#include "agent/freeze/freeze_exec.h"
#include "agent/freeze/freeze_marker.h"
#include "agent/freeze/freeze_plan.h"
#include "agent/freeze/freeze_watchdog.h"

struct vv_freeze_session {
	struct vv_freezer fz;
	struct vv_watchdog wd;
	long long deadline_ms;	/* vv_clock_ms() value, set by arm */
	bool fz_open;
	bool wd_on;
	bool marker_on;
	bool frozen;		/* freeze attempted, thaw owed */
	bool thawed;

	/* Kept between the steps; private. */
	bool detached;
	const char *marker;
	int *keep_fds;
	struct vv_marker mk;
};

/*
 * Open the mount points of the plan (see vv_freezer_open) and, when there
 * is something to freeze, what the watchdog and the marker will list.
 * -errno: fz_open tells whether the freezer itself was opened (the lists
 * could not be allocated) or not.
 */
int vv_freeze_session_open(struct vv_freeze_session *s, const struct vv_freeze_plan *plan,
			   const struct vv_freeze_ops *ops_override);

/*
 * Arm the deadline, timeout_s from now, and fork the watchdog that owns it
 * (detached: it outlives the caller). marker_path is removed by the
 * watchdog after its thaw and must outlive the session. 0, or -errno with
 * nothing forked: then nothing may be frozen.
 */
int vv_freeze_session_arm(struct vv_freeze_session *s, int timeout_s, const char *marker_path,
			  bool detached);

/*
 * Write the frozen-state marker: the mounts, the watchdog and, unless
 * detached, this process as the agent. 0 or -errno.
 */
int vv_freeze_session_mark(struct vv_freeze_session *s);

/* Freeze every target; from here a thaw is owed. */
void vv_freeze_session_freeze(struct vv_freeze_session *s);

/* Thaw once (later calls and a session never frozen: no-op). */
void vv_freeze_session_thaw(struct vv_freeze_session *s);

/*
 * Let the watchdog go. Attached: tell it the agent is done, wait for it
 * and collect what it did (s->wd). Detached: SIGTERM, on which it thaws
 * everything and removes the marker itself.
 */
void vv_freeze_session_disarm(struct vv_freeze_session *s);

/* Remove the marker if this session wrote it; the thaw is no longer owed. */
void vv_freeze_session_unmark(struct vv_freeze_session *s);

/*
 * Release the session. An attached watchdog still running is finished; a
 * detached one is left to its deadline (that is what `freeze` wants).
 */
void vv_freeze_session_close(struct vv_freeze_session *s);

#endif
