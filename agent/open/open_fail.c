// SPDX-License-Identifier: GPL-2.0-or-later
/* The one setter of a volume's failure record (see vv_vol_fail in open.h). */
#include <stdarg.h>
#include <stdio.h>

#include "agent/open/open.h"

/* The cause a kind of failure has when no key source gave one. */
static enum vv_cause kind_cause(enum vv_fail f)
{
	switch (f) {
	case VV_FAIL_MISSING:
		return VV_CAUSE_NOT_FOUND;
	case VV_FAIL_WRONG_KEY:
		return VV_CAUSE_CRYPTO;
	case VV_FAIL_NO_KEY_REF:
	case VV_FAIL_AMBIGUOUS:
	case VV_FAIL_CONFLICT:
	case VV_FAIL_TOKEN:
		return VV_CAUSE_CONFIG;
	case VV_FAIL_UNTRUSTED:
	case VV_FAIL_REFUSED:
		return VV_CAUSE_UNTRUSTED;
	case VV_FAIL_NONE:
	case VV_FAIL_KEY_ACCESS:
	case VV_FAIL_HEADER:
	case VV_FAIL_UNSUPPORTED:
	case VV_FAIL_ACTIVATE:
	case VV_FAIL_QUIESCE:
	case VV_FAIL_MOUNT:
		break;
	}
	return VV_CAUSE_SYSTEM;
}

void vv_vol_fail(struct vv_vol *v, enum vv_fail f, enum vv_cause cause, const char *remedy,
		 const char *fmt, ...)
{
	va_list ap;

	v->fail = f;
	v->state = VV_VS_FAILED;
	vv_error_clear(&v->error);
	/* A key source's answer is kept as it was, "none" included. */
	v->error.cause = cause != VV_CAUSE_NONE || f == VV_FAIL_KEY_ACCESS ? cause : kind_cause(f);
	va_start(ap, fmt);
	vsnprintf(v->error.message, sizeof(v->error.message), fmt, ap);
	va_end(ap);
	vv_error_remedy(&v->error, "%s", remedy ? remedy : "");
}
