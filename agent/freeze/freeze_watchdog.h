/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The freeze watchdog: a process forked before the first freeze that owns
 * the deadline when no kernel enforces it. It inherits the mount-point fds
 * and thaws everything:
 *   - at the deadline (then keeps re-thawing until the agent is done, so a
 *     freeze that was still in flight cannot stay behind),
 *   - when the agent dies, even by SIGKILL (EOF on their socket; also
 *     PR_SET_PDEATHSIG),
 *   - on any signal it receives (SIGTERM, SIGINT, SIGHUP, ...),
 * and then removes the frozen-state marker. When the agent finishes
 * normally it thaws itself and says "done"; the watchdog then only sweeps
 * (a thaw of something not frozen is a no-op) and exits.
 *
 * Detached mode (`vaultvol freeze`): the watchdog outlives its caller
 * (double fork, own session, stdio on /dev/null); only the deadline or a
 * signal (`vaultvol thaw` sends SIGTERM) ends it.
 *
 * After fork the child runs only system calls and the thaw callback, which
 * must not need locks another thread could hold (FITHAW on an fd, a dm
 * message).
 */
#ifndef VV_WATCHDOG_H
#define VV_WATCHDOG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct vv_watchdog_cfg {
	size_t n;				/* targets, 0..n-1 */
	/* Thaw target idx; returns thaws done (>= 0) or -errno. */
	int (*thaw)(void *ctx, size_t idx);
	void *ctx;
	long long deadline_ms;			/* vv_clock_ms() value */
	const char *marker_path;		/* removed after its thaw; may be NULL */
	bool detached;
	const int *keep_fds;			/* fds the thaw needs; others closed */
	size_t n_keep;
	/*
	 * Run in the child first, before inherited fds are closed: a library
	 * the thaw uses may cache an fd (libdevmapper's control node) that it
	 * must drop and reopen. May be NULL.
	 */
	void (*child_init)(void);
};

/* Why the watchdog thawed (or did not). */
enum vv_wd_cause {
	VV_WD_NONE = 0,		/* the agent finished first */
	VV_WD_DEADLINE,
	VV_WD_AGENT_DIED,
	VV_WD_SIGNAL,
};

const char *vv_wd_cause_name(enum vv_wd_cause c);

struct vv_watchdog {
	pid_t pid;
	int sock;		/* agent's end; -1 in detached mode after start */
	/* Filled by vv_watchdog_poll/finish from its messages. */
	enum vv_wd_cause cause;
	long long thawed_at_ms;	/* vv_clock_ms() when it thawed */
	int thaws;		/* thaws that took effect in its first sweep */
	int term_signal;	/* set by finish: the signal that killed it, 0 if it exited */
};

/* Fork the watchdog. 0, or -errno (nothing forked). */
int vv_watchdog_start(const struct vv_watchdog_cfg *cfg, struct vv_watchdog *wd);

/* Target idx was frozen by someone else: the watchdog must not thaw it. */
int vv_watchdog_note_busy(struct vv_watchdog *wd, size_t idx);

/* Read pending messages without blocking; true when it has thawed. */
bool vv_watchdog_poll(struct vv_watchdog *wd);

/*
 * The agent has thawed: tell the watchdog, wait for it to exit and collect
 * what it did. 0, or -errno.
 */
int vv_watchdog_finish(struct vv_watchdog *wd);

/* Thaw callback for an array of fds (ctx: int *), FITHAW until EINVAL. */
int vv_watchdog_thaw_fds(void *ctx, size_t idx);

#endif
