/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The `vaultvol` LUKS2 token: a volume describes itself. Provisioning and
 * adoption write it; open reads it. It records the exact key version that
 * opens the volume, so a restored disk still opens after later rotations.
 *
 * JSON (crypt_token_json_set); every member is a string except vv_version.
 * Parsing is strict (vv_version must be 1, exactly one keyslot, key and name
 * required, name a valid volume name (vv_volume_name_valid), alg only with
 * kek, mount absolute); unknown members are ignored so later versions can
 * add optional ones. The header is not authenticated: open holds mount,
 * fs and options to what a disk may ask for (agent/open/open_plan.c).
 * {
 *   "type": "vaultvol", "keyslots": ["1"], "vv_version": 1,
 *   "key": "https://v.vault.azure.net/secrets/data1/<version>",  key ref, versioned
 *   "kek": "https://v.vault.azure.net/keys/kek/<version>",        optional
 *   "alg": "RSA-OAEP",                                             optional, with kek
 *   "name": "data1",                  mapper name
 *   "mount": "/data", "fs": "ext4", "options": "defaults"          optional
 *   "retire": {"keyslot": "0", "key": "<previous key ref>",        optional,
 *              "kek": "...", "alg": "..."}                         see below
 * }
 * "retire" is present only while a BEK rotation is between writing the new
 * token and removing the previous keyslot: it names the keyslot to remove
 * and the key that opens it, so an interrupted rotation can be completed
 * (the key is checked against that keyslot before anything is removed).
 */
#ifndef VV_TOKEN_H
#define VV_TOKEN_H

#define VV_TOKEN_TYPE "vaultvol"

struct vv_token {
	int token_id;		/* LUKS2 token slot, -1 when not yet written */
	int keyslot;		/* keyslot the key opens */
	char *key;
	char *kek;		/* NULL when not wrapped */
	char *alg;
	char *name;
	char *mount;
	char *fs;
	char *options;
	/* Rotation in progress (compatible extension); NULL key: none. */
	char *retire_key;
	char *retire_kek;
	char *retire_alg;
	int retire_keyslot;	/* meaningful only with retire_key */
};

void vv_token_clear(struct vv_token *t);	/* frees members, zeroes */

/* JSON text <-> struct (pure; unit-testable). -EINVAL names nothing secret. */
int vv_token_from_json(const char *json, struct vv_token *t);
int vv_token_to_json(const struct vv_token *t, char **json);

/*
 * The first key or KEK reference of t (retire ones included) that names a
 * local file ("file:..."), or NULL. A disk does not choose which file root
 * reads (/etc/shadow as a passphrase oracle, a FIFO to hang the boot):
 * `vaultvol open` and the token plugin both refuse such a token before
 * anything is read. file: references are for the config and command line.
 */
const char *vv_token_local_ref(const struct vv_token *t);

/*
 * Read the vaultvol token of a LUKS2 device: 0 and *t filled, -ENOENT when
 * the volume has none, -EINVAL when it is malformed.
 */
int vv_token_read(const char *device, struct vv_token *t);

/*
 * The same from a header already loaded by vv_unlock_load (discovery reads
 * each header once, not once for its type and again for its token).
 * -ENOENT for anything but LUKS2.
 */
struct vv_unlock;
int vv_token_read_loaded(struct vv_unlock *u, const char *device, struct vv_token *t);

/*
 * Write (replace) the vaultvol token. The caller has backed up the header
 * (vv_header_backup) before calling. An existing vaultvol token is replaced
 * in place (one header write: a crash leaves the old or the new token).
 * -EINVAL when t is invalid or t->keyslot is not an active keyslot; -EIO
 * when the header, read back from the disk, does not hold the token
 * written (the disk did not keep the write).
 */
int vv_token_write(const char *device, const struct vv_token *t);

/*
 * The same, and *back filled with the token as read back from the disk
 * (its token_id included): what callers would otherwise read once more.
 * On failure *back is cleared.
 */
int vv_token_write_back(const char *device, const struct vv_token *t, struct vv_token *back);

/* vv_token_write's failure r in the operator's words, with what to do for -EIO. */
const char *vv_token_write_why(int r);

#endif
