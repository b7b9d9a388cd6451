// SPDX-License-Identifier: GPL-2.0-or-later
/* Bounded reads and atomic writes for the extension handler's files. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/handler/handler_internal.h"
#include "base/readfile.h"

void vv_herr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int vv_handler_read_file(const char *path, size_t max, char **text,
			 size_t *len, char *err, size_t errlen)
{
	struct vv_error e = { 0 };
	int r;

	/* waagent's files, read like every other file: no symlink, no FIFO. */
	r = vv_file_read(AT_FDCWD, path, 0, max, text, len, &e);
	if (r < 0)
		vv_herr(err, errlen, "%s", e.message);
	return r;
}

void vv_handler_timestamp(char out[32])
{
	struct tm tm;
	time_t now = time(NULL);

	gmtime_r(&now, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
