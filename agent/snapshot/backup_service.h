/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Client side of the backup service protocol (docs/snapshot-protocol.md):
 *
 *   POST {base}/snapshots             pre-snapshot: what will be frozen,
 *                                     which volumes, their key references
 *   POST {base}/snapshots/{id}/take   sent while frozen; the answer ends
 *                                     the freeze
 *   PUT  {base}/snapshots/{id}/report the final report
 *
 * Plain http is accepted only for loopback hosts; anything else must be
 * https with certificate verification (a CA file may be given).
 */
#ifndef VV_BACKUP_SERVICE_H
#define VV_BACKUP_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/freeze/freeze_plan.h"
#include "agent/snapshot/snapshot.h"
#include "base/error.h"

#define VV_BSVC_PROTOCOL 1
/* Budget of the pre-snapshot request, retries included. */
#define VV_BSVC_PREPARE_TIMEOUT_MS 30000
#define VV_BSVC_REPORT_TIMEOUT_MS 10000
/* The do-snapshot answer must arrive this long before the deadline. */
#define VV_BSVC_TAKE_MARGIN_MS 200

struct vv_bsvc;

/* -EINVAL with err filled for an unusable URL (or http to a non-loopback host). */
int vv_bsvc_open(const char *base_url, const char *ca_file, struct vv_bsvc **out,
		 struct vv_error *err);
void vv_bsvc_close(struct vv_bsvc *s);

/* Is this URL's host a loopback address (127.0.0.0/8, ::1, localhost)? */
bool vv_url_is_loopback(const char *url);

/*
 * The pre-snapshot request. 0 with *id (malloc'd) and *timeout_ms capped
 * by the service's answer when it gives one; -errno with err otherwise
 * (-EACCES refused by the service, -EBUSY another snapshot in progress,
 * -EIO transport).
 */
int vv_bsvc_prepare(struct vv_bsvc *s, const char *body, char **id, long *timeout_ms,
		    struct vv_error *err);

/*
 * The do-snapshot request, waiting at most timeout_ms. 0 when the service
 * says "taken" (*answer: its JSON answer), -EIO/-ETIMEDOUT/-EREMOTEIO
 * with err filled otherwise; *http_status is the status (0 without a response).
 */
int vv_bsvc_take(struct vv_bsvc *s, const char *id, const char *body, long timeout_ms,
		 char **answer, int *http_status, struct vv_error *err);

/* The final report (best effort). */
int vv_bsvc_report(struct vv_bsvc *s, const char *id, const char *report_json,
		   struct vv_error *err);

/* --- request bodies (pure) -------------------------------------------- */

/* 32 hex digits from the kernel's RNG. */
int vv_request_id(char out[33]);

/*
 * The pre-snapshot body: every planned filesystem with its device stack
 * and, for encrypted layers, the key references key_refs gives (never key
 * material), plus what was skipped.
 */
int vv_bsvc_prepare_body(const char *request_id, const struct vv_freeze_plan *plan,
			 enum vv_consistency requested, long timeout_ms,
			 vv_key_ref_fn key_refs, void *ctx, char **out);

/* The do-snapshot body from the freezer's state. */
int vv_bsvc_take_body(const char *request_id, const struct vv_freezer *fz,
		      enum vv_consistency expected, long ms_left, char **out);

/* The default key_refs: the vaultvol LUKS2 token of lower_dev. */
int vv_key_refs_from_token(void *ctx, const char *mapper_name, const char *lower_dev,
			   char **key, char **kek, char **alg);

#endif
