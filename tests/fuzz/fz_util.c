// SPDX-License-Identifier: GPL-2.0-or-later
/* Helpers shared by the libFuzzer harnesses (see fz_util.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/fuzz/fz_util.h"
#include "base/log.h"

static char scratch[PATH_MAX];

void fz_split(const uint8_t *data, size_t size, struct fz_parts *p)
{
	size_t sl = strlen(FZ_SEP);
	char *s, *end;

	memset(p, 0, sizeof(*p));
	p->buf = fz_strndup(data, size);
	if (!p->buf)
		abort();
	s = p->buf;
	end = p->buf + size;
	for (;;) {
		char *e = p->n + 1 < FZ_MAX_PARTS ? memmem(s, (size_t)(end - s), FZ_SEP, sl) : NULL;

		p->part[p->n] = s;
		p->len[p->n] = e ? (size_t)(e - s) : (size_t)(end - s);
		p->n++;
		if (!e)
			break;
		*e = '\0';
		s = e + sl;
	}
}

void fz_parts_free(struct fz_parts *p)
{
	free(p->buf);
	memset(p, 0, sizeof(*p));
}

char *fz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

static void rm_scratch(void)
{
	char cmd[PATH_MAX + 16];

	if (!strstr(scratch, "/vv-fuzz-"))
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", scratch);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz: could not remove %s\n", scratch);
}

const char *fz_dir(const char *name)
{
	if (!scratch[0]) {
		/* tmpfs when there is one: rewriting a file per input stays cheap. */
		struct stat st;
		const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";

		snprintf(scratch, sizeof(scratch), "%s/vv-fuzz-%s-%d", base, name, (int)getpid());
		if (mkdir(scratch, 0700) < 0 && errno != EEXIST)
			abort();
		atexit(rm_scratch);
	}
	return scratch;
}

static int mkparents(char *path)
{
	for (char *p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST) {
			*p = '/';
			return -errno;
		}
		*p = '/';
	}
	return 0;
}

int fz_write(const char *dir, const char *rel, const void *data, size_t len)
{
	char path[PATH_MAX];
	const char *p = data;
	int fd, r = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	r = mkparents(path);
	if (r < 0)
		return r;
	/* A new file each time: truncating the old one can wait for writeback. */
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			r = -errno;
			break;
		}
		p += w;
		len -= (size_t)w;
	}
	close(fd);
	return r;
}

void fz_unlink(const char *dir, const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	unlink(path);
}

void fz_quiet(void)
{
	setenv("VV_TEST_BACKOFF_SCALE", "0", 1);
}

/*
 * Linked with --wrap=vv_log: every message is still formatted (a bad
 * format argument still trips the sanitizers) but none reaches stderr,
 * which stays free for the sanitizers' reports.
 */
void __wrap_vv_log(enum vv_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void __wrap_vv_log(enum vv_log_level lvl, const char *fmt, ...)
{
	static char sink[4096];
	va_list ap;

	(void)lvl;
	va_start(ap, fmt);
	vsnprintf(sink, sizeof(sink), fmt, ap);
	va_end(ap);
}

void __wrap_vv_log_with(enum vv_log_level lvl, const struct vv_log_fields *f,
			const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void __wrap_vv_log_with(enum vv_log_level lvl, const struct vv_log_fields *f,
			const char *fmt, ...)
{
	static char sink[4096];
	va_list ap;

	(void)lvl;
	(void)f;
	va_start(ap, fmt);
	vsnprintf(sink, sizeof(sink), fmt, ap);
	va_end(ap);
}
