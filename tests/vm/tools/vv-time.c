// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Guest bench tool for the bench_quiesce scenario: the wall time of
 * commands. An interpreter's start-up would swamp millisecond timings, and
 * busybox has no monotonic timer with microseconds.
 *
 * Usage: vv-time CMD [ARG...] [-- CMD [ARG...]]...
 *	Runs the commands one after another (PATH lookup), stopping at the
 *	first that fails; prints the wall time of each that ran in
 *	microseconds (CLOCK_MONOTONIC, fork to reap), space-separated on one
 *	line; exits with the status of the last one run (2 for usage).
 * (Throughput is fio's job: the scenario runs Debian's fio.)
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* xorshift64*: cheap, and the same sequence from a seed on every device. */
/* Runs one command; its wall time goes to *us. Returns its exit status. */
static int time_one(char **argv, uint64_t *us)
{
	uint64_t t0 = now_us();
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0) {
		perror("vv-time: fork");
		return 1;
	}
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "vv-time: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			perror("vv-time: waitpid");
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
	fprintf(stderr, "usage: vv-time CMD [ARG...] [-- CMD [ARG...]]...\n");
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
	if (argc < 2)
		return usage();
	return cmd_time(argc - 1, argv + 1);
}
