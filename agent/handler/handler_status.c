// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What the handler tells the extension framework: <statusFolder>/<N>.status
 * and the heartbeat file, in waagent's formats (REFERENCE.md, "VM extension
 * handler protocol"):
 *
 * [{"version": "1.0", "timestampUTC": "2024-05-01T12:00:00Z",
 *   "status": {"name": ..., "operation": "reopen", "status": "success",
 *              "code": 0, "formattedMessage": {"lang": "en-US", "message": ...},
 *              "substatus": [{"name": "data1", "status": "success", "code": 0,
 *                             "formattedMessage": {...}}, ...]}}]
 *
 * Messages are printable ASCII (anything else becomes '?'), at most 1,024
 * bytes; the file stays under 128 KB by shortening, then dropping,
 * per-volume messages. Messages are composed from names, paths and error
 * descriptions only: callers never pass key material here.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/handler/handler.h"
#include "agent/handler/handler_internal.h"
#include "base/writefile.h"

const char *vv_hstatus_str(enum vv_hstatus s)
{
	switch (s) {
	case VV_HS_TRANSITIONING: return "transitioning";
	case VV_HS_WARNING: return "warning";
	case VV_HS_ERROR: return "error";
	case VV_HS_SUCCESS: return "success";
	}
	return "error";
}

void vv_handler_utf8_cut(char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return;
	n = max;
	/* Step back over continuation bytes to the start of a character. */
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	s[n] = '\0';
}

void vv_handler_sanitize(const char *in, char *out, size_t outlen)
{
	size_t o = 0, i;

	if (!outlen)
		return;
	for (i = 0; in[i] && i < 64 && o + 1 < outlen; i++) {
		unsigned char c = (unsigned char)in[i];

		out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (in[i] && outlen > 4) {
		if (o + 4 > outlen)
			o = outlen - 4;
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* Format a message: printable ASCII only, bounded. */
static void format_msg(char *out, size_t outlen, const char *fmt, va_list ap)
{
	vsnprintf(out, outlen, fmt, ap);
	for (char *p = out; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '\n' || c == '\t' || c == '\r')
			*p = ' ';
		else if (c < 0x20 || c >= 0x7f)
			*p = '?';
	}
	vv_handler_utf8_cut(out, VV_HANDLER_MSG_MAX);
}

void vv_handler_result_set(struct vv_handler_result *r, enum vv_hstatus st,
			   int code, const char *fmt, ...)
{
	va_list ap;

	r->status = st;
	r->code = code;
	va_start(ap, fmt);
	format_msg(r->message, sizeof(r->message), fmt, ap);
	va_end(ap);
}

void vv_handler_result_fail(struct vv_handler_result *r, int code, const char *what,
			    const struct vv_error *err)
{
	vv_handler_result_set(r, VV_HS_ERROR, code, "%s: %s%s%s", what, err->message,
			      err->remedy[0] ? "; remedy: " : "", err->remedy);
}

int vv_handler_result_add(struct vv_handler_result *r, const char *name,
			  enum vv_hstatus st, int code, const char *fmt, ...)
{
	struct vv_handler_substatus *n;
	char msg[VV_HANDLER_MSG_MAX + 1];
	va_list ap;

	n = realloc(r->sub, (r->nsub + 1) * sizeof(*r->sub));
	if (!n)
		return -ENOMEM;
	r->sub = n;
	va_start(ap, fmt);
	format_msg(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = &r->sub[r->nsub];
	n->name = strdup(name);
	n->message = strdup(msg);
	n->status = st;
	n->code = code;
	if (!n->name || !n->message) {
		free(n->name);
		free(n->message);
		return -ENOMEM;
	}
	r->nsub++;
	return 0;
}

void vv_handler_result_summarize(struct vv_handler_result *r, const char *what)
{
	size_t ok = 0, bad = 0;

	if (r->status == VV_HS_ERROR && r->message[0])
		return;
	for (size_t i = 0; i < r->nsub; i++) {
		if (r->sub[i].status == VV_HS_SUCCESS)
			ok++;
		else if (r->sub[i].status == VV_HS_ERROR)
			bad++;
	}
	if (r->nsub == 0)
		vv_handler_result_set(r, VV_HS_SUCCESS, 0, "%s: no volumes to handle", what);
	else if (bad == 0 && ok == r->nsub)
		vv_handler_result_set(r, VV_HS_SUCCESS, 0, "%s: %zu of %zu volumes succeeded",
				      what, ok, r->nsub);
	else if (ok == 0 && bad == r->nsub)
		vv_handler_result_set(r, VV_HS_ERROR, 1, "%s: all %zu volumes failed",
				      what, r->nsub);
	else
		vv_handler_result_set(r, VV_HS_WARNING, 1, "%s: %zu of %zu volumes succeeded, %zu failed",
				      what, ok, r->nsub, bad);
}

void vv_handler_result_clear(struct vv_handler_result *r)
{
	for (size_t i = 0; i < r->nsub; i++) {
		free(r->sub[i].name);
		free(r->sub[i].message);
	}
	free(r->sub);
	memset(r, 0, sizeof(*r));
}

static struct json_object *fmsg(const char *message, size_t max)
{
	struct json_object *o = json_object_new_object();
	char buf[VV_HANDLER_MSG_MAX + 1];

	snprintf(buf, sizeof(buf), "%s", message ? message : "");
	vv_handler_utf8_cut(buf, max < VV_HANDLER_MSG_MAX ? max : VV_HANDLER_MSG_MAX);
	json_object_object_add(o, "lang", json_object_new_string("en-US"));
	json_object_object_add(o, "message", json_object_new_string(buf));
	return o;
}

/* One rendering attempt: sub messages cut to submax, at most nsub listed. */
static char *render_once(const char *name, const char *operation,
			 const struct vv_handler_result *r, const char *timestamp,
			 size_t submax, size_t nsub)
{
	struct json_object *root = json_object_new_array();
	struct json_object *item = json_object_new_object();
	struct json_object *st = json_object_new_object();
	struct json_object *subs = json_object_new_array();
	char msg[VV_HANDLER_MSG_MAX + 1];
	char *text = NULL;

	if (!root || !item || !st || !subs) {
		json_object_put(root);
		json_object_put(item);
		json_object_put(st);
		json_object_put(subs);
		return NULL;
	}
	if (nsub < r->nsub) {
		char tail[96];

		snprintf(tail, sizeof(tail), " (%zu more volumes not listed)", r->nsub - nsub);
		snprintf(msg, sizeof(msg), "%s", r->message);
		vv_handler_utf8_cut(msg, VV_HANDLER_MSG_MAX - strlen(tail));
		strcat(msg, tail);
	} else {
		snprintf(msg, sizeof(msg), "%s", r->message);
	}
	for (size_t i = 0; i < nsub; i++) {
		struct json_object *s = json_object_new_object();

		json_object_object_add(s, "name", json_object_new_string(r->sub[i].name));
		json_object_object_add(s, "status", json_object_new_string(vv_hstatus_str(r->sub[i].status)));
		json_object_object_add(s, "code", json_object_new_int(r->sub[i].code));
		json_object_object_add(s, "formattedMessage", fmsg(r->sub[i].message, submax));
		json_object_array_add(subs, s);
	}
	json_object_object_add(st, "name", json_object_new_string(name));
	json_object_object_add(st, "operation", json_object_new_string(operation));
	json_object_object_add(st, "status", json_object_new_string(vv_hstatus_str(r->status)));
	json_object_object_add(st, "code", json_object_new_int(r->code));
	json_object_object_add(st, "formattedMessage", fmsg(msg, VV_HANDLER_MSG_MAX));
	json_object_object_add(st, "substatus", subs);
	json_object_object_add(item, "version", json_object_new_string("1.0"));
	json_object_object_add(item, "timestampUTC", json_object_new_string(timestamp));
	json_object_object_add(item, "status", st);
	json_object_array_add(root, item);
	{
		const char *s = json_object_to_json_string_ext(root,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

		if (s)
			text = strdup(s);
	}
	json_object_put(root);
	return text;
}

int vv_handler_status_render(const char *name, const char *operation,
			     const struct vv_handler_result *r,
			     const char *timestamp, char **out)
{
	static const size_t submax[] = { VV_HANDLER_MSG_MAX, 256, 64 };
	size_t nsub = r->nsub;
	char *text;

	for (size_t i = 0; i < sizeof(submax) / sizeof(submax[0]); i++) {
		text = render_once(name, operation, r, timestamp, submax[i], nsub);
		if (!text)
			return -ENOMEM;
		if (strlen(text) < VV_HANDLER_STATUS_MAX) {
			*out = text;
			return 0;
		}
		free(text);
	}
	/* Still too large with short messages: list fewer volumes. */
	while (nsub > 0) {
		nsub /= 2;
		text = render_once(name, operation, r, timestamp, 64, nsub);
		if (!text)
			return -ENOMEM;
		if (strlen(text) < VV_HANDLER_STATUS_MAX) {
			*out = text;
			return 0;
		}
		free(text);
	}
	return -E2BIG;
}

int vv_handler_status_write(const char *status_folder, int seq,
			    const char *name, const char *operation,
			    const struct vv_handler_result *r)
{
	char ts[32], *text = NULL, *path = NULL;
	int rc;

	vv_handler_timestamp(ts);
	rc = vv_handler_status_render(name, operation, r, ts, &text);
	if (rc < 0)
		goto out;
	if (asprintf(&path, "%s/%d.status", status_folder, seq) < 0) {
		path = NULL;
		rc = -ENOMEM;
		goto out;
	}
	rc = vv_file_write_atomic(AT_FDCWD, path, text, strlen(text), 0600, 0, NULL);
out:
	free(text);
	free(path);
	return rc;
}

int vv_handler_status_handled(const char *status_folder, int seq, int *code)
{
	struct json_object *root = NULL, *st, *v;
	char *path = NULL, *text = NULL;
	const char *s, *op;
	size_t len;
	int rc = 0;

	if (asprintf(&path, "%s/%d.status", status_folder, seq) < 0)
		return -ENOMEM;
	rc = vv_handler_read_file(path, VV_HANDLER_STATUS_MAX, &text, &len, NULL);
	if (rc < 0) {
		if (rc == -ENOENT)
			rc = 0;
		goto out;
	}
	{
		struct json_tokener *tok = json_tokener_new_ex(VV_HANDLER_JSON_DEPTH);

		if (!tok) {
			rc = -ENOMEM;
			goto out;
		}
		root = json_tokener_parse_ex(tok, text, (int)len);
		if (json_tokener_get_error(tok) != json_tokener_success) {
			json_object_put(root);
			root = NULL;
		}
		json_tokener_free(tok);
	}
	rc = 0;
	if (!root || !json_object_is_type(root, json_type_array) ||
	    json_object_array_length(root) < 1 ||
	    !json_object_object_get_ex(json_object_array_get_idx(root, 0), "status", &st) ||
	    !json_object_is_type(st, json_type_object))
		goto out;
	if (!json_object_object_get_ex(st, "operation", &v) ||
	    !json_object_is_type(v, json_type_string))
		goto out;
	op = json_object_get_string(v);
	if (strcmp(op, "disable") == 0)
		goto out;
	if (!json_object_object_get_ex(st, "status", &v) ||
	    !json_object_is_type(v, json_type_string))
		goto out;
	s = json_object_get_string(v);
	if (strcmp(s, "success") != 0 && strcmp(s, "warning") != 0 && strcmp(s, "error") != 0)
		goto out;
	*code = 0;
	if (json_object_object_get_ex(st, "code", &v) && json_object_is_type(v, json_type_int))
		*code = json_object_get_int(v);
	rc = 1;
out:
	json_object_put(root);
	free(text);
	free(path);
	return rc;
}

int vv_handler_heartbeat_write(const char *path, const char *status, int code,
			       const char *message)
{
	struct json_object *root = json_object_new_array();
	struct json_object *item = json_object_new_object();
	struct json_object *hb = json_object_new_object();
	char msg[VV_HANDLER_MSG_MAX + 1];
	const char *text;
	int rc;

	if (!root || !item || !hb) {
		json_object_put(root);
		json_object_put(item);
		json_object_put(hb);
		return -ENOMEM;
	}
	snprintf(msg, sizeof(msg), "%s", message ? message : "");
	vv_handler_utf8_cut(msg, VV_HANDLER_MSG_MAX);
	json_object_object_add(hb, "status", json_object_new_string(status));
	json_object_object_add(hb, "code", json_object_new_int(code));
	json_object_object_add(hb, "Message", json_object_new_string(msg));
	json_object_object_add(item, "version", json_object_new_double(1.0));
	json_object_object_add(item, "heartbeat", hb);
	json_object_array_add(root, item);
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = text ? vv_file_write_atomic(AT_FDCWD, path, text, strlen(text), 0600, 0, NULL)
		  : -ENOMEM;
	json_object_put(root);
	return rc;
}
