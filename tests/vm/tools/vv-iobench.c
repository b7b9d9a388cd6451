// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Guest bench tool for the bench_quiesce scenario: O_DIRECT throughput of a
 * block device and wall time of commands. Python or busybox dd cannot do
 * either well inside the guest: dd has no aligned O_DIRECT and an
 * interpreter's start-up would swamp millisecond timings.
 *
 * Usage:
 *   vv-iobench seqwrite|seqread DEV SECONDS
 *	1 MiB O_DIRECT I/O from sector 0 onward, wrapping at the end of DEV,
 *	for SECONDS (writes end with fdatasync, counted); prints MB/s (10^6).
 *   vv-iobench randwrite|randread DEV SECONDS SEED
 *	4 KiB O_DIRECT I/O at 4 KiB-aligned offsets drawn from SEED (the same
 *	SEED gives the same offsets on every device of that size), one at a
 *	time (queue depth 1: the per-I/O cost of the mapping is what shows);
 *	prints I/O per second.
 *   vv-iobench fill DEV
 *	Writes all of DEV once (1 MiB O_DIRECT, a non-zero pattern) so later
 *	reads hit allocated blocks of the disk image rather than holes.
 *   vv-iobench time CMD [ARG...]
 *	Runs CMD (PATH lookup), waits, prints its wall time in microseconds
 *	(CLOCK_MONOTONIC, fork to reap); exits with CMD's status.
 * Exit status: 0, 2 for usage, CMD's status for time, else an errno.
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

enum io_kind { IO_SEQ_WRITE, IO_SEQ_READ, IO_RAND_WRITE, IO_RAND_READ, IO_FILL };

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* xorshift64*: cheap, and reproducible from a seed on any device. */
static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static int full_io(int fd, enum io_kind kind, void *buf, size_t len, uint64_t off)
{
	bool wr = kind == IO_SEQ_WRITE || kind == IO_RAND_WRITE || kind == IO_FILL;
	ssize_t n = wr ? pwrite(fd, buf, len, (off_t)off) : pread(fd, buf, len, (off_t)off);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

/*
 * Runs one measurement; *ops gets the I/Os done and *elapsed_us their time.
 * seconds == 0 means one pass over the device (fill).
 */
static int run_io(const char *dev, enum io_kind kind, unsigned seconds, uint64_t seed,
		  uint64_t *ops, uint64_t *elapsed_us)
{
	bool rnd = kind == IO_RAND_WRITE || kind == IO_RAND_READ;
	bool rd = kind == IO_SEQ_READ || kind == IO_RAND_READ;
	size_t bs = rnd ? RAND_BS : SEQ_BS;
	uint64_t size = 0, off = 0, n = 0, t0, deadline, s = seed ? seed : 1;
	void *buf = NULL;
	int fd, r;

	fd = open(dev, (rd ? O_RDONLY : O_WRONLY) | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* SEEK_END gives the size of a block device as of a file. */
	size = (uint64_t)lseek(fd, 0, SEEK_END);
	if (size == (uint64_t)-1) {
		r = -errno;
		goto out;
	}
	size -= size % bs;
	if (size == 0) {
		r = -EINVAL;
		goto out;
	}
	r = -posix_memalign(&buf, 4096, bs);
	if (r < 0) {
		buf = NULL;
		goto out;
	}
	/* Not zeros: a zero-detecting layer below must not get an easy ride. */
	memset(buf, 0xa5, bs);
	t0 = now_us();
	deadline = t0 + (uint64_t)seconds * 1000000u;
	for (;;) {
		if (kind == IO_FILL ? off >= size : now_us() >= deadline)
			break;
		if (rnd)
			off = next_rand(&s) % (size / bs) * bs;
		else if (off >= size)
			off = 0;
		r = full_io(fd, kind, buf, bs, off);
		if (r < 0)
			goto out;
		n++;
		if (!rnd)
			off += bs;
	}
	/* A write figure counts the time to make the writes durable. */
	if (!rd && fdatasync(fd) < 0) {
		r = -errno;
		goto out;
	}
	*elapsed_us = now_us() - t0;
	*ops = n;
	r = 0;
out:
	free(buf);
	close(fd);
	return r;
}

static int cmd_time(char **argv)
{
	uint64_t t0 = now_us(), t;
	int status;
	pid_t pid;

	fflush(stdout);
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
	t = now_us() - t0;
	printf("%" PRIu64 "\n", t);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static int usage(void)
{
	fprintf(stderr, "usage: vv-iobench seqwrite|seqread DEV SECONDS | "
		"randwrite|randread DEV SECONDS SEED | fill DEV | time CMD [ARG...]\n");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		enum io_kind kind;
		int argc;
	} modes[] = {
		{ "seqwrite", IO_SEQ_WRITE, 4 },
		{ "seqread", IO_SEQ_READ, 4 },
		{ "randwrite", IO_RAND_WRITE, 5 },
		{ "randread", IO_RAND_READ, 5 },
		{ "fill", IO_FILL, 3 },
	};
	uint64_t ops = 0, us = 0;
	unsigned seconds;
	size_t i;
	int r;

	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "time"))
		return argc > 2 ? cmd_time(argv + 2) : usage();
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(argv[1], modes[i].name))
			break;
	if (i == sizeof(modes) / sizeof(modes[0]) || argc != modes[i].argc)
		return usage();
	seconds = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 0;
	if (modes[i].kind != IO_FILL && seconds == 0)
		return usage();
	r = run_io(argv[2], modes[i].kind, seconds,
		   argc > 4 ? strtoull(argv[4], NULL, 10) : 0, &ops, &us);
	if (r < 0) {
		fprintf(stderr, "vv-iobench %s %s: %s\n", argv[1], argv[2], strerror(-r));
		return -r;
	}
	if (us == 0)
		us = 1;
	if (modes[i].kind == IO_SEQ_WRITE || modes[i].kind == IO_SEQ_READ)
		printf("%.1f\n", (double)ops * SEQ_BS / (double)us);
	else if (modes[i].kind != IO_FILL)
		printf("%.0f\n", (double)ops * 1e6 / (double)us);
	return 0;
}
