// SPDX-License-Identifier: GPL-2.0-or-later
/* LUKS header backups before every header change (see header_backup.h). */
#include "agent/volume/header_backup.h"
#include "agent/volume/crypt_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "agent/config/config.h"
#include "agent/config/state_dir.h"
#include "base/log.h"

/* The backup directory: a real directory, ours, nobody else's business. */
static int check_private_dir(const char *dir)
{
	struct stat st;

	if (lstat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode)) {
		vv_err("%s is not a directory", dir);
		return -ENOTDIR;
	}
	if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 077)) {
		vv_err("%s must be owned by root and mode 0700 (it is %04o)", dir,
		       (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

/*
 * libcryptsetup reports a backup file it could not write in full as -EIO,
 * which sends an operator looking at the disk. The backup is as large as
 * the header area (16 MiB for a default LUKS2 header): say up front when
 * the state directory's filesystem cannot hold it.
 */
int vv_dir_room(const char *dir, uint64_t need, uint64_t *avail)
{
	struct statvfs sv;

	*avail = 0;
	if (statvfs(dir, &sv) < 0)
		return 0;	/* no estimate: the write itself will say */
	/* Root may use the blocks reserved for it. */
	*avail = (uint64_t)(geteuid() == 0 ? sv.f_bfree : sv.f_bavail) * sv.f_frsize;
	return *avail >= need ? 0 : -ENOSPC;
}

static int check_room(struct crypt_device *cd, const char *device, const char *dir)
{
	uint64_t need = 0, avail, meta = 0, keyslots = 0;

	/*
	 * LUKS2: both metadata copies and the keyslots area, what the backup
	 * holds (the data offset may lie far beyond); LUKS1: up to the data.
	 */
	if (crypt_get_metadata_size(cd, &meta, &keyslots) == 0 && meta)
		need = 2 * meta + keyslots;
	else
		need = crypt_get_data_offset(cd) * 512;
	if (!need || vv_dir_room(dir, need, &avail) == 0)
		return 0;	/* room, or no estimate: let libcryptsetup try */
	vv_err("%s: no room for its header backup in %s: it needs %llu KiB, %llu KiB are "
	       "free; free space there (old backups can go once newer ones exist) or give "
	       "--state-dir on a larger filesystem", device, dir,
	       (unsigned long long)(need / 1024), (unsigned long long)(avail / 1024));
	return -ENOSPC;
}

static int fsync_path(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

int vv_header_backup(const char *device, const char *state_dir, char *path_out,
		     size_t len)
{
	struct crypt_device *cd = NULL;
	char dir[4096], path[4200], stamp[32];
	const char *uuid;
	struct timespec ts;
	struct tm tm;
	int i, r;

	if (path_out && len)
		path_out[0] = '\0';
	if (!state_dir || !*state_dir)
		return -EINVAL;
	if (snprintf(dir, sizeof(dir), "%s/%s", state_dir, VV_HEADER_BACKUP_DIR) >=
	    (int)sizeof(dir))
		return -ENAMETOOLONG;
	{
		struct vv_error why = { 0 };

		/* Created 0700 when missing; checked every time, not just created. */
		r = vv_state_dir_open(state_dir, true, &why);
		if (r < 0) {
			vv_err("%s", why.message);
			return r;
		}
		close(r);
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		vv_err("cannot create %s: %s", dir, strerror(-r));
		return r;
	}
	r = check_private_dir(dir);
	if (r < 0)
		return r;

	vv_crypt_quiet();
	r = crypt_init(&cd, device);
	if (r < 0)
		return r;
	r = crypt_load(cd, CRYPT_LUKS, NULL);
	if (r < 0) {
		vv_err("%s: no LUKS header to back up", device);
		goto out;
	}
	/*
	 * The UUID names the backup file: a header is not authenticated, and
	 * "../../x" must not become a path, so anything but a UUID is refused.
	 */
	uuid = crypt_get_uuid(cd);
	if (!vv_uuid_valid(uuid)) {
		vv_err("%s: the LUKS header's UUID is not a UUID; refusing to name a backup "
		       "after it (restore the header or re-create the volume)", device);
		r = -EINVAL;
		goto out;
	}
	r = check_room(cd, device, dir);
	if (r < 0)
		goto out;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	/*
	 * Nanoseconds keep the names of a rotation's successive backups
	 * distinct and sorted; the counter covers a clock that stood still.
	 */
	r = -EEXIST;
	for (i = 0; i < 100 && r == -EEXIST; i++) {
		snprintf(path, sizeof(path), "%s/%s-%s.%09ldZ%s%.0d.luks", dir,
			 uuid, stamp, (long)ts.tv_nsec,
			 i ? "-" : "", i);
		if (access(path, F_OK) == 0)
			continue;
		/* libcryptsetup creates it exclusively (O_EXCL), mode 0400. */
		r = crypt_header_backup(cd, NULL, path);
	}
	if (r < 0) {
		vv_err("%s: header backup to %s failed: %s", device, dir, strerror(-r));
		goto out;
	}
	/* 0600 so root can replace or prune it with ordinary tools. */
	if (chmod(path, 0600) < 0 ||
	    (r = fsync_path(path, O_RDONLY)) < 0 ||
	    (r = fsync_path(dir, O_RDONLY | O_DIRECTORY)) < 0) {
		if (r == 0)
			r = -errno;
		vv_err("%s: cannot secure %s: %s", device, path, strerror(-r));
		goto out;
	}
	vv_info("%s: header backed up to %s", device, path);
	if (path_out && len)
		snprintf(path_out, len, "%s", path);
	r = 0;
out:
	crypt_free(cd);
	return r;
}
