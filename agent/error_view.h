/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * How a command shows its failure: a view of the one error value
 * (base/error.h), never a message rebuilt from pieces. Without --json, one
 * line on stderr (and a remedy line when the value has one); with --json,
 * {"error": {"cause": ..., "message": ..., "remedy": ...}} on stdout,
 * where a script reading the command's JSON looks for it.
 */
#ifndef VV_ERROR_VIEW_H
#define VV_ERROR_VIEW_H

#include <stdbool.h>

#include "base/error.h"

struct json_object;

/* {"cause": ..., "message": ..., "remedy": ... or null}; NULL on ENOMEM. */
struct json_object *vv_error_json(const struct vv_error *err);

enum {
	/* Through the log: "vaultvol: error: WHAT: MESSAGE", also in the log file. */
	VV_EV_LOG = 1 << 0,
	/* Name the cause after the message: "MESSAGE (forbidden)". */
	VV_EV_CAUSE = 1 << 1,
};

/*
 * A command failed: "vaultvol WHAT: MESSAGE" on stderr (flags change the
 * form), or {"error": ...} on stdout when json (--json). what names the command
 * and its object ("close", "key show REF"); NULL: no WHAT.
 */
void vv_error_print(bool json, unsigned flags, const char *what,
		    const struct vv_error *err);

#endif
