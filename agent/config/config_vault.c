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
			  struct vv_vault_session *s, char *errbuf, size_t errlen)
{
	struct vv_vault_config vcfg;
	int r;

	memset(s, 0, sizeof(*s));
	r = vv_config_load(opt ? opt->config_path : NULL, &s->cfg, errbuf, errlen);
	if (r < 0)
		return r;
	r = vv_config_vault(s->cfg, opt, &vcfg);
	if (r < 0) {
		snprintf(errbuf, errlen, "vault configuration: %s", strerror(-r));
		return r;
	}
	if (keystore_dir)
		vcfg.keystore_dir = keystore_dir;
	r = vv_vault_new(&vcfg, &s->vault);
	if (r < 0)
		snprintf(errbuf, errlen, "cannot create the vault client: %s", strerror(-r));
	return r;
}

void vv_vault_session_close(struct vv_vault_session *s)
{
	vv_vault_free(s->vault);
	vv_config_free(s->cfg);
	memset(s, 0, sizeof(*s));
}
