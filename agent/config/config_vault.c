// SPDX-License-Identifier: GPL-2.0-or-later
/* Building the vault client configuration from options and the config file. */
#include "agent/config/config_vault.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int vv_options_vault_config(const struct vv_options *opt, struct vv_vault_config *vcfg)
{
	return vv_config_vault(NULL, opt, vcfg);
}

int vv_vault_session_open(const struct vv_options *opt, const char *keystore_dir,
			  struct vv_vault_session *s, struct vv_error *err)
{
	struct vv_vault_config vcfg;
	int r;

	memset(s, 0, sizeof(*s));
	r = vv_config_load(opt ? opt->config_path : NULL, &s->cfg, err);
	if (r < 0)
		return r;
	r = vv_config_vault(s->cfg, opt, &vcfg);
	if (r < 0)
		return vv_fail(err, r, VV_CAUSE_SYSTEM, "vault configuration: %s", strerror(-r));
	if (keystore_dir)
		vcfg.keystore_dir = keystore_dir;
	r = vv_vault_new(&vcfg, &s->vault);
	if (r < 0)
		vv_fail(err, r, VV_CAUSE_SYSTEM,
			"cannot create the vault client: %s", strerror(-r));
	return r;
}

void vv_vault_session_close(struct vv_vault_session *s)
{
	vv_vault_free(s->vault);
	vv_config_free(s->cfg);
	memset(s, 0, sizeof(*s));
}
