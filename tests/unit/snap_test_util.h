/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Small file-tree helpers for the snapshot unit tests (header-only). */
#ifndef VV_SNAP_TEST_UTIL_H
#define VV_SNAP_TEST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
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

/* Write text to root/rel (parents created) with mode. */
static inline void snap_write(const char *root, const char *rel, mode_t mode, const char *fmt, ...)
{
	char path[2 * PATH_MAX + 2], dir[PATH_MAX];
	va_list ap;
	FILE *f;
	char *slash;

	snprintf(dir, sizeof(dir), "%s", rel);
	slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		snap_mkdirs(root, dir);
	}
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	unlink(path);
	f = fopen(path, "w");
	if (!f)
		return;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
	chmod(path, mode);
}

/* root/rel -> target (a symlink; parents created). */
static inline void snap_symlink(const char *root, const char *rel, const char *target)
{
	char path[2 * PATH_MAX + 2], dir[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", rel);
	slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		snap_mkdirs(root, dir);
	}
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	unlink(path);
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
