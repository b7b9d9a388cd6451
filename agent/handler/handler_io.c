// SPDX-License-Identifier: GPL-2.0-or-later
/* Bounded reads of the extension handler's files; its timestamps. */
#include <fcntl.h>
#include <stdio.h>
#include <time.h>

#include "agent/handler/handler_internal.h"
#include "base/readfile.h"

int vv_handler_read_file(const char *path, size_t max, char **text,
			 size_t *len, struct vv_error *err)
{
	/* waagent's files, read like every other file: no symlink, no FIFO. */
	return vv_file_read(AT_FDCWD, path, 0, max, text, len, err);
}

void vv_handler_timestamp(char out[32])
{
	struct tm tm;
	time_t now = time(NULL);

	gmtime_r(&now, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
