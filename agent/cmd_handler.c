// SPDX-License-Identifier: GPL-2.0-or-later
/* `vaultvol handler install|enable|disable|uninstall|update`: see handler.c. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/command.h"
#include "agent/handler/handler.h"

static const char handler_usage[] =
	"Usage: vaultvol [OPTIONS] handler install|enable|disable|uninstall|update\n"
	"                [--handler-dir DIR] [--waagent-dir DIR]\n"
	"\n"
	"The VM extension handler commands that waagent runs (HandlerManifest.json).\n"
	"\n"
	"  install     check the environment, create the status folder\n"
	"  enable      act on the newest <N>.settings (or $ConfigSequenceNumber):\n"
	"              decrypt and validate the settings, run the requested\n"
	"              operation (reopen, provision, rotate, snapshot), write\n"
	"              <statusFolder>/<N>.status and the heartbeat file. A sequence\n"
	"              number already handled is not redone.\n"
	"  disable     report the handler as not ready; volumes stay open\n"
	"  uninstall   log only; nothing of the system is changed\n"
	"  update      log only; the status folder carries the state\n"
	"\n"
	"  --handler-dir DIR  the directory holding HandlerEnvironment.json\n"
	"                     (default: $VV_HANDLER_DIR, else the binary's directory\n"
	"                     or its parent)\n"
	"  --waagent-dir DIR  where <THUMBPRINT>.crt/.prv live (default:\n"
	"                     $VV_WAAGENT_DIR, else " VV_DEFAULT_WAAGENT_DIR ")\n"
	"\n"
	"Settings schema: docs/handler-settings.md. The log is\n"
	"<logFolder>/" VV_HANDLER_LOG_NAME ".\n"
	"\n"
	"Exit status: 0 success, 1 the operation failed (for some volume), 2 bad\n"
	"settings or handler environment, 3 snapshot with weaker consistency.\n";

static int run_handler(const struct vv_options *opt, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "handler-dir", required_argument, NULL, 'd' },
		{ "waagent-dir", required_argument, NULL, 'w' },
		{ 0 }
	};
	struct vv_handler_args a = { .seq_env = getenv("ConfigSequenceNumber") };
	const char *sub;
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': a.handler_dir = optarg; break;
		case 'w': a.waagent_dir = optarg; break;
		default: fputs(handler_usage, stderr); return VV_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fputs(handler_usage, stderr);
		return VV_EXIT_USAGE;
	}
	sub = argv[optind];
	if (strcmp(sub, "install") == 0)
		return vv_handler_install(opt, &a);
	if (strcmp(sub, "enable") == 0)
		return vv_handler_enable(opt, &a);
	if (strcmp(sub, "disable") == 0)
		return vv_handler_disable(opt, &a);
	if (strcmp(sub, "uninstall") == 0)
		return vv_handler_uninstall(opt, &a);
	if (strcmp(sub, "update") == 0)
		return vv_handler_update(opt, &a);
	fprintf(stderr, "vaultvol handler: unknown command '%s'\n", sub);
	fputs(handler_usage, stderr);
	return VV_EXIT_USAGE;
}

VV_COMMAND(handler,
	.name = "handler",
	.summary = "VM extension handler commands (run by waagent)",
	.usage = handler_usage,
	.order = 80,
	.run = run_handler);
