/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Replacing a file so that a crash leaves either the old or the new text,
 * never a mix: a temporary file beside it (created exclusively, never
 * through a link), written, fsync'ed, renamed over the name, then the
 * directory fsync'ed so the rename itself survives. The one writer for the
 * handler's status files, volumes.json, the vault allow-list drop-in and
 * the keystore.
 */
#ifndef VV_WRITEFILE_H
#define VV_WRITEFILE_H

#include <stddef.h>
#include <sys/types.h>

#include "base/error.h"

enum {
	/* Fail with -EEXIST instead of replacing an existing name. */
	VV_WF_NOREPLACE = 1 << 0,
	/* The caller fsyncs the directory once its renames are done. */
	VV_WF_NO_DIRSYNC = 1 << 1,
};

/*
 * Write len bytes of data to name (relative to dirfd, or AT_FDCWD) with
 * exactly mode (the umask does not narrow it). 0, or -errno with err (NULL
 * is fine) set to VV_CAUSE_SYSTEM and one of: "cannot create TEMP: why"
 * (the temporary file), "NAME already exists" (VV_WF_NOREPLACE), "cannot
 * write NAME: why". Nothing is left behind on failure.
 */
int vv_file_write_atomic(int dirfd, const char *name, const void *data, size_t len,
			 mode_t mode, unsigned flags, struct vv_error *err);

/*
 * Remove name (relative to dirfd, or AT_FDCWD) and fsync its directory, so
 * that the removal survives a power cut as a write by vv_file_write_atomic
 * does. 0 (also when name did not exist) or -errno of the unlink.
 */
int vv_file_unlink_durable(int dirfd, const char *name);

#endif
