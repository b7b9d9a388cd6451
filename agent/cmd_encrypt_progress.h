/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `vaultvol encrypt`'s progress report: on a terminal one line rewritten
 * in place, otherwise a plain line every 5 s or every 10 %. Pure: the
 * caller gives the clock, so the unit tests can.
 */
#ifndef VV_CMD_ENCRYPT_PROGRESS_H
#define VV_CMD_ENCRYPT_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VV_PROGRESS_TTY_PERIOD 0.25	/* s between rewrites of the terminal line */
#define VV_PROGRESS_LINE_PERIOD 5.0	/* s between plain lines */

struct vv_progress {
	bool tty;
	bool started;
	double start;		/* clock at the first report */
	uint64_t start_done;	/* bytes done then (a resumed run starts above 0) */
	double last;		/* clock at the last line printed */
	int last_step;		/* 10 % step of the last plain line */
	bool ended;		/* the 100 % line was printed */
};

void vv_progress_init(struct vv_progress *pg, bool tty);

/*
 * Is a line due at clock now with done of total bytes? The first report
 * and the end always are; then every VV_PROGRESS_TTY_PERIOD on a
 * terminal, else every VV_PROGRESS_LINE_PERIOD or on a new 10 % step.
 * Records the line as printed when it answers true.
 */
bool vv_progress_due(struct vv_progress *pg, uint64_t done, uint64_t total, double now);

/*
 * "42.0% 312.5 MiB/s ETA 0:03" into buf: percent of total, the rate since
 * the first report, the time left at that rate ("ETA -:--" before a rate
 * is known). Returns buf.
 */
char *vv_progress_format(const struct vv_progress *pg, uint64_t done, uint64_t total,
			 double now, char *buf, size_t len);

#endif
