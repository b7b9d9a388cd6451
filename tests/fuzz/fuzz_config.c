// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The config file (agent/config.c): vv_config_parse, then what the agent
 * derives from it (the vault client's configuration, each volume's match
 * as text).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fz_util.h"

#include "agent/config.h"
#include "agent/options.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fz_strndup(data, size), err[512], buf[256];
	struct vv_config *cfg = NULL;

	if (vv_config_parse(text, "fuzz.conf", &cfg, err, sizeof(err)) == 0) {
		struct vv_options opt = { 0 };
		struct vv_vault_config vc;

		vv_config_vault(cfg, &opt, &vc);
		for (size_t i = 0; i < cfg->nvolumes; i++) {
			vv_match_str(&cfg->volumes[i].match, buf, sizeof(buf));
			vv_config_volume(cfg, cfg->volumes[i].name);
		}
	}
	vv_config_free(cfg);
	free(text);
	return 0;
}
