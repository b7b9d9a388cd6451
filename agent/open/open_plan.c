// SPDX-License-Identifier: GPL-2.0-or-later
/* Planning an open: merging token, config and ADE descriptions (pure). */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/volume/mount.h"
#include "agent/open/open.h"

const char *vv_vstate_str(enum vv_vstate s)
{
	switch (s) {
	case VV_VS_CLOSED: return "closed";
	case VV_VS_OPEN: return "open";
	case VV_VS_MOUNTED: return "mounted";
	case VV_VS_FAILED: return "failed";
	case VV_VS_UNDESCRIBED: return "undescribed";
	default: return "unknown";
	}
}

const char *vv_fail_str(enum vv_fail f)
{
	switch (f) {
	case VV_FAIL_NONE: return "";
	case VV_FAIL_NO_KEY_REF: return "no-key-reference";
	case VV_FAIL_KEY_ACCESS: return "key-access";
	case VV_FAIL_WRONG_KEY: return "wrong-key";
	case VV_FAIL_HEADER: return "header-damaged";
	case VV_FAIL_MISSING: return "disk-missing";
	case VV_FAIL_AMBIGUOUS: return "ambiguous";
	case VV_FAIL_UNTRUSTED: return "untrusted-device-name";
	case VV_FAIL_UNSUPPORTED: return "unsupported";
	case VV_FAIL_CONFLICT: return "conflict";
	case VV_FAIL_TOKEN: return "token-damaged";
	case VV_FAIL_ACTIVATE: return "activate-failed";
	case VV_FAIL_QUIESCE: return "quiesce-unavailable";
	case VV_FAIL_MOUNT: return "mount-failed";
	case VV_FAIL_REFUSED: return "refused";
	}
	return "unknown";
}

void vv_open_crypt_name(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s-vvcrypt", name);
}

static void vol_clear(struct vv_vol *v)
{
	vv_volume_conf_clear(&v->conf);
	free(v->alt_key);
	free(v->alt_kek);
	free(v->device);
	free(v->key_source);
	free(v->key_version);
	free(v->kek_version);
	free(v->mounted_on);
	memset(v, 0, sizeof(*v));
}

void vv_open_plan_free(struct vv_open_plan *plan)
{
	for (size_t i = 0; i < plan->n; i++)
		vol_clear(&plan->v[i]);
	free(plan->v);
	plan->v = NULL;
	plan->n = 0;
}

struct vv_vol *vv_open_plan_find(struct vv_open_plan *plan, const char *name)
{
	for (size_t i = 0; i < plan->n; i++)
		if (!strcmp(plan->v[i].conf.name, name))
			return &plan->v[i];
	return NULL;
}

static struct vv_vol *plan_add(struct vv_open_plan *plan)
{
	struct vv_vol *nv = realloc(plan->v, (plan->n + 1) * sizeof(*nv));

	if (!nv)
		return NULL;
	plan->v = nv;
	memset(&nv[plan->n], 0, sizeof(nv[0]));
	nv[plan->n].lun = -1;
	nv[plan->n].keyslot = -1;
	nv[plan->n].alt_keyslot = -1;
	nv[plan->n].reencrypt_pct = -1;
	nv[plan->n].selected = true;
	return &nv[plan->n++];
}

static int set_str(char **dst, const char *src)
{
	free(*dst);
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

static bool is_encrypted(const struct vv_blockdev *b)
{
	return !strcmp(b->blkid_type, "crypto_LUKS") || !strcmp(b->blkid_type, "BitLocker");
}

static int take_device(struct vv_vol *v, const struct vv_blockdev *b)
{
	v->type = b->type;
	v->lun = b->lun;
	snprintf(v->uuid, sizeof(v->uuid), "%s", b->uuid);
	return set_str(&v->device, b->path);
}

/* The UUID volume name had when it last opened, or NULL. */
static const char *prev_opened(const struct vv_open_env *env, const char *name)
{
	for (size_t i = 0; i < env->nprev; i++)
		if (!strcmp(env->prev[i].name, name) && env->prev[i].opened_uuid &&
		    env->prev[i].opened_uuid[0])
			return env->prev[i].opened_uuid;
	return NULL;
}

/* The volume that last opened with uuid, or NULL. */
static const char *prev_owner(const struct vv_open_env *env, const char *uuid)
{
	for (size_t i = 0; i < env->nprev && uuid[0]; i++)
		if (env->prev[i].opened_uuid && !strcasecmp(env->prev[i].opened_uuid, uuid))
			return env->prev[i].name;
	return NULL;
}

bool vv_open_is_resource_disk(const struct vv_blockdev *b)
{
	static const char *const marks[] = { "/disk/azure/resource", "/disk/cloud/azure_resource" };

	for (size_t i = 0; i < b->nlinks; i++)
		for (size_t j = 0; j < sizeof(marks) / sizeof(marks[0]); j++) {
			const char *p = strstr(b->links[i], marks[j]);
			int part = 0, n = 0;

			if (!p)
				continue;
			p += strlen(marks[j]);
			/* the disk itself or one of its partitions, nothing else */
			if (!*p || (sscanf(p, "-part%d%n", &part, &n) == 1 && part > 0 && !p[n]))
				return true;
		}
	return false;
}

/*
 * ADE's resource disk found unencrypted: the platform gave the VM a fresh
 * one (restore, redeploy, resize). It is re-encrypted only when both
 * markings agree: ADE's state names it (ade_resource) and the platform's
 * udev link says this disk is the resource disk. 0: v is to be reformatted
 * (or skipped); -1: v failed (never formatted).
 */
static int fresh_resource_disk(struct vv_vol *v, const struct vv_open_env *env,
			       const struct vv_blockdev *b, const char *ms)
{
	if (!vv_open_is_resource_disk(b)) {
		vv_vol_fail(v, VV_FAIL_HEADER, VV_CAUSE_NONE,
			    "check which disk the resourceencrypt line names; vaultvol formats only a "
			    "disk the platform marks as the resource disk",
			    "%s (%s) is named by ADE's resource-disk line but has no LUKS header and "
			    "no /dev/disk/azure/resource link: not formatted", b->path, ms);
		return -1;
	}
	if (env->cfg && env->cfg->ade_resource_skip) {
		v->reformat_skip = true;
		snprintf(v->warning, sizeof(v->warning), "the resource disk %s is unencrypted "
			 "(new after a restore?); left as it is ([ade] resource_disk = skip)", b->path);
		return 0;
	}
	v->reformat = true;
	return 0;
}

/*
 * Where volumes.json knows the UUID v last opened with and the disk its
 * description names now holds another one: the UUID decides. Returns the
 * disk index to use (the recorded UUID's disk, v->relocated set), or -1
 * with v failed (the recorded volume is not attached).
 */
static long check_recorded(struct vv_vol *v, const struct vv_open_env *env, size_t idx,
			   const char *ms)
{
	const struct vv_disks *d = env->disks;
	const struct vv_blockdev *b = &d->dev[idx];
	const char *rec = prev_opened(env, v->conf.name), *owner;
	struct vv_match m = { .kind = VV_MATCH_UUID };
	char holds[200];
	size_t j = 0, other = 0;

	if (!rec || !strcasecmp(b->uuid, rec))
		return (long)idx;
	owner = prev_owner(env, b->uuid);
	snprintf(holds, sizeof(holds), "%s%s%s%s", b->uuid[0] ? b->uuid : "no LUKS volume",
		 owner ? " (volume " : "", owner ? owner : "", owner ? ")" : "");
	m.value = (char *)rec;
	if (vv_discover_match(d, &m, &j, &other) == 0) {
		v->relocated = true;
		snprintf(v->warning, sizeof(v->warning),
			 "%.40s (%.32s) now holds %.100s, not %.64s (uuid %.40s when it last "
			 "opened); its own disk %.32s is used instead. LUNs exchanged? fix the "
			 "description (match by uuid:)", ms, b->path, holds, v->conf.name, rec,
			 d->dev[j].path);
		return (long)j;
	}
	vv_vol_fail(v, VV_FAIL_CONFLICT, VV_CAUSE_NONE,
		    "attach the volume's own disk; if this disk replaced it on purpose, remove the "
		    "volume's entry from volumes.json in the state directory",
		    "%s (%s) now holds %s, not %s (uuid %s, recorded when it last opened); not "
		    "opened in its place", ms, b->path, holds, v->conf.name, rec);
	return -1;
}

/*
 * Find the disk of v. On failure v is marked failed with a cause and a
 * remedy; returns the disk index, -1 when none, or -ENOMEM as -2.
 */
static long resolve(struct vv_vol *v, const struct vv_open_env *env)
{
	const struct vv_disks *d = env->disks;
	char ms[160];
	size_t idx = 0, other = 0;
	int r;

	if (v->conf.match.kind == VV_MATCH_DEVNAME && !v->conf.ade_resource) {
		/* A kernel name is trusted only as the disk a previous run verified. */
		for (size_t i = 0; i < env->nprev; i++) {
			struct vv_match m = { .kind = VV_MATCH_UUID };

			if (strcmp(env->prev[i].name, v->conf.name) || !env->prev[i].uuid)
				continue;
			m.value = strdup(env->prev[i].uuid);
			if (!m.value)
				return -2;
			vv_match_clear(&v->conf.match);
			v->conf.match = m;
			break;
		}
	}
	/* The resource disk holds nothing to keep: the platform's link vouches for it. */
	if (v->conf.match.kind == VV_MATCH_DEVNAME && v->conf.ade_resource &&
	    vv_discover_match(d, &v->conf.match, &idx, NULL) == 0 &&
	    vv_open_is_resource_disk(&d->dev[idx]))
		v->conf.match.kind = VV_MATCH_PATH;
	if (v->conf.match.kind == VV_MATCH_DEVNAME) {
		char hint[200] = "";

		if (vv_discover_match(d, &v->conf.match, &idx, NULL) == 0 && d->dev[idx].uuid[0])
			snprintf(hint, sizeof(hint), " (%s holds %s now: match = %s:%s)",
				 v->conf.match.value, d->dev[idx].uuid,
				 d->dev[idx].type == VV_VOL_BITLK ? "bitlocker" : "uuid",
				 d->dev[idx].uuid);
		snprintf(ms, sizeof(ms), "add a [volume %s] section to vaultvol.conf with a "
			 "stable match (uuid:, lun: or path:/dev/disk/...)", v->conf.name);
		vv_vol_fail(v, VV_FAIL_UNTRUSTED, VV_CAUSE_NONE, ms,
			    "%s names the disk only by its kernel name %s, which can change across "
			    "restores; refusing to guess%s", v->conf.where ? v->conf.where : "ADE state",
			    v->conf.match.value, hint);
		return -1;
	}
	vv_match_str(&v->conf.match, ms, sizeof(ms));
	r = vv_discover_match(d, &v->conf.match, &idx, &other);
	if (r == -ENOENT) {
		vv_vol_fail(v, VV_FAIL_MISSING, VV_CAUSE_NONE,
			    "attach the disk (or fix 'match'); `vaultvol status` lists what was found",
			    "no disk matches %s", ms);
		v->transient = true;
		return -1;
	}
	if (r == -ENOTUNIQ) {
		vv_vol_fail(v, VV_FAIL_AMBIGUOUS, VV_CAUSE_NONE,
			    "detach the copy, or match this volume by lun: or path: instead of its UUID",
			    "ambiguous: %s and %s both match %s (a cloned disk?); refusing to choose",
			    d->dev[idx].path, d->dev[other].path, ms);
		return -1;
	}
	if (r < 0) {
		vv_vol_fail(v, VV_FAIL_MISSING, VV_CAUSE_NONE,
			    "fix 'match'", "cannot resolve %s", ms);
		return -1;
	}
	if (!v->conf.ade_resource && v->conf.match.kind != VV_MATCH_UUID &&
	    v->conf.match.kind != VV_MATCH_BITLOCKER) {
		long j = check_recorded(v, env, idx, ms);

		if (j < 0) {
			if (take_device(v, &d->dev[idx]) < 0)
				return -2;
			return -1;
		}
		idx = (size_t)j;
	}
	if (take_device(v, &d->dev[idx]) < 0)
		return -2;
	if (v->conf.ade_resource && !v->conf.header && !is_encrypted(&d->dev[idx]))
		return fresh_resource_disk(v, env, &d->dev[idx], ms) < 0 ? -1 : (long)idx;
	/* A detached header (ADE) means the disk itself has none to check. */
	if (!v->conf.header) {
		if (!is_encrypted(&d->dev[idx])) {
			vv_vol_fail(v, VV_FAIL_HEADER, VV_CAUSE_NONE,
				    "restore the header from a backup (cryptsetup luksHeaderRestore); "
				    "nothing was written to the disk",
				    "%s (%s) has no LUKS or BitLocker header%s%s: damaged or wiped",
				    d->dev[idx].path, ms, d->dev[idx].blkid_type[0] ? ", it holds " : "",
				    d->dev[idx].blkid_type);
			return -1;
		}
		if (d->dev[idx].probe_rc < 0 && !strcmp(d->dev[idx].blkid_type, "BitLocker")) {
			vv_vol_fail(v, VV_FAIL_UNSUPPORTED, VV_CAUSE_NONE,
				    "open it in Windows (or with dislocker); BitLocker metadata has no "
				    "header backup to restore on Linux",
				    "libcryptsetup cannot use the BitLocker volume on %s (an unsupported "
				    "version, encryption mode or damaged metadata)%s%s",
				    d->dev[idx].path, d->dev[idx].probe_reason[0] ? ": libcryptsetup: " : "",
				    d->dev[idx].probe_reason);
			return -1;
		}
		if (d->dev[idx].probe_rc < 0) {
			vv_vol_fail(v, VV_FAIL_HEADER, VV_CAUSE_NONE,
				    "restore the header from a backup (cryptsetup luksHeaderRestore, or "
				    "`vaultvol` header backups in the state directory); nothing was written",
				    "the %s header on %s is damaged (its signature is there, its metadata "
				    "does not load%s%s)", d->dev[idx].blkid_type, d->dev[idx].path,
				    d->dev[idx].probe_reason[0] ? "; libcryptsetup: " : "",
				    d->dev[idx].probe_reason);
			return -1;
		}
	}
	return (long)idx;
}

/* The token's fields: the key always (token first), the rest where unset. */
static int apply_token(struct vv_vol *v, const struct vv_token *t)
{
	int r = 0;

	r |= set_str(&v->conf.key, t->key);
	r |= set_str(&v->conf.kek, t->kek);
	r |= set_str(&v->conf.alg, t->alg);
	v->key_origin = VV_ORIGIN_TOKEN;
	v->keyslot = t->keyslot;
	if (!v->conf.mount) {
		r |= set_str(&v->conf.mount, t->mount);
		r |= set_str(&v->conf.fs, t->fs);
		r |= set_str(&v->conf.options, t->options);
		v->mount_from_token = t->mount != NULL;
	}
	if (t->retire_key) {
		r |= set_str(&v->alt_key, t->retire_key);
		r |= set_str(&v->alt_kek, t->retire_kek);
		v->alt_keyslot = t->retire_keyslot;
	}
	return r ? -ENOMEM : 0;
}

/*
 * An encrypted disk no description claims: listed (status, open's summary)
 * with what identifies it, never opened. Named luks-UUID / bitlk-GUID (with
 * the device's name appended for a second disk with the same UUID).
 */
static int add_undescribed(struct vv_open_plan *plan, const struct vv_blockdev *b)
{
	bool bitlk = !strcmp(b->blkid_type, "BitLocker");
	const char *base = strrchr(b->path, '/');
	struct vv_vol *v;
	char name[128];

	snprintf(name, sizeof(name), "%s-%.40s", bitlk ? "bitlk" : "luks", b->uuid);
	if (vv_open_plan_find(plan, name))
		snprintf(name + strlen(name), sizeof(name) - strlen(name), ".%.40s",
			 base ? base + 1 : b->path);
	v = plan_add(plan);
	if (!v)
		return -ENOMEM;
	v->undescribed = true;
	v->state = VV_VS_UNDESCRIBED;
	v->conf.origin = VV_ORIGIN_CONFIG;
	v->conf.match.kind = bitlk ? VV_MATCH_BITLOCKER : VV_MATCH_UUID;
	if (set_str(&v->conf.name, name) < 0 || set_str(&v->conf.match.value, b->uuid) < 0 ||
	    take_device(v, b) < 0)
		return -ENOMEM;
	return 0;
}

/*
 * A LUKS2 header is not authenticated: whoever can write the disk writes
 * its token. What the token asks to mount is held to the rules a disk may
 * not break (agent/config/config.h vv_mount_point_check, agent/volume/mount.h). The
 * refusal is recorded for the run (v->refusal): it fails the volume once
 * the key reference has had its say (an untrusted vault is the first thing
 * to name) and before anything is activated or mounted; every other volume
 * goes on.
 */
static void set_refusal(struct vv_vol *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_refusal(struct vv_vol *v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v->refusal, sizeof(v->refusal), fmt, ap);
	va_end(ap);
}

/*
 * A token may name a vault (the allow-list decides), the keystore or the
 * BEK VOLUME; never a local file (vv_token_local_ref says why).
 */
static void check_token_keys(struct vv_vol *v, const struct vv_token *t)
{
	const char *bad = vv_token_local_ref(t);

	if (!bad || v->fail != VV_FAIL_NONE)
		return;
	vv_vol_fail(v, VV_FAIL_REFUSED, VV_CAUSE_NONE,
		    "a disk's token may name a vault, the keystore or the BEK VOLUME, not a local "
		    "file: describe the volume in a [volume] section of vaultvol.conf (trusted "
		    "configuration) if the key really is in that file",
		    "the token on %s names the local file '%s' as a key of volume %s; refused, "
		    "nothing was read", v->device ? v->device : "its disk", bad, v->conf.name);
}

static void check_token_mount(struct vv_vol *v, const struct vv_config *cfg)
{
	char why[PATH_MAX + 160];
	const char *what = "mount point";

	if (!v->mount_from_token || v->fail != VV_FAIL_NONE)
		return;
	if (vv_mount_point_check(v->conf.mount, VV_ORIGIN_TOKEN, why, sizeof(why)) < 0)
		goto refuse;
	what = "filesystem";
	if (v->conf.fs && !vv_mount_fs_allowed(v->conf.fs)) {
		snprintf(why, sizeof(why), "'%s' is not ext4, xfs, btrfs, vfat, ntfs or ntfs3",
			 v->conf.fs);
		goto refuse;
	}
	what = "mount options";
	if (vv_mount_options_check(v->conf.options, cfg ? cfg->token_options_allowed : 0,
				   why, sizeof(why)) < 0)
		goto refuse;
	return;
refuse:
	set_refusal(v, "the token on %s asks to mount volume %s on %s (%s refused: %s); "
		    "nothing was opened", v->device, v->conf.name, v->conf.mount, what, why);
}

/*
 * 1. the config file, 2. ADE state (unless the config covers it): each
 * volume resolved to its disk, which it claims. -ENOMEM only.
 */
static int plan_described(const struct vv_open_env *env, struct vv_open_plan *plan, long *claim)
{
	for (int pass = 0; pass < 2; pass++) {
		const struct vv_volume_conf *src = pass == 0 && env->cfg ? env->cfg->volumes : env->ade;
		size_t nsrc = pass == 0 ? (env->cfg ? env->cfg->nvolumes : 0) : env->nade;

		for (size_t i = 0; i < nsrc; i++) {
			struct vv_vol *v;
			long idx;

			if (pass == 1 && vv_open_plan_find(plan, src[i].name))
				continue;	/* the config file describes it */
			v = plan_add(plan);
			if (!v || vv_volume_conf_copy(&v->conf, &src[i]) < 0)
				return -ENOMEM;
			v->key_origin = src[i].origin;
			if (prev_opened(env, v->conf.name))
				snprintf(v->opened_uuid, sizeof(v->opened_uuid), "%s",
					 prev_opened(env, v->conf.name));
			idx = resolve(v, env);
			if (idx == -2)
				return -ENOMEM;
			if (idx < 0)
				continue;
			if (claim[idx] >= 0) {
				struct vv_vol *owner = &plan->v[claim[idx]];

				if (pass == 1) {
					/* ADE describes a disk the config already names. */
					vol_clear(v);
					plan->n--;
					continue;
				}
				vv_vol_fail(v, VV_FAIL_CONFLICT, VV_CAUSE_NONE,
					    "give each disk one [volume] section",
					    "%s is the disk of volume %s too", v->device, owner->conf.name);
				continue;
			}
			claim[idx] = (long)(v - plan->v);
		}
	}
	return 0;
}

/*
 * 3. tokens: the key of a described disk; a volume of its own otherwise.
 * -ENOMEM only.
 */
static int plan_tokens(const struct vv_open_env *env, struct vv_open_plan *plan, long *claim)
{
	const struct vv_disks *d = env->disks;

	for (size_t i = 0; i < d->n; i++) {
		const struct vv_blockdev *b = &d->dev[i];
		struct vv_vol *v;

		if (b->token_rc == 0 && claim[i] >= 0) {
			if (apply_token(&plan->v[claim[i]], &b->token) < 0)
				return -ENOMEM;
			check_token_keys(&plan->v[claim[i]], &b->token);
			check_token_mount(&plan->v[claim[i]], env->cfg);
			continue;
		}
		if (b->token_rc == -EINVAL && claim[i] >= 0) {
			v = &plan->v[claim[i]];
			snprintf(v->warning, sizeof(v->warning),
				 "the vaultvol token on %s is malformed; using the %s key reference",
				 b->path, vv_origin_str(v->key_origin));
			continue;
		}
		if (b->token_rc != 0 && b->token_rc != -EINVAL)
			continue;
		v = plan_add(plan);
		if (!v)
			return -ENOMEM;
		v->conf.origin = VV_ORIGIN_TOKEN;
		v->conf.match.kind = VV_MATCH_UUID;
		if (set_str(&v->conf.match.value, b->uuid) < 0 || take_device(v, b) < 0)
			return -ENOMEM;
		if (b->token_rc == -EINVAL) {
			if (asprintf(&v->conf.name, "luks-%s", b->uuid) < 0) {
				v->conf.name = NULL;
				return -ENOMEM;
			}
			vv_vol_fail(v, VV_FAIL_TOKEN, VV_CAUSE_NONE,
				    "rewrite the token (vaultvol provision/adopt) or describe the volume "
				    "in vaultvol.conf",
				    "the vaultvol token on %s is malformed", b->path);
			continue;
		}
		if (set_str(&v->conf.name, b->token.name) < 0 || apply_token(v, &b->token) < 0 ||
		    asprintf(&v->conf.where, "token on %s", b->path) < 0)
			return -ENOMEM;
		if (plan->n > 1 && vv_open_plan_find(plan, v->conf.name) != v) {
			struct vv_vol *other = vv_open_plan_find(plan, v->conf.name);

			vv_vol_fail(v, VV_FAIL_CONFLICT, VV_CAUSE_NONE,
				    "rename one of them (the [volume] section, or re-provision the token)",
				    "the token on %s names volume %s, which is already %s", b->path,
				    v->conf.name, other->device ? other->device : "described elsewhere");
		}
		check_token_keys(v, &b->token);
		check_token_mount(v, env->cfg);
		claim[i] = (long)(v - plan->v);
	}
	return 0;
}

/* 4. a volume nobody gave a key */
static void plan_keyless(struct vv_open_plan *plan)
{
	for (size_t i = 0; i < plan->n; i++) {
		struct vv_vol *v = &plan->v[i];

		if (v->fail == VV_FAIL_NONE && !v->conf.key && !v->undescribed)
			vv_vol_fail(v, VV_FAIL_NO_KEY_REF, VV_CAUSE_NONE,
				    "add 'key = ...' to its [volume] section, or provision a vaultvol token",
				    "no key reference: %s has no vaultvol token and %s gives no key",
				    v->device, v->conf.where ? v->conf.where : "its description");
	}
}

/*
 * 5. disks /etc/crypttab lists without a key file are systemd-cryptsetup's
 * (crypttab.h); an ADE volume stays vaultvol's whatever crypttab says.
 */
static void plan_crypttab(const struct vv_open_env *env, struct vv_open_plan *plan)
{
	for (size_t i = 0; env->crypttab && i < plan->n; i++) {
		struct vv_vol *v = &plan->v[i];
		const struct vv_blockdev *b = NULL;
		const struct vv_crypttab_entry *e;

		if (!v->device || v->key_origin == VV_ORIGIN_ADE)
			continue;
		for (size_t j = 0; j < env->disks->n && !b; j++)
			if (!strcmp(env->disks->dev[j].path, v->device))
				b = &env->disks->dev[j];
		e = vv_crypttab_find(env->crypttab, v->uuid, v->device, b ? b->links : NULL,
				     b ? b->nlinks : 0);
		if (e && e->keyless)
			snprintf(v->crypttab, sizeof(v->crypttab), "%s", e->name);
	}
}

int vv_open_plan_build(const struct vv_open_env *env, struct vv_open_plan *plan)
{
	const struct vv_disks *d = env->disks;
	long *claim = NULL;	/* disk index -> volume index, -1 = none */
	int r = -ENOMEM;

	memset(plan, 0, sizeof(*plan));
	claim = malloc((d->n ? d->n : 1) * sizeof(*claim));
	if (!claim)
		return -ENOMEM;
	for (size_t i = 0; i < d->n; i++)
		claim[i] = -1;
	if (plan_described(env, plan, claim) < 0 || plan_tokens(env, plan, claim) < 0)
		goto out;
	/*
	 * 3b. encrypted disks nobody describes (a clone of a described one
	 * too), when they carry an identifier to describe them by: a header
	 * whose UUID is missing or malformed names nothing to match.
	 */
	for (size_t i = 0; i < d->n; i++) {
		if (claim[i] < 0 && is_encrypted(&d->dev[i]) && d->dev[i].uuid[0] &&
		    add_undescribed(plan, &d->dev[i]) < 0)
			goto out;
	}
	plan_keyless(plan);
	plan_crypttab(env, plan);
	r = 0;
out:
	free(claim);
	if (r)
		vv_open_plan_free(plan);
	return r;
}

int vv_open_plan_add_recorded(struct vv_open_plan *plan, const struct vv_prev *prev,
			      size_t nprev, const char *name)
{
	struct vv_vol *v;

	for (size_t i = 0; i < nprev; i++) {
		if (strcmp(prev[i].name, name))
			continue;
		v = plan_add(plan);
		if (!v)
			return -ENOMEM;
		/*
		 * No device: vv_close_run then works from the mapping names
		 * alone. The UUIDs are kept, so that volumes.json, rewritten
		 * after the close, still pins the volume to its disk.
		 */
		v->conf.origin = VV_ORIGIN_CONFIG;
		snprintf(v->uuid, sizeof(v->uuid), "%s", prev[i].uuid ? prev[i].uuid : "");
		snprintf(v->opened_uuid, sizeof(v->opened_uuid), "%s",
			 prev[i].opened_uuid ? prev[i].opened_uuid : "");
		return set_str(&v->conf.name, name);
	}
	return -ENOENT;
}

int vv_open_plan_add_recorded_names(struct vv_open_plan *plan, const struct vv_prev *prev,
				    size_t nprev, char *const *names, size_t n)
{
	int added = 0;

	for (size_t i = 0; i < n; i++) {
		int r;

		if (vv_open_plan_find(plan, names[i]))
			continue;
		r = vv_open_plan_add_recorded(plan, prev, nprev, names[i]);
		if (r == -ENOMEM)
			return r;
		if (r == 0)
			added++;
	}
	return added;
}

int vv_open_select(struct vv_open_plan *plan, char *const *names, size_t n,
		   char *bad, size_t badlen)
{
	for (size_t i = 0; i < n; i++)
		if (!vv_open_plan_find(plan, names[i])) {
			snprintf(bad, badlen, "%s", names[i]);
			return -ENOENT;
		}
	for (size_t i = 0; i < plan->n; i++) {
		plan->v[i].selected = false;
		for (size_t j = 0; j < n; j++)
			if (!strcmp(plan->v[i].conf.name, names[j]))
				plan->v[i].selected = true;
	}
	return 0;
}
