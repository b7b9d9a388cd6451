// SPDX-License-Identifier: GPL-2.0-or-later
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

/* Process-wide logging configuration: written at start-up only. */
static enum vv_log_level log_level = VV_LOG_INFO;
static int log_fd = -1;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void vv_log_set_level(enum vv_log_level lvl)
{
	log_level = lvl;
}

enum vv_log_level vv_log_get_level(void)
{
	return log_level;
}

int vv_log_set_file(const char *path)
{
	int fd = -1;

	if (path) {
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
	}
	pthread_mutex_lock(&log_lock);
	if (log_fd >= 0)
		close(log_fd);
	log_fd = fd;
	pthread_mutex_unlock(&log_lock);
	return 0;
}

void vv_log(enum vv_log_level lvl, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	char msg[2048];
	va_list ap;

	if (lvl > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	pthread_mutex_lock(&log_lock);
	if (lvl <= VV_LOG_WARN || log_level >= VV_LOG_DEBUG)
		fprintf(stderr, "vaultvol: %s: %s\n", names[lvl], msg);
	else
		fprintf(stderr, "vaultvol: %s\n", msg);
	if (log_fd >= 0) {
		char ts[32];
		struct tm tm;
		time_t now = time(NULL);

		gmtime_r(&now, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
		dprintf(log_fd, "%s %s %s\n", ts, names[lvl], msg);
	}
	pthread_mutex_unlock(&log_lock);
}
