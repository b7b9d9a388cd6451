// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `vaultvol adopt --rewrite`: a volume restored into another region names
 * a vault whose keys now live elsewhere (a `[vault] moved` line says
 * where). Its token's key and KEK references are rewritten to the new
 * vault, same names and versions, once the key fetched there is known to
 * open the keyslot the token names and the operator has confirmed. The
 * header is backed up before the one write (the token, replaced in place);
 * keyslots, segments and everything else in the header stay as they are.
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

int vv_ref_move(const char *ref, const struct vv_vault_move *moves, size_t n, char **out)
{
	char origin[VV_ORIGIN_MAX], from[VV_ORIGIN_MAX];
	const char *path;

	*out = NULL;
	if (!ref || strncmp(ref, "https://", 8) || vv_origin(ref, origin, sizeof(origin)) < 0)
		return -EINVAL;
	path = strchr(ref + 8, '/');
	if (!path)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (vv_origin(moves[i].from, from, sizeof(from)) < 0 || strcmp(from, origin))
			continue;
		if (vv_origin(moves[i].to, from, sizeof(from)) < 0)
			return -EINVAL;
		/* The same name and version: Key Vault's backup/restore keeps both. */
		return asprintf(out, "%s%s", from, path) < 0 ? -ENOMEM : 1;
	}
	return 0;
}

/* after = before with its key (and a moved KEK) at the new vault. */
static int new_refs(const struct vv_rewrite_req *req, const struct vv_token *before,
		    struct vv_token *after, struct vv_error *err)
{
	char origin[VV_ORIGIN_MAX] = "", *key = NULL, *kek = NULL;
	int r;

	if (before->retire_key)
		return vv_fail(err, -EBUSY, VV_CAUSE_NONE,
			       "%s: a key rotation is not finished (the token retires keyslot %d): "
			       "complete it with `vaultvol rotate %s` first", req->device,
			       before->retire_keyslot, req->device);
	r = vv_ref_move(before->key, req->moves, req->nmoves, &key);
	if (r == -EINVAL)
		return vv_fail(err, -EINVAL, VV_CAUSE_NONE,
			       "%s: the token's key %s names no vault: nothing to rewrite",
			       req->device, before->key);
	if (r == 0) {
		vv_origin(before->key, origin, sizeof(origin));
		vv_fail(err, -ENOENT, VV_CAUSE_CONFIG,
			"%s: no [vault] moved line maps the token's vault %s (key %s)",
			req->device, origin, before->key);
		vv_error_remedy(err, "if its keys were restored into another vault, add under "
				"[vault] in /etc/vaultvol/vaultvol.conf: moved = %s https://NEW-VAULT",
				origin);
		return -ENOENT;
	}
	if (r < 0)
		return r;
	if (before->kek) {
		r = vv_ref_move(before->kek, req->moves, req->nmoves, &kek);
		/* A KEK whose vault did not move (or a local one) stays as it is. */
		if (r <= 0 && r != -ENOMEM)
			r = 0;
	}
	if (r >= 0)
		r = pv_token_copy(after, before);
	if (r < 0) {
		free(key);
		free(kek);
		return r;
	}
	free(after->key);
	after->key = key;
	if (kek) {
		free(after->kek);
		after->kek = kek;
	}
	return 0;
}

/* The key at the new vault opens the token's keyslot (nothing activated). */
static int verify_new(struct vv_vault *v, const struct vv_rewrite_req *req,
		      const struct vv_token *after, struct vv_error *err)
{
	char origin[VV_ORIGIN_MAX], why[sizeof(err->message)];
	struct vv_bek *b = NULL;
	int r;

	vv_origin(after->key, origin, sizeof(origin));
	r = vv_bek_fetch(v, after->key, after->kek, &b, err);
	if (r < 0) {
		pv_why(err, r, why, sizeof(why));
		if (err->cause == VV_CAUSE_NOT_FOUND)
			vv_error_remedy(err, "restore the secret (and its KEK) into %s from the "
					"old vault's backup (Key Vault's backup/restore keeps names "
					"and versions)", origin);
		vv_fail(err, r, VV_CAUSE_NONE, "the secret %s is not usable at the new vault "
			"%s: %s; nothing was written", after->key, origin, why);
		goto out;
	}
	r = vv_luks2_check_keyslot(req->device, after->keyslot, b->key);
	if (r < 0)
		vv_fail(err, r, VV_CAUSE_NONE, "the key %s at %s does not open keyslot %d of %s "
			"(%s): it is not the key the token names; nothing was written",
			after->key, origin, after->keyslot, req->device, vv_crypt_strerror(r));
	else
		r = 0;
out:
	vv_bek_free(b);
	return r;
}

int vv_adopt_rewrite(struct vv_vault *v, const struct vv_rewrite_req *req,
		     struct vv_rewrite_result *res, struct vv_error *err)
{
	struct vv_crypt_info info;
	int lock = -1, r;

	memset(res, 0, sizeof(*res));
	res->before.token_id = res->after.token_id = -1;
	vv_error_clear(err);
	if (!req->device || !req->state_dir)
		return vv_fail(err, -EINVAL, VV_CAUSE_NONE, "device and state directory are required");
	r = vv_crypt_probe(req->device, &info);
	if (r < 0 || info.type != VV_VOL_LUKS2)
		return vv_fail(err, -EINVAL, VV_CAUSE_NONE,
			       "%s is %s: only LUKS2 headers hold tokens", req->device,
			       r < 0 ? "not a LUKS volume" : vv_vol_type_str(info.type));
	lock = pv_lock(req->state_dir, err);
	if (lock < 0)
		return lock;
	r = vv_token_read(req->device, &res->before);
	if (r < 0) {
		vv_fail(err, r, VV_CAUSE_NONE, r == -ENOENT ?
			"%s has no vaultvol token: nothing to rewrite (`vaultvol adopt %s --secret "
			"REF` writes one)" : "%s: its vaultvol token is unreadable (%s)",
			req->device, r == -ENOENT ? req->device : strerror(-r));
		goto out;
	}
	/* 1. the new references, 2. the key there opens the token's keyslot */
	r = new_refs(req, &res->before, &res->after, err);
	if (r < 0)
		goto out;
	r = verify_new(v, req, &res->after, err);
	if (r < 0)
		goto out;
	/* 3. the operator agrees */
	if (req->confirm && !req->confirm(&res->before, &res->after, req->confirm_arg)) {
		r = vv_fail(err, -ECANCELED, VV_CAUSE_NONE,
			    "%s: the rewrite was not confirmed; nothing was written", req->device);
		goto out;
	}
	/* 4. the header backed up, 5. the token replaced in place */
	r = pv_backup(req->device, req->state_dir, res->backup, sizeof(res->backup), err);
	if (r < 0)
		goto out;
	r = vv_token_write(req->device, &res->after);
	if (r < 0) {
		vv_fail(err, r, VV_CAUSE_NONE, "writing the token failed: %s (the header backup "
			"is %s)", vv_token_write_why(r), res->backup);
		goto out;
	}
	vv_info("%s: token rewritten: key %s -> %s", req->device, res->before.key,
		res->after.key);
out:
	pv_unlock(lock);
	return r;
}

void vv_rewrite_result_clear(struct vv_rewrite_result *res)
{
	vv_token_clear(&res->before);
	vv_token_clear(&res->after);
	memset(res, 0, sizeof(*res));
}
