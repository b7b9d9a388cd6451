/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * From command-line options (and the config file) to a vault client, for
 * every command that needs keys.
 */
#ifndef VV_VAULT_CONFIG_H
#define VV_VAULT_CONFIG_H

#include <stddef.h>

#include "agent/config/config.h"
#include "agent/options.h"
#include "vault/vault.h"

/*
 * Options only (--vault, --imds, --ca-file); everything else is left 0 so
 * vv_vault_new() applies its defaults. Strings point into opt.
 */
int vv_options_vault_config(const struct vv_options *opt, struct vv_vault_config *vcfg);

/* A vault client and the configuration its strings point into. */
struct vv_vault_session {
	struct vv_config *cfg;
	struct vv_vault *vault;
};

/*
 * Load opt->config_path (a missing default file is an empty config), apply
 * the command-line overrides and, when keystore_dir is not NULL, that
 * keystore directory; then create the client. On failure a message is in
 * err. Close with vv_vault_session_close() (also after a failure).
 */
int vv_vault_session_open(const struct vv_options *opt, const char *keystore_dir,
			  struct vv_vault_session *s, struct vv_error *err);
void vv_vault_session_close(struct vv_vault_session *s);

#endif
