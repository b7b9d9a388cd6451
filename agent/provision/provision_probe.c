// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What is on a device before provisioning: libblkid's safe probe over
 * superblocks (filesystems, LUKS, BitLocker, RAID, swap) and partition
 * tables, read-only. Also the sector size choice and, under --force, the
 * removal of the signatures found (what wipefs does).
 */
#include "agent/provision/provision.h"
#include "agent/provision/provision_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <blkid.h>
#include <linux/fs.h>

#include "base/log.h"

/*
 * Block devices are opened O_EXCL: the kernel refuses that while the
 * device is mounted, used by device-mapper (an open LUKS volume) or a RAID,
 * which is exactly when provisioning must not touch it.
 */
static int open_dev(const char *device, int mode)
{
	struct stat st;
	int fd, flags = mode | O_CLOEXEC;

	if (stat(device, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode))
		flags |= O_EXCL;
	else if (!S_ISREG(st.st_mode))
		return -ENOTBLK;
	fd = open(device, flags);
	return fd < 0 ? -errno : fd;
}

static blkid_probe new_probe(int fd)
{
	blkid_probe pr = blkid_new_probe();

	if (!pr)
		return NULL;
	if (blkid_probe_set_device(pr, fd, 0, 0) < 0) {
		blkid_free_probe(pr);
		return NULL;
	}
	blkid_probe_enable_superblocks(pr, 1);
	/* BADCSUM: a damaged LUKS or filesystem header is still somebody's data. */
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_USAGE |
					  BLKID_SUBLKS_MAGIC | BLKID_SUBLKS_BADCSUM);
	blkid_probe_enable_partitions(pr, 1);
	blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);
	return pr;
}

static void describe(blkid_probe pr, char *what, size_t len)
{
	const char *type = NULL, *usage = NULL;

	if (blkid_probe_lookup_value(pr, "PTTYPE", &type, NULL) == 0) {
		snprintf(what, len, "partition table %s", type);
		return;
	}
	blkid_probe_lookup_value(pr, "TYPE", &type, NULL);
	blkid_probe_lookup_value(pr, "USAGE", &usage, NULL);
	if (type && usage && !strcmp(usage, "filesystem"))
		snprintf(what, len, "filesystem %s", type);
	else if (type)
		snprintf(what, len, "%s (%s)", type, usage ? usage : "signature");
	else
		snprintf(what, len, "an unidentified signature");
}

/* Open device with mode and a probe on it: 0, or -errno with nothing open. */
static int open_probe(const char *device, int mode, int *fd, blkid_probe *pr)
{
	*fd = open_dev(device, mode);
	if (*fd < 0)
		return *fd;
	*pr = new_probe(*fd);
	if (!*pr) {
		close(*fd);
		return -ENOMEM;
	}
	return 0;
}

int vv_probe_content(const char *device, char *what, size_t len)
{
	blkid_probe pr = NULL;
	int fd, r;

	if (what && len)
		what[0] = '\0';
	r = open_probe(device, O_RDONLY, &fd, &pr);
	if (r < 0)
		return r;
	r = blkid_do_safeprobe(pr);
	if (r == 0) {
		describe(pr, what, len);
		r = 1;
	} else if (r == 1) {
		r = 0;
	} else if (r == -2) {
		/* Ambivalent: more than one signature. Still data. */
		snprintf(what, len, "several signatures");
		r = 1;
	} else {
		r = -EIO;
	}
	blkid_free_probe(pr);
	close(fd);
	return r;
}

/* Under --force only: erase every signature libblkid finds, like wipefs -a. */
int pv_wipe_signatures(const char *device)
{
	blkid_probe pr = NULL;
	int fd, i, r = 0;

	r = open_probe(device, O_RDWR, &fd, &pr);
	if (r < 0)
		return r;
	/*
	 * blkid_do_probe walks the signatures one by one; each wipe makes the
	 * next probe find the next one (a GPT's backup header after the
	 * primary). The bound stops a prober that keeps answering.
	 */
	for (i = 0; i < 64; i++) {
		const char *type = NULL;

		r = blkid_do_probe(pr);
		if (r != 0)
			break;
		if (blkid_probe_lookup_value(pr, "TYPE", &type, NULL) < 0)
			blkid_probe_lookup_value(pr, "PTTYPE", &type, NULL);
		if (blkid_do_wipe(pr, 0) < 0) {
			r = -errno ? -errno : -EIO;
			break;
		}
		vv_info("%s: erased the %s signature", device, type ? type : "unknown");
	}
	if (r == 1)
		r = 0;
	else if (r > 0)
		r = -EIO;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	blkid_free_probe(pr);
	close(fd);
	return r;
}

/* Size in bytes and logical sector size of a block device or image file. */
static int device_geometry(const char *device, uint64_t *size, int *lbs)
{
	struct stat st;
	int fd, r = 0;

	*size = 0;
	*lbs = 512;
	fd = open(device, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
	} else if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKSSZGET, lbs) < 0 || ioctl(fd, BLKGETSIZE64, size) < 0)
			r = -errno;
	} else {
		*size = (uint64_t)st.st_size;
	}
	close(fd);
	return r;
}

int vv_device_size(const char *device, uint64_t *size)
{
	int lbs;

	return device_geometry(device, size, &lbs);
}

int vv_pick_sector_size(const char *device, uint32_t *sector_size)
{
	uint64_t size;
	int lbs, r;

	*sector_size = 512;
	r = device_geometry(device, &size, &lbs);
	if (r < 0)
		return r;
	if (lbs > 4096)
		return -EOPNOTSUPP;	/* dm-crypt sectors cannot be smaller than the device's */
	/*
	 * 4096-byte encryption sectors: an eighth of the per-sector work and
	 * aligned with page-sized I/O. They need every I/O and the data area
	 * to be 4096-aligned, which a whole-disk size multiple of 4096 gives
	 * (the LUKS2 data offset is MiB-aligned).
	 */
	if (size % 4096 == 0)
		*sector_size = 4096;
	else
		*sector_size = (uint32_t)lbs;
	return 0;
}
