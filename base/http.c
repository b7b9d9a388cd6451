// SPDX-License-Identifier: GPL-2.0-or-later
/* libcurl wrapper: shared connection cache, TLS always verified, wiped bodies. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <json-c/printbuf.h>
#include <openssl/crypto.h>

#include "base/http.h"
#include "base/log.h"
#include "base/readfile.h"
#include "base/wipe_alloc.h"

/* A CA bundle (Debian's whole one is ~200 KiB). */
#define VV_CA_FILE_MAX (4 * 1024 * 1024)

/* Key Vault bundles are a few KB; anything far larger is not an answer. */
#define VV_HTTP_MAX_BODY (1024 * 1024)

/* ---- wiped growable buffer ---- */

static int buf_reserve(struct vv_buf *b, size_t extra)
{
	size_t len = b->s ? b->s->len : 0, cap = b->s ? b->s->cap : 0;
	struct vv_secret *n;
	size_t want;

	if (extra > VV_HTTP_MAX_BODY * 4 || len + extra < len)
		return -E2BIG;
	if (b->s && len + extra <= cap)
		return 0;
	want = cap ? cap * 2 : 4000;
	while (want < len + extra)
		want *= 2;
	/* Copy into a fresh locked area; the old one is wiped on free. */
	n = vv_secret_new(want);
	if (!n)
		return -ENOMEM;
	if (b->s) {
		memcpy(n->data, b->s->data, len);
		n->len = len;
		vv_secret_free(b->s);
	}
	b->s = n;
	return 0;
}

int vv_buf_append(struct vv_buf *b, const void *p, size_t n)
{
	int r = buf_reserve(b, n);

	if (r < 0)
		return r;
	if (n)
		memcpy(b->s->data + b->s->len, p, n);
	b->s->len += n;
	/* vv_secret maps at least cap + 1 bytes: room for the terminator. */
	b->s->data[b->s->len] = '\0';
	return 0;
}

int vv_buf_puts(struct vv_buf *b, const char *str)
{
	return vv_buf_append(b, str, strlen(str));
}

int vv_buf_printf(struct vv_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	r = buf_reserve(b, (size_t)n + 1);
	if (r < 0)
		return r;
	/* Format straight into locked memory: arguments may be secret. */
	va_start(ap, fmt);
	vsnprintf((char *)b->s->data + b->s->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->s->len += (size_t)n;
	return 0;
}

int vv_buf_json_str(struct vv_buf *b, const char *str, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	int r = vv_buf_append(b, "\"", 1);

	for (size_t i = 0; r == 0 && i < len; i++) {
		unsigned char c = (unsigned char)str[i];
		char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

		if (c == '"' || c == '\\') {
			char e2[2] = { '\\', (char)c };

			r = vv_buf_append(b, e2, 2);
		} else if (c < 0x20) {
			r = vv_buf_append(b, esc, 6);
		} else {
			r = vv_buf_append(b, &str[i], 1);
		}
	}
	if (r == 0)
		r = vv_buf_append(b, "\"", 1);
	return r;
}

int vv_buf_urlenc(struct vv_buf *b, const char *str, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	int r = buf_reserve(b, 1);

	for (size_t i = 0; r == 0 && i < len; i++) {
		unsigned char c = (unsigned char)str[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~') {
			r = vv_buf_append(b, &str[i], 1);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };

			r = vv_buf_append(b, e, 3);
		}
	}
	return r;
}

const char *vv_buf_str(const struct vv_buf *b)
{
	return b->s ? (const char *)b->s->data : "";
}

size_t vv_buf_len(const struct vv_buf *b)
{
	return b->s ? b->s->len : 0;
}

void vv_buf_free(struct vv_buf *b)
{
	vv_secret_free(b->s);
	b->s = NULL;
}

/* ---- client ---- */

struct vv_http {
	CURLSH *share;
	char *ca_file;
	struct curl_slist *resolve;	/* test-only loopback name pins */
	pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
	unsigned connections;	/* atomic */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
	/*
	 * Once per process: curl_global_init is not thread-safe. Its buffers
	 * hold the bearer token and the secrets' values: they are wiped on
	 * free. (OpenSSL's are routed by main, before any other call.)
	 */
	vv_wipe_alloc_openssl();
	curl_init_rc = curl_global_init_mem(CURL_GLOBAL_DEFAULT, vv_wipe_malloc, vv_wipe_free,
					    vv_wipe_realloc, vv_wipe_strdup, vv_wipe_calloc);
}

static void share_lock(CURL *c, curl_lock_data d, curl_lock_access a, void *u)
{
	struct vv_http *h = u;

	(void)c;
	(void)a;
	if ((int)d >= 0 && d < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&h->locks[d]);
}

static void share_unlock(CURL *c, curl_lock_data d, void *u)
{
	struct vv_http *h = u;

	(void)c;
	if ((int)d >= 0 && d < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&h->locks[d]);
}

/* 127.0.0.0/8 or ::1, the only addresses a test pin may name. */
static bool loopback_addr(const char *a, size_t n)
{
	char buf[64];
	struct in_addr v4;
	struct in6_addr v6;

	if (n >= 2 && a[0] == '[' && a[n - 1] == ']') {
		a++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, a, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, &v4) == 1)
		return (ntohl(v4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, buf, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

/*
 * VAULTVOL_TEST_RESOLVE="host:port:addr[,host:port:addr...]" pins vault
 * host names to loopback addresses (curl's CURLOPT_RESOLVE), so tests reach
 * the fakes under real vault names such as myvault.vault.azure.net with
 * every check of production in force: TLS verification, the allow-list
 * and the challenge verification all see the real name. Only loopback
 * targets are accepted; anything else is ignored with a warning.
 */
static int test_resolve(struct vv_http *h)
{
	const char *env = secure_getenv("VAULTVOL_TEST_RESOLVE");
	char *copy, *save = NULL;
	struct curl_slist *t;
	int r = 0;

	if (!env || !*env)
		return 0;
	copy = strdup(env);
	if (!copy)
		return -ENOMEM;
	for (char *e = strtok_r(copy, ", ", &save); e; e = strtok_r(NULL, ", ", &save)) {
		const char *c1 = strchr(e, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (!c2 || !loopback_addr(c2 + 1, strlen(c2 + 1))) {
			vv_warn("VAULTVOL_TEST_RESOLVE: ignoring '%s' (only host:port:loopback-address)", e);
			continue;
		}
		if (!(t = curl_slist_append(h->resolve, e))) {
			r = -ENOMEM;
			break;
		}
		h->resolve = t;
	}
	free(copy);
	return r;
}

int vv_http_new(const char *ca_file, struct vv_http **out)
{
	struct vv_http *h;
	int r = -ENOMEM;

	*out = NULL;
	/* libcurl opens it by name later: refuse a link, FIFO or device now. */
	if (ca_file) {
		struct vv_error e = { 0 };
		struct stat st;
		int fd = vv_file_open_checked(AT_FDCWD, ca_file, 0, VV_CA_FILE_MAX, &st, &e);

		if (fd < 0) {
			vv_err("CA file: %s", e.message);
			return fd;
		}
		close(fd);
	}
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK)
		return -EIO;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&h->locks[i], NULL);
	if (ca_file && !(h->ca_file = strdup(ca_file)))
		goto fail;
	if (test_resolve(h) < 0)
		goto fail;
	h->share = curl_share_init();
	if (!h->share)
		goto fail;
	/*
	 * Connections, TLS sessions and DNS answers are shared by every
	 * request of this client, from any thread: N volumes opened in
	 * parallel reuse one kept-alive connection per vault.
	 */
	if (curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock) ||
	    curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock) ||
	    curl_share_setopt(h->share, CURLSHOPT_USERDATA, h) ||
	    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) ||
	    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) ||
	    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS)) {
		r = -EIO;
		goto fail;
	}
	*out = h;
	return 0;
fail:
	vv_http_free(h);
	return r;
}

void vv_http_free(struct vv_http *h)
{
	if (!h)
		return;
	if (h->share)
		curl_share_cleanup(h->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&h->locks[i]);
	free(h->ca_file);
	curl_slist_free_all(h->resolve);
	free(h);
}

unsigned vv_http_connections(const struct vv_http *h)
{
	return __atomic_load_n(&h->connections, __ATOMIC_RELAXED);
}

struct xfer {
	struct vv_http_resp *resp;
	bool too_large;
};

static size_t on_body(char *p, size_t size, size_t n, void *u)
{
	struct xfer *x = u;
	size_t len = size * n;

	if (vv_buf_len(&x->resp->body) + len > VV_HTTP_MAX_BODY) {
		x->too_large = true;
		return 0;
	}
	if (vv_buf_append(&x->resp->body, p, len) < 0)
		return 0;
	return len;
}

/* Copy a header value (trimmed) if line is "name: value". */
static int grab_header(const char *line, size_t len, const char *name,
		       char **dst)
{
	size_t nl = strlen(name);
	const char *v, *end = line + len;

	if (len <= nl || strncasecmp(line, name, nl) || line[nl] != ':')
		return 0;
	v = line + nl + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' ||
			   end[-1] == ' ' || end[-1] == '\t'))
		end--;
	free(*dst);
	*dst = strndup(v, (size_t)(end - v));
	return *dst ? 1 : -ENOMEM;
}

static size_t on_header(char *p, size_t size, size_t n, void *u)
{
	struct xfer *x = u;
	size_t len = size * n;

	/* A new status line (after 100 Continue, say): forget older headers. */
	if (len > 5 && !strncmp(p, "HTTP/", 5)) {
		free(x->resp->www_authenticate);
		free(x->resp->retry_after);
		x->resp->www_authenticate = NULL;
		x->resp->retry_after = NULL;
		return len;
	}
	if (grab_header(p, len, "WWW-Authenticate", &x->resp->www_authenticate) < 0 ||
	    grab_header(p, len, "Retry-After", &x->resp->retry_after) < 0)
		return 0;
	return len;
}

static enum vv_http_fail classify(CURLcode rc, bool too_large)
{
	switch (rc) {
	case CURLE_OK:
		return VV_HTTP_OK;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return VV_HTTP_CONNECT;
	case CURLE_OPERATION_TIMEDOUT:
		return VV_HTTP_TIMEOUT;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:	/* peer closed during the handshake */
		return VV_HTTP_BROKEN;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		return VV_HTTP_TLS;
	case CURLE_WRITE_ERROR:
		return too_large ? VV_HTTP_TOO_LARGE : VV_HTTP_OTHER;
	default:
		return VV_HTTP_OTHER;
	}
}

const char *vv_http_fail_remedy(const struct vv_http_resp *resp)
{
	if (!resp || resp->fail != VV_HTTP_TLS)
		return NULL;
	/* Verification is never turned off: the remedy is to find who answered. */
	return "the server's TLS certificate was refused (a TLS-inspecting proxy, or the name "
	       "resolving to another host?): check what answers for that name from this VM; "
	       "a private CA that should be trusted goes in [vault] ca_file";
}

/* Wipe header strings (they may hold a bearer token) before freeing. */
static void slist_free_wiped(struct curl_slist *l)
{
	for (struct curl_slist *i = l; i; i = i->next)
		OPENSSL_cleanse(i->data, strlen(i->data));
	curl_slist_free_all(l);
}

int vv_http_do(struct vv_http *h, const struct vv_http_req *req,
	       struct vv_http_resp *resp)
{
	struct xfer x = { .resp = resp };
	struct curl_slist *hdrs = NULL, *t;
	struct vv_buf auth = { 0 };
	char errbuf[CURL_ERROR_SIZE] = "";
	long connects = 0;
	CURLcode rc;
	CURL *c;
	int r = -ENOMEM;

	memset(resp, 0, sizeof(*resp));
	c = curl_easy_init();
	if (!c)
		return -ENOMEM;
	/* Never wait for "100 Continue": bodies are small. */
	if (!(t = curl_slist_append(hdrs, "Expect:")))
		goto out;
	hdrs = t;
	for (const char *const *hp = req->headers; hp && *hp; hp++) {
		if (!(t = curl_slist_append(hdrs, *hp)))
			goto out;
		hdrs = t;
	}
	if (req->content_type) {
		char ct[128];

		snprintf(ct, sizeof(ct), "Content-Type: %s", req->content_type);
		if (!(t = curl_slist_append(hdrs, ct)))
			goto out;
		hdrs = t;
	}
	if (req->bearer) {
		if (vv_buf_printf(&auth, "Authorization: Bearer %s", req->bearer) < 0 ||
		    !(t = curl_slist_append(hdrs, vv_buf_str(&auth))))
			goto out;
		hdrs = t;
	}

	curl_easy_setopt(c, CURLOPT_SHARE, h->share);
	/*
	 * The shared cache keeps at most this many idle connections; libcurl's
	 * default (4 per easy handle) would close kept-alive connections as
	 * soon as more than 4 volumes are opened in parallel.
	 */
	curl_easy_setopt(c, CURLOPT_MAXCONNECTS, 64L);
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	if (h->resolve)
		curl_easy_setopt(c, CURLOPT_RESOLVE, h->resolve);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, req->allow_http ? "http,https" : "https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (h->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file);
	if (req->no_proxy)
		curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 10000L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "vaultvol/" VV_VERSION);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
	if (!strcmp(req->method, "GET")) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	} else {
		/* The body is passed by pointer: libcurl makes no copy of it. */
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)(req->body ? req->body_len : 0));
		if (strcmp(req->method, "POST"))
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	}

	rc = curl_easy_perform(c);
	if (curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK &&
	    connects > 0) {
		resp->new_connections = (unsigned)connects;
		__atomic_add_fetch(&h->connections, (unsigned)connects, __ATOMIC_RELAXED);
	}
	resp->fail = classify(rc, x.too_large);
	if (rc != CURLE_OK) {
		snprintf(resp->errmsg, sizeof(resp->errmsg), "%s",
			 errbuf[0] ? errbuf : curl_easy_strerror(rc));
		r = -EIO;
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	r = 0;
out:
	curl_easy_cleanup(c);
	slist_free_wiped(hdrs);
	vv_buf_free(&auth);
	return r;
}

void vv_http_resp_free(struct vv_http_resp *resp)
{
	vv_buf_free(&resp->body);
	free(resp->www_authenticate);
	free(resp->retry_after);
	resp->www_authenticate = NULL;
	resp->retry_after = NULL;
}

/* ---- JSON with wiping ---- */

struct json_object *vv_json_parse_wiped(const char *text, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o;

	if (len > INT32_MAX)
		return NULL;
	tok = json_tokener_new();
	if (!tok)
		return NULL;
	/* NULL for invalid or truncated text; only an object is an answer. */
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (o && !json_object_is_type(o, json_type_object)) {
		vv_json_put_wiped(o);
		o = NULL;
	}
	/* The tokener keeps the last string it assembled in its printbuf. */
	if (tok->pb && tok->pb->buf)
		OPENSSL_cleanse(tok->pb->buf, (size_t)tok->pb->size);
	json_tokener_free(tok);
	return o;
}

static void wipe_strings(struct json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_string:
		OPENSSL_cleanse((char *)json_object_get_string(o),
				(size_t)json_object_get_string_len(o));
		break;
	case json_type_object: {
		json_object_object_foreach(o, k, val) {
			(void)k;
			wipe_strings(val);
		}
		break;
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			wipe_strings(json_object_array_get_idx(o, i));
		break;
	default:
		break;
	}
}

void vv_json_put_wiped(struct json_object *o)
{
	if (!o)
		return;
	wipe_strings(o);
	json_object_put(o);
}
