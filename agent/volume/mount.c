// SPDX-License-Identifier: GPL-2.0-or-later
#include "agent/volume/mount.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <blkid.h>
#include <libmount.h>
#include <linux/openat2.h>

#include "agent/config/config.h"
#include "base/log.h"

/* The whole existing path, no symlink anywhere in it (Linux 5.6+). */
static int open_dir_no_symlinks(const char *path)
{
#ifdef SYS_openat2
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));

	return fd >= 0 ? (int)fd : -errno;
#else
	(void)path;
	return -ENOSYS;
#endif
}

/* A "." or ".." component: a path that is not what it says. */
static bool has_dot_component(const char *path)
{
	for (const char *c = path; c; c = strchr(c + 1, '/')) {
		const char *n = c + (*c == '/');
		size_t len = strcspn(n, "/");

		if ((len == 1 && n[0] == '.') || (len == 2 && n[0] == '.' && n[1] == '.'))
			return true;
	}
	return false;
}

int vv_mount_point_walk(const char *target)
{
	char buf[PATH_MAX];
	char *save = NULL, *comp;
	int fd, nfd, r;

	if (target[0] != '/' || has_dot_component(target))
		return -EINVAL;
	if (strlen(target) >= sizeof(buf))
		return -ENAMETOOLONG;
	snprintf(buf, sizeof(buf), "%s", target);
	fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (comp = strtok_r(buf, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		bool created = false;

		if (mkdirat(fd, comp, 0755) == 0)
			created = true;
		else if (errno != EEXIST) {
			r = -errno;
			goto fail;
		}
		nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0) {
			struct stat st;

			/* O_DIRECTORY|O_NOFOLLOW on a symlink says ENOTDIR: name it. */
			r = -errno;
			if (fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
				r = -ELOOP;
			goto fail;
		}
		close(fd);
		fd = nfd;
		if (created && fchmod(fd, 0755) < 0) {
			r = -errno;
			goto fail;
		}
	}
	return fd;
fail:
	close(fd);
	return r;
}

int vv_mount_point_open(const char *target)
{
	int fd;

	if (target[0] != '/' || has_dot_component(target))
		return -EINVAL;
	/* The whole path at once when it exists; else (or without openat2) walk. */
	fd = open_dir_no_symlinks(target);
	if (fd >= 0 || fd == -ELOOP || fd == -ENOTDIR)
		return fd;
	return vv_mount_point_walk(target);
}

/* 1 when the directory fd holds nothing but . and .., 0 when it does, -errno. */
static int dir_is_empty(int fd)
{
	DIR *d;
	struct dirent *e;
	int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0), r = 1;

	if (dfd < 0)
		return -errno;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			r = 0;
			break;
		}
	closedir(d);
	return r;
}

static struct libmnt_table *load_mountinfo(void)
{
	struct libmnt_table *tb = mnt_new_table();

	if (!tb)
		return NULL;
	if (mnt_table_parse_file(tb, "/proc/self/mountinfo") < 0) {
		mnt_unref_table(tb);
		return NULL;
	}
	return tb;
}

/*
 * Does mount entry fs have device dev as its source? By device number for
 * kernel filesystems; by path for FUSE (ntfs-3g records the path it was
 * given, and the device number is FUSE's anonymous one).
 */
static bool fs_is_dev(struct libmnt_fs *fs, dev_t rdev, const char *dev_real)
{
	const char *src = mnt_fs_get_srcpath(fs);
	char real[PATH_MAX];

	if (rdev && mnt_fs_get_devno(fs) == rdev)
		return true;
	if (!src || src[0] != '/')
		return false;
	if (dev_real && realpath(src, real) && strcmp(real, dev_real) == 0)
		return true;
	return false;
}

/* First mount entry whose source is dev, or NULL. */
static struct libmnt_fs *find_dev(struct libmnt_table *tb, const char *dev)
{
	struct libmnt_iter *it = mnt_new_iter(MNT_ITER_FORWARD);
	struct libmnt_fs *fs = NULL, *found = NULL;
	char dev_real[PATH_MAX];
	struct stat st;
	dev_t rdev = 0;

	if (!it)
		return NULL;
	if (stat(dev, &st) == 0 && S_ISBLK(st.st_mode))
		rdev = st.st_rdev;
	if (!realpath(dev, dev_real))
		snprintf(dev_real, sizeof(dev_real), "%s", dev);
	while (mnt_table_next_fs(tb, it, &fs) == 0) {
		if (fs_is_dev(fs, rdev, dev_real)) {
			found = fs;
			break;
		}
	}
	mnt_free_iter(it);
	return found;
}

/* The topmost mount on target (canonical path), or NULL. */
static struct libmnt_fs *find_target(struct libmnt_table *tb, const char *target)
{
	char real[PATH_MAX];

	if (!realpath(target, real))
		return NULL;
	return mnt_table_find_target(tb, real, MNT_ITER_BACKWARD);
}

bool vv_mount_is_mounted(const char *path)
{
	struct libmnt_table *tb = load_mountinfo();
	struct stat st;
	bool r = false;

	if (!tb)
		return false;
	if (stat(path, &st) == 0 && S_ISBLK(st.st_mode))
		r = find_dev(tb, path) != NULL;
	else if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		char real[PATH_MAX];

		/* A directory is "mounted" only when it is itself a mount point. */
		if (realpath(path, real)) {
			struct libmnt_fs *fs = mnt_table_find_target(tb, real, MNT_ITER_BACKWARD);

			r = fs && strcmp(mnt_fs_get_target(fs), real) == 0;
		}
	}
	mnt_unref_table(tb);
	return r;
}

int vv_mount_find(const char *dev, char *target, size_t len)
{
	struct libmnt_table *tb = load_mountinfo();
	struct libmnt_fs *fs;
	int r = -ENOENT;

	if (!tb)
		return -ENOMEM;
	fs = find_dev(tb, dev);
	if (fs) {
		snprintf(target, len, "%s", mnt_fs_get_target(fs));
		r = 0;
	}
	mnt_unref_table(tb);
	return r;
}

int vv_mount_detect_fs(const char *dev, char *fs, size_t len)
{
	blkid_probe pr = blkid_new_probe_from_filename(dev);
	const char *type = NULL;
	int r = -ENOENT;

	if (!pr)
		return errno ? -errno : -ENOENT;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
	if (blkid_do_safeprobe(pr) == 0 &&
	    blkid_probe_lookup_value(pr, "TYPE", &type, NULL) == 0 && type) {
		snprintf(fs, len, "%s", type);
		r = 0;
	}
	blkid_free_probe(pr);
	return r;
}

bool vv_mount_fs_allowed(const char *fs)
{
	static const char *const ok[] = { "ext4", "xfs", "btrfs", "vfat", "ntfs", "ntfs3" };

	for (size_t i = 0; fs && i < sizeof(ok) / sizeof(ok[0]); i++)
		if (!strcmp(fs, ok[i]))
			return true;
	return false;
}

/* Generic options a token may give: they only restrict or tune. */
static const char *const token_vfs_opts[] = {
	"defaults", "ro", "rw", "nosuid", "nodev", "noexec", "sync", "async", "dirsync",
	"atime", "noatime", "diratime", "nodiratime", "relatime", "norelatime",
	"strictatime", "nostrictatime", "lazytime", "nolazytime", "silent", "loud",
};

/*
 * Filesystem options of ext4, xfs, btrfs, vfat and NTFS that name nothing
 * outside the filesystem (journal_path=, device=, ... would reach other
 * block devices) and grant nothing nosuid/nodev would not cover.
 */
static const char *const token_fs_opts[] = {
	"discard", "nodiscard", "errors", "data", "commit", "barrier", "nobarrier",
	"acl", "noacl", "user_xattr", "nouser_xattr", "usrquota", "grpquota", "prjquota",
	"quota", "noquota", "norecovery", "noload", "nouuid", "inode64", "inode32",
	"largeio", "nolargeio", "logbufs", "logbsize", "allocsize", "compress",
	"compress-force", "space_cache", "ssd", "nossd", "ssd_spread", "autodefrag",
	"noautodefrag", "subvol", "subvolid", "uid", "gid", "umask", "dmask", "fmask",
	"utf8", "iocharset", "codepage", "shortname", "flush", "windows_names",
	"big_writes", "prealloc", "hide_dot_files", "showmeta", "streams_interface",
};

static bool in_list(const char *const *list, size_t n, const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(list[i]) == len && !strncmp(list[i], name, len))
			return true;
	return false;
}

int vv_mount_options_check(const char *options, unsigned allowed, char *why, size_t whylen)
{
	static const struct { const char *name; unsigned bit; } gated[] = {
		{ "suid", VV_TOKOPT_SUID }, { "dev", VV_TOKOPT_DEV }, { "exec", VV_TOKOPT_EXEC },
	};
	char *optstr = (char *)(options ? options : ""), *name, *value;
	size_t namesz, valsz;
	int rc;

	/*
	 * No option this list allows needs quoting, and libmount drops an
	 * unterminated quote silently: what we check must be what is mounted.
	 */
	if (strchr(optstr, '"')) {
		snprintf(why, whylen, "options '%s' are quoted", optstr);
		return -EINVAL;
	}
	while ((rc = mnt_optstr_next_option(&optstr, &name, &namesz, &value, &valsz)) == 0) {
		bool known = false;

		for (size_t i = 0; i < sizeof(gated) / sizeof(gated[0]); i++) {
			if (strlen(gated[i].name) != namesz || strncmp(gated[i].name, name, namesz))
				continue;
			if (value || !(allowed & gated[i].bit)) {
				snprintf(why, whylen, "option '%s' needs 'token_options_allowed = %s' "
					 "in [open]", gated[i].name, gated[i].name);
				return -EPERM;
			}
			known = true;
		}
		if (!known && !value &&
		    in_list(token_vfs_opts, sizeof(token_vfs_opts) / sizeof(token_vfs_opts[0]),
			    name, namesz))
			known = true;
		if (!known &&
		    in_list(token_fs_opts, sizeof(token_fs_opts) / sizeof(token_fs_opts[0]),
			    name, namesz))
			known = true;
		/* errors=panic: a damaged filesystem would take the whole VM down. */
		if (known && namesz == 6 && !strncmp(name, "errors", 6) && value &&
		    valsz == 5 && !strncmp(value, "panic", 5))
			known = false;
		if (!known) {
			snprintf(why, whylen, "option '%.*s' is not one a token may give",
				 (int)(value ? (size_t)(value - name) + valsz : namesz), name);
			return -EPERM;
		}
	}
	if (rc < 0) {
		snprintf(why, whylen, "options '%s' do not parse", options);
		return -EINVAL;
	}
	return 0;
}

static bool has_option(const char *optstr, const char *name)
{
	return optstr && mnt_optstr_get_option(optstr, name, NULL, NULL) == 0;
}

/*
 * libmount's optstr helpers do the editing. "defaults" is dropped because
 * ntfs-3g does not know it (the kernel ignores it); "ro" goes first so
 * a human reading mountinfo sees it.
 */
int vv_mount_options_build(const char *options, bool readonly, char **out)
{
	char *s = strdup(options ? options : "");
	int r = -ENOMEM;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	while (mnt_optstr_remove_option(&s, "defaults") == 0)
		;
	if (readonly) {
		while (mnt_optstr_remove_option(&s, "rw") == 0)
			;
		while (mnt_optstr_remove_option(&s, "ro") == 0)
			;
	}
	/* Nothing left: start afresh (libmount would keep a stray comma). */
	if (!*s) {
		free(s);
		s = NULL;
	}
	if (readonly && mnt_optstr_prepend_option(&s, "ro", NULL))
		goto out;
	if (!has_option(s, "suid") && !has_option(s, "nosuid") &&
	    mnt_optstr_append_option(&s, "nosuid", NULL))
		goto out;
	if (!has_option(s, "dev") && !has_option(s, "nodev") &&
	    mnt_optstr_append_option(&s, "nodev", NULL))
		goto out;
	*out = s;
	s = NULL;
	r = 0;
out:
	free(s);
	return r;
}

static const char *ntfs3g_path(void)
{
	static const char *const cand[] = {
		"/usr/bin/ntfs-3g", "/bin/ntfs-3g", "/sbin/mount.ntfs-3g",
		"/usr/sbin/mount.ntfs-3g",
	};

	for (size_t i = 0; i < sizeof(cand) / sizeof(cand[0]); i++)
		if (access(cand[i], X_OK) == 0)
			return cand[i];
	return NULL;
}

/*
 * ntfs-3g DEV TARGET [-o OPTS], with a fixed environment (nothing of ours is
 * inherited) and its output captured in a memfd for the error message (a
 * pipe could be held open by the FUSE daemon it leaves behind). The
 * foreground process exits after mounting, so its status is the result.
 */
static int mount_ntfs3g(const char *dev, const char *target, const char *opts,
			struct vv_error *err)
{
	const char *bin = ntfs3g_path();
	char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", NULL };
	char *argv[7];
	int argc = 0, ofd, status = 0, r;
	posix_spawn_file_actions_t fa;
	char buf[VV_MOUNT_HELPER_OUT_MAX + 1];
	ssize_t got;
	size_t n;
	pid_t pid;

	if (!bin)
		return vv_fail(err, -ENOENT, VV_CAUSE_SYSTEM,
			       "ntfs-3g is not installed (needed for NTFS)");
	argv[argc++] = (char *)bin;
	argv[argc++] = (char *)dev;
	argv[argc++] = (char *)target;
	if (opts && *opts) {
		argv[argc++] = "-o";
		argv[argc++] = (char *)opts;
	}
	argv[argc] = NULL;
	ofd = memfd_create("vaultvol-ntfs-3g", MFD_CLOEXEC);
	if (ofd < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, ofd, 1);
	posix_spawn_file_actions_adddup2(&fa, ofd, 2);
	r = posix_spawn(&pid, bin, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0) {
		close(ofd);
		return vv_fail(err, -r, VV_CAUSE_SYSTEM, "cannot run %s: %s", bin, strerror(r));
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	/* One byte more than kept: tells whether there was more. */
	got = pread(ofd, buf, sizeof(buf), 0);
	close(ofd);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	/*
	 * Its whole complaint, as it wrote it (the reason is often on a later
	 * line than the first), up to VV_MOUNT_HELPER_OUT_MAX bytes.
	 */
	n = got > 0 ? (size_t)got : 0;
	if (n > VV_MOUNT_HELPER_OUT_MAX)
		n = VV_MOUNT_HELPER_OUT_MAX;
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	/* It may echo a volume label from the disk: no terminal escapes pass. */
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)buf[i] < 0x20 && buf[i] != '\n' && buf[i] != '\t') ||
		    buf[i] == 0x7f)
			buf[i] = '?';
	return vv_fail(err, -EIO, VV_CAUSE_SYSTEM, "ntfs-3g failed (status %d)%s%s%s",
		       WIFEXITED(status) ? WEXITSTATUS(status) : -1, n ? ": " : "", buf,
		       got > VV_MOUNT_HELPER_OUT_MAX ? " [...]" : "");
}

/*
 * After a failed (u)mount through cxt: libmount's text for it in msg, and
 * the errno of the syscall it made (0 when none failed).
 */
static int ctx_failure(struct libmnt_context *cxt, int rc, char *msg, size_t len)
{
	int e = mnt_context_syscall_called(cxt) ? mnt_context_get_syscall_errno(cxt) : 0;

	mnt_context_get_excode(cxt, rc, msg, len);
	return e;
}

/*
 * target_fd is the mount point vv_mount_point_open checked: mount(2) is
 * given /proc/self/fd/N, so a directory swapped for a symlink after the
 * check is not followed (libmount must not canonicalise it back into a
 * path). Without /proc, the path itself.
 */
static int mount_libmount(const char *dev, const char *target, int target_fd, const char *fs,
			  const char *opts, bool untrusted, struct vv_error *err)
{
	struct libmnt_context *cxt = mnt_new_context();
	char msg[1024] = "", fdpath[64];
	const char *at = target;
	int rc, r = 0;

	if (!cxt)
		return -ENOMEM;
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", target_fd);
	if (access(fdpath, F_OK) == 0) {
		at = fdpath;
		if (mnt_context_disable_canonicalize(cxt, 1)) {
			r = -ENOMEM;
			goto out;
		}
	}
	/* Source and target are explicit: fstab must not add to them. */
	mnt_context_set_optsmode(cxt, MNT_OMODE_IGNORE);
	/* A disk must not pick a program to run: mount(2) only, no /sbin/mount.TYPE. */
	if (untrusted && mnt_context_disable_helpers(cxt, 1)) {
		r = -ENOMEM;
		goto out;
	}
	if (mnt_context_set_source(cxt, dev) || mnt_context_set_target(cxt, at) ||
	    mnt_context_set_fstype(cxt, fs) ||
	    (opts && *opts && mnt_context_set_options(cxt, opts))) {
		r = -ENOMEM;
		goto out;
	}
	rc = mnt_context_mount(cxt);
	if (rc != 0 || mnt_context_get_status(cxt) != 1) {
		int e = ctx_failure(cxt, rc, msg, sizeof(msg));

		r = vv_fail(err, e ? -e : -EINVAL, VV_CAUSE_SYSTEM, "mount %s on %s (%s): %s",
			    dev, target, fs, msg[0] ? msg : (e ? strerror(e) : "failed"));
	}
out:
	mnt_free_context(cxt);
	return r;
}

/* Is dev already mounted (1: on target, -EBUSY: elsewhere) or target taken (-EBUSY)? 0: neither. */
static int mount_state(const char *dev, const char *target, struct vv_error *err)
{
	struct libmnt_table *tb = load_mountinfo();
	struct libmnt_fs *m;
	char real[PATH_MAX];
	int r = 0;

	if (!tb)
		return vv_fail(err, -EIO, VV_CAUSE_SYSTEM, "cannot read /proc/self/mountinfo");
	m = find_dev(tb, dev);
	if (m) {
		const char *t = mnt_fs_get_target(m);

		if (realpath(target, real) && strcmp(real, t) == 0)
			r = 1;
		else {
			r = vv_fail(err, -EBUSY, VV_CAUSE_SYSTEM,
				    "%s is already mounted on %s", dev, t);
		}
		goto out;
	}
	m = find_target(tb, target);
	if (m && realpath(target, real) && strcmp(mnt_fs_get_target(m), real) == 0)
		r = vv_fail(err, -EBUSY, VV_CAUSE_SYSTEM, "%s already has %s mounted on it", target,
			    mnt_fs_get_source(m) ? mnt_fs_get_source(m) : "another filesystem");
out:
	mnt_unref_table(tb);
	return r;
}

int vv_mount_volume(const char *dev, const char *target, const char *fs,
		    const char *options, unsigned flags, struct vv_error *err)
{
	bool untrusted = flags & VV_MOUNT_UNTRUSTED;
	char detected[64], *opts = NULL;
	int dfd = -1, r;

	vv_error_clear(err);
	if (!dev || !target || target[0] != '/')
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG, "mount point must be an absolute path");
	/* Idempotence first: nothing is created or changed when it is done. */
	r = mount_state(dev, target, err);
	if (r != 0)
		return r;
	if (!fs || !*fs || !strcmp(fs, "auto")) {
		r = vv_mount_detect_fs(dev, detected, sizeof(detected));
		if (r < 0)
			return vv_fail(err, -ENOENT, VV_CAUSE_SYSTEM,
				       "no filesystem found on %s (not formatted, or wrong key?)",
				       dev);
		fs = detected;
	}
	/* Detected or named, the filesystem driver parses what the disk holds. */
	if (untrusted && !vv_mount_fs_allowed(fs))
		return vv_fail(err, -EMEDIUMTYPE, VV_CAUSE_CONFIG,
			       "%s holds a %s filesystem; a volume its token describes may "
			       "be ext4, xfs, btrfs, vfat or ntfs", dev, fs);
	r = vv_mount_options_build(options, flags & VV_MOUNT_READONLY, &opts);
	if (r < 0)
		return vv_fail(err, r, VV_CAUSE_SYSTEM, "cannot build the mount options");
	dfd = vv_mount_point_open(target);
	if (dfd < 0) {
		r = vv_fail(err, dfd, dfd == -ELOOP ? VV_CAUSE_CONFIG : VV_CAUSE_SYSTEM,
			    dfd == -ELOOP ? "cannot use mount point %s: a symlink is on the "
			    "way (vaultvol follows none)" : "cannot create mount point %s: %s", target,
			    strerror(-dfd));
		goto out;
	}
	if (untrusted && (r = dir_is_empty(dfd)) != 1) {
		r = vv_fail(err, r < 0 ? r : -ENOTEMPTY, VV_CAUSE_CONFIG,
			    "mount point %s is not empty: a volume its token describes "
			    "never hides files", target);
		goto out;
	}
	vv_debug("mount %s on %s type %s options '%s'", dev, target, fs, opts);
	if (!strcmp(fs, "ntfs") || !strcmp(fs, "ntfs-3g"))
		r = mount_ntfs3g(dev, target, opts, err);
	else
		r = mount_libmount(dev, target, dfd, fs, opts, untrusted, err);
out:
	if (dfd >= 0)
		close(dfd);
	free(opts);
	return r;
}

int vv_umount(const char *target, struct vv_error *err)
{
	struct libmnt_context *cxt;
	char msg[1024] = "";
	int rc, r = 0;

	if (!vv_mount_is_mounted(target))
		return -ENOENT;
	cxt = mnt_new_context();
	if (!cxt)
		return -ENOMEM;
	if (mnt_context_set_target(cxt, target)) {
		r = -ENOMEM;
		goto out;
	}
	rc = mnt_context_umount(cxt);
	if (rc != 0 || mnt_context_get_status(cxt) != 1) {
		int e = ctx_failure(cxt, rc, msg, sizeof(msg));

		r = vv_fail(err, e ? -e : -EIO, VV_CAUSE_SYSTEM, "umount %s: %s", target,
			    msg[0] ? msg : (e ? strerror(e) : "failed"));
	}
out:
	mnt_free_context(cxt);
	return r;
}
