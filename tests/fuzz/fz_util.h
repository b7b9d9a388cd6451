/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers shared by the libFuzzer harnesses in tests/fuzz/.
 *
 * Inputs with several parts (files of a directory, responses of an HTTP
 * exchange) separate them with a line holding only "----": seeds stay
 * readable text and the fuzzer can add or drop parts.
 */
#ifndef VV_FZ_UTIL_H
#define VV_FZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define FZ_SEP "\n----\n"
#define FZ_MAX_PARTS 16

struct fz_parts {
	char *buf;			/* one NUL-terminated copy of the input */
	char *part[FZ_MAX_PARTS];	/* each NUL-terminated, inside buf */
	size_t len[FZ_MAX_PARTS];
	size_t n;
};

/* Split data at FZ_SEP (at most FZ_MAX_PARTS; the last keeps the rest). */
void fz_split(const uint8_t *data, size_t size, struct fz_parts *p);
void fz_parts_free(struct fz_parts *p);

/* A NUL-terminated malloc'ed copy of data (embedded NULs stay). */
char *fz_strndup(const uint8_t *data, size_t size);

/*
 * This harness's own scratch directory (created on first use, removed at
 * exit): /dev/shm (or /tmp)/vv-fuzz-NAME-PID, so parallel runs never share
 * files.
 */
const char *fz_dir(const char *name);
/* Write len bytes to dir/rel (parents created), mode 0600. 0 or -errno. */
int fz_write(const char *dir, const char *rel, const void *data, size_t len);
/* Remove dir/rel if present. */
void fz_unlink(const char *dir, const char *rel);

/* Zero retry waits; call from LLVMFuzzerInitialize (logs are wrapped). */
void fz_quiet(void);

/* The whole LLVMFuzzerInitialize of a harness that needs only fz_quiet(). */
#define FZ_INIT_QUIET()							\
	int LLVMFuzzerInitialize(int *argc, char ***argv);		\
	int LLVMFuzzerInitialize(int *argc, char ***argv)		\
	{								\
		(void)argc;						\
		(void)argv;						\
		fz_quiet();						\
		return 0;						\
	}

/*
 * The whole LLVMFuzzerInitialize of a harness with a scratch directory:
 * fz_quiet(), then the static `var` = fz_dir(name), then seed(var) unless
 * seed is NULL (files the directory holds for every input; it aborts on
 * failure).
 */
#define FZ_INIT_SCRATCH(var, name, seed)				\
	static const char *var;						\
	int LLVMFuzzerInitialize(int *argc, char ***argv);		\
	int LLVMFuzzerInitialize(int *argc, char ***argv)		\
	{								\
		void (*seed_fn)(const char *) = seed;			\
									\
		(void)argc;						\
		(void)argv;						\
		fz_quiet();						\
		var = fz_dir(name);					\
		if (seed_fn)						\
			seed_fn(var);					\
		return 0;						\
	}

#endif
