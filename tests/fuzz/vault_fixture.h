/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A vault client for the harnesses that feed it answers through the fake
 * transport, and the well-formed answers a harness uses for the exchanges
 * it does not fuzz (taken from REFERENCE.md's wire facts).
 */
#ifndef VV_VAULT_FIXTURE_H
#define VV_VAULT_FIXTURE_H

#include <stdbool.h>

#include "tests/fuzz/fake_http.h"
#include "tests/fuzz/fz_util.h"
#include "vault/vault.h"

#define FZ_VAULT "https://myvault.vault.azure.net"
#define FZ_SECRET FZ_VAULT "/secrets/bek1"
#define FZ_TENANT "72f988bf-86f1-41af-91ab-2d7cd011db47"

extern const char fz_probe_401[];	/* the Key Vault challenge */
extern const char fz_token_ok[];	/* an IMDS token answer */
extern const char fz_bundle_ok[];	/* a bundle for FZ_SECRET */

/*
 * A client for FZ_VAULT; aad: an AAD application with a client secret
 * file (tenant learnt from the challenge) instead of managed identity.
 */
struct vv_vault *fz_vault_new(bool aad);

/*
 * The fake transport for one run: the Key Vault challenge for every probe,
 * fixed for every request of class other, and parts 1.. of p, in turn, as
 * the answers to the requests of class fuzzed.
 */
void fz_vault_script(const struct fz_parts *p, enum fz_class fuzzed, enum fz_class other,
		     const char *fixed);

#endif
