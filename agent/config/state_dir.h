/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The state directory (--state-dir, default /var/lib/vaultvol): volumes.json,
 * the frozen-state marker, header backups. What is read back from it steers
 * root (which filesystems to thaw, which backups exist), so it is checked
 * each time it is used, not just created: a real directory reached without
 * any symbolic link, owned by root, not writable by group or others; the
 * files read from it are regular files, not symbolic links, owned by root
 * and not group/other-writable (vv_file_read with VV_RF_TRUSTED).
 */
#ifndef VV_STATE_DIR_H
#define VV_STATE_DIR_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

/*
 * Open dir (a directory fd, O_CLOEXEC) after checking it; with create, make
 * it (and missing parents) mode 0700 first. -ENOENT when it does not exist
 * and create is false (err empty); otherwise -errno with err naming the
 * path, the cause and the fix.
 */
int vv_state_dir_open(const char *dir, bool create, struct vv_error *err);

/*
 * Read dir/name whole (NUL-terminated, free()) after checking dir and the
 * file. -ENOENT (err empty) when either is absent; -errno with err else.
 */
int vv_state_file_read(const char *dir, const char *name, size_t max, char **text,
		       size_t *len, struct vv_error *err);

#endif
