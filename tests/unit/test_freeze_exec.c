// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The freeze method each filesystem gets when no test override is given:
 * dm-quiesce only where its own device is a quiesce mapping and the module
 * answers, else the FIFREEZE ioctl. Nothing is frozen here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <fcntl.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent/freeze/freeze_exec.h"
#include "agent/freeze/freeze_plan.h"

static void test_method_falls_back_to_ioctl(void **state)
{
	char dir[] = "/tmp/vv-freeze-exec.XXXXXX";
	/* A mapping that does not exist: never the quiesce method. */
	struct vv_fs_layer dm = { .kname = "dm-99", .dm_name = "vv-unit-no-such-mapping" };
	struct vv_fs fs[2] = {
		{ .target = dir, .fstype = "ext4" },
		{ .target = dir, .fstype = "ext4", .layers = &dm, .n_layers = 1 },
	};
	struct vv_freeze_plan plan = { .fs = fs, .n = 2, .n_waves = 1 };
	struct vv_freezer fz;
	char *name = (char *)1;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_null(vv_freeze_quiesce_ops(&fs[0], &name));
	assert_null(name);
	assert_null(vv_freeze_quiesce_ops(&fs[1], &name));
	assert_null(name);

	assert_int_equal(vv_freezer_open(&fz, &plan, NULL), 0);
	assert_int_equal(fz.n, 2);
	for (size_t i = 0; i < fz.n; i++) {
		assert_ptr_equal(fz.t[i].ops, &vv_freeze_ioctl_ops);
		assert_null(fz.t[i].dm_name);
		assert_true(fz.t[i].fd >= 0);
	}
	vv_freezer_close(&fz);
	rmdir(dir);
}

/*
 * The write-back before the freeze: every target that will be frozen is
 * flushed (its fd stays the freezer's: the flush uses a duplicate), a
 * target that failed to open is skipped, and the wait is measured.
 */
static void test_flush_before_freeze(void **state)
{
	char dir[] = "/tmp/vv-freeze-flush.XXXXXX";
	struct vv_fs fs[2] = {
		{ .target = dir, .fstype = "ext4" },
		{ .target = "/nonexistent/vv-unit", .fstype = "ext4" },
	};
	struct vv_freeze_plan plan = { .fs = fs, .n = 2, .n_waves = 1 };
	struct vv_freezer fz;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(vv_freezer_open(&fz, &plan, NULL), 0);
	assert_true(fz.t[0].fd >= 0);
	assert_int_equal(fz.t[1].state, VV_FZ_FAILED);
	fz.flush_ms = -1;
	vv_freezer_flush(&fz, 10000);
	assert_true(fz.flush_ms >= 0 && fz.flush_ms < 10000);
	/* Still the freezer's own, open fd. */
	assert_true(fcntl(fz.t[0].fd, F_GETFD) >= 0);
	assert_int_equal(fz.t[0].state, VV_FZ_PENDING);
	vv_freezer_close(&fz);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_method_falls_back_to_ioctl),
		cmocka_unit_test(test_flush_before_freeze),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
