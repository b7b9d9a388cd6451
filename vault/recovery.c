// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Soft delete and purge protection as Key Vault reports them: every secret
 * and key bundle carries attributes.recoveryLevel (DeletionRecoveryLevel).
 * A level naming "Purgeable" lets anyone with purge rights destroy a
 * deleted key before its retention ends - and a volume whose only key is
 * gone is gone. Losing the key loses the data, so provisioning says so.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vault/vault.h"

bool vv_recovery_level_protected(const char *level)
{
	static const char *const protected_levels[] = {
		"Recoverable", "Recoverable+ProtectedSubscription",
		"CustomizedRecoverable", "CustomizedRecoverable+ProtectedSubscription",
	};

	if (!level)
		return false;
	for (size_t i = 0; i < sizeof(protected_levels) / sizeof(protected_levels[0]); i++)
		if (!strcmp(level, protected_levels[i]))
			return true;
	return false;
}

/*
 * The vault's name as `az keyvault` wants it: the first label of
 * https://NAME.vault.azure.net. A host that is not such a name (an IP
 * address, a test fake) is given whole.
 */
static void vault_name(const char *id, char *buf, size_t len)
{
	const char *h = id && !strncmp(id, "https://", 8) ? id + 8 : NULL;
	size_t n;

	if (!h) {
		snprintf(buf, len, "%s", "VAULT");
		return;
	}
	n = strcspn(h, "/:");
	if ((h[0] >= 'a' && h[0] <= 'z') || (h[0] >= 'A' && h[0] <= 'Z'))
		n = strcspn(h, "./:");
	snprintf(buf, len, "%.*s", (int)(n < 200 ? n : 200), h);
}

int vv_purge_advice(const char *what, const char *id, const char *level,
		    char *buf, size_t len)
{
	char name[256];

	vault_name(id, name, sizeof(name));
	return snprintf(buf, len,
			"%s %s in vault %s has no purge protection (recoveryLevel %s): once "
			"deleted it can be purged for good, and the volume with it; turn it on: "
			"az keyvault update --name %s --enable-purge-protection true",
			what, id ? id : "", name, level && *level ? level : "not stated", name);
}

int vv_purge_require(const char *what, const char *id, const char *level,
		     struct vv_error *err)
{
	char advice[sizeof(err->message)];

	if (vv_recovery_level_protected(level))
		return 0;
	vv_purge_advice(what, id, level, advice, sizeof(advice));
	vv_error_set(err, VV_CAUSE_CONFIG, 0, "purge protection is required: %s", advice);
	return -EPERM;
}
