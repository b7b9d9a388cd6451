// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `vaultvol adopt`: give an existing LUKS2 volume a vaultvol token. The
 * key is fetched and must open a keyslot before anything is written; the
 * header is backed up before the one write (the token). Keyslots are left
 * exactly as they are.
 */
#include "agent/provision/provision.h"
#include "agent/provision/provision_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config/config.h"
#include "agent/volume/crypt.h"
#include "agent/volume/header_backup.h"
#include "agent/volume/mount.h"
#include "base/log.h"

/* What open would refuse from a token is not written into one. *name: the mapper name. */
static int check_req(const struct vv_adopt_req *req, char **name, struct vv_error *err)
{
	char why[PATH_MAX + 80];

	if (!req->device || !req->secret || !req->state_dir)
		return vv_fail(err, -EINVAL, VV_CAUSE_NONE,
			       "device, secret and state directory are required");
	if (pv_check_token_refs(req->secret, req->kek, err) < 0)
		return -EINVAL;
	if (req->mount && vv_mount_point_check(req->mount, VV_ORIGIN_TOKEN, why, sizeof(why)) < 0)
		return vv_fail(err, -EINVAL, VV_CAUSE_NONE, "--mount: %s", why);
	if (req->fs && !vv_mount_fs_allowed(req->fs))
		return vv_fail(err, -EINVAL, VV_CAUSE_NONE, "--fs %s: a token may name ext4, xfs, "
			       "btrfs, vfat, ntfs or ntfs3", req->fs);
	*name = req->name ? strdup(req->name) : vv_ref_name(req->secret);
	if (!*name)
		return vv_fail(err, -EINVAL, VV_CAUSE_NONE,
			       "cannot derive a volume name from '%s': give --name", req->secret);
	if (!vv_volume_name_valid(*name))
		return vv_fail(err, -EINVAL, VV_CAUSE_NONE, "invalid volume name '%s'", *name);
	return 0;
}

int vv_adopt(struct vv_vault *v, const struct vv_adopt_req *req,
	     struct vv_token *tok_out, struct vv_error *err)
{
	struct vv_crypt_info info;
	struct vv_token old, t;
	struct vv_bek *b = NULL;
	char backup[4200], why[sizeof(err->message)];
	int lock = -1, r, slot;

	memset(&t, 0, sizeof(t));
	memset(&old, 0, sizeof(old));
	if (tok_out) {
		memset(tok_out, 0, sizeof(*tok_out));
		tok_out->token_id = tok_out->keyslot = -1;
	}
	vv_error_clear(err);
	r = check_req(req, &t.name, err);
	if (r < 0)
		goto out;

	r = vv_crypt_probe(req->device, &info);
	if (r < 0 || info.type != VV_VOL_LUKS2) {
		r = vv_fail(err, -EINVAL, VV_CAUSE_NONE,
			    "%s is %s: only LUKS2 headers hold tokens (describe it in the "
			    "config file instead)", req->device,
			    r < 0 ? "not a LUKS volume" : vv_vol_type_str(info.type));
		goto out;
	}
	lock = pv_lock(req->state_dir, err);
	if (lock < 0) {
		r = lock;
		goto out;
	}
	r = vv_token_read(req->device, &old);
	if (r == 0 && !req->force) {
		r = vv_fail(err, -EEXIST, VV_CAUSE_NONE,
			    "%s already has a vaultvol token (key %s); --force replaces it",
			    req->device, old.key);
		goto out;
	}

	r = vv_bek_fetch(v, req->secret, req->kek, &b, err);
	if (r < 0) {
		vv_fail(err, r, VV_CAUSE_NONE, "fetching %s failed: %s", req->secret,
			pv_why(err, r, why, sizeof(why)));
		goto out;
	}
	/* Before any header write: purge protection, and a KEK fit for new keys. */
	r = pv_adopt_guard(v, b, req->require_purge_protection, err);
	if (r < 0)
		goto out;
	slot = vv_crypt_check_key(req->device, b->key);
	if (slot < 0) {
		r = vv_fail(err, slot == -EPERM ? -EPERM : slot, VV_CAUSE_NONE,
			    "the key %s does not open %s: %s", b->secret_id ? b->secret_id :
			    req->secret, req->device, vv_crypt_strerror(slot));
		goto out;
	}

	/* The version actually fetched, so a later rotation cannot change what opens this. */
	t.keyslot = slot;
	t.key = strdup(b->secret_id ? b->secret_id : req->secret);
	if ((!t.key) || (b->kek_id && !(t.kek = strdup(b->kek_id))) ||
	    (t.kek && !(t.alg = strdup(b->alg ? b->alg : "RSA-OAEP"))) ||
	    (req->mount && !(t.mount = strdup(req->mount))) ||
	    (req->fs && !(t.fs = strdup(req->fs))) ||
	    (req->options && !(t.options = strdup(req->options)))) {
		r = -ENOMEM;
		goto out;
	}

	r = pv_backup(req->device, req->state_dir, backup, sizeof(backup), err);
	if (r < 0)
		goto out;
	/* What the disk holds now, token id included, is what the caller gets. */
	r = vv_token_write_back(req->device, &t, tok_out);
	if (r < 0) {
		vv_fail(err, r, VV_CAUSE_NONE, "writing the token failed: %s",
			vv_token_write_why(r));
		goto out;
	}
	vv_info("%s: adopted with key %s (keyslot %d)", req->device, t.key, slot);
out:
	pv_unlock(lock);
	vv_bek_free(b);
	vv_token_clear(&old);
	vv_token_clear(&t);
	return r;
}
