/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A transport for the harnesses that drive the vault client and the
 * backup-service client through their public entry points: the harness is
 * linked with --wrap for vv_http_new/free/connections/do and
 * vv_retry_sleep_ms, so no socket is ever opened and every answer comes
 * from the fuzz input or from a canned default.
 *
 * A response is text: "STATUS\nName: value\n...\n\nbody". A first line of
 * "!connect", "!timeout", "!broken", "!tls", "!large" or "!other" is a
 * transport failure of that kind instead. Requests are sorted into classes
 * (below); each class has a queue of scripted responses, then a canned
 * default; with neither the request fails locally (-ENOTCONN), which ends
 * every retry loop.
 */
#ifndef VV_FAKE_HTTP_H
#define VV_FAKE_HTTP_H

#include <stddef.h>

enum fz_class {
	FZ_PROBE,	/* Key Vault request without a bearer token */
	FZ_KV,		/* Key Vault request with a bearer token */
	FZ_TOKEN,	/* IMDS or AAD token endpoint (".../oauth2/token") */
	FZ_SERVICE,	/* backup service (".../snapshots...") */
	FZ_NCLASS,
};

/* Forget every queue, default and counter (call at the start of an input). */
void fz_http_reset(void);
/* Queue one scripted response (text is not copied: keep it alive). */
void fz_http_push(enum fz_class c, const char *text, size_t len);
/* The answer once the queue is empty (NUL-terminated, static). NULL: none. */
void fz_http_default(enum fz_class c, const char *text);
/* Requests seen so far in this input. */
unsigned fz_http_count(void);

#endif
