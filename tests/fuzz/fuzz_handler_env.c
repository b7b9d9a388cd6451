// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * HandlerEnvironment.json (agent/handler_env.c), as waagent writes it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fz_util.h"

#include "agent/handler.h"

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
	struct vv_handler_env env = { 0 };
	char err[512];

	/* No copy: the parser is given a length, not a C string. */
	vv_handler_env_parse((const char *)data, size, &env, err, sizeof(err));
	vv_handler_env_clear(&env);
	return 0;
}
