// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Guest test tool: advance the LUKS2 encryption that `cryptsetup reencrypt
 * --encrypt --init-only` set up on DEVICE (ADE's online encryption) until
 * at least PERCENT of it is done, then stop cleanly, leaving the volume
 * part encrypted as ADE's background encryption would after a restore.
 * Usage: vv-reencrypt-step DEVICE PERCENT < keyfile
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libcryptsetup.h>

static int stop_at;

/* libcryptsetup stops the run (resumable) when this returns non-zero. */
static int progress(uint64_t size, uint64_t offset, void *usrptr)
{
	(void)usrptr;
	return size && offset * 100 / size >= (uint64_t)stop_at;
}

int main(int argc, char **argv)
{
	struct crypt_params_reencrypt params = { .flags = CRYPT_REENCRYPT_RESUME_ONLY };
	struct crypt_device *cd = NULL;
	char key[1024];
	ssize_t n;
	size_t len = 0;
	int r;

	if (argc != 3) {
		fprintf(stderr, "usage: vv-reencrypt-step DEVICE PERCENT < keyfile\n");
		return 2;
	}
	stop_at = atoi(argv[2]);
	while (len < sizeof(key) && (n = read(0, key + len, sizeof(key) - len)) > 0)
		len += (size_t)n;
	r = crypt_init(&cd, argv[1]);
	if (!r)
		r = crypt_load(cd, CRYPT_LUKS2, NULL);
	if (!r)
		r = crypt_reencrypt_init_by_passphrase(cd, NULL, key, len, CRYPT_ANY_SLOT,
						       CRYPT_ANY_SLOT, NULL, NULL, &params);
	if (r >= 0)
		r = crypt_reencrypt_run(cd, progress, NULL);
	memset(key, 0, sizeof(key));
	crypt_free(cd);
	if (r < 0)
		fprintf(stderr, "vv-reencrypt-step: %s: %s\n", argv[1], strerror(-r));
	return r < 0;
}
