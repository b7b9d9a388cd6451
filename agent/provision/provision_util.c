// SPDX-License-Identifier: GPL-2.0-or-later
/* Key references, recovery passphrases and libcryptsetup helpers for provisioning. */
#include "agent/provision/provision.h"
#include "agent/provision/provision_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "base/log.h"

int pv_fail(int r, char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (msg && len) {
		va_start(ap, fmt);
		vsnprintf(msg, len, fmt, ap);
		va_end(ap);
	}
	return r;
}

const char *pv_why(const struct vv_error *err, int r)
{
	if (err && err->cause != VV_CAUSE_NONE && err->message[0])
		return err->message;
	return strerror(r < 0 ? -r : r);
}

static void pv_crypt_log(int level, const char *msg, void *usrptr)
{
	size_t n = strlen(msg);

	(void)usrptr;
	if (level == CRYPT_LOG_DEBUG || level == CRYPT_LOG_DEBUG_JSON)
		return;
	if (n && msg[n - 1] == '\n')
		n--;
	vv_debug("libcryptsetup: %.*s", (int)n, msg);
}

void pv_crypt_quiet(void)
{
	crypt_set_log_callback(NULL, pv_crypt_log, NULL);
}

int pv_load_luks2(const char *device, struct crypt_device **out)
{
	struct crypt_device *cd = NULL;
	int r;

	pv_crypt_quiet();
	r = crypt_init(&cd, device);
	if (r < 0)
		return r;
	r = crypt_load(cd, CRYPT_LUKS2, NULL);
	if (r < 0) {
		crypt_free(cd);
		return -EINVAL;
	}
	*out = cd;
	return 0;
}

int pv_set_bek_pbkdf(struct crypt_device *cd)
{
	/*
	 * No benchmark: the count is fixed. 1000 is libcryptsetup's floor for
	 * PBKDF2; the BEK is 256 random bits, which no iteration count could
	 * make stronger, and unlocking stays a few microseconds of CPU with no
	 * memory cost at boot.
	 */
	const struct crypt_pbkdf_type pbkdf = {
		.type = CRYPT_KDF_PBKDF2,
		.hash = "sha256",
		.iterations = VV_BEK_PBKDF2_ITERATIONS,
		.flags = CRYPT_PBKDF_NO_BENCHMARK,
	};

	return crypt_set_pbkdf_type(cd, &pbkdf);
}

void pv_prefer_slot(struct crypt_device *cd, int slot)
{
	int r = crypt_keyslot_set_priority(cd, slot, CRYPT_SLOT_PRIORITY_PREFER);

	if (r < 0)
		vv_warn("cannot prefer keyslot %d: %s", slot, strerror(-r));
}

bool pv_slot_is_bek(struct crypt_device *cd, int slot)
{
	struct crypt_pbkdf_type p;

	if (crypt_keyslot_get_pbkdf(cd, slot, &p) < 0 || !p.type)
		return false;
	return !strcmp(p.type, CRYPT_KDF_PBKDF2) &&
	       p.iterations == VV_BEK_PBKDF2_ITERATIONS;
}

int pv_check_slot(const char *device, int slot, const struct vv_secret *key)
{
	struct crypt_device *cd = NULL;
	int r;

	r = pv_load_luks2(device, &cd);
	if (r < 0)
		return r;
	/* No name: the key is only checked, nothing is activated. */
	r = crypt_activate_by_passphrase(cd, NULL, slot, (const char *)key->data,
					 key->len, 0);
	crypt_free(cd);
	if (r == -ENOENT)
		r = -EPERM;	/* slot inactive: this key does not open it */
	return r;
}

int pv_lock(const char *state_dir)
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
	r = vv_secret_equal(b->key, expect) ? 0 : -EIO;
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
