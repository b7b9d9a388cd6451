// SPDX-License-Identifier: GPL-2.0-or-later
/* Snapshot options from the config file (snapshot_config.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/snapshot/backup_service.h"
#include "agent/snapshot/snapshot_config.h"

int vv_snapshot_config_timeout(const struct vv_config *cfg)
{
	return cfg->snapshot.timeout_s > 0 ? cfg->snapshot.timeout_s
					   : VV_SNAPSHOT_DEFAULT_TIMEOUT_S;
}

void vv_snapshot_opts_from_config(struct vv_snapshot_opts *so, const struct vv_options *opt,
				  const struct vv_config *cfg)
{
	if (!so->timeout_s)
		so->timeout_s = vv_snapshot_config_timeout(cfg);
	/* Not named in the config: Azure's standard location, if the file exists. */
	if (!so->plugin_config)
		so->plugin_config = cfg->snapshot.scripts_config ? cfg->snapshot.scripts_config
								 : VV_PLUGIN_CONFIG_DEFAULT;
	if (!so->hooks_dir)
		so->hooks_dir = cfg->snapshot.hooks_dir;
	so->ca_file = opt->ca_file ? opt->ca_file : cfg->vault.ca_file;
	so->state_dir = opt->state_dir;
	so->key_refs = vv_key_refs_token_then_config;
	so->key_refs_ctx = (void *)cfg;
}

int vv_key_refs_token_then_config(void *ctx, const char *mapper_name, const char *lower_dev,
				  char **key, char **kek, char **alg)
{
	const struct vv_config *cfg = ctx;
	const struct vv_volume_conf *v;

	if (vv_key_refs_from_token(NULL, mapper_name, lower_dev, key, kek, alg) == 0)
		return 0;
	v = cfg && mapper_name ? vv_config_volume(cfg, mapper_name) : NULL;
	if (!v || !v->key)
		return -ENOENT;
	*key = strdup(v->key);
	*kek = v->kek ? strdup(v->kek) : NULL;
	*alg = v->alg ? strdup(v->alg) : NULL;
	/* All or nothing: a reference without its KEK would mislead the service. */
	if (!*key || (v->kek && !*kek) || (v->alg && !*alg)) {
		free(*key);
		free(*kek);
		free(*alg);
		*key = *kek = *alg = NULL;
		return -ENOMEM;
	}
	return 0;
}

int vv_exclude_append(const char ***excl, size_t *nexcl, const char *const *add, size_t n)
{
	const char **nx;

	if (!n)
		return 0;
	nx = realloc(*excl, (*nexcl + n) * sizeof(*nx));
	if (!nx)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		nx[*nexcl + i] = add[i];
	*excl = nx;
	*nexcl += n;
	return 0;
}
