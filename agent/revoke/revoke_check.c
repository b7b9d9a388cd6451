// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A volume's verdict at the vault: its secret read (the value wiped at
 * once: only the answer counts) and, when a remote KEK wraps it, the KEK's
 * attributes. The vault library already sorts its failures into definite
 * answers and outages (base/error.h); vv_rv_cause_revokes keeps that
 * judgement and only sets this machine's own failures apart.
 */
#include "agent/revoke/revoke.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "vault/vault.h"

/* What ADE and vaultvol tag a wrapped secret with (vault/bek.c reads the same). */
#define TAG_KEK_URL "DiskEncryptionKeyEncryptionKeyURL"

static void verdict(struct vv_rv_check *out, enum vv_rv_verdict v, const char *what,
		    const char *ref, const char *why)
{
	out->verdict = v;
	snprintf(out->cause, sizeof(out->cause), "%s %s: %s", what, ref, why);
}

static void from_error(struct vv_rv_check *out, const char *what, const char *ref,
		       const struct vv_error *err)
{
	char why[160];

	if (!err->http_status)
		snprintf(why, sizeof(why), "%s", vv_cause_str(err->cause));
	else
		snprintf(why, sizeof(why), "%s (HTTP %d%s%s)", vv_cause_str(err->cause),
			 err->http_status, err->inner[0] || err->code[0] ? " " : "",
			 err->inner[0] ? err->inner : err->code);
	verdict(out, vv_rv_cause_revokes(err->cause) ? VV_RV_REVOKED : VV_RV_OUTAGE, what, ref,
		why);
}

/* The attributes the vault answered with: disabled, expired, not yet valid. */
static bool attrs_revoke(struct vv_rv_check *out, const char *what, const char *ref,
			 bool enabled, int64_t nbf, int64_t exp)
{
	int64_t now = (int64_t)time(NULL);

	if (!enabled)
		verdict(out, VV_RV_REVOKED, what, ref, "disabled");
	else if (exp && exp <= now)
		verdict(out, VV_RV_REVOKED, what, ref, "expired");
	else if (nbf && nbf > now)
		verdict(out, VV_RV_REVOKED, what, ref, "not yet valid");
	else
		return false;
	return true;
}

void vv_rv_check_vault(struct vv_vault *vault, const struct vv_rv_target *t,
		       struct vv_rv_check *out)
{
	struct vv_secret_bundle *b = NULL;
	struct vv_key_info *ki = NULL;
	struct vv_error err = { 0 };
	const char *kek;

	memset(out, 0, sizeof(*out));
	if (vv_secret_get(vault, t->key_ref, &b, &err) < 0) {
		from_error(out, "secret", t->key_ref, &err);
		goto out;
	}
	/* The value is not needed to judge: wipe it now. */
	vv_secret_free(b->value);
	b->value = NULL;
	if (attrs_revoke(out, "secret", t->key_ref, b->enabled, b->nbf, b->exp))
		goto out;
	kek = t->kek_ref ? t->kek_ref : vv_bundle_tag(b, TAG_KEK_URL);
	if (!kek || vv_kek_ref_is_local(kek))
		goto out;
	if (vv_key_get(vault, kek, &ki, &err) < 0) {
		from_error(out, "KEK", kek, &err);
		goto out;
	}
	attrs_revoke(out, "KEK", kek, ki->enabled, ki->nbf, ki->exp);
out:
	vv_key_info_free(ki);
	vv_secret_bundle_free(b);
}
