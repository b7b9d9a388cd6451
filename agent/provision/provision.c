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
 *   3  store the BEK in the vault and read it back (compare)
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

/* mkfs binaries are looked up in fixed system directories, not $PATH. */
static int find_tool(const char *tool, char *path, size_t len)
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
static int run_mkfs(const char *fs, const char *label, const char *dev,
		    char *msg, size_t msglen)
{
	char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL };
	char tool[64], path[256];
	const char *argv[8];
	int argc = 0, st, fd;
	pid_t pid;

	snprintf(tool, sizeof(tool), "mkfs.%s", fs);
	if (find_tool(tool, path, sizeof(path)) < 0)
		return pv_fail(-ENOENT, msg, msglen, "%s not found", tool);
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
		return pv_fail(-errno, msg, msglen, "fork: %s", strerror(errno));
	if (pid == 0) {
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0 || dup2(fd, STDIN_FILENO) < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
			_exit(127);
		execve(path, (char *const *)argv, envp);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return pv_fail(-errno, msg, msglen, "waitpid: %s", strerror(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return pv_fail(-EIO, msg, msglen, "%s failed (status %d)", tool,
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

static int check_req(const struct vv_provision_req *req, const char *fs,
		     char **name, char *msg, size_t msglen)
{
	char why[PATH_MAX + 80];
	char *base;

	if (!req->device || !req->secret || !req->state_dir)
		return pv_fail(-EINVAL, msg, msglen, "device, secret and state directory are required");
	base = vv_ref_unversioned(req->secret);
	if (!base)
		return pv_fail(-EINVAL, msg, msglen,
			       "cannot store a key at '%s': give keystore:NAME, NAME or "
			       "https://VAULT/secrets/NAME", req->secret);
	if (strcmp(base, req->secret)) {
		free(base);
		return pv_fail(-EINVAL, msg, msglen,
			       "give the secret without a version: provisioning stores a new one");
	}
	free(base);
	if (strcmp(fs, "ext4") && strcmp(fs, "xfs"))
		return pv_fail(-EINVAL, msg, msglen, "filesystem must be ext4 or xfs, not '%s'", fs);
	if (req->label && !label_ok(fs, req->label))
		return pv_fail(-EINVAL, msg, msglen, "bad %s label '%s'", fs, req->label);
	/* The mount point goes into the token: the rule open holds tokens to. */
	if (req->mount && vv_mount_point_check(req->mount, VV_ORIGIN_TOKEN, why, sizeof(why)) < 0)
		return pv_fail(-EINVAL, msg, msglen, "--mount: %s", why);
	*name = req->name ? strdup(req->name) : vv_ref_name(req->secret);
	if (!*name)
		return -ENOMEM;
	if (!vv_volume_name_valid(*name))
		return pv_fail(-EINVAL, msg, msglen,
			       "invalid volume name '%s' (1-64 of A-Z a-z 0-9 . _ + -)", *name);
	return 0;
}

/* Step 3/4: store key under base and prove the vault gives it back. */
static int store_verified(struct vv_vault *v, const char *base, const struct vv_secret *key,
			  const char *kek, const char *alg, const char *file_name,
			  char **ref, char **kek_id, struct vv_error *err)
{
	int r;

	r = vv_bek_store(v, base, key, kek, alg, file_name, ref, kek_id, err);
	if (r < 0)
		return r;
	vv_info("stored %s", *ref);
	/* Fetch exactly what the token will name: this version, this KEK version. */
	return pv_verify_stored(v, *ref, kek_id ? *kek_id : NULL, key, err);
}

/* Steps 5-7 on an open handle. Returns 0, res->*_keyslot filled. */
static int format_luks2(const struct vv_provision_req *req, const char *name,
			const struct vv_secret *bek, const struct vv_secret *recovery,
			struct vv_provision_result *res, char *msg, size_t msglen)
{
	struct crypt_params_luks2 params = {
		.sector_size = res->sector_size,
		/* LUKS2 labels hold 47 bytes; longer names just go without. */
		.label = strlen(name) < 48 ? name : NULL,
		.subsystem = "vaultvol",
	};
	struct crypt_pbkdf_type argon;
	const struct crypt_pbkdf_type *def;
	struct crypt_device *cd = NULL;
	int r;

	pv_crypt_quiet();
	r = crypt_init(&cd, req->device);
	if (r < 0)
		return pv_fail(r, msg, msglen, "cannot open %s: %s", req->device, strerror(-r));
	/*
	 * The BEK's PBKDF is set before formatting: libcryptsetup then also
	 * derives the volume key digest at the fixed minimum instead of
	 * benchmarking for it (the digest covers a 512-bit random key, for
	 * which iterations add nothing either).
	 */
	r = pv_set_bek_pbkdf(cd);
	/* 512-bit volume key: AES-256 in XTS mode uses two 256-bit keys. */
	if (r >= 0)
		r = crypt_format(cd, CRYPT_LUKS2, "aes", "xts-plain64", NULL, NULL, 64, &params);
	if (r < 0) {
		pv_fail(r, msg, msglen, "LUKS2 format failed: %s", strerror(-r));
		goto out;
	}
	r = crypt_keyslot_add_by_volume_key(cd, CRYPT_ANY_SLOT, NULL, 0,
						     (const char *)bek->data, bek->len);
	if (r < 0) {
		pv_fail(r, msg, msglen, "adding the BEK keyslot failed: %s", strerror(-r));
		goto out;
	}
	res->bek_keyslot = r;
	pv_prefer_slot(cd, r);

	/* A passphrase a human types keeps argon2id at libcryptsetup's defaults. */
	def = crypt_get_pbkdf_default(CRYPT_LUKS2);
	argon = *def;
	argon.type = CRYPT_KDF_ARGON2ID;
	argon.flags &= ~CRYPT_PBKDF_NO_BENCHMARK;
	if (req->recovery_iter_ms)
		argon.time_ms = req->recovery_iter_ms;
	if (req->recovery_max_kb)
		argon.max_memory_kb = req->recovery_max_kb;
	if (req->recovery_parallel)
		argon.parallel_threads = req->recovery_parallel;
	if (req->recovery_iterations) {
		argon.iterations = req->recovery_iterations;
		argon.flags |= CRYPT_PBKDF_NO_BENCHMARK;
	}
	r = crypt_set_pbkdf_type(cd, &argon);
	if (r >= 0)
		r = crypt_keyslot_add_by_volume_key(cd, CRYPT_ANY_SLOT, NULL, 0,
						    (const char *)recovery->data,
						    recovery->len);
	if (r < 0) {
		pv_fail(r, msg, msglen, "adding the recovery keyslot failed: %s", strerror(-r));
		goto out;
	}
	res->recovery_keyslot = r;
	r = 0;
out:
	crypt_free(cd);
	return r;
}

/* Step 11. On failure the mapping is removed again: no half-made volume stays open. */
static int make_fs_and_mount(const struct vv_provision_req *req, const char *fs,
			     const char *name, const struct vv_secret *bek,
			     struct vv_provision_result *res, char *msg, size_t msglen)
{
	struct vv_error ebuf = { 0 };
	int r;

	snprintf(res->mapper_path, sizeof(res->mapper_path), "/dev/mapper/%s", name);
	r = vv_crypt_activate(req->device, name, bek, 0);
	if (r < 0)
		return pv_fail(r, msg, msglen, "activating %s failed: %s", name,
			       vv_crypt_strerror(r));
	r = ensure_node(name, res->mapper_path);
	if (r < 0) {
		pv_fail(r, msg, msglen, "%s did not appear", res->mapper_path);
		goto fail;
	}
	r = run_mkfs(fs, req->label, res->mapper_path, msg, msglen);
	if (r < 0)
		goto fail;
	if (req->mount) {
		r = vv_mount_volume(res->mapper_path, req->mount, fs, req->options,
				    0, &ebuf);
		if (r < 0) {
			pv_fail(r, msg, msglen, "mounting on %s failed: %s", req->mount, ebuf.message);
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
		 struct vv_provision_result *res, struct vv_error *err,
		 char *msg, size_t msglen)
{
	struct vv_secret *bek = NULL, *recovery = NULL;
	const char *fs = req->fs ? req->fs : "ext4";
	char *name = NULL, *ref = NULL, *kek_id = NULL, *rbase = NULL, *rkek = NULL;
	char what[128];
	bool had_data = false;
	int lock = -1, r, slot;

	memset(res, 0, sizeof(*res));
	vv_provision_result_clear(res);
	if (msg && msglen)
		msg[0] = '\0';
	r = check_req(req, fs, &name, msg, msglen);
	if (r < 0)
		goto out;
	lock = pv_lock(req->state_dir);
	if (lock < 0) {
		r = pv_fail(lock, msg, msglen, lock == -EBUSY ?
			    "another vaultvol command is changing a header" :
			    "cannot lock %s: %s", req->state_dir, strerror(-lock));
		goto out;
	}

	/* 1: look, do not touch. */
	r = vv_probe_content(req->device, what, sizeof(what));
	if (r < 0) {
		pv_fail(r, msg, msglen, "cannot probe %s: %s", req->device,
			r == -EBUSY ? "it is in use (mounted or open)" : strerror(-r));
		goto out;
	}
	had_data = r == 1;
	if (had_data && !req->force) {
		r = pv_fail(-EEXIST, msg, msglen,
			    "%s holds %s; refusing to overwrite it (--force to destroy it)",
			    req->device, what);
		goto out;
	}
	if (had_data)
		vv_warn("%s holds %s: overwriting it (--force)", req->device, what);
	r = vv_pick_sector_size(req->device, &res->sector_size);
	if (r < 0) {
		pv_fail(r, msg, msglen, "cannot size %s: %s", req->device, strerror(-r));
		goto out;
	}

	/* 2 */
	r = pv_random_bek(&bek);
	if (r == 0)
		r = vv_recovery_generate(&recovery);
	if (r < 0) {
		pv_fail(r, msg, msglen, "cannot generate keys: %s", strerror(-r));
		goto out;
	}

	/* 3 */
	r = store_verified(v, req->secret, bek, req->kek, req->alg, NULL, &ref, &kek_id, err);
	if (r < 0) {
		pv_fail(r, msg, msglen, "storing the key at %s failed: %s", req->secret,
			r == -EIO ? "the vault returned different bytes" : pv_why(err, r));
		goto out;
	}

	/*
	 * 4: the recovery passphrase opens the volume as the BEK does, so it
	 * gets the same protection: wrapped by the same KEK when there is one.
	 */
	if (req->recovery == VV_RECOVERY_SECRET) {
		if (asprintf(&rbase, "%s%s", req->secret, VV_RECOVERY_SUFFIX) < 0) {
			rbase = NULL;
			r = -ENOMEM;
			goto out;
		}
		r = store_verified(v, rbase, recovery, kek_id, req->alg,
				   RECOVERY_FILE_NAME, &res->recovery_ref, &rkek, err);
		if (r < 0) {
			pv_fail(r, msg, msglen, "storing the recovery passphrase at %s failed: %s",
				rbase, r == -EIO ? "the vault returned different bytes" :
				pv_why(err, r));
			goto out;
		}
	}

	/* 5-7: the first bytes written to the device. */
	if (had_data) {
		r = pv_wipe_signatures(req->device);
		if (r < 0) {
			pv_fail(r, msg, msglen, "erasing old signatures failed: %s", strerror(-r));
			goto out;
		}
	}
	r = format_luks2(req, name, bek, recovery, res, msg, msglen);
	if (r < 0)
		goto out;
	if (req->recovery == VV_RECOVERY_PRINT) {
		res->recovery = recovery;	/* its keyslot exists: the caller must show it */
		recovery = NULL;
	}

	/* 8 */
	r = vv_header_backup(req->device, req->state_dir, res->backup, sizeof(res->backup));
	if (r < 0) {
		pv_fail(r, msg, msglen, "header backup failed: %s", strerror(-r));
		goto out;
	}

	/* 9 */
	res->token.keyslot = res->bek_keyslot;
	res->token.key = ref;
	res->token.kek = kek_id;
	ref = kek_id = NULL;
	if (res->token.kek && !(res->token.alg = strdup(req->alg ? req->alg : "RSA-OAEP"))) {
		r = -ENOMEM;
		goto out;
	}
	res->token.name = name;
	name = NULL;
	if ((req->mount && !(res->token.mount = strdup(req->mount))) ||
	    !(res->token.fs = strdup(fs)) ||
	    !(res->token.options = strdup(req->options ? req->options : "defaults"))) {
		r = -ENOMEM;
		goto out;
	}
	r = vv_token_write(req->device, &res->token);
	if (r < 0) {
		pv_fail(r, msg, msglen, "writing the token failed: %s", strerror(-r));
		goto out;
	}

	/* 10: what open will do - the token's key, from the vault, opens its keyslot. */
	vv_token_clear(&res->token);
	r = vv_token_read(req->device, &res->token);
	if (r == 0) {
		struct vv_bek *b = NULL;

		r = vv_bek_fetch(v, res->token.key, res->token.kek, &b, err);
		slot = r < 0 ? r : pv_check_slot(req->device, res->token.keyslot, b->key);
		vv_bek_free(b);
		r = slot < 0 ? slot : 0;
	}
	if (r < 0) {
		pv_fail(r, msg, msglen, "the new volume does not open with its token: %s",
			pv_why(err, r));
		goto out;
	}

	/* 11 */
	if (!req->format_only)
		r = make_fs_and_mount(req, fs, res->token.name, bek, res, msg, msglen);
out:
	pv_unlock(lock);
	vv_secret_free(bek);
	vv_secret_free(recovery);
	free(name);
	free(ref);
	free(kek_id);
	free(rbase);
	free(rkek);
	return r;
}
