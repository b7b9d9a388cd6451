// SPDX-License-Identifier: GPL-2.0-or-later
/* Running the snapshot command while frozen, with the deadline watched. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/snapshot/snapshot_internal.h"

int vv_snap_run_cmd(char *const cmd[], char *const env[], bool stdout_to_stderr,
		    long long deadline_ms, void (*thaw)(void *), void *ctx,
		    volatile sig_atomic_t *stop, long long *end_ms)
{
	int errp[2], pfd, st = 0, e;
	bool fired = false, forwarded = false;
	pid_t pid;

	if (pipe2(errp, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		e = -errno;
		close(errp[0]);
		close(errp[1]);
		return e;
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (stdout_to_stderr)
			dup2(2, 1);
		for (size_t i = 0; env && env[i]; i++)
			putenv(env[i]);
		execvp(cmd[0], cmd);
		e = errno;
		(void)!write(errp[1], &e, sizeof(e));
		_exit(127);
	}
	close(errp[1]);
	if (read(errp[0], &e, sizeof(e)) == sizeof(e)) {
		close(errp[0]);
		waitpid(pid, &st, 0);
		*end_ms = vv_clock_ms();
		return -e;
	}
	close(errp[0]);
	pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	for (;;) {
		long long left = deadline_ms - vv_clock_ms();
		int timeout;

		if (waitpid(pid, &st, WNOHANG) == pid)
			break;
		if (!fired && left <= 0) {
			fired = true;
			thaw(ctx);
		}
		if (!forwarded && stop && *stop) {
			/* Interrupted: end the freeze now, and tell the command. */
			forwarded = true;
			thaw(ctx);
			kill(pid, (int)*stop);
		}
		timeout = fired || forwarded ? 200 : (int)(left > 200 ? 200 : left);
		if (pfd >= 0) {
			struct pollfd p = { .fd = pfd, .events = POLLIN };

			poll(&p, 1, timeout);
		} else {
			usleep((useconds_t)timeout * 1000);
		}
	}
	*end_ms = vv_clock_ms();
	if (pfd >= 0)
		close(pfd);
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 255;
}
