// SPDX-License-Identifier: GPL-2.0-or-later
/* Running one script: own session, timeout that kills the group, output tail. */
#include "agent/snapshot/scripts.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Keep the last VV_SCRIPT_OUTPUT_MAX bytes. */
static void tail_append(struct vv_exec_result *res, size_t *len, const char *p, size_t n)
{
	const size_t max = VV_SCRIPT_OUTPUT_MAX;

	if (n >= max) {
		memcpy(res->output, p + n - max, max);
		*len = max;
		return;
	}
	if (*len + n > max) {
		size_t drop = *len + n - max;

		memmove(res->output, res->output + drop, *len - drop);
		*len -= drop;
	}
	memcpy(res->output + *len, p, n);
	*len += n;
}

static __attribute__((noreturn)) void child(int exec_fd, char *const argv[],
					    char *const env[], int out_fd, int err_pipe)
{
	int devnull;

	setsid();
	/* Scripts should not inherit our blocked set or ignored signals. */
	{
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (int s = 1; s < NSIG; s++)
			if (s != SIGKILL && s != SIGSTOP)
				signal(s, SIG_DFL);
	}
	devnull = open("/dev/null", O_RDONLY);
	if (devnull >= 0) {
		dup2(devnull, 0);
		if (devnull > 2)
			close(devnull);
	}
	dup2(out_fd, 1);
	dup2(out_fd, 2);
	if (out_fd > 2)
		close(out_fd);
	for (size_t i = 0; env && env[i]; i++)
		putenv(env[i]);
	if (!getenv("PATH"))
		setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
	if (exec_fd >= 0) {
		/*
		 * The checked file itself, not whatever its path names now. A
		 * "#!" script's interpreter opens it again by the name the
		 * kernel gives it, so the descriptor must survive the exec (a
		 * dup without close-on-exec). execveat(AT_EMPTY_PATH) names it
		 * /dev/fd/N, which minimal systems (initramfs) lack; the magic
		 * link /proc/self/fd/N is the same open file and works wherever
		 * /proc is mounted, so it goes first.
		 */
		int fd = dup(exec_fd);
		char self[40];

		if (fd >= 0) {
			snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
			execve(self, argv, environ);
			execveat(fd, "", argv, environ, AT_EMPTY_PATH);
		}
	} else {
		execve(argv[0], argv, environ);
	}
	{
		int e = errno;

		(void)!write(err_pipe, &e, sizeof(e));
	}
	_exit(127);
}

int vv_exec_run(char *const argv[], char *const env[], long timeout_ms,
		struct vv_exec_result *res)
{
	return vv_exec_run_fd(-1, argv, env, timeout_ms, res);
}

int vv_exec_run_fd(int exec_fd, char *const argv[], char *const env[], long timeout_ms,
		   struct vv_exec_result *res)
{
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, pfd = -1;
	long long t0 = mono_ms();
	size_t len = 0;
	bool exited = false;
	pid_t pid;
	int st = 0, r = 0;

	memset(res, 0, sizeof(*res));
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		r = -errno;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto out;
	}
	if (pid == 0)
		child(exec_fd, argv, env, out[1], errp[1]);
	close(out[1]);
	close(errp[1]);
	out[1] = errp[1] = -1;
	{
		int e;

		/* The error pipe closes on a successful exec, else carries errno. */
		if (read(errp[0], &e, sizeof(e)) == sizeof(e)) {
			waitpid(pid, &st, 0);
			res->start_err = -e;
			res->duration_ms = mono_ms() - t0;
			r = -e;
			goto out;
		}
	}
	res->started = true;
	pfd = pidfd_open_(pid);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	while (!exited) {
		struct pollfd p[2];
		int np = 0, iout = -1;
		long long left = timeout_ms > 0 ? t0 + timeout_ms - mono_ms() : 1000;
		int pr;

		if (timeout_ms > 0 && left <= 0 && !res->timed_out) {
			/* The whole session: scripts that fork helpers die with them. */
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			res->timed_out = true;
		}
		if (out[0] >= 0) {
			iout = np;
			p[np++] = (struct pollfd){ .fd = out[0], .events = POLLIN };
		}
		if (pfd >= 0)
			p[np++] = (struct pollfd){ .fd = pfd, .events = POLLIN };
		/* Without a pidfd (old kernel) the short timeout polls waitpid. */
		pr = poll(p, (nfds_t)np, pfd < 0 ? 50 : (int)(left > 0 ? (left > 1000 ? 1000 : left) : 50));
		if (pr < 0 && errno != EINTR)
			break;
		if (iout >= 0 && (p[iout].revents & (POLLIN | POLLHUP | POLLERR))) {
			char buf[1024];
			ssize_t n = read(out[0], buf, sizeof(buf));

			if (n > 0)
				tail_append(res, &len, buf, (size_t)n);
			else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				close(out[0]);
				out[0] = -1;
			}
		}
		if (waitpid(pid, &st, WNOHANG) == pid)
			exited = true;
	}
	if (!exited)
		waitpid(pid, &st, 0);
	/* Whatever the script left in the pipe (a helper may still hold it). */
	if (out[0] >= 0) {
		char buf[1024];
		ssize_t n;

		while ((n = read(out[0], buf, sizeof(buf))) > 0)
			tail_append(res, &len, buf, (size_t)n);
	}
	res->duration_ms = mono_ms() - t0;
	if (WIFEXITED(st)) {
		res->exit_code = WEXITSTATUS(st);
	} else if (WIFSIGNALED(st)) {
		res->term_signal = WTERMSIG(st);
		res->exit_code = 128 + res->term_signal;
	}
out:
	res->output[len] = '\0';
	if (pfd >= 0)
		close(pfd);
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	return r;
}

bool vv_exec_ok(const struct vv_exec_result *res)
{
	return res->started && !res->timed_out && res->term_signal == 0 && res->exit_code == 0;
}
