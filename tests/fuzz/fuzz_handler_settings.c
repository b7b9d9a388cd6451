// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * An extension <N>.settings file (agent/handler/handler_settings.c): the
 * runtimeSettings envelope around public and protected settings.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fz_util.h"

#include "agent/handler/handler.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

FZ_INIT_QUIET()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vv_handler_settings s = { 0 };
	struct vv_error err = { 0 };

	vv_handler_settings_parse((const char *)data, size, &s, &err);
	vv_handler_settings_clear(&s);
	return 0;
}
