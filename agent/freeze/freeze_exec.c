// SPDX-License-Identifier: GPL-2.0-or-later
/* Freezing and thawing a plan: parallel waves, FIFREEZE/FITHAW. */
#include "agent/freeze/freeze_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/* Nested freezes are rare; this only bounds a misbehaving kernel. */
#define THAW_REPEAT_MAX 64

long long vv_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *vv_freeze_state_name(enum vv_freeze_state s)
{
	switch (s) {
	case VV_FZ_PENDING: return "not-attempted";
	case VV_FZ_FROZEN: return "frozen";
	case VV_FZ_BUSY: return "already-frozen";
	case VV_FZ_UNSUPPORTED: return "unsupported";
	case VV_FZ_FAILED: return "failed";
	case VV_FZ_DEADLINE: return "deadline-passed";
	}
	return "unknown";
}

int vv_thaw_fd(int fd, int *count)
{
	int n = 0;

	*count = 0;
	for (int i = 0; i < THAW_REPEAT_MAX; i++) {
		if (ioctl(fd, FITHAW, 0) == 0) {
			n++;
			continue;
		}
		*count = n;
		/* EINVAL: not frozen (any more); that is where we want to be. */
		return errno == EINVAL ? 0 : -errno;
	}
	*count = n;
	return 0;
}

static int ioctl_freeze(struct vv_freeze_target *t, unsigned timeout_ms)
{
	(void)timeout_ms;
	return ioctl(t->fd, FIFREEZE, 0) == 0 ? 0 : -errno;
}

static int ioctl_thaw(struct vv_freeze_target *t, int *count)
{
	return vv_thaw_fd(t->fd, count);
}

const struct vv_freeze_ops vv_freeze_ioctl_ops = {
	.name = "ioctl",
	.freeze = ioctl_freeze,
	.thaw = ioctl_thaw,
};

int vv_freezer_open(struct vv_freezer *fz, const struct vv_freeze_plan *plan,
		    const struct vv_freeze_ops *ops_override)
{
	memset(fz, 0, sizeof(*fz));
	fz->n_waves = plan->n_waves;
	if (!plan->n)
		return 0;
	fz->t = calloc(plan->n, sizeof(*fz->t));
	if (!fz->t)
		return -ENOMEM;
	fz->n = plan->n;
	for (size_t i = 0; i < plan->n; i++) {
		struct vv_freeze_target *t = &fz->t[i];

		t->fs = &plan->fs[i];
		t->fd = -1;
		if (ops_override) {
			t->ops = ops_override;
			continue;
		}
		t->ops = vv_freeze_quiesce_ops(t->fs, &t->dm_name);
		if (!t->ops)
			t->ops = &vv_freeze_ioctl_ops;
		/*
		 * Opened now, before anything is frozen: a path walk later
		 * could need to read a directory of a frozen filesystem that
		 * is fine, but atime or automount work would not be.
		 */
		t->fd = open(t->fs->target, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOATIME);
		if (t->fd < 0 && errno == EPERM)
			t->fd = open(t->fs->target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (t->fd < 0) {
			t->err = -errno;
			t->state = VV_FZ_FAILED;
		}
	}
	return 0;
}

struct wave_job {
	struct vv_freezer *fz;
	size_t idx;
	pthread_t th;
	bool started;
};

static void freeze_one(struct vv_freezer *fz, size_t idx)
{
	struct vv_freeze_target *t = &fz->t[idx];
	long long now = vv_clock_ms();
	long long left = fz->deadline_ms ? fz->deadline_ms - now : 3600000;
	int r;

	if (t->state != VV_FZ_PENDING)
		return;
	if (left <= 0) {
		t->state = VV_FZ_DEADLINE;
		t->err = -ETIME;
		return;
	}
	t->freeze_start_ms = now;
	r = t->ops->freeze(t, (unsigned)(left > 3600000 ? 3600000 : left));
	t->freeze_end_ms = vv_clock_ms();
	t->err = r;
	if (r == 0)
		t->state = VV_FZ_FROZEN;
	else if (r == -EBUSY)
		t->state = VV_FZ_BUSY;
	else if (r == -EOPNOTSUPP || r == -ENOTTY)
		t->state = VV_FZ_UNSUPPORTED;
	else
		t->state = VV_FZ_FAILED;
	if (t->state == VV_FZ_BUSY && fz->on_busy)
		fz->on_busy(fz->on_busy_ctx, idx);
}

static void *freeze_thread(void *arg)
{
	struct wave_job *j = arg;

	freeze_one(j->fz, j->idx);
	return NULL;
}

int vv_freezer_freeze(struct vv_freezer *fz)
{
	struct wave_job *jobs;
	int not_frozen = 0;

	if (!fz->n)
		return 0;
	jobs = calloc(fz->n, sizeof(*jobs));
	if (!jobs)
		return (int)fz->n;
	fz->first_freeze_ms = vv_clock_ms();
	for (int w = 0; w < fz->n_waves; w++) {
		size_t first = (size_t)-1, count = 0;

		for (size_t i = 0; i < fz->n; i++)
			if (fz->t[i].fs->wave == w) {
				if (first == (size_t)-1)
					first = i;
				count++;
			}
		if (!count)
			continue;
		/* One member: no thread needed. */
		if (count == 1) {
			freeze_one(fz, first);
			continue;
		}
		for (size_t i = 0; i < fz->n; i++) {
			if (fz->t[i].fs->wave != w)
				continue;
			jobs[i].fz = fz;
			jobs[i].idx = i;
			jobs[i].started = pthread_create(&jobs[i].th, NULL, freeze_thread, &jobs[i]) == 0;
			if (!jobs[i].started)	/* no thread: do it here, serially */
				freeze_one(fz, i);
		}
		for (size_t i = 0; i < fz->n; i++)
			if (fz->t[i].fs->wave == w && jobs[i].started)
				pthread_join(jobs[i].th, NULL);
	}
	free(jobs);
	fz->all_frozen_ms = vv_clock_ms();
	for (size_t i = 0; i < fz->n; i++)
		if (fz->t[i].state != VV_FZ_FROZEN && fz->t[i].state != VV_FZ_BUSY)
			not_frozen++;
	return not_frozen;
}

int vv_freezer_thaw(struct vv_freezer *fz)
{
	int errors = 0;

	fz->thaw_start_ms = vv_clock_ms();
	/* Reverse plan order is reverse wave order: parents before children. */
	for (size_t k = fz->n; k-- > 0;) {
		struct vv_freeze_target *t = &fz->t[k];
		int r;

		/* Someone else's freeze (EBUSY) is theirs to end. */
		if (t->state != VV_FZ_FROZEN)
			continue;
		r = t->ops->thaw(t, &t->thaw_count);
		t->thaw_end_ms = vv_clock_ms();
		t->thaw_err = r;
		if (r)
			errors++;
		else if (t->thaw_count == 0)
			t->thawed_elsewhere = true;
		if (t->ops->figures)
			t->ops->figures(t);
	}
	fz->last_thaw_ms = vv_clock_ms();
	return errors;
}

bool vv_freezer_all_frozen(const struct vv_freezer *fz)
{
	for (size_t i = 0; i < fz->n; i++)
		if (fz->t[i].state != VV_FZ_FROZEN && fz->t[i].state != VV_FZ_BUSY)
			return false;
	return true;
}

void vv_freezer_close(struct vv_freezer *fz)
{
	for (size_t i = 0; i < fz->n; i++) {
		if (fz->t[i].fd >= 0)
			close(fz->t[i].fd);
		free(fz->t[i].dm_name);
	}
	free(fz->t);
	memset(fz, 0, sizeof(*fz));
}
