// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Azure's VMSnapshotScriptPluginConfig.json:
 *   { "pluginName": "ScriptRunner",
 *     "preScriptLocation": "/path", "postScriptLocation": "/path",
 *     "preScriptParams": ["a", "b"], "postScriptParams": [],
 *     "preScriptNoOfRetries": 0, "postScriptNoOfRetries": 0,
 *     "timeoutInSeconds": 30, "continueBackupOnFailure": true,
 *     "fsFreezeEnabled": true }
 * Numbers and booleans are also accepted as strings ("30", "true"): the
 * samples users copy from write them both ways.
 */
#include "agent/snapshot/scripts.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/readfile.h"

/* Biggest config we read; a real one is a few hundred bytes. */
#define PLUGIN_CONFIG_MAX 65536
#define PLUGIN_RETRIES_MAX 10

void vv_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

void vv_plugin_config_clear(struct vv_plugin_config *c)
{
	free(c->plugin_name);
	free(c->pre_script);
	free(c->post_script);
	vv_strv_free(c->pre_params);
	vv_strv_free(c->post_params);
	memset(c, 0, sizeof(*c));
}

/*
 * The member k of o: 1 with *v set, 0 when absent or null, or -EINVAL
 * ("k must be WHAT" in err) when it is not of this type.
 */
static int member(struct json_object *o, const char *k, enum json_type type, const char *what,
		  struct json_object **v, struct vv_error *err)
{
	if (!json_object_object_get_ex(o, k, v) || json_object_is_type(*v, json_type_null))
		return 0;
	if (!json_object_is_type(*v, type)) {
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG, "%s must be %s", k, what);
	}
	return 1;
}

static int get_str(struct json_object *o, const char *k, char **out, struct vv_error *err)
{
	struct json_object *v;
	const char *s;
	int r;

	*out = NULL;
	r = member(o, k, json_type_string, "a string", &v, err);
	if (r <= 0)
		return r;
	s = json_object_get_string(v);
	if (!*s)
		return 0;
	if (s[0] != '/') {
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG, "%s must be an absolute path", k);
	}
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

static int get_int(struct json_object *o, const char *k, int def, int lo, int hi,
		   int *out, struct vv_error *err)
{
	struct json_object *v;
	long long n;
	char *end;

	*out = def;
	if (!json_object_object_get_ex(o, k, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (json_object_is_type(v, json_type_int)) {
		n = json_object_get_int64(v);
	} else if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);

		errno = 0;
		n = strtoll(s, &end, 10);
		if (!*s || *end || errno) {
			return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG, "%s must be a whole number", k);
		}
	} else {
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG, "%s must be a whole number", k);
	}
	if (n < lo || n > hi) {
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG, "%s must be between %d and %d",
			       k, lo, hi);
	}
	*out = (int)n;
	return 0;
}

static int get_bool(struct json_object *o, const char *k, bool def, bool *out,
		    struct vv_error *err)
{
	struct json_object *v;

	*out = def;
	if (!json_object_object_get_ex(o, k, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (json_object_is_type(v, json_type_boolean)) {
		*out = json_object_get_boolean(v);
		return 0;
	}
	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);

		if (!strcasecmp(s, "true")) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(s, "false")) {
			*out = false;
			return 0;
		}
	}
	return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG, "%s must be true or false", k);
}

static int get_params(struct json_object *o, const char *k, char ***out, struct vv_error *err)
{
	struct json_object *v;
	size_t n, m = 0;
	char **p;
	int r;

	*out = calloc(1, sizeof(char *));
	if (!*out)
		return -ENOMEM;
	r = member(o, k, json_type_array, "an array of strings", &v, err);
	if (r <= 0)
		return r;
	n = json_object_array_length(v);
	p = calloc(n + 1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	free(*out);
	*out = p;
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);

		if (!json_object_is_type(e, json_type_string)) {
			return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG, "%s must be an array of strings", k);
		}
		/* The samples ship ["", ""]: empty entries mean "no parameter". */
		if (!*json_object_get_string(e))
			continue;
		p[m] = strdup(json_object_get_string(e));
		if (!p[m++])
			return -ENOMEM;
	}
	return 0;
}

int vv_plugin_config_parse(const char *text, struct vv_plugin_config *c, struct vv_error *err)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = NULL, *v;
	int r;

	memset(c, 0, sizeof(*c));
	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, text, (int)strlen(text));
	if (!o || json_tokener_get_error(tok) != json_tokener_success) {
		r = vv_fail(err, -EINVAL, VV_CAUSE_CONFIG, "not valid JSON (%s)",
			    json_tokener_error_desc(json_tokener_get_error(tok)));
		goto out;
	}
	if (!json_object_is_type(o, json_type_object)) {
		r = vv_fail(err, -EINVAL, VV_CAUSE_CONFIG, "not a JSON object");
		goto out;
	}
	if (json_object_object_get_ex(o, "pluginName", &v)) {
		if (!json_object_is_type(v, json_type_string) ||
		    strcmp(json_object_get_string(v), "ScriptRunner") != 0) {
			r = vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
				    "pluginName must be \"ScriptRunner\"");
			goto out;
		}
	}
	c->plugin_name = strdup("ScriptRunner");
	if (!c->plugin_name) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = get_str(o, "preScriptLocation", &c->pre_script, err)) ||
	    (r = get_str(o, "postScriptLocation", &c->post_script, err)) ||
	    (r = get_params(o, "preScriptParams", &c->pre_params, err)) ||
	    (r = get_params(o, "postScriptParams", &c->post_params, err)) ||
	    (r = get_int(o, "preScriptNoOfRetries", 0, 0, PLUGIN_RETRIES_MAX,
			 &c->pre_retries, err)) ||
	    (r = get_int(o, "postScriptNoOfRetries", 0, 0, PLUGIN_RETRIES_MAX,
			 &c->post_retries, err)) ||
	    (r = get_int(o, "timeoutInSeconds", VV_SCRIPT_TIMEOUT_DEFAULT_S, 1,
			 VV_PLUGIN_TIMEOUT_MAX_S, &c->timeout_s, err)) ||
	    (r = get_bool(o, "continueBackupOnFailure", true, &c->continue_on_failure, err)) ||
	    (r = get_bool(o, "fsFreezeEnabled", true, &c->fs_freeze_enabled, err)))
		goto out;
	r = 0;
out:
	json_object_put(o);
	json_tokener_free(tok);
	if (r)
		vv_plugin_config_clear(c);
	return r;
}

int vv_plugin_config_load(const char *path, struct vv_plugin_config *c, struct vv_error *err)
{
	struct vv_error e = { 0 }, pe = { 0 };
	char *buf = NULL, dir[PATH_MAX];
	const char *base;
	size_t len = 0;
	int dfd, r;

	memset(c, 0, sizeof(*c));
	/* Every directory on the way checked, then the file, on descriptors. */
	dfd = vv_trusted_parent_open(path, &base, err);
	if (dfd == -ENOENT)
		return vv_fail(err, -ENOENT, VV_CAUSE_NOT_FOUND, "%s does not exist", path);
	if (dfd < 0)
		return -EPERM;
	snprintf(dir, sizeof(dir), "%.*s", base - path > 1 ? (int)(base - path - 1) : 1, path);
	r = vv_file_read_in(dfd, dir, base, VV_RF_TRUSTED, PLUGIN_CONFIG_MAX, &buf, &len, &e);
	if (r == -ENOENT) {
		r = vv_fail(err, -ENOENT, VV_CAUSE_NOT_FOUND, "%s does not exist", path);
		goto out;
	}
	if (r < 0) {
		r = vv_fail(err, r == -EFBIG ? -EINVAL : -EPERM, e.cause, "%s", e.message);
		goto out;
	}
	r = vv_plugin_config_parse(buf, c, &pe);
	/* Name the file in the reason (as much of it as ever fitted). */
	if (r)
		vv_fail(err, r, pe.cause, "%s: %.255s", path, pe.message);
out:
	free(buf);
	close(dfd);
	return r;
}
