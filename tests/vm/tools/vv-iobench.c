// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Guest bench tool for the bench_quiesce scenario: O_DIRECT throughput of a
 * block device and wall time of commands. Python or busybox dd cannot do
 * either well inside the guest: dd has no aligned O_DIRECT and an
 * interpreter's start-up would swamp millisecond timings.
 *
 * Usage:
 *   vv-iobench seqwrite|seqread|randwrite|randread MS SEED DEV...
 *	O_DIRECT I/O at queue depth 1 (the per-I/O cost of a mapping is what
 *	shows): seq* 1 MiB blocks from offset 0 on, wrapping at the end; rand*
 *	4 KiB blocks at aligned offsets drawn from SEED (every device sees the
 *	same offsets; SEED is ignored by seq*). With several devices they take
 *	turns of 100 ms (A B B A A B ...) until each has had MS ms, so outside
 *	load and drift fall on all alike. Prints one figure per device, in
 *	order, from the median time of its single I/Os: MB/s (10^6 bytes) for
 *	seq*, I/O per second for rand*. The median, because under emulation on
 *	a busy host the mean is ruled by the moments the host descheduled the
 *	guest, which say nothing about the device; the overall rate and the
 *	spread go to stderr. Nothing is synced: O_DIRECT writes are complete
 *	when the device acknowledges them.
 *   vv-iobench fill DEV...
 *	Writes all of each DEV once (1 MiB O_DIRECT, a non-zero pattern) so
 *	later reads hit allocated blocks of a disk image rather than holes.
 *   vv-iobench time CMD [ARG...] [-- CMD [ARG...]]...
 *	Runs the commands one after another (PATH lookup), stopping at the
 *	first that fails; prints the wall time of each that ran in
 *	microseconds (CLOCK_MONOTONIC, fork to reap), space-separated on one
 *	line; exits with the status of the last one run.
 * Exit status: 0, 2 for usage, the commands' status for time, else an errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SEQ_BS (1u << 20)
#define RAND_BS 4096u
#define SLICE_MS 100u
#define MAX_DEVS 8

enum io_kind { IO_SEQ_WRITE, IO_SEQ_READ, IO_RAND_WRITE, IO_RAND_READ, IO_FILL };

/* One device under test: where it is, and what it did in its slices. */
struct stream {
	int fd;
	uint64_t size;	/* usable bytes: a multiple of the block size */
	uint64_t off;	/* next sequential offset */
	uint64_t rng;	/* random-offset state */
	uint64_t ops;
	uint64_t us;
	uint32_t *lat;	/* time of each I/O, us */
	size_t nlat, cap;
	unsigned turns;
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* xorshift64*: cheap, and the same sequence from a seed on every device. */
static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static bool is_write(enum io_kind k)
{
	return k == IO_SEQ_WRITE || k == IO_RAND_WRITE || k == IO_FILL;
}

static bool is_rand(enum io_kind k)
{
	return k == IO_RAND_WRITE || k == IO_RAND_READ;
}

static int stream_open(struct stream *st, const char *dev, enum io_kind kind, uint64_t seed)
{
	size_t bs = is_rand(kind) ? RAND_BS : SEQ_BS;
	off_t end;

	*st = (struct stream){ .fd = -1, .rng = seed ? seed : 1 };
	st->fd = open(dev, (is_write(kind) ? O_WRONLY : O_RDONLY) | O_DIRECT | O_CLOEXEC);
	if (st->fd < 0)
		return -errno;
	/* SEEK_END gives the size of a block device as of a file. */
	end = lseek(st->fd, 0, SEEK_END);
	if (end < 0)
		return -errno;
	st->size = (uint64_t)end - (uint64_t)end % bs;
	return st->size ? 0 : -EINVAL;
}

/* Keeps one I/O time; the array grows as needed. */
static int stream_note(struct stream *st, uint64_t us)
{
	uint32_t *grown;

	if (st->nlat == st->cap) {
		grown = reallocarray(st->lat, st->cap ? st->cap * 2 : 1024, sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		st->lat = grown;
		st->cap = st->cap ? st->cap * 2 : 1024;
	}
	st->lat[st->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	return 0;
}

/* I/O on one stream until `until_us` (or, for fill, to the end of the device). */
static int stream_slice(struct stream *st, enum io_kind kind, void *buf, uint64_t until_us)
{
	size_t bs = is_rand(kind) ? RAND_BS : SEQ_BS;
	uint64_t t0 = now_us(), t1, t2;
	ssize_t n;
	int r;

	for (t1 = t0;; t1 = t2) {
		if (kind == IO_FILL ? st->off >= st->size : t1 >= until_us)
			break;
		if (is_rand(kind))
			st->off = next_rand(&st->rng) % (st->size / bs) * bs;
		else if (st->off >= st->size)
			st->off = 0;
		n = is_write(kind) ? pwrite(st->fd, buf, bs, (off_t)st->off)
				   : pread(st->fd, buf, bs, (off_t)st->off);
		if (n < 0)
			return -errno;
		if ((size_t)n != bs)
			return -EIO;
		t2 = now_us();
		st->ops++;
		if (!is_rand(kind))
			st->off += bs;
		if (kind != IO_FILL) {
			r = stream_note(st, t2 - t1);
			if (r < 0)
				return r;
		}
	}
	st->us += t1 - t0;
	st->turns++;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* The q-quantile (0..1) of the I/O times, nearest rank; sorts them. */
static double quantile_us(struct stream *st, double q)
{
	size_t k;

	if (st->nlat == 0)
		return 0;
	qsort(st->lat, st->nlat, sizeof(*st->lat), cmp_u32);
	k = (size_t)(q * (double)(st->nlat - 1) + 0.5);
	return st->lat[k] ? st->lat[k] : 1;
}

static bool all_done(const struct stream *st, int ndev, unsigned total_ms)
{
	int i;

	for (i = 0; i < ndev; i++)
		if (st[i].us < (uint64_t)total_ms * 1000u)
			return false;
	return true;
}

/*
 * Measures every device for total_ms, in SLICE_MS turns: forward order in
 * even turns, backward in odd ones (A B B A A B ...), so load from outside
 * the guest falls on all devices alike. Prints one figure per device.
 */
static int run_io(enum io_kind kind, unsigned total_ms, uint64_t seed, char **devs, int ndev)
{
	struct stream st[MAX_DEVS];
	void *buf = NULL;
	int i, k, opened = 0, turn, r;

	r = -posix_memalign(&buf, 4096, SEQ_BS);
	if (r < 0) {
		buf = NULL;
		fprintf(stderr, "vv-iobench: buffer: %s\n", strerror(-r));
		goto out;
	}
	/* Not zeros: a zero-detecting layer below must not get an easy ride. */
	memset(buf, 0xa5, SEQ_BS);
	for (opened = 0; opened < ndev; opened++) {
		r = stream_open(&st[opened], devs[opened], kind, seed);
		if (r < 0) {
			fprintf(stderr, "vv-iobench: %s: %s\n", devs[opened], strerror(-r));
			opened++;
			goto out;
		}
	}
	if (kind == IO_FILL) {
		for (i = 0; i < ndev; i++) {
			r = stream_slice(&st[i], kind, buf, 0);
			if (r < 0) {
				fprintf(stderr, "vv-iobench: %s: %s\n", devs[i], strerror(-r));
				goto out;
			}
		}
		goto out;
	}
	for (turn = 0; !all_done(st, ndev, total_ms); turn++) {
		for (k = 0; k < ndev; k++) {
			i = turn % 2 ? ndev - 1 - k : k;
			r = stream_slice(&st[i], kind, buf, now_us() + SLICE_MS * 1000u);
			if (r < 0) {
				fprintf(stderr, "vv-iobench: %s: %s\n", devs[i], strerror(-r));
				goto out;
			}
		}
	}
	for (i = 0; i < ndev; i++) {
		double scale = is_rand(kind) ? 1 : SEQ_BS / 1e6;
		double overall = (double)st[i].ops * 1e6 / (double)(st[i].us ? st[i].us : 1);
		double med = quantile_us(&st[i], 0.5);

		fprintf(stderr, "vv-iobench: %s: %" PRIu64 " I/Os in %u turns, overall %.1f/s; "
			"I/O time p10 %.0f, median %.0f, p90 %.0f, max %.0f us\n",
			devs[i], st[i].ops, st[i].turns, overall * scale,
			quantile_us(&st[i], 0.1), med, quantile_us(&st[i], 0.9),
			quantile_us(&st[i], 1.0));
		printf(is_rand(kind) ? "%s%.0f" : "%s%.1f", i ? " " : "", 1e6 / med * scale);
	}
	printf("\n");
out:
	for (i = 0; i < opened; i++) {
		if (st[i].fd >= 0)
			close(st[i].fd);
		free(st[i].lat);
	}
	free(buf);
	return r;
}

/* Runs one command; its wall time goes to *us. Returns its exit status. */
static int time_one(char **argv, uint64_t *us)
{
	uint64_t t0 = now_us();
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0) {
		perror("vv-iobench: fork");
		return 1;
	}
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "vv-iobench: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			perror("vv-iobench: waitpid");
			return 1;
		}
	}
	*us = now_us() - t0;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static int usage(void)
{
	fprintf(stderr, "usage: vv-iobench seqwrite|seqread|randwrite|randread MS SEED DEV... | "
		"fill DEV... | time CMD [ARG...] [-- CMD [ARG...]]...\n");
	return 2;
}

/* argv: CMD [ARG...] [-- CMD [ARG...]]..., NULL-terminated; "--" are cut. */
static int cmd_time(int argc, char **argv)
{
	int i, first = 0, rc = 0, printed = 0;
	uint64_t us;

	/* An empty command anywhere is a usage error, found before running any. */
	for (i = 0; i <= argc; i++)
		if ((i == argc || !strcmp(argv[i], "--")) && (i == 0 || !strcmp(argv[i - 1], "--")))
			return usage();
	for (i = 0; i <= argc; i++) {
		if (i < argc && strcmp(argv[i], "--"))
			continue;
		argv[i] = NULL;
		us = 0;
		rc = time_one(argv + first, &us);
		if (us)
			printf("%s%" PRIu64, printed++ ? " " : "", us);
		if (rc)
			break;
		first = i + 1;
	}
	printf("\n");
	return rc;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		enum io_kind kind;
	} modes[] = {
		{ "seqwrite", IO_SEQ_WRITE },
		{ "seqread", IO_SEQ_READ },
		{ "randwrite", IO_RAND_WRITE },
		{ "randread", IO_RAND_READ },
		{ "fill", IO_FILL },
	};
	unsigned ms = 0;
	uint64_t seed = 0;
	int first, r;
	size_t i;

	if (argc < 3)
		return usage();
	if (!strcmp(argv[1], "time"))
		return cmd_time(argc - 2, argv + 2);
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(argv[1], modes[i].name))
			break;
	if (i == sizeof(modes) / sizeof(modes[0]))
		return usage();
	first = 2;
	if (modes[i].kind != IO_FILL) {
		if (argc < 5)
			return usage();
		ms = (unsigned)strtoul(argv[2], NULL, 10);
		seed = strtoull(argv[3], NULL, 10);
		first = 4;
	}
	if (argc - first > MAX_DEVS || (modes[i].kind != IO_FILL && ms == 0))
		return usage();
	r = run_io(modes[i].kind, ms, seed, argv + first, argc - first);
	return r < 0 ? -r : 0;
}
