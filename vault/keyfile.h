/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reading small files that hold key material (key files, PEM private keys,
 * keystore entries, BEK volume files) straight into a struct vv_secret, and
 * the ownership/permission checks that go with them.
 */
#ifndef VV_KEYFILE_H
#define VV_KEYFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "base/readfile.h"
#include "vault/vault.h"

enum {
	/* Owned by root or by us, no group/other permission bits at all. */
	VV_KF_PRIVATE = VV_RF_PRIVATE,
	/* A symbolic link as the last component is always refused now. */
	VV_KF_NOFOLLOW = 1 << 1,
};

/* Largest key file we read: PEM keys are a few KiB, BEKs far less. */
#define VV_KEYFILE_MAX (64 * 1024)

/*
 * Read the regular file path (relative to dirfd, or AT_FDCWD) into a new
 * secret. Causes: NOT_FOUND (missing), CONFIG (not a regular file, too big,
 * permissions, a symlink). Returns 0 or -errno.
 */
int vv_key_file_read(int dirfd, const char *path, unsigned flags,
		     struct vv_secret **out, struct vv_error *err);

#endif
