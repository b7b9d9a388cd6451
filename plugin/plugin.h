/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libcryptsetup-token-vaultvol.so: the `vaultvol` LUKS2 token resolved for
 * libcryptsetup, so `cryptsetup open --token-only --token-type vaultvol`
 * and systemd-cryptsetup unlock a vaultvol volume (docs/token-plugin.md).
 * token_abi.c holds the entry points libcryptsetup looks up (the only
 * symbols the shared object exports, plugin/token.map); the work is here,
 * on the code `vaultvol open` runs: the token parser of
 * agent/volume/luks2_token.c, the config file with its drop-ins and vault
 * allow-list (agent/config/), vv_bek_fetch (vault/vault.h), and open's
 * judgment of a key failure (vv_open_key_remedy/_transient). Vault hosts
 * come only from that trusted configuration, never from the disk's token.
 */
#ifndef VV_PLUGIN_H
#define VV_PLUGIN_H

#include <stddef.h>

#include "base/error.h"
#include "base/secret.h"

/*
 * validate: 0 when json is a vaultvol token `vaultvol open` would read
 * (vv_token_from_json), else -EINVAL with the reason logged.
 */
int vv_plugin_validate(const char *json);

/*
 * dump: the token as lines for `cryptsetup luksDump`: the key reference
 * and its version, the KEK reference (versioned), algorithm, name, mount,
 * a rotation in progress. References only, never a key. Each line goes to
 * line(text, ctx), without a newline.
 */
void vv_plugin_dump(const char *json, void (*line)(const char *text, void *ctx), void *ctx);

/*
 * open: the passphrase of the token's keyslot, exactly what `vaultvol open`
 * unlocks it with (vv_bek_fetch of the token's key and KEK), into *key
 * (locked memory). device names the volume in messages. config_path NULL
 * is /etc/vaultvol/vaultvol.conf and its conf.d (the plugin always passes
 * NULL; unit tests pass their own file). Returns 0 or what libcryptsetup
 * expects of a token handler (vv_plugin_errno); the cause and remedy are
 * logged (vv_log) naming the volume.
 */
int vv_plugin_open(const char *device, const char *json, const char *config_path,
		   struct vv_secret **key);

/*
 * The errno a token handler returns for a key that could not be had:
 *   -EAGAIN  the vault is unreachable or overloaded (vv_open_key_transient):
 *            libcryptsetup passes it on ("requires additional missing
 *            resource"); a later attempt may succeed;
 *   -EPERM   the key source answered that the key is wrong (the KEK does
 *            not unwrap it); libcryptsetup 2.6 turns a handler's -EPERM
 *            into -ENOENT, its own -EPERM is for a passphrase that opens
 *            no keyslot;
 *   -ENOMEM  out of memory (libcryptsetup stops trying other tokens);
 *   -ENOENT  everything else: no key at this reference, a vault no
 *            trusted configuration names, a malformed token, a bad
 *            configuration: the token is not usable here.
 * Callers fall back to a passphrase prompt on all but -ENOMEM.
 */
int vv_plugin_errno(const char *ref, int rc, enum vv_cause cause);

/*
 * The last failed open (plugin_memo.c): libcryptsetup asks a token twice in
 * a row when its keyslot is preferred; the second ask, for the same crypt
 * device, token and JSON within VV_PLUGIN_MEMO_MS of the first answer,
 * gets that answer (0 from get: nothing remembered). Successes are never
 * remembered (the key is not kept).
 */
#define VV_PLUGIN_MEMO_MS 2000
void vv_plugin_memo_put(const void *cd, int token, const char *json, int rc, long long now_ms);
int vv_plugin_memo_get(const void *cd, int token, const char *json, long long now_ms);

#endif
