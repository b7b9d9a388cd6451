/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one error value of vaultvol: a cause the caller can act on (retry,
 * report, refuse), the HTTP status and service codes when there was an
 * answer, and a message that names what failed. vault/ fills it for key
 * sources; agent/ fills the same value for volumes, and the CLI line, the
 * --json error, the per-volume record, the handler substatus and the
 * snapshot report are views of it. Never holds key material.
 */
#ifndef VV_ERROR_H
#define VV_ERROR_H

#include <stdarg.h>
#include <stdbool.h>

/* Why a call failed, so a caller can act on it (retry, report, refuse). */
enum vv_cause {
	VV_CAUSE_NONE = 0,
	VV_CAUSE_NOT_FOUND,	/* 404 SecretNotFound/KeyNotFound, missing file */
	VV_CAUSE_DISABLED,	/* 403 SecretDisabled / key disabled (revoked) */
	VV_CAUSE_FORBIDDEN,	/* 403 RBAC/policy denial; inner code kept */
	VV_CAUSE_UNAUTHORIZED,	/* 401 even with a fresh token */
	VV_CAUSE_THROTTLED,	/* 429 after retries */
	VV_CAUSE_UNAVAILABLE,	/* connect failure, timeout, 5xx after retries */
	VV_CAUSE_BAD_RESPONSE,	/* unparseable or inconsistent answer */
	VV_CAUSE_NO_IDENTITY,	/* IMDS: no managed identity */
	VV_CAUSE_EXPIRED,	/* exp in the past / nbf in the future */
	VV_CAUSE_CRYPTO,	/* unwrap failed (wrong KEK, bad padding) */
	VV_CAUSE_CONFIG,	/* bad reference or configuration */
	VV_CAUSE_UNTRUSTED,	/* vault not named by trusted configuration, or
				 * its challenge failed verification */
	VV_CAUSE_SYSTEM,	/* this machine: I/O, memory, a device, a
				 * library call that failed */
};

#define VV_ERROR_MESSAGE_MAX 8192

struct vv_error {
	enum vv_cause cause;
	int http_status;	/* 0 when not HTTP */
	char code[64];		/* e.g. "Forbidden" */
	char inner[64];		/* e.g. "ForbiddenByRbac", "SecretDisabled" */
	/*
	 * Human readable, never key material. Large enough that what others
	 * said is kept whole: the vault's own message with the URL it was
	 * about, a mount helper's stderr (bounded at 4 KiB by mount.c).
	 */
	char message[VV_ERROR_MESSAGE_MAX];
	char remedy[512];	/* the fix that fits the cause; "" if none */
};

const char *vv_cause_str(enum vv_cause c);
/* A definite answer: never fail over to another vault on it. */
bool vv_cause_is_definite(enum vv_cause c);

/* Fill *err (NULL is fine) with a cause and a printf-style message. */
void vv_error_set(struct vv_error *err, enum vv_cause cause, int http_status,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Reset *err to "no error" (NULL is fine). */
void vv_error_clear(struct vv_error *err);

/*
 * The one way agent/ records a failure: fill *err (NULL is fine) with cause
 * and message, leave the remedy as it was, and return r (a negative errno),
 * so a failure is one line: `return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
 * "...");`. A cause of VV_CAUSE_NONE keeps the cause already recorded (for
 * adding context to a failure a callee reported), or records
 * VV_CAUSE_SYSTEM when there is none.
 */
int vv_fail(struct vv_error *err, int r, enum vv_cause cause,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The fix that fits this failure, shown after the message. */
void vv_error_remedy(struct vv_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
