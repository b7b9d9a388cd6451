// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * <configFolder>/<N>.settings: the envelope waagent writes around the
 * extension's public and protected settings.
 *
 *   {"runtimeSettings": [{"handlerSettings": {
 *       "protectedSettingsCertThumbprint": "...",
 *       "protectedSettings": "<base64 DER CMS>",
 *       "publicSettings": {...}}}]}
 *
 * The envelope belongs to waagent, so keys we do not know in it are ignored;
 * the contents of publicSettings and of the decrypted protectedSettings are
 * ours and are validated strictly (handler_schema.c).
 */
#include <errno.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "agent/handler/handler.h"
#include "agent/handler/handler_internal.h"
#include "base/http.h"

struct json_object *vv_handler_json_parse(const char *text, size_t len,
					  struct vv_error *err)
{
	struct json_tokener *tok;
	struct json_object *o = NULL;
	enum json_tokener_error e;

	if (len > INT32_MAX) {
		vv_fail(err, -EINVAL, VV_CAUSE_CONFIG, "too large");
		return NULL;
	}
	tok = json_tokener_new_ex(VV_HANDLER_JSON_DEPTH);
	if (!tok) {
		vv_fail(err, -ENOMEM, VV_CAUSE_SYSTEM, "out of memory");
		return NULL;
	}
	/* A NUL inside the text would end parsing early: refuse it. */
	if (memchr(text, '\0', len)) {
		vv_fail(err, -EINVAL, VV_CAUSE_CONFIG, "malformed JSON (NUL byte)");
		goto out;
	}
	o = json_tokener_parse_ex(tok, text, (int)len);
	e = json_tokener_get_error(tok);
	if (!o || e != json_tokener_success) {
		if (e == json_tokener_error_depth)
			vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
				"malformed JSON (nested deeper than %d)",
				VV_HANDLER_JSON_DEPTH);
		else if (e == json_tokener_continue || e == json_tokener_success)
			vv_fail(err, -EINVAL, VV_CAUSE_CONFIG, "malformed JSON (truncated)");
		else
			vv_fail(err, -EINVAL, VV_CAUSE_CONFIG, "malformed JSON (%s at offset %zu)",
				json_tokener_error_desc(e), json_tokener_get_parse_end(tok));
		vv_json_put_wiped(o);
		o = NULL;
		goto out;
	}
	for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
		if (!strchr(" \t\r\n", text[i])) {
			vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
				"malformed JSON (data after the end at offset %zu)", i);
			vv_json_put_wiped(o);
			o = NULL;
			goto out;
		}
	if (!json_object_is_type(o, json_type_object)) {
		vv_fail(err, -EINVAL, VV_CAUSE_CONFIG, "JSON is not an object");
		vv_json_put_wiped(o);
		o = NULL;
	}
out:
	/* The tokener keeps the last string it assembled: it may be secret. */
	if (tok->pb && tok->pb->buf)
		OPENSSL_cleanse(tok->pb->buf, (size_t)tok->pb->size);
	json_tokener_free(tok);
	return o;
}

void vv_handler_settings_clear(struct vv_handler_settings *s)
{
	free(s->thumbprint);
	free(s->protected_b64);
	json_object_put(s->public_settings);
	memset(s, 0, sizeof(*s));
}

/* Optional string: absent/null -> NULL; empty string -> NULL as well. */
static int opt_string(struct json_object *hs, const char *key, char **out,
		      struct vv_error *err)
{
	struct json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(hs, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "settings: handlerSettings.%s must be a string", key);
	if (json_object_get_string_len(v) == 0)
		return 0;
	*out = strdup(json_object_get_string(v));
	if (!*out)
		return vv_fail(err, -ENOMEM, VV_CAUSE_SYSTEM, "out of memory");
	return 0;
}

int vv_handler_settings_parse(const char *text, size_t len,
			      struct vv_handler_settings *s,
			      struct vv_error *err)
{
	struct json_object *root, *rs, *first, *hs, *pub;
	struct vv_error why = { 0 };
	int r = -EINVAL;

	memset(s, 0, sizeof(*s));
	root = vv_handler_json_parse(text, len, &why);
	if (!root)
		return vv_fail(err, -EINVAL, why.cause, "settings: %s", why.message);
	if (!json_object_object_get_ex(root, "runtimeSettings", &rs) ||
	    !json_object_is_type(rs, json_type_array)) {
		r = vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			    "settings: \"runtimeSettings\" must be an array");
		goto out;
	}
	if (json_object_array_length(rs) != 1) {
		r = vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			    "settings: \"runtimeSettings\" must hold exactly one entry (has %zu)",
			    json_object_array_length(rs));
		goto out;
	}
	first = json_object_array_get_idx(rs, 0);
	if (!json_object_is_type(first, json_type_object) ||
	    !json_object_object_get_ex(first, "handlerSettings", &hs) ||
	    !json_object_is_type(hs, json_type_object)) {
		r = vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			    "settings: runtimeSettings[0].handlerSettings must be an object");
		goto out;
	}
	if ((r = opt_string(hs, "protectedSettingsCertThumbprint", &s->thumbprint, err)) < 0 ||
	    (r = opt_string(hs, "protectedSettings", &s->protected_b64, err)) < 0)
		goto out;
	r = -EINVAL;
	if (s->protected_b64 && !s->thumbprint) {
		r = vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			    "settings: protectedSettings without protectedSettingsCertThumbprint");
		goto out;
	}
	if (json_object_object_get_ex(hs, "publicSettings", &pub) &&
	    !json_object_is_type(pub, json_type_null)) {
		if (!json_object_is_type(pub, json_type_object)) {
			r = vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
				    "settings: publicSettings must be an object");
			goto out;
		}
		s->public_settings = json_object_get(pub);
	}
	r = 0;
out:
	json_object_put(root);
	if (r < 0)
		vv_handler_settings_clear(s);
	return r;
}

int vv_handler_settings_load(const char *path, struct vv_handler_settings *s,
			     struct vv_error *err)
{
	char *text = NULL;
	size_t len = 0;
	int r;

	memset(s, 0, sizeof(*s));
	r = vv_handler_read_file(path, VV_HANDLER_SETTINGS_MAX, &text, &len, err);
	if (r == -EFBIG)
		r = vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			    "settings file is larger than the %d byte limit",
			    VV_HANDLER_SETTINGS_MAX);
	if (r == 0)
		r = vv_handler_settings_parse(text, len, s, err);
	free(text);
	return r;
}
