// SPDX-License-Identifier: GPL-2.0-or-later
#include "agent/mount.h"

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
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <blkid.h>
#include <libmount.h>

#include "vault/log.h"

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* mkdir -p with mode 0755; existing directories are fine. */
static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (mkdir(buf, 0755) < 0 && errno != EEXIST)
				return -errno;
			*p = c;
			if (c == '\0')
				break;
		}
	}
	{
		struct stat st;

		if (stat(path, &st) < 0)
			return -errno;
		if (!S_ISDIR(st.st_mode))
			return -ENOTDIR;
	}
	return 0;
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

/*
 * The option string actually used: "defaults" dropped (ntfs-3g does not know
 * it, the kernel ignores it), and with readonly "ro" first and any "rw"
 * removed, since read-only is a safety setting that must win.
 */
static int build_options(const char *options, bool readonly, char *out, size_t len)
{
	char *copy = strdup(options ? options : "");
	char *save = NULL, *tok;
	size_t used = 0;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	out[0] = '\0';
	if (readonly)
		used = (size_t)snprintf(out, len, "ro");
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!*tok || !strcmp(tok, "defaults"))
			continue;
		if (readonly && (!strcmp(tok, "rw") || !strcmp(tok, "ro")))
			continue;
		used += (size_t)snprintf(out + used, used < len ? len - used : 0, "%s%s",
					 used ? "," : "", tok);
		if (used >= len) {
			r = -E2BIG;
			break;
		}
	}
	free(copy);
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
			char *err, size_t errlen)
{
	const char *bin = ntfs3g_path();
	char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", NULL };
	char *argv[7];
	int argc = 0, ofd, status = 0, r;
	posix_spawn_file_actions_t fa;
	char buf[512];
	ssize_t got;
	pid_t pid;

	if (!bin) {
		set_err(err, errlen, "ntfs-3g is not installed (needed for NTFS)");
		return -ENOENT;
	}
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
		set_err(err, errlen, "cannot run %s: %s", bin, strerror(r));
		return -r;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	got = pread(ofd, buf, sizeof(buf) - 1, 0);
	close(ofd);
	buf[got > 0 ? got : 0] = '\0';
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	/* The first line of its complaint is the useful part. */
	buf[strcspn(buf, "\n")] = '\0';
	set_err(err, errlen, "ntfs-3g failed (status %d)%s%s",
		WIFEXITED(status) ? WEXITSTATUS(status) : -1, got > 0 ? ": " : "", buf);
	return -EIO;
}

static int mount_libmount(const char *dev, const char *target, const char *fs,
			  const char *opts, char *err, size_t errlen)
{
	struct libmnt_context *cxt = mnt_new_context();
	char msg[256] = "";
	int rc, r = 0;

	if (!cxt)
		return -ENOMEM;
	/* Source and target are explicit: fstab must not add to them. */
	mnt_context_set_optsmode(cxt, MNT_OMODE_IGNORE);
	if (mnt_context_set_source(cxt, dev) || mnt_context_set_target(cxt, target) ||
	    mnt_context_set_fstype(cxt, fs) ||
	    (opts && *opts && mnt_context_set_options(cxt, opts))) {
		r = -ENOMEM;
		goto out;
	}
	rc = mnt_context_mount(cxt);
	if (rc != 0 || mnt_context_get_status(cxt) != 1) {
		int e = mnt_context_syscall_called(cxt) ? mnt_context_get_syscall_errno(cxt) : 0;

		mnt_context_get_excode(cxt, rc, msg, sizeof(msg));
		set_err(err, errlen, "mount %s on %s (%s): %s", dev, target, fs,
			msg[0] ? msg : (e ? strerror(e) : "failed"));
		r = e ? -e : -EINVAL;
	}
out:
	mnt_free_context(cxt);
	return r;
}

int vv_mount_volume(const char *dev, const char *target, const char *fs,
		    const char *options, bool readonly, char *err, size_t errlen)
{
	char detected[64], opts[1024];
	struct libmnt_table *tb;
	struct libmnt_fs *m;
	int r;

	if (err && errlen)
		err[0] = '\0';
	if (!dev || !target || target[0] != '/') {
		set_err(err, errlen, "mount point must be an absolute path");
		return -EINVAL;
	}
	/* Idempotence first: nothing is created or changed when it is done. */
	tb = load_mountinfo();
	if (!tb) {
		set_err(err, errlen, "cannot read /proc/self/mountinfo");
		return -EIO;
	}
	m = find_dev(tb, dev);
	if (m) {
		char real[PATH_MAX];
		const char *t = mnt_fs_get_target(m);

		if (realpath(target, real) && strcmp(real, t) == 0)
			r = 1;
		else {
			set_err(err, errlen, "%s is already mounted on %s", dev, t);
			r = -EBUSY;
		}
		mnt_unref_table(tb);
		return r;
	}
	m = find_target(tb, target);
	if (m) {
		char real[PATH_MAX];

		if (realpath(target, real) && strcmp(mnt_fs_get_target(m), real) == 0) {
			set_err(err, errlen, "%s already has %s mounted on it", target,
				mnt_fs_get_source(m) ? mnt_fs_get_source(m) : "another filesystem");
			mnt_unref_table(tb);
			return -EBUSY;
		}
	}
	mnt_unref_table(tb);

	r = mkdir_p(target);
	if (r < 0) {
		set_err(err, errlen, "cannot create mount point %s: %s", target, strerror(-r));
		return r;
	}
	if (!fs || !*fs || !strcmp(fs, "auto")) {
		r = vv_mount_detect_fs(dev, detected, sizeof(detected));
		if (r < 0) {
			set_err(err, errlen, "no filesystem found on %s (not formatted, or wrong key?)", dev);
			return -ENOENT;
		}
		fs = detected;
	}
	r = build_options(options, readonly, opts, sizeof(opts));
	if (r < 0) {
		set_err(err, errlen, "mount options too long");
		return r;
	}
	vv_debug("mount %s on %s type %s options '%s'", dev, target, fs, opts);
	if (!strcmp(fs, "ntfs") || !strcmp(fs, "ntfs-3g"))
		return mount_ntfs3g(dev, target, opts, err, errlen);
	return mount_libmount(dev, target, fs, opts, err, errlen);
}

int vv_umount(const char *target, char *err, size_t errlen)
{
	struct libmnt_context *cxt;
	char msg[256] = "";
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
		int e = mnt_context_syscall_called(cxt) ? mnt_context_get_syscall_errno(cxt) : 0;

		mnt_context_get_excode(cxt, rc, msg, sizeof(msg));
		set_err(err, errlen, "umount %s: %s", target,
			msg[0] ? msg : (e ? strerror(e) : "failed"));
		r = e ? -e : -EIO;
	}
out:
	mnt_free_context(cxt);
	return r;
}
