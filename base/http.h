/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A thin libcurl wrapper for the vault client: one connection cache shared
 * by every request of a client (keep-alive across threads), TLS
 * verification always on (an extra CA file may be given), a per-request
 * timeout, and response bodies kept in locked memory that is wiped on free
 * because they may carry secret values.
 */
#ifndef VV_HTTP_H
#define VV_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "base/secret.h"

/* A growable byte buffer in locked, wiped memory (struct vv_secret). */
struct vv_buf {
	struct vv_secret *s;	/* NULL until the first append */
};

int vv_buf_append(struct vv_buf *b, const void *p, size_t n);
int vv_buf_puts(struct vv_buf *b, const char *str);
int vv_buf_printf(struct vv_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Append str as a JSON string literal (quotes and escapes included). */
int vv_buf_json_str(struct vv_buf *b, const char *str, size_t len);
/* Append str percent-encoded for a URL query or form body. */
int vv_buf_urlenc(struct vv_buf *b, const char *str, size_t len);
/* NUL-terminated contents ("" when empty); valid until the next append. */
const char *vv_buf_str(const struct vv_buf *b);
size_t vv_buf_len(const struct vv_buf *b);
void vv_buf_free(struct vv_buf *b);

struct vv_http;

/* ca_file may be NULL (system trust store only). */
int vv_http_new(const char *ca_file, struct vv_http **out);
void vv_http_free(struct vv_http *h);
/* New TCP connections opened by all requests of this client so far. */
unsigned vv_http_connections(const struct vv_http *h);

struct vv_http_req {
	const char *method;		/* "GET", "PUT", "POST" */
	const char *url;
	const char *bearer;		/* token for Authorization, or NULL */
	const char *const *headers;	/* NULL-terminated "Name: value" list */
	const char *content_type;	/* for a body; NULL: none */
	const void *body;		/* may be key material; not copied */
	size_t body_len;
	long timeout_ms;		/* whole request, incl. connect */
	bool no_proxy;			/* IMDS: never through a proxy */
	bool allow_http;		/* plain http allowed (IMDS only) */
};

enum vv_http_fail {
	VV_HTTP_OK = 0,			/* a response arrived (any status) */
	VV_HTTP_CONNECT,		/* could not connect / resolve */
	VV_HTTP_TIMEOUT,		/* request timed out */
	VV_HTTP_BROKEN,			/* connection closed or reset mid-way */
	VV_HTTP_TLS,			/* TLS handshake / verification failed */
	VV_HTTP_TOO_LARGE,		/* response body over the size limit */
	VV_HTTP_OTHER,			/* any other local failure */
};

struct vv_http_resp {
	long status;			/* 0 when no response */
	enum vv_http_fail fail;
	char errmsg[256];		/* transport error text */
	struct vv_buf body;
	char *www_authenticate;		/* last WWW-Authenticate header or NULL */
	char *retry_after;		/* Retry-After header or NULL */
	unsigned new_connections;	/* opened for this request */
};

/*
 * The fix that fits a transport failure, when one does better than "check
 * the network": a TLS verification failure (the certificate is not the
 * service's, or not from a trusted CA). NULL for the others.
 */
const char *vv_http_fail_remedy(const struct vv_http_resp *resp);

/*
 * Perform one request. Returns 0 when a response arrived (whatever its
 * status), -EIO on a transport failure (resp->fail and resp->errmsg say
 * which), another negative errno on local errors. Free resp with
 * vv_http_resp_free() in every case.
 */
int vv_http_do(struct vv_http *h, const struct vv_http_req *req,
	       struct vv_http_resp *resp);
void vv_http_resp_free(struct vv_http_resp *resp);

/*
 * JSON answers may carry secret values: parse them with the parser's scratch
 * copy wiped afterwards, and release them with every string wiped first.
 * vv_json_parse_wiped returns NULL when the text is not one JSON object.
 */
struct json_object;
struct json_object *vv_json_parse_wiped(const char *text, size_t len);
void vv_json_put_wiped(struct json_object *o);

#endif
