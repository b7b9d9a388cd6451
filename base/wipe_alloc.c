// SPDX-License-Identifier: GPL-2.0-or-later
/* Wiping allocators for libcurl and OpenSSL (see wipe_alloc.h). */
#include "base/wipe_alloc.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/*
 * VV_WIPE_ALLOC_OFF builds the same functions without the wipe: only the
 * test build of the free()-scanner links it (tests/suites/heap-wipe.sh),
 * to show that the scan finds secrets when nothing wipes them.
 */
#ifdef VV_WIPE_ALLOC_OFF
#define wipe(p, n) ((void)(p), (void)(n))
#else
#define wipe(p, n) explicit_bzero((p), (n))
#endif

bool vv_wipe_alloc_enabled(void)
{
#ifdef VV_WIPE_ALLOC_OFF
	return false;
#else
	return true;
#endif
}

void *vv_wipe_malloc(size_t n)
{
	return malloc(n);
}

void *vv_wipe_calloc(size_t nmemb, size_t size)
{
	return calloc(nmemb, size);
}

void vv_wipe_free(void *p)
{
	if (!p)
		return;
	wipe(p, malloc_usable_size(p));
	free(p);
}

void *vv_wipe_realloc(void *p, size_t n)
{
	size_t old;
	void *q;

	if (!p)
		return malloc(n);
	if (!n) {
		vv_wipe_free(p);
		return NULL;
	}
	old = malloc_usable_size(p);
	/* Shrinking or growing within the block: nothing is left behind. */
	if (n <= old)
		return p;
	/* Never realloc(): a block it moves is freed unwiped. */
	q = malloc(n);
	if (!q)
		return NULL;
	memcpy(q, p, old);
	vv_wipe_free(p);
	return q;
}

char *vv_wipe_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = malloc(n);

	if (p)
		memcpy(p, s, n);
	return p;
}

static void *ossl_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return vv_wipe_malloc(n);
}

static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return vv_wipe_realloc(p, n);
}

static void ossl_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	vv_wipe_free(p);
}

bool vv_wipe_alloc_openssl(void)
{
	CRYPTO_malloc_fn m = NULL;
	CRYPTO_realloc_fn r = NULL;
	CRYPTO_free_fn f = NULL;

	CRYPTO_get_mem_functions(&m, &r, &f);
	if (m == ossl_malloc && r == ossl_realloc && f == ossl_free)
		return true;
	return CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free) == 1;
}
