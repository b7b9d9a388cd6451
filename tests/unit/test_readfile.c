// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Reading files safely (base/readfile.c) and the state directory checks
 * (agent/config/state_dir.c): no symlink, no FIFO (which would hang a blocking
 * open/read), regular files only, owner and mode, and that the readers
 * converted to the helper (config, handler files, volumes.json, the frozen
 * marker, header backups) inherit it. An alarm turns a hang into a failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/config/config.h"
#include "agent/freeze/freeze_marker.h"
#include "agent/handler/handler_internal.h"
#include "agent/volume/header_backup.h"
#include "agent/open/open.h"
#include "agent/config/state_dir.h"
#include "tests/unit/keysrc_helpers.h"
#include "base/http.h"
#include "base/readfile.h"
#include "base/secret.h"
#include "vault/token.h"

#define NOBODY 65534

static char *dir;

static int setup(void **state)
{
	(void)state;
	dir = kt_mkdtemp("readfile");
	/* A blocking open of a FIFO never returns: fail the test instead. */
	alarm(20);
	return dir ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	alarm(0);
	kt_sh("rm -rf '%s'", dir);
	free(dir);
	return 0;
}

static char *pth(const char *name)
{
	static char buf[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

static void test_read_ok_and_limits(void **state)
{
	struct vv_error e = { 0 };
	char *text = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(kt_write(pth("a"), "hello\n", 6, 0644), 0);
	assert_int_equal(vv_file_read(AT_FDCWD, pth("a"), VV_RF_TRUSTED, 100, &text, &len, &e), 0);
	assert_int_equal(len, 6);
	assert_string_equal(text, "hello\n");
	free(text);
	assert_int_equal(vv_file_read(AT_FDCWD, pth("a"), 0, 5, &text, &len, &e), -EFBIG);
	assert_null(text);
	assert_int_equal(vv_file_read(AT_FDCWD, pth("none"), 0, 5, &text, &len, &e), -ENOENT);
	assert_int_equal(e.cause, VV_CAUSE_NOT_FOUND);
}

static void test_fifo_refused_without_hanging(void **state)
{
	struct vv_error e = { 0 };
	char *text = NULL;
	size_t len;

	(void)state;
	assert_int_equal(mkfifo(pth("fifo"), 0600), 0);
	assert_int_equal(vv_file_read(AT_FDCWD, pth("fifo"), 0, 100, &text, &len, &e), -EINVAL);
	assert_non_null(strstr(e.message, "not a regular file"));
	assert_non_null(strstr(e.message, pth("fifo")));
	/* a directory is not a regular file either */
	assert_int_equal(vv_file_read(AT_FDCWD, dir, 0, 100, &text, &len, &e), -EINVAL);
}

static void test_symlink_refused(void **state)
{
	struct vv_error e = { 0 };
	char *text = NULL;
	size_t len;

	(void)state;
	assert_int_equal(kt_write(pth("real"), "x", 1, 0600), 0);
	assert_int_equal(symlink(pth("real"), pth("link")), 0);
	assert_int_equal(vv_file_read(AT_FDCWD, pth("link"), 0, 100, &text, &len, &e), -ELOOP);
	assert_non_null(strstr(e.message, "symbolic link"));
}

static void test_owner_and_mode(void **state)
{
	struct vv_error e = { 0 };
	char *text = NULL;
	size_t len;

	(void)state;
	assert_int_equal(kt_write(pth("w"), "x", 1, 0666), 0);
	assert_int_equal(chmod(pth("w"), 0666), 0);
	assert_int_equal(vv_file_read(AT_FDCWD, pth("w"), VV_RF_TRUSTED, 100, &text, &len, &e),
			 -EPERM);
	assert_non_null(strstr(e.message, "chmod go-w"));
	/* readable by others is fine for config, not for key material */
	assert_int_equal(chmod(pth("w"), 0644), 0);
	assert_int_equal(vv_file_read(AT_FDCWD, pth("w"), VV_RF_TRUSTED, 100, &text, &len, &e), 0);
	free(text);
	assert_int_equal(vv_file_read(AT_FDCWD, pth("w"), VV_RF_PRIVATE, 100, &text, &len, &e),
			 -EPERM);
	assert_int_equal(chown(pth("w"), NOBODY, NOBODY), 0);
	assert_int_equal(chmod(pth("w"), 0600), 0);
	assert_int_equal(vv_file_read(AT_FDCWD, pth("w"), VV_RF_TRUSTED, 100, &text, &len, &e),
			 -EPERM);
	assert_non_null(strstr(e.message, "chown root:"));
	/* without a trust flag ownership does not matter */
	assert_int_equal(vv_file_read(AT_FDCWD, pth("w"), 0, 100, &text, &len, &e), 0);
	free(text);
}

/* The readers converted to the helper refuse what it refuses. */
static void test_config_and_handler_readers(void **state)
{
	struct vv_config *cfg = NULL;
	struct vv_error err = { 0 };
	char *text = NULL;
	size_t len;

	(void)state;
	assert_int_equal(mkfifo(pth("conf"), 0600), 0);
	assert_true(vv_config_load(pth("conf"), &cfg, &err) < 0);
	assert_non_null(strstr(err.message, "not a regular file"));
	assert_int_equal(kt_write(pth("real.conf"), "", 0, 0644), 0);
	assert_int_equal(symlink(pth("real.conf"), pth("link.conf")), 0);
	assert_int_equal(vv_config_load(pth("real.conf"), &cfg, &err), 0);
	vv_config_free(cfg);
	cfg = NULL;
	assert_int_equal(vv_config_load(pth("link.conf"), &cfg, &err), -ELOOP);
	assert_null(cfg);
	assert_int_equal(vv_handler_read_file(pth("conf"), 100, &text, &len, &err),
			 -EINVAL);
	assert_int_equal(vv_handler_read_file(pth("link.conf"), 100, &text, &len, &err), -ELOOP);
}

static void test_state_dir_checked(void **state)
{
	struct vv_error err = { 0 };
	char sub[600];
	struct stat st;
	int fd;

	(void)state;
	/* created 0700 with its missing parents */
	snprintf(sub, sizeof(sub), "%s/var/lib/vaultvol", dir);
	assert_int_equal(vv_state_dir_open(sub, false, &err), -ENOENT);
	fd = vv_state_dir_open(sub, true, &err);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	/* writable by others: refused, naming the path and the fix */
	assert_int_equal(chmod(sub, 0777), 0);
	assert_int_equal(vv_state_dir_open(sub, false, &err), -EPERM);
	assert_non_null(strstr(err.message, sub));
	assert_non_null(strstr(err.message, "chmod 0700"));
	assert_int_equal(chmod(sub, 0700), 0);
	/* someone else's */
	assert_int_equal(chown(sub, NOBODY, NOBODY), 0);
	assert_int_equal(vv_state_dir_open(sub, true, &err), -EPERM);
	assert_non_null(strstr(err.message, "chown root:"));
	assert_int_equal(chown(sub, 0, 0), 0);
	/* a symbolic link as the directory, or on the way to it */
	assert_int_equal(symlink(sub, pth("statelink")), 0);
	assert_int_equal(vv_state_dir_open(pth("statelink"), true, &err), -ELOOP);
	assert_non_null(strstr(err.message, "symbolic link"));
	assert_int_equal(symlink(pth("var"), pth("varlink")), 0);
	assert_int_equal(vv_state_dir_open(pth("varlink/lib/vaultvol"), false, &err),
			 -ELOOP);
	/* a file where the directory should be */
	assert_int_equal(kt_write(pth("plain"), "x", 1, 0600), 0);
	assert_int_equal(vv_state_dir_open(pth("plain"), true, &err) < 0, 1);
}

static void test_state_files_checked(void **state)
{
	struct vv_open_plan plan = { 0 };
	struct vv_prev *prev = NULL;
	struct vv_marker mk;
	struct vv_error err = { 0 };
	char sub[600], file[700];
	size_t n = 0;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/state", dir);
	assert_int_equal(vv_open_state_write(sub, &plan, &err), 0);
	snprintf(file, sizeof(file), "%s/%s", sub, VV_OPEN_STATE_FILE);
	assert_int_equal(vv_open_state_read(sub, &prev, &n, &err), 0);
	vv_prev_free(prev, n);
	/* group-writable volumes.json: refused by reader and writer, full path named */
	assert_int_equal(chmod(file, 0660), 0);
	assert_int_equal(vv_open_state_read(sub, &prev, &n, &err), -EPERM);
	assert_non_null(strstr(err.message, file));
	assert_non_null(strstr(err.message, "chmod go-w"));
	assert_int_equal(vv_open_state_write(sub, &plan, &err), -EPERM);
	assert_int_equal(chmod(file, 0600), 0);
	/* a FIFO in its place does not hang open or status */
	assert_int_equal(unlink(file), 0);
	assert_int_equal(mkfifo(file, 0600), 0);
	assert_int_equal(vv_open_state_read(sub, &prev, &n, &err), -EINVAL);
	assert_int_equal(unlink(file), 0);
	/* the state directory itself is checked on read too */
	assert_int_equal(chmod(sub, 0757), 0);
	assert_int_equal(vv_open_state_read(sub, &prev, &n, &err), -EPERM);
	assert_int_equal(chmod(sub, 0700), 0);

	/* the frozen marker: a symlink or FIFO is not followed or waited on */
	snprintf(file, sizeof(file), "%s/%s", sub, VV_MARKER_NAME);
	assert_int_equal(mkfifo(file, 0600), 0);
	assert_int_equal(vv_marker_read(file, &mk), -EINVAL);
	assert_int_equal(unlink(file), 0);
	assert_int_equal(kt_write(pth("evil.json"), "{\"mounts\":[]}", 13, 0600), 0);
	assert_int_equal(symlink(pth("evil.json"), file), 0);
	assert_int_equal(vv_marker_read(file, &mk), -ELOOP);
	assert_int_equal(unlink(file), 0);
	assert_int_equal(kt_write(file, "{\"mounts\":[]}", 13, 0600), 0);
	assert_int_equal(vv_marker_read(file, &mk), 0);
	vv_marker_clear(&mk);
	assert_int_equal(chown(file, NOBODY, NOBODY), 0);
	assert_int_equal(vv_marker_read(file, &mk), -EPERM);
}

/* Files libraries would open by name are checked first: the CA bundle, the AAD PEM. */
static void test_library_files(void **state)
{
	struct vv_error e = { 0 };
	struct vv_secret *jwt = NULL;
	struct vv_http *h = NULL;

	(void)state;
	assert_int_equal(mkfifo(pth("ca.pem"), 0644), 0);
	assert_int_equal(vv_http_new(pth("ca.pem"), &h), -EINVAL);
	assert_null(h);
	assert_int_equal(vv_jwt_client_assertion(pth("ca.pem"), "a", "b", 1, &jwt, &e), -EINVAL);
	assert_int_equal(kt_write(pth("real.pem"), "x", 1, 0600), 0);
	assert_int_equal(symlink(pth("real.pem"), pth("link.pem")), 0);
	assert_int_equal(vv_http_new(pth("link.pem"), &h), -ELOOP);
	assert_int_equal(vv_jwt_client_assertion(pth("link.pem"), "a", "b", 1, &jwt, &e), -ELOOP);
	assert_null(jwt);
}

/* Header backups go below the state directory: a bad one stops them first. */
static void test_header_backup_state_dir(void **state)
{
	char sub[600], p[4200];

	(void)state;
	snprintf(sub, sizeof(sub), "%s/hb", dir);
	assert_int_equal(mkdir(sub, 0777), 0);
	assert_int_equal(chmod(sub, 0777), 0);
	/* refused before the device is even looked at */
	assert_int_equal(vv_header_backup("/nonexistent", sub, p, sizeof(p)), -EPERM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_ok_and_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_refused_without_hanging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_and_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_and_handler_readers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_dir_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_files_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_backup_state_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_library_files, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
