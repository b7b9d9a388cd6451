// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * agent/mount: what a disk's token may ask for (options parsed with
 * libmount, filesystem types), the nosuid/nodev default of every mount,
 * mount points created without following symlinks, and the refusals of an
 * untrusted mount that happen before anything is mounted or created.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent/config/config.h"
#include "agent/volume/mount.h"
#include "keysrc_helpers.h"

static void test_token_options(void **state)
{
	static const struct {
		const char *opts;
		unsigned allowed;
		int want;
		const char *named;	/* in the reason */
	} c[] = {
		{ NULL, 0, 0, NULL },
		{ "", 0, 0, NULL },
		{ "defaults", 0, 0, NULL },
		{ "noatime,nodiratime,ro,nosuid,nodev,noexec", 0, 0, NULL },
		{ "discard,errors=remount-ro,data=ordered,commit=30", 0, 0, NULL },
		{ "compress=zstd:3,subvol=@data,space_cache=v2", 0, 0, NULL },
		{ "uid=1000,gid=1000,umask=022,iocharset=utf8", 0, 0, NULL },
		/* the three a token needs the config's consent for */
		{ "suid", 0, -EPERM, "token_options_allowed = suid" },
		{ "noatime,dev", 0, -EPERM, "token_options_allowed = dev" },
		{ "exec", 0, -EPERM, "token_options_allowed = exec" },
		{ "suid,dev,exec", VV_TOKOPT_EXEC, -EPERM, "suid" },
		{ "exec", VV_TOKOPT_EXEC, 0, NULL },
		{ "suid,dev,exec", VV_TOKOPT_SUID | VV_TOKOPT_DEV | VV_TOKOPT_EXEC, 0, NULL },
		{ "suid=1", VV_TOKOPT_SUID, -EPERM, "suid" },
		/* what no token may give */
		{ "bind", 0, -EPERM, "'bind'" },
		{ "remount,rw", 0, -EPERM, "'remount'" },
		{ "noatime,journal_path=/dev/sda", 0, -EPERM, "journal_path=/dev/sda" },
		{ "device=/dev/sda", 0, -EPERM, "device" },
		{ "x-mount.mkdir", 0, -EPERM, "x-mount.mkdir" },
		{ "helper=foo", 0, -EPERM, "helper" },
		{ "user", 0, -EPERM, "'user'" },
		{ "context=system_u:object_r:etc_t:s0", 0, -EPERM, "context" },
		{ "ro=1", 0, -EPERM, "ro=1" },
		{ "noatime,errors=panic", 0, -EPERM, "errors=panic" },
		{ "noatime,\"b", 0, -EINVAL, "quoted" },
		{ "context=\"a,b\"", 0, -EINVAL, "quoted" },
	};
	char why[256];

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		int r;

		why[0] = '\0';
		r = vv_mount_options_check(c[i].opts, c[i].allowed, why, sizeof(why));
		if (r != c[i].want)
			fail_msg("'%s' (allowed %#x): %d, want %d (%s)", c[i].opts ? c[i].opts : "(null)",
				 c[i].allowed, r, c[i].want, why);
		if (c[i].named && !strstr(why, c[i].named))
			fail_msg("'%s': reason '%s' does not name '%s'", c[i].opts, why, c[i].named);
	}
}

static void test_fs_allowed(void **state)
{
	static const char *const yes[] = { "ext4", "xfs", "btrfs", "vfat", "ntfs", "ntfs3" };
	static const char *const no[] = { "", "auto", "squashfs", "cramfs", "hfsplus", "fuse.sshfs",
					   "nfs", "cifs", "ext4 ", "EXT4", "ntfs-3g", "overlay" };

	(void)state;
	assert_false(vv_mount_fs_allowed(NULL));
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		assert_true(vv_mount_fs_allowed(yes[i]));
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (vv_mount_fs_allowed(no[i]))
			fail_msg("'%s' allowed", no[i]);
}

/* Every mount defaults to nosuid,nodev; read-only wins over rw. */
static void test_options_build(void **state)
{
	static const struct {
		const char *in;
		bool ro;
		const char *out;
	} c[] = {
		{ NULL, false, "nosuid,nodev" },
		{ "", false, "nosuid,nodev" },
		{ "defaults", false, "nosuid,nodev" },
		{ "noatime", false, "noatime,nosuid,nodev" },
		{ "suid", false, "suid,nodev" },
		{ "dev,noatime", false, "dev,noatime,nosuid" },
		{ "nosuid,nodev,noexec", false, "nosuid,nodev,noexec" },
		{ "defaults,rw,noatime", true, "ro,noatime,nosuid,nodev" },
		{ "ro", true, "ro,nosuid,nodev" },
		{ "uid=1000,umask=022", false, "uid=1000,umask=022,nosuid,nodev" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		char *out = NULL;

		assert_int_equal(vv_mount_options_build(c[i].in, c[i].ro, &out), 0);
		if (strcmp(out, c[i].out))
			fail_msg("'%s'%s -> '%s', want '%s'", c[i].in ? c[i].in : "(null)",
				 c[i].ro ? " ro" : "", out, c[i].out);
		free(out);
	}
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* p = dir/rel (p has PATH_MAX bytes); returns p. */
static char *at(char *p, const char *dir, const char *rel)
{
	snprintf(p, PATH_MAX, "%s/%s", dir, rel);
	return p;
}

/*
 * Mount points: 0755 whatever the umask; never through a symlink. Run for
 * vv_mount_point_open (openat2 first) and for its per-component fallback.
 */
static void mount_point_cases(int (*open_mp)(const char *))
{
	char *dir = kt_mkdtemp("mountpoint");
	char p[PATH_MAX], q[PATH_MAX];
	mode_t old;
	int fd;

	assert_non_null(dir);
	old = umask(077);
	snprintf(p, sizeof(p), "%s/a/b/c", dir);
	fd = open_mp(p);
	umask(old);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(mode_of(p), 0755);
	snprintf(q, sizeof(q), "%s/a", dir);
	assert_int_equal(mode_of(q), 0755);
	/* An existing directory is opened as it is (its mode is not ours to change). */
	assert_int_equal(chmod(p, 0700), 0);
	fd = open_mp(p);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(mode_of(p), 0700);

	/* A symlink on the way, or as the last component: refused, nothing created. */
	assert_int_equal(mkdir(at(q, dir, "real"), 0755), 0);
	assert_int_equal(symlink(q, at(p, dir, "link")), 0);
	assert_int_equal(open_mp(at(p, dir, "link/sub")), -ELOOP);
	assert_false(exists(at(p, dir, "real/sub")));
	assert_int_equal(open_mp(at(p, dir, "link")), -ELOOP);
	/* A relative symlink to a directory that exists further up. */
	assert_int_equal(symlink("..", at(p, dir, "a/up")), 0);
	assert_int_equal(open_mp(at(p, dir, "a/up/real")), -ELOOP);
	/* A file is not a directory; "." and ".." are not components to walk. */
	assert_int_equal(kt_write(at(p, dir, "file"), "x", 1, 0644), 0);
	assert_int_equal(open_mp(at(p, dir, "file/sub")), -ENOTDIR);
	assert_int_equal(open_mp(at(p, dir, "new/../x")), -EINVAL);
	assert_false(exists(at(p, dir, "new")));
	assert_int_equal(open_mp(at(p, dir, "a/..")), -EINVAL);
	assert_int_equal(open_mp(at(p, dir, "./a")), -EINVAL);
	assert_int_equal(open_mp("relative/x"), -EINVAL);
	kt_rmrf(dir);
	free(dir);
}

static void test_mount_point_open(void **state)
{
	(void)state;
	mount_point_cases(vv_mount_point_open);
}

static void test_mount_point_walk(void **state)
{
	(void)state;
	mount_point_cases(vv_mount_point_walk);
}

/*
 * An untrusted (token-described) mount: a filesystem outside the list, a
 * non-empty mount point or a symlinked one is refused before mount(2), and
 * nothing is created for a refused filesystem.
 */
static void test_untrusted_refusals(void **state)
{
	char *dir = kt_mkdtemp("untrusted");
	struct vv_error err = { 0 };
	char img[PATH_MAX], p[PATH_MAX];

	(void)state;
	assert_non_null(dir);
	snprintf(img, sizeof(img), "%s/disk.img", dir);
	assert_int_equal(kt_sh("truncate -s 1M '%s'", img), 0);

	snprintf(p, sizeof(p), "%s/mnt/sq", dir);
	assert_int_equal(vv_mount_volume(img, p, "squashfs", NULL, VV_MOUNT_UNTRUSTED, &err), -EMEDIUMTYPE);
	assert_non_null(strstr(err.message, "squashfs"));
	snprintf(p, sizeof(p), "%s/mnt", dir);
	assert_false(exists(p));

	snprintf(p, sizeof(p), "%s/full", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/full/authorized_keys", dir);
	assert_int_equal(kt_write(p, "k", 1, 0600), 0);
	snprintf(p, sizeof(p), "%s/full", dir);
	assert_int_equal(vv_mount_volume(img, p, "ext4", "noatime", VV_MOUNT_UNTRUSTED, &err), -ENOTEMPTY);
	assert_non_null(strstr(err.message, "not empty"));

	snprintf(p, sizeof(p), "%s/full", dir);
	{
		char l[PATH_MAX];

		snprintf(l, sizeof(l), "%s/etc-link", dir);
		assert_int_equal(symlink(p, l), 0);
		snprintf(l, sizeof(l), "%s/etc-link/x", dir);
		assert_int_equal(vv_mount_volume(img, l, "ext4", NULL, VV_MOUNT_UNTRUSTED, &err), -ELOOP);
		assert_non_null(strstr(err.message, "symlink"));
		snprintf(l, sizeof(l), "%s/full/x", dir);
		assert_false(exists(l));
	}
	kt_rmrf(dir);
	free(dir);
}

/* The per-mount options of the mount at target in mountinfo, or NULL. */
static char *mount_opts(const char *target)
{
	return kt_capture("awk -v t='%s' '$5 == t { print $6 }' /proc/self/mountinfo", target);
}

/*
 * The options p is mounted with (malloc'ed), read before p is unmounted:
 * unmounted before anything is judged, a failed test leaves no mount behind.
 */
static char *umount_opts(const char *p)
{
	struct vv_error err = { 0 };
	char *o = mount_opts(p);

	assert_int_equal(vv_umount(p, &err), 0);
	assert_non_null(o);
	return o;
}

/* Remove the test's directory, then skip the test (cmocka's skip() jumps). */
static void skip_cleaned(char *dir)
{
	kt_rmrf(dir);
	free(dir);
	skip();
}

/*
 * A real mount (tmpfs; needs root and a mount namespace that allows it):
 * made through the checked directory fd, at the path asked for, with
 * nosuid and nodev although nobody asked for them.
 */
static void test_mount_defaults(void **state)
{
	char *dir = kt_mkdtemp("mount-real");
	struct vv_error err = { 0 };
	char p[PATH_MAX];
	char *o;
	int r;

	(void)state;
	if (!dir)
		fail_msg("mkdtemp");
	snprintf(p, sizeof(p), "%s/m/n", dir ? dir : "");
	r = vv_mount_volume("vv-test-tmpfs", p, "tmpfs", "noatime", 0, &err);
	if (r == -EPERM || r == -EACCES || r == -ENODEV) {
		skip_cleaned(dir);
	}
	if (r != 0)
		fail_msg("mount: %d %s", r, err.message);
	o = umount_opts(p);
	if (!strstr(o, "nosuid") || !strstr(o, "nodev") || !strstr(o, "noatime"))
		fail_msg("mounted with '%s'", o);
	free(o);
	/* Asking for suid is honoured (root's config may). */
	r = vv_mount_volume("vv-test-tmpfs", p, "tmpfs", "suid", 0, &err);
	assert_int_equal(r, 0);
	o = umount_opts(p);
	if (strstr(o, "nosuid") || !strstr(o, "nodev"))
		fail_msg("mounted with '%s'", o);
	free(o);
	kt_rmrf(dir);
	free(dir);
}

/*
 * An untrusted mount for real: an ext4 image (libmount attaches a loop
 * device) mounted with helpers disabled, through the checked directory,
 * with nosuid,nodev. Skipped where loop devices or mounts are not allowed.
 */
static void test_untrusted_mount(void **state)
{
	char *dir = kt_mkdtemp("mount-ext4");
	struct vv_error err = { 0 };
	char img[PATH_MAX], p[PATH_MAX];
	char *o;
	int r;

	(void)state;
	if (!dir)
		fail_msg("mkdtemp");
	snprintf(img, sizeof(img), "%s/ext4.img", dir ? dir : "");
	snprintf(p, sizeof(p), "%s/mnt/e", dir ? dir : "");
	if (kt_sh("truncate -s 8M '%s' && mkfs.ext4 -q -F '%s' >/dev/null 2>&1", img, img)) {
		skip_cleaned(dir);
	}
	r = vv_mount_volume(img, p, "ext4", "noatime", VV_MOUNT_UNTRUSTED, &err);
	if (r < 0 && r != -EMEDIUMTYPE && r != -ENOTEMPTY && r != -ELOOP) {
		/* no loop devices or no mount permission here */
		skip_cleaned(dir);
	}
	assert_int_equal(r, 0);
	o = umount_opts(p);
	if (!strstr(o, "nosuid") || !strstr(o, "nodev") || !strstr(o, "noatime"))
		fail_msg("mounted with '%s'", o);
	free(o);
	kt_rmrf(dir);
	free(dir);
}

/*
 * ntfs-3g refusing a disk that holds no NTFS: the error keeps all it said,
 * not its first line ("NTFS signature is missing."): the lines after it
 * name the device and the likely mistake. Skipped without ntfs-3g.
 */
static void test_ntfs3g_failure_whole(void **state)
{
	char *dir = kt_mkdtemp("mount-ntfs");
	struct vv_error err = { 0 };
	char img[PATH_MAX], p[PATH_MAX];
	int r;

	(void)state;
	if (!dir)
		fail_msg("mkdtemp");
	if (access("/usr/bin/ntfs-3g", X_OK) && access("/bin/ntfs-3g", X_OK))
		skip_cleaned(dir);
	snprintf(img, sizeof(img), "%s/blank.img", dir);
	snprintf(p, sizeof(p), "%s/mnt", dir);
	assert_int_equal(kt_sh("truncate -s 8M '%s'", img), 0);
	r = vv_mount_volume(img, p, "ntfs", NULL, 0, &err);
	assert_true(r < 0);
	if (!strstr(err.message, "ntfs-3g failed"))
		fail_msg("not ntfs-3g's failure: %s", err.message);
	if (!strstr(err.message, "NTFS signature is missing.\n") ||
	    !strstr(err.message, "doesn't seem to have a valid NTFS") ||
	    !strstr(err.message, img))
		fail_msg("ntfs-3g's output cut: %s", err.message);
	/* The trailing newline is not kept; nothing claims it was cut. */
	assert_int_not_equal(err.message[strlen(err.message) - 1], '\n');
	assert_null(strstr(err.message, "[...]"));
	/* A name with a terminal escape in it (as a disk's label could be): defused. */
	snprintf(img, sizeof(img), "%s/esc\033[2Jx.img", dir);
	assert_int_equal(kt_sh("truncate -s 8M \"%s\"", img), 0);
	memset(&err, 0, sizeof(err));
	assert_true(vv_mount_volume(img, p, "ntfs", NULL, 0, &err) < 0);
	if (!strstr(err.message, "esc?[2Jx.img"))
		fail_msg("escape not defused: %s", err.message);
	assert_null(strchr(err.message, '\033'));
	kt_rmrf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_options),
		cmocka_unit_test(test_fs_allowed),
		cmocka_unit_test(test_options_build),
		cmocka_unit_test(test_mount_point_open),
		cmocka_unit_test(test_mount_point_walk),
		cmocka_unit_test(test_untrusted_refusals),
		cmocka_unit_test(test_mount_defaults),
		cmocka_unit_test(test_untrusted_mount),
		cmocka_unit_test(test_ntfs3g_failure_whole),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
