// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The BEK never leaks: run the real vaultvol binary (`key new-kek`,
 * `key put` from stdin and from a file, plain and KEK-wrapped, then
 * `key show` as text, JSON and with debug logging) against a keystore in a
 * temp dir, and look for the key - raw, hex (both cases), base64 and
 * base64url at every byte alignment - in stdout, stderr, the process's
 * /proc/<pid>/cmdline and /proc/<pid>/environ (read while it holds the key),
 * and every file it wrote except the keystore's value file of the unwrapped
 * secret, which must hold base64(key) (that positive control proves the
 * scanner finds what it looks for).
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <limits.h>
#include <libgen.h>
#include <time.h>

#include <openssl/rand.h>

#include "keysrc_helpers.h"
#include "base/b64.h"

#define KEYLEN 32

struct needle {
	char *text;
	size_t len;
	char what[32];
};

static struct {
	char *dir;
	char bin[PATH_MAX];
	char ks[600], input[600];
	unsigned char key[KEYLEN];
	struct needle needles[16];
	size_t nneedles;
	char sha[65];
	int runs;
	time_t start;
	/* results of the file walk */
	const char *skip;	/* the one file allowed to hold base64(key) */
	int files_scanned, hits;
	char hit_path[700], hit_what[32];
} T;

static void add_needle(const void *p, size_t len, const char *what)
{
	struct needle *n = &T.needles[T.nneedles++];

	n->text = malloc(len);
	memcpy(n->text, p, len);
	n->len = len;
	snprintf(n->what, sizeof(n->what), "%s", what);
}

static void make_needles(void)
{
	char hex[2 * KEYLEN + 1], HEX[2 * KEYLEN + 1];

	add_needle(T.key, KEYLEN, "raw");
	for (size_t i = 0; i < KEYLEN; i++) {
		snprintf(hex + 2 * i, 3, "%02x", T.key[i]);
		snprintf(HEX + 2 * i, 3, "%02X", T.key[i]);
	}
	add_needle(hex, 2 * KEYLEN, "hex");
	add_needle(HEX, 2 * KEYLEN, "HEX");
	/*
	 * Wherever the key sits in a longer base64 stream, the stream contains
	 * the encoding of key[s..] (s = 0, 1 or 2) minus its last quad.
	 */
	for (int a = VV_B64_STD; a <= VV_B64_URL; a++) {
		for (size_t s = 0; s < 3; s++) {
			char *e = vv_b64_encode(a, T.key + s, KEYLEN - s);
			char what[32];

			snprintf(what, sizeof(what), "%s+%zu", a == VV_B64_STD ? "base64" : "base64url", s);
			add_needle(e, strlen(e) - 4, what);
			free(e);
		}
	}
}

/* Name of the first needle found in buf, or NULL. */
static const char *find_needle(const void *buf, size_t len)
{
	for (size_t i = 0; i < T.nneedles; i++)
		if (memmem(buf, len, T.needles[i].text, T.needles[i].len))
			return T.needles[i].what;
	return NULL;
}

static void assert_clean_file(const char *path)
{
	size_t len = 0;
	char *buf = kt_read(path, &len);
	const char *what;

	assert_non_null(buf);
	what = find_needle(buf, len);
	if (what)
		print_error("key (%s) found in %s\n", what, path);
	assert_null(what);
	free(buf);
}

/*
 * Run vaultvol with args; stdout/stderr go to files in T.dir (scanned by
 * the caller and by the final walk). With stdin_key, the key is written to
 * its stdin and, while the process holds it (stdin still open), its
 * cmdline and environ are checked. Returns the exit status.
 */
static int run(const char *const *args, bool stdin_key, char *out_path, char *err_path)
{
	char *argv[24], *envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C",
				    "VV_LEAK_TEST=1", NULL };
	int in[2], st, n = 0;
	pid_t pid;

	T.runs++;
	snprintf(out_path, 700, "%s/stdout-%d", T.dir, T.runs);
	snprintf(err_path, 700, "%s/stderr-%d", T.dir, T.runs);
	argv[n++] = T.bin;
	for (const char *const *a = args; *a; a++)
		argv[n++] = (char *)*a;
	argv[n] = NULL;
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (o < 0 || e < 0 || dup2(in[0], 0) < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(127);
		if (!stdin_key)
			close(0);	/* any read of stdin must fail, not block */
		execve(T.bin, argv, envp);
		_exit(127);
	}
	close(in[0]);
	if (stdin_key) {
		char proc[64], *cmd = NULL;
		size_t len = 0;

		assert_int_equal(write(in[1], T.key, KEYLEN), KEYLEN);
		/* wait until it is the vaultvol image, then look while it waits for EOF */
		snprintf(proc, sizeof(proc), "/proc/%d/cmdline", (int)pid);
		for (int i = 0; i < 500; i++) {
			cmd = kt_read(proc, &len);
			if (cmd && len && strcmp(cmd, T.bin) == 0)
				break;
			free(cmd);
			cmd = NULL;
			usleep(10000);
		}
		assert_non_null(cmd);
		assert_null(find_needle(cmd, len));
		free(cmd);
		/* the key is in its memory now; let it read it */
		usleep(100000);
		snprintf(proc, sizeof(proc), "/proc/%d/environ", (int)pid);
		cmd = kt_read(proc, &len);
		assert_non_null(cmd);
		assert_non_null(memmem(cmd, len, "VV_LEAK_TEST=1", 14));
		assert_null(find_needle(cmd, len));
		free(cmd);
	}
	close(in[1]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_clean_file(out_path);
	assert_clean_file(err_path);
	return WEXITSTATUS(st);
}

static int setup(void **state)
{
	char self[PATH_MAX];
	ssize_t n;

	(void)state;
	memset(&T, 0, sizeof(T));
	T.start = time(NULL) - 1;
	T.dir = kt_mkdtemp("leak");
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (!T.dir || n <= 0)
		return -1;
	self[n] = '\0';
	/* build[-asan]/tests/test_key_leak -> build[-asan]/vaultvol */
	snprintf(T.bin, sizeof(T.bin), "%s/vaultvol", dirname(dirname(self)));
	if (access(T.bin, X_OK) != 0) {
		fprintf(stderr, "test_key_leak: %s is missing (make builds it)\n", T.bin);
		return -1;
	}
	snprintf(T.ks, sizeof(T.ks), "%s/ks", T.dir);
	snprintf(T.input, sizeof(T.input), "%s/input.key", T.dir);
	/* a key with no NUL or newline, so every tool path carries it whole */
	do {
		if (RAND_bytes(T.key, KEYLEN) != 1)
			return -1;
	} while (memchr(T.key, 0, KEYLEN) || memchr(T.key, '\n', KEYLEN));
	make_needles();
	{
		struct vv_secret *s = vv_secret_from(T.key, KEYLEN);

		vv_secret_fingerprint(s, T.sha);
		vv_secret_free(s);
	}
	return kt_write(T.input, T.key, KEYLEN, 0600);
}

static int teardown(void **state)
{
	(void)state;
	kt_rmrf(T.dir);
	free(T.dir);
	for (size_t i = 0; i < T.nneedles; i++)
		free(T.needles[i].text);
	return 0;
}

/* The versioned reference printed by `key put` (text output). */
static char *stored_ref(const char *out_path)
{
	char *out = kt_read(out_path, NULL), *p, *e, *r;

	assert_non_null(out);
	p = strstr(out, "stored:");
	assert_non_null(p);
	p += strlen("stored:");
	p += strspn(p, " ");
	e = p + strcspn(p, "\n");
	r = strndup(p, (size_t)(e - p));
	free(out);
	return r;
}

static void assert_shows_key(const char *out_path)
{
	char *out = kt_read(out_path, NULL);

	assert_non_null(out);
	/* the show really fetched (and unwrapped) the key: right fingerprint */
	assert_non_null(strstr(out, T.sha));
	assert_true(strstr(out, "32 bytes") || strstr(out, "\"length\":32"));
	free(out);
}

static int walk_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	size_t len = 0;
	char *buf;
	const char *what;

	(void)ftw;
	if (flag != FTW_F || !S_ISREG(st->st_mode) || st->st_size > (4 << 20))
		return 0;
	/* under /tmp: only files changed since this test began */
	if (strncmp(path, T.dir, strlen(T.dir)) != 0 && st->st_mtime < T.start)
		return 0;
	if (strcmp(path, T.input) == 0)
		return 0;
	buf = kt_read(path, &len);
	if (!buf)
		return 0;	/* vanished or unreadable: another test's file */
	T.files_scanned++;
	what = find_needle(buf, len);
	if (what && T.skip && strcmp(path, T.skip) == 0) {
		/* positive control: the unwrapped value file holds base64(key) */
		assert_string_equal(what, "base64+0");
	} else if (what && !T.hits++) {
		snprintf(T.hit_path, sizeof(T.hit_path), "%s", path);
		snprintf(T.hit_what, sizeof(T.hit_what), "%s", what);
	}
	free(buf);
	return 0;
}

static void test_no_leak(void **state)
{
	char out[700], err[700], *plain_ref, *wrapped_ref, *file_ref, skip[900];
	const char *ks = T.ks;

	(void)state;
	{
		const char *a[] = { "key", "new-kek", "kek1", "--bits", "2048", "--keystore", ks, NULL };

		assert_int_equal(run(a, false, out, err), 0);
	}
	{
		const char *a[] = { "-v", "-v", "key", "put", "keystore:plain", "--stdin",
				    "--keystore", ks, NULL };

		assert_int_equal(run(a, true, out, err), 0);
		plain_ref = stored_ref(out);
	}
	{
		const char *a[] = { "-v", "-v", "key", "put", "keystore:wrapped", "--stdin",
				    "--kek", "keystore-kek:kek1", "--alg", "RSA-OAEP-256",
				    "--keystore", ks, NULL };

		assert_int_equal(run(a, true, out, err), 0);
		wrapped_ref = stored_ref(out);
	}
	{
		const char *a[] = { "key", "put", "keystore:fromfile", "--from-file", T.input,
				    "--kek", "keystore-kek:kek1", "--keystore", ks, NULL };

		assert_int_equal(run(a, false, out, err), 0);
		file_ref = stored_ref(out);
	}
	{
		const char *refs[] = { plain_ref, wrapped_ref, file_ref, "plain", "wrapped" };

		for (size_t i = 0; i < 5; i++) {
			const char *a[] = { "-v", "-v", "key", "show", refs[i], "--keystore", ks, NULL };
			const char *j[] = { "--json", "key", "show", refs[i], "--keystore", ks, NULL };

			assert_int_equal(run(a, false, out, err), 0);
			assert_shows_key(out);
			assert_int_equal(run(j, false, out, err), 0);
			assert_shows_key(out);
		}
	}
	/* failures print errors; they must not carry the key either */
	{
		const char *a[] = { "-v", "-v", "key", "show", wrapped_ref, "--kek",
				    "file:/nonexistent.pem", "--keystore", ks, NULL };

		assert_int_equal(run(a, false, out, err), 1);
	}

	/* Every file written: the test dir, and anything new under /tmp or /run/vaultvol. */
	snprintf(skip, sizeof(skip), "%s/plain/%s", ks, plain_ref + strlen("keystore:plain/"));
	T.skip = skip;
	assert_int_equal(access(skip, R_OK), 0);
	assert_int_equal(nftw(T.dir, walk_cb, 16, FTW_PHYS), 0);
	assert_true(T.files_scanned >= 30);	/* 27 stdout/stderr + keystore files */
	nftw("/tmp", walk_cb, 16, FTW_PHYS | FTW_MOUNT);
	nftw("/run/vaultvol", walk_cb, 16, FTW_PHYS | FTW_MOUNT);
	if (T.hits)
		print_error("key (%s) found in %s (%d files)\n", T.hit_what, T.hit_path, T.hits);
	assert_int_equal(T.hits, 0);
	/* and the positive control really was seen */
	{
		size_t len = 0;
		char *v = kt_read(skip, &len);

		assert_non_null(v);
		assert_string_equal(find_needle(v, len), "base64+0");
		free(v);
	}
	free(plain_ref);
	free(wrapped_ref);
	free(file_ref);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_leak),
	};

	return cmocka_run_group_tests_name("key_leak", tests, setup, teardown);
}
