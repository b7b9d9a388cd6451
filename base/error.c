// SPDX-License-Identifier: GPL-2.0-or-later
/* Names for failure causes, and which of them are definite answers. */
#include <stdio.h>
#include <string.h>

#include "base/error.h"

const char *vv_cause_str(enum vv_cause c)
{
	switch (c) {
	case VV_CAUSE_NONE: return "none";
	case VV_CAUSE_NOT_FOUND: return "not-found";
	case VV_CAUSE_DISABLED: return "disabled";
	case VV_CAUSE_FORBIDDEN: return "forbidden";
	case VV_CAUSE_UNAUTHORIZED: return "unauthorized";
	case VV_CAUSE_THROTTLED: return "throttled";
	case VV_CAUSE_UNAVAILABLE: return "unavailable";
	case VV_CAUSE_BAD_RESPONSE: return "bad-response";
	case VV_CAUSE_NO_IDENTITY: return "no-identity";
	case VV_CAUSE_EXPIRED: return "expired";
	case VV_CAUSE_CRYPTO: return "crypto";
	case VV_CAUSE_CONFIG: return "config";
	case VV_CAUSE_UNTRUSTED: return "untrusted-vault";
	case VV_CAUSE_SYSTEM: return "system";
	}
	return "unknown";
}

/*
 * Definite: the vault (or our own configuration) gave an answer that another
 * copy of the same key material would repeat - a revoked or deleted key must
 * not be worked around by asking a secondary vault. Outages are not definite.
 */
bool vv_cause_is_definite(enum vv_cause c)
{
	switch (c) {
	case VV_CAUSE_NOT_FOUND:
	case VV_CAUSE_DISABLED:
	case VV_CAUSE_FORBIDDEN:
	case VV_CAUSE_UNAUTHORIZED:
	case VV_CAUSE_NO_IDENTITY:
	case VV_CAUSE_EXPIRED:
	case VV_CAUSE_CRYPTO:
	case VV_CAUSE_CONFIG:
	case VV_CAUSE_UNTRUSTED:
		return true;
	case VV_CAUSE_NONE:
	case VV_CAUSE_THROTTLED:
	case VV_CAUSE_UNAVAILABLE:
	case VV_CAUSE_BAD_RESPONSE:
	case VV_CAUSE_SYSTEM:
		return false;
	}
	return true;
}

void vv_error_clear(struct vv_error *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}

void vv_error_set(struct vv_error *err, enum vv_cause cause, int http_status,
		  const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	err->cause = cause;
	err->http_status = http_status;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

int vv_fail(struct vv_error *err, int r, enum vv_cause cause, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return r;
	if (cause != VV_CAUSE_NONE || err->cause == VV_CAUSE_NONE)
		err->cause = cause != VV_CAUSE_NONE ? cause : VV_CAUSE_SYSTEM;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return r;
}

void vv_error_remedy(struct vv_error *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->remedy, sizeof(err->remedy), fmt, ap);
	va_end(ap);
}
