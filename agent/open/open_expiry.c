// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * When the keys that open a volume expire: the secret's "exp" comes with
 * the key; the remote KEK's is asked once per distinct KEK after the
 * volumes are open (best effort). A key about to expire gets a warning on
 * stderr each run, and in the journal at most once a day per volume and
 * key (the boot unit runs `open --all` at every boot, perhaps many a day).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent/open/open.h"
#include "agent/config/state_dir.h"
#include "base/log.h"
#include "base/writefile.h"

/* Far more than any number of volumes needs. */
#define VV_EXPIRY_WARNED_MAX (1024 * 1024)

long vv_expiry_days(int64_t exp, int64_t now)
{
	int64_t d = exp - now;

	/* Rounded down: a key that expired an hour ago is -1 days, not 0. */
	return (long)(d >= 0 ? d / 86400 : -((-d + 86399) / 86400));
}

/* ---- the KEKs' expiry --------------------------------------------------- */

struct kek_seen {
	const char *kid;
	int64_t exp;
	bool known;
};

void vv_open_kek_expiry(struct vv_vault *vault, struct vv_open_plan *plan)
{
	struct kek_seen *seen = calloc(plan->n ? plan->n : 1, sizeof(*seen));
	size_t nseen = 0;
	bool outage = false;

	if (!seen || !vault)
		goto out;
	for (size_t i = 0; i < plan->n; i++) {
		struct vv_vol *v = &plan->v[i];
		struct vv_key_info *k = NULL;
		struct vv_error err = { 0 };
		struct kek_seen *s = NULL;

		/* Only keys this run fetched: their KEK just answered an unwrap. */
		if (!v->selected || v->fail || !v->expiry_known || !v->kek_version ||
		    strncmp(v->kek_version, "https://", 8) || vv_kek_ref_is_local(v->kek_version))
			continue;
		for (size_t j = 0; j < nseen; j++)
			if (!strcmp(seen[j].kid, v->kek_version))
				s = &seen[j];
		if (!s) {
			s = &seen[nseen++];
			s->kid = v->kek_version;
			if (!outage && vv_key_get(vault, v->kek_version, &k, &err) == 0) {
				s->exp = k->exp;
				s->known = true;
			} else if (!outage) {
				/* No "keys get" permission, or gone: expiry unknown, nothing more. */
				vv_debug("%s: the KEK %s's expiry is unknown: %s", v->conf.name,
					 v->kek_version, err.message);
				outage = err.cause == VV_CAUSE_UNAVAILABLE ||
					 err.cause == VV_CAUSE_THROTTLED;
			}
			vv_key_info_free(k);
		}
		if (s->known)
			v->kek_exp = s->exp;
	}
out:
	free(seen);
}

/* ---- warnings ----------------------------------------------------------- */

bool vv_open_expiry_warning(const struct vv_vol *v, bool kek, int64_t now, char *buf,
			    size_t len)
{
	int64_t exp = kek ? v->kek_exp : v->secret_exp;
	const char *id = kek ? v->kek_version : v->key_version;
	time_t t = (time_t)exp;
	char date[32];
	struct tm tm;
	long days;

	if (!exp)
		return false;
	days = vv_expiry_days(exp, now);
	if (days >= VV_EXPIRY_WARN_DAYS)
		return false;
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", &tm);
	snprintf(buf, len, "the %s %s %s on %s (%s%ld day%s%s): %s, or %s (`vaultvol rotate %s%s`)",
		 kek ? "KEK" : "secret", id ? id : kek ? "?" : v->conf.key ? v->conf.key : "?",
		 exp <= now ? "expired" : "expires", date,
		 exp <= now ? "" : "in ", days < 0 ? -days : days, labs(days) == 1 ? "" : "s",
		 exp <= now ? " ago" : "",
		 kek ? "set a new expiry date on the key in the vault" :
		 "set a new expiry date on the secret in the vault",
		 kek ? "rotate to a new KEK" : "rotate the key",
		 v->device ? v->device : "DEVICE", kek ? " --kek NEW-KEK-REF" : "");
	return true;
}

/* The last day (YYYY-MM-DD, UTC) each "VOLUME/secret" or "VOLUME/kek" went to the journal. */
static struct json_object *warned_read(const char *dir)
{
	struct vv_error err = { 0 };
	struct json_object *o = NULL;
	char *text = NULL;
	size_t len = 0;

	if (vv_state_file_read(dir, VV_EXPIRY_WARNED_FILE, VV_EXPIRY_WARNED_MAX, &text, &len,
			       &err) == 0)
		o = json_tokener_parse(text);
	else if (err.message[0])
		vv_warn("%s", err.message);
	free(text);
	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	/* Missing or damaged: nothing warned yet (the write replaces it). */
	return o ? o : json_object_new_object();
}

static void warned_write(const char *dir, struct json_object *o)
{
	const char *text = json_object_to_json_string_ext(o, VV_OPEN_JSON_FLAGS);
	struct vv_error err = { 0 };
	char path[PATH_MAX];
	int fd;

	/* Created 0700 when missing; never written through a link. */
	fd = vv_state_dir_open(dir, true, &err);
	if (fd < 0) {
		vv_warn("%s", err.message);
		return;
	}
	close(fd);
	snprintf(path, sizeof(path), "%s/%s", dir, VV_EXPIRY_WARNED_FILE);
	if (vv_file_write_atomic(AT_FDCWD, path, text, strlen(text), 0600, 0, &err) < 0)
		vv_warn("%s", err.message);
}

void vv_open_expiry_report(const char *state_dir, const struct vv_open_plan *plan,
			   bool journal, int64_t now)
{
	struct json_object *warned = NULL;
	time_t t = (time_t)now;
	bool changed = false;
	char today[16];
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(today, sizeof(today), "%Y-%m-%d", &tm);
	for (size_t i = 0; i < plan->n; i++) {
		const struct vv_vol *v = &plan->v[i];

		if (!v->selected || v->fail || v->undescribed)
			continue;
		for (int kek = 0; kek < 2; kek++) {
			struct vv_log_fields f = { .volume = v->conf.name,
						   .message_id = VV_MSGID_KEY_EXPIRING };
			struct json_object *last;
			char key[300], msg[1024];

			if (!vv_open_expiry_warning(v, kek, now, msg, sizeof(msg)))
				continue;
			if (!journal) {
				fprintf(stderr, "%s: warning: %s\n", v->conf.name, msg);
				continue;
			}
			if (!warned && !(warned = warned_read(state_dir)))
				return;
			snprintf(key, sizeof(key), "%s/%s", v->conf.name, kek ? "kek" : "secret");
			if (json_object_object_get_ex(warned, key, &last) &&
			    json_object_is_type(last, json_type_string) &&
			    !strcmp(json_object_get_string(last), today))
				continue;
			f.key_ref = kek ? v->kek_version : v->key_version ? v->key_version : v->conf.key;
			vv_log_with(VV_LOG_WARN, &f, "%s: %s", v->conf.name, msg);
			json_object_object_add(warned, key, json_object_new_string(today));
			changed = true;
		}
	}
	if (changed)
		warned_write(state_dir, warned);
	json_object_put(warned);
}
