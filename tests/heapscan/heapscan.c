// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * heapscan.so: an LD_PRELOAD free() scanner for tests/suites/heap-wipe.sh.
 *
 * On every free() and realloc() it looks through the whole block being
 * given back (malloc_usable_size bytes; for realloc the old block, which
 * realloc may move and free) for the needles listed in the file named by
 * VV_HEAPSCAN_NEEDLES, one "LABEL HEX" per line, and appends one line
 * "hit LABEL free|realloc SIZE" per find to the file VV_HEAPSCAN_OUT. At
 * exit it appends "scanned N blocks". A block that still holds a bearer
 * token or a key when it is freed is a block the allocator may hand to
 * anyone later, and that a core or /proc/PID/mem reader can see.
 *
 * It allocates nothing itself (static buffers, write(2)), so it cannot
 * recurse into the functions it wraps.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_NEEDLES 16
#define NEEDLE_MAX 256

static struct {
	char label[32];
	unsigned char bytes[NEEDLE_MAX];
	size_t len;
} needles[MAX_NEEDLES];
static int nneedles;
static int out_fd = -1;
static unsigned long scanned;
static void (*real_free)(void *);
static void *(*real_realloc)(void *, size_t);
static __thread int busy;

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void load_needles(const char *path)
{
	static char buf[16384];
	ssize_t n;
	char *line, *save = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line && nneedles < MAX_NEEDLES;
	     line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');
		size_t len = 0;

		if (!sp)
			continue;
		*sp++ = '\0';
		while (sp[0] && sp[1] && len < NEEDLE_MAX) {
			int hi = hexval(sp[0]), lo = hexval(sp[1]);

			if (hi < 0 || lo < 0)
				break;
			needles[nneedles].bytes[len++] = (unsigned char)(hi << 4 | lo);
			sp += 2;
		}
		if (len < 8)	/* a short needle would match by chance */
			continue;
		snprintf(needles[nneedles].label, sizeof(needles[nneedles].label), "%s", line);
		needles[nneedles].len = len;
		nneedles++;
	}
}

__attribute__((constructor)) static void heapscan_init(void)
{
	const char *in = getenv("VV_HEAPSCAN_NEEDLES"), *out = getenv("VV_HEAPSCAN_OUT");

	busy++;
	real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	if (in)
		load_needles(in);
	if (out)
		out_fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	busy--;
}

__attribute__((destructor)) static void heapscan_fini(void)
{
	char line[64];
	int n;

	if (out_fd < 0)
		return;
	n = snprintf(line, sizeof(line), "scanned %lu blocks\n", scanned);
	if (n > 0)
		(void)!write(out_fd, line, (size_t)n);
}

static void scan(const void *p, const char *how)
{
	size_t size;

	if (!p || busy || out_fd < 0 || !nneedles)
		return;
	busy++;
	size = malloc_usable_size((void *)p);
	scanned++;
	for (int i = 0; i < nneedles; i++) {
		if (memmem(p, size, needles[i].bytes, needles[i].len)) {
			char line[128];
			int n = snprintf(line, sizeof(line), "hit %s %s %zu\n", needles[i].label,
					 how, size);

			if (n > 0)
				(void)!write(out_fd, line, (size_t)n);
		}
	}
	busy--;
}

void free(void *p)
{
	scan(p, "free");
	if (!real_free)	/* before the constructor: dlsym itself may free */
		real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	real_free(p);
}

void *realloc(void *p, size_t n)
{
	scan(p, "realloc");
	if (!real_realloc)
		real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	return real_realloc(p, n);
}
