// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The ops `vaultvol watch` runs with: the vault check, syncfs of the
 * mounted filesystem, and suspend/resume of the dm-crypt mapping. The
 * resume fetches the key the way open does (vv_bek_fetch: secret, then
 * the KEK's unwrap) and holds it only for the call.
 */
#include "agent/revoke/revoke.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "agent/volume/crypt.h"
#include "vault/vault.h"

static void op_check(void *ctx, const struct vv_rv_target *t, struct vv_rv_check *out)
{
	vv_rv_check_vault(ctx, t, out);
}

static int op_sync(void *ctx, const struct vv_rv_target *t, struct vv_error *err)
{
	int fd, r = 0;

	(void)ctx;
	fd = open(t->mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return vv_fail(err, -errno, VV_CAUSE_SYSTEM, "cannot open %s: %s", t->mount,
			       strerror(errno));
	if (syncfs(fd) < 0)
		r = vv_fail(err, -errno, VV_CAUSE_SYSTEM, "syncfs %s: %s", t->mount,
			    strerror(errno));
	close(fd);
	return r;
}

static int op_suspend(void *ctx, const struct vv_rv_target *t, struct vv_error *err)
{
	int r;

	(void)ctx;
	r = vv_crypt_suspend(t->crypt_name, t->header);
	if (r < 0)
		return vv_fail(err, r, VV_CAUSE_SYSTEM, "suspending %s: %s", t->crypt_name,
			       vv_crypt_strerror(r));
	return 0;
}

static int op_resume(void *ctx, const struct vv_rv_target *t, struct vv_error *err)
{
	struct vv_bek *bek = NULL;
	int r;

	r = vv_bek_fetch(ctx, t->key_ref, t->kek_ref, &bek, err);
	if (r < 0)
		return r;
	r = vv_crypt_resume_by_key(t->crypt_name, t->header, bek->key);
	vv_bek_free(bek);
	if (r < 0)
		return vv_fail(err, r, VV_CAUSE_SYSTEM, "resuming %s: %s", t->crypt_name,
			       vv_crypt_strerror(r));
	return 0;
}

/* The crypt mapping below any quiesce layer: the one a suspend acts on. */
static int op_suspended(void *ctx, const struct vv_rv_target *t)
{
	(void)ctx;
	return vv_crypt_suspended(t->crypt_name);
}

void vv_rv_ops_system(struct vv_vault *vault, struct vv_rv_ops *ops)
{
	*ops = (struct vv_rv_ops){
		.check = op_check, .sync = op_sync, .suspend = op_suspend, .resume = op_resume,
		.suspended = op_suspended, .ctx = vault,
	};
}
