// SPDX-License-Identifier: GPL-2.0-or-later
/* The scripted transport of the harnesses (see fake_http.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tests/fuzz/fake_http.h"
#include "base/http.h"

#define FZ_QUEUE 16
#define FZ_MAX_REQUESTS 64	/* per input: a loop that never ends is a bug */

struct fz_queue {
	const char *text[FZ_QUEUE];
	size_t len[FZ_QUEUE];
	size_t n, next;
	const char *dflt;
};

static struct fz_queue queues[FZ_NCLASS];
static unsigned requests;
static int dummy_http;

void fz_http_reset(void)
{
	memset(queues, 0, sizeof(queues));
	requests = 0;
}

void fz_http_push(enum fz_class c, const char *text, size_t len)
{
	struct fz_queue *q = &queues[c];

	if (q->n < FZ_QUEUE) {
		q->text[q->n] = text;
		q->len[q->n] = len;
		q->n++;
	}
}

void fz_http_default(enum fz_class c, const char *text)
{
	queues[c].dflt = text;
}

unsigned fz_http_count(void)
{
	return requests;
}

static enum fz_class classify(const struct vv_http_req *req)
{
	if (strstr(req->url, "/oauth2/"))
		return FZ_TOKEN;
	if (strstr(req->url, "/snapshots"))
		return FZ_SERVICE;
	return req->bearer ? FZ_KV : FZ_PROBE;
}

/* "Name: value" into *dst (trimmed, last one wins), as http.c does. */
static void header(const char *line, size_t len, const char *name, char **dst)
{
	size_t nl = strlen(name);
	const char *v, *end = line + len;

	if (len <= nl || strncasecmp(line, name, nl) || line[nl] != ':')
		return;
	v = line + nl + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	free(*dst);
	*dst = strndup(v, (size_t)(end - v));
	if (!*dst)
		abort();
}

static const struct {
	const char *name;
	enum vv_http_fail fail;
} failures[] = {
	{ "!connect", VV_HTTP_CONNECT }, { "!timeout", VV_HTTP_TIMEOUT },
	{ "!broken", VV_HTTP_BROKEN }, { "!tls", VV_HTTP_TLS },
	{ "!large", VV_HTTP_TOO_LARGE }, { "!other", VV_HTTP_OTHER },
};

static int answer(const char *t, size_t len, struct vv_http_resp *resp)
{
	const char *end = t + len, *nl = memchr(t, '\n', len);
	const char *line_end = nl ? nl : end;
	char status[16];
	size_t sl = (size_t)(line_end - t);
	char *e;

	snprintf(status, sizeof(status), "%.*s", (int)(sl < 15 ? sl : 15), t);
	if (status[0] == '!') {
		for (size_t i = 0; i < sizeof(failures) / sizeof(failures[0]); i++)
			if (!strcmp(status, failures[i].name))
				resp->fail = failures[i].fail;
		if (resp->fail == VV_HTTP_OK)
			resp->fail = VV_HTTP_OTHER;
		snprintf(resp->errmsg, sizeof(resp->errmsg), "fake transport: %s", status + 1);
		return -EIO;
	}
	resp->status = strtol(status, &e, 10);
	if (resp->status < 100 || resp->status > 599)
		resp->status = 200;
	/* Headers up to the first empty line, then the body. */
	t = nl ? nl + 1 : end;
	while (t < end) {
		const char *le = memchr(t, '\n', (size_t)(end - t));
		size_t ll = le ? (size_t)(le - t) : (size_t)(end - t);

		if (ll == 0 || (ll == 1 && t[0] == '\r')) {
			t += ll + (le ? 1 : 0);
			break;
		}
		header(t, ll, "WWW-Authenticate", &resp->www_authenticate);
		header(t, ll, "Retry-After", &resp->retry_after);
		t += ll + (le ? 1 : 0);
	}
	if (t < end && vv_buf_append(&resp->body, t, (size_t)(end - t)) < 0)
		abort();
	return 0;
}

int __wrap_vv_http_do(struct vv_http *h, const struct vv_http_req *req,
		      struct vv_http_resp *resp);
int __wrap_vv_http_do(struct vv_http *h, const struct vv_http_req *req,
		      struct vv_http_resp *resp)
{
	struct fz_queue *q;

	(void)h;
	resp->status = 0;
	resp->fail = VV_HTTP_OK;
	resp->errmsg[0] = '\0';
	resp->new_connections = 0;
	if (++requests > FZ_MAX_REQUESTS)
		return -ENOTCONN;
	q = &queues[classify(req)];
	if (q->next < q->n) {
		q->next++;
		return answer(q->text[q->next - 1], q->len[q->next - 1], resp);
	}
	if (q->dflt)
		return answer(q->dflt, strlen(q->dflt), resp);
	return -ENOTCONN;
}

int __wrap_vv_http_new(const char *ca_file, struct vv_http **out);
int __wrap_vv_http_new(const char *ca_file, struct vv_http **out)
{
	(void)ca_file;
	*out = (struct vv_http *)&dummy_http;
	return 0;
}

void __wrap_vv_http_free(struct vv_http *h);
void __wrap_vv_http_free(struct vv_http *h)
{
	(void)h;
}

unsigned __wrap_vv_http_connections(const struct vv_http *h);
unsigned __wrap_vv_http_connections(const struct vv_http *h)
{
	(void)h;
	return 0;
}

void __wrap_vv_retry_sleep_ms(long ms);
void __wrap_vv_retry_sleep_ms(long ms)
{
	(void)ms;
}
