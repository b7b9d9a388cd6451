/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Hostile headers for tests: a LUKS1 image whose header UUID is any string
 * (LUKS1 headers carry no checksum and libcryptsetup loads them as they
 * are), as anyone who can write a disk's bytes could make one.
 */
#ifndef VV_TEST_LUKS_CRAFT_H
#define VV_TEST_LUKS_CRAFT_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libcryptsetup.h>

/* struct luks_phdr: magic 6, version 2, cipher 32+32, hash 32, 4+4, digest 20+32, iter 4. */
#define KT_LUKS1_UUID_OFFSET 168
#define KT_LUKS1_UUID_LEN 40

/*
 * Format the file at path as type (CRYPT_LUKS1 or CRYPT_LUKS2, aes-xts,
 * cheap PBKDF2) with passphrase pw in keyslot 0. 0, or -1.
 */
static inline int kt_luks_format(const char *path, const char *type, const char *pw)
{
	struct crypt_pbkdf_type pbkdf = {
		.type = CRYPT_KDF_PBKDF2, .hash = "sha256", .iterations = 1000,
		.flags = CRYPT_PBKDF_NO_BENCHMARK,
	};
	struct crypt_device *cd = NULL;
	int r;

	r = crypt_init(&cd, path);
	if (r == 0)
		r = crypt_set_pbkdf_type(cd, &pbkdf);
	if (r == 0)
		r = crypt_format(cd, type, "aes", "xts-plain64", NULL, NULL, 64, NULL);
	if (r == 0)
		r = crypt_keyslot_add_by_volume_key(cd, 0, NULL, 0, pw, strlen(pw));
	crypt_free(cd);
	return r < 0 ? -1 : 0;
}

/*
 * A 32 MiB sparse image /tmp/vv-TAG-XXXXXX formatted by kt_luks_format:
 * its malloc'ed path, or NULL.
 */
static inline char *kt_luks_image(const char *type, const char *tag, const char *pw)
{
	char *path = NULL;
	int fd;

	if (asprintf(&path, "/tmp/vv-%s-XXXXXX", tag) < 0)
		return NULL;
	fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, 32 << 20) < 0 || close(fd) < 0 ||
	    kt_luks_format(path, type, pw) < 0) {
		if (fd >= 0)
			unlink(path);
		free(path);
		return NULL;
	}
	return path;
}

/* A 4 MiB LUKS1 image at path, passphrase pw in keyslot 0, header UUID uuid. */
static inline int kt_luks1_with_uuid(const char *path, const char *pw, const char *uuid)
{
	char field[KT_LUKS1_UUID_LEN] = { 0 };
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, 4 << 20) < 0)
		goto fail;
	close(fd);
	fd = -1;
	if (kt_luks_format(path, CRYPT_LUKS1, pw) < 0)
		return -1;
	strncpy(field, uuid, sizeof(field) - 1);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 || pwrite(fd, field, sizeof(field), KT_LUKS1_UUID_OFFSET) != sizeof(field))
		goto fail;
	close(fd);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

#endif
