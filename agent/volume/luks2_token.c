// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The `vaultvol` LUKS2 token (format in agent/volume/luks2_token.h). Parsing is strict:
 * a token that open would have to guess about is refused, because the token
 * decides which key version is fetched for a restored disk. Unknown members
 * are ignored so a newer vaultvol may add optional fields without breaking
 * older readers.
 */
#include "agent/volume/luks2_token.h"
#include "agent/volume/crypt_internal.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "agent/config/config.h"
#include "base/log.h"

#define VV_TOKEN_FORMAT 1
/* Key Vault URLs are < 300 bytes; a path can be long but not this long. */
#define VV_TOKEN_STR_MAX 4096
/* LUKS2 keyslots are numbered 0..31. */
#define VV_KEYSLOT_MAX 31
/* A LUKS2 JSON area is at most 4 MiB; a token is a few hundred bytes. */
#define VV_TOKEN_JSON_MAX (64 * 1024)

/* *t as "no token": what a reader leaves when it finds none. */
static void token_none(struct vv_token *t)
{
	memset(t, 0, sizeof(*t));
	t->token_id = -1;
	t->keyslot = -1;
}

void vv_token_clear(struct vv_token *t)
{
	if (!t)
		return;
	free(t->key);
	free(t->kek);
	free(t->alg);
	free(t->name);
	free(t->mount);
	free(t->fs);
	free(t->options);
	free(t->retire_key);
	free(t->retire_kek);
	free(t->retire_alg);
	token_none(t);
}

/* Printable, no control characters: these end up in messages and fstab-like output. */
static bool str_ok(const char *s, bool allow_empty)
{
	size_t n = strlen(s);

	if (n > VV_TOKEN_STR_MAX || (!n && !allow_empty))
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/*
 * Copy member key of o into *out. Absent: *out stays NULL and 0 unless
 * required. Present with a wrong type or bad content: -EINVAL.
 */
static int get_str(struct json_object *o, const char *key, bool required,
		   char **out)
{
	struct json_object *v;
	const char *s;

	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return required ? -EINVAL : 0;
	if (!json_object_is_type(v, json_type_string))
		return -EINVAL;
	s = json_object_get_string(v);
	if (!s || !str_ok(s, false))
		return -EINVAL;
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

static int parse_keyslot(const char *s)
{
	char *end;
	long n;

	if (!*s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno || *end || n < 0 || n > VV_KEYSLOT_MAX)
		return -EINVAL;
	return (int)n;
}

/* The "retire" object: keyslot and key required, a different keyslot. */
static int parse_retire(struct json_object *o, struct vv_token *n)
{
	struct json_object *slot;
	int r;

	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "keyslot", &slot) ||
	    !json_object_is_type(slot, json_type_string))
		return -EINVAL;
	n->retire_keyslot = parse_keyslot(json_object_get_string(slot));
	if (n->retire_keyslot < 0 || n->retire_keyslot == n->keyslot)
		return -EINVAL;
	if ((r = get_str(o, "key", true, &n->retire_key)) < 0 ||
	    (r = get_str(o, "kek", false, &n->retire_kek)) < 0 ||
	    (r = get_str(o, "alg", false, &n->retire_alg)) < 0)
		return r;
	if (n->retire_alg && !n->retire_kek)
		return -EINVAL;
	return 0;
}

int vv_token_from_json(const char *json, struct vv_token *t)
{
	struct json_object *root = NULL, *v, *slot;
	struct json_tokener *tok = NULL;
	struct vv_token n = { .token_id = -1, .keyslot = -1 };
	const char *end;
	size_t len;
	int r = -EINVAL;

	token_none(t);
	if (!json)
		return -EINVAL;
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	len = strnlen(json, VV_TOKEN_JSON_MAX + 1);
	if (len > VV_TOKEN_JSON_MAX)
		goto out;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, json, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(root, json_type_object))
		goto out;
	/* Nothing but blanks after the object: no second document smuggled in. */
	for (end = json + json_tokener_get_parse_end(tok); *end; end++)
		if (!strchr(" \t\r\n", *end))
			goto out;

	if (!json_object_object_get_ex(root, "type", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), VV_TOKEN_TYPE))
		goto out;
	/* A format we do not know could mean anything: refuse, do not guess. */
	if (!json_object_object_get_ex(root, "vv_version", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) != VV_TOKEN_FORMAT)
		goto out;
	/* Exactly one keyslot: the one the key opens. */
	if (!json_object_object_get_ex(root, "keyslots", &v) ||
	    !json_object_is_type(v, json_type_array) ||
	    json_object_array_length(v) != 1)
		goto out;
	slot = json_object_array_get_idx(v, 0);
	if (!json_object_is_type(slot, json_type_string))
		goto out;
	n.keyslot = parse_keyslot(json_object_get_string(slot));
	if (n.keyslot < 0)
		goto out;

	if ((r = get_str(root, "key", true, &n.key)) < 0 ||
	    (r = get_str(root, "kek", false, &n.kek)) < 0 ||
	    (r = get_str(root, "alg", false, &n.alg)) < 0 ||
	    (r = get_str(root, "name", true, &n.name)) < 0 ||
	    (r = get_str(root, "mount", false, &n.mount)) < 0 ||
	    (r = get_str(root, "fs", false, &n.fs)) < 0 ||
	    (r = get_str(root, "options", false, &n.options)) < 0)
		goto out;
	if (json_object_object_get_ex(root, "retire", &v) &&
	    (r = parse_retire(v, &n)) < 0)
		goto out;
	r = -EINVAL;
	/* An algorithm without a KEK names nothing to unwrap with. */
	if (n.alg && !n.kek)
		goto out;
	/*
	 * The name becomes /dev/mapper/<name>, <name>-vvcrypt and a key in
	 * volumes.json: the rule of config volume names, whoever wrote it.
	 */
	if (!vv_volume_name_valid(n.name))
		goto out;
	if (n.mount && n.mount[0] != '/')
		goto out;
	*t = n;
	memset(&n, 0, sizeof(n));
	r = 0;
out:
	vv_token_clear(&n);
	if (root)
		json_object_put(root);
	json_tokener_free(tok);
	return r;
}

static bool is_file_ref(const char *ref)
{
	return ref && !strncmp(ref, "file:", 5);
}

const char *vv_token_local_ref(const struct vv_token *t)
{
	const char *refs[] = { t->key, t->kek, t->retire_key, t->retire_kek };

	for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++)
		if (is_file_ref(refs[i]))
			return refs[i];
	return NULL;
}

static int add_str(struct json_object *o, const char *key, const char *val,
		   bool required)
{
	struct json_object *s;

	if (!val)
		return required ? -EINVAL : 0;
	if (!str_ok(val, false))
		return -EINVAL;
	s = json_object_new_string(val);
	if (!s)
		return -ENOMEM;
	if (json_object_object_add(o, key, s)) {
		json_object_put(s);
		return -ENOMEM;
	}
	return 0;
}

int vv_token_to_json(const struct vv_token *t, char **json)
{
	struct json_object *root = NULL, *slots = NULL, *v;
	struct vv_token check;
	char slot[16];
	const char *txt;
	int r = -EINVAL;

	*json = NULL;
	if (t->keyslot < 0 || t->keyslot > VV_KEYSLOT_MAX || (t->alg && !t->kek))
		return -EINVAL;
	root = json_object_new_object();
	slots = json_object_new_array();
	if (!root || !slots) {
		r = -ENOMEM;
		goto out;
	}
	snprintf(slot, sizeof(slot), "%d", t->keyslot);
	if ((r = add_str(root, "type", VV_TOKEN_TYPE, true)) < 0)
		goto out;
	v = json_object_new_string(slot);
	if (!v || json_object_array_add(slots, v)) {
		json_object_put(v);
		r = -ENOMEM;
		goto out;
	}
	json_object_object_add(root, "keyslots", slots);
	slots = NULL;
	json_object_object_add(root, "vv_version", json_object_new_int(VV_TOKEN_FORMAT));
	if ((r = add_str(root, "key", t->key, true)) < 0 ||
	    (r = add_str(root, "kek", t->kek, false)) < 0 ||
	    (r = add_str(root, "alg", t->alg, false)) < 0 ||
	    (r = add_str(root, "name", t->name, true)) < 0 ||
	    (r = add_str(root, "mount", t->mount, false)) < 0 ||
	    (r = add_str(root, "fs", t->fs, false)) < 0 ||
	    (r = add_str(root, "options", t->options, false)) < 0)
		goto out;
	if (t->retire_key) {
		struct json_object *ret = json_object_new_object();

		if (!ret) {
			r = -ENOMEM;
			goto out;
		}
		json_object_object_add(root, "retire", ret);
		snprintf(slot, sizeof(slot), "%d", t->retire_keyslot);
		if ((r = add_str(ret, "keyslot", slot, true)) < 0 ||
		    (r = add_str(ret, "key", t->retire_key, true)) < 0 ||
		    (r = add_str(ret, "kek", t->retire_kek, false)) < 0 ||
		    (r = add_str(ret, "alg", t->retire_alg, false)) < 0)
			goto out;
	}
	txt = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	if (!txt) {
		r = -ENOMEM;
		goto out;
	}
	/* Never write what we would refuse to read back. */
	r = vv_token_from_json(txt, &check);
	vv_token_clear(&check);
	if (r < 0)
		goto out;
	*json = strdup(txt);
	r = *json ? 0 : -ENOMEM;
out:
	json_object_put(slots);
	json_object_put(root);
	return r;
}

static int load_luks2(const char *device, struct crypt_device **out)
{
	struct crypt_device *cd = NULL;
	int r;

	vv_crypt_quiet();
	r = crypt_init(&cd, device);
	if (r < 0)
		return r == -ENOTBLK ? -ENODEV : r;
	r = crypt_load(cd, CRYPT_LUKS2, NULL);
	if (r < 0) {
		crypt_free(cd);
		/* LUKS1 and BitLocker cannot hold tokens; treat as "no token". */
		if (crypt_init(&cd, device) == 0) {
			bool other = crypt_load(cd, CRYPT_LUKS1, NULL) == 0 ||
				     crypt_load(cd, CRYPT_BITLK, NULL) == 0;

			crypt_free(cd);
			if (other)
				return -ENOENT;
		}
		return -EINVAL;
	}
	*out = cd;
	return 0;
}

/* Token id of the first vaultvol token, -ENOENT when none. */
static int find_token(struct crypt_device *cd)
{
	int max = crypt_token_max(CRYPT_LUKS2);
	int i;

	for (i = 0; i < max; i++) {
		const char *type = NULL;
		crypt_token_info st = crypt_token_status(cd, i, &type);

		if (st == CRYPT_TOKEN_INVALID)
			break;
		if (st == CRYPT_TOKEN_INACTIVE || !type)
			continue;
		if (!strcmp(type, VV_TOKEN_TYPE))
			return i;
	}
	return -ENOENT;
}

/* The vaultvol token of the LUKS2 header loaded in cd (vv_token_read's contract). */
static int token_of(struct crypt_device *cd, const char *device, struct vv_token *t)
{
	const char *json = NULL;
	int id, r;

	token_none(t);
	id = find_token(cd);
	if (id < 0)
		return id;
	r = crypt_token_json_get(cd, id, &json);
	if (r < 0)
		return r;
	r = vv_token_from_json(json, t);
	if (r < 0) {
		vv_warn("%s: vaultvol token %d is malformed", device, id);
		return r;
	}
	t->token_id = id;
	return 0;
}

int vv_token_read(const char *device, struct vv_token *t)
{
	struct crypt_device *cd = NULL;
	int r;

	token_none(t);
	r = load_luks2(device, &cd);
	if (r < 0)
		return r;
	r = token_of(cd, device, t);
	crypt_free(cd);
	return r;
}

int vv_token_read_loaded(struct vv_unlock *u, const char *device, struct vv_token *t)
{
	if (u->type != VV_VOL_LUKS2) {
		token_none(t);
		return -ENOENT;
	}
	return token_of(u->cd, device, t);
}

/*
 * Did the write land? The header is loaded afresh (libcryptsetup reads it
 * with O_DIRECT, from the disk, not from its own copy) and its token
 * serialised as the one written was: a disk that drops writes (a failing
 * controller, dm-flakey drop_writes) returns the old token, and the
 * caller must not report a change that is not there. 0 or -EIO.
 */
static int read_back_same(const char *device, const char *json, struct vv_token *back)
{
	char *again = NULL;
	int r;

	r = vv_token_read(device, back);
	if (r == 0)
		r = vv_token_to_json(back, &again);
	if (r < 0 || strcmp(again, json)) {
		vv_token_clear(back);
		r = -EIO;
	}
	free(again);
	return r;
}

const char *vv_token_write_why(int r)
{
	if (r == -EIO)
		return "the header did not read back as written (an I/O error, or a disk that "
		       "loses writes): check the disk (dmesg) before running this again";
	return strerror(-r);
}

int vv_token_write(const char *device, const struct vv_token *t)
{
	return vv_token_write_back(device, t, NULL);
}

int vv_token_write_back(const char *device, const struct vv_token *t, struct vv_token *back)
{
	struct vv_token mine;
	struct crypt_device *cd = NULL;
	crypt_keyslot_info st;
	char *json = NULL;
	int id, r;

	if (back)
		token_none(back);
	r = vv_token_to_json(t, &json);
	if (r < 0)
		return r;
	r = load_luks2(device, &cd);
	if (r < 0)
		goto out;
	st = crypt_keyslot_status(cd, t->keyslot);
	if (st != CRYPT_SLOT_ACTIVE && st != CRYPT_SLOT_ACTIVE_LAST) {
		r = -EINVAL;	/* a token naming an empty keyslot opens nothing */
		goto out;
	}
	/*
	 * Replace in place: one header write, so a crash leaves either the old
	 * token or the new one, never neither.
	 */
	id = find_token(cd);
	r = crypt_token_json_set(cd, id >= 0 ? id : CRYPT_ANY_TOKEN, json);
	if (r < 0)
		goto out;
	crypt_free(cd);
	cd = NULL;
	r = read_back_same(device, json, back ? back : &mine);
	if (!back)
		vv_token_clear(&mine);
out:
	crypt_free(cd);
	free(json);
	return r;
}
