/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Small file-tree helpers for the snapshot unit tests (header-only). */
#ifndef VV_SNAP_TEST_UTIL_H
#define VV_SNAP_TEST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static inline long long snap_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* mkdir -p of root/rel. */
static inline void snap_mkdirs(const char *root, const char *rel)
{
	char path[2 * PATH_MAX + 2];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	mkdir(path, 0755);
}

/* root/rel into path, its parents created and the old file removed. */
static inline void snap_place(const char *root, const char *rel, char *path, size_t len)
{
	char dir[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", rel);
	slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		snap_mkdirs(root, dir);
	}
	snprintf(path, len, "%s/%s", root, rel);
	unlink(path);
}

/* Print fmt to path, opened with mode ("w", "a"); false when it cannot be. */
static inline bool snap_vprint(const char *path, const char *mode, const char *fmt, va_list ap)
{
	FILE *f = fopen(path, mode);

	if (!f)
		return false;
	vfprintf(f, fmt, ap);
	fclose(f);
	return true;
}

/* Write text to root/rel (parents created) with mode. */
static inline void snap_write(const char *root, const char *rel, mode_t mode, const char *fmt, ...)
{
	char path[2 * PATH_MAX + 2];
	va_list ap;
	bool ok;

	snap_place(root, rel, path, sizeof(path));
	va_start(ap, fmt);
	ok = snap_vprint(path, "w", fmt, ap);
	va_end(ap);
	if (ok)
		chmod(path, mode);
}

/* root/rel -> target (a symlink; parents created). */
static inline void snap_symlink(const char *root, const char *rel, const char *target)
{
	char path[2 * PATH_MAX + 2];

	snap_place(root, rel, path, sizeof(path));
	(void)!symlink(target, path);
}

static inline char *snap_read(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = calloc(1, 65536);
	n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static inline void snap_rm_rf(const char *dir)
{
	char cmd[PATH_MAX + 16];

	if (!dir || strncmp(dir, "/tmp/", 5) != 0)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	(void)!system(cmd);
}

#endif
