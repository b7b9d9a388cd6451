// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The [vault] allow-list and moves as values: `allowed` and `moved` lines
 * of the config file, its drop-ins and the handler settings all land here,
 * so the parser (config.c) and the drop-in merge (config_dropin.c) both
 * call in and nothing here calls back.
 */
#include "agent/config/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "vault/vault.h"

int vv_config_add_allowed(struct vv_config_vault *c, const char *value, struct vv_error *err,
			  const char *file, int line)
{
	char *copy = strdup(value), *save = NULL;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (char *u = strtok_r(copy, " \t,", &save); u && !r; u = strtok_r(NULL, " \t,", &save)) {
		char o[VV_ORIGIN_MAX], **n;
		bool dup = false;

		if (vv_origin(u, o, sizeof(o)) < 0) {
			r = vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
				    "%s:%d: allowed: '%s' is not a vault URL "
				    "(https://HOST[:PORT] with a DNS name)", file, line, u);
			break;
		}
		for (size_t i = 0; i < c->nallowed; i++)
			dup = dup || !strcmp(c->allowed[i], o);
		if (dup)
			continue;
		n = realloc(c->allowed, (c->nallowed + 2) * sizeof(*n));
		if (!n) {
			r = -ENOMEM;
			break;
		}
		c->allowed = n;
		if (!(n[c->nallowed] = strdup(o))) {
			r = -ENOMEM;
			break;
		}
		n[++c->nallowed] = NULL;
	}
	free(copy);
	return r;
}

int vv_config_add_moved(struct vv_config_vault *c, const char *value, struct vv_error *err,
			const char *file, int line)
{
	char from[VV_ORIGIN_MAX], to[VV_ORIGIN_MAX], a[VV_ORIGIN_MAX], b[VV_ORIGIN_MAX];
	struct vv_vault_move *n;
	char extra;

	if (sscanf(value, "%299s %299s %c", a, b, &extra) != 2 ||
	    vv_origin(a, from, sizeof(from)) < 0 || vv_origin(b, to, sizeof(to)) < 0)
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "%s:%d: moved: expected two vault URLs, "
			       "'https://OLD-VAULT https://NEW-VAULT' (got '%s')", file, line, value);
	if (!strcmp(from, to))
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "%s:%d: moved: %s moved to itself", file, line, from);
	for (size_t i = 0; i < c->nmoves; i++) {
		if (!strcmp(c->moves[i].from, from) && !strcmp(c->moves[i].to, to))
			return 0;	/* the same line in two files */
		if (!strcmp(c->moves[i].from, from) || !strcmp(c->moves[i].to, from) ||
		    !strcmp(c->moves[i].from, to))
			return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
				       "%s:%d: moved: %s is already mapped (to %s); "
				       "one mapping per vault, no chains", file, line, from, c->moves[i].to);
	}
	n = realloc(c->moves, (c->nmoves + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	c->moves = n;
	n[c->nmoves].from = strdup(from);
	n[c->nmoves].to = strdup(to);
	if (!n[c->nmoves].from || !n[c->nmoves].to) {
		free((char *)n[c->nmoves].from);
		free((char *)n[c->nmoves].to);
		return -ENOMEM;
	}
	c->nmoves++;
	return 0;
}
