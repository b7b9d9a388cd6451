// SPDX-License-Identifier: GPL-2.0-or-later
/* Command-line pieces more than one subcommand shares. */
#include "agent/command.h"

#include <getopt.h>

int vv_command_all_flag(int argc, char **argv, bool *all)
{
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ 0 }
	};
	int c;

	*all = false;
	while ((c = getopt_long(argc, argv, "a", longopts, NULL)) != -1) {
		if (c != 'a')
			return VV_EXIT_USAGE;
		*all = true;
	}
	return 0;
}
