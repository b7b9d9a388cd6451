// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * One freeze session (freeze_session.h): the steps `snapshot` and `freeze`
 * share, so the deadline is armed and the marker written the same way
 * before anything is frozen, whoever freezes.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/freeze/freeze_session.h"
#include "base/writefile.h"

/*
 * Watchdog thaw callback: runs in the forked watchdog, on its copy of the
 * freezer taken before the freeze. A mount point that could not be opened
 * has nothing of ours to thaw.
 */
static int session_wd_thaw(void *ctx, size_t idx)
{
	struct vv_freezer *fz = ctx;
	struct vv_freeze_target *t = &fz->t[idx];
	int count = 0, r;

	if (t->state == VV_FZ_FAILED && t->fd < 0 && !t->dm_name)
		return 0;
	r = t->ops->thaw(t, &count);
	return r ? r : count;
}

/* Someone else's freeze: the attached watchdog must leave it alone. */
static void session_on_busy(void *ctx, size_t idx)
{
	struct vv_freeze_session *s = ctx;

	if (s->wd_on)
		vv_watchdog_note_busy(&s->wd, idx);
}

int vv_freeze_session_open(struct vv_freeze_session *s, const struct vv_freeze_plan *plan,
			   const struct vv_freeze_ops *ops_override)
{
	int r;

	memset(s, 0, sizeof(*s));
	r = vv_freezer_open(&s->fz, plan, ops_override);
	if (r)
		return r;
	s->fz_open = true;
	if (!s->fz.n)
		return 0;
	s->keep_fds = calloc(s->fz.n, sizeof(*s->keep_fds));
	s->mk.m = calloc(s->fz.n, sizeof(*s->mk.m));
	if (!s->keep_fds || !s->mk.m)
		return -ENOMEM;
	for (size_t i = 0; i < s->fz.n; i++) {
		s->keep_fds[i] = s->fz.t[i].fd;
		s->mk.m[i].target = (char *)s->fz.t[i].fs->target;
		s->mk.m[i].devno = s->fz.t[i].fs->devno;
		s->mk.m[i].dm_name = s->fz.t[i].dm_name;
	}
	s->mk.n = s->fz.n;
	return 0;
}

int vv_freeze_session_arm(struct vv_freeze_session *s, int timeout_s, const char *marker_path,
			  bool detached)
{
	struct vv_watchdog_cfg cfg = { 0 };
	int r;

	/*
	 * Write back what is dirty while writers still run, so that the
	 * freeze's own write-back is short; before the deadline starts, which
	 * bounds the time writers are blocked, not this.
	 */
	vv_freezer_flush(&s->fz, timeout_s > 0 ? (unsigned)timeout_s * 1000 : 0);
	/* The deadline is armed here, before anything is frozen. */
	s->deadline_ms = vv_clock_ms() + (long long)timeout_s * 1000;
	s->fz.deadline_ms = s->deadline_ms;
	s->detached = detached;
	s->marker = marker_path;
	cfg.n = s->fz.n;
	cfg.thaw = session_wd_thaw;
	cfg.ctx = &s->fz;
	cfg.deadline_ms = s->deadline_ms;
	cfg.marker_path = marker_path;
	cfg.detached = detached;
	cfg.keep_fds = s->keep_fds;
	cfg.n_keep = s->fz.n;
	cfg.child_init = vv_freeze_after_fork;
	r = vv_watchdog_start(&cfg, &s->wd);
	if (r)
		return r;
	s->wd_on = true;
	/* A detached watchdog has no line back to us. */
	if (!detached) {
		s->fz.on_busy = session_on_busy;
		s->fz.on_busy_ctx = s;
	}
	return 0;
}

int vv_freeze_session_mark(struct vv_freeze_session *s)
{
	int r;

	if (!s->detached) {
		s->mk.agent_pid = getpid();
		s->mk.agent_start = vv_proc_starttime(s->mk.agent_pid);
	}
	s->mk.wd_pid = s->wd.pid;
	s->mk.wd_start = vv_proc_starttime(s->wd.pid);
	s->mk.deadline_ms = s->deadline_ms;
	s->mk.created = (long long)time(NULL);
	vv_boot_id(s->mk.boot_id);
	r = vv_marker_write(s->marker, &s->mk);
	if (!r)
		s->marker_on = true;
	return r;
}

void vv_freeze_session_freeze(struct vv_freeze_session *s)
{
	s->frozen = true;
	vv_freezer_freeze(&s->fz);
}

void vv_freeze_session_thaw(struct vv_freeze_session *s)
{
	if (!s->frozen || s->thawed)
		return;
	vv_freezer_thaw(&s->fz);
	s->thawed = true;
}

void vv_freeze_session_disarm(struct vv_freeze_session *s)
{
	if (!s->wd_on)
		return;
	if (s->detached)
		kill(s->wd.pid, SIGTERM);
	else
		vv_watchdog_finish(&s->wd);
	s->wd_on = false;
}

void vv_freeze_session_unmark(struct vv_freeze_session *s)
{
	if (s->marker_on) {
		/* Durable: after a power cut, no marker says a finished freeze is on. */
		vv_file_unlink_durable(AT_FDCWD, s->marker);
		s->marker_on = false;
	}
	s->frozen = false;
}

void vv_freeze_session_close(struct vv_freeze_session *s)
{
	if (s->wd_on && !s->detached) {
		vv_watchdog_finish(&s->wd);
		s->wd_on = false;
	}
	if (s->fz_open) {
		vv_freezer_close(&s->fz);
		s->fz_open = false;
	}
	free(s->keep_fds);
	s->keep_fds = NULL;
	free(s->mk.m);
	s->mk.m = NULL;
}
