// SPDX-License-Identifier: GPL-2.0-or-later
/* Re-encrypting ADE's resource disk after a restore (libcryptsetup, mkfs.ext4). */
#include "agent/volume/resource_disk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libcryptsetup.h>

#include "agent/volume/crypt_internal.h"
#include "base/log.h"

int vv_resource_disk_format(const char *device, const char *name, const struct vv_secret *pass,
			    char *uuid, size_t uuidlen, struct vv_error *err)
{
	/*
	 * The passphrase is ADE's: base64 of 127 random bytes. A costly KDF
	 * protects guessable passphrases only; this one is not, and a cheap
	 * one keeps boot fast on small VMs.
	 */
	struct crypt_pbkdf_type pbkdf = {
		.type = CRYPT_KDF_PBKDF2, .hash = "sha256", .iterations = 1000,
		.flags = CRYPT_PBKDF_NO_BENCHMARK,
	};
	struct crypt_device *cd = NULL;
	int fd, r, slot;

	/* An exclusive open fails while anything (a mount, swap, a mapping) holds it. */
	fd = open(device, O_RDONLY | O_EXCL | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		return vv_fail(err, r, VV_CAUSE_SYSTEM,
			       "%s is in use (mounted? swap? held by a mapping?): %s; "
			       "not formatted", device, strerror(-r));
	}
	close(fd);
	vv_crypt_quiet();
	if (crypt_status(NULL, name) != CRYPT_INACTIVE)
		return vv_fail(err, -EEXIST, VV_CAUSE_SYSTEM,
			       "/dev/mapper/%s exists already; not formatted", name);
	r = crypt_init(&cd, device);
	if (r == 0) {
		crypt_set_log_callback(cd, vv_crypt_log, NULL);
		r = crypt_set_pbkdf_type(cd, &pbkdf);
	}
	if (r == 0)
		r = crypt_format(cd, CRYPT_LUKS2, "aes", "xts-plain64", NULL, NULL, 64, NULL);
	if (r < 0) {
		vv_fail(err, r, VV_CAUSE_SYSTEM,
			"formatting %s (LUKS2) failed: %s", device, strerror(-r));
		goto out;
	}
	r = slot = crypt_keyslot_add_by_volume_key(cd, CRYPT_ANY_SLOT, NULL, 64,
						   (const char *)pass->data, pass->len);
	if (r >= 0)
		r = crypt_activate_by_passphrase(cd, name, slot, (const char *)pass->data,
						 pass->len, 0);
	if (r < 0) {
		vv_fail(err, r, VV_CAUSE_SYSTEM,
			"setting up %s on %s failed: %s", name, device, strerror(-r));
		goto out;
	}
	snprintf(uuid, uuidlen, "%s", crypt_get_uuid(cd) ? crypt_get_uuid(cd) : "");
	r = 0;
out:
	crypt_free(cd);
	return r;
}

int vv_resource_disk_mkfs(const char *dev, struct vv_error *err)
{
	static const char *const paths[] = { "/sbin/mkfs.ext4", "/usr/sbin/mkfs.ext4" };
	const char *mkfs = NULL;
	int status = 0;
	pid_t pid;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]) && !mkfs; i++)
		if (access(paths[i], X_OK) == 0)
			mkfs = paths[i];
	if (!mkfs)
		return vv_fail(err, -ENOENT, VV_CAUSE_SYSTEM,
			       "mkfs.ext4 not found (install e2fsprogs)");
	pid = fork();
	if (pid < 0)
		return vv_fail(err, -errno, VV_CAUSE_SYSTEM, "fork: %s", strerror(errno));
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
		}
		execl(mkfs, "mkfs.ext4", "-q", "-F", dev, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return vv_fail(err, -ECHILD, VV_CAUSE_SYSTEM,
				       "waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return vv_fail(err, -EIO, VV_CAUSE_SYSTEM, "%s %s failed (status %d)", mkfs, dev,
			       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return 0;
}
