// SPDX-License-Identifier: GPL-2.0-or-later
#include "base/secret.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

struct vv_secret *vv_secret_new(size_t cap)
{
	long page = sysconf(_SC_PAGESIZE);
	struct vv_secret *s;
	size_t map_len;
	void *p;

	if (page <= 0)
		page = 4096;
	/* One extra byte so callers can NUL-terminate text secrets. */
	map_len = (cap + 1 + (size_t)page - 1) / (size_t)page * (size_t)page;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	p = mmap(NULL, map_len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		free(s);
		return NULL;
	}
	/*
	 * A secret that cannot be locked could reach swap: refuse rather
	 * than silently weaken the guarantee.
	 */
	if (mlock(p, map_len) < 0) {
		munmap(p, map_len);
		free(s);
		return NULL;
	}
	(void)madvise(p, map_len, MADV_DONTDUMP);
	/*
	 * A forked child (scripts, mount helpers, the watchdog) never needs
	 * keys: it sees these pages zeroed, or, on kernels before 4.14, not
	 * at all.
	 */
	if (madvise(p, map_len, MADV_WIPEONFORK) < 0)
		(void)madvise(p, map_len, MADV_DONTFORK);
	s->data = p;
	s->cap = cap;
	s->map_len = map_len;
	return s;
}

struct vv_secret *vv_secret_from(const void *buf, size_t len)
{
	struct vv_secret *s = vv_secret_new(len);

	if (s && vv_secret_set(s, buf, len) < 0) {
		vv_secret_free(s);
		return NULL;
	}
	return s;
}

int vv_secret_set(struct vv_secret *s, const void *buf, size_t len)
{
	if (!s)
		return -EINVAL;
	if (len > s->cap)
		return -ENOSPC;
	OPENSSL_cleanse(s->data, s->map_len);
	if (len)
		memcpy(s->data, buf, len);
	s->len = len;
	return 0;
}

int vv_secret_append(struct vv_secret *s, const void *buf, size_t len)
{
	if (!s)
		return -EINVAL;
	if (len > s->cap - s->len)
		return -ENOSPC;
	if (len)
		memcpy(s->data + s->len, buf, len);
	s->len += len;
	return 0;
}

int vv_secret_equal(const struct vv_secret *a, const struct vv_secret *b)
{
	if (!a || !b || a->len != b->len)
		return 0;
	return CRYPTO_memcmp(a->data, b->data, a->len) == 0;
}

void vv_secret_free(struct vv_secret *s)
{
	if (!s)
		return;
	if (s->data) {
		OPENSSL_cleanse(s->data, s->map_len);
		munlock(s->data, s->map_len);
		munmap(s->data, s->map_len);
	}
	free(s);
}

int vv_secret_fingerprint(const struct vv_secret *s, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	static const char hex[] = "0123456789abcdef";

	if (!s)
		return -EINVAL;
	if (!EVP_Digest(s->data, s->len, md, &mdlen, EVP_sha256(), NULL) ||
	    mdlen != sizeof(md))
		return -EIO;
	for (unsigned int i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
	return 0;
}

int vv_process_harden(void)
{
	struct rlimit rl = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &rl) < 0)
		return -errno;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -errno;
	return 0;
}
