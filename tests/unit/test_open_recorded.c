// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A volume named on the command line that discovery no longer finds (its
 * disk failed or was detached, and its token with it) is taken from what
 * volumes.json recorded: close can still take its mappings away, and open
 * reports a missing disk rather than an unknown name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>
#include <cmocka.h>

#include "agent/open/open.h"

static void test_add_recorded(void **state)
{
	struct vv_prev prev[2] = {
		{ .name = "data", .uuid = "u-now", .opened_uuid = "u-opened" },
		{ .name = "logs", .uuid = NULL, .opened_uuid = NULL },
	};
	struct vv_open_plan plan = { 0 };
	struct vv_vol *v;

	(void)state;
	assert_int_equal(vv_open_plan_add_recorded(&plan, prev, 2, "nosuch"), -ENOENT);
	assert_int_equal(plan.n, 0);
	assert_int_equal(vv_open_plan_add_recorded(&plan, prev, 2, "data"), 0);
	assert_int_equal(vv_open_plan_add_recorded(&plan, prev, 2, "logs"), 0);
	assert_int_equal(plan.n, 2);
	v = vv_open_plan_find(&plan, "data");
	assert_non_null(v);
	/* No device: nothing on a disk is touched; the UUIDs stay pinned. */
	assert_null(v->device);
	assert_true(v->selected);
	assert_string_equal(v->uuid, "u-now");
	assert_string_equal(v->opened_uuid, "u-opened");
	v = vv_open_plan_find(&plan, "logs");
	assert_non_null(v);
	assert_string_equal(v->uuid, "");
	assert_int_equal(v->fail, VV_FAIL_NONE);
	vv_open_plan_free(&plan);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_recorded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
