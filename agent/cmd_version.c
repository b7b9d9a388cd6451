// SPDX-License-Identifier: GPL-2.0-or-later
/* `vaultvol version`: the version, as text or JSON. */
#include <stdio.h>

#include "agent/command.h"
#include "agent/version.h"

static int run_version(const struct vv_options *opt, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (opt->json)
		printf("{\"version\":\"%s\"}\n", VV_VERSION);
	else
		printf("vaultvol %s\n", VV_VERSION);
	return VV_EXIT_OK;
}

VV_COMMAND(version,
	.name = "version",
	.summary = "print the version",
	.usage = "Usage: vaultvol [--json] version\n",
	.order = 100,
	.run = run_version);
