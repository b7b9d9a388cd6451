// SPDX-License-Identifier: GPL-2.0-or-later
/* Reading a key from the platform's BEK VOLUME (libblkid + libmount). */
#include "vault/bek_volume.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <blkid.h>
#include <libmount.h>

#include "vault/vault.h"
#include "base/log.h"

bool vv_bek_file_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > 255 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (name[i] == '/' || (unsigned char)name[i] < 0x20)
			return false;
	return true;
}

bool vv_bek_file_is_windows(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	return n > 4 && strcasecmp(name + n - 4, ".BEK") == 0;
}

int vv_bek_file_name_for(int controller, int lun, char *buf, size_t len)
{
	int n;

	if (controller < 0)
		n = snprintf(buf, len, "%s", VV_BEK_OS_FILE);
	else if (lun < 0)
		return -EINVAL;
	else
		n = snprintf(buf, len, "%s_%d_%d", VV_BEK_OS_FILE, controller, lun);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int vv_bek_volume_pick(int dirfd, const char *want, char *found, size_t foundlen,
		       struct vv_error *err)
{
	bool any_bek;
	struct dirent *e;
	unsigned matches = 0;
	DIR *d;
	int fd, r = 0;

	if (!want || !*want)
		want = VV_BEK_OS_FILE;
	any_bek = strcmp(want, VV_BEK_ANY_BEK) == 0;
	if (!any_bek && !vv_bek_file_name_valid(want)) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0,
			     "'%.100s' is not a file name on the BEK volume", want);
		return -EINVAL;
	}
	/* fdopendir takes the descriptor over: give it its own. */
	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "cannot list the BEK volume: %s",
			     strerror(-r));
		return r;
	}
	while ((e = readdir(d))) {
		bool hit = any_bek ? vv_bek_file_is_windows(e->d_name)
				   : strcasecmp(e->d_name, want) == 0;

		if (!hit || e->d_name[0] == '.')
			continue;
		/* An exact-case match beats a case-insensitive one. */
		if (matches == 0 || strcmp(e->d_name, want) == 0)
			snprintf(found, foundlen, "%s", e->d_name);
		matches++;
	}
	closedir(d);
	if (matches == 0) {
		vv_error_set(err, VV_CAUSE_NOT_FOUND, 0, "the BEK volume holds no %s",
			     any_bek ? "*.BEK file" : want);
		return -ENOENT;
	}
	if (any_bek && matches > 1) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0,
			     "the BEK volume holds %u .BEK files; name one (bek:<GUID>.BEK)",
			     matches);
		return -EEXIST;
	}
	return 0;
}

/* Pick and read the wanted file in the open directory dfd. */
static int read_dirfd(int dfd, const char *want, unsigned kf_flags,
		      struct vv_secret **key, char **found_name, struct vv_error *err)
{
	char found[256];
	int r;

	*key = NULL;
	if (found_name)
		*found_name = NULL;
	r = vv_bek_volume_pick(dfd, want, found, sizeof(found), err);
	if (r == 0)
		r = vv_key_file_read(dfd, found, kf_flags, key, err);
	if (r == 0 && (*key)->len == 0) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "BEK volume file %s is empty", found);
		vv_secret_free(*key);
		*key = NULL;
		r = -ENODATA;
	}
	if (r == 0 && found_name && !(*found_name = strdup(found))) {
		vv_secret_free(*key);
		*key = NULL;
		r = -ENOMEM;
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "out of memory");
	}
	return r;
}

static int read_dir(const char *dir, const char *want, unsigned kf_flags,
		    struct vv_secret **key, char **found_name, struct vv_error *err)
{
	int dfd, r;

	*key = NULL;
	if (found_name)
		*found_name = NULL;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		r = -errno;
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "%s: %s", dir, strerror(-r));
		return r;
	}
	r = read_dirfd(dfd, want, kf_flags, key, found_name, err);
	close(dfd);
	return r;
}

int vv_bek_volume_read_dir(const char *dir, const char *want,
			   struct vv_secret **key, char **found_name,
			   struct vv_error *err)
{
	return read_dir(dir, want, VV_KF_PRIVATE | VV_KF_NOFOLLOW, key, found_name, err);
}

bool vv_bek_volume_probe(const char *dev, const char *label)
{
	blkid_probe pr = blkid_new_probe_from_filename(dev);
	const char *type = NULL, *lbl = NULL;
	bool ok = false;

	if (!pr)
		return false;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_LABEL | BLKID_SUBLKS_TYPE);
	if (blkid_do_safeprobe(pr) == 0 &&
	    blkid_probe_lookup_value(pr, "TYPE", &type, NULL) == 0 &&
	    blkid_probe_lookup_value(pr, "LABEL", &lbl, NULL) == 0)
		ok = strcmp(type, "vfat") == 0 && strcmp(lbl, label) == 0;
	blkid_free_probe(pr);
	return ok;
}

int vv_bek_volume_choose(char *const *devs, size_t n, const char *label, char **devname,
			 struct vv_error *err)
{
	*devname = NULL;
	if (n == 0) {
		vv_error_set(err, VV_CAUSE_NOT_FOUND, 0,
			     "no vfat filesystem labelled '%s' is attached", label);
		return -ENOENT;
	}
	if (n > 1) {
		/* The key of the wrong VM's BEK volume must never be used silently. */
		vv_error_set(err, VV_CAUSE_CONFIG, 0,
			     "%zu filesystems are labelled '%s' (%s and %s%s): refusing to choose; "
			     "detach the one that is not this VM's", n, label, devs[0], devs[1],
			     n > 2 ? ", ..." : "");
		return -ENOTUNIQ;
	}
	*devname = strdup(devs[0]);
	if (!*devname) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

int vv_bek_volume_find(const char *label, char **devname, struct vv_error *err)
{
	blkid_cache cache = NULL;
	blkid_dev_iterate it;
	blkid_dev bdev;
	char **devs = NULL;
	size_t n = 0;
	int r = 0;

	*devname = NULL;
	if (!label || !*label)
		label = VV_BEK_VOLUME_LABEL;
	/*
	 * A cache that is never read from or written to disk: the answer
	 * must come from the devices present now (a restored VM has new
	 * ones), and we leave no file behind. Every device is probed, so a
	 * second volume with the same label is seen, not hidden by the first.
	 */
	if (blkid_get_cache(&cache, "/dev/null") < 0) {
		vv_error_set(err, VV_CAUSE_UNAVAILABLE, 0, "libblkid: cannot create a cache");
		return -ENOMEM;
	}
	blkid_probe_all(cache);
	it = blkid_dev_iterate_begin(cache);
	if (it)
		blkid_dev_set_search(it, "LABEL", (char *)label);
	while (it && blkid_dev_next(it, &bdev) == 0) {
		const char *name = blkid_dev_devname(bdev);
		char **nd;

		/* Confirmed by a fresh probe: vfat and exactly this label. */
		if (!name || !vv_bek_volume_probe(name, label))
			continue;
		nd = realloc(devs, (n + 1) * sizeof(*nd));
		if (!nd || !(nd[n] = strdup(name))) {
			if (nd)
				devs = nd;
			r = -ENOMEM;
			break;
		}
		devs = nd;
		n++;
	}
	blkid_dev_iterate_end(it);
	blkid_put_cache(cache);
	if (r == 0)
		r = vv_bek_volume_choose(devs, n, label, devname, err);
	else
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "out of memory");
	for (size_t i = 0; i < n; i++)
		free(devs[i]);
	free(devs);
	return r;
}

/*
 * Where dev is mounted already (the fstab line ADE writes mounts it at
 * /mnt/azure_bek_disk, read-write, before vaultvol runs): a vfat mount of
 * the whole filesystem whose directory really is on dev now (st_dev, so a
 * mount stacked over it does not count). 0 with the directory in dir.
 */
static int find_mounted(const char *dev, char *dir, size_t dirlen)
{
	struct libmnt_table *tb;
	struct libmnt_iter *itr;
	struct libmnt_fs *fs;
	struct stat ds, ts;
	int r = -ENOENT;

	if (stat(dev, &ds) < 0 || !S_ISBLK(ds.st_mode))
		return -ENOENT;
	tb = mnt_new_table_from_file("/proc/self/mountinfo");
	itr = mnt_new_iter(MNT_ITER_BACKWARD);
	while (tb && itr && r < 0 && mnt_table_next_fs(tb, itr, &fs) == 0) {
		const char *t = mnt_fs_get_target(fs), *type = mnt_fs_get_fstype(fs);
		const char *root = mnt_fs_get_root(fs);

		if (mnt_fs_get_devno(fs) != ds.st_rdev || !t || !type || strcmp(type, "vfat") ||
		    (root && strcmp(root, "/")))
			continue;
		if (stat(t, &ts) < 0 || ts.st_dev != ds.st_rdev || ts.st_uid != 0)
			continue;
		snprintf(dir, dirlen, "%s", t);
		r = 0;
	}
	mnt_free_iter(itr);
	mnt_unref_table(tb);
	return r;
}

/* /run/vaultvol: made 0700 when missing, refused when others could reach into it. */
static int prepare_run_dir(struct vv_error *err)
{
	struct stat st;
	int r;

	if (mkdir("/run", 0755) < 0 && errno != EEXIST)
		goto fail;
	if (mkdir(VV_BEK_RUN_DIR, 0700) < 0 && errno != EEXIST)
		goto fail;
	if (lstat(VV_BEK_RUN_DIR, &st) < 0)
		goto fail;
	if (!S_ISDIR(st.st_mode)) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "%s is not a directory", VV_BEK_RUN_DIR);
		return -ENOTDIR;
	}
	return vv_stat_private(&st, VV_BEK_RUN_DIR, err) ? 0 : -EPERM;
fail:
	r = -errno;
	vv_error_set(err, VV_CAUSE_CONFIG, 0, "%s: %s", VV_BEK_RUN_DIR, strerror(-r));
	return r;
}

/* One libmount mount; returns 0 or -errno with a message in err. */
static int do_mount(const char *source, const char *target, const char *fstype,
		    const char *options, struct vv_error *err)
{
	struct libmnt_context *cxt = mnt_new_context();
	int r;

	if (!cxt) {
		vv_error_set(err, VV_CAUSE_UNAVAILABLE, 0, "libmount: out of memory");
		return -ENOMEM;
	}
	/*
	 * No fstab lookup, no /sbin/mount.<type> helper, no utab entry: this
	 * mount is ours alone and lives for a few milliseconds.
	 */
	mnt_context_set_optsmode(cxt, MNT_OMODE_NOTAB);
	mnt_context_disable_helpers(cxt, 1);
	mnt_context_disable_mtab(cxt, 1);
	mnt_context_disable_canonicalize(cxt, 1);
	r = mnt_context_set_source(cxt, source);
	if (!r)
		r = mnt_context_set_target(cxt, target);
	if (!r && fstype)
		r = mnt_context_set_fstype(cxt, fstype);
	if (!r)
		r = mnt_context_set_options(cxt, options);
	if (!r)
		r = mnt_context_mount(cxt);
	if (r == 0 && mnt_context_get_status(cxt) != 1)
		r = -EIO;
	if (r != 0) {
		int e = mnt_context_syscall_called(cxt) ? mnt_context_get_syscall_errno(cxt) : 0;

		r = e ? -e : (r < 0 ? r : -EIO);
		/* A disk matter, not a vault outage: CONFIG is never retried. */
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "mounting %s on %s (%s) failed: %s",
			     source, target, options, strerror(-r));
	}
	mnt_free_context(cxt);
	return r;
}

/* Unmount target: libmount first, then a lazy detach so nothing stays behind. */
static int do_umount(const char *target)
{
	struct libmnt_context *cxt = mnt_new_context();
	int r = -ENOMEM;

	if (cxt) {
		mnt_context_disable_mtab(cxt, 1);
		mnt_context_disable_helpers(cxt, 1);
		r = mnt_context_set_target(cxt, target);
		if (!r)
			r = mnt_context_umount(cxt);
		if (r == 0 && mnt_context_get_status(cxt) != 1)
			r = -EIO;
		mnt_free_context(cxt);
	}
	if (r != 0) {
		if (umount2(target, UMOUNT_NOFOLLOW) == 0)
			return 0;
		if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) == 0) {
			vv_warn("BEK volume mount %s was busy; detached it", target);
			return 0;
		}
		vv_err("cannot unmount %s: %s", target, strerror(errno));
		return -errno;
	}
	return 0;
}

/* Debug: how the volume is really mounted (options, propagation), from mountinfo. */
static void log_mount(const char *dev, const char *dir)
{
	struct libmnt_table *tb;
	struct libmnt_fs *fs;

	if (vv_log_get_level() < VV_LOG_DEBUG)
		return;
	tb = mnt_new_table_from_file("/proc/self/mountinfo");
	fs = tb ? mnt_table_find_target(tb, dir, MNT_ITER_BACKWARD) : NULL;
	if (fs)
		vv_debug("BEK volume %s mounted on %s: type %s, vfs options %s, "
			 "fs options %s, propagation %s", dev, dir,
			 mnt_fs_get_fstype(fs) ? mnt_fs_get_fstype(fs) : "?",
			 mnt_fs_get_vfs_options(fs) ? mnt_fs_get_vfs_options(fs) : "",
			 mnt_fs_get_fs_options(fs) ? mnt_fs_get_fs_options(fs) : "",
			 mnt_fs_get_optional_fields(fs) && *mnt_fs_get_optional_fields(fs)
			 ? mnt_fs_get_optional_fields(fs) : "private");
	mnt_unref_table(tb);
}

/*
 * /run/vaultvol cannot hold a mount point: /run is read-only or out of
 * space or inodes (a full tmpfs refuses mkdir with ENOSPC). Those are the
 * errors a detached mount gets round; anything else (a mount point others
 * could reach into) is refused as it is.
 */
static bool run_dir_unusable(int r)
{
	return r == -EROFS || r == -ENOSPC || r == -EDQUOT;
}

/*
 * Mount the BEK volume with the kernel's mount API (fsopen/fsmount, Linux
 * 5.2) and read it through the mount's own file descriptor: the mount is
 * attached nowhere, so it needs no mount point, is seen by no namespace,
 * and goes away with the last descriptor, even if this process is killed.
 * The same options as the mount under /run/vaultvol.
 */
static int read_detached(const char *dev, const char *want, struct vv_secret **key,
			 char **found_name, struct vv_error *err)
{
	static const char *const opts[][2] = {
		{ "uid", "0" }, { "gid", "0" }, { "fmask", "0077" }, { "dmask", "0077" },
		{ "iocharset", "utf8" },
	};
	const char *step = "fsopen";
	int fsfd, mfd = -1, dfd = -1, r = 0;

	fsfd = fsopen("vfat", FSOPEN_CLOEXEC);
	if (fsfd < 0)
		goto fail;
	step = "fsconfig";
	if (fsconfig(fsfd, FSCONFIG_SET_STRING, "source", dev, 0) < 0 ||
	    fsconfig(fsfd, FSCONFIG_SET_FLAG, "ro", NULL, 0) < 0)
		goto fail;
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (fsconfig(fsfd, FSCONFIG_SET_STRING, opts[i][0], opts[i][1], 0) < 0)
			goto fail;
	step = "mount";
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		goto fail;
	mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
		      MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	if (mfd < 0)
		goto fail;
	/* fsmount's descriptor is O_PATH: open the root to list it. */
	dfd = openat(mfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		goto fail;
	vv_debug("BEK volume %s mounted detached (read-only, nosuid, nodev, noexec)", dev);
	r = read_dirfd(dfd, want, VV_KF_PRIVATE | VV_KF_NOFOLLOW, key, found_name, err);
	goto out;
fail:
	r = -errno;
	/* A disk or kernel matter, not a vault outage: CONFIG is never retried. */
	vv_error_set(err, VV_CAUSE_CONFIG, 0, "mounting %s without a mount point (%s) failed: %s",
		     dev, step, strerror(-r));
out:
	if (dfd >= 0)
		close(dfd);
	if (mfd >= 0)
		close(mfd);
	if (fsfd >= 0)
		close(fsfd);
	return r;
}

int vv_bek_volume_read(const char *label, const char *want,
		       struct vv_secret **key, char **found_name, char **device,
		       struct vv_error *err)
{
	char dir[sizeof(VV_BEK_RUN_DIR "/bek-") + 6];
	char *dev = NULL;
	bool made = false, bound = false, mounted = false;
	int r;

	*key = NULL;
	if (found_name)
		*found_name = NULL;
	if (device)
		*device = NULL;
	r = vv_bek_volume_find(label, &dev, err);
	if (r < 0)
		return r;
	{
		char there[PATH_MAX];

		if (find_mounted(dev, there, sizeof(there)) == 0) {
			/*
			 * Mounting it again read-only would fail (EBUSY: one
			 * superblock, mounted read-write). Read it where it is.
			 * Its files are as private as that mount makes them
			 * (ADE's fstab line sets no fmask): they are root's,
			 * and this process only reads them.
			 */
			vv_debug("BEK volume %s is mounted on %s; reading it there", dev, there);
			r = read_dir(there, want, VV_KF_NOFOLLOW, key, found_name, err);
			goto out;
		}
	}
	r = prepare_run_dir(err);
	if (r == 0) {
		/* mkdtemp's template: the prefix, then six 'X' it replaces. */
		snprintf(dir, sizeof(dir), "%s/bek-", VV_BEK_RUN_DIR);
		memset(dir + strlen(dir), 'X', 6);
		dir[sizeof(dir) - 1] = '\0';
		if (!mkdtemp(dir)) {
			r = -errno;
			vv_error_set(err, VV_CAUSE_CONFIG, 0, "mkdtemp under %s: %s",
				     VV_BEK_RUN_DIR, strerror(-r));
		}
	}
	if (run_dir_unusable(r)) {
		struct vv_error why;

		if (err)
			why = *err;
		vv_warn("%s cannot hold a mount point (%s); reading the BEK volume "
			"through a detached mount instead", VV_BEK_RUN_DIR, strerror(-r));
		r = read_detached(dev, want, key, found_name, err);
		/* Without the mount API (before Linux 5.2) the first cause is the one to fix. */
		if (r == -ENOSYS && err)
			*err = why;
		goto out;
	}
	if (r < 0)
		goto out;
	made = true;
	/*
	 * Make the mount point a private mount of its own first: mounting
	 * the volume under a shared parent would copy it into every peer
	 * mount namespace, and making it private afterwards does not undo
	 * those copies.
	 */
	r = do_mount(dir, dir, NULL, "bind,private", err);
	if (r < 0)
		goto out;
	bound = true;
	/*
	 * iocharset is explicit: the kernel default (often "ascii") is a
	 * build option, and its nls module may be missing (initramfs, minimal
	 * images). Names are matched by us (vv_bek_volume_pick), not by the
	 * kernel's case folding.
	 */
	r = do_mount(dev, dir, "vfat",
		     "ro,nosuid,nodev,noexec,private,uid=0,gid=0,fmask=0077,dmask=0077,"
		     "iocharset=utf8", err);
	if (r < 0)
		goto out;
	mounted = true;
	log_mount(dev, dir);
	r = vv_bek_volume_read_dir(dir, want, key, found_name, err);
out:
	if (mounted && do_umount(dir) < 0 && r == 0) {
		/* The key was read, but leaving the volume mounted must be seen. */
		vv_warn("the BEK volume stays mounted on %s", dir);
	}
	if (bound)
		do_umount(dir);
	if (made && rmdir(dir) < 0)
		vv_warn("cannot remove %s: %s", dir, strerror(errno));
	if (r == 0 && device)
		*device = dev;
	else
		free(dev);
	if (r < 0) {
		vv_secret_free(*key);
		*key = NULL;
		if (found_name) {
			free(*found_name);
			*found_name = NULL;
		}
	}
	return r;
}
