// SPDX-License-Identifier: GPL-2.0-or-later
/* The CLI and --json views of a command's failure (see error_view.h). */
#include "agent/error_view.h"

#include <stdio.h>

#include <json-c/json.h>

#include "base/log.h"

struct json_object *vv_error_json(const struct vv_error *err)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "cause", json_object_new_string(vv_cause_str(err->cause)));
	json_object_object_add(o, "message", json_object_new_string(err->message));
	json_object_object_add(o, "remedy", err->remedy[0] ?
			       json_object_new_string(err->remedy) : NULL);
	return o;
}

/* {"error": {...}} on stdout: 0, or -1 when it could not be built. */
static int print_json(const struct vv_error *err)
{
	struct json_object *o = json_object_new_object(), *e = vv_error_json(err);

	if (!o || !e) {
		json_object_put(o);
		json_object_put(e);
		return -1;
	}
	json_object_object_add(o, "error", e);
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
	json_object_put(o);
	return 0;
}

void vv_error_print(bool json, unsigned flags, const char *what,
		    const struct vv_error *err)
{
	const char *msg = err->message[0] ? err->message : "failed";
	char cause[48] = "";

	if (json && print_json(err) == 0)
		return;
	if (flags & VV_EV_CAUSE)
		snprintf(cause, sizeof(cause), " (%s)", vv_cause_str(err->cause));
	if (flags & VV_EV_LOG) {
		vv_err("%s%s%s%s", what ? what : "", what ? ": " : "", msg, cause);
		if (err->remedy[0])
			vv_err("remedy: %s", err->remedy);
		return;
	}
	fprintf(stderr, "vaultvol%s%s: %s%s\n", what ? " " : "", what ? what : "",
		msg, cause);
	if (err->remedy[0])
		fprintf(stderr, "vaultvol%s%s: remedy: %s\n", what ? " " : "", what ? what : "",
			err->remedy);
}
