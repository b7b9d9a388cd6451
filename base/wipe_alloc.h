/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Allocators that wipe what they release, for libraries whose buffers see
 * key material we cannot reach: libcurl (request and response buffers,
 * headers with the bearer token) and OpenSSL (TLS records, which carry the
 * BEK and the token in clear before encryption / after decryption). The
 * size wiped is malloc_usable_size(), the whole block; a growing realloc
 * moves the data to a new block and wipes the old one.
 */
#ifndef VV_WIPE_ALLOC_H
#define VV_WIPE_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

void *vv_wipe_malloc(size_t n);
void *vv_wipe_calloc(size_t nmemb, size_t size);
void *vv_wipe_realloc(void *p, size_t n);
char *vv_wipe_strdup(const char *s);
void vv_wipe_free(void *p);

/*
 * Route OpenSSL's allocations through the wiping allocators. Must run
 * before anything else calls into OpenSSL (first thing in main): once
 * OpenSSL has allocated, it refuses and this returns false. Idempotent.
 */
bool vv_wipe_alloc_openssl(void);
/* True when this build wipes (a test-only build turns it off to show the test can fail). */
bool vv_wipe_alloc_enabled(void);

#endif
