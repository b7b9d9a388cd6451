// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The snapshot scripts and the backup service client report failures
 * through struct vv_error: a cause a caller can act on, and the message
 * the report shows, word for word what it was before.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "agent/snapshot/backup_service.h"
#include "agent/snapshot/scripts.h"

static void test_plugin_parse_cause(void **state)
{
	struct vv_error err = { 0 };
	struct vv_plugin_config c;

	(void)state;
	assert_int_equal(vv_plugin_config_parse("{\"timeoutInSeconds\":0}", &c, &err), -EINVAL);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_string_equal(err.message, "timeoutInSeconds must be between 1 and 1800");
	/* No error value wanted: the call still fails, and does not crash. */
	assert_int_equal(vv_plugin_config_parse("{not json", &c, NULL), -EINVAL);
}

static void test_plugin_load_missing(void **state)
{
	struct vv_error err = { 0 };
	struct vv_plugin_config c;

	(void)state;
	assert_int_equal(vv_plugin_config_load("/nonexistent-vaultvol/cfg.json", &c, &err),
			 -ENOENT);
	assert_int_equal(err.cause, VV_CAUSE_NOT_FOUND);
	assert_string_equal(err.message, "/nonexistent-vaultvol/cfg.json does not exist");
}

static void test_path_not_absolute(void **state)
{
	struct vv_error err = { 0 };

	(void)state;
	assert_int_equal(vv_path_trusted("s.sh", true, &err), -EINVAL);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_string_equal(err.message, "s.sh is not an absolute path");
}

static void test_bsvc_open_cause(void **state)
{
	struct vv_error err = { 0 };
	struct vv_bsvc *s = NULL;

	(void)state;
	assert_int_equal(vv_bsvc_open("http://example.com/", NULL, &s, &err), -EINVAL);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_string_equal(err.message,
			    "plain http is only allowed to a loopback address; use https");
	assert_null(s);
	assert_int_equal(vv_bsvc_open("ftp://127.0.0.1/", NULL, &s, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plugin_parse_cause),
		cmocka_unit_test(test_plugin_load_missing),
		cmocka_unit_test(test_path_not_absolute),
		cmocka_unit_test(test_bsvc_open_cause),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
