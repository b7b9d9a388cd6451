// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The settings schema (docs/handler-settings.md): public and protected
 * settings -> struct vv_handler_request. Strict on purpose: a key we do not
 * know is refused (a misspelt "volume" must not silently mean "all
 * volumes"), every value has one JSON type, and every string is bounded and
 * restricted to the characters its use allows.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/handler/handler.h"
#include "agent/handler/handler_internal.h"
#include "agent/config/config.h"

const char *vv_handler_op_str(enum vv_handler_op op)
{
	switch (op) {
	case VV_HOP_REOPEN: return "reopen";
	case VV_HOP_PROVISION: return "provision";
	case VV_HOP_ROTATE: return "rotate";
	case VV_HOP_SNAPSHOT: return "snapshot";
	}
	return "unknown";
}

/* What characters a string may hold. */
enum str_kind {
	S_NAME,		/* volume name: vv_volume_name_valid() */
	S_PATH,		/* absolute path, printable, no spaces */
	S_TOKEN,	/* printable ASCII without spaces (URLs, refs, options) */
	S_FS,		/* [a-z0-9_-] */
};

static bool str_ok(const char *s, size_t len, enum str_kind k)
{
	if (len == 0 || strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		switch (k) {
		case S_NAME:
			break;	/* vv_volume_name_valid() below */
		case S_FS:
			if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			      c == '_' || c == '-'))
				return false;
			break;
		case S_PATH:
		case S_TOKEN:
			if (c <= 0x20 || c >= 0x7f)
				return false;
			break;
		}
	}
	if (k == S_NAME && !vv_volume_name_valid(s))
		return false;
	if (k == S_PATH && s[0] != '/')
		return false;
	return true;
}

static const char *kind_desc(enum str_kind k)
{
	switch (k) {
	case S_NAME: return "a volume name (1-64 of A-Z a-z 0-9 . _ + -, not starting with . or -)";
	case S_PATH: return "an absolute path without spaces";
	case S_TOKEN: return "printable text without spaces";
	case S_FS: return "a filesystem type";
	}
	return "a string";
}

/*
 * A string member. where: "publicSettings" or a path like "volumes[2]".
 * Absent or null leaves *out NULL unless required.
 */
/*
 * The member key of o: 1 with *v set, 0 when absent or null, or -EINVAL
 * with err "WHERE.KEY must be WHAT" when it is not of this type.
 */
static int member(struct json_object *o, const char *where, const char *key,
		  enum json_type type, const char *what, struct json_object **v,
		  struct vv_error *err)
{
	if (!json_object_object_get_ex(o, key, v) || json_object_is_type(*v, json_type_null))
		return 0;
	if (!json_object_is_type(*v, type))
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG, "%s.%s must be %s", where, key, what);
	return 1;
}

static int get_string(struct json_object *o, const char *where, const char *key,
		      enum str_kind kind, size_t max, bool required,
		      char **out, struct vv_error *err)
{
	struct json_object *v;
	const char *s;
	size_t len;

	int r;

	*out = NULL;
	r = member(o, where, key, json_type_string, "a string", &v, err);
	if (r == 0 && required)
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG, "%s.%s is required", where, key);
	if (r <= 0)
		return r;
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (len > max)
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "%s.%s is longer than %zu characters", where, key, max);
	if (!str_ok(s, len, kind))
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "%s.%s must be %s", where, key, kind_desc(kind));
	*out = strdup(s);
	if (!*out)
		return vv_fail(err, -ENOMEM, VV_CAUSE_SYSTEM, "out of memory");
	return 0;
}

/* One of a fixed set of strings; *idx gets its position. */
static int get_enum(struct json_object *o, const char *where, const char *key,
		    const char *const *values, int *idx, struct vv_error *err)
{
	struct json_object *v;
	const char *s;
	char list[256] = "";

	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return 0;	/* default already in *idx */
	for (int i = 0; values[i]; i++) {
		size_t l = strlen(list);

		snprintf(list + l, sizeof(list) - l, "%s\"%s\"", i ? ", " : "", values[i]);
	}
	if (!json_object_is_type(v, json_type_string))
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "%s.%s must be a string: one of %s", where, key, list);
	s = json_object_get_string(v);
	for (int i = 0; values[i]; i++)
		if (strcmp(s, values[i]) == 0 &&
		    strlen(values[i]) == (size_t)json_object_get_string_len(v)) {
			*idx = i;
			return 0;
		}
	{
		char clean[80];

		vv_handler_sanitize(s, clean, sizeof(clean));
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "%s.%s \"%s\" is not one of %s", where, key, clean, list);
	}
}

static int get_int(struct json_object *o, const char *where, const char *key,
		   int min, int max, int *out, struct vv_error *err)
{
	struct json_object *v;
	int64_t n;
	int r;

	r = member(o, where, key, json_type_int, "an integer", &v, err);
	if (r <= 0)
		return r;
	n = json_object_get_int64(v);
	if (n < min || n > max)
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "%s.%s must be between %d and %d", where, key, min, max);
	*out = (int)n;
	return 0;
}

static int get_bool(struct json_object *o, const char *where, const char *key, bool *out,
		    struct vv_error *err)
{
	struct json_object *v;
	int r;

	r = member(o, where, key, json_type_boolean, "true or false", &v, err);
	if (r <= 0)
		return r;
	*out = json_object_get_boolean(v);
	return 0;
}

/* Refuse keys outside allowed[]; names the first offender (sanitized). */
static int only_keys(struct json_object *o, const char *where,
		     const char *const *allowed, struct vv_error *err);

/*
 * "vaultMoved": {"from": "https://OLD", "to": "https://NEW"}: the config
 * file's `[vault] moved` line, for a VM restored into another region whose
 * keys were restored into another vault.
 */
static int parse_moved(struct json_object *pub, struct vv_handler_request *req,
		       struct vv_error *err)
{
	static const char *const keys[] = { "from", "to", NULL };
	const char *w = "publicSettings.vaultMoved";
	struct json_object *mv;
	int r;

	if (!json_object_object_get_ex(pub, "vaultMoved", &mv))
		return 0;
	if (!json_object_is_type(mv, json_type_object))
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "%s must be an object {\"from\": URL, \"to\": URL}", w);
	if ((r = only_keys(mv, w, keys, err)) < 0 ||
	    (r = get_string(mv, w, "from", S_TOKEN, 2048, true, &req->moved_from, err)) < 0 ||
	    (r = get_string(mv, w, "to", S_TOKEN, 2048, true, &req->moved_to, err)) < 0)
		return r;
	if (strncmp(req->moved_from, "https://", 8) || strncmp(req->moved_to, "https://", 8))
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "%s: from and to must be https:// vault URLs", w);
	return 0;
}

static int only_keys(struct json_object *o, const char *where,
		     const char *const *allowed, struct vv_error *err)
{
	json_object_object_foreach(o, k, v) {
		bool ok = false;

		(void)v;
		for (int i = 0; allowed[i]; i++)
			if (strcmp(k, allowed[i]) == 0)
				ok = true;
		if (!ok) {
			char clean[80];

			vv_handler_sanitize(k, clean, sizeof(clean));
			return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
				       "%s: unknown key \"%s\"", where, clean);
		}
	}
	return 0;
}

static void volume_clear(struct vv_handler_volume *v)
{
	free(v->name);
	free(v->device);
	free(v->mount);
	free(v->fs);
	free(v->options);
	free(v->key);
}

static int parse_volume_object(struct json_object *o, const char *where,
			       struct vv_handler_volume *v, struct vv_error *err)
{
	static const char *const keys[] = {
		"name", "device", "mount", "fs", "options", "key", NULL
	};
	int r;

	if ((r = only_keys(o, where, keys, err)) < 0 ||
	    (r = get_string(o, where, "name", S_NAME, 64, true, &v->name, err)) < 0 ||
	    (r = get_string(o, where, "device", S_PATH, 1024, true, &v->device, err)) < 0 ||
	    (r = get_string(o, where, "mount", S_PATH, 1024, false, &v->mount, err)) < 0 ||
	    (r = get_string(o, where, "fs", S_FS, 32, false, &v->fs, err)) < 0 ||
	    (r = get_string(o, where, "options", S_TOKEN, 256, false, &v->options, err)) < 0 ||
	    (r = get_string(o, where, "key", S_TOKEN, 2048, false, &v->key, err)) < 0)
		return r;
	return 0;
}

/* "volumes": names for reopen/rotate/snapshot, objects for provision. */
static int parse_volumes(struct json_object *pub, struct vv_handler_request *req,
			 struct vv_error *err)
{
	struct json_object *arr;
	size_t n;
	int r;

	r = member(pub, "publicSettings", "volumes", json_type_array, "an array", &arr, err);
	if (r <= 0)
		return r;
	n = json_object_array_length(arr);
	if (n > VV_HANDLER_MAX_VOLUMES)
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "publicSettings.volumes has %zu entries (at most %d)",
			       n, VV_HANDLER_MAX_VOLUMES);
	if (n == 0)
		return 0;
	req->volumes = calloc(n, sizeof(*req->volumes));
	if (!req->volumes)
		return vv_fail(err, -ENOMEM, VV_CAUSE_SYSTEM, "out of memory");
	req->nvolumes = n;
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		struct vv_handler_volume *v = &req->volumes[i];
		char where[48];

		snprintf(where, sizeof(where), "publicSettings.volumes[%zu]", i);
		if (req->op == VV_HOP_PROVISION) {
			if (!json_object_is_type(e, json_type_object))
				return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
					       "%s must be an object {\"name\", \"device\", ...}",
					       where);
			r = parse_volume_object(e, where, v, err);
			if (r < 0)
				return r;
		} else {
			const char *s;
			size_t len;

			if (!json_object_is_type(e, json_type_string))
				return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
					       "%s must be a string (a volume name)", where);
			s = json_object_get_string(e);
			len = (size_t)json_object_get_string_len(e);
			if (strlen(s) != len || !vv_volume_name_valid(s))
				return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
					       "%s must be %s", where, kind_desc(S_NAME));
			v->name = strdup(s);
			if (!v->name)
				return vv_fail(err, -ENOMEM, VV_CAUSE_SYSTEM, "out of memory");
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(req->volumes[j].name, v->name) == 0)
				return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
					       "%s: volume \"%s\" is listed twice", where, v->name);
	}
	return 0;
}

static int parse_public(struct json_object *pub, struct vv_handler_request *req,
			struct vv_error *err)
{
	static const char *const keys[] = {
		"operation", "volumes", "vaultUrl", "kekUrl", "kekAlgorithm",
		"rotate", "managedIdentityClientId", "aadClientId", "aadTenantId",
		"timeoutSeconds", "serviceUrl", "consistency", "vaultMoved",
		"requirePurgeProtection", NULL
	};
	static const char *const ops[] = { "reopen", "provision", "rotate", "snapshot", NULL };
	static const char *const algs[] = { "RSA-OAEP", "RSA-OAEP-256", "RSA1_5", NULL };
	static const char *const rot[] = { "bek", "kek", NULL };
	static const char *const cons[] = { "application", "filesystem", NULL };
	const char *w = "publicSettings";
	int op = VV_HOP_REOPEN, alg = -1, what = 0, level = 0, r;

	if ((r = only_keys(pub, w, keys, err)) < 0 ||
	    (r = get_enum(pub, w, "operation", ops, &op, err)) < 0)
		return r;
	req->op = (enum vv_handler_op)op;
	if ((r = parse_volumes(pub, req, err)) < 0 ||
	    (r = get_string(pub, w, "vaultUrl", S_TOKEN, 2048, false, &req->vault_url, err)) < 0 ||
	    (r = get_string(pub, w, "kekUrl", S_TOKEN, 2048, false, &req->kek_url, err)) < 0 ||
	    (r = get_enum(pub, w, "kekAlgorithm", algs, &alg, err)) < 0 ||
	    (r = get_enum(pub, w, "rotate", rot, &what, err)) < 0 ||
	    (r = get_string(pub, w, "managedIdentityClientId", S_TOKEN, 128, false,
			    &req->identity_client_id, err)) < 0 ||
	    (r = get_string(pub, w, "aadClientId", S_TOKEN, 128, false,
			    &req->aad_client_id, err)) < 0 ||
	    (r = get_string(pub, w, "aadTenantId", S_TOKEN, 128, false,
			    &req->aad_tenant_id, err)) < 0 ||
	    (r = get_int(pub, w, "timeoutSeconds", 1, 3600, &req->timeout_s, err)) < 0 ||
	    (r = get_string(pub, w, "serviceUrl", S_TOKEN, 2048, false,
			    &req->service_url, err)) < 0 ||
	    (r = get_enum(pub, w, "consistency", cons, &level, err)) < 0 ||
	    (r = get_bool(pub, w, "requirePurgeProtection", &req->require_purge_protection,
			  err)) < 0)
		return r;
	req->fs_consistent = level == 1;
	if ((r = parse_moved(pub, req, err)) < 0)
		return r;
	if (req->service_url && strncmp(req->service_url, "https://", 8) != 0 &&
	    strncmp(req->service_url, "http://", 7) != 0)
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "publicSettings.serviceUrl must be an http:// or https:// URL");
	if (req->vault_url && strncmp(req->vault_url, "https://", 8) != 0)
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "publicSettings.vaultUrl must be an https:// URL");
	if (alg >= 0) {
		req->kek_alg = strdup(algs[alg]);
		if (!req->kek_alg)
			return -ENOMEM;
	}
	req->rotate_kek = what == 1;
	return 0;
}

static int parse_protected(struct json_object *prot, struct vv_handler_request *req,
			   struct vv_error *err)
{
	static const char *const keys[] = { "aadClientSecret", NULL };
	struct json_object *v;
	size_t len;
	int r;

	r = only_keys(prot, "protectedSettings", keys, err);
	if (r < 0)
		return r;
	r = member(prot, "protectedSettings", "aadClientSecret", json_type_string, "a string", &v,
		   err);
	if (r <= 0)
		return r;
	len = (size_t)json_object_get_string_len(v);
	if (len == 0 || len > 1024)
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "protectedSettings.aadClientSecret must hold 1 to 1024 characters");
	req->aad_client_secret = vv_secret_from(json_object_get_string(v), len);
	if (!req->aad_client_secret)
		return vv_fail(err, -ENOMEM, VV_CAUSE_SYSTEM, "out of memory");
	return 0;
}

/* Rules that span several keys. */
static int cross_check(struct vv_handler_request *req, struct vv_error *err)
{
	const char *op = vv_handler_op_str(req->op);

	if (req->aad_client_secret && !req->aad_client_id)
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "protectedSettings.aadClientSecret needs publicSettings.aadClientId");
	if (req->aad_client_id && !req->aad_client_secret)
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "publicSettings.aadClientId needs protectedSettings.aadClientSecret");
	if (req->aad_client_id && req->identity_client_id)
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "publicSettings: give aadClientId or managedIdentityClientId, not both");
	for (size_t i = 0; req->op == VV_HOP_PROVISION && i < req->nvolumes; i++)
		if (req->volumes[i].fs && strcmp(req->volumes[i].fs, "ext4") != 0 &&
		    strcmp(req->volumes[i].fs, "xfs") != 0)
			return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
				       "publicSettings.volumes[%zu].fs must be \"ext4\" or \"xfs\"",
				       i);
	if ((req->op == VV_HOP_PROVISION || req->op == VV_HOP_ROTATE) && req->nvolumes == 0)
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "publicSettings.volumes must list the volumes to %s", op);
	if (req->rotate_kek && req->op != VV_HOP_ROTATE)
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "publicSettings.rotate applies to operation \"rotate\" only");
	if (req->rotate_kek && !req->kek_url)
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "publicSettings.rotate \"kek\" needs publicSettings.kekUrl (the new KEK)");
	if (req->kek_alg && !req->kek_url)
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "publicSettings.kekAlgorithm needs publicSettings.kekUrl");
	if (req->kek_url && req->op != VV_HOP_PROVISION && req->op != VV_HOP_ROTATE)
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "publicSettings.kekUrl applies to provision and rotate only");
	if (req->require_purge_protection && req->op != VV_HOP_PROVISION &&
	    req->op != VV_HOP_ROTATE)
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "publicSettings.requirePurgeProtection applies to provision and "
			       "rotate only");
	if ((req->timeout_s || req->service_url || req->fs_consistent) &&
	    req->op != VV_HOP_SNAPSHOT)
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "publicSettings.%s applies to snapshot only",
			       req->timeout_s ? "timeoutSeconds" :
			       req->service_url ? "serviceUrl" : "consistency");
	if (req->op == VV_HOP_SNAPSHOT && !req->service_url)
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "publicSettings.serviceUrl (the backup service) is required for snapshot");
	if (req->op == VV_HOP_SNAPSHOT && req->nvolumes)
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "publicSettings.volumes does not apply to snapshot "
			       "(every mounted filesystem is frozen; exclude some in the config file)");
	return 0;
}

int vv_handler_request_build(struct json_object *public_settings,
			     struct json_object *protected_settings,
			     struct vv_handler_request *req,
			     struct vv_error *err)
{
	int r = 0;

	memset(req, 0, sizeof(*req));
	req->op = VV_HOP_REOPEN;
	if (public_settings)
		r = parse_public(public_settings, req, err);
	if (r == 0 && protected_settings)
		r = parse_protected(protected_settings, req, err);
	if (r == 0)
		r = cross_check(req, err);
	if (r < 0)
		vv_handler_request_clear(req);
	return r;
}

void vv_handler_request_clear(struct vv_handler_request *req)
{
	for (size_t i = 0; i < req->nvolumes; i++)
		volume_clear(&req->volumes[i]);
	free(req->volumes);
	free(req->vault_url);
	free(req->kek_url);
	free(req->moved_from);
	free(req->moved_to);
	free(req->kek_alg);
	free(req->identity_client_id);
	free(req->aad_client_id);
	free(req->aad_tenant_id);
	free(req->service_url);
	vv_secret_free(req->aad_client_secret);
	memset(req, 0, sizeof(*req));
}
