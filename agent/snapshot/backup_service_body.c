// SPDX-License-Identifier: GPL-2.0-or-later
/* JSON bodies of the backup service protocol (docs/snapshot-protocol.md). */
#include "agent/snapshot/backup_service.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent/freeze/freeze_marker.h"
#include "agent/volume/luks2_token.h"

int vv_request_id(char out[33])
{
	unsigned char b[16];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	return 0;
}

int vv_key_refs_from_token(void *ctx, const char *mapper_name, const char *lower_dev,
			   char **key, char **kek, char **alg)
{
	struct vv_token t;
	int r;

	(void)ctx;
	(void)mapper_name;
	r = vv_token_read(lower_dev, &t);
	if (r < 0)
		return -ENOENT;
	*key = t.key ? strdup(t.key) : NULL;
	*kek = t.kek ? strdup(t.kek) : NULL;
	*alg = t.alg ? strdup(t.alg) : NULL;
	vv_token_clear(&t);
	return *key ? 0 : -ENOENT;
}

static void jstr(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static const char *layer_type(const struct vv_fs_layer *l)
{
	if (l->backing_file)
		return "loop";
	if (l->partition)
		return "partition";
	if (!l->dm_uuid)
		return l->dm_name ? "dm" : "disk";
	if (!strncmp(l->dm_uuid, "CRYPT-", 6))
		return "crypt";
	return "dm";
}

/*
 * The encrypted layer of a stack and what it sits on. The volume's name is
 * the outermost mapping (vaultvol stacks NAME = quiesce over NAME-vvcrypt),
 * which is the name the config file uses.
 */
static struct json_object *encryption_json(const struct vv_fs *f, vv_key_ref_fn fn, void *ctx)
{
	const char *volume = f->n_layers && f->layers[0].dm_name ? f->layers[0].dm_name : NULL;

	for (size_t i = 0; i < f->n_layers; i++) {
		const struct vv_fs_layer *l = &f->layers[i];
		struct json_object *e;
		char lower[300];
		char *key = NULL, *kek = NULL, *alg = NULL;

		if (!l->dm_uuid || strncmp(l->dm_uuid, "CRYPT-", 6) != 0)
			continue;
		/* Layers are depth-first: the crypt device's first slave follows it. */
		if (i + 1 >= f->n_layers)
			return NULL;
		snprintf(lower, sizeof(lower), "/dev/%s", f->layers[i + 1].kname);
		e = json_object_new_object();
		jstr(e, "volume", volume ? volume : l->dm_name);
		jstr(e, "crypt_mapper", l->dm_name);
		jstr(e, "device", lower);
		/* CRYPT-LUKS2-<uuid>-<name>, CRYPT-LUKS1-..., CRYPT-BITLK-... */
		{
			char fmt[16] = "";
			const char *p = l->dm_uuid + 6, *dash = strchr(p, '-');

			if (dash && (size_t)(dash - p) < sizeof(fmt)) {
				memcpy(fmt, p, (size_t)(dash - p));
				fmt[dash - p] = '\0';
			}
			jstr(e, "format", fmt[0] ? fmt : NULL);
		}
		if (fn && fn(ctx, volume ? volume : l->dm_name, lower, &key, &kek, &alg) == 0) {
			jstr(e, "key", key);
			jstr(e, "kek", kek);
			jstr(e, "alg", alg);
		} else {
			jstr(e, "key", NULL);
		}
		free(key);
		free(kek);
		free(alg);
		return e;
	}
	return NULL;
}

static struct json_object *fs_json(const struct vv_fs *f, vv_key_ref_fn fn, void *ctx)
{
	struct json_object *o = json_object_new_object();
	struct json_object *layers = json_object_new_array(), *disks = json_object_new_array();
	char dev[24];

	snprintf(dev, sizeof(dev), "%u:%u", major(f->devno), minor(f->devno));
	jstr(o, "mount", f->target);
	jstr(o, "fstype", f->fstype);
	jstr(o, "source", f->source);
	jstr(o, "device", dev);
	json_object_object_add(o, "wave", json_object_new_int(f->wave));
	for (size_t i = 0; i < f->n_layers; i++) {
		const struct vv_fs_layer *l = &f->layers[i];
		struct json_object *lj = json_object_new_object();

		jstr(lj, "kname", l->kname);
		jstr(lj, "type", layer_type(l));
		if (l->dm_name)
			jstr(lj, "dm_name", l->dm_name);
		if (l->dm_uuid)
			jstr(lj, "dm_uuid", l->dm_uuid);
		if (l->backing_file)
			jstr(lj, "backing_file", l->backing_file);
		json_object_array_add(layers, lj);
		if (l->leaf)
			json_object_array_add(disks, json_object_new_string(l->kname));
	}
	json_object_object_add(o, "layers", layers);
	json_object_object_add(o, "disks", disks);
	json_object_object_add(o, "encryption", encryption_json(f, fn, ctx));
	return o;
}

static char *dump(struct json_object *o)
{
	const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE);
	char *s = t ? strdup(t) : NULL;

	json_object_put(o);
	return s;
}

int vv_bsvc_prepare_body(const char *request_id, const struct vv_freeze_plan *plan,
			 enum vv_consistency requested, long timeout_ms,
			 vv_key_ref_fn key_refs, void *ctx, char **out)
{
	struct json_object *o = json_object_new_object(), *vm = json_object_new_object();
	struct json_object *arr = json_object_new_array(), *sk = json_object_new_array();
	char host[256] = "", boot[40];

	json_object_object_add(o, "protocol", json_object_new_int(VV_BSVC_PROTOCOL));
	jstr(o, "request_id", request_id);
	gethostname(host, sizeof(host) - 1);
	vv_boot_id(boot);
	jstr(vm, "hostname", host);
	jstr(vm, "boot_id", boot);
	json_object_object_add(o, "vm", vm);
	jstr(o, "requested", vv_consistency_name(requested));
	json_object_object_add(o, "timeout_ms", json_object_new_int64(timeout_ms));
	for (size_t i = 0; i < plan->n; i++)
		json_object_array_add(arr, fs_json(&plan->fs[i], key_refs, ctx));
	json_object_object_add(o, "filesystems", arr);
	for (size_t i = 0; i < plan->n_skipped; i++) {
		struct json_object *s = json_object_new_object();

		jstr(s, "mount", plan->skipped[i].target);
		jstr(s, "fstype", plan->skipped[i].fstype);
		jstr(s, "reason", plan->skipped[i].reason);
		json_object_array_add(sk, s);
	}
	json_object_object_add(o, "skipped", sk);
	*out = dump(o);
	return *out ? 0 : -ENOMEM;
}

int vv_bsvc_take_body(const char *request_id, const struct vv_freezer *fz,
		      enum vv_consistency expected, long ms_left, char **out)
{
	struct json_object *o = json_object_new_object();
	struct json_object *frozen = json_object_new_array(), *nf = json_object_new_array();

	jstr(o, "request_id", request_id);
	for (size_t i = 0; i < fz->n; i++) {
		const struct vv_freeze_target *t = &fz->t[i];

		if (t->state == VV_FZ_FROZEN || t->state == VV_FZ_BUSY) {
			json_object_array_add(frozen, json_object_new_string(t->fs->target));
		} else {
			struct json_object *e = json_object_new_object();

			jstr(e, "mount", t->fs->target);
			jstr(e, "state", vv_freeze_state_name(t->state));
			json_object_array_add(nf, e);
		}
	}
	json_object_object_add(o, "frozen", frozen);
	json_object_object_add(o, "not_frozen", nf);
	jstr(o, "consistency", vv_consistency_name(expected));
	json_object_object_add(o, "deadline_ms_left", json_object_new_int64(ms_left));
	*out = dump(o);
	return *out ? 0 : -ENOMEM;
}
