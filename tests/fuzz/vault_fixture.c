// SPDX-License-Identifier: GPL-2.0-or-later
/* Vault client and canned answers for the harnesses (see vault_fixture.h). */
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fz_util.h"
#include "tests/fuzz/vault_fixture.h"

const char fz_probe_401[] =
	"401\n"
	"WWW-Authenticate: Bearer authorization=\"https://login.windows.net/" FZ_TENANT "\", "
	"resource=\"https://vault.azure.net\"\n"
	"Content-Type: application/json; charset=utf-8\n"
	"\n"
	"{\"error\":{\"code\":\"Unauthorized\","
	"\"message\":\"AKV10000: Request is missing a Bearer or PoP token.\"}}";

const char fz_token_ok[] =
	"200\n"
	"Content-Type: application/json; charset=utf-8\n"
	"\n"
	"{\"access_token\":\"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ2YXVsdCJ9.c2ln\","
	"\"client_id\":\"1f8a5e0b-0c47-4f5e-9d31-6b6f7b1a2c3d\",\"expires_in\":\"86399\","
	"\"expires_on\":\"4102444800\",\"ext_expires_in\":\"86399\",\"not_before\":\"1700000000\","
	"\"resource\":\"https://vault.azure.net\",\"token_type\":\"Bearer\"}";

const char fz_bundle_ok[] =
	"200\n"
	"\n"
	"{\"value\":\"dGhpcyBpcyBhIHRlc3QgcGFzc3BocmFzZQ==\","
	"\"contentType\":\"BEK\","
	"\"id\":\"" FZ_SECRET "/0123456789abcdef0123456789abcdef\","
	"\"attributes\":{\"enabled\":true,\"created\":1700000000,\"updated\":1700000000,"
	"\"recoveryLevel\":\"Recoverable+Purgeable\"},"
	"\"tags\":{\"DiskEncryptionKeyFileName\":\"LinuxPassPhraseFileName\","
	"\"MachineName\":\"vm1\"}}";

struct vv_vault *fz_vault_new(bool aad)
{
	static char secret_file[4096];
	struct vv_vault_config c = {
		.vault_url = FZ_VAULT,
		.request_timeout_ms = 1000,
		.total_timeout_ms = 60000,
		.max_retries = 3,
	};
	struct vv_vault *v = NULL;

	if (aad) {
		if (!secret_file[0]) {
			const char *d = fz_dir("vault");

			if (fz_write(d, "aad.secret", "fuzz-client-secret\n", 19) < 0)
				abort();
			strcpy(secret_file, d);
			strcat(secret_file, "/aad.secret");
		}
		c.aad_client_id = "1f8a5e0b-0c47-4f5e-9d31-6b6f7b1a2c3d";
		c.aad_secret_file = secret_file;
	}
	if (vv_vault_new(&c, &v) < 0)
		abort();
	return v;
}

void fz_vault_script(const struct fz_parts *p, enum fz_class fuzzed, enum fz_class other,
		     const char *fixed)
{
	fz_http_reset();
	fz_http_default(FZ_PROBE, fz_probe_401);
	fz_http_default(other, fixed);
	for (size_t i = 1; i < p->n; i++)
		fz_http_push(fuzzed, p->part[i], p->len[i]);
}
