/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by the agent/handler*.c files only (not a public API). */
#ifndef VV_HANDLER_INTERNAL_H
#define VV_HANDLER_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#include "base/error.h"

/*
 * Read a regular file of at most max bytes into a NUL-terminated malloc'ed
 * buffer. -EFBIG when larger (nothing beyond max is read), -EINVAL when not
 * a regular file, -errno otherwise; err says which in words.
 */
int vv_handler_read_file(const char *path, size_t max, char **text,
			 size_t *len, struct vv_error *err);

/* "YYYY-MM-DDTHH:MM:SSZ" for now. */
void vv_handler_timestamp(char out[32]);

#endif
