// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `vaultvol provision`: a new data volume, keyed from the vault, that
 * describes itself.
 *
 * Order of steps, chosen so that a failure or a crash at any point leaves
 * nothing half-usable and loses nothing:
 *
 *   1  probe the device (read-only); refuse data unless --force
 *   2  generate the BEK and the recovery passphrase (locked memory)
 *   3  store the BEK in the vault and read it back (compare); a remote KEK
 *      unfit to wrap (type, size, disabled, dates) is refused before, and
 *      a KEK or secret whose vault lacks purge protection is warned about
 *      (refused with require_purge_protection: the KEK before the store,
 *      the secret on the store's answer)
 *   4  store the recovery passphrase (--recovery secret), read it back
 *      -- nothing on the device has been written so far. A secret stored
 *         for a volume that never got formatted is harmless (it opens
 *         nothing); a keyslot whose key is stored nowhere would be a lost
 *         volume, so every key exists outside this process before any
 *         keyslot uses it.
 *   5  (--force) erase old signatures; LUKS2 format (header, no keyslot yet)
 *   6  add the BEK keyslot (PBKDF2, minimum iterations)
 *   7  add the recovery keyslot (argon2id)
 *   8  back up the header (the first header worth restoring)
 *   9  write the vaultvol token (secret and KEK versions, keyslot, mount)
 *  10  check the stored key opens the keyslot the token names
 *  11  activate, mkfs, mount (not with format_only)
 *
 * A crash in 5-7 leaves a LUKS header on a device that held no data (or
 * that --force said to overwrite): run provision again with --force. In
 * 8-9 the volume opens with the stored key but has no token: `vaultvol
 * adopt` or provision --force. In 10-11 the volume is complete without a
 * filesystem: provision --force again. No step deletes a secret.
 */
#include "agent/provision/provision.h"
#include "agent/provision/provision_internal.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libdevmapper.h>

#include "agent/config/config.h"
#include "agent/volume/crypt.h"
#include "agent/volume/header_backup.h"
#include "agent/volume/mount.h"
#include "agent/volume/quiesce.h"
#include "base/log.h"

#define RECOVERY_FILE_NAME "RecoveryPassphrase"

void vv_provision_result_clear(struct vv_provision_result *res)
{
	if (!res)
		return;
	vv_token_clear(&res->token);
	free(res->recovery_ref);
	vv_secret_free(res->recovery);
	memset(res, 0, sizeof(*res));
	res->token.token_id = -1;
	res->token.keyslot = -1;
	res->bek_keyslot = -1;
	res->recovery_keyslot = -1;
}

/* Filesystem labels: what mkfs accepts, printable, not an option. */
static bool label_ok(const char *fs, const char *label)
{
	size_t n = strlen(label), max = strcmp(fs, "xfs") ? 16 : 12;

	if (!n || n > max || label[0] == '-')
		return false;
	for (const char *p = label; *p; p++)
		if ((unsigned char)*p < 0x21 || *p == 0x7f)
			return false;
	return true;
}

/* mkfs (and encrypt's e2fsck, resize2fs) are looked up in fixed system directories, not $PATH. */
int pv_find_tool(const char *tool, char *path, size_t len)
{
	static const char *const dirs[] = { "/usr/sbin", "/sbin", "/usr/bin", "/bin" };

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, len, "%s/%s", dirs[i], tool);
		if (access(path, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

/*
 * Make the filesystem: a fixed argv, no shell, a minimal environment,
 * stdin from /dev/null (never prompt) and stdout onto stderr (stdout may
 * carry the recovery passphrase and nothing else).
 */
static int run_mkfs(const char *fs, const char *label, const char *dev, struct vv_error *err)
{
	char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL };
	char tool[64], path[256];
	const char *argv[8];
	int argc = 0, st, fd;
	pid_t pid;

	snprintf(tool, sizeof(tool), "mkfs.%s", fs);
	if (pv_find_tool(tool, path, sizeof(path)) < 0)
		return vv_fail(err, -ENOENT, VV_CAUSE_NONE, "%s not found", tool);
	argv[argc++] = tool;
	argv[argc++] = "-q";
	if (label) {
		argv[argc++] = "-L";
		argv[argc++] = label;
	}
	argv[argc++] = dev;
	argv[argc] = NULL;
	vv_info("running %s on %s", path, dev);
	pid = fork();
	if (pid < 0)
		return vv_fail(err, -errno, VV_CAUSE_NONE, "fork: %s", strerror(errno));
	if (pid == 0) {
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0 || dup2(fd, STDIN_FILENO) < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
			_exit(127);
		execve(path, (char *const *)argv, envp);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return vv_fail(err, -errno, VV_CAUSE_NONE, "waitpid: %s", strerror(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return vv_fail(err, -EIO, VV_CAUSE_NONE, "%s failed (status %d)", tool,
			       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return 0;
}

/* Without udev nobody creates /dev/mapper/NAME for us: ask libdevmapper. */
static int ensure_node(const char *name, const char *path)
{
	for (int i = 0; i < 2; i++) {
		if (access(path, F_OK) == 0)
			return 0;
		if (i == 0)
			dm_mknodes(name);
	}
	return -ENOENT;
}


int pv_check_req(struct prov *p)
{
	const struct vv_provision_req *req = p->req;
	struct vv_error *err = p->err;
	char why[PATH_MAX + 80];
	char *base;

	if (!req->device || !req->secret || !req->state_dir)
		return vv_fail(err, -EINVAL, VV_CAUSE_NONE,
			       "device, secret and state directory are required");
	base = vv_ref_unversioned(req->secret);
	if (!base)
		return vv_fail(err, -EINVAL, VV_CAUSE_NONE,
			       "cannot store a key at '%s': give keystore:NAME, NAME or "
			       "https://VAULT/secrets/NAME", req->secret);
	if (strcmp(base, req->secret)) {
		free(base);
		return vv_fail(err, -EINVAL, VV_CAUSE_NONE,
			       "give the secret without a version: provisioning stores a new one");
	}
	free(base);
	if (pv_check_token_refs(req->secret, req->kek, err) < 0)
		return -EINVAL;
	if (strcmp(p->fs, "ext4") && strcmp(p->fs, "xfs"))
		return vv_fail(err, -EINVAL, VV_CAUSE_NONE,
			       "filesystem must be ext4 or xfs, not '%s'", p->fs);
	if (req->label && !label_ok(p->fs, req->label))
		return vv_fail(err, -EINVAL, VV_CAUSE_NONE, "bad %s label '%s'", p->fs, req->label);
	/* The mount point goes into the token: the rule open holds tokens to. */
	if (req->mount && vv_mount_point_check(req->mount, VV_ORIGIN_TOKEN, why, sizeof(why)) < 0)
		return vv_fail(err, -EINVAL, VV_CAUSE_NONE, "--mount: %s", why);
	p->name = req->name ? strdup(req->name) : vv_ref_name(req->secret);
	if (!p->name)
		return -ENOMEM;
	if (!vv_volume_name_valid(p->name))
		return vv_fail(err, -EINVAL, VV_CAUSE_NONE,
			       "invalid volume name '%s' (1-64 of A-Z a-z 0-9 . _ + -)", p->name);
	return 0;
}

/*
 * Room for the LUKS2 header (16 MiB: metadata and keyslot areas, as
 * libcryptsetup lays them out by default) and the filesystem after it
 * (mkfs.xfs refuses less than 300 MiB; ext4 is useful from a few MiB).
 * Found out here, before the key is stored or a byte written, not as an
 * activation failure after the header was made.
 */
#define PV_HEADER_BYTES (16ULL << 20)
static int check_size(struct prov *p)
{
	const struct vv_provision_req *req = p->req;
	bool xfs = req->fs && !strcmp(req->fs, "xfs");
	uint64_t size, data = req->format_only ? 1ULL << 20 : xfs ? 300ULL << 20 : 8ULL << 20;
	int r = vv_device_size(req->device, &size);

	if (r < 0)
		return vv_fail(p->err, r, VV_CAUSE_NONE, "cannot size %s: %s", req->device,
			       strerror(-r));
	if (size >= PV_HEADER_BYTES + data)
		return 0;
	return vv_fail(p->err, -ENOSPC, VV_CAUSE_CONFIG,
		       "%s is %llu MiB: too small for the LUKS2 header (16 MiB) and %s "
		       "(%llu MiB at least); nothing was written: use a disk of %llu MiB or more",
		       req->device, (unsigned long long)(size >> 20),
		       req->format_only ? "a data area" : xfs ? "an xfs filesystem" :
		       "an ext4 filesystem", (unsigned long long)(data >> 20),
		       (unsigned long long)((PV_HEADER_BYTES + data) >> 20));
}

/* Step 1: look, do not touch. */
static int probe_device(struct prov *p)
{
	const struct vv_provision_req *req = p->req;
	char what[128];
	int r;

	r = vv_probe_content(req->device, what, sizeof(what));
	if (r < 0)
		return vv_fail(p->err, r, VV_CAUSE_NONE, "cannot probe %s: %s", req->device,
			       r == -EBUSY ? "it is in use (mounted or open)" : strerror(-r));
	p->had_data = r == 1;
	if (p->had_data && !req->force) {
		/*
		 * A LUKS header here may be one an interrupted provision left
		 * (killed after the header, before the volume was done): the
		 * fix is --force then, and never for a volume in use.
		 */
		if (!strncmp(what, "crypto_LUKS", 11))
			vv_error_remedy(p->err, "if an interrupted vaultvol provision left this header "
					"(no volume on it was ever used), run the same provision again "
					"with --force; if it is a volume, open it (vaultvol open) or take "
					"it over with vaultvol adopt instead");
		else
			vv_error_remedy(p->err, "if nothing on it is needed, run provision again with "
					"--force; to keep the data, vaultvol encrypt it instead");
		return vv_fail(p->err, -EEXIST, VV_CAUSE_NONE,
			       "%s holds %s; refusing to overwrite it, nothing was written",
			       req->device, what);
	}
	if (p->had_data)
		vv_warn("%s holds %s: overwriting it (--force)", req->device, what);
	r = vv_pick_sector_size(req->device, &p->res->sector_size);
	if (r < 0)
		return vv_fail(p->err, r, VV_CAUSE_NONE, "cannot size %s: %s", req->device,
			       strerror(-r));
	r = check_size(p);
	if (r < 0 || req->format_only)
		return r;
	/* Activation comes last: without device-mapper, write nothing at all. */
	{
		char why[256];

		if (vv_dm_available(why, sizeof(why)) < 0) {
			vv_error_remedy(p->err, "%s", VV_DM_REMEDY);
			return vv_fail(p->err, -ENODEV, VV_CAUSE_SYSTEM,
				       "%s: %s; nothing was written (--format-only writes the "
				       "header without activating it)", req->device, why);
		}
	}
	return 0;
}

/* Step 3/4: store key under base and prove the vault gives it back. */
static int store_verified(struct prov *p, const char *base, const struct vv_secret *key,
			  const char *kek, const char *file_name, char **ref, char **kek_id,
			  const char *what)
{
	char why[sizeof(p->err->message)];
	int r;

	r = pv_store_guarded(p->v, base, key, kek, p->req->alg, file_name,
			     p->req->require_purge_protection, &p->warned, ref, kek_id, p->err);
	if (r == 0) {
		vv_info("stored %s", *ref);
		/* Fetch exactly what the token will name: this version, this KEK version. */
		r = pv_verify_stored(p->v, *ref, kek_id ? *kek_id : NULL, key, p->err);
	}
	if (r < 0)
		vv_fail(p->err, r, VV_CAUSE_NONE, "storing %s at %s failed: %s", what, base,
			pv_why(p->err, r, why, sizeof(why)));
	return r;
}

/*
 * Steps 2-4: every key exists outside this process before any keyslot
 * uses it. The recovery passphrase opens the volume as the BEK does, so it
 * gets the same protection: wrapped by the same KEK when there is one.
 */
int pv_make_and_store_keys(struct prov *p)
{
	const struct vv_provision_req *req = p->req;
	int r;

	r = pv_random_bek(&p->bek);
	if (r == 0)
		r = vv_recovery_generate(&p->recovery);
	if (r < 0)
		return vv_fail(p->err, r, VV_CAUSE_NONE, "cannot generate keys: %s", strerror(-r));
	r = store_verified(p, req->secret, p->bek, req->kek, NULL, &p->ref, &p->kek_id, "the key");
	if (r < 0 || req->recovery != VV_RECOVERY_SECRET)
		return r;
	if (asprintf(&p->rbase, "%s%s", req->secret, VV_RECOVERY_SUFFIX) < 0) {
		p->rbase = NULL;
		return -ENOMEM;
	}
	return store_verified(p, p->rbase, p->recovery, p->kek_id, RECOVERY_FILE_NAME,
			      &p->res->recovery_ref, &p->rkek, "the recovery passphrase");
}

/* Steps 5-7: the first bytes written to the device. res->*_keyslot filled. */
static int format_luks2(struct prov *p)
{
	const struct vv_provision_req *req = p->req;
	struct vv_luks2 *l = NULL;
	int r;

	if (p->had_data) {
		r = pv_wipe_signatures(req->device);
		if (r < 0)
			return vv_fail(p->err, r, VV_CAUSE_NONE, "erasing old signatures failed: %s",
				       strerror(-r));
	}
	r = vv_luks2_init(req->device, &l);
	if (r < 0)
		return vv_fail(p->err, r, VV_CAUSE_NONE, "cannot open %s: %s", req->device,
			       strerror(-r));
	r = pv_format_keyslots(p, l);
	vv_luks2_free(l);
	return r;
}

int pv_format_keyslots(struct prov *p, struct vv_luks2 *l)
{
	const struct vv_provision_req *req = p->req;
	const struct vv_luks2_kdf kdf = {
		.iter_ms = req->recovery_iter_ms,
		.max_kb = req->recovery_max_kb,
		.iterations = req->recovery_iterations,
		.parallel = req->recovery_parallel,
	};
	int r;

	r = vv_luks2_format(l, p->res->sector_size, p->name);
	if (r < 0) {
		vv_fail(p->err, r, VV_CAUSE_NONE, "LUKS2 format failed: %s", strerror(-r));
		goto out;
	}
	r = vv_luks2_add_bek_keyslot(l, -1, NULL, p->bek);
	if (r < 0) {
		vv_fail(p->err, r, VV_CAUSE_NONE, "adding the BEK keyslot failed: %s", strerror(-r));
		goto out;
	}
	p->res->bek_keyslot = r;
	r = vv_luks2_add_recovery_keyslot(l, &kdf, p->recovery);
	if (r < 0) {
		vv_fail(p->err, r, VV_CAUSE_NONE, "adding the recovery keyslot failed: %s",
			strerror(-r));
		goto out;
	}
	p->res->recovery_keyslot = r;
	r = vv_luks2_check_written(l);
	if (r < 0)
		vv_fail(p->err, r, VV_CAUSE_NONE, "writing the LUKS2 header failed: %s",
			vv_token_write_why(r));
out:
	return r;
}

/* Steps 8-9: back up the first header worth restoring, then write the token. */
static int backup_and_write_token(struct prov *p)
{
	const struct vv_provision_req *req = p->req;
	struct vv_provision_result *res = p->res;
	int r;

	r = pv_backup(req->device, req->state_dir, res->backup, sizeof(res->backup), p->err);
	if (r < 0)
		return r;
	return pv_write_token(p, req->device);
}

int pv_write_token(struct prov *p, const char *header)
{
	const struct vv_provision_req *req = p->req;
	struct vv_provision_result *res = p->res;
	int r;

	res->token.keyslot = res->bek_keyslot;
	res->token.key = p->ref;
	res->token.kek = p->kek_id;
	p->ref = p->kek_id = NULL;
	if (res->token.kek && !(res->token.alg = strdup(req->alg ? req->alg : "RSA-OAEP")))
		return -ENOMEM;
	res->token.name = p->name;
	p->name = NULL;
	if ((req->mount && !(res->token.mount = strdup(req->mount))) ||
	    !(res->token.fs = strdup(p->fs)) ||
	    !(res->token.options = strdup(req->options ? req->options : "defaults")))
		return -ENOMEM;
	r = vv_token_write(header, &res->token);
	if (r < 0)
		return vv_fail(p->err, r, VV_CAUSE_NONE, "writing the token failed: %s",
			       vv_token_write_why(r));
	return 0;
}

/* Step 10 (on header: the device, or encrypt's header file): what open will do - the token's key, from the vault, opens its keyslot. */
int pv_check_token_opens(struct prov *p, const char *header)
{
	struct vv_token *t = &p->res->token;
	char why[sizeof(p->err->message)];
	int r, slot;

	vv_token_clear(t);
	r = vv_token_read(header, t);
	if (r == 0) {
		struct vv_bek *b = NULL;

		r = vv_bek_fetch(p->v, t->key, t->kek, &b, p->err);
		slot = r < 0 ? r : vv_luks2_check_keyslot(header, t->keyslot, b->key);
		vv_bek_free(b);
		r = slot < 0 ? slot : 0;
	}
	if (r < 0)
		return vv_fail(p->err, r, VV_CAUSE_NONE,
			       "the new volume does not open with its token: %s",
			       pv_why(p->err, r, why, sizeof(why)));
	return 0;
}

/* Step 11. On failure the mapping is removed again: no half-made volume stays open. */
static int make_fs_and_mount(struct prov *p)
{
	const struct vv_provision_req *req = p->req;
	struct vv_provision_result *res = p->res;
	const char *name = res->token.name;
	struct vv_error ebuf = { 0 };
	int r;

	snprintf(res->mapper_path, sizeof(res->mapper_path), "/dev/mapper/%s", name);
	r = vv_crypt_activate(req->device, name, p->bek, 0);
	if (r < 0)
		return vv_fail(p->err, r, VV_CAUSE_NONE, "activating %s failed: %s", name,
			       vv_crypt_strerror(r));
	r = ensure_node(name, res->mapper_path);
	if (r < 0) {
		vv_fail(p->err, r, VV_CAUSE_NONE, "%s did not appear", res->mapper_path);
		goto fail;
	}
	r = run_mkfs(p->fs, req->label, res->mapper_path, p->err);
	if (r < 0)
		goto fail;
	if (req->mount) {
		r = vv_mount_volume(res->mapper_path, req->mount, p->fs, req->options,
				    0, &ebuf);
		if (r < 0) {
			vv_fail(p->err, r, VV_CAUSE_NONE, "mounting on %s failed: %s", req->mount,
				ebuf.message);
			goto fail;
		}
	}
	return 0;
fail:
	vv_crypt_deactivate(name);
	res->mapper_path[0] = '\0';
	return r;
}

int vv_provision(struct vv_vault *v, const struct vv_provision_req *req,
		 struct vv_provision_result *res, struct vv_error *err)
{
	struct prov p = { .v = v, .req = req, .res = res, .err = err,
			  .fs = req->fs ? req->fs : "ext4" };
	int lock = -1, r;

	memset(res, 0, sizeof(*res));
	vv_provision_result_clear(res);
	vv_error_clear(err);
	r = pv_check_req(&p);
	if (r < 0)
		goto out;
	lock = pv_lock(req->state_dir, err);
	if (lock < 0) {
		r = lock;
		goto out;
	}
	r = probe_device(&p);
	/* The new header is backed up before its token is written: room first. */
	if (r == 0)
		r = pv_state_room(req->device, req->state_dir, VV_LUKS2_HEADER_BYTES, err);
	if (r == 0)
		r = pv_make_and_store_keys(&p);
	if (r == 0)
		r = format_luks2(&p);
	if (r < 0)
		goto out;
	if (req->recovery == VV_RECOVERY_PRINT) {
		res->recovery = p.recovery;	/* its keyslot exists: the caller must show it */
		p.recovery = NULL;
	}
	r = backup_and_write_token(&p);
	if (r == 0)
		r = pv_check_token_opens(&p, req->device);
	if (r == 0 && !req->format_only)
		r = make_fs_and_mount(&p);
out:
	pv_unlock(lock);
	vv_secret_free(p.bek);
	vv_secret_free(p.recovery);
	free(p.name);
	free(p.ref);
	free(p.kek_id);
	free(p.rbase);
	free(p.rkek);
	return r;
}
