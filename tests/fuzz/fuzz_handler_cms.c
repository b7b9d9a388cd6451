// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The protectedSettings CMS envelope (agent/handler/handler_cms.c): DER
 * EnvelopedData, base64-encoded by the harness (base64 itself has its own
 * harness) and decrypted by vv_handler_decrypt with a test-only
 * certificate (tests/fuzz/data/cms.crt, .prv) placed in a scratch waagent
 * directory under its thumbprint, as waagent does.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "agent/handler/handler.h"
#include "tests/fuzz/fz_util.h"
#include "base/b64.h"
#include "base/secret.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *dir;
static char thumb[41];

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf = malloc(65536);

	if (!f || !buf)
		abort();
	*len = fread(buf, 1, 65535, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char *crt, *prv, name[64];
	size_t clen, plen;
	X509 *cert;
	BIO *b;

	(void)argc;
	(void)argv;
	fz_quiet();
	dir = fz_dir("handler_cms");
	crt = slurp(FZ_DATA_DIR "/cms.crt", &clen);
	prv = slurp(FZ_DATA_DIR "/cms.prv", &plen);
	b = BIO_new_mem_buf(crt, (int)clen);
	cert = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	if (!cert || !X509_digest(cert, EVP_sha1(), md, &mdlen) || mdlen != 20)
		abort();
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(thumb + 2 * i, 3, "%02X", md[i]);
	snprintf(name, sizeof(name), "%s.crt", thumb);
	if (fz_write(dir, name, crt, clen) < 0)
		abort();
	snprintf(name, sizeof(name), "%s.prv", thumb);
	if (fz_write(dir, name, prv, plen) < 0)
		abort();
	X509_free(cert);
	BIO_free(b);
	free(crt);
	free(prv);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vv_secret *plain = NULL;
	struct vv_error err = { 0 };
	char *b64;

	b64 = vv_b64_encode(VV_B64_STD, data, size);
	if (!b64)
		abort();
	vv_handler_decrypt(dir, thumb, b64, &plain, &err);
	vv_secret_free(plain);
	free(b64);
	return 0;
}
