// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The views of the one error value: the CLI line, the --json error object
 * (agent/error_view.c), and the per-volume record (vv_vol_fail).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <json-c/json.h>

#include "agent/error_view.h"
#include "agent/open/open.h"

/* Run vv_error_print with fd (1 or 2) sent to a file; return what it wrote. */
static char *capture(int fd, bool json, unsigned flags, const char *what,
		     const struct vv_error *err)
{
	char path[] = "/tmp/vv-ev-XXXXXX", *buf = calloc(1, 4096);
	int tmp = mkstemp(path), saved = dup(fd);
	ssize_t n;

	assert_true(tmp >= 0 && saved >= 0 && buf);
	fflush(fd == 1 ? stdout : stderr);
	assert_int_equal(dup2(tmp, fd), fd);
	vv_error_print(json, flags, what, err);
	fflush(fd == 1 ? stdout : stderr);
	assert_int_equal(dup2(saved, fd), fd);
	close(saved);
	n = pread(tmp, buf, 4095, 0);
	assert_true(n >= 0);
	close(tmp);
	unlink(path);
	return buf;
}

static void test_text_line(void **state)
{
	struct vv_error err = { 0 };
	char *out;

	(void)state;
	vv_fail(&err, -EINVAL, VV_CAUSE_CONFIG, "t.conf:3: unknown key 'x'");
	out = capture(2, false, 0, "status", &err);
	assert_string_equal(out, "vaultvol status: t.conf:3: unknown key 'x'\n");
	free(out);
	out = capture(2, false, 0, NULL, &err);
	assert_string_equal(out, "vaultvol: t.conf:3: unknown key 'x'\n");
	free(out);
	/* Nothing on stdout without --json. */
	out = capture(1, false, 0, "status", &err);
	assert_string_equal(out, "");
	free(out);
	vv_error_remedy(&err, "remove it");
	out = capture(2, false, VV_EV_CAUSE, "open", &err);
	assert_string_equal(out, "vaultvol open: t.conf:3: unknown key 'x' (config)\n"
			    "vaultvol open: remedy: remove it\n");
	free(out);
}

static void test_json_object(void **state)
{
	struct vv_error err = { 0 };
	struct json_object *o, *e, *v;
	char *out;

	(void)state;
	vv_fail(&err, -EACCES, VV_CAUSE_FORBIDDEN, "no \"get\" permission");
	out = capture(1, true, VV_EV_LOG, "key show kv:x", &err);
	o = json_tokener_parse(out);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "error", &e));
	assert_true(json_object_object_get_ex(e, "cause", &v));
	assert_string_equal(json_object_get_string(v), "forbidden");
	assert_true(json_object_object_get_ex(e, "message", &v));
	assert_string_equal(json_object_get_string(v), "no \"get\" permission");
	assert_true(json_object_object_get_ex(e, "remedy", &v));
	assert_null(v);
	json_object_put(o);
	free(out);
	/* With --json the text line is not printed as well. */
	out = capture(2, true, 0, "open", &err);
	assert_string_equal(out, "");
	free(out);
	vv_error_remedy(&err, "grant it");
	e = vv_error_json(&err);
	assert_true(json_object_object_get_ex(e, "remedy", &v));
	assert_string_equal(json_object_get_string(v), "grant it");
	json_object_put(e);
}

static void test_vol_fail_record(void **state)
{
	struct vv_vol v;

	(void)state;
	memset(&v, 0, sizeof(v));
	vv_vol_fail(&v, VV_FAIL_MISSING, VV_CAUSE_NONE, NULL, "no disk matches %s", "lun:3");
	assert_int_equal(v.state, VV_VS_FAILED);
	assert_int_equal(v.fail, VV_FAIL_MISSING);
	assert_int_equal(v.error.cause, VV_CAUSE_NOT_FOUND);
	assert_string_equal(v.error.message, "no disk matches lun:3");
	assert_string_equal(v.error.remedy, "");
	/* A later failure replaces the whole record, remedy included. */
	vv_vol_fail(&v, VV_FAIL_TOKEN, VV_CAUSE_NONE, "rewrite the token", "malformed");
	assert_int_equal(v.error.cause, VV_CAUSE_CONFIG);
	assert_string_equal(v.error.remedy, "rewrite the token");
	vv_vol_fail(&v, VV_FAIL_REFUSED, VV_CAUSE_NONE, NULL, "refused");
	assert_int_equal(v.error.cause, VV_CAUSE_UNTRUSTED);
	assert_string_equal(v.error.remedy, "");
	/* A key source's cause is kept as it said it, "none" too. */
	vv_vol_fail(&v, VV_FAIL_KEY_ACCESS, VV_CAUSE_DISABLED, "re-enable it", "disabled");
	assert_int_equal(v.error.cause, VV_CAUSE_DISABLED);
	vv_vol_fail(&v, VV_FAIL_KEY_ACCESS, VV_CAUSE_NONE, NULL, "failed");
	assert_int_equal(v.error.cause, VV_CAUSE_NONE);
}

/*
 * A command's key failure (vv_key_remedy_fill): a vault's cause gets the
 * remedy worded for a command run again, the vault's own remedy is kept,
 * and failures that are no key source's (a missing device) are left alone.
 */
static void test_key_remedy_fill(void **state)
{
	struct vv_error e = { 0 };

	(void)state;
	vv_error_clear(&e);
	vv_error_set(&e, VV_CAUSE_UNAVAILABLE, 503, "Key Vault GET x: HTTP 503");
	assert_true(vv_key_remedy_fill("https://v.vault.azure.net/secrets/x", &e));
	assert_non_null(strstr(e.remedy, "run the command again"));
	assert_null(strstr(e.remedy, "boot service"));

	vv_error_clear(&e);
	vv_error_set(&e, VV_CAUSE_FORBIDDEN, 403, "denied");
	vv_error_remedy(&e, "%s", "the vault's own words");
	assert_true(vv_key_remedy_fill(NULL, &e));
	assert_string_equal(e.remedy, "the vault's own words");

	vv_error_clear(&e);
	vv_error_set(&e, VV_CAUSE_DISABLED, 403, "disabled");
	assert_true(vv_key_remedy_fill(NULL, &e));
	assert_non_null(strstr(e.remedy, "re-enable"));

	/* A device that is not there: no vault remedy, cause not worth naming. */
	vv_error_clear(&e);
	vv_error_set(&e, VV_CAUSE_NOT_FOUND, 0, "/dev/sdz: no such device");
	assert_false(vv_key_remedy_fill(NULL, &e));
	assert_string_equal(e.remedy, "");
	vv_error_clear(&e);
	vv_error_set(&e, VV_CAUSE_NOT_FOUND, 404, "SecretNotFound");
	assert_true(vv_key_remedy_fill(NULL, &e));
	assert_non_null(strstr(e.remedy, "soft-delete"));

	vv_error_clear(&e);
	vv_error_set(&e, VV_CAUSE_SYSTEM, 0, "I/O error");
	assert_false(vv_key_remedy_fill(NULL, &e));
	assert_string_equal(e.remedy, "");

	/* open keeps the boot wording for the same cause. */
	vv_error_clear(&e);
	vv_error_set(&e, VV_CAUSE_THROTTLED, 429, "throttled");
	assert_non_null(strstr(vv_open_key_remedy("x", &e), "boot service retries"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_line),
		cmocka_unit_test(test_json_object),
		cmocka_unit_test(test_vol_fail_record),
		cmocka_unit_test(test_key_remedy_fill),
	};

	return cmocka_run_group_tests_name("error_view", tests, NULL, NULL);
}
