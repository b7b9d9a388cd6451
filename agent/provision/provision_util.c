// SPDX-License-Identifier: GPL-2.0-or-later
/* Locking, new keys, recovery passphrases and token copies for provisioning. */
#include "agent/provision/provision.h"
#include "agent/provision/provision_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "agent/volume/header_backup.h"
#include "base/log.h"

const char *pv_why(const struct vv_error *err, int r, char *buf, size_t len)
{
	if (err && err->cause != VV_CAUSE_NONE && err->message[0])
		snprintf(buf, len, "%s", err->message);
	else
		snprintf(buf, len, "%s", strerror(r < 0 ? -r : r));
	return buf;
}

static int lock_file(const char *state_dir)
{
	char path[4096];
	int fd;

	if (!state_dir || !*state_dir)
		return -EINVAL;
	if (snprintf(path, sizeof(path), "%s/header-change.lock", state_dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	/* mkdir -p: missing components are created root-only */
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		close(fd);
		return e == EWOULDBLOCK ? -EBUSY : -e;
	}
	return fd;
}

/* The fix for a state directory vaultvol cannot write (lock, backup, header file). */
static void state_dir_remedy(struct vv_error *err, int r, const char *state_dir)
{
	if (r == -ENOSPC || r == -EDQUOT)
		vv_error_remedy(err, "free space in %s (old header backups can go once newer "
				"ones exist) or give --state-dir on a larger filesystem, then run "
				"the command again", state_dir);
	else if (r == -EROFS)
		vv_error_remedy(err, "%s is on a read-only filesystem: remount it read-write, "
				"or give --state-dir on a writable one", state_dir);
	else if (r == -EPERM || r == -EACCES)
		vv_error_remedy(err, "%s must be owned by root and private: chmod 0700 it (or "
				"give another --state-dir)", state_dir);
}

int pv_lock(const char *state_dir, struct vv_error *err)
{
	int fd = lock_file(state_dir);

	if (fd < 0) {
		state_dir_remedy(err, fd, state_dir ? state_dir : "");
		return vv_fail(err, fd, VV_CAUSE_NONE, "cannot lock %s: %s", state_dir ? state_dir : "",
			       fd == -EBUSY ? "another vaultvol command is changing a header" :
			       strerror(-fd));
	}
	return fd;
}

int pv_backup(const char *device, const char *state_dir, char *path_out, size_t len,
	      struct vv_error *err)
{
	int r = vv_header_backup(device, state_dir, path_out, len);

	if (r < 0) {
		state_dir_remedy(err, r, state_dir);
		return vv_fail(err, r, VV_CAUSE_NONE, "header backup failed: %s", strerror(-r));
	}
	return 0;
}

int pv_state_room(const char *device, const char *state_dir, uint64_t need,
		  struct vv_error *err)
{
	uint64_t avail;

	/* A missing directory is made later, and reported there. */
	if (vv_dir_room(state_dir, need, &avail) == 0)
		return 0;
	state_dir_remedy(err, -ENOSPC, state_dir);
	return vv_fail(err, -ENOSPC, VV_CAUSE_SYSTEM, "the state directory %s has %llu KiB "
		       "free; the header files of %s need %llu KiB there; nothing was written",
		       state_dir, (unsigned long long)(avail / 1024), device,
		       (unsigned long long)(need / 1024));
}

void pv_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

static int dup_or_null(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

int pv_check_token_refs(const char *secret, const char *kek, struct vv_error *err)
{
	struct vv_token probe = { .key = (char *)secret, .kek = (char *)kek };
	const char *bad = vv_token_local_ref(&probe);

	if (!bad)
		return 0;
	return vv_fail(err, -EINVAL, VV_CAUSE_NONE, "%s %s: a vaultvol token never names a local "
		       "file (vaultvol open and the token plugin refuse such tokens: a disk must "
		       "not choose which file root reads); use %s, or describe the volume in a "
		       "[volume] section of /etc/vaultvol/vaultvol.conf", bad == kek ? "--kek" :
		       "--secret", bad, bad == kek ? "keystore-kek:NAME (`vaultvol key new-kek "
		       "NAME`) or a vault key" : "the vault or the keystore (`vaultvol key put "
		       "NAME`)");
}

int pv_token_copy(struct vv_token *dst, const struct vv_token *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->token_id = src->token_id;
	dst->keyslot = src->keyslot;
	dst->retire_keyslot = src->retire_keyslot;
	if (dup_or_null(&dst->key, src->key) || dup_or_null(&dst->kek, src->kek) ||
	    dup_or_null(&dst->alg, src->alg) || dup_or_null(&dst->name, src->name) ||
	    dup_or_null(&dst->mount, src->mount) || dup_or_null(&dst->fs, src->fs) ||
	    dup_or_null(&dst->options, src->options) ||
	    dup_or_null(&dst->retire_key, src->retire_key) ||
	    dup_or_null(&dst->retire_kek, src->retire_kek) ||
	    dup_or_null(&dst->retire_alg, src->retire_alg)) {
		vv_token_clear(dst);
		return -ENOMEM;
	}
	return 0;
}

int pv_random_bek(struct vv_secret **out)
{
	struct vv_secret *s = vv_secret_new(VV_BEK_BYTES);

	*out = NULL;
	if (!s)
		return -ENOMEM;
	/* The private DRBG: OpenSSL keeps key generation apart from nonces. */
	if (RAND_priv_bytes(s->data, VV_BEK_BYTES) != 1) {
		vv_secret_free(s);
		return -EIO;
	}
	s->len = VV_BEK_BYTES;
	*out = s;
	return 0;
}

int pv_verify_stored(struct vv_vault *v, const char *ref, const char *kek,
		     const struct vv_secret *expect, struct vv_error *err)
{
	struct vv_bek *b = NULL;
	int r;

	r = vv_bek_fetch(v, ref, kek, &b, err);
	if (r < 0)
		return r;
	/* Its own cause: an outage while storing is not a vault that lies. */
	r = vv_secret_equal(b->key, expect) ? 0 :
		vv_fail(err, -EIO, VV_CAUSE_BAD_RESPONSE,
			"%s read back different bytes than were stored", ref);
	vv_bek_free(b);
	return r;
}

int vv_recovery_generate(struct vv_secret **out)
{
	/* 48 decimal digits (~159 bits) in groups of 6, like BitLocker's. */
	struct vv_secret *s = vv_secret_new(64);
	unsigned char b;
	int digits = 0;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	while (digits < 48) {
		if (RAND_priv_bytes(&b, 1) != 1) {
			vv_secret_free(s);
			return -EIO;
		}
		if (b >= 250)
			continue;	/* rejection keeps the digits uniform */
		if (digits && digits % 6 == 0)
			s->data[s->len++] = '-';
		s->data[s->len++] = (unsigned char)('0' + b % 10);
		digits++;
	}
	b = 0;
	*out = s;
	return 0;
}
