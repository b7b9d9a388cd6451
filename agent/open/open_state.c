// SPDX-License-Identifier: GPL-2.0-or-later
/* <state_dir>/volumes.json: the outcome of open/close per volume, never a key. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent/open/open.h"
#include "agent/config/state_dir.h"
#include "base/log.h"
#include "base/writefile.h"

/* Far more than any number of volumes writes; a bigger file is not ours. */
#define VV_OPEN_STATE_MAX (4 * 1024 * 1024)


static int add_str(struct json_object *o, const char *k, const char *v)
{
	struct json_object *s;

	if (!v || !*v)
		return 0;
	s = json_object_new_string(v);
	if (!s)
		return -ENOMEM;
	json_object_object_add(o, k, s);
	return 0;
}

/* "NAME_expires" (epoch) and "NAME_expires_days" (from now) when exp is known. */
static void add_expiry(struct json_object *o, const char *name, int64_t exp)
{
	char k[64];

	if (!exp)
		return;
	snprintf(k, sizeof(k), "%s_expires", name);
	json_object_object_add(o, k, json_object_new_int64(exp));
	snprintf(k, sizeof(k), "%s_expires_days", name);
	json_object_object_add(o, k, json_object_new_int64(vv_expiry_days(exp, time(NULL))));
}

struct json_object *vv_open_vol_json(const struct vv_vol *v)
{
	struct json_object *o = json_object_new_object();
	char m[200];
	int r = 0;

	if (!o)
		return NULL;
	r |= add_str(o, "name", v->conf.name);
	r |= add_str(o, "device", v->device);
	r |= add_str(o, "type", vv_vol_type_str(v->type));
	r |= add_str(o, "uuid", v->uuid);
	r |= add_str(o, "opened_uuid", v->opened_uuid);
	if (v->lun >= 0)
		json_object_object_add(o, "lun", json_object_new_int(v->lun));
	r |= add_str(o, "match", vv_match_str(&v->conf.match, m, sizeof(m)));
	r |= add_str(o, "described_by", v->conf.where);
	r |= add_str(o, "key_origin", v->conf.key ? vv_origin_str(v->key_origin) : NULL);
	/* References and versions are not secrets; they say which key opened it. */
	r |= add_str(o, "key_ref", v->conf.key);
	r |= add_str(o, "key_source", v->key_source);
	r |= add_str(o, "key_version", v->key_version);
	r |= add_str(o, "kek_version", v->kek_version);
	add_expiry(o, "secret", v->secret_exp);
	add_expiry(o, "kek", v->kek_exp);
	r |= add_str(o, "state", vv_vstate_str(v->state));
	r |= add_str(o, "mount", v->conf.mount);
	r |= add_str(o, "mounted_on", v->mounted_on);
	r |= add_str(o, "device_mapper", v->state == VV_VS_OPEN || v->state == VV_VS_MOUNTED ?
		     v->top : NULL);
	json_object_object_add(o, "quiesce", json_object_new_boolean(v->quiesced));
	if (v->reencrypt_pct >= 0)
		json_object_object_add(o, "encryption_progress", json_object_new_int(v->reencrypt_pct));
	if (v->fail) {
		r |= add_str(o, "error", vv_fail_str(v->fail));
		if (v->fail == VV_FAIL_KEY_ACCESS)
			r |= add_str(o, "cause", vv_cause_str(v->error.cause));
		r |= add_str(o, "message", v->error.message);
		r |= add_str(o, "remedy", v->error.remedy);
	}
	r |= add_str(o, "warning", v->warning);
	json_object_object_add(o, "updated", json_object_new_int64((int64_t)time(NULL)));
	if (r) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/*
 * The last runs' outcome, after checking the directory and the file. A
 * damaged file is forgotten (the next write replaces it); a missing one is
 * no state; an unsafe one is an error naming the path and the fix.
 */
static int read_state(const char *dir, struct json_object **out, struct vv_error *err)
{
	char *text = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	r = vv_state_file_read(dir, VV_OPEN_STATE_FILE, VV_OPEN_STATE_MAX, &text, &len,
			       err);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	*out = json_tokener_parse(text);
	if (*out && !json_object_is_type(*out, json_type_object)) {
		json_object_put(*out);
		*out = NULL;
	}
	free(text);
	return 0;
}

int vv_open_state_read(const char *dir, struct vv_prev **prev, size_t *n,
		       struct vv_error *err)
{
	struct json_object *o, *vols;
	size_t cnt;
	int r;

	*prev = NULL;
	*n = 0;
	r = read_state(dir, &o, err);
	if (r < 0 || !o)
		return r;
	if (!json_object_object_get_ex(o, "volumes", &vols) ||
	    !json_object_is_type(vols, json_type_array)) {
		json_object_put(o);
		return 0;
	}
	cnt = json_object_array_length(vols);
	*prev = calloc(cnt ? cnt : 1, sizeof(**prev));
	if (!*prev) {
		json_object_put(o);
		return -ENOMEM;
	}
	for (size_t i = 0; i < cnt; i++) {
		struct json_object *e = json_object_array_get_idx(vols, i), *nm, *uu, *ou;
		struct vv_prev *p = &(*prev)[*n];

		/* A JSON null has no string: strdup(NULL) would crash the agent. */
		if (!json_object_object_get_ex(e, "name", &nm) ||
		    !json_object_object_get_ex(e, "uuid", &uu) ||
		    !json_object_is_type(nm, json_type_string) ||
		    !json_object_is_type(uu, json_type_string))
			continue;
		p->name = strdup(json_object_get_string(nm));
		p->uuid = strdup(json_object_get_string(uu));
		if (json_object_object_get_ex(e, "opened_uuid", &ou) &&
		    json_object_is_type(ou, json_type_string))
			p->opened_uuid = strdup(json_object_get_string(ou));
		if (!p->name || !p->uuid) {
			free(p->name);
			free(p->uuid);
			free(p->opened_uuid);
			memset(p, 0, sizeof(*p));
			continue;
		}
		(*n)++;
	}
	json_object_put(o);
	return 0;
}

void vv_prev_free(struct vv_prev *prev, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(prev[i].name);
		free(prev[i].uuid);
		free(prev[i].opened_uuid);
	}
	free(prev);
}

/* The entry named name in an array of volumes, or NULL. */
static struct json_object *find_entry(struct json_object *vols, const char *name)
{
	if (!vols || !json_object_is_type(vols, json_type_array))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(vols); i++) {
		struct json_object *e = json_object_array_get_idx(vols, i), *nm;

		if (json_object_object_get_ex(e, "name", &nm) &&
		    json_object_is_type(nm, json_type_string) &&
		    !strcmp(json_object_get_string(nm), name))
			return e;
	}
	return NULL;
}

/*
 * A volume found open fetched no key this run: what the run that opened it
 * learnt of its keys' expiry stays (the same key still opens it).
 */
static void carry_expiry(struct json_object *e, const struct vv_vol *v,
			 struct json_object *ovols)
{
	static const char *const names[] = { "secret", "kek" };
	struct json_object *old, *x;
	char k[64];

	if (v->expiry_known || !(old = find_entry(ovols, v->conf.name)))
		return;
	for (size_t i = 0; i < 2; i++) {
		snprintf(k, sizeof(k), "%s_expires", names[i]);
		if (!json_object_object_get_ex(e, k, NULL) &&
		    json_object_object_get_ex(old, k, &x) && json_object_is_type(x, json_type_int))
			add_expiry(e, names[i], json_object_get_int64(x));
	}
}

static bool in_run(const struct vv_open_plan *plan, const char *name)
{
	for (size_t i = 0; i < plan->n; i++)
		if (plan->v[i].selected && !strcmp(plan->v[i].conf.name, name))
			return true;
	return false;
}

/* Write text to dir/name atomically (0600), with this file's messages. */
static int write_atomic(const char *dir, const char *name, const char *text,
			struct vv_error *err)
{
	struct vv_error e = { 0 };
	char path[PATH_MAX];
	int r;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	r = vv_file_write_atomic(AT_FDCWD, path, text, strlen(text), 0600, 0, &e);
	/* The temporary file could not be created: the directory is the problem. */
	if (r < 0 && !strncmp(e.message, "cannot create ", 14))
		vv_fail(err, r, VV_CAUSE_SYSTEM, "cannot write in %s: %s", dir, strerror(-r));
	else if (r < 0)
		vv_fail(err, r, VV_CAUSE_SYSTEM, "cannot write %s: %s", path, strerror(-r));
	return r;
}

int vv_open_state_write(const char *dir, const struct vv_open_plan *plan,
			struct vv_error *err)
{
	struct json_object *old = NULL, *ovols = NULL;
	struct json_object *root = json_object_new_object();
	struct json_object *vols = json_object_new_array();
	int r;

	/* Created 0700 when missing; never written through a link or an open dir. */
	r = vv_state_dir_open(dir, true, err);
	if (r >= 0) {
		close(r);
		r = read_state(dir, &old, err);
	}
	if (r < 0)
		goto out;
	r = -ENOMEM;
	if (!root || !vols)
		goto out;
	/* Volumes this run did not look at keep what an earlier run said. */
	if (old && json_object_object_get_ex(old, "volumes", &ovols) &&
	    json_object_is_type(ovols, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(ovols); i++) {
			struct json_object *e = json_object_array_get_idx(ovols, i), *nm;

			if (!json_object_object_get_ex(e, "name", &nm) ||
			    in_run(plan, json_object_get_string(nm)))
				continue;
			json_object_array_add(vols, json_object_get(e));
		}
	}
	for (size_t i = 0; i < plan->n; i++) {
		struct json_object *e;

		/* Undescribed disks are found anew each run; nothing to remember. */
		if (!plan->v[i].selected || plan->v[i].undescribed)
			continue;
		e = vv_open_vol_json(&plan->v[i]);
		if (!e)
			goto out;
		carry_expiry(e, &plan->v[i], ovols);
		json_object_array_add(vols, e);
	}
	json_object_object_add(root, "version", json_object_new_int(1));
	json_object_object_add(root, "updated", json_object_new_int64((int64_t)time(NULL)));
	json_object_object_add(root, "volumes", vols);
	vols = NULL;
	r = write_atomic(dir, VV_OPEN_STATE_FILE,
			 json_object_to_json_string_ext(root, VV_OPEN_JSON_FLAGS), err);
out:
	if (r == -ENOMEM)
		vv_fail(err, r, VV_CAUSE_SYSTEM, "out of memory");
	json_object_put(vols);
	json_object_put(root);
	json_object_put(old);
	return r;
}

static void fill(char **dst, struct json_object *e, const char *key)
{
	struct json_object *v;

	if (*dst || !json_object_object_get_ex(e, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return;
	*dst = strdup(json_object_get_string(v));
}

static void fill_i64(int64_t *dst, struct json_object *e, const char *key)
{
	struct json_object *v;

	if (*dst || !json_object_object_get_ex(e, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return;
	*dst = json_object_get_int64(v);
}

static void fill_buf(char *dst, size_t len, struct json_object *e, const char *key)
{
	struct json_object *v;

	if (dst[0] || !json_object_object_get_ex(e, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return;
	snprintf(dst, len, "%s", json_object_get_string(v));
}

int vv_open_state_merge(const char *dir, struct vv_open_plan *plan)
{
	struct json_object *o, *vols;
	struct vv_error why = { 0 };
	int r;

	r = read_state(dir, &o, &why);
	if (r < 0)
		vv_warn("%s", why.message);
	if (!o)
		return r;
	if (json_object_object_get_ex(o, "volumes", &vols) &&
	    json_object_is_type(vols, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(vols); i++) {
			struct json_object *e = json_object_array_get_idx(vols, i), *nm, *err;
			struct vv_vol *v;

			if (!json_object_object_get_ex(e, "name", &nm) ||
			    !json_object_is_type(nm, json_type_string))
				continue;
			v = vv_open_plan_find(plan, json_object_get_string(nm));
			if (!v)
				continue;
			fill(&v->key_source, e, "key_source");
			fill(&v->key_version, e, "key_version");
			fill(&v->kek_version, e, "kek_version");
			fill_i64(&v->secret_exp, e, "secret_expires");
			fill_i64(&v->kek_exp, e, "kek_expires");
			fill_buf(v->warning, sizeof(v->warning), e, "warning");
			/* The last run's error, unless planning found one now. */
			if (!v->fail && json_object_object_get_ex(e, "error", &err)) {
				fill_buf(v->last_error, sizeof(v->last_error), e, "error");
				fill_buf(v->error.message, sizeof(v->error.message), e, "message");
				fill_buf(v->error.remedy, sizeof(v->error.remedy), e, "remedy");
			}
		}
	}
	json_object_put(o);
	return 0;
}
