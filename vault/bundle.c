// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Secret bundles and key descriptions: freeing and tag lookup. Shared by the
 * Key Vault client (which parses bundles off the wire) and the local
 * keystore (which reads them from its metadata files).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vault/vault.h"

void vv_secret_bundle_free(struct vv_secret_bundle *b)
{
	if (!b)
		return;
	free(b->id);
	free(b->content_type);
	for (size_t i = 0; i < b->ntags; i++) {
		free(b->tags[i].name);
		free(b->tags[i].value);
	}
	free(b->tags);
	free(b->recovery_level);
	vv_secret_free(b->value);
	free(b);
}

/*
 * Tags are written by several tools (ADE, portals, scripts, us), so a name
 * matches regardless of case rather than missing a hand-written tag.
 */
const char *vv_bundle_tag(const struct vv_secret_bundle *b, const char *name)
{
	if (!b || !name)
		return NULL;
	for (size_t i = 0; i < b->ntags; i++)
		if (b->tags[i].name && strcasecmp(b->tags[i].name, name) == 0)
			return b->tags[i].value;
	return NULL;
}

void vv_key_info_free(struct vv_key_info *k)
{
	if (!k)
		return;
	free(k->kid);
	free(k->kty);
	free(k->recovery_level);
	free(k);
}
