// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The token plugin's side of libcryptsetup (declared in crypt.h): the
 * token JSON and device name of the crypt device libcryptsetup passes a
 * token handler, and its logger. Nothing here sets libcryptsetup's log
 * callback: inside cryptsetup or systemd-cryptsetup that is the host's.
 */
#include "agent/volume/crypt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <libcryptsetup.h>

#include "base/log.h"

int vv_crypt_token_json(struct crypt_device *cd, int id, const char **json)
{
	*json = NULL;
	return crypt_token_json_get(cd, id, json) < 0 ? -ENOENT : 0;
}

const char *vv_crypt_device_name(struct crypt_device *cd)
{
	const char *n = cd ? crypt_get_device_name(cd) : NULL;

	return n ? n : "";
}

void vv_crypt_log_line(struct crypt_device *cd, int vv_level, const char *prefix,
		       const char *msg)
{
	char *line;
	int level;

	switch (vv_level) {
	case VV_CRYPT_LOG_DUMP:
		level = CRYPT_LOG_NORMAL;
		break;
	case VV_LOG_ERR:
		level = CRYPT_LOG_ERROR;
		break;
	case VV_LOG_DEBUG:
		level = CRYPT_LOG_DEBUG;
		break;
	default:	/* warnings and information: `cryptsetup -v` */
		level = CRYPT_LOG_VERBOSE;
		break;
	}
	/* crypt_log prints what it is given: the line ends here. */
	if (asprintf(&line, "%s%s\n", prefix, msg) < 0) {
		crypt_log(cd, level, msg);
		return;
	}
	crypt_log(cd, level, line);
	free(line);
}
