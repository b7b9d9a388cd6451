// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The token plugin's open: the token's key, fetched and unwrapped exactly
 * as `vaultvol open` does (plugin/plugin.h), and the errno libcryptsetup
 * expects when it cannot be had.
 */
#include "plugin/plugin.h"

#include <errno.h>
#include <string.h>

#include "agent/config/config_vault.h"
#include "agent/open/open.h"
#include "agent/volume/luks2_token.h"
#include "base/log.h"

/*
 * What libcryptsetup and its callers do with each (libcryptsetup 2.6.1,
 * lib/luks2/luks2_token.c; systemd-cryptsetup): -ENOENT, -EPERM and
 * -EAGAIN let libcryptsetup try the next token, and with CRYPT_ANY_TOKEN
 * it reports the most telling of them (-EAGAIN over -EPERM over -ENOENT);
 * a handler's -EPERM (and -EINVAL) becomes -ENOENT, since -EPERM is
 * libcryptsetup's own word for "the token's passphrase opens no keyslot".
 * cryptsetup then says "requires additional missing resource" (-EAGAIN)
 * or "No usable token" (-ENOENT) under -v and, without --token-only, asks
 * for a passphrase; systemd-cryptsetup falls back to its passphrase prompt
 * on any token failure. Any other errno stops the token loop at once: only
 * running out of memory does that here.
 */
int vv_plugin_errno(const char *ref, int rc, enum vv_cause cause)
{
	if (rc == -ENOMEM)
		return -ENOMEM;
	if (vv_open_key_transient(ref, cause))
		return -EAGAIN;
	if (cause == VV_CAUSE_CRYPTO)
		return -EPERM;
	return -ENOENT;
}

int vv_plugin_open(const char *device, const char *json, const char *config_path,
		   struct vv_secret **key)
{
	struct vv_options opt = { .config_path = config_path };
	struct vv_vault_session vs = { 0 };
	struct vv_error err = { 0 };
	struct vv_bek *bek = NULL;
	struct vv_token t;
	char warning[512];
	const char *local;
	int r;

	*key = NULL;
	r = vv_token_from_json(json, &t);
	if (r < 0) {
		vv_err("%s: the vaultvol token is malformed; rewrite it with `vaultvol adopt --force`",
		       device);
		r = r == -ENOMEM ? r : -ENOENT;
		goto out;
	}
	local = vv_token_local_ref(&t);
	if (local) {
		vv_err("%s: the token of volume %s names the local file '%s' as a key; refused, "
		       "nothing was read: a disk's token may name a vault, the keystore or the BEK "
		       "VOLUME, not a local file", device, t.name, local);
		r = -ENOENT;
		goto out;
	}
	r = vv_vault_session_open(&opt, NULL, &vs, &err);
	if (r < 0) {
		vv_err("%s: volume %s not unlocked by its vaultvol token: %s", device, t.name,
		       err.message);
		r = r == -ENOMEM ? r : -ENOENT;
		goto out;
	}
	r = vv_bek_fetch(vs.vault, t.key, t.kek, &bek, &err);
	if (r < 0) {
		vv_err("%s: volume %s: no key access (%s) for %s: %s; %s", device, t.name,
		       vv_cause_str(err.cause), t.key, err.message[0] ? err.message : strerror(-r),
		       vv_open_key_remedy(t.key, &err));
		r = vv_plugin_errno(t.key, r, err.cause);
		goto out;
	}
	if (vv_open_key_dates_warning(bek, t.key, warning, sizeof(warning)))
		vv_warn("%s: %s", device, warning);
	vv_info("%s: volume %s: key %s from %s%s%s", device, t.name,
		bek->secret_id ? bek->secret_id : t.key, bek->source,
		bek->kek_id ? ", unwrapped with " : "", bek->kek_id ? bek->kek_id : "");
	*key = bek->key;
	bek->key = NULL;
	r = 0;
out:
	vv_bek_free(bek);
	vv_vault_session_close(&vs);
	vv_token_clear(&t);
	return r;
}
