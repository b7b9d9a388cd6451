// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Which open volumes the policy covers, from the open plan as the watch
 * reads it each pass (the disks, the config, volumes.json). Its own file,
 * out of cmd_watch.c, so that the rule "never the BEK VOLUME, a keystore
 * or a key file" is a unit test rather than a promise.
 */
#include "agent/revoke/revoke.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/open/open.h"
#include "base/log.h"

/*
 * Keys from Key Vault only (volumes.json's key_source, as the last open
 * fetched them): no vault decides about a BEK VOLUME, keystore or key file
 * key. LUKS only: libcryptsetup cannot suspend BitLocker, and a volume
 * that cannot resume by itself must never be suspended; such volumes are
 * named once, at the first pass. A volume whose [volume] section says
 * `revocation = no` stays a target, marked exempt: the pass never
 * suspends it, but resumes it if it was suspended before the opt-out
 * (vv_rv_target.exempt).
 */
int vv_rv_targets_pick(const struct vv_open_plan *plan, bool first, struct vv_rv_targets *tg)
{
	memset(tg, 0, sizeof(*tg));
	tg->t = calloc(plan->n ? plan->n : 1, sizeof(*tg->t));
	tg->crypt = calloc(plan->n ? plan->n : 1, sizeof(*tg->crypt));
	if (!tg->t || !tg->crypt) {
		vv_rv_targets_free(tg);
		return -ENOMEM;
	}
	for (size_t i = 0; i < plan->n; i++) {
		const struct vv_vol *v = &plan->v[i];
		struct vv_rv_target *t = &tg->t[tg->n];

		if (v->undescribed || (v->state != VV_VS_OPEN && v->state != VV_VS_MOUNTED))
			continue;
		if (!v->key_source || strcmp(v->key_source, "keyvault") || !v->conf.key)
			continue;
		if (v->type != VV_VOL_LUKS1 && v->type != VV_VOL_LUKS2) {
			if (first)
				vv_log_with(VV_LOG_WARN, &(struct vv_log_fields){ .volume = v->conf.name },
					    "%s: revocation not enforced: a %s volume cannot be "
					    "suspended and resumed (LUKS only)", v->conf.name,
					    vv_vol_type_str(v->type));
			continue;
		}
		if (v->conf.revocation == VV_TRI_NO && first)
			vv_log_with(VV_LOG_INFO, &(struct vv_log_fields){ .volume = v->conf.name },
				    "%s: revocation not enforced: revocation = no in %s",
				    v->conf.name, v->conf.where ? v->conf.where : "its [volume] section");
		if (v->quiesced)
			vv_open_crypt_name(v->conf.name, tg->crypt[tg->n], sizeof(tg->crypt[0]));
		else
			snprintf(tg->crypt[tg->n], sizeof(tg->crypt[0]), "%s",
				 strncmp(v->top, "/dev/mapper/", 12) ? v->conf.name : v->top + 12);
		*t = (struct vv_rv_target){
			.name = v->conf.name, .crypt_name = tg->crypt[tg->n],
			.header = v->conf.header, .mount = v->mounted_on,
			.key_ref = v->conf.key, .kek_ref = v->conf.kek,
			.exempt = v->conf.revocation == VV_TRI_NO,
		};
		tg->n++;
	}
	return 0;
}

void vv_rv_targets_free(struct vv_rv_targets *tg)
{
	free(tg->t);
	free(tg->crypt);
	memset(tg, 0, sizeof(*tg));
}
