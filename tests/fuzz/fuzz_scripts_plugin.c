// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * VMSnapshotScriptPluginConfig.json (agent/snapshot/scripts_plugin.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fz_util.h"

#include "agent/snapshot/scripts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

FZ_INIT_QUIET()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vv_error why = { 0 };
	char *text = fz_strndup(data, size);
	struct vv_plugin_config c;

	memset(&c, 0, sizeof(c));
	vv_plugin_config_parse(text, &c, &why);
	vv_plugin_config_clear(&c);
	free(text);
	return 0;
}
