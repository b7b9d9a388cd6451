// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The journal's view of an open: one entry per volume with its fields
 * (VAULTVOL_VOLUME, VAULTVOL_KEY_REF: the reference, never a key,
 * VAULTVOL_CAUSE, MESSAGE_ID), so `journalctl -u vaultvol-open
 * VAULTVOL_VOLUME=app` or `MESSAGE_ID=<volume failed>` finds it. Used
 * instead of the plain per-volume lines when the journal is our log.
 */
#include <stdio.h>

#include "agent/open/open.h"
#include "base/log.h"

/* What `open` says of a volume that opened (or whose key was verified). */
void vv_open_vol_describe(const struct vv_vol *v, bool check, char *buf, size_t len)
{
	const char *what;

	if (check)
		what = "key verified";
	else if (v->state == VV_VS_MOUNTED)
		what = v->changed ? "mounted on" : "already mounted on";
	else
		what = v->changed ? "opened as" : "already open as";
	snprintf(buf, len, "%s %s (%s %s%s%s%s%s)", what,
		 check ? "" : v->state == VV_VS_MOUNTED ? v->mounted_on : v->top,
		 vv_vol_type_str(v->type), v->device ? v->device : "?",
		 v->key_source ? ", key " : "", v->key_source ? v->key_source : "",
		 v->key_version ? " " : "", v->key_version ? v->key_version : "");
}

void vv_open_vol_log(const struct vv_vol *v, bool check)
{
	struct vv_log_fields f = { .volume = v->conf.name, .key_ref = v->conf.key };
	const char *name = v->conf.name;
	char line[1024];

	if (v->undescribed) {
		vv_log_with(VV_LOG_WARN, &f, "%s: undescribed %s volume on %s (uuid %s): not "
			    "opened; `vaultvol status` says how to describe it", name,
			    vv_vol_type_str(v->type), v->device ? v->device : "?",
			    v->uuid[0] ? v->uuid : "?");
		return;
	}
	if (v->warning[0])
		vv_log_with(VV_LOG_WARN, &f, "%s: %s", name, v->warning);
	if (v->fail) {
		f.cause = v->fail == VV_FAIL_KEY_ACCESS ? vv_cause_str(v->error.cause) :
			  vv_fail_str(v->fail);
		f.message_id = VV_MSGID_VOLUME_FAILED;
		vv_log_with(VV_LOG_ERR, &f, "%s: FAILED (%s%s%s): %s%s%s", name,
			    vv_fail_str(v->fail), v->fail == VV_FAIL_KEY_ACCESS ? ", " : "",
			    v->fail == VV_FAIL_KEY_ACCESS ? f.cause : "", v->error.message,
			    v->error.remedy[0] ? "; remedy: " : "", v->error.remedy);
		return;
	}
	if (v->reformat_skip || v->crypttab_left)
		return;	/* its warning said it all */
	vv_open_vol_describe(v, check, line, sizeof(line));
	if (!check)
		f.message_id = VV_MSGID_VOLUME_OPENED;
	vv_log_with(VV_LOG_INFO, &f, "%s: %s", name, line);
}
