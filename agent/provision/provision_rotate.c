// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `vaultvol rotate`: new BEK and/or new KEK for a volume with a vaultvol
 * token. Old secret versions and KEK versions are never deleted: backups
 * of the disk taken before the rotation carry a token naming them.
 *
 * BEK rotation, each header change after a header backup:
 *   1 fetch the current key (the token's version) and check it opens the
 *     token's keyslot                                           CHECKED
 *   2 new random BEK stored as a new secret version, read back  STORED
 *   3 keyslot for the new BEK added (PBKDF2 minimum)            KEYSLOT_ADDED
 *   4 token names the new version and keyslot, and carries a
 *     "retire" marker naming the old keyslot and key            TOKEN_UPDATED
 *   5 old keyslot destroyed (after checking the old key opens
 *     exactly that keyslot)                                     OLD_KEYSLOT_REMOVED
 *   6 token rewritten without the marker                        DONE
 * Killed anywhere, the token names a key that opens its keyslot: before
 * 4 the old one (both keyslots may exist), from 4 on the new one. Each
 * libcryptsetup header write is itself crash-safe (two header copies with
 * sequence numbers). Run again, rotate completes an interrupted rotation
 * instead of starting another: a "retire" marker resumes at 5; a newer
 * secret version than the token's that opens another keyslot resumes at 4.
 *
 * KEK rotation: the same BEK wrapped by the new KEK is stored as a new
 * secret version and read back (STORED), then the token names it
 * (TOKEN_UPDATED, DONE). Killed before the token write, the old version
 * still opens the volume; keyslots are not touched at all.
 */
#include "agent/provision/provision.h"
#include "agent/provision/provision_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/volume/crypt.h"
#include "agent/volume/header_backup.h"
#include "base/log.h"

const char *vv_rotate_step_str(enum vv_rotate_step s)
{
	switch (s) {
	case VV_ROT_CHECKED: return "checked";
	case VV_ROT_STORED: return "stored";
	case VV_ROT_KEYSLOT_ADDED: return "keyslot-added";
	case VV_ROT_TOKEN_UPDATED: return "token-updated";
	case VV_ROT_OLD_KEYSLOT_REMOVED: return "old-keyslot-removed";
	case VV_ROT_DONE: return "done";
	}
	return "unknown";
}

void vv_rotate_result_clear(struct vv_rotate_result *res)
{
	if (!res)
		return;
	vv_token_clear(&res->before);
	vv_token_clear(&res->after);
	memset(res, 0, sizeof(*res));
	res->before.token_id = res->before.keyslot = -1;
	res->after.token_id = res->after.keyslot = -1;
}

struct rot {
	struct vv_vault *v;
	const struct vv_rotate_req *req;
	struct vv_rotate_result *res;
	struct vv_error *err;
	struct vv_token tok;	/* the token as it is on disk now */
	struct pv_warned warned;	/* vaults without purge protection, warned about */
};

static void report(struct rot *c, enum vv_rotate_step step)
{
	vv_debug("%s: rotate: %s (key %s, keyslot %d)", c->req->device,
		vv_rotate_step_str(step), c->tok.key, c->tok.keyslot);
	if (c->req->progress)
		c->req->progress(step, &c->tok, c->req->progress_arg);
}

static int backup(struct rot *c)
{
	int r = pv_backup(c->req->device, c->req->state_dir, NULL, 0, c->err);

	if (r < 0)
		return r;
	c->res->backups++;
	return 0;
}

/* Back up, write t, and make c->tok what is now on disk. */
static int write_token(struct rot *c, const struct vv_token *t)
{
	struct vv_token back;
	int r = backup(c);

	if (r < 0)
		return r;
	r = vv_token_write_back(c->req->device, t, &back);
	if (r < 0)
		return vv_fail(c->err, r, VV_CAUSE_NONE, "writing the token failed: %s",
			       vv_token_write_why(r));
	vv_token_clear(&c->tok);
	c->tok = back;
	return 0;
}

/*
 * The end of a step that rewrites the token: when r is 0 (t is ready),
 * write it. t is freed either way; step is reported once it is written.
 */
static int write_step(struct rot *c, struct vv_token *t, int r, enum vv_rotate_step step)
{
	if (r == 0)
		r = write_token(c, t);
	vv_token_clear(t);
	if (r < 0)
		return r;
	report(c, step);
	return 0;
}

static int set_str(char **dst, const char *src)
{
	free(*dst);
	*dst = NULL;
	if (src && !(*dst = strdup(src)))
		return -ENOMEM;
	return 0;
}

/* The current token pointing at a new key version (and keyslot). */
static int token_with_key(struct rot *c, struct vv_token *t, const char *ref,
			  const char *kek_id, const char *alg, int keyslot)
{
	int r = pv_token_copy(t, &c->tok);

	if (r < 0)
		return r;
	t->keyslot = keyslot;
	if (set_str(&t->key, ref) || set_str(&t->kek, kek_id) ||
	    set_str(&t->alg, kek_id ? (alg ? alg : "RSA-OAEP") : NULL))
		return -ENOMEM;
	return 0;
}

/* Steps 5-6: remove the keyslot the marker names, then the marker. */
static int finish_retire(struct rot *c)
{
	char why[sizeof(c->err->message)];
	struct vv_luks2 *l = NULL;
	struct vv_token t;
	struct vv_bek *old = NULL;
	int slot = c->tok.retire_keyslot, r;
	bool active;

	r = vv_luks2_load(c->req->device, &l);
	if (r < 0)
		return vv_fail(c->err, r, VV_CAUSE_NONE, "cannot load the header: %s",
			       strerror(-r));
	active = vv_luks2_keyslot_active(l, slot);
	vv_luks2_free(l);
	l = NULL;
	if (active) {
		/*
		 * Only the keyslot the retired key opens goes: if the number
		 * now belongs to a keyslot someone else added, it stays.
		 */
		r = vv_bek_fetch(c->v, c->tok.retire_key, c->tok.retire_kek, &old, c->err);
		if (r < 0)
			return vv_fail(c->err, r, VV_CAUSE_NONE,
				       "cannot fetch the retired key %s to check keyslot %d: %s "
				       "(the volume opens with the new key; run rotate again)",
				       c->tok.retire_key, slot, pv_why(c->err, r, why, sizeof(why)));
		r = vv_luks2_check_keyslot(c->req->device, slot, old->key);
		vv_bek_free(old);
		if (r == slot) {
			r = backup(c);
			if (r < 0)
				return r;
			r = vv_luks2_load(c->req->device, &l);
			if (r == 0)
				r = vv_luks2_destroy_keyslot(l, slot);
			vv_luks2_free(l);
			if (r < 0)
				return vv_fail(c->err, r, VV_CAUSE_NONE,
					       "removing keyslot %d failed: %s", slot, strerror(-r));
		} else {
			vv_warn("%s: keyslot %d does not open with %s: left alone",
				c->req->device, slot, c->tok.retire_key);
		}
	}
	report(c, VV_ROT_OLD_KEYSLOT_REMOVED);

	r = pv_token_copy(&t, &c->tok);
	if (r < 0)
		return r;
	free(t.retire_key);
	free(t.retire_kek);
	free(t.retire_alg);
	t.retire_key = t.retire_kek = t.retire_alg = NULL;
	return write_step(c, &t, 0, VV_ROT_DONE);
}

/* Step 4: the token names the new key; the marker names the old one. */
static int switch_token(struct rot *c, const char *ref, const char *kek_id,
			const char *alg, int keyslot)
{
	struct vv_token t;
	int r;

	r = token_with_key(c, &t, ref, kek_id, alg, keyslot);
	if (r == 0) {
		t.retire_keyslot = c->tok.keyslot;
		if (set_str(&t.retire_key, c->tok.key) || set_str(&t.retire_kek, c->tok.kek) ||
		    set_str(&t.retire_alg, c->tok.alg))
			r = -ENOMEM;
	}
	return write_step(c, &t, r, VV_ROT_TOKEN_UPDATED);
}

/*
 * Interrupted between steps 3 and 4? Then the newest secret version is not
 * the token's and opens a keyslot other than the token's. 1 and *pending
 * set when so, 0 when not (any failure to tell means "not").
 */
static int find_pending(struct rot *c, const char *base, struct vv_bek **pending, int *slot)
{
	struct vv_luks2 *l = NULL;
	struct vv_bek *b = NULL;
	struct vv_error e;
	int s, max = vv_luks2_keyslot_max();

	*pending = NULL;
	if (vv_bek_fetch(c->v, base, NULL, &b, &e) < 0 || !b->secret_id ||
	    !strcmp(b->secret_id, c->tok.key) || vv_luks2_load(c->req->device, &l) < 0) {
		vv_bek_free(b);
		return 0;
	}
	/*
	 * Only vaultvol BEK keyslots other than the token's are candidates,
	 * each checked by number: trying a wrong key on an argon2id keyslot
	 * (the recovery passphrase's) would cost seconds and gigabytes.
	 */
	for (s = 0; s < max; s++) {
		if (s == c->tok.keyslot || !vv_luks2_keyslot_active(l, s) ||
		    !vv_luks2_keyslot_is_bek(l, s))
			continue;
		if (vv_luks2_check_keyslot(c->req->device, s, b->key) == s)
			break;
	}
	vv_luks2_free(l);
	if (s >= max) {
		vv_bek_free(b);
		return 0;
	}
	*pending = b;
	*slot = s;
	return 1;
}

/*
 * A token naming its key without a version ("bek1", ".../secrets/bek1")
 * means "the newest version": once step 2 stores a new one, that token
 * names a key its keyslot does not take, and a rotation interrupted (or
 * failed) after step 2 would leave a volume that no longer opens. So
 * before anything is stored, such a token is rewritten (after a backup) to
 * name the version that was just checked against its keyslot.
 */
static int pin_version(struct rot *c, const char *base, const struct vv_bek *cur)
{
	const char *ver = cur->secret_id ? strrchr(cur->secret_id, '/') : NULL;
	struct vv_token t;
	char *pinned = NULL, *check = NULL;
	int r;

	if (strcmp(base, c->tok.key))
		return 0;	/* versioned already */
	if (!ver || !ver[1] || asprintf(&pinned, "%s%s", base, ver) < 0) {
		pinned = NULL;
		r = vv_fail(c->err, -EINVAL, VV_CAUSE_NONE,
			    "the token names %s without a version and the vault did not say "
			    "which version it is: not rotating (name the version in the token)",
			    c->tok.key);
		goto out;
	}
	check = vv_ref_unversioned(pinned);
	if (!check || strcmp(check, base)) {
		r = vv_fail(c->err, -EINVAL, VV_CAUSE_NONE,
			    "cannot name the version of %s (the vault said %s): not rotating",
			    c->tok.key, cur->secret_id);
		goto out;
	}
	r = token_with_key(c, &t, pinned, c->tok.kek, c->tok.alg, c->tok.keyslot);
	if (r == 0)
		r = write_token(c, &t);
	vv_token_clear(&t);
	if (r == 0)
		vv_info("%s: the token now names the version it opens with: %s", c->req->device,
			pinned);
out:
	free(pinned);
	free(check);
	return r;
}

/* Steps 2-4 of a BEK rotation. */
static int rotate_bek(struct rot *c, const char *base, const struct vv_bek *cur)
{
	const char *kek = c->req->kek ? c->req->kek : c->tok.kek;
	const char *alg = c->req->alg ? c->req->alg : (c->req->kek ? NULL : c->tok.alg);
	char why[sizeof(c->err->message)];
	struct vv_luks2 *l = NULL;
	struct vv_secret *bek = NULL;
	char *ref = NULL, *kek_id = NULL;
	int r, slot;

	r = pv_random_bek(&bek);
	if (r < 0)
		return vv_fail(c->err, r, VV_CAUSE_NONE, "cannot generate a key: %s",
			       strerror(-r));
	r = pv_store_guarded(c->v, base, bek, kek, alg, cur->file_name,
			     c->req->require_purge_protection, &c->warned, &ref, &kek_id, c->err);
	if (r == 0)
		r = pv_verify_stored(c->v, ref, kek_id, bek, c->err);
	if (r < 0) {
		vv_fail(c->err, r, VV_CAUSE_NONE, "storing the new key at %s failed: %s", base,
			pv_why(c->err, r, why, sizeof(why)));
		goto out;
	}
	vv_info("stored %s", ref);
	report(c, VV_ROT_STORED);

	r = backup(c);
	if (r < 0)
		goto out;
	/*
	 * The volume key is unlocked through the token's keyslot by number:
	 * an any-slot unlock could first spend seconds on the argon2id
	 * recovery keyslot.
	 */
	r = vv_luks2_load(c->req->device, &l);
	if (r == 0)
		r = vv_luks2_add_bek_keyslot(l, c->tok.keyslot, cur->key, bek);
	vv_luks2_free(l);
	if (r < 0) {
		vv_fail(c->err, r, VV_CAUSE_NONE, "adding a keyslot failed: %s", strerror(-r));
		goto out;
	}
	slot = r;
	r = vv_luks2_check_keyslot(c->req->device, slot, bek);
	if (r != slot) {
		r = vv_fail(c->err, r < 0 ? r : -EIO, VV_CAUSE_NONE,
			    "the new keyslot %d does not open with the new key when the header is "
			    "read back (an I/O error, or a disk that loses writes): check the disk "
			    "(dmesg) before running rotate again", slot);
		goto out;
	}
	report(c, VV_ROT_KEYSLOT_ADDED);
	r = switch_token(c, ref, kek_id, alg, slot);
out:
	vv_secret_free(bek);
	free(ref);
	free(kek_id);
	return r;
}

/* KEK rotation: same BEK, new wrapping, new version, new token. */
static int rotate_kek(struct rot *c, const char *base, const struct vv_bek *cur)
{
	char why[sizeof(c->err->message)];
	struct vv_token t;
	char *ref = NULL, *kek_id = NULL;
	int r;

	r = pv_store_guarded(c->v, base, cur->key, c->req->kek, c->req->alg, cur->file_name,
			     c->req->require_purge_protection, &c->warned, &ref, &kek_id, c->err);
	if (r == 0)
		r = pv_verify_stored(c->v, ref, kek_id, cur->key, c->err);
	if (r < 0) {
		vv_fail(c->err, r, VV_CAUSE_NONE, "storing the re-wrapped key at %s failed: %s",
			base, pv_why(c->err, r, why, sizeof(why)));
		goto out;
	}
	vv_info("stored %s wrapped by %s", ref, kek_id ? kek_id : "(none)");
	report(c, VV_ROT_STORED);
	r = token_with_key(c, &t, ref, kek_id, c->req->alg, c->tok.keyslot);
	r = write_step(c, &t, r, VV_ROT_TOKEN_UPDATED);
	if (r < 0)
		goto out;
	report(c, VV_ROT_DONE);
out:
	free(ref);
	free(kek_id);
	return r;
}

int vv_rotate(struct vv_vault *v, const struct vv_rotate_req *req,
	      struct vv_rotate_result *res, struct vv_error *err)
{
	struct rot c = { .v = v, .req = req, .res = res, .err = err };
	char why[sizeof(err->message)];
	struct vv_bek *cur = NULL, *pending = NULL;
	char *base = NULL;
	int lock = -1, r, slot;

	memset(res, 0, sizeof(*res));
	vv_rotate_result_clear(res);
	memset(&c.tok, 0, sizeof(c.tok));
	vv_error_clear(err);
	if (!req->device || !req->state_dir)
		return vv_fail(err, -EINVAL, VV_CAUSE_NONE, "device and state directory are required");
	lock = pv_lock(req->state_dir, err);
	if (lock < 0)
		return lock;

	r = vv_token_read(req->device, &c.tok);
	if (r < 0) {
		vv_fail(err, r, VV_CAUSE_NONE, r == -ENOENT ?
			"%s has no vaultvol token: provision or adopt it first" :
			"%s: cannot read its vaultvol token (%s)", req->device, strerror(-r));
		goto out;
	}
	r = pv_token_copy(&res->before, &c.tok);
	if (r < 0)
		goto out;
	base = vv_ref_unversioned(c.tok.key);
	if (!base) {
		r = vv_fail(err, -EINVAL, VV_CAUSE_NONE,
			    "the key %s is a file: rotation needs a vault or keystore secret "
			    "(adopt the volume with one)", c.tok.key);
		goto out;
	}

	/* 1: never change anything on a volume whose token does not open it. */
	r = vv_bek_fetch(v, c.tok.key, c.tok.kek, &cur, err);
	if (r < 0) {
		vv_fail(err, r, VV_CAUSE_NONE, "fetching the current key %s failed: %s", c.tok.key,
			pv_why(err, r, why, sizeof(why)));
		goto out;
	}
	slot = vv_luks2_check_keyslot(req->device, c.tok.keyslot, cur->key);
	if (slot != c.tok.keyslot) {
		r = vv_fail(err, slot < 0 ? slot : -EIO, VV_CAUSE_NONE,
			    "the token's key %s does not open keyslot %d: not rotating",
			    c.tok.key, c.tok.keyslot);
		goto out;
	}
	report(&c, VV_ROT_CHECKED);
	r = pin_version(&c, base, cur);
	if (r < 0)
		goto out;

	if (c.tok.retire_key) {
		vv_warn("%s: completing an interrupted rotation (removing keyslot %d)",
			req->device, c.tok.retire_keyslot);
		res->resumed = true;
		r = finish_retire(&c);
	} else if (find_pending(&c, base, &pending, &slot)) {
		vv_warn("%s: completing an interrupted rotation (%s in keyslot %d)",
			req->device, pending->secret_id, slot);
		res->resumed = true;
		r = switch_token(&c, pending->secret_id, pending->kek_id, pending->alg, slot);
		if (r == 0)
			r = finish_retire(&c);
	} else if (req->bek || !req->kek) {
		r = rotate_bek(&c, base, cur);
		if (r == 0)
			r = finish_retire(&c);
	} else {
		r = rotate_kek(&c, base, cur);
	}
	if (r == 0)
		r = pv_token_copy(&res->after, &c.tok);
out:
	pv_unlock(lock);
	vv_bek_free(cur);
	vv_bek_free(pending);
	vv_token_clear(&c.tok);
	free(base);
	return r;
}
