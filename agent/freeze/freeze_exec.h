/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Carrying out a freeze plan: open every mount point first (no path lookup
 * once something is frozen), freeze wave by wave with one thread per
 * filesystem inside a wave, thaw the waves in reverse.
 *
 * Each filesystem is frozen by a method (struct vv_freeze_ops): the FIFREEZE
 * ioctl, or, when the filesystem sits on a dm-quiesce mapping and the module
 * is loaded, the target's kernel-deadline freeze (freeze_quiesce.c). Tests
 * substitute their own ops, so no unit test freezes a real filesystem.
 */
#ifndef VV_FREEZE_EXEC_H
#define VV_FREEZE_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/freeze/freeze_plan.h"

enum vv_freeze_state {
	VV_FZ_PENDING = 0,	/* not attempted */
	VV_FZ_FROZEN,		/* frozen by us */
	VV_FZ_BUSY,		/* already frozen by someone else (EBUSY) */
	VV_FZ_UNSUPPORTED,	/* the filesystem cannot freeze (EOPNOTSUPP) */
	VV_FZ_FAILED,		/* another error */
	VV_FZ_DEADLINE,		/* not attempted: the deadline had passed */
};

const char *vv_freeze_state_name(enum vv_freeze_state s);

struct vv_freeze_target;

struct vv_freeze_ops {
	const char *name;	/* "ioctl", "quiesce" */
	/* 0, or -errno. timeout_ms: what is left of the deadline. */
	int (*freeze)(struct vv_freeze_target *t, unsigned timeout_ms);
	/*
	 * Undo every freeze of ours: 0 with *count = thaws that took effect
	 * (0 when it was no longer frozen), or -errno. Must also work in a
	 * forked watchdog (no threads, no locks held).
	 */
	int (*thaw)(struct vv_freeze_target *t, int *count);
	/* After the thaw: the method's own figures (may be NULL). */
	void (*figures)(struct vv_freeze_target *t);
};

struct vv_freeze_target {
	const struct vv_fs *fs;		/* in the plan; outlives the freezer */
	int fd;				/* O_RDONLY directory fd of the mount */
	const struct vv_freeze_ops *ops;
	char *dm_name;			/* quiesce mapping name, else NULL */
	void *test_ctx;			/* for test ops */

	enum vv_freeze_state state;
	int err;			/* -errno of the freeze, 0 when frozen */
	long long freeze_start_ms, freeze_end_ms;	/* vv_clock_ms() */
	int thaw_count;			/* thaws that took effect */
	int thaw_err;			/* -errno of the thaw */
	long long thaw_end_ms;
	bool thawed_elsewhere;		/* ours was already gone at thaw time */

	/* dm-quiesce figures (method "quiesce" only). */
	bool q_valid;
	uint64_t q_last_freeze_us;	/* the kernel's measure of the freeze */
	uint64_t q_expiries_before, q_expiries_after;
};

struct vv_freezer {
	struct vv_freeze_target *t;	/* plan order: by wave */
	size_t n;
	int n_waves;
	long long deadline_ms;		/* vv_clock_ms() value; 0 = none */
	/* Called (from the freezing thread) when a target turns out busy. */
	void (*on_busy)(void *ctx, size_t idx);
	void *on_busy_ctx;

	long long flush_ms;		/* vv_freezer_flush's wait */
	long long first_freeze_ms;	/* start of the first freeze call */
	long long all_frozen_ms;	/* end of the last freeze call */
	long long thaw_start_ms, last_thaw_ms;
};

/* CLOCK_BOOTTIME in ms: keeps counting while the VM is suspended. */
long long vv_clock_ms(void);

/* The FIFREEZE method. */
extern const struct vv_freeze_ops vv_freeze_ioctl_ops;

/*
 * FITHAW repeated until the filesystem says it is not frozen (EINVAL),
 * undoing nested freezes: 0 with *count thaws done, or -errno.
 */
int vv_thaw_fd(int fd, int *count);

/*
 * Open the mount points of every planned filesystem and choose each one's
 * method: ops_override for all when given (tests), else dm-quiesce where
 * it applies, else the ioctl. A mount point that cannot be opened makes the
 * target FAILED (it is then skipped) rather than failing everything.
 */
int vv_freezer_open(struct vv_freezer *fz, const struct vv_freeze_plan *plan,
		    const struct vv_freeze_ops *ops_override);

/*
 * syncfs(2) every planned filesystem, in parallel, before anything is
 * frozen, waiting at most max_ms (freeze_flush.c says why). Sets flush_ms.
 */
void vv_freezer_flush(struct vv_freezer *fz, unsigned max_ms);

/*
 * Freeze wave by wave, in parallel inside a wave. Returns the number of
 * targets that are not frozen (FROZEN or BUSY count as frozen); 0 = all.
 */
int vv_freezer_freeze(struct vv_freezer *fz);

/* Thaw in reverse wave order. Returns the number of thaw errors. */
int vv_freezer_thaw(struct vv_freezer *fz);

void vv_freezer_close(struct vv_freezer *fz);

/* Are all targets FROZEN or BUSY? (vacuously true when there are none) */
bool vv_freezer_all_frozen(const struct vv_freezer *fz);

/*
 * For a forked watchdog: drop what the methods cached in the parent (the
 * device-mapper control fd) so they reopen it in the child.
 */
void vv_freeze_after_fork(void);

/*
 * The dm-quiesce method for fs when it applies (its own block device is a
 * quiesce mapping and the module is loaded), with *dm_name set; else NULL.
 */
const struct vv_freeze_ops *vv_freeze_quiesce_ops(const struct vv_fs *fs, char **dm_name);

#endif
