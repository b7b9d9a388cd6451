// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Flushing the planned filesystems before they are frozen.
 *
 * FIFREEZE blocks new writes first and then writes back everything dirty:
 * on a slow disk, or with much dirty data, that write-back alone can last
 * longer than the freeze deadline, with every writer already blocked (the
 * ioctl cannot be interrupted, so no watchdog can shorten it). A syncfs(2)
 * of each filesystem just before, while writers still run, leaves the
 * freeze only what was written in between. Filesystem freeze tools of the
 * field do the same (a sync before the freeze); here it is per filesystem,
 * so a filesystem we do not freeze (a hung network mount) cannot stall it.
 *
 * Bounded: the flushes run in their own threads and the caller waits at
 * most max_ms on the monotonic clock; a flush still running then is left
 * to finish by itself (the freeze's own sync waits for it).
 */
#include "agent/freeze/freeze_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* Shared by the caller and the threads; the last one out frees it. */
struct flush_ctx {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int pending;	/* flushes not finished */
	int refs;	/* threads alive + the caller */
};

struct flush_job {
	struct flush_ctx *ctx;
	int fd;		/* our own duplicate: the freezer may close its fd */
};

static void ctx_put_locked(struct flush_ctx *c)
{
	bool last = --c->refs == 0;

	pthread_mutex_unlock(&c->mu);
	if (last) {
		pthread_cond_destroy(&c->cv);
		pthread_mutex_destroy(&c->mu);
		free(c);
	}
}

static void *flush_thread(void *arg)
{
	struct flush_job *j = arg;
	struct flush_ctx *c = j->ctx;

	(void)syncfs(j->fd);	/* best effort: the freeze syncs again anyway */
	close(j->fd);
	free(j);
	pthread_mutex_lock(&c->mu);
	c->pending--;
	pthread_cond_signal(&c->cv);
	ctx_put_locked(c);
	return NULL;
}

static int start_one(struct flush_ctx *c, int fd)
{
	struct flush_job *j = malloc(sizeof(*j));
	pthread_attr_t attr;
	pthread_t th;
	int r;

	if (!j)
		return -ENOMEM;
	j->ctx = c;
	j->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (j->fd < 0) {
		r = -errno;
		free(j);
		return r;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_mutex_lock(&c->mu);
	c->pending++;
	c->refs++;
	r = -pthread_create(&th, &attr, flush_thread, j);
	if (r < 0) {
		c->pending--;
		c->refs--;
		close(j->fd);
		free(j);
	}
	pthread_mutex_unlock(&c->mu);
	pthread_attr_destroy(&attr);
	return r;
}

void vv_freezer_flush(struct vv_freezer *fz, unsigned max_ms)
{
	struct flush_ctx *c;
	pthread_condattr_t ca;
	struct timespec until;
	long long t0 = vv_clock_ms();

	if (!fz->n)
		return;
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	c->refs = 1;
	for (size_t i = 0; i < fz->n; i++)
		if (fz->t[i].fd >= 0 && fz->t[i].state == VV_FZ_PENDING &&
		    start_one(c, fz->t[i].fd) < 0)
			(void)syncfs(fz->t[i].fd);	/* no thread: here, unbounded */
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += max_ms / 1000;
	until.tv_nsec += (long)(max_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&c->mu);
	while (c->pending > 0)
		if (pthread_cond_timedwait(&c->cv, &c->mu, &until) == ETIMEDOUT)
			break;
	ctx_put_locked(c);
	fz->flush_ms = vv_clock_ms() - t0;
}
