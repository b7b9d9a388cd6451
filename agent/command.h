/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Subcommands register themselves with VV_COMMAND() in their own file
 * (agent/cmd_<name>.c), so adding a command touches no shared table. The
 * entries land in the "vv_commands" section; main.c walks it.
 */
#ifndef VV_COMMAND_H
#define VV_COMMAND_H

#include <stdbool.h>

#include "agent/options.h"

struct vv_command {
	const char *name;
	const char *summary;	/* one line for `vaultvol --help` */
	const char *usage;	/* full text for `vaultvol CMD --help` */
	int order;		/* position in --help */
	/* argv[0] is the command name; returns a process exit status. */
	int (*run)(const struct vv_options *opt, int argc, char **argv);
};

#define VV_COMMAND(ident, ...)						\
	static const struct vv_command vv_command_##ident = { __VA_ARGS__ }; \
	static const struct vv_command *const vv_command_ptr_##ident	\
	__attribute__((used, section("vv_commands"), aligned(sizeof(void *)))) = \
		&vv_command_##ident

/*
 * Parse the options of a command whose only one is --all (-a): 0 with
 * *all set, or VV_EXIT_USAGE (getopt printed why). optind is then the
 * first operand.
 */
int vv_command_all_flag(int argc, char **argv, bool *all);

/* Exit statuses, documented in --help and vaultvol(8). */
enum {
	VV_EXIT_OK = 0,
	VV_EXIT_FAILURE = 1,	/* the operation failed (some volume failed) */
	VV_EXIT_USAGE = 2,	/* bad command line or configuration */
	VV_EXIT_PARTIAL = 3,	/* snapshot: taken with weaker consistency */
};

#endif
