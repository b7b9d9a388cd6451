/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `vaultvol adopt DEVICE --rewrite [--yes]` (agent/cmd_adopt_rewrite.c). */
#ifndef VV_CMD_ADOPT_REWRITE_H
#define VV_CMD_ADOPT_REWRITE_H

#include <stdbool.h>

#include "agent/options.h"

/* Rewrite DEVICE's token to the vault a `moved` line names; the exit status. */
int vv_cmd_adopt_rewrite(const struct vv_options *opt, const char *device,
			 const char *keystore, bool yes);

#endif
