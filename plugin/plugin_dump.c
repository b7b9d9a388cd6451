// SPDX-License-Identifier: GPL-2.0-or-later
/* The token plugin's validate and dump: the token as `vaultvol open` reads it. */
#include "plugin/plugin.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/volume/luks2_token.h"
#include "base/log.h"
#include "vault/vault.h"

int vv_plugin_validate(const char *json)
{
	struct vv_token t;
	int r = vv_token_from_json(json, &t);

	vv_token_clear(&t);
	if (r == -EINVAL)
		vv_warn("the vaultvol token is malformed (vaultvol refuses it too): "
			"rewrite it with `vaultvol adopt --force`");
	return r;
}

/* "VERSION", "latest (not pinned)" or NULL for references without versions. */
static const char *ref_version(const char *ref, char *buf, size_t len)
{
	char *base = vv_ref_unversioned(ref);
	size_t n;

	if (!base)
		return NULL;
	n = strlen(base);
	if (ref[n] == '/' && ref[n + 1])
		snprintf(buf, len, "%s", ref + n + 1);
	else
		snprintf(buf, len, "latest (not pinned: a later version would be fetched)");
	free(base);
	return buf;
}

static void linef(void (*line)(const char *, void *), void *ctx, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void linef(void (*line)(const char *, void *), void *ctx, const char *fmt, ...)
{
	char buf[VV_ERROR_MESSAGE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	line(buf, ctx);
}

void vv_plugin_dump(const char *json, void (*line)(const char *, void *), void *ctx)
{
	struct vv_token t;
	char ver[200];

	if (vv_token_from_json(json, &t) < 0) {
		line("\tvaultvol:   malformed token (vaultvol refuses it)", ctx);
		goto out;
	}
	linef(line, ctx, "\tvaultvol key:     %s", t.key);
	if (ref_version(t.key, ver, sizeof(ver)))
		linef(line, ctx, "\tvaultvol key version: %s", ver);
	linef(line, ctx, "\tvaultvol kek:     %s", t.kek ? t.kek : "none (the key is not wrapped)");
	if (t.alg)
		linef(line, ctx, "\tvaultvol alg:     %s", t.alg);
	linef(line, ctx, "\tvaultvol name:    %s", t.name);
	if (t.mount)
		linef(line, ctx, "\tvaultvol mount:   %s (%s, %s)", t.mount, t.fs ? t.fs : "auto",
		      t.options ? t.options : "defaults");
	if (t.retire_key)
		linef(line, ctx, "\tvaultvol retire:  keyslot %d, key %s%s%s (a key rotation did not "
		      "finish)", t.retire_keyslot, t.retire_key, t.retire_kek ? ", kek " : "",
		      t.retire_kek ? t.retire_kek : "");
out:
	vv_token_clear(&t);
}
