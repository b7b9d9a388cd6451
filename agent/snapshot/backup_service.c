// SPDX-License-Identifier: GPL-2.0-or-later
/* Backup service client over vault/http (docs/snapshot-protocol.md). */
#include "agent/snapshot/backup_service.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/http.h"
#include "base/retry.h"

struct vv_bsvc {
	char *base;		/* without a trailing '/' */
	bool http_ok;		/* plain http: loopback only */
	struct vv_http *http;
};

bool vv_url_is_loopback(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL;
	bool lo = false;

	if (!u)
		return false;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host) {
		struct in_addr a4;
		char *h = host;
		size_t n = strlen(h);

		/* IPv6 literals come back in brackets. */
		if (h[0] == '[' && n > 2 && h[n - 1] == ']') {
			h[n - 1] = '\0';
			h++;
		}
		if (!strcasecmp(h, "localhost") || !strcmp(h, "::1"))
			lo = true;
		else if (inet_pton(AF_INET, h, &a4) == 1)
			lo = (ntohl(a4.s_addr) >> 24) == 127;
	}
	curl_free(host);
	curl_url_cleanup(u);
	return lo;
}

int vv_bsvc_open(const char *base_url, const char *ca_file, struct vv_bsvc **out,
		 struct vv_error *err)
{
	struct vv_bsvc *s;
	size_t n;
	int r;

	*out = NULL;
	if (!base_url || (strncmp(base_url, "http://", 7) && strncmp(base_url, "https://", 8)))
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "service URL must start with http:// or https://");
	if (!strncmp(base_url, "http://", 7) && !vv_url_is_loopback(base_url))
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "plain http is only allowed to a loopback address; use https");
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base = strdup(base_url);
	if (!s->base) {
		free(s);
		return -ENOMEM;
	}
	n = strlen(s->base);
	while (n > 0 && s->base[n - 1] == '/')
		s->base[--n] = '\0';
	s->http_ok = !strncmp(base_url, "http://", 7);
	r = vv_http_new(ca_file, &s->http);
	if (r) {
		vv_bsvc_close(s);
		return vv_fail(err, r, VV_CAUSE_SYSTEM, "HTTP client: %s", strerror(-r));
	}
	*out = s;
	return 0;
}

void vv_bsvc_close(struct vv_bsvc *s)
{
	if (!s)
		return;
	vv_http_free(s->http);
	free(s->base);
	free(s);
}

/*
 * An answer that is not the one wanted: fill err with its status and the
 * service's error message, if its body carries one, and return r.
 */
static int service_error(const struct vv_http_resp *resp, struct vv_error *err, int r,
			 enum vv_cause cause, const char *what)
{
	struct json_object *o = json_tokener_parse(vv_buf_str(&resp->body)), *e, *m;
	const char *msg = NULL;

	if (o && json_object_object_get_ex(o, "error", &e)) {
		if (json_object_is_type(e, json_type_string))
			msg = json_object_get_string(e);
		else if (json_object_object_get_ex(e, "message", &m))
			msg = json_object_get_string(m);
	}
	r = vv_fail(err, r, cause, "%s: HTTP %ld%s%s", what, resp->status, msg ? ": " : "",
		    msg ? msg : "");
	if (err)
		err->http_status = (int)resp->status;
	json_object_put(o);
	return r;
}

static int do_req(struct vv_bsvc *s, const char *method, const char *path, const char *body,
		  long timeout_ms, struct vv_http_resp *resp)
{
	static const char *const hdrs[] = { "Accept: application/json", NULL };
	char url[2048];
	struct vv_http_req req = {
		.method = method,
		.url = url,
		.headers = hdrs,
		.content_type = body ? "application/json" : NULL,
		.body = body,
		.body_len = body ? strlen(body) : 0,
		.timeout_ms = timeout_ms,
		.no_proxy = s->http_ok,
		.allow_http = s->http_ok,
	};

	if (snprintf(url, sizeof(url), "%s%s", s->base, path) >= (int)sizeof(url))
		return -ENAMETOOLONG;
	memset(resp, 0, sizeof(*resp));
	return vv_http_do(s->http, &req, resp);
}

int vv_bsvc_prepare(struct vv_bsvc *s, const char *body, char **id, long *timeout_ms,
		    struct vv_error *err)
{
	long long deadline = vv_retry_now_ms() + VV_BSVC_PREPARE_TIMEOUT_MS;
	struct json_object *o = NULL, *v;
	struct vv_http_resp resp;
	int attempt = 0, r;

	*id = NULL;
	for (;;) {
		long left = (long)(deadline - vv_retry_now_ms());
		long wait;

		r = do_req(s, "POST", "/snapshots", body, left > 0 ? left : 1, &resp);
		if (r == 0 && (resp.status == 200 || resp.status == 201))
			break;
		/* Same request_id on every attempt: the service deduplicates. */
		if (r == 0 && resp.status != 429 && resp.status != 503) {
			r = service_error(&resp, err, resp.status == 409 ? -EBUSY : -EACCES,
					  VV_CAUSE_FORBIDDEN, "pre-snapshot request refused");
			vv_http_resp_free(&resp);
			return r;
		}
		if (r && r != -EIO) {
			vv_fail(err, r, VV_CAUSE_SYSTEM, "pre-snapshot request: %s", strerror(-r));
			vv_http_resp_free(&resp);
			return r;
		}
		wait = vv_retry_after_ms(resp.retry_after, time(NULL));
		if (wait < 0)
			wait = 500L << (attempt < 4 ? attempt : 4);
		if (vv_retry_now_ms() + wait >= deadline) {
			if (r)
				vv_fail(err, -EIO, VV_CAUSE_UNAVAILABLE, "pre-snapshot request: %s",
					resp.errmsg);
			else
				service_error(&resp, err, -EIO, VV_CAUSE_UNAVAILABLE,
					      "pre-snapshot request");
			vv_http_resp_free(&resp);
			return -EIO;
		}
		vv_http_resp_free(&resp);
		vv_retry_sleep_ms(wait);
		attempt++;
	}
	o = json_tokener_parse(vv_buf_str(&resp.body));
	if (!o || !json_object_object_get_ex(o, "snapshot_id", &v) ||
	    !json_object_is_type(v, json_type_string) || !*json_object_get_string(v)) {
		r = vv_fail(err, -EPROTO, VV_CAUSE_BAD_RESPONSE,
			    "pre-snapshot answer has no snapshot_id");
		goto out;
	}
	*id = strdup(json_object_get_string(v));
	if (!*id) {
		r = -ENOMEM;
		goto out;
	}
	/* The service may ask for a shorter freeze, never a longer one. */
	if (json_object_object_get_ex(o, "timeout_ms", &v) && json_object_is_type(v, json_type_int)) {
		long t = (long)json_object_get_int64(v);

		if (t > 0 && t < *timeout_ms)
			*timeout_ms = t;
	}
	r = 0;
out:
	json_object_put(o);
	vv_http_resp_free(&resp);
	return r;
}

int vv_bsvc_take(struct vv_bsvc *s, const char *id, const char *body, long timeout_ms,
		 char **answer, int *http_status, struct vv_error *err)
{
	long long deadline = vv_retry_now_ms() + timeout_ms;
	struct json_object *o = NULL, *v;
	struct vv_http_resp resp;
	char path[512];
	int r;

	*answer = NULL;
	*http_status = 0;
	snprintf(path, sizeof(path), "/snapshots/%s/take", id);
	for (;;) {
		long left = (long)(deadline - vv_retry_now_ms());

		if (left <= 0)
			return vv_fail(err, -ETIMEDOUT, VV_CAUSE_UNAVAILABLE,
				       "no answer to do-snapshot before the deadline");
		r = do_req(s, "POST", path, body, left, &resp);
		/* Only a connection that never got through is retried: the
		 * request was not sent, so it cannot have been acted on twice. */
		if (r == -EIO && resp.fail == VV_HTTP_CONNECT) {
			vv_http_resp_free(&resp);
			vv_retry_sleep_ms(100);
			continue;
		}
		break;
	}
	if (r) {
		bool timeout = resp.fail == VV_HTTP_TIMEOUT;

		r = vv_fail(err, timeout ? -ETIMEDOUT : r, VV_CAUSE_UNAVAILABLE,
			    "do-snapshot request: %s",
			    timeout ? "no answer before the deadline" : resp.errmsg);
		vv_http_resp_free(&resp);
		return r;
	}
	*http_status = (int)resp.status;
	if (resp.status != 200) {
		r = service_error(&resp, err, -EREMOTEIO, VV_CAUSE_BAD_RESPONSE, "do-snapshot");
		vv_http_resp_free(&resp);
		return r;
	}
	o = json_tokener_parse(vv_buf_str(&resp.body));
	if (!o || !json_object_object_get_ex(o, "status", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		r = vv_fail(err, -EPROTO, VV_CAUSE_BAD_RESPONSE, "do-snapshot answer has no status");
		goto out;
	}
	*answer = strdup(vv_buf_str(&resp.body));
	if (strcmp(json_object_get_string(v), "taken") != 0) {
		struct json_object *e;
		/* "error": null has no string; %s of NULL is undefined. */
		const char *msg = json_object_object_get_ex(o, "error", &e) ?
				  json_object_get_string(e) : NULL;

		r = vv_fail(err, -EREMOTEIO, VV_CAUSE_BAD_RESPONSE, "service says the snapshot %s%s%s",
			    json_object_get_string(v), msg ? ": " : "", msg ? msg : "");
		goto out;
	}
	r = 0;
out:
	json_object_put(o);
	vv_http_resp_free(&resp);
	return r;
}

int vv_bsvc_report(struct vv_bsvc *s, const char *id, const char *report_json,
		   struct vv_error *err)
{
	struct vv_http_resp resp;
	char path[512];
	int r;

	snprintf(path, sizeof(path), "/snapshots/%s/report", id);
	r = do_req(s, "PUT", path, report_json, VV_BSVC_REPORT_TIMEOUT_MS, &resp);
	if (r)
		vv_fail(err, r, VV_CAUSE_UNAVAILABLE, "report: %s",
			resp.errmsg[0] ? resp.errmsg : strerror(-r));
	else if (resp.status < 200 || resp.status > 299)
		r = service_error(&resp, err, -EREMOTEIO, VV_CAUSE_BAD_RESPONSE, "report");
	vv_http_resp_free(&resp);
	return r;
}
