// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Guest test tool: open DEVICE as NAME with the key read from stdin,
 * through vaultvol's own libcryptsetup path (agent/volume/crypt.c), so the
 * foundation scenario exercises our code and not the cryptsetup CLI.
 * Usage: vv-luks-open DEVICE NAME < keyfile  |  vv-luks-open --close NAME
 *        vv-luks-open --check DEVICE [N] < keyfile   (key check, N times;
 *        no device-mapper needed: used by the bench on image files)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/volume/crypt.h"

int main(int argc, char **argv)
{
	struct vv_secret *key = NULL;
	unsigned char buf[512];
	ssize_t n;
	int r;

	if (argc == 3 && !strcmp(argv[1], "--close")) {
		r = vv_crypt_deactivate(argv[2]);
		if (r < 0)
			fprintf(stderr, "close %s: %s\n", argv[2], vv_crypt_strerror(r));
		return r < 0;
	}
	if ((argc == 3 || argc == 4) && !strcmp(argv[1], "--check")) {
		int times = argc == 4 ? atoi(argv[3]) : 1;

		key = vv_secret_new(sizeof(buf));
		if (!key)
			return 1;
		while ((r = (int)read(0, buf, sizeof(buf))) > 0)
			if (vv_secret_append(key, buf, (size_t)r) < 0)
				break;
		memset(buf, 0, sizeof(buf));
		for (r = 0; times-- > 0 && r >= 0;)
			r = vv_crypt_check_key(argv[2], key);
		vv_secret_free(key);
		if (r < 0)
			fprintf(stderr, "check %s: %s\n", argv[2], vv_crypt_strerror(r));
		return r < 0;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: vv-luks-open DEVICE NAME < key\n");
		return 2;
	}
	key = vv_secret_new(sizeof(buf));
	if (!key)
		return 1;
	while ((n = read(0, buf, sizeof(buf))) > 0)
		if (vv_secret_append(key, buf, (size_t)n) < 0)
			break;
	memset(buf, 0, sizeof(buf));
	r = vv_crypt_activate(argv[1], argv[2], key, 0);
	vv_secret_free(key);
	if (r < 0) {
		fprintf(stderr, "open %s: %s\n", argv[1], vv_crypt_strerror(r));
		return 1;
	}
	printf("opened %s as /dev/mapper/%s (keyslot %d)\n", argv[1], argv[2], r);
	return 0;
}
