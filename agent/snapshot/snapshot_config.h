/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the config file gives a snapshot, the same for `vaultvol snapshot`,
 * `vaultvol freeze` and the extension handler: the freeze deadline, the
 * scripts, the CA bundle and where the backup service's key references
 * come from.
 */
#ifndef VV_SNAPSHOT_CONFIG_H
#define VV_SNAPSHOT_CONFIG_H

#include <stddef.h>

#include "agent/config/config.h"
#include "agent/options.h"
#include "agent/snapshot/snapshot.h"

/* The freeze deadline the config asks for, else the default (60 s). */
int vv_snapshot_config_timeout(const struct vv_config *cfg);

/*
 * Fill what the caller left unset (timeout_s 0, plugin_config and
 * hooks_dir NULL) from cfg, and always: the CA bundle (--ca-file, else
 * the config's), the state directory, and key references through
 * vv_key_refs_token_then_config on cfg, which must outlive the run.
 */
void vv_snapshot_opts_from_config(struct vv_snapshot_opts *so, const struct vv_options *opt,
				  const struct vv_config *cfg);

/*
 * A vv_key_ref_fn (ctx: const struct vv_config *): the volume's own LUKS2
 * token first, then its [volume] section in the config file.
 */
int vv_key_refs_token_then_config(void *ctx, const char *mapper_name, const char *lower_dev,
				  char **key, char **kek, char **alg);

/*
 * Append n mount points or patterns to a growing exclude list (strings
 * not copied). 0 or -ENOMEM (the list is then unchanged).
 */
int vv_exclude_append(const char ***excl, size_t *nexcl, const char *const *add, size_t n);

#endif
