/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Global options, parsed before the subcommand; read-only afterwards. */
#ifndef VV_OPTIONS_H
#define VV_OPTIONS_H

#include <stdbool.h>

#include "vault/vault.h"

struct vv_options {
	const char *config_path;	/* --config, default /etc/vaultvol/vaultvol.conf */
	const char *state_dir;		/* --state-dir, default /var/lib/vaultvol */
	bool json;			/* --json */
	int verbose;			/* -v (repeatable) */
	/* Overrides for the vault endpoints (tests, air-gapped setups). */
	const char *vault_url;		/* --vault */
	const char *imds_url;		/* --imds */
	const char *ca_file;		/* --ca-file */
};

#define VV_DEFAULT_CONFIG "/etc/vaultvol/vaultvol.conf"
#define VV_DEFAULT_STATE_DIR "/var/lib/vaultvol"

#endif
