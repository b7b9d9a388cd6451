/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers shared by the local key-source tests (test_rsa_local, test_keystore,
 * test_bek, test_bek_volume, test_key_leak): temp dirs, files, shell commands.
 * Header-only so no other test links them.
 */
#ifndef VV_KEYSRC_HELPERS_H
#define VV_KEYSRC_HELPERS_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/secret.h"

/* A fresh 0700 directory under /tmp; the path is malloc'ed. */
static inline char *kt_mkdtemp(const char *tag)
{
	char *p = NULL;

	if (asprintf(&p, "/tmp/vv-%s-XXXXXX", tag) < 0)
		return NULL;
	if (!mkdtemp(p)) {
		free(p);
		return NULL;
	}
	return p;
}

/* Run a shell command built from fmt; returns its exit status (or -1). */
static inline __attribute__((format(printf, 1, 2))) int kt_sh(const char *fmt, ...)
{
	char *cmd = NULL;
	va_list ap;
	int st;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		cmd = NULL;
	va_end(ap);
	if (!cmd)
		return -1;
	st = system(cmd);
	free(cmd);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* Write len bytes to path with the given mode (exact, umask ignored). */
static inline int kt_write(const char *path, const void *buf, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, buf, len);
	if (fchmod(fd, mode) < 0 || n != (ssize_t)len) {
		close(fd);
		return -EIO;
	}
	return close(fd) < 0 ? -errno : 0;
}

/* Read a whole file into a malloc'ed buffer (NUL-terminated); NULL on error. */
static inline char *kt_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		size_t got;

		if (n + 4096 + 1 > cap) {
			char *nb = realloc(buf, cap = n + 8192);

			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

/*
 * Run a shell command and return its stdout (malloc'ed, trailing newlines
 * removed), or NULL when it fails.
 */
static inline __attribute__((format(printf, 1, 2))) char *kt_capture(const char *fmt, ...)
{
	char *cmd = NULL, *buf = NULL;
	size_t cap = 0, n = 0;
	va_list ap;
	FILE *p;
	int st;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		cmd = NULL;
	va_end(ap);
	if (!cmd || !(p = popen(cmd, "r"))) {
		free(cmd);
		return NULL;
	}
	for (;;) {
		if (n + 1024 + 1 > cap) {
			char *nb = realloc(buf, cap = n + 4096);

			if (!nb)
				break;
			buf = nb;
		}
		size_t got = fread(buf + n, 1, cap - n - 1, p);

		n += got;
		if (got == 0)
			break;
	}
	st = pclose(p);
	free(cmd);
	if (!buf || st != 0) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return buf;
}

/* rm -rf a test directory (only ever one we made under /tmp). */
static inline void kt_rmrf(const char *dir)
{
	if (dir && strncmp(dir, "/tmp/vv-", 8) == 0)
		kt_sh("rm -rf '%s'", dir);
}

/* cmocka teardown body of a fixture that owns a kt_mkdtemp() dir. */
static inline int kt_fixture_done(char *dir, void *fixture)
{
	kt_rmrf(dir);
	free(dir);
	free(fixture);
	return 0;
}

/* cmocka teardown of a fixture whose first member is its kt_mkdtemp() dir. */
static inline int kt_dir_teardown(void **state)
{
	char **dir = *state;	/* a struct's address is its first member's */

	return kt_fixture_done(*dir, *state);
}

/* A fresh RSA-2048 private key (PEM, 0600) at path; 0 on success. */
static inline int kt_genrsa(const char *path)
{
	return kt_sh("umask 077 && openssl genpkey -quiet -algorithm RSA "
		     "-pkeyopt rsa_keygen_bits:2048 -out %s", path);
}

/* n bytes of the pattern i * mul + add: a key a test can tell from others. */
static inline struct vv_secret *kt_pattern_key(size_t n, unsigned int mul, unsigned int add)
{
	struct vv_secret *s = vv_secret_new(n);

	for (size_t i = 0; i < n; i++)
		s->data[i] = (unsigned char)(i * mul + add);
	s->len = n;
	return s;
}

#endif
