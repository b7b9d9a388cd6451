/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Key material lives only in a struct vv_secret: its pages are locked
 * (never swapped), excluded from core dumps, and wiped before they are
 * released. Every BEK, KEK private part, passphrase and unwrapped key in
 * vaultvol passes through this type and nothing else.
 */
#ifndef VV_SECRET_H
#define VV_SECRET_H

#include <stddef.h>

struct vv_secret {
	unsigned char *data;	/* locked, MADV_DONTDUMP pages */
	size_t len;		/* bytes in use */
	size_t cap;		/* usable capacity */
	size_t map_len;		/* length of the mapping (page multiple) */
};

/* Allocate a secret able to hold cap bytes (len starts at 0). NULL on error. */
struct vv_secret *vv_secret_new(size_t cap);
/* New secret holding a copy of buf[0..len). NULL on error. */
struct vv_secret *vv_secret_from(const void *buf, size_t len);
/* Replace the contents; -ENOSPC when len exceeds the capacity. */
int vv_secret_set(struct vv_secret *s, const void *buf, size_t len);
/* Append bytes; -ENOSPC when they do not fit. */
int vv_secret_append(struct vv_secret *s, const void *buf, size_t len);
/* Constant-time comparison of two secrets' contents; 1 when equal. */
int vv_secret_equal(const struct vv_secret *a, const struct vv_secret *b);
/* Wipe and release; NULL is fine. */
void vv_secret_free(struct vv_secret *s);
/* Hex SHA-256 fingerprint (65 bytes incl. NUL) of the contents, for display. */
int vv_secret_fingerprint(const struct vv_secret *s, char out[65]);

/*
 * Make the process safe to hold keys: no core dumps (RLIMIT_CORE 0), not
 * dumpable/ptrace-attachable by others (PR_SET_DUMPABLE 0). Idempotent.
 */
int vv_process_harden(void);

static inline void vv_secret_freep(struct vv_secret **s)
{
	vv_secret_free(*s);
	*s = NULL;
}
#define _vv_cleanup_secret_ __attribute__((cleanup(vv_secret_freep)))

#endif
