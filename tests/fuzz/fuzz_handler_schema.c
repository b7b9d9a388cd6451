// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The settings schema (agent/handler/handler_schema.c): public settings, then after
 * a "----" line the decrypted protected settings, each through the strict
 * JSON parser and then vv_handler_request_build.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fz_util.h"
#include <json-c/json.h>

#include "agent/handler/handler.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

FZ_INIT_QUIET()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *pub = NULL, *prot = NULL;
	struct vv_handler_request req;
	struct fz_parts p;
	struct vv_error err = { 0 };

	fz_split(data, size, &p);
	if (p.len[0])
		pub = vv_handler_json_parse(p.part[0], p.len[0], &err);
	if (p.n > 1 && p.len[1])
		prot = vv_handler_json_parse(p.part[1], p.len[1], &err);
	memset(&req, 0, sizeof(req));
	if ((pub || !p.len[0]) && (prot || p.n < 2 || !p.len[1]))
		vv_handler_request_build(pub, prot, &req, &err);
	vv_handler_request_clear(&req);
	json_object_put(pub);
	json_object_put(prot);
	fz_parts_free(&p);
	return 0;
}
