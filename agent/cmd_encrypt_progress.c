// SPDX-License-Identifier: GPL-2.0-or-later
/* The progress line of `vaultvol encrypt` (see the header). */
#include "agent/cmd_encrypt_progress.h"

#include <stdio.h>
#include <string.h>

void vv_progress_init(struct vv_progress *pg, bool tty)
{
	memset(pg, 0, sizeof(*pg));
	pg->tty = tty;
	pg->last_step = -1;
}

static int step_of(uint64_t done, uint64_t total)
{
	return total ? (int)((done * 10) / total) : 10;
}

bool vv_progress_due(struct vv_progress *pg, uint64_t done, uint64_t total, double now)
{
	bool due;

	if (!pg->started) {
		pg->started = true;
		pg->start = now;
		pg->start_done = done;
		due = true;
	} else if (done >= total) {
		due = !pg->ended;
	} else if (pg->tty) {
		due = now - pg->last >= VV_PROGRESS_TTY_PERIOD;
	} else {
		due = now - pg->last >= VV_PROGRESS_LINE_PERIOD ||
		      step_of(done, total) > pg->last_step;
	}
	if (due) {
		pg->last = now;
		pg->last_step = step_of(done, total);
		if (done >= total)
			pg->ended = true;
	}
	return due;
}

char *vv_progress_format(const struct vv_progress *pg, uint64_t done, uint64_t total,
			 double now, char *buf, size_t len)
{
	double pct = total ? 100.0 * (double)done / (double)total : 100.0;
	double secs = now - pg->start, rate = 0;
	char eta[32];

	if (done > total)
		done = total;
	if (pct > 100.0)
		pct = 100.0;
	if (secs > 0 && done > pg->start_done)
		rate = (double)(done - pg->start_done) / secs;
	if (rate > 0) {
		unsigned long left = (unsigned long)((double)(total - done) / rate + 0.5);

		if (left >= 3600)
			snprintf(eta, sizeof(eta), "%lu:%02lu:%02lu", left / 3600, left / 60 % 60,
				 left % 60);
		else
			snprintf(eta, sizeof(eta), "%lu:%02lu", left / 60, left % 60);
	} else {
		snprintf(eta, sizeof(eta), "-:--");
	}
	snprintf(buf, len, "%5.1f%% %.1f MiB/s ETA %s", pct, rate / (1024.0 * 1024.0), eta);
	return buf;
}
