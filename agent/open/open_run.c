// SPDX-License-Identifier: GPL-2.0-or-later
/* Running an open plan: keys (fetched once each), unlock, quiesce, mount. */
#include "agent/open/open.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/volume/crypt.h"
#include "agent/volume/holder.h"
#include "agent/volume/mount.h"
#include "agent/volume/quiesce.h"
#include "agent/volume/resource_disk.h"
#include "base/log.h"

#define VV_OPEN_DEFAULT_JOBS 8
#define VV_OPEN_MAX_JOBS 64

/* ---- key cache: each distinct (key, kek) is fetched once ---------------- */

struct key_entry {
	char *ref, *kek;
	bool done;
	int rc;
	struct vv_bek *bek;
	struct vv_error err;
	struct key_entry *next;
};

struct run {
	struct vv_open_ctx *ctx;
	struct vv_open_plan *plan;
	atomic_size_t next;		/* next volume index to take */
	pthread_mutex_t lock;		/* key cache and stats */
	pthread_cond_t fetched;
	struct key_entry *keys;
	/*
	 * Every device-mapper operation holds this: libcryptsetup's and
	 * libdevmapper's process-wide state is not thread-safe.
	 */
	pthread_mutex_t dm;
	int quiesce_available;		/* vv_quiesce_available() once per run */
	/* No device-mapper here (asked only when a volume needs it): why, else "". */
	char dm_missing[160];
	/*
	 * argon2 key derivations may each want up to half the machine's
	 * memory: parallel ones share this budget (KiB), guarded by lock.
	 */
	unsigned long mem_budget_kb, mem_used_kb;
	pthread_cond_t mem_freed;
};

/* Half of MemAvailable, the share libcryptsetup itself allows one argon2 run. */
static unsigned long memory_budget_kb(void)
{
	unsigned long kb = 0;
	char line[128];
	/* procfs, not a regular file: read directly, not through vv_file_read. */
	FILE *f = fopen("/proc/meminfo", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %lu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb ? kb / 2 : 1024 * 1024;
}

/* Wait until need KiB fit in the budget (or nothing else runs), take them. */
static void mem_acquire(struct run *run, unsigned long need)
{
	if (!need)
		return;
	pthread_mutex_lock(&run->lock);
	while (run->mem_used_kb && run->mem_used_kb + need > run->mem_budget_kb)
		pthread_cond_wait(&run->mem_freed, &run->lock);
	run->mem_used_kb += need;
	pthread_mutex_unlock(&run->lock);
}

static void mem_release(struct run *run, unsigned long need)
{
	if (!need)
		return;
	pthread_mutex_lock(&run->lock);
	run->mem_used_kb -= need;
	pthread_cond_broadcast(&run->mem_freed);
	pthread_mutex_unlock(&run->lock);
}

/* The key derivation, within the memory budget. */
static int derive_vk(struct run *run, struct vv_unlock *u, int keyslot,
		     const struct vv_secret *key, struct vv_secret **vk)
{
	unsigned long need = vv_unlock_kdf_memory_kb(u, keyslot);
	int r;

	mem_acquire(run, need);
	r = vv_unlock_volume_key(u, keyslot, key, vk);
	mem_release(run, need);
	return r;
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/*
 * The fetched key for (ref, kek): the first caller fetches, the others wait
 * for it. The entry stays valid until the run ends.
 */
static struct key_entry *get_key(struct run *run, const char *ref, const char *kek)
{
	struct key_entry *e;

	pthread_mutex_lock(&run->lock);
	for (e = run->keys; e; e = e->next)
		if (!strcmp(e->ref, ref) && same(e->kek, kek))
			break;
	if (e) {
		run->ctx->stats.key_waits++;
		while (!e->done)
			pthread_cond_wait(&run->fetched, &run->lock);
		pthread_mutex_unlock(&run->lock);
		return e;
	}
	e = calloc(1, sizeof(*e));
	if (!e || !(e->ref = strdup(ref)) || (kek && !(e->kek = strdup(kek)))) {
		if (e) {
			free(e->ref);
			free(e);
		}
		pthread_mutex_unlock(&run->lock);
		return NULL;
	}
	e->next = run->keys;
	run->keys = e;
	run->ctx->stats.fetches++;
	pthread_mutex_unlock(&run->lock);

	e->rc = vv_bek_fetch(run->ctx->vault, ref, kek, &e->bek, &e->err);

	pthread_mutex_lock(&run->lock);
	e->done = true;
	pthread_cond_broadcast(&run->fetched);
	pthread_mutex_unlock(&run->lock);
	return e;
}

static void free_keys(struct run *run)
{
	struct key_entry *e = run->keys, *n;

	for (; e; e = n) {
		n = e->next;
		vv_bek_free(e->bek);
		free(e->ref);
		free(e->kek);
		free(e);
	}
	run->keys = NULL;
}

/* ---- per-volume messages ------------------------------------------------ */

static int set_owned(char **dst, const char *src)
{
	free(*dst);
	*dst = src ? strdup(src) : NULL;
	return !src || *dst ? 0 : -ENOMEM;
}

/* ---- device identity --------------------------------------------------- */

static bool same_device(const char *a, const char *b)
{
	struct stat sa, sb;

	if (!a || !b || !*a || !*b)
		return false;
	if (stat(a, &sa) < 0 || stat(b, &sb) < 0)
		return !strcmp(a, b);
	if (S_ISBLK(sa.st_mode) && S_ISBLK(sb.st_mode))
		return sa.st_rdev == sb.st_rdev;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* A dm-crypt mapping of another name holds v's disk: its name in v->foreign. */
static bool foreign_holder(struct vv_vol *v)
{
	struct stat st;

	v->foreign[0] = '\0';
	if (!v->device || stat(v->device, &st) < 0 || !S_ISBLK(st.st_mode))
		return false;
	return vv_crypt_holder(NULL, st.st_rdev, v->foreign, sizeof(v->foreign)) == 0;
}

enum mapping { MAP_NONE, MAP_PLAIN, MAP_STACKED, MAP_LOWER_ONLY, MAP_FOREIGN, MAP_CONFLICT };

/*
 * What exists for v now (caller holds run->dm): nothing, NAME as a crypt
 * mapping, NAME as quiesce over NAME-vvcrypt, only NAME-vvcrypt (a stacking
 * interrupted), a crypt mapping of another name on v's disk (crypttab's;
 * its name in v->foreign), or something else under that name.
 */
static enum mapping current_mapping(struct vv_vol *v, char *why, size_t whylen)
{
	char lower[100], dev[PATH_MAX];
	struct vv_quiesce_status qs;

	vv_open_crypt_name(v->conf.name, lower, sizeof(lower));
	if (vv_quiesce_status(v->conf.name, &qs) == 0) {
		if (!vv_crypt_is_active(lower, dev, sizeof(dev))) {
			snprintf(why, whylen, "/dev/mapper/%.100s is a quiesce mapping without %.100s below it",
				 v->conf.name, lower);
			return MAP_CONFLICT;
		}
		if (!same_device(dev, v->device)) {
			snprintf(why, whylen, "/dev/mapper/%.100s is open on %.100s, not on %.100s", lower,
				 dev, v->device);
			return MAP_CONFLICT;
		}
		return MAP_STACKED;
	}
	if (vv_crypt_is_active(v->conf.name, dev, sizeof(dev))) {
		if (!dev[0]) {
			snprintf(why, whylen, "/dev/mapper/%.100s exists and is not a crypt mapping",
				 v->conf.name);
			return MAP_CONFLICT;
		}
		if (!same_device(dev, v->device)) {
			snprintf(why, whylen, "/dev/mapper/%.100s is already open on %.100s, not on %.100s",
				 v->conf.name, dev, v->device);
			return MAP_CONFLICT;
		}
		return MAP_PLAIN;
	}
	if (vv_crypt_is_active(lower, dev, sizeof(dev))) {
		if (!same_device(dev, v->device)) {
			snprintf(why, whylen, "/dev/mapper/%.100s is open on %.100s, not on %.100s", lower,
				 dev, v->device);
			return MAP_CONFLICT;
		}
		return MAP_LOWER_ONLY;
	}
	if (foreign_holder(v))
		return MAP_FOREIGN;
	return MAP_NONE;
}

/* ---- unlocking ---------------------------------------------------------- */

static bool is_readonly(const struct vv_vol *v, const char *fs)
{
	if (v->conf.readonly == VV_TRI_YES)
		return true;
	if (v->conf.readonly == VV_TRI_NO)
		return false;
	/* Windows volumes: Linux NTFS writers are no place to risk them. */
	return v->type == VV_VOL_BITLK ||
	       (fs && (!strcmp(fs, "ntfs") || !strcmp(fs, "ntfs-3g")));
}

/* Why a BitLocker volume refused the key, naming its protectors. */
static void bitlk_wrong_key(struct vv_vol *v, struct vv_unlock *u, const struct vv_bek *bek)
{
	char prot[200] = "";
	bool has_sk, has_rp, has_pw;

	if (vv_unlock_protectors(u, prot, sizeof(prot)) < 0)
		snprintf(prot, sizeof(prot), "unknown");
	has_sk = strstr(prot, "startup key") != NULL;
	has_rp = strstr(prot, "recovery") != NULL;
	has_pw = strstr(prot, "passphrase") != NULL && strcmp(prot, "recovery passphrase");
	if (bek->windows_bek && !has_sk) {
		vv_vol_fail(v, VV_FAIL_UNSUPPORTED, VV_CAUSE_NONE,
			    has_rp ? "store the volume's 48-digit recovery password as its key instead" :
			    "add a startup-key or recovery-password protector in Windows",
			    "the key is a BitLocker startup key (.BEK) but %s has no startup-key protector "
			    "(protectors: %s)%s", v->device, prot,
			    strstr(prot, "smart card") || strstr(prot, "TPM") ?
			    "; smart-card and TPM protectors cannot be used outside Windows" : "");
		return;
	}
	if (!has_sk && !has_rp && !has_pw) {
		vv_vol_fail(v, VV_FAIL_UNSUPPORTED, VV_CAUSE_NONE,
			    "add a recovery-password or startup-key protector in Windows",
			    "no protector of %s can be used on Linux (protectors: %s)", v->device, prot);
		return;
	}
	vv_vol_fail(v, VV_FAIL_WRONG_KEY, VV_CAUSE_NONE,
		    "check that the key reference names this volume's startup key or recovery password",
		    "wrong key: no protector of BitLocker volume %s accepts it (protectors: %s)",
		    v->device, prot);
}

static void record_key(struct vv_vol *v, const struct vv_bek *bek)
{
	if (set_owned(&v->key_source, bek->source) < 0 ||
	    set_owned(&v->key_version, bek->secret_id) < 0 ||
	    set_owned(&v->kek_version, bek->kek_id) < 0)
		vv_warn("%s: out of memory recording the key's provenance", v->conf.name);
	v->secret_exp = bek->exp;
	v->kek_exp = 0;
	v->expiry_known = true;
	vv_open_key_dates_warning(bek, v->conf.key, v->warning, sizeof(v->warning));
}

static void unlock_free(struct run *run, struct vv_unlock *u)
{
	if (!u)
		return;
	pthread_mutex_lock(&run->dm);
	vv_unlock_free(u);
	pthread_mutex_unlock(&run->dm);
}

static void key_failed(struct vv_vol *v, const struct key_entry *e)
{
	v->transient = vv_open_key_transient(v->conf.key, e->err.cause);
	vv_vol_fail(v, VV_FAIL_KEY_ACCESS, e->err.cause, vv_open_key_remedy(v->conf.key, &e->err),
		    "no key access (%s) for %s: %s", vv_cause_str(e->err.cause), v->conf.key,
		    e->err.message[0] ? e->err.message : strerror(-e->rc));
}

/*
 * libcryptsetup's own words after ours, as three %s: " (libcryptsetup: ",
 * the reason, ")", or nothing when it said nothing.
 */
#define LCS_REASON(r) (r)[0] ? " (libcryptsetup: " : "", (r), (r)[0] ? ")" : ""

/* Fetch the key and derive the volume key. 0 with *vk, or v is failed. */
static int derive(struct run *run, struct vv_vol *v, struct vv_unlock **u_out,
		  struct vv_secret **vk)
{
	struct key_entry *e;
	struct vv_unlock *u = NULL;
	struct vv_crypt_info info;
	int r;

	e = get_key(run, v->conf.key, v->conf.kek);
	if (!e) {
		vv_vol_fail(v, VV_FAIL_KEY_ACCESS, VV_CAUSE_NONE, NULL, "out of memory");
		return -ENOMEM;
	}
	if (e->rc < 0) {
		key_failed(v, e);
		return e->rc;
	}
	/*
	 * crypt_init()/crypt_free() move libcryptsetup's device-mapper backend
	 * use count (no lock of its own): under the dm mutex. The key
	 * derivation below runs outside it, in parallel.
	 */
	pthread_mutex_lock(&run->dm);
	r = vv_unlock_load(v->device, v->conf.header, &u, &info);
	pthread_mutex_unlock(&run->dm);
	if (r < 0) {
		if (r == -ENOENT)
			vv_vol_fail(v, VV_FAIL_MISSING, VV_CAUSE_NONE,
				    "attach the disk", "%s disappeared", v->device);
		else if (v->type == VV_VOL_BITLK)
			vv_vol_fail(v, VV_FAIL_UNSUPPORTED, VV_CAUSE_NONE,
				    "open it in Windows (or with dislocker)",
				    "libcryptsetup cannot use the BitLocker volume on %s: %s%s%s%s",
				    v->device, vv_crypt_strerror(r), LCS_REASON(info.reason));
		else
			vv_vol_fail(v, VV_FAIL_HEADER, VV_CAUSE_NONE,
				    "restore the header from a backup (cryptsetup luksHeaderRestore); "
				    "nothing was written",
				    "%s%s%s: %s%s%s%s", v->device, v->conf.header ? " with header " : "",
				    v->conf.header ? v->conf.header : "", vv_crypt_strerror(r),
				    LCS_REASON(info.reason));
		return r;
	}
	v->type = info.type;
	{
		char why[768], remedy[384];

		/* The header already says libcryptsetup will not activate it: no key is derived. */
		if (vv_unlock_refusal(u, why, sizeof(why), remedy, sizeof(remedy)) < 0) {
			vv_vol_fail(v, VV_FAIL_UNSUPPORTED, VV_CAUSE_NONE, remedy,
				    "the BitLocker volume on %s cannot be opened: %s", v->device, why);
			unlock_free(run, u);
			return -ENOTSUP;
		}
	}
	if (vv_unlock_reencrypting(u)) {
		/*
		 * Encryption in progress (ADE's online encryption): only
		 * activation by passphrase handles the reencryption segments,
		 * so check the key now and keep it for activate().
		 */
		v->reencrypt_pct = vv_unlock_reencrypt_percent(u);
		mem_acquire(run, vv_unlock_kdf_memory_kb(u, v->keyslot));
		r = vv_unlock_check_passphrase(u, v->keyslot, e->bek->key);
		mem_release(run, vv_unlock_kdf_memory_kb(u, v->keyslot));
		if (r >= 0) {
			record_key(v, e->bek);
			v->pass = e->bek->key;
			*vk = NULL;
			*u_out = u;
			return 0;
		}
	} else
		r = derive_vk(run, u, v->keyslot, e->bek->key, vk);
	if (r == -EPERM && v->alt_key) {
		/* A rotation was interrupted: the previous key still opens its slot. */
		struct key_entry *alt = get_key(run, v->alt_key, v->alt_kek);

		if (alt && alt->rc == 0 && derive_vk(run, u, v->alt_keyslot, alt->bek->key, vk) >= 0) {
			record_key(v, alt->bek);
			snprintf(v->warning, sizeof(v->warning),
				 "opened with the previous key %s (a key rotation did not finish)",
				 v->alt_key);
			*u_out = u;
			return 0;
		}
	}
	if (r < 0) {
		if (r == -EPERM && v->type == VV_VOL_BITLK)
			bitlk_wrong_key(v, u, e->bek);
		else if (r == -EPERM)
			vv_vol_fail(v, VV_FAIL_WRONG_KEY, VV_CAUSE_NONE,
				    "check that the key reference (and its version) belongs to this disk",
				    "wrong key: no keyslot of %s accepts the key from %s (%s)", v->device,
				    v->conf.key, vv_origin_str(v->key_origin));
		else
			vv_vol_fail(v, VV_FAIL_ACTIVATE, VV_CAUSE_NONE,
				    NULL, "%s: cannot derive the volume key: %s%s%s%s",
				    v->device, vv_crypt_strerror(r), LCS_REASON(vv_unlock_reason(u)));
		unlock_free(run, u);
		return r;
	}
	record_key(v, e->bek);
	*u_out = u;
	return 0;
}

/* One crypt mapping: by passphrase while reencrypting, else by volume key. */
static int map_one(struct vv_vol *v, struct vv_unlock *u, const char *name,
		   const struct vv_secret *vk, uint32_t flags)
{
	if (v->pass)
		return vv_unlock_activate_passphrase(u, name, v->keyslot, v->pass, flags);
	return vv_unlock_activate(u, name, vk, flags);
}

static const char *activate_remedy(const struct vv_vol *v)
{
	if (v->type == VV_VOL_BITLK)
		return "libcryptsetup cannot map this BitLocker volume (an encryption mode or "
		       "state it does not support?): open it in Windows, or with dislocker";
	return "check `dmesg` and that dm-crypt is available";
}

/* The device the volume's filesystem sits on: /dev/mapper/NAME. */
static void set_top(struct vv_vol *v, const char *name)
{
	snprintf(v->top, sizeof(v->top), "/dev/mapper/%s", name);
}

/*
 * An open mapping whose /dev/mapper node is missing: its activation was
 * killed after the kernel made the mapping and before libdevmapper made
 * the node (no udev: the guest, the initramfs). Made again, and said.
 * Caller holds run->dm.
 */
static void ensure_node(const struct vv_vol *v, const char *name)
{
	int r = vv_dm_ensure_node(name);

	if (r == 1)
		vv_info("%s: made its missing device node /dev/mapper/%s (an earlier activation "
			"was interrupted)", v->conf.name, name);
	else if (r < 0)
		vv_warn("%s: cannot make its device node /dev/mapper/%s: %s", v->conf.name, name,
			strerror(-r));
}

/* Activate (and stack quiesce); caller holds run->dm. */
static int activate(struct run *run, struct vv_vol *v, struct vv_unlock *u,
		    const struct vv_secret *vk, enum mapping cur, bool want_q, bool ro)
{
	char lower[100], lower_dev[200];
	uint32_t flags = ro ? VV_CRYPT_READONLY : 0;
	int r;

	vv_open_crypt_name(v->conf.name, lower, sizeof(lower));
	snprintf(lower_dev, sizeof(lower_dev), "/dev/mapper/%s", lower);
	if (cur == MAP_NONE) {
		r = map_one(v, u, want_q ? lower : v->conf.name, vk, flags);
		if (r < 0) {
			vv_vol_fail(v, VV_FAIL_ACTIVATE, VV_CAUSE_NONE, activate_remedy(v),
				    "activating %s failed: %s%s%s%s", v->device, vv_crypt_strerror(r),
				    LCS_REASON(u ? vv_unlock_reason(u) : ""));
			return r;
		}
		v->changed = true;
	}
	if (!want_q)
		return 0;
	/* The stacking resumed: the lower node may be what the kill left out. */
	if (cur == MAP_LOWER_ONLY)
		ensure_node(v, lower);
	r = vv_quiesce_create(v->conf.name, lower_dev, 0);
	if (r == 0) {
		v->quiesced = true;
		v->changed = true;
		return 0;
	}
	if (v->conf.quiesce == VV_TRI_YES || run->quiesce_available != 1 || !u) {
		vv_vol_fail(v, VV_FAIL_QUIESCE, VV_CAUSE_NONE,
			    "load dm-quiesce, or set quiesce = auto",
			    "stacking dm-quiesce over %s failed: %s (the crypt mapping %s is open)",
			    lower, strerror(-r), lower);
		return r;
	}
	/* quiesce = auto: fall back to a plain mapping under the volume's name. */
	vv_crypt_deactivate(lower);
	snprintf(v->warning, sizeof(v->warning), "dm-quiesce could not be stacked (%s); "
		 "opened without it", strerror(-r));
	r = map_one(v, u, v->conf.name, vk, flags);
	if (r < 0)
		vv_vol_fail(v, VV_FAIL_ACTIVATE, VV_CAUSE_NONE,
			    activate_remedy(v), "activating %s failed: %s%s%s%s", v->device,
			    vv_crypt_strerror(r), LCS_REASON(u ? vv_unlock_reason(u) : ""));
	return r;
}

static void mount_volume(struct vv_vol *v, bool ro_default)
{
	struct vv_error err = { 0 };
	char where[PATH_MAX], fs[64] = "";
	const char *use_fs = v->conf.fs;
	unsigned flags;
	int r;

	if (vv_mount_find(v->top, where, sizeof(where)) == 0) {
		set_owned(&v->mounted_on, where);
		v->state = VV_VS_MOUNTED;
		if (v->conf.mount && strcmp(where, v->conf.mount))
			snprintf(v->warning, sizeof(v->warning), "mounted on %.120s, not on %.120s as "
				 "described; left alone", where, v->conf.mount);
		return;
	}
	if (!v->conf.mount) {
		v->state = VV_VS_OPEN;
		return;
	}
	if (!use_fs && vv_mount_detect_fs(v->top, fs, sizeof(fs)) == 0)
		use_fs = fs;
	flags = ro_default || is_readonly(v, use_fs) ? VV_MOUNT_READONLY : 0;
	if (v->mount_from_token)
		flags |= VV_MOUNT_UNTRUSTED;
	r = vv_mount_volume(v->top, v->conf.mount, use_fs, v->conf.options, flags, &err);
	if (r < 0 && v->mount_from_token && (r == -EMEDIUMTYPE || r == -ENOTEMPTY || r == -ELOOP)) {
		/* The disk asked for something no disk may have; not mounted. */
		vv_vol_fail(v, VV_FAIL_REFUSED, VV_CAUSE_NONE,
			    VV_TOKEN_MOUNT_REMEDY, "volume %s: the token on %s: %s",
			    v->conf.name, v->device, err.message);
		v->state = VV_VS_OPEN;
		return;
	}
	if (r < 0) {
		vv_vol_fail(v, VV_FAIL_MOUNT, VV_CAUSE_NONE,
			    "fix the mount point or filesystem options; the volume "
			    "itself is open", "%s", err.message);
		v->state = VV_VS_OPEN;
		return;
	}
	if (r == 0)
		v->changed = true;
	set_owned(&v->mounted_on, v->conf.mount);
	v->state = VV_VS_MOUNTED;
}

/*
 * ADE's resource disk came back new and unencrypted: encrypt it again with
 * its key (the BEK volume's passphrase) and make its filesystem, as ADE's
 * ResourceDiskUtil does. The disk is temporary storage: nothing on it is
 * kept across a restore, so nothing is lost.
 */
static void reformat_resource(struct run *run, struct vv_vol *v)
{
	struct key_entry *e = get_key(run, v->conf.key, v->conf.kek);
	struct vv_error err = { 0 };
	char uuid[64] = "";
	int r;

	if (!e) {
		vv_vol_fail(v, VV_FAIL_KEY_ACCESS, VV_CAUSE_NONE, NULL, "out of memory");
		return;
	}
	if (e->rc < 0) {
		key_failed(v, e);
		return;
	}
	record_key(v, e->bek);
	if (run->ctx->check_only) {
		v->state = VV_VS_CLOSED;
		return;
	}
	vv_info("%s: the resource disk %s is new and unencrypted (the platform gives a fresh one "
		"after a restore or redeploy); it is temporary storage and holds nothing to keep: "
		"encrypting it again with its ADE key, as Azure Disk Encryption does",
		v->conf.name, v->device);
	pthread_mutex_lock(&run->dm);
	r = vv_resource_disk_format(v->device, v->conf.name, e->bek->key, uuid, sizeof(uuid),
				    &err);
	pthread_mutex_unlock(&run->dm);
	if (r < 0) {
		vv_vol_fail(v, VV_FAIL_ACTIVATE, VV_CAUSE_NONE,
			    "free the resource disk (unmount it, swapoff), or set "
			    "[ade] resource_disk = skip", "%s", err.message);
		return;
	}
	v->changed = true;
	v->type = VV_VOL_LUKS2;
	snprintf(v->uuid, sizeof(v->uuid), "%s", uuid);
	r = vv_resource_disk_mkfs(v->top, &err);
	if (r < 0) {
		vv_vol_fail(v, VV_FAIL_MOUNT, VV_CAUSE_NONE,
			    "make a filesystem on it (mkfs.ext4); the volume is open",
			    "%s", err.message);
		v->state = VV_VS_OPEN;
		return;
	}
	if (!v->conf.fs && !(v->conf.fs = strdup("ext4")))
		vv_warn("%s: out of memory", v->conf.name);
	snprintf(v->warning, sizeof(v->warning), "the resource disk %s was new and unencrypted; "
		 "encrypted again (LUKS2 %s) and formatted ext4: it held nothing to keep",
		 v->device, uuid);
}

/* What the token asked to mount was refused at planning: fail it now. */
static bool refuse_token_mount(struct vv_vol *v)
{
	if (!v->refusal[0])
		return false;
	vv_vol_fail(v, VV_FAIL_REFUSED, VV_CAUSE_NONE, VV_TOKEN_MOUNT_REMEDY, "%s", v->refusal);
	return true;
}

static void do_volume(struct run *run, struct vv_vol *v)
{
	struct vv_unlock *u = NULL;
	struct vv_secret *vk = NULL;
	enum mapping cur;
	char why[512];
	bool want_q, ro;

	want_q = v->conf.quiesce == VV_TRI_YES ||
		 (v->conf.quiesce == VV_TRI_AUTO && run->quiesce_available == 1);
	set_top(v, v->conf.name);

	if (v->reformat_skip) {
		v->state = VV_VS_CLOSED;
		goto out;
	}
	if (run->dm_missing[0] && !run->ctx->check_only) {
		/* Said once, in our words, before any key is fetched for nothing. */
		vv_vol_fail(v, VV_FAIL_ACTIVATE, VV_CAUSE_SYSTEM, VV_DM_REMEDY,
			    "%s not opened: %s", v->device, run->dm_missing);
		goto out;
	}
	if (v->reformat) {
		reformat_resource(run, v);
		if (!v->fail && !run->ctx->check_only)
			mount_volume(v, false);
		goto out;
	}
	if (run->ctx->check_only) {
		if (derive(run, v, &u, &vk) == 0 && !refuse_token_mount(v))
			v->state = VV_VS_CLOSED;
		goto out;
	}
	if (v->conf.quiesce == VV_TRI_YES && run->quiesce_available != 1) {
		vv_vol_fail(v, VV_FAIL_QUIESCE, VV_CAUSE_NONE,
			    "load dm-quiesce (modprobe dm-quiesce) or set quiesce = auto",
			    "quiesce = yes but the dm-quiesce target is not loaded");
		goto out;
	}
	pthread_mutex_lock(&run->dm);
	cur = current_mapping(v, why, sizeof(why));
	pthread_mutex_unlock(&run->dm);
	if (cur == MAP_CONFLICT) {
		vv_vol_fail(v, VV_FAIL_CONFLICT, VV_CAUSE_NONE,
			    "close the other mapping, or rename the volume", "%s", why);
		goto out;
	}
	if (cur == MAP_NONE && v->crypttab[0]) {
		/* systemd-cryptsetup's to open (crypttab.h): never both. */
		v->crypttab_left = true;
		v->state = VV_VS_CLOSED;
		snprintf(v->warning, sizeof(v->warning), "not opened: /etc/crypttab lists %.60s as "
			 "%.60s, so systemd-cryptsetup opens it (systemctl status "
			 "systemd-cryptsetup@%.60s.service)", v->device, v->crypttab, v->crypttab);
		goto out;
	}
	if (cur == MAP_FOREIGN || cur == MAP_PLAIN || cur == MAP_STACKED) {
		pthread_mutex_lock(&run->dm);
		ensure_node(v, cur == MAP_FOREIGN ? v->foreign : v->conf.name);
		pthread_mutex_unlock(&run->dm);
	}
	if (cur == MAP_FOREIGN) {
		/* Opened by someone else (crypttab): open; mounted as described. */
		set_top(v, v->foreign);
	} else if (cur == MAP_PLAIN || cur == MAP_STACKED) {
		/* Already open: verified (same disk) and left as it is. */
		v->quiesced = cur == MAP_STACKED;
		if (cur == MAP_PLAIN && want_q && v->conf.quiesce == VV_TRI_YES)
			snprintf(v->warning, sizeof(v->warning), "open without dm-quiesce (opened "
				 "before it was available); close and reopen to stack it");
	} else {
		if (cur == MAP_NONE && derive(run, v, &u, &vk) < 0)
			goto out;
		if (refuse_token_mount(v))
			goto out;
		ro = is_readonly(v, v->conf.fs);
		pthread_mutex_lock(&run->dm);
		/* A lower mapping without quiesce on top: finish the stacking. */
		activate(run, v, u, vk, cur, want_q || cur == MAP_LOWER_ONLY, ro);
		pthread_mutex_unlock(&run->dm);
		if (v->fail)
			goto out;
	}
	/* Opened before (by hand, or by an older vaultvol): left open, not mounted. */
	if (refuse_token_mount(v))
		goto out;
	mount_volume(v, false);
out:
	/* What opened is what this volume is, from now on (exchanged LUNs). */
	if ((v->state == VV_VS_OPEN || v->state == VV_VS_MOUNTED) && v->uuid[0])
		snprintf(v->opened_uuid, sizeof(v->opened_uuid), "%s", v->uuid);
	v->pass = NULL;
	vv_secret_free(vk);
	unlock_free(run, u);
}

static void *worker(void *arg)
{
	struct run *run = arg;
	size_t i;

	while ((i = atomic_fetch_add(&run->next, 1)) < run->plan->n) {
		struct vv_vol *v = &run->plan->v[i];

		if (!v->selected || v->fail || v->undescribed)
			continue;
		do_volume(run, v);
	}
	return NULL;
}

int vv_open_run(struct vv_open_ctx *ctx, struct vv_open_plan *plan)
{
	struct run run = { .ctx = ctx, .plan = plan };
	pthread_t tids[VV_OPEN_MAX_JOBS];
	size_t work = 0, nthreads, started = 0;
	int failed = 0;

	memset(&ctx->stats, 0, sizeof(ctx->stats));
	pthread_mutex_init(&run.lock, NULL);
	pthread_mutex_init(&run.dm, NULL);
	pthread_cond_init(&run.fetched, NULL);
	pthread_cond_init(&run.mem_freed, NULL);
	run.mem_budget_kb = memory_budget_kb();
	atomic_init(&run.next, 0);
	for (size_t i = 0; i < plan->n; i++)
		if (plan->v[i].selected && !plan->v[i].fail && !plan->v[i].undescribed)
			work++;
	/* Device-mapper is asked about only when some volume is to be opened. */
	if (!ctx->check_only && work > 0 &&
	    vv_dm_available(run.dm_missing, sizeof(run.dm_missing)) == 0)
		run.quiesce_available = vv_quiesce_available();
	nthreads = ctx->jobs > 0 ? (size_t)ctx->jobs : VV_OPEN_DEFAULT_JOBS;
	if (nthreads > VV_OPEN_MAX_JOBS)
		nthreads = VV_OPEN_MAX_JOBS;
	if (nthreads > work)
		nthreads = work;
	for (size_t i = 1; i < nthreads; i++) {
		if (pthread_create(&tids[started], NULL, worker, &run) != 0)
			break;
		started++;
	}
	worker(&run);	/* this thread works too (and alone when nthreads <= 1) */
	for (size_t i = 0; i < started; i++)
		pthread_join(tids[i], NULL);

	for (size_t i = 0; i < plan->n; i++) {
		struct vv_vol *v = &plan->v[i];

		if (!v->selected)
			continue;
		if (v->relocated)
			ctx->stats.relocated++;
		if (v->undescribed)
			ctx->stats.undescribed++;
		else if (v->fail) {
			failed++;
			ctx->stats.failed++;
		} else if (!v->changed)
			ctx->stats.unchanged++;
		else if (v->state == VV_VS_MOUNTED)
			ctx->stats.mounted++;
		else
			ctx->stats.opened++;
	}
	free_keys(&run);
	pthread_cond_destroy(&run.fetched);
	pthread_cond_destroy(&run.mem_freed);
	pthread_mutex_destroy(&run.dm);
	pthread_mutex_destroy(&run.lock);
	return failed;
}

/* ---- close and refresh -------------------------------------------------- */

void vv_open_refresh(struct vv_open_plan *plan)
{
	for (size_t i = 0; i < plan->n; i++) {
		struct vv_vol *v = &plan->v[i];
		char why[512], where[PATH_MAX];
		enum mapping cur;

		if (!v->selected || v->undescribed)
			continue;
		set_top(v, v->conf.name);
		if (v->type == VV_VOL_LUKS2 && v->device) {
			struct vv_unlock *u = NULL;

			/* Encryption in progress (ADE online encryption): how far. */
			if (vv_unlock_load(v->device, v->conf.header, &u, NULL) == 0)
				v->reencrypt_pct = vv_unlock_reencrypt_percent(u);
			vv_unlock_free(u);
		}
		if (!v->device) {
			cur = vv_crypt_is_active(v->conf.name, NULL, 0) ? MAP_PLAIN : MAP_NONE;
		} else
			cur = current_mapping(v, why, sizeof(why));
		v->quiesced = cur == MAP_STACKED;
		if (cur == MAP_NONE || cur == MAP_CONFLICT) {
			if (!v->fail)
				v->state = VV_VS_CLOSED;
			continue;
		}
		if (cur == MAP_LOWER_ONLY) {
			char lower[100];

			vv_open_crypt_name(v->conf.name, lower, sizeof(lower));
			set_top(v, lower);
		} else if (cur == MAP_FOREIGN)
			set_top(v, v->foreign);
		if (vv_mount_find(v->top, where, sizeof(where)) == 0) {
			set_owned(&v->mounted_on, where);
			v->state = VV_VS_MOUNTED;
		} else
			v->state = VV_VS_OPEN;
	}
}

int vv_close_run(struct vv_open_plan *plan)
{
	int failed = 0;

	for (size_t i = 0; i < plan->n; i++) {
		struct vv_vol *v = &plan->v[i];
		struct vv_error err = { 0 };
		char lower[100], lower_dev[200], where[PATH_MAX], why[512];
		int r = 0, guard = 0;

		if (!v->selected || v->undescribed)
			continue;
		v->fail = VV_FAIL_NONE;
		vv_error_clear(&v->error);
		if (v->device && current_mapping(v, why, sizeof(why)) == MAP_FOREIGN) {
			char remedy[256];

			/* Not vaultvol's mapping: whoever opened it closes it. */
			snprintf(remedy, sizeof(remedy), v->crypttab[0] ?
				 "systemctl stop systemd-cryptsetup@%s.service" :
				 "cryptsetup close %s", v->foreign);
			vv_vol_fail(v, VV_FAIL_CONFLICT, VV_CAUSE_NONE, remedy,
				    "%s is open as /dev/mapper/%s, which vaultvol did not open%s",
				    v->device, v->foreign, v->crypttab[0] ? " (/etc/crypttab)" : "");
			failed++;
			continue;
		}
		vv_open_crypt_name(v->conf.name, lower, sizeof(lower));
		snprintf(lower_dev, sizeof(lower_dev), "/dev/mapper/%s", lower);
		set_top(v, v->conf.name);
		/* Every mount of the top device (bind mounts too), then the layers. */
		while (r == 0 && guard++ < 16 &&
		       (vv_mount_find(v->top, where, sizeof(where)) == 0 ||
			vv_mount_find(lower_dev, where, sizeof(where)) == 0)) {
			r = vv_umount(where, &err);
			if (r == 0)
				v->changed = true;
		}
		if (r < 0) {
			vv_vol_fail(v, VV_FAIL_MOUNT, VV_CAUSE_NONE,
				    "stop what uses the mount point (fuser -vm)", "%s", err.message);
			failed++;
			continue;
		}
		{
			struct vv_quiesce_status qs;

			/* Only a quiesce layer is removed here; a crypt mapping below. */
			r = vv_quiesce_status(v->conf.name, &qs) == 0 ?
			    vv_quiesce_remove(v->conf.name) : -ENODEV;
		}
		if (r == 0)
			v->changed = true;
		else if (r != -ENODEV) {
			vv_vol_fail(v, VV_FAIL_ACTIVATE, VV_CAUSE_NONE,
				    "stop what holds the device open", "removing "
				    "/dev/mapper/%s: %s", v->conf.name, strerror(-r));
			failed++;
			continue;
		}
		r = vv_crypt_deactivate(lower);
		if (r == -ENODEV)
			r = vv_crypt_deactivate(v->conf.name);
		if (r == 0)
			v->changed = true;
		else if (r != -ENODEV) {
			vv_vol_fail(v, VV_FAIL_ACTIVATE, VV_CAUSE_NONE,
				    "stop what holds the device open", "closing %s: %s",
				    v->conf.name, vv_crypt_strerror(r));
			failed++;
			continue;
		}
		free(v->mounted_on);
		v->mounted_on = NULL;
		v->state = VV_VS_CLOSED;
	}
	return failed;
}
