// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The config file and its drop-ins (agent/config/config.c): the first part is
 * vaultvol.conf, each further part (after a "----" line) a drop-in
 * conf.d/NN.conf, written to this harness's scratch directory and read by
 * vv_config_load, the public entry. Then what the agent derives from the
 * result: the vault client's configuration and each volume's match as text.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config/config.h"
#include "agent/options.h"
#include "tests/fuzz/fz_util.h"

#define MAX_DROPINS 4

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *dir;
static char path[4096];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet();
	dir = fz_dir("config");
	snprintf(path, sizeof(path), "%s/vaultvol.conf", dir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vv_config *cfg = NULL;
	struct fz_parts p;
	struct vv_error err = { 0 };
	char buf[256], name[32];

	fz_split(data, size, &p);
	if (fz_write(dir, "vaultvol.conf", p.part[0], p.len[0]) < 0)
		abort();
	for (size_t i = 0; i < MAX_DROPINS; i++) {
		snprintf(name, sizeof(name), "conf.d/%02zu.conf", i + 10);
		if (i + 1 < p.n) {
			if (fz_write(dir, name, p.part[i + 1], p.len[i + 1]) < 0)
				abort();
		} else {
			fz_unlink(dir, name);
		}
	}
	if (vv_config_load(path, &cfg, &err) == 0) {
		struct vv_options opt = { 0 };
		struct vv_vault_config vc;

		vv_config_vault(cfg, &opt, &vc);
		for (size_t i = 0; i < cfg->nvolumes; i++) {
			vv_match_str(&cfg->volumes[i].match, buf, sizeof(buf));
			vv_config_volume(cfg, cfg->volumes[i].name);
		}
	}
	vv_config_free(cfg);
	fz_parts_free(&p);
	return 0;
}
