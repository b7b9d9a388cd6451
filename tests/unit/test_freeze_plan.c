// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Freeze planning from a sample mountinfo and a fake sysfs tree: which
 * filesystems, one per superblock, what is skipped and why, and the waves
 * (loop-backed before their holder, `/` last).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/sysmacros.h>

#include "agent/freeze/freeze_plan.h"
#include "tests/unit/snap_test_util.h"

static const char *mountinfo_text =
	"20 1 253:0 / / rw,relatime - ext4 /dev/mapper/root rw\n"
	"21 20 0:5 / /dev rw,nosuid - devtmpfs udev rw\n"
	"22 20 0:22 / /tmp rw - tmpfs tmpfs rw\n"
	"23 20 253:1 / /data rw,relatime - ext4 /dev/mapper/data rw\n"
	"24 23 7:0 / /data/img rw - ext4 /dev/loop0 rw\n"
	"25 20 253:1 /sub /srv/bind rw - ext4 /dev/mapper/data rw\n"
	"26 20 8:17 / /mnt/resource rw - ext4 /dev/sdb1 rw\n"
	"27 20 253:2 / /scratch rw - xfs /dev/mapper/scratch rw\n"
	"28 20 7:1 / /nested rw - xfs /dev/loop1 rw\n"
	"29 20 253:3 / /lvm rw - xfs /dev/mapper/vg-lv rw\n"
	"30 20 0:40 / /btr rw - btrfs /dev/vdc rw\n"
	"31 20 0:41 /sub1 /btr2 rw - btrfs /dev/vdc rw\n"
	"32 20 8:33 / /hidden rw - ext4 /dev/sdc1 rw\n"
	"33 20 8:49 / /hidden rw - ext4 /dev/sdd1 rw\n"
	"34 20 0:50 / /proc rw - proc proc rw\n"
	"35 20 8:65 / /mnt/my\\040space rw - ext3 /dev/sde1 rw\n"
	"36 20 8:81 / /media/usb rw - vfat /dev/sdf1 rw\n";

struct fixture {
	char dir[64];
	char mountinfo[128];
	char sysfs[128];
};

static void build_sysfs(const char *sys)
{
	/* loop0: backing file on /data. */
	snap_write(sys, "devices/virtual/block/loop0/loop/backing_file", 0644, "/data/images/a.img\n");
	snap_symlink(sys, "dev/block/7:0", "../../devices/virtual/block/loop0");
	/* loop1: backing file on the loop0 filesystem, since deleted. */
	snap_write(sys, "devices/virtual/block/loop1/loop/backing_file", 0644,
		   "/data/img/inner.img (deleted)\n");
	snap_symlink(sys, "dev/block/7:1", "../../devices/virtual/block/loop1");
	/* dm-3 (an LV) on loop2, whose file lives on /. */
	snap_write(sys, "devices/virtual/block/dm-3/dm/name", 0644, "vg-lv\n");
	snap_write(sys, "devices/virtual/block/dm-3/dm/uuid", 0644, "LVM-abc\n");
	snap_write(sys, "devices/virtual/block/loop2/loop/backing_file", 0644, "/var/lib/disk.img\n");
	snap_symlink(sys, "devices/virtual/block/dm-3/slaves/loop2", "../../loop2");
	snap_symlink(sys, "dev/block/253:3", "../../devices/virtual/block/dm-3");
	/* dm-1: crypt on the partition vda1 of disk vda. */
	snap_write(sys, "devices/virtual/block/dm-1/dm/name", 0644, "data\n");
	snap_write(sys, "devices/virtual/block/dm-1/dm/uuid", 0644,
		   "CRYPT-LUKS2-0123456789abcdef0123456789abcdef-data\n");
	snap_write(sys, "devices/pci0/virtio1/block/vda/vda1/partition", 0644, "1\n");
	snap_mkdirs(sys, "devices/pci0/virtio1/block/vda/slaves");
	snap_symlink(sys, "devices/virtual/block/dm-1/slaves/vda1",
		     "../../../../pci0/virtio1/block/vda/vda1");
	snap_symlink(sys, "dev/block/253:1", "../../devices/virtual/block/dm-1");
	/* dm-0 (root): plain crypt on vdb, no stacking. */
	snap_write(sys, "devices/virtual/block/dm-0/dm/name", 0644, "root\n");
	snap_symlink(sys, "devices/virtual/block/dm-0/slaves/vdb", "../../../../pci0/virtio2/block/vdb");
	snap_mkdirs(sys, "devices/pci0/virtio2/block/vdb");
	snap_symlink(sys, "dev/block/253:0", "../../devices/virtual/block/dm-0");
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/vv-plan-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->mountinfo, sizeof(f->mountinfo), "%s/mountinfo", f->dir);
	snprintf(f->sysfs, sizeof(f->sysfs), "%s/sys", f->dir);
	snap_write(f->dir, "mountinfo", 0644, "%s", mountinfo_text);
	build_sysfs(f->sysfs);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (!getenv("KEEP")) snap_rm_rf(f->dir);
	free(f);
	return 0;
}

static const struct vv_fs *find(const struct vv_freeze_plan *p, const char *target)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->fs[i].target, target))
			return &p->fs[i];
	return NULL;
}

static const char *skip_reason(const struct vv_freeze_plan *p, const char *target)
{
	for (size_t i = 0; i < p->n_skipped; i++)
		if (!strcmp(p->skipped[i].target, target))
			return p->skipped[i].reason;
	return NULL;
}

static size_t index_of(const struct vv_freeze_plan *p, const char *target)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->fs[i].target, target))
			return i;
	fail_msg("%s not planned", target);
	return 0;
}

static void build(struct fixture *f, struct vv_freeze_plan *p)
{
	static const char *const excl[] = { "/scratch" };
	struct vv_plan_opts o = {
		.mountinfo = f->mountinfo,
		.sysfs = f->sysfs,
		.exclude = excl,
		.n_exclude = 1,
	};

	assert_int_equal(vv_freeze_plan_build(&o, p), 0);
}

static void test_candidates_and_skips(void **state)
{
	struct fixture *f = *state;
	struct vv_freeze_plan p;

	build(f, &p);
	/* Freezable types only: no tmpfs, devtmpfs, proc, vfat. */
	assert_null(find(&p, "/tmp"));
	assert_null(find(&p, "/dev"));
	assert_null(find(&p, "/proc"));
	assert_null(find(&p, "/media/usb"));
	/* Skipped with a reason. */
	assert_string_equal(skip_reason(&p, "/mnt/resource"), "resource disk");
	assert_string_equal(skip_reason(&p, "/scratch"), "excluded");
	assert_string_equal(skip_reason(&p, "/hidden"), "mount point hidden by another mount");
	assert_null(find(&p, "/scratch"));
	assert_null(find(&p, "/mnt/resource"));
	/* The mount on top of /hidden (8:49) is planned, the hidden one not. */
	assert_non_null(find(&p, "/hidden"));
	assert_int_equal(find(&p, "/hidden")->devno, makedev(8, 49));
	/* Escaped names are unescaped. */
	assert_non_null(find(&p, "/mnt/my space"));
	/* / /data /data/img /nested /lvm /btr /hidden /mnt/my space */
	assert_int_equal(p.n, 8);
	vv_freeze_plan_free(&p);
}

static void test_one_per_superblock(void **state)
{
	struct fixture *f = *state;
	struct vv_freeze_plan p;
	const struct vv_fs *d, *b;

	build(f, &p);
	/* The bind mount of /data is the same superblock: frozen once, via /data. */
	d = find(&p, "/data");
	assert_non_null(d);
	assert_int_equal(d->n_mounts, 2);
	assert_null(find(&p, "/srv/bind"));
	/* Two btrfs subvolume mounts of one device: once. */
	b = find(&p, "/btr");
	assert_non_null(b);
	assert_int_equal(b->n_mounts, 2);
	assert_null(find(&p, "/btr2"));
	vv_freeze_plan_free(&p);
}

static void test_waves(void **state)
{
	struct fixture *f = *state;
	struct vv_freeze_plan p;

	build(f, &p);
	/* Chain: /nested's loop file is on /data/img, whose loop file is on /data. */
	assert_int_equal(find(&p, "/nested")->wave, 0);
	assert_int_equal(find(&p, "/data/img")->wave, 1);
	assert_int_equal(find(&p, "/data")->wave, 2);
	/* Independent ones in the first wave, freezing in parallel. */
	assert_int_equal(find(&p, "/btr")->wave, 0);
	assert_int_equal(find(&p, "/lvm")->wave, 0);
	assert_int_equal(find(&p, "/hidden")->wave, 0);
	/* / last and alone. */
	assert_int_equal(find(&p, "/")->wave, 3);
	assert_int_equal(p.n_waves, 4);
	assert_string_equal(p.fs[p.n - 1].target, "/");
	/* Sorted by wave, with dependencies referring to the sorted indices. */
	for (size_t i = 1; i < p.n; i++)
		assert_true(p.fs[i - 1].wave <= p.fs[i].wave);
	{
		const struct vv_fs *data = find(&p, "/data");
		const struct vv_fs *root = find(&p, "/");
		size_t img = index_of(&p, "/data/img"), lvm = index_of(&p, "/lvm");

		assert_int_equal(data->n_before, 1);
		assert_int_equal(data->before[0], img);
		/* /lvm sits on a loop file on /: it must freeze before /. */
		assert_int_equal(root->n_before, 1);
		assert_int_equal(root->before[0], lvm);
	}
	vv_freeze_plan_free(&p);
}

static void test_device_stack(void **state)
{
	struct fixture *f = *state;
	struct vv_freeze_plan p;
	const struct vv_fs *d, *n;

	build(f, &p);
	d = find(&p, "/data");
	assert_int_equal(d->n_layers, 3);
	assert_string_equal(d->layers[0].kname, "dm-1");
	assert_string_equal(d->layers[0].dm_name, "data");
	assert_string_equal(d->layers[0].dm_uuid, "CRYPT-LUKS2-0123456789abcdef0123456789abcdef-data");
	assert_false(d->layers[0].leaf);
	assert_string_equal(d->layers[1].kname, "vda1");
	assert_true(d->layers[1].partition);
	assert_string_equal(d->layers[2].kname, "vda");
	assert_true(d->layers[2].leaf);
	/* The " (deleted)" suffix of a loop's backing file is dropped. */
	n = find(&p, "/nested");
	assert_int_equal(n->n_layers, 1);
	assert_string_equal(n->layers[0].backing_file, "/data/img/inner.img");
	vv_freeze_plan_free(&p);
}

static void test_root_alone_only_when_others(void **state)
{
	struct fixture *f = *state;
	struct vv_freeze_plan p;
	struct vv_plan_opts o = { .mountinfo = f->mountinfo, .sysfs = f->sysfs };

	snap_write(f->dir, "mi2", 0644, "20 1 253:0 / / rw - ext4 /dev/mapper/root rw\n"
		   "22 20 0:22 / /tmp rw - tmpfs tmpfs rw\n");
	snprintf(f->mountinfo, sizeof(f->mountinfo), "%s/mi2", f->dir);
	o.mountinfo = f->mountinfo;
	assert_int_equal(vv_freeze_plan_build(&o, &p), 0);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.fs[0].wave, 0);
	assert_int_equal(p.n_waves, 1);
	vv_freeze_plan_free(&p);

	/* Nothing freezable at all (an initramfs root). */
	snap_write(f->dir, "mi3", 0644, "1 0 0:2 / / rw - rootfs rootfs rw\n");
	snprintf(f->mountinfo, sizeof(f->mountinfo), "%s/mi3", f->dir);
	o.mountinfo = f->mountinfo;
	assert_int_equal(vv_freeze_plan_build(&o, &p), 0);
	assert_int_equal(p.n, 0);
	assert_int_equal(p.n_waves, 0);
	vv_freeze_plan_free(&p);
}

static void test_exclude_patterns_and_bind_exclusion(void **state)
{
	struct fixture *f = *state;
	static const char *const excl[] = { "/srv/*", "/bt*" };
	struct vv_plan_opts o = {
		.mountinfo = f->mountinfo, .sysfs = f->sysfs, .exclude = excl, .n_exclude = 2,
	};
	struct vv_freeze_plan p;

	assert_int_equal(vv_freeze_plan_build(&o, &p), 0);
	/* Excluding a bind mount excludes its superblock (it is one filesystem). */
	assert_null(find(&p, "/data"));
	assert_string_equal(skip_reason(&p, "/data"), "excluded");
	assert_null(find(&p, "/btr"));
	/* /data/img's holder is not frozen: it only waits for /nested now. */
	assert_int_equal(find(&p, "/nested")->wave, 0);
	assert_int_equal(find(&p, "/data/img")->wave, 1);
	assert_int_equal(find(&p, "/")->wave, 2);
	vv_freeze_plan_free(&p);
}

static void test_resource_devs(void **state)
{
	struct fixture *f = *state;
	char devroot[PATH_MAX], path[PATH_MAX + 64];
	dev_t devs[4];
	struct vv_plan_opts o = { .mountinfo = f->mountinfo, .sysfs = f->sysfs };
	struct vv_freeze_plan p;
	size_t n;

	snprintf(devroot, sizeof(devroot), "%s/dev", f->dir);
	snap_mkdirs(f->dir, "dev/disk/azure");
	snprintf(path, sizeof(path), "%s/disk/azure/resource-part1", devroot);
	assert_int_equal(mknod(path, S_IFBLK | 0600, makedev(8, 65)), 0);
	n = vv_freeze_resource_devs(devroot, devs, 4);
	assert_int_equal(n, 1);
	assert_int_equal(devs[0], makedev(8, 65));
	/* The ext3 on 8:65 is the resource disk, wherever it is mounted. */
	o.resource_devs = devs;
	o.n_resource_devs = n;
	assert_int_equal(vv_freeze_plan_build(&o, &p), 0);
	assert_null(find(&p, "/mnt/my space"));
	assert_string_equal(skip_reason(&p, "/mnt/my space"), "resource disk");
	vv_freeze_plan_free(&p);
}

static void test_errors_and_types(void **state)
{
	struct vv_plan_opts o = { .mountinfo = "/nonexistent/mountinfo" };
	struct vv_freeze_plan p;

	(void)state;
	assert_true(vv_freeze_plan_build(&o, &p) < 0);
	assert_true(vv_freeze_fstype_ok("ext4"));
	assert_true(vv_freeze_fstype_ok("ext3"));
	assert_true(vv_freeze_fstype_ok("xfs"));
	assert_true(vv_freeze_fstype_ok("btrfs"));
	assert_false(vv_freeze_fstype_ok("tmpfs"));
	assert_false(vv_freeze_fstype_ok("ext2"));
	assert_false(vv_freeze_fstype_ok("vfat"));
	assert_false(vv_freeze_fstype_ok(NULL));
}

/* The real system: whatever it is, planning must succeed and be consistent. */
static void test_live_system(void **state)
{
	struct vv_plan_opts o = { 0 };
	struct vv_freeze_plan p;

	(void)state;
	assert_int_equal(vv_freeze_plan_build(&o, &p), 0);
	for (size_t i = 0; i < p.n; i++) {
		assert_true(vv_freeze_fstype_ok(p.fs[i].fstype));
		assert_true(p.fs[i].wave < p.n_waves);
		for (size_t k = 0; k < p.fs[i].n_before; k++)
			assert_true(p.fs[p.fs[i].before[k]].wave < p.fs[i].wave);
	}
	vv_freeze_plan_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_candidates_and_skips, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_per_superblock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_stack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_alone_only_when_others, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exclude_patterns_and_bind_exclusion, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resource_devs, setup, teardown),
		cmocka_unit_test(test_errors_and_types),
		cmocka_unit_test(test_live_system),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
