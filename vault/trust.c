// SPDX-License-Identifier: GPL-2.0-or-later
/* Origins of vault URLs and the verification of a vault's 401 challenge. */
#include "vault/trust.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static bool host_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '.';
}

int vv_origin(const char *url, char *out, size_t outlen)
{
	const char *h, *e, *port = NULL;
	char host[256];
	size_t hl, n;
	long pn = 443;

	if (!url || strncasecmp(url, "https://", 8))
		return -EINVAL;
	h = url + 8;
	e = h + strcspn(h, "/?#");
	for (n = 0; h + n < e && host_char(h[n]); n++)
		;
	hl = n;
	if (h + n < e) {
		if (h[n] != ':')
			return -EINVAL;	/* '@', '[', '%', '\\' ...: not a plain host */
		port = h + n + 1;
		if (port == e || e - port > 5)
			return -EINVAL;
		pn = 0;
		for (const char *p = port; p < e; p++) {
			if (!isdigit((unsigned char)*p))
				return -EINVAL;
			pn = pn * 10 + (*p - '0');
		}
		if (pn < 1 || pn > 65535)
			return -EINVAL;
	}
	/* Labels: non-empty, no leading/trailing '-' or '.', at least one dot. */
	if (hl == 0 || hl >= sizeof(host) || h[0] == '.' || h[0] == '-' ||
	    h[hl - 1] == '.' || h[hl - 1] == '-' || !memchr(h, '.', hl) ||
	    memmem(h, hl, "..", 2))
		return -EINVAL;
	for (size_t i = 0; i < hl; i++)
		host[i] = (char)tolower((unsigned char)h[i]);
	host[hl] = '\0';
	/* An all-numeric last label is an IPv4 literal: vaults have names. */
	if (isdigit((unsigned char)host[hl - 1]) &&
	    strspn(strrchr(host, '.') + 1, "0123456789") == strlen(strrchr(host, '.') + 1))
		return -EINVAL;
	n = pn == 443 ? (size_t)snprintf(out, outlen, "https://%s", host) :
			(size_t)snprintf(out, outlen, "https://%s:%ld", host, pn);
	return n < outlen ? 0 : -ENAMETOOLONG;
}

int vv_origin_host(const char *origin, char *out, size_t outlen)
{
	const char *h, *e;

	if (strncmp(origin, "https://", 8))
		return -EINVAL;
	h = origin + 8;
	e = h + strcspn(h, ":/");
	if ((size_t)(e - h) >= outlen)
		return -ENAMETOOLONG;
	memcpy(out, h, (size_t)(e - h));
	out[e - h] = '\0';
	return 0;
}

bool vv_challenge_resource_ok(const char *resource, const char *request_origin)
{
	char ro[VV_ORIGIN_MAX], rhost[256], qhost[256], res[VV_ORIGIN_MAX];
	size_t n, rl, ql;

	if (!resource || !request_origin)
		return false;
	/* A scope is the resource with "/.default" appended. */
	n = strlen(resource);
	if (n >= sizeof(res))
		return false;
	memcpy(res, resource, n + 1);
	if (n > 9 && !strcmp(res + n - 9, "/.default"))
		res[n - 9] = '\0';
	if (vv_origin(res, ro, sizeof(ro)) < 0 ||
	    vv_origin_host(ro, rhost, sizeof(rhost)) < 0 ||
	    vv_origin_host(request_origin, qhost, sizeof(qhost)) < 0)
		return false;
	rl = strlen(rhost);
	ql = strlen(qhost);
	/* The request host ends with "." + resource host, as the SDKs check. */
	return ql > rl + 1 && qhost[ql - rl - 1] == '.' && !strcmp(qhost + ql - rl, rhost);
}
