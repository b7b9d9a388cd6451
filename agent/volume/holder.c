// SPDX-License-Identifier: GPL-2.0-or-later
/* The dm-crypt mapping holding a disk, from sysfs (holder.h). */
#include "agent/volume/holder.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* The first line of a small sysfs attribute; -errno. */
static int read_attr(int dirfd, const char *rel, char *buf, size_t len)
{
	int fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

int vv_crypt_holder(const char *sysfs, dev_t devno, char *name, size_t len)
{
	char path[256], uuid[160], dmname[160];
	struct dirent *de;
	DIR *dir;
	int r = -ENOENT;

	snprintf(path, sizeof(path), "%s/dev/block/%u:%u/holders", sysfs ? sysfs : "/sys",
		 major(devno), minor(devno));
	dir = opendir(path);
	if (!dir)
		return -ENOENT;
	while ((de = readdir(dir))) {
		char rel[300];

		if (de->d_name[0] == '.')
			continue;
		snprintf(rel, sizeof(rel), "%s/dm/uuid", de->d_name);
		if (read_attr(dirfd(dir), rel, uuid, sizeof(uuid)) < 0 ||
		    strncmp(uuid, "CRYPT-", 6))
			continue;
		/*
		 * Size 0: no live table, what an interrupted activation
		 * leaves (its table loaded, never resumed). It opens nothing.
		 */
		snprintf(rel, sizeof(rel), "%s/size", de->d_name);
		if (read_attr(dirfd(dir), rel, dmname, sizeof(dmname)) == 0 && !strcmp(dmname, "0"))
			continue;
		snprintf(rel, sizeof(rel), "%s/dm/name", de->d_name);
		if (read_attr(dirfd(dir), rel, dmname, sizeof(dmname)) < 0 || !dmname[0])
			continue;
		r = snprintf(name, len, "%s", dmname) < (int)len ? 0 : -ENAMETOOLONG;
		break;
	}
	closedir(dir);
	return r;
}
