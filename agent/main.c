// SPDX-License-Identifier: GPL-2.0-or-later
/* vaultvol entry point: global options, then a registered subcommand. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/command.h"
#include "agent/freeze/freeze_marker.h"
#include "agent/version.h"
#include "base/log.h"
#include "base/secret.h"
#include "base/wipe_alloc.h"

extern const struct vv_command *const __start_vv_commands[];
extern const struct vv_command *const __stop_vv_commands[];

static const struct vv_command *find_command(const char *name)
{
	for (const struct vv_command *const *c = __start_vv_commands;
	     c < __stop_vv_commands; c++)
		if (strcmp((*c)->name, name) == 0)
			return *c;
	return NULL;
}

/*
 * A snapshot whose agent and watchdog were both killed leaves filesystems
 * frozen and a marker behind: whatever vaultvol runs next thaws them. The
 * freeze commands do this themselves (under their own lock); `version` must
 * work for anyone and touch nothing.
 */
static void recover_crashed_freeze(const struct vv_options *opt, const char *cmd)
{
	static const char *const own[] = { "snapshot", "freeze", "thaw", "version" };
	struct vv_recover_result res = { 0 };

	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (!strcmp(cmd, own[i]))
			return;
	if (vv_marker_recover(opt->state_dir, false, &res) == 0 && res.found &&
	    !res.skipped_live && !res.other_boot)
		vv_warn("thawed %d filesystem(s) left frozen by a crashed snapshot%s",
			res.thawed, res.errors ? " (some could not be thawed)" : "");
}

static void print_help(FILE *f)
{
	const struct vv_command *sorted[64];
	size_t n = 0;

	for (const struct vv_command *const *c = __start_vv_commands;
	     c < __stop_vv_commands && n < 64; c++)
		sorted[n++] = *c;
	/* Insertion sort by order: a handful of entries. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && sorted[j]->order < sorted[j - 1]->order; j--) {
			const struct vv_command *t = sorted[j];

			sorted[j] = sorted[j - 1];
			sorted[j - 1] = t;
		}

	fprintf(f,
		"Usage: vaultvol [OPTIONS] COMMAND [ARGS...]\n"
		"\n"
		"Opens, provisions and snapshots encrypted volumes (LUKS, BitLocker)\n"
		"whose keys live in a key vault.\n"
		"\n"
		"Commands:\n");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "  %-12s %s\n", sorted[i]->name, sorted[i]->summary);
	fprintf(f,
		"\n"
		"Options:\n"
		"  -c, --config FILE   configuration file (default " VV_DEFAULT_CONFIG ")\n"
		"      --state-dir DIR state directory (default " VV_DEFAULT_STATE_DIR ")\n"
		"      --vault URL     default key vault (overrides the config file)\n"
		"      --imds URL      instance metadata endpoint (tests)\n"
		"      --ca-file FILE  extra CA bundle; TLS verification is always on\n"
		"      --json          machine-readable output where supported\n"
		"  -v, --verbose       more detail (repeat for debug)\n"
		"  -h, --help          this help; `vaultvol COMMAND --help` for a command\n"
		"  -V, --version       print the version\n"
		"\n"
		"Exit status: 0 success, 1 failure (some volume failed), 2 usage or\n"
		"configuration error, 3 snapshot taken with weaker consistency.\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "state-dir", required_argument, NULL, 'S' },
		{ "vault", required_argument, NULL, 'K' },
		{ "imds", required_argument, NULL, 'I' },
		{ "ca-file", required_argument, NULL, 'A' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	struct vv_options opt = {
		.config_path = VV_DEFAULT_CONFIG,
		.state_dir = VV_DEFAULT_STATE_DIR,
	};
	const struct vv_command *cmd;
	int c;

	/*
	 * Before anything calls into OpenSSL (libcryptsetup and libcurl do):
	 * its buffers, TLS records with keys and tokens among them, are wiped
	 * on free. libcurl's are routed when the vault client starts.
	 */
	if (!vv_wipe_alloc_openssl())
		vv_debug("OpenSSL allocated before main: its buffers are not wiped on free");
	/* Key material may be held from here on: no core dumps, no ptrace. */
	vv_process_harden();

	/* '+': stop at the first non-option, which is the command. */
	while ((c = getopt_long(argc, argv, "+c:vhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': opt.config_path = optarg; break;
		case 'S': opt.state_dir = optarg; break;
		case 'K': opt.vault_url = optarg; break;
		case 'I': opt.imds_url = optarg; break;
		case 'A': opt.ca_file = optarg; break;
		case 'j': opt.json = true; break;
		case 'v': opt.verbose++; break;
		case 'h': print_help(stdout); return VV_EXIT_OK;
		case 'V': printf("vaultvol %s\n", VV_VERSION); return VV_EXIT_OK;
		default: print_help(stderr); return VV_EXIT_USAGE;
		}
	}
	if (opt.verbose)
		vv_log_set_level(opt.verbose > 1 ? VV_LOG_DEBUG : VV_LOG_INFO);
	if (optind >= argc) {
		print_help(stderr);
		return VV_EXIT_USAGE;
	}
	cmd = find_command(argv[optind]);
	if (!cmd) {
		fprintf(stderr, "vaultvol: unknown command '%s' (see vaultvol --help)\n",
			argv[optind]);
		return VV_EXIT_USAGE;
	}
	for (int i = optind + 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(cmd->usage, stdout);
			return VV_EXIT_OK;
		}
	}
	recover_crashed_freeze(&opt, cmd->name);
	{
		int first = optind;

		optind = 0;	/* the command parses its own argv with getopt */
		return cmd->run(&opt, argc - first, argv + first);
	}
}
