/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Which hosts may see a bearer token. A LUKS2 token, an ADE file or a vault
 * answer can name any URL; only trusted configuration decides which vaults
 * are asked, and a vault's 401 challenge may only ask for a token of an
 * audience its own host belongs to (what the official SDKs verify).
 */
#ifndef VV_TRUST_H
#define VV_TRUST_H

#include <stdbool.h>
#include <stddef.h>

#include "vault/vault.h"

/* Host part of a normalised origin (no port), into out. 0 or -EINVAL. */
int vv_origin_host(const char *origin, char *out, size_t outlen);

/*
 * The challenge check of the Azure SDKs (verifyChallengeResource): the
 * resource (or scope without "/.default") is a URL whose host is a parent
 * domain of the request's host, e.g. "https://vault.azure.net" for
 * "https://myvault.vault.azure.net". request_origin is normalised.
 */
bool vv_challenge_resource_ok(const char *resource, const char *request_origin);

#endif
