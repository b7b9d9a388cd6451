/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Bearer tokens for Key Vault: from IMDS (managed identity, system- or
 * user-assigned) or from Azure AD's client-credentials endpoint (an
 * application with a client secret or a certificate, as older ADE setups
 * use). One token per resource is cached until 5 minutes before it expires
 * (half its lifetime for short-lived tokens); concurrent callers wait for a
 * single fetch rather than each fetching their own.
 */
#ifndef VV_VAULT_TOKEN_H
#define VV_VAULT_TOKEN_H

#include <stdbool.h>
#include <stdint.h>

#include "base/http.h"
#include "vault/vault.h"

struct vv_tokens;

/* cfg, http and stats must outlive the token source. */
int vv_tokens_new(const struct vv_vault_config *cfg, struct vv_http *http,
		  struct vv_vault_stats *stats, struct vv_tokens **out);
void vv_tokens_free(struct vv_tokens *t);

/*
 * A token for resource (e.g. "https://vault.azure.net"). authority is the
 * challenge's authorization URI, used only to learn the AAD tenant when none
 * is configured; may be NULL. force: ignore the cache (the vault refused the
 * cached token). On success *token is a NUL-terminated copy the caller
 * frees; *fetched (may be NULL) says whether it was fetched by this call.
 */
int vv_token_get(struct vv_tokens *t, const char *resource,
		 const char *authority, bool force, struct vv_secret **token,
		 bool *fetched, struct vv_error *err);

/*
 * When a token obtained at now and expiring at expires_on should be
 * replaced: 5 minutes before expiry, or at half its lifetime when that is
 * shorter. Exposed for tests.
 */
int64_t vv_token_refresh_at(int64_t now, int64_t expires_on);

/*
 * Build a signed RS256 JWT client assertion (x5t header = base64url SHA-1
 * of the certificate) from a PEM file holding a certificate and its private
 * key. Exposed for tests.
 */
int vv_jwt_client_assertion(const char *pem_file, const char *client_id,
			    const char *audience, int64_t now,
			    struct vv_secret **jwt, struct vv_error *err);

#endif
