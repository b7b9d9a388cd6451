// SPDX-License-Identifier: GPL-2.0-or-later
/* base/writefile: the one atomic writer (mode, no-replace, nothing left behind). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/readfile.h"
#include "base/writefile.h"

struct wf_fix {
	char dir[64];
};

static int setup(void **state)
{
	struct wf_fix *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/vv-wf-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct wf_fix *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* Only the named files remain: no temporary file is left behind. */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' && (!e->d_name[1] || e->d_name[1] == '.'))
			continue;
		assert_int_not_equal(strncmp(e->d_name, ".tmp", 4), 0);
		n++;
	}
	closedir(d);
	return n;
}

static void test_replace_exact_mode(void **state)
{
	struct wf_fix *f = *state;
	struct vv_error err = { 0 };
	char path[128], *text = NULL;
	struct stat st;
	size_t len;
	mode_t old;

	snprintf(path, sizeof(path), "%s/a.json", f->dir);
	old = umask(0);
	assert_int_equal(vv_file_write_atomic(AT_FDCWD, path, "one", 3, 0600, 0, &err), 0);
	umask(077);
	/* Replacing, with a mode the umask would narrow: the mode is exact. */
	assert_int_equal(vv_file_write_atomic(AT_FDCWD, path, "second", 6, 0644, 0, &err), 0);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(vv_file_read(AT_FDCWD, path, 0, 64, &text, &len, &err), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(text, "second", 6);
	free(text);
	assert_int_equal(count_entries(f->dir), 1);
}

static void test_noreplace(void **state)
{
	struct wf_fix *f = *state;
	struct vv_error err = { 0 };
	int dfd = open(f->dir, O_RDONLY | O_DIRECTORY);

	assert_true(dfd >= 0);
	assert_int_equal(vv_file_write_atomic(dfd, "v1", "x", 1, 0600,
					      VV_WF_NOREPLACE | VV_WF_NO_DIRSYNC, &err), 0);
	assert_int_equal(vv_file_write_atomic(dfd, "v1", "y", 1, 0600, VV_WF_NOREPLACE, &err),
			 -EEXIST);
	assert_string_equal(err.message, "v1 already exists");
	assert_int_equal(err.cause, VV_CAUSE_SYSTEM);
	close(dfd);
	assert_int_equal(count_entries(f->dir), 1);
}

/* A link planted at the target is replaced, never written through. */
static void test_link_replaced_not_followed(void **state)
{
	struct wf_fix *f = *state;
	struct vv_error err = { 0 };
	char path[128], victim[128];
	struct stat st;

	snprintf(path, sizeof(path), "%s/status", f->dir);
	snprintf(victim, sizeof(victim), "%s/victim", f->dir);
	assert_int_equal(vv_file_write_atomic(AT_FDCWD, victim, "keep", 4, 0600, 0, &err), 0);
	assert_int_equal(symlink(victim, path), 0);
	assert_int_equal(vv_file_write_atomic(AT_FDCWD, path, "new", 3, 0600, 0, &err), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(stat(victim, &st), 0);
	assert_int_equal(st.st_size, 4);
}

static void test_missing_dir_names_temp(void **state)
{
	struct wf_fix *f = *state;
	struct vv_error err = { 0 };
	char path[128];

	snprintf(path, sizeof(path), "%s/nodir/x", f->dir);
	assert_int_equal(vv_file_write_atomic(AT_FDCWD, path, "x", 1, 0600, 0, &err), -ENOENT);
	assert_int_equal(strncmp(err.message, "cannot create ", 14), 0);
	assert_non_null(strstr(err.message, "/nodir/.tmp-"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_replace_exact_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_noreplace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_replaced_not_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_dir_names_temp, setup, teardown),
	};

	return cmocka_run_group_tests_name("writefile", tests, NULL, NULL);
}
