// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * HandlerEnvironment.json (agent/handler/handler_env.c), as waagent writes it, then
 * after a "----" line the sequence number waagent names: first as the
 * ConfigSequenceNumber variable, then as an <N>.settings file name in a
 * scratch config folder (vv_handler_pick_seq reads both).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/handler/handler.h"
#include "tests/fuzz/fz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What a folder commonly holds besides the newest settings. */
static void seed_folder(const char *d)
{
	if (fz_write(d, "config/0.settings", "{}", 2) < 0 ||
	    fz_write(d, "config/HandlerState", "Enabled", 7) < 0)
		abort();
}

FZ_INIT_SCRATCH(dir, "handler_env", seed_folder)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vv_handler_env env = { 0 };
	struct fz_parts p;
	struct vv_error err = { 0 };
	char cfg[4096], name[300];
	int seq;

	fz_split(data, size, &p);
	/* The parser is given a length, not a C string. */
	vv_handler_env_parse(p.part[0], p.len[0], &env, &err);
	vv_handler_env_clear(&env);
	if (p.n > 1) {
		const char *s = p.part[1];

		snprintf(cfg, sizeof(cfg), "%s/config", dir);
		vv_handler_pick_seq(cfg, s, &seq, &err);
		/* As a file name: one path component, as readdir returns it. */
		if (*s && p.len[1] < 200 && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..")) {
			snprintf(name, sizeof(name), "config/%s.settings", s);
			if (fz_write(dir, name, "{}", 2) == 0) {
				vv_handler_pick_seq(cfg, NULL, &seq, &err);
				fz_unlink(dir, name);
			}
		}
	}
	fz_parts_free(&p);
	return 0;
}
