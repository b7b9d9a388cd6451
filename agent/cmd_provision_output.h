/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Output shared by `vaultvol provision`, `adopt` and `rotate`. */
#ifndef VV_PROVISION_CLI_H
#define VV_PROVISION_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "agent/config/config.h"
#include "agent/config/config_vault.h"
#include "agent/options.h"
#include "agent/provision/provision.h"
#include "agent/volume/luks2_token.h"

/* The token as a JSON object (no secrets in a token). */
struct json_object *pv_token_json(const struct vv_token *t);

/* One line describing the token, for text output. */
void pv_print_token(const char *prefix, const struct vv_token *t);

/* Parse a non-negative decimal that fits uint32_t. */
bool pv_parse_u32(const char *s, uint32_t *out);

/*
 * The recovery keyslot's options, shared by provision and encrypt, in this
 * order in each command's option enum (which is why c - OPT_RECOVERY is
 * passed): --recovery print|secret, --recovery-iter-time MS,
 * --recovery-memory KB, --recovery-iterations N, --recovery-parallel N.
 * 0, or VV_EXIT_USAGE after "vaultvol CMD: why".
 */
enum { PV_OPT_RECOVERY, PV_OPT_ITER_MS, PV_OPT_MEMORY, PV_OPT_ITERATIONS, PV_OPT_PARALLEL };
int pv_recovery_opt(int which, const char *arg, struct vv_provision_req *req, const char *cmd);

/*
 * After provision, adopt or rotate: make the vaults the token names (key
 * and KEK) trusted through a drop-in beside the config file, so this
 * machine - and a VM restored from its backup - may fetch from them. The
 * token on the disk is never what makes a vault trusted; this command,
 * run by root, is. 0, or -errno after printing why and what to do.
 */
int pv_trust_vaults(const struct vv_options *opt, const struct vv_config *cfg,
		    const struct vv_token *t);

/*
 * The one DEVICE operand left after getopt, when ok (the other required
 * options were given): 0 with *device set, or VV_EXIT_USAGE after
 * "vaultvol CMD: expected WHAT (see --help)".
 */
int pv_one_device(int argc, char **argv, bool ok, const char *cmd, const char *what,
		  const char **device);

/*
 * The vault session of provision, adopt and rotate: 0, or VV_EXIT_USAGE
 * after logging "CMD: why" (the session is then closed already).
 */
int pv_session_open(const struct vv_options *opt, const char *keystore, const char *cmd,
		    struct vv_vault_session *s);

/*
 * The end of provision, adopt and rotate, after the operation on device
 * returned r: when it failed, "CMD DEVICE: why" (err) is logged; when it
 * succeeded, the vaults t names become trusted (pv_trust_vaults). The
 * session is closed. The exit status.
 */
int pv_trust_and_close(const struct vv_options *opt, struct vv_vault_session *s,
		       const char *cmd, const char *device, const struct vv_error *err,
		       const struct vv_token *t, int r);

/*
 * Show the recovery passphrase of res once on stdout (JSON or text), with
 * the warning that fits where stdout goes (provision and encrypt).
 */
void pv_show_recovery(const struct vv_provision_result *res, bool json);

/* A new JSON object holding "device": the start of their --json output. */
struct json_object *pv_json_for(const char *device);

/* Print a JSON object on stdout, flushed, and release it. */
void pv_print_json(struct json_object *o);

/* --help's paragraph on the key guards of provision and rotate; BEFORE: what is not touched. */
#define PV_GUARDS_HELP(BEFORE) \
	"Guards against losing the key: a vault KEK must be RSA or RSA-HSM of 2048,\n" \
	"3072 or 4096 bits, enabled, with its activation date past and its expiry\n" \
	"ahead, else nothing is written. A vault secret or KEK whose vault has no\n" \
	"purge protection (recoveryLevel naming \"Purgeable\") gets a warning with\n" \
	"the command that turns it on (az keyvault update --name VAULT\n" \
	"--enable-purge-protection true); --require-purge-protection (or [vault]\n" \
	"require_purge_protection = yes in the config) makes it a refusal before\n" \
	BEFORE ". keystore: and file: references are not checked.\n"

#endif
