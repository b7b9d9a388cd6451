// SPDX-License-Identifier: GPL-2.0-or-later
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

/* Process-wide logging configuration: written at start-up only. */
static enum vv_log_level log_level = VV_LOG_INFO;
static int log_fd = -1;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t journal_once = PTHREAD_ONCE_INIT;
static bool to_journal;
static vv_log_sink log_sink;
static void *log_sink_ctx;

void vv_log_set_level(enum vv_log_level lvl)
{
	log_level = lvl;
}

void vv_log_set_sink(vv_log_sink sink, void *ctx)
{
	pthread_mutex_lock(&log_lock);
	log_sink = sink;
	log_sink_ctx = ctx;
	pthread_mutex_unlock(&log_lock);
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

/*
 * systemd sets JOURNAL_STREAM=DEV:INODE for a service whose stderr is the
 * journal; a program that finds its stderr is that stream should log
 * natively (systemd.exec(5)). A child whose stderr was redirected (waagent
 * runs the handler with its own files) inherits the variable but not the
 * stream, so the comparison, not the variable, decides.
 */
static void journal_detect(void)
{
	unsigned long long dev, ino;
	const char *e = getenv("JOURNAL_STREAM");
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return;
	if (fstat(STDERR_FILENO, &st) < 0)
		return;
	to_journal = (unsigned long long)st.st_dev == dev &&
		     (unsigned long long)st.st_ino == ino;
}

bool vv_log_journal(void)
{
	pthread_once(&journal_once, journal_detect);
	return to_journal;
}

/* One field "NAME=value" into iov[*n], allocated whole (freed by the caller). */
static void field(struct iovec *iov, size_t *n, const char *name, const char *value)
{
	char *b;

	if (!value || !*value || asprintf(&b, "%s=%s", name, value) < 0)
		return;
	iov[*n].iov_base = b;
	iov[*n].iov_len = strlen(b);
	(*n)++;
}

static int journal_send(enum vv_log_level lvl, const struct vv_log_fields *f,
			const char *msg)
{
	static const char *const prio[] = { "3", "4", "6", "7" };
	struct iovec iov[8];
	size_t n = 0;
	int r;

	field(iov, &n, "MESSAGE", msg);
	field(iov, &n, "PRIORITY", prio[lvl]);
	field(iov, &n, "SYSLOG_IDENTIFIER", "vaultvol");
	if (f) {
		field(iov, &n, "MESSAGE_ID", f->message_id);
		field(iov, &n, "VAULTVOL_VOLUME", f->volume);
		field(iov, &n, "VAULTVOL_KEY_REF", f->key_ref);
		field(iov, &n, "VAULTVOL_CAUSE", f->cause);
	}
	r = n ? sd_journal_sendv(iov, (int)n) : -ENOMEM;
	while (n)
		free(iov[--n].iov_base);
	return r;
}

static void vv_logv(enum vv_log_level lvl, const struct vv_log_fields *f,
		    const char *fmt, va_list ap)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	char small[2048], *msg = small, *big = NULL;
	va_list again;
	int len;

	if (lvl > log_level)
		return;
	/* A long message (a vault's own, a helper's stderr) is kept whole. */
	va_copy(again, ap);
	len = vsnprintf(small, sizeof(small), fmt, ap);
	if (len >= (int)sizeof(small) && (big = malloc((size_t)len + 1))) {
		vsnprintf(big, (size_t)len + 1, fmt, again);
		msg = big;
	}
	va_end(again);
	pthread_once(&journal_once, journal_detect);

	pthread_mutex_lock(&log_lock);
	if (log_sink) {
		log_sink(lvl, msg, log_sink_ctx);
		goto out;
	}
	if (to_journal && journal_send(lvl, f, msg) >= 0)
		;	/* the journal has it, with its fields */
	else if (lvl <= VV_LOG_WARN || log_level >= VV_LOG_DEBUG)
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
out:
	pthread_mutex_unlock(&log_lock);
	free(big);
}

void vv_log(enum vv_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vv_logv(lvl, NULL, fmt, ap);
	va_end(ap);
}

void vv_log_with(enum vv_log_level lvl, const struct vv_log_fields *f,
		 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vv_logv(lvl, f, fmt, ap);
	va_end(ap);
}
