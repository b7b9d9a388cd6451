/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Opening a file for reading when whoever controls its path may be hostile:
 * never through a symbolic link (O_NOFOLLOW), never blocking on a FIFO or a
 * device (O_NONBLOCK, then a regular file only), never larger than the
 * caller's limit, and, for files that steer root, owned by root and
 * protected from other writers. Every file vaultvol reads whole goes through
 * here (key files via vv_key_file_read, which is built on it). Files in
 * /proc, /sys and device nodes are not regular files and are read directly.
 */
#ifndef VV_READFILE_H
#define VV_READFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "base/error.h"

enum {
	/* Owned by root (or us), no group/other permission bits: key material. */
	VV_RF_PRIVATE = 1 << 0,
	/* Owned by root (or us), not group/other-writable: configuration, state. */
	VV_RF_TRUSTED = 1 << 2,
};

/* Owned by root or the effective uid and grants nothing to group or others. */
bool vv_stat_private(const struct stat *st, const char *what, struct vv_error *err);
/* Owned by root or the effective uid and not writable by group or others. */
bool vv_stat_trusted(const struct stat *st, const char *what, struct vv_error *err);

/*
 * Open path (relative to dirfd, or AT_FDCWD) for reading with O_NOFOLLOW and
 * O_NONBLOCK, and check on the descriptor that it is a regular file of at
 * most max bytes, with the ownership flags asks for. Returns the descriptor
 * (st filled) or -errno with err set: NOT_FOUND when it does not exist,
 * CONFIG otherwise; each message names the path, the cause and the fix.
 */
int vv_file_open_checked(int dirfd, const char *path, unsigned flags, size_t max,
			 struct stat *st, struct vv_error *err);

/* read() until cap bytes or end of file; *got is what was read. 0 or -errno. */
int vv_fd_read_full(int fd, void *buf, size_t cap, size_t *got);

/*
 * vv_file_open_checked, then the whole file into a new NUL-terminated
 * buffer (free()). A file that changes size while being read is refused.
 */
int vv_file_read(int dirfd, const char *path, unsigned flags, size_t max,
		 char **text, size_t *len, struct vv_error *err);
/* The same for name inside the directory dirfd, shown as "dirname/name". */
int vv_file_read_in(int dirfd, const char *dirname, const char *name, unsigned flags,
		    size_t max, char **text, size_t *len, struct vv_error *err);

#endif
