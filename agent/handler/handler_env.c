// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Where the extension framework put things: HandlerEnvironment.json in the
 * handler's directory, and which <N>.settings to act on.
 */
#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/handler/handler.h"
#include "agent/handler/handler_internal.h"

void vv_handler_env_clear(struct vv_handler_env *env)
{
	free(env->name);
	free(env->version);
	free(env->log_folder);
	free(env->config_folder);
	free(env->status_folder);
	free(env->heartbeat_file);
	memset(env, 0, sizeof(*env));
}

/*
 * Optional string member: absent or null -> NULL. A path must be absolute
 * and free of control characters, since it names files we write.
 */
static int get_str(struct json_object *o, const char *key, bool path,
		   char **out, struct vv_error *err)
{
	struct json_object *v;
	const char *s;

	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "HandlerEnvironment.json: \"%s\" must be a string", key);
	s = json_object_get_string(v);
	if ((size_t)json_object_get_string_len(v) != strlen(s) || strlen(s) >= PATH_MAX)
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "HandlerEnvironment.json: \"%s\" is not a usable string", key);
	if (path) {
		for (const char *p = s; *p; p++)
			if ((unsigned char)*p < 0x20)
				return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
					       "HandlerEnvironment.json: \"%s\" has control characters",
					       key);
		if (s[0] != '/')
			return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
				       "HandlerEnvironment.json: \"%s\" must be an absolute path",
				       key);
	}
	*out = strdup(s);
	if (!*out)
		return vv_fail(err, -ENOMEM, VV_CAUSE_SYSTEM, "out of memory");
	return 0;
}

int vv_handler_env_parse(const char *text, size_t len,
			 struct vv_handler_env *env, struct vv_error *err)
{
	struct json_object *root = NULL, *first, *he;
	struct json_tokener *tok = NULL;
	int r = -EINVAL;

	memset(env, 0, sizeof(*env));
	tok = json_tokener_new_ex(VV_HANDLER_JSON_DEPTH);
	if (!tok) {
		r = -ENOMEM;
		goto out;
	}
	if (len > INT32_MAX)
		goto bad_json;
	root = json_tokener_parse_ex(tok, text, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success)
		goto bad_json;
	for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
		if (!strchr(" \t\r\n", text[i]))
			goto bad_json;
	/* waagent writes a one-element array; accept a bare object as well. */
	first = root;
	if (json_object_is_type(root, json_type_array)) {
		if (json_object_array_length(root) < 1) {
			r = vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
				    "HandlerEnvironment.json: empty array");
			goto out;
		}
		first = json_object_array_get_idx(root, 0);
	}
	if (!json_object_is_type(first, json_type_object) ||
	    !json_object_object_get_ex(first, "handlerEnvironment", &he) ||
	    !json_object_is_type(he, json_type_object)) {
		r = vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			    "HandlerEnvironment.json: no \"handlerEnvironment\" object");
		goto out;
	}
	/* version is a number in some waagent releases: only keep a string. */
	{
		struct json_object *v;

		if (json_object_object_get_ex(first, "version", &v) &&
		    json_object_is_type(v, json_type_string) &&
		    !(env->version = strdup(json_object_get_string(v)))) {
			r = -ENOMEM;
			goto out;
		}
	}
	if ((r = get_str(first, "name", false, &env->name, err)) < 0 ||
	    (r = get_str(he, "logFolder", true, &env->log_folder, err)) < 0 ||
	    (r = get_str(he, "configFolder", true, &env->config_folder, err)) < 0 ||
	    (r = get_str(he, "statusFolder", true, &env->status_folder, err)) < 0 ||
	    (r = get_str(he, "heartbeatFile", true, &env->heartbeat_file, err)) < 0)
		goto out;
	if (!env->config_folder || !env->status_folder) {
		r = vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			    "HandlerEnvironment.json: \"%s\" is missing",
			    env->config_folder ? "statusFolder" : "configFolder");
		goto out;
	}
	r = 0;
	goto out;
bad_json:
	r = vv_fail(err, -EINVAL, VV_CAUSE_CONFIG, "HandlerEnvironment.json: not valid JSON");
out:
	if (tok)
		json_tokener_free(tok);
	json_object_put(root);
	if (r < 0)
		vv_handler_env_clear(env);
	return r;
}

int vv_handler_env_load(const char *dir, struct vv_handler_env *env,
			struct vv_error *err)
{
	char *path = NULL, *text = NULL;
	size_t len = 0;
	int r;

	memset(env, 0, sizeof(*env));
	if (asprintf(&path, "%s/HandlerEnvironment.json", dir) < 0)
		return -ENOMEM;
	r = vv_handler_read_file(path, VV_HANDLER_ENV_MAX, &text, &len, err);
	if (r == 0)
		r = vv_handler_env_parse(text, len, env, err);
	free(text);
	free(path);
	return r;
}

static bool has_env_file(const char *dir)
{
	char *p = NULL;
	bool ok;

	if (asprintf(&p, "%s/HandlerEnvironment.json", dir) < 0)
		return false;
	ok = access(p, F_OK) == 0;
	free(p);
	return ok;
}

int vv_handler_find_dir(const char *explicit_dir, char **out)
{
	char exe[PATH_MAX];
	const char *env = getenv("VV_HANDLER_DIR");
	char *dir = NULL;
	ssize_t n;

	if (explicit_dir || (env && *env)) {
		*out = strdup(explicit_dir ? explicit_dir : env);
		return *out ? 0 : -ENOMEM;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return -errno;
	exe[n] = '\0';
	dir = strdup(dirname(exe));
	if (!dir)
		return -ENOMEM;
	if (!has_env_file(dir)) {
		char *parent = strdup(dirname(dir));

		if (parent && has_env_file(parent)) {
			free(dir);
			dir = parent;
		} else {
			free(parent);
		}
	}
	*out = dir;
	return 0;
}

/* A decimal sequence number: digits only, no sign, in range. */
static int parse_seq(const char *s, size_t len, int *seq)
{
	long v = 0;

	if (len == 0 || len > 9)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	if (v > VV_HANDLER_SEQ_MAX)
		return -EINVAL;
	*seq = (int)v;
	return 0;
}

int vv_handler_pick_seq(const char *config_folder, const char *env_seq,
			int *seq, struct vv_error *err)
{
	struct dirent *de;
	DIR *d;
	int best = -1;

	if (env_seq && *env_seq) {
		if (parse_seq(env_seq, strlen(env_seq), seq) < 0) {
			char clean[80];

			vv_handler_sanitize(env_seq, clean, sizeof(clean));
			return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
				       "ConfigSequenceNumber \"%s\" is not a sequence number",
				       clean);
		}
		return 0;
	}
	d = opendir(config_folder);
	if (!d) {
		int r = -errno;

		return vv_fail(err, r, VV_CAUSE_SYSTEM,
			       "cannot read config folder %s: %s", config_folder, strerror(-r));
	}
	while ((de = readdir(d))) {
		const char *dot = strrchr(de->d_name, '.');
		int n;

		if (!dot || strcmp(dot, ".settings") != 0)
			continue;
		if (parse_seq(de->d_name, (size_t)(dot - de->d_name), &n) == 0 && n > best)
			best = n;
	}
	closedir(d);
	if (best < 0)
		return vv_fail(err, -ENOENT, VV_CAUSE_CONFIG,
			       "no <N>.settings file in %s", config_folder);
	*seq = best;
	return 0;
}
