// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `vaultvol encrypt`: turn a device holding ext4 into a LUKS2 volume with
 * a vaultvol token, keeping the data, offline (docs/encrypt.md). The
 * order, each step writing nothing before the one above succeeded:
 *
 *   1. probe, read-only: in use -> refused; ext4 -> go on; LUKS2 in
 *      reencryption with our token -> resume (step 9); anything else
 *      refused with the reason.
 *   2. read-only feasibility: the superblock, and resize2fs -P's minimum
 *      against the device size less 32 MiB ("too full" refused here).
 *   3. the keys, generated in locked memory, stored in the vault and read
 *      back (provision's phase, pv_make_and_store_keys).
 *   4. e2fsck -f -p and resize2fs to the device size less 32 MiB: the
 *      first writes to the device.
 *   5. the LUKS2 header, keyslots and token built in a file under the
 *      state directory (provision's phases), the token checked to open.
 *   6. libcryptsetup initialises the encryption on that header: the
 *      first data segment is copied into the space the filesystem gave up.
 *   7. the header is copied to the start of the device; the file goes.
 *   8. the header backup, as provision takes it.
 *   9. libcryptsetup encrypts, hotzone by hotzone, recording each in the
 *      header: a run stopped or killed anywhere resumes from there.
 *
 * A run killed between 4 and 7 leaves a smaller ext4 and a key version in
 * the vault that nothing uses; running encrypt again starts over.
 */
#include "agent/provision/provision.h"
#include "agent/provision/provision_encrypt.h"
#include "agent/provision/provision_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/volume/crypt.h"
#include "agent/volume/header_backup.h"
#include "base/log.h"

struct enc {
	struct prov p;
	struct vv_encrypt_result *res;
	vv_reencrypt_progress progress;
	void *ctx;
	uint32_t fs_block;
	uint64_t dev_size, target;
	char header[4200];	/* step 5's header file, "" when none */
};

/* Steps 1-2 for ext4: the answers come before anything is stored or written. */
static int plan_ext4(struct enc *e)
{
	const char *dev = e->p.req->device;
	struct vv_error *err = e->p.err;
	uint32_t dev_sector;
	uint64_t blocks, min;
	int r;

	/*
	 * The header is built in a file under the state directory, then backed
	 * up there: a full directory found now costs no key and no shrink.
	 */
	r = pv_state_room(dev, e->p.req->state_dir, VV_LUKS2_HEADER_BYTES, err);
	if (r < 0)
		return r;
	r = pe_ext4_read_sb(dev, &e->fs_block, &blocks);
	if (r < 0)
		return vv_fail(err, r, VV_CAUSE_NONE, "cannot read the ext4 superblock of %s: %s",
			       dev, strerror(-r));
	e->res->fs_bytes_before = blocks * e->fs_block;
	r = vv_device_size(dev, &e->dev_size);
	if (r == 0)
		r = vv_pick_sector_size(dev, &dev_sector);
	if (r < 0)
		return vv_fail(err, r, VV_CAUSE_NONE, "cannot size %s: %s", dev, strerror(-r));
	e->p.res->sector_size = vv_encrypt_sector_size(dev_sector, e->fs_block);
	e->target = vv_encrypt_target_size(e->dev_size, e->fs_block);
	if (e->target < (8ULL << 20))
		return vv_fail(err, -ENOSPC, VV_CAUSE_CONFIG,
			       "%s is %llu MiB: too small to give up 32 MiB for the LUKS2 header; "
			       "nothing was written", dev, (unsigned long long)(e->dev_size >> 20));
	if (e->res->fs_bytes_before <= e->target) {
		e->target = 0;	/* already small enough: no shrink */
		return 0;
	}
	r = pe_ext4_min_size(dev, e->fs_block, &min, err);
	if (r < 0)
		return r;
	if (min > e->target)
		return vv_fail(err, -ENOSPC, VV_CAUSE_CONFIG,
			       "the ext4 filesystem on %s cannot shrink by the 32 MiB the LUKS2 "
			       "header needs: it is too full (resize2fs says %llu MiB at least, "
			       "%llu MiB would be left); nothing was written: free some space or "
			       "grow the device by 32 MiB", dev, (unsigned long long)(min >> 20),
			       (unsigned long long)(e->target >> 20));
	return 0;
}

/* Step 1: what is there, and whether encrypt may touch it. */
static int classify(struct enc *e, enum vv_encrypt_kind *kind)
{
	const char *dev = e->p.req->device;
	struct vv_error *err = e->p.err;
	char what[128];
	int r;

	r = vv_probe_content(dev, what, sizeof(what));
	if (r == -EBUSY) {
		vv_error_remedy(err, "unmount it (and close whatever holds it), then run "
				"vaultvol encrypt again");
		return vv_fail(err, -EBUSY, VV_CAUSE_NONE,
			       "%s is in use (mounted or open): encrypting a mounted filesystem "
			       "(online) is not supported yet; nothing was written", dev);
	}
	if (r < 0)
		return vv_fail(err, r, VV_CAUSE_NONE, "cannot probe %s: %s", dev, strerror(-r));
	*kind = vv_encrypt_classify(r, what);
	switch (*kind) {
	case VV_ENC_EXT4:
	case VV_ENC_LUKS:
		return 0;
	case VV_ENC_XFS:
		vv_error_remedy(err, "back the data up, then vaultvol provision the device and "
				"restore; or move the data to a new vaultvol provision'ed disk");
		return vv_fail(err, -EOPNOTSUPP, VV_CAUSE_NONE,
			       "%s holds xfs, which cannot shrink to make room for the LUKS2 "
			       "header (a detached header is not supported yet); nothing was "
			       "written", dev);
	case VV_ENC_BITLOCKER:
		return vv_fail(err, -EEXIST, VV_CAUSE_NONE,
			       "%s is already encrypted (BitLocker); nothing was written", dev);
	case VV_ENC_EMPTY:
		vv_error_remedy(err, "use vaultvol provision for a blank disk");
		return vv_fail(err, -ENOENT, VV_CAUSE_NONE,
			       "%s holds no filesystem: there is nothing to keep; nothing was "
			       "written", dev);
	default:
		return vv_fail(err, -EOPNOTSUPP, VV_CAUSE_NONE,
			       "%s holds %s: encrypt knows how to keep ext4 only; nothing was "
			       "written", dev, what);
	}
}

/* Step 5: provision's header phases, on a file under the state directory. */
static int build_header(struct enc *e)
{
	const struct vv_provision_req *req = e->p.req;
	struct vv_error *err = e->p.err;
	struct vv_luks2 *l = NULL;
	int fd, r;

	/* mkostemp(3)'s template: it replaces the six X's with a unique suffix. */
	snprintf(e->header, sizeof(e->header), "%s/encrypt-header.XXXXXX", req->state_dir);
	fd = mkostemp(e->header, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		e->header[0] = '\0';
		return vv_fail(err, r, VV_CAUSE_NONE, "cannot create a header file in %s: %s",
			       req->state_dir, strerror(-r));
	}
	/* libcryptsetup wants an existing file of at least a sector. */
	r = posix_fallocate(fd, 0, 4096);
	close(fd);
	if (r)
		return vv_fail(err, -r, VV_CAUSE_NONE, "cannot size %s: %s", e->header,
			       strerror(r));
	r = vv_luks2_init_detached(e->header, req->device, VV_ENCRYPT_SHIFT, &l);
	if (r < 0)
		return vv_fail(err, r, VV_CAUSE_NONE, "cannot start a LUKS2 header: %s",
			       strerror(-r));
	r = pv_format_keyslots(&e->p, l);
	vv_luks2_free(l);
	if (r < 0)
		return r;
	r = pv_write_token(&e->p, e->header);
	if (r == 0)
		r = pv_check_token_opens(&e->p, e->header);
	return r;
}

/* Steps 6-8. */
static int install_header(struct enc *e)
{
	const struct vv_provision_req *req = e->p.req;
	struct vv_provision_result *res = e->p.res;
	struct vv_error *err = e->p.err;
	int r;

	r = vv_luks2_encrypt_init(e->header, req->device, res->bek_keyslot, e->p.bek,
				  VV_ENCRYPT_SHIFT, res->sector_size);
	if (r < 0)
		return vv_fail(err, r, VV_CAUSE_NONE, "libcryptsetup could not start the "
			       "encryption: %s", vv_crypt_strerror(r));
	r = vv_luks2_header_restore(req->device, e->header);
	if (r < 0) {
		vv_error_remedy(err, "the header is kept in %s; the filesystem is intact "
				"(shrunk): run vaultvol encrypt again", e->header);
		e->header[0] = '\0';	/* keep it */
		return vv_fail(err, r, VV_CAUSE_NONE, "writing the LUKS2 header to %s failed: %s",
			       req->device, vv_crypt_strerror(r));
	}
	unlink(e->header);
	e->header[0] = '\0';
	return pv_backup(req->device, req->state_dir, res->backup, sizeof(res->backup), err);
}

/* Step 9, for a new encryption and a resumed one alike. */
static int run(struct enc *e, int slot, const struct vv_secret *key)
{
	const char *dev = e->p.req->device;
	int r;

	r = vv_luks2_reencrypt_run(dev, slot, key, e->progress, e->ctx);
	if (r == -EINTR || (r == 0 && vv_luks2_reencrypt_pending(dev) == 1)) {
		e->res->stopped = true;
		vv_error_remedy(e->p.err, "run vaultvol encrypt %s again to resume", dev);
		return vv_fail(e->p.err, -EINTR, VV_CAUSE_NONE, "%s: encryption stopped; it "
			       "resumes where it stopped", dev);
	}
	if (r < 0) {
		vv_error_remedy(e->p.err, "run vaultvol encrypt %s again to resume", dev);
		return vv_fail(e->p.err, r, VV_CAUSE_NONE, "%s: encryption failed: %s", dev,
			       vv_crypt_strerror(r));
	}
	return 0;
}

/*
 * Step 1 on a LUKS2 volume with no encryption pending. Encrypted before
 * with the secret asked for (its token names it): done, exit 0, so that a
 * rerun (the extension handler's enable runs again on every boot) is
 * harmless. Anything else is refused with what to do instead.
 */
static int encrypted_before(struct enc *e)
{
	const char *dev = e->p.req->device;
	struct vv_token *t = &e->p.res->token;
	char *have = NULL, *want = NULL;
	int r;

	if (vv_token_read(dev, t) < 0) {
		vv_error_remedy(e->p.err, "open it with its passphrase, or give it a vaultvol token "
				"with vaultvol adopt %s", dev);
		return vv_fail(e->p.err, -EEXIST, VV_CAUSE_NONE, "%s is already a LUKS volume "
			       "(no vaultvol token); nothing was written", dev);
	}
	have = vv_ref_name(t->key);
	want = vv_ref_name(e->p.req->secret);
	if (have && want && !strcmp(have, want)) {
		e->res->already = true;
		vv_info("%s was encrypted before with %s; nothing to do", dev, t->key);
		r = 0;
	} else {
		vv_error_remedy(e->p.err, "open it with vaultvol open; to change its key, use "
				"vaultvol rotate %s", dev);
		r = vv_fail(e->p.err, -EEXIST, VV_CAUSE_NONE, "%s is already encrypted, with %s, "
			    "not %s; nothing was written", dev, t->key, e->p.req->secret);
	}
	free(have);
	free(want);
	return r;
}

/* Step 1's other branch: an encryption a run of ours began. */
static int resume(struct enc *e)
{
	const char *dev = e->p.req->device;
	struct vv_token *t = &e->p.res->token;
	char why[sizeof(e->p.err->message)];
	struct vv_bek *b = NULL;
	int r;

	r = vv_luks2_reencrypt_pending(dev);
	if (r == 0)
		return encrypted_before(e);
	if (r < 0)
		return vv_fail(e->p.err, -EEXIST, VV_CAUSE_NONE,
			       "%s is already a LUKS volume (not LUKS2: %s); nothing was written",
			       dev, strerror(-r));
	if (vv_token_read(dev, t) < 0) {
		vv_error_remedy(e->p.err, "finish it with cryptsetup reencrypt --resume-only %s",
				dev);
		return vv_fail(e->p.err, -EEXIST, VV_CAUSE_NONE,
			       "%s is in LUKS2 reencryption that vaultvol did not start (no "
			       "vaultvol token); nothing was written", dev);
	}
	e->res->resumed = true;
	vv_info("%s: resuming the encryption with key %s (keyslot %d)", dev, t->key, t->keyslot);
	r = vv_bek_fetch(e->p.v, t->key, t->kek, &b, e->p.err);
	if (r < 0)
		return vv_fail(e->p.err, r, VV_CAUSE_NONE, "fetching %s to resume failed: %s",
			       t->key, pv_why(e->p.err, r, why, sizeof(why)));
	r = run(e, t->keyslot, b->key);
	vv_bek_free(b);
	return r;
}

static int encrypt_ext4(struct enc *e)
{
	int r;

	r = plan_ext4(e);
	if (r == 0)
		r = pv_make_and_store_keys(&e->p);
	if (r == 0 && e->target) {
		r = pe_ext4_shrink(e->p.req->device, e->target, e->p.err);
		if (r == 0)
			e->res->fs_bytes_after = e->target;
	} else if (r == 0) {
		e->res->fs_bytes_after = e->res->fs_bytes_before;
	}
	if (r == 0)
		r = build_header(e);
	if (r < 0)
		return r;
	if (e->p.req->recovery == VV_RECOVERY_PRINT) {
		/* Its keyslot exists: the caller must show it, whatever happens next. */
		e->p.res->recovery = e->p.recovery;
		e->p.recovery = NULL;
	}
	r = install_header(e);
	if (r == 0)
		r = run(e, e->p.res->bek_keyslot, e->p.bek);
	return r;
}

int vv_encrypt(struct vv_vault *v, const struct vv_provision_req *req,
	       vv_reencrypt_progress progress, void *ctx, struct vv_encrypt_result *res,
	       struct vv_error *err)
{
	struct enc e = {
		.p = { .v = v, .req = req, .res = &res->p, .err = err, .fs = "ext4" },
		.res = res, .progress = progress, .ctx = ctx,
	};
	enum vv_encrypt_kind kind = VV_ENC_OTHER;
	int lock = -1, r;

	memset(res, 0, sizeof(*res));
	vv_provision_result_clear(&res->p);
	vv_error_clear(err);
	r = pv_check_req(&e.p);
	if (r < 0)
		goto out;
	lock = pv_lock(req->state_dir, err);
	if (lock < 0) {
		r = lock;
		goto out;
	}
	r = classify(&e, &kind);
	if (r == 0)
		r = kind == VV_ENC_LUKS ? resume(&e) : encrypt_ext4(&e);
out:
	if (e.header[0])
		unlink(e.header);
	pv_unlock(lock);
	vv_secret_free(e.p.bek);
	vv_secret_free(e.p.recovery);
	free(e.p.name);
	free(e.p.ref);
	free(e.p.kek_id);
	free(e.p.rbase);
	free(e.p.rkek);
	return r;
}
