// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * <state_dir>/revocation.json: the volumes whose revocation is pending or
 * enforced, so a restarted watch neither restarts a grace period nor
 * forgets a volume it suspended. Times are CLOCK_BOOTTIME seconds (they do
 * not jump with the wall clock), which mean nothing in another boot: the
 * boot id says which boot they belong to.
 *
 *   { "boot_id": "...", "volumes": { "NAME": { "state": "pending",
 *     "first_seen": 1234, "cause": "..." } } }
 *
 * Root's own state, but read strictly all the same: what it says decides
 * whether a volume gets suspended.
 */
#include "agent/revoke/revoke.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent/config/config.h"
#include "agent/config/state_dir.h"
#include "base/readfile.h"
#include "base/writefile.h"

#define VV_RV_STATE_MAX (1024 * 1024)

struct vv_rv_vol *vv_rv_table_get(struct vv_rv_table *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->v[i].name, name))
			return &t->v[i];
	return NULL;
}

int vv_rv_table_set(struct vv_rv_table *t, const struct vv_rv_vol *v)
{
	struct vv_rv_vol *old = vv_rv_table_get(t, v->name), *nv;

	if (v->state == VV_RV_OPEN) {
		if (old) {
			*old = t->v[t->n - 1];
			t->n--;
		}
		return 0;
	}
	if (old) {
		*old = *v;
		return 0;
	}
	nv = realloc(t->v, (t->n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	t->v = nv;
	t->v[t->n++] = *v;
	return 0;
}

void vv_rv_table_free(struct vv_rv_table *t)
{
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

static bool boot_id_valid(const char *s)
{
	if (strlen(s) != VV_RV_BOOT_ID_LEN)
		return false;
	for (int i = 0; i < VV_RV_BOOT_ID_LEN; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	}
	return true;
}

/* A cause is one printable line we wrote; anything else is refused. */
static bool cause_valid(const char *s)
{
	if (!*s || strlen(s) >= VV_RV_CAUSE_MAX)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static int bad(struct vv_error *err, const char *name, const char *what)
{
	return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG, "%s: %s", name, what);
}

static int parse_vol(const char *vname, struct json_object *o, const char *name,
		     struct vv_rv_vol *v, struct vv_error *err)
{
	struct json_object *st = NULL, *fs = NULL, *cause = NULL;
	const char *s;

	if (!vv_volume_name_valid(vname) || strlen(vname) >= sizeof(v->name))
		return bad(err, name, "invalid volume name");
	if (!json_object_is_type(o, json_type_object))
		return bad(err, name, "a volume entry is not an object");
	json_object_object_foreach(o, k, val) {
		(void)val;
		if (strcmp(k, "state") && strcmp(k, "first_seen") && strcmp(k, "cause"))
			return bad(err, name, "unknown key in a volume entry");
	}
	if (!json_object_object_get_ex(o, "state", &st) || !json_object_is_type(st, json_type_string) ||
	    !json_object_object_get_ex(o, "first_seen", &fs) || !json_object_is_type(fs, json_type_int) ||
	    !json_object_object_get_ex(o, "cause", &cause) ||
	    !json_object_is_type(cause, json_type_string))
		return bad(err, name, "a volume entry needs state, first_seen and cause");
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", vname);
	s = json_object_get_string(st);
	if (!strcmp(s, "pending"))
		v->state = VV_RV_PENDING;
	else if (!strcmp(s, "inaccessible"))
		v->state = VV_RV_INACCESSIBLE;
	else
		return bad(err, name, "state is neither pending nor inaccessible");
	v->first_seen = json_object_get_int64(fs);
	if (v->first_seen < 0)
		return bad(err, name, "first_seen is negative");
	if (!cause_valid(json_object_get_string(cause)))
		return bad(err, name, "cause is empty, too long or not one printable line");
	snprintf(v->cause, sizeof(v->cause), "%s", json_object_get_string(cause));
	return 0;
}

/* The parsed document into t, with the boot rule applied. */
static int parse_doc(struct json_object *doc, const char *name, const char *boot_id,
		     int64_t now, struct vv_rv_table *t, struct vv_error *err)
{
	struct json_object *bid = NULL, *vols = NULL;
	bool same_boot;
	int r = 0;

	if (!json_object_is_type(doc, json_type_object))
		return bad(err, name, "not a JSON object");
	json_object_object_foreach(doc, k, val) {
		(void)val;
		if (strcmp(k, "boot_id") && strcmp(k, "volumes"))
			return bad(err, name, "unknown key");
	}
	if (!json_object_object_get_ex(doc, "boot_id", &bid) ||
	    !json_object_is_type(bid, json_type_string) ||
	    !boot_id_valid(json_object_get_string(bid)))
		return bad(err, name, "boot_id missing or not a boot id");
	if (!json_object_object_get_ex(doc, "volumes", &vols) ||
	    !json_object_is_type(vols, json_type_object))
		return bad(err, name, "volumes missing or not an object");
	same_boot = !strcmp(json_object_get_string(bid), boot_id);
	json_object_object_foreach(vols, vname, vo) {
		struct vv_rv_vol v;

		r = parse_vol(vname, vo, name, &v, err);
		if (r < 0)
			return r;
		if (!same_boot && v.state == VV_RV_INACCESSIBLE)
			continue;
		if (!same_boot)
			v.first_seen = now;
		r = vv_rv_table_set(t, &v);
		if (r < 0)
			return r;
	}
	return 0;
}

int vv_rv_state_parse(const char *text, const char *name, const char *boot_id, int64_t now,
		      struct vv_rv_table *t, struct vv_error *err)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *doc = NULL;
	int r;

	memset(t, 0, sizeof(*t));
	snprintf(t->boot_id, sizeof(t->boot_id), "%s", boot_id);
	if (!tok)
		return -ENOMEM;
	doc = json_tokener_parse_ex(tok, text, (int)strlen(text));
	/* Trailing text after the document is as wrong as a broken one. */
	if (!doc || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != strlen(text))
		r = bad(err, name, "not valid JSON");
	else
		r = parse_doc(doc, name, boot_id, now, t, err);
	json_object_put(doc);
	json_tokener_free(tok);
	if (r < 0)
		vv_rv_table_free(t);
	return r;
}

char *vv_rv_state_format(const struct vv_rv_table *t)
{
	struct json_object *doc = json_object_new_object(), *vols = json_object_new_object();
	char *text = NULL;

	if (!doc || !vols)
		goto out;
	json_object_object_add(doc, "boot_id", json_object_new_string(t->boot_id));
	for (size_t i = 0; i < t->n; i++) {
		struct json_object *o = json_object_new_object();

		if (!o)
			goto out;
		json_object_object_add(o, "state", json_object_new_string(vv_rv_state_str(t->v[i].state)));
		json_object_object_add(o, "first_seen", json_object_new_int64(t->v[i].first_seen));
		json_object_object_add(o, "cause", json_object_new_string(t->v[i].cause));
		json_object_object_add(vols, t->v[i].name, o);
	}
	json_object_object_add(doc, "volumes", vols);
	vols = NULL;
	text = strdup(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
						     JSON_C_TO_STRING_NOSLASHESCAPE));
out:
	json_object_put(vols);
	json_object_put(doc);
	return text;
}

int vv_rv_state_load(const char *state_dir, const char *boot_id, int64_t now,
		     struct vv_rv_table *t, struct vv_error *err)
{
	char *text = NULL, name[4200];
	size_t len;
	int r;

	memset(t, 0, sizeof(*t));
	snprintf(t->boot_id, sizeof(t->boot_id), "%s", boot_id);
	r = vv_state_file_read(state_dir, VV_RV_STATE_FILE, VV_RV_STATE_MAX, &text, &len, err);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	snprintf(name, sizeof(name), "%s/%s", state_dir, VV_RV_STATE_FILE);
	r = strlen(text) == len ? vv_rv_state_parse(text, name, boot_id, now, t, err) :
				  bad(err, name, "holds a NUL byte");
	free(text);
	return r;
}

int vv_rv_state_load_current(const char *state_dir, struct vv_rv_table *t,
			     struct vv_error *err)
{
	char boot[VV_RV_BOOT_ID_LEN + 1];
	int r = vv_rv_boot_id(boot, sizeof(boot));

	memset(t, 0, sizeof(*t));
	if (r < 0)
		return vv_fail(err, r, VV_CAUSE_SYSTEM, "reading the boot id: %s", strerror(-r));
	return vv_rv_state_load(state_dir, boot, vv_rv_now(), t, err);
}

int vv_rv_state_save(const char *state_dir, const struct vv_rv_table *t, struct vv_error *err)
{
	char *text = NULL;
	int dfd, r;

	/* Created 0700 when missing; never written through a link. */
	dfd = vv_state_dir_open(state_dir, true, err);
	if (dfd < 0)
		return dfd;
	text = vv_rv_state_format(t);
	r = text ? vv_file_write_atomic(dfd, VV_RV_STATE_FILE, text, strlen(text), 0600, 0, err) :
		   -ENOMEM;
	free(text);
	close(dfd);
	return r;
}

int vv_rv_boot_id(char *buf, size_t len)
{
	char id[64] = "";
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	int r = 0;

	if (!f)
		return -errno;
	if (!fgets(id, sizeof(id), f))
		r = -EIO;
	fclose(f);
	id[strcspn(id, "\n")] = '\0';
	if (!r && (!boot_id_valid(id) || strlen(id) >= len))
		r = -EINVAL;
	if (!r)
		snprintf(buf, len, "%s", id);
	return r;
}

int64_t vv_rv_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (int64_t)ts.tv_sec;
}
