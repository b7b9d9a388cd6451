// SPDX-License-Identifier: GPL-2.0-or-later
/* The freeze watchdog process (see watchdog.h). */
#include "agent/freeze/freeze_watchdog.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/freeze/freeze_exec.h"

/* While expired, freezes still in flight are undone this often. */
#define RETHAW_INTERVAL_MS 100

enum { MSG_BUSY = 1, MSG_DONE = 2 };

/* agent -> watchdog */
struct wd_cmd {
	uint32_t op;
	uint32_t idx;
};

/* watchdog -> agent */
struct wd_event {
	int32_t cause;
	int32_t thaws;
	int64_t at_ms;
};

const char *vv_wd_cause_name(enum vv_wd_cause c)
{
	switch (c) {
	case VV_WD_NONE: return "none";
	case VV_WD_DEADLINE: return "deadline";
	case VV_WD_AGENT_DIED: return "agent-died";
	case VV_WD_SIGNAL: return "signal";
	}
	return "unknown";
}

int vv_watchdog_thaw_fds(void *ctx, size_t idx)
{
	const int *fds = ctx;
	int count, r;

	if (fds[idx] < 0)
		return 0;
	r = vv_thaw_fd(fds[idx], &count);
	return r ? r : count;
}

/* Thaw everything not frozen by someone else, last wave first. */
static int thaw_all(const struct vv_watchdog_cfg *cfg, const unsigned char *busy)
{
	int thaws = 0;

	for (size_t k = cfg->n; k-- > 0;) {
		int r;

		if (busy[k])
			continue;
		r = cfg->thaw(cfg->ctx, k);
		if (r > 0)
			thaws += r;
	}
	return thaws;
}

static void keep_sort(int *v, size_t n)
{
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && v[j] < v[j - 1]; j--) {
			int t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
}

/*
 * Close every inherited fd but those listed: the watchdog must not keep the
 * agent's pipes (a caller reading our stdout to EOF) or sockets alive.
 */
static void close_others(const int *keep, size_t n)
{
	int v[64];
	size_t m = 0;
	unsigned lo = 3;

	for (size_t i = 0; i < n && m < 64; i++)
		if (keep[i] >= 3)
			v[m++] = keep[i];
	keep_sort(v, m);
	for (size_t i = 0; i < m; i++) {
		if ((unsigned)v[i] > lo)
			close_range(lo, (unsigned)v[i] - 1, 0);
		if ((unsigned)v[i] + 1 > lo)
			lo = (unsigned)v[i] + 1;
	}
	close_range(lo, ~0U, 0);
}

static void null_stdio(void)
{
	int fd = open("/dev/null", O_RDWR);

	if (fd < 0)
		return;
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
		close(fd);
}

static void send_event(int sock, enum vv_wd_cause cause, int thaws)
{
	struct wd_event ev = { .cause = cause, .thaws = thaws, .at_ms = vv_clock_ms() };

	if (sock >= 0)
		(void)send(sock, &ev, sizeof(ev), MSG_DONTWAIT | MSG_NOSIGNAL);
}

/*
 * Leaving with the agent's messages unread would reset the connection and
 * the agent could lose our last event: read them first.
 */
static __attribute__((noreturn)) void wd_exit(int sock)
{
	struct wd_cmd c;

	while (sock >= 0 && recv(sock, &c, sizeof(c), MSG_DONTWAIT) > 0)
		;
	_exit(0);
}

static __attribute__((noreturn)) void
wd_main(const struct vv_watchdog_cfg *cfg, unsigned char *busy, int sock, pid_t parent)
{
	static const int not_trig[] = {
		SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS,
		SIGCHLD, SIGWINCH, SIGURG, SIGCONT,
	};
	sigset_t all, trig;
	int sfd, keep[64];
	size_t nk = 0;
	bool expired = false;

	if (cfg->child_init)
		cfg->child_init();
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	/* Informational signals and faults are not a reason to thaw. */
	trig = all;
	for (size_t i = 0; i < sizeof(not_trig) / sizeof(not_trig[0]); i++)
		sigdelset(&trig, not_trig[i]);
	/* An ignored signal is discarded even while blocked: restore defaults. */
	for (int s = 1; s < NSIG; s++)
		if (sigismember(&trig, s) == 1)
			signal(s, SIG_DFL);
	sfd = signalfd(-1, &trig, SFD_CLOEXEC);

	if (cfg->detached) {
		null_stdio();
	} else {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		/* The agent may already be gone before PDEATHSIG was armed. */
		if (getppid() != parent)
			goto agent_died;
	}
	keep[nk++] = sock;
	keep[nk++] = sfd;
	for (size_t i = 0; i < cfg->n_keep && nk < 64; i++)
		keep[nk++] = cfg->keep_fds[i];
	close_others(keep, nk);
	prctl(PR_SET_NAME, "vaultvol-wdog");

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = sfd, .events = POLLIN },
			{ .fd = sock, .events = POLLIN },
		};
		long long left = cfg->deadline_ms - vv_clock_ms();
		int timeout = expired ? RETHAW_INTERVAL_MS : (left < 0 ? 0 : (int)(left > 3600000 ? 3600000 : left));
		int r = poll(p, sock >= 0 ? 2 : 1, timeout);

		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			int thaws;

			if (!expired && vv_clock_ms() < cfg->deadline_ms)
				continue;
			thaws = thaw_all(cfg, busy);
			if (!expired) {
				send_event(sock, VV_WD_DEADLINE, thaws);
				expired = true;
				if (cfg->marker_path)
					unlink(cfg->marker_path);
				if (sock < 0)
					_exit(0);
			}
			continue;
		}
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			(void)!read(sfd, &si, sizeof(si));
			send_event(sock, VV_WD_SIGNAL, thaw_all(cfg, busy));
			if (cfg->marker_path)
				unlink(cfg->marker_path);
			wd_exit(sock);
		}
		if (sock >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			struct wd_cmd c;
			ssize_t n = recv(sock, &c, sizeof(c), MSG_DONTWAIT);

			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (n <= 0)
				goto agent_died;
			if (n == sizeof(c) && c.op == MSG_BUSY && c.idx < cfg->n)
				busy[c.idx] = 1;
			else if (n == sizeof(c) && c.op == MSG_DONE)
				wd_exit(sock);
		}
	}
agent_died:
	thaw_all(cfg, busy);
	if (cfg->marker_path)
		unlink(cfg->marker_path);
	_exit(0);
}

int vv_watchdog_start(const struct vv_watchdog_cfg *cfg, struct vv_watchdog *wd)
{
	unsigned char *busy;
	int sv[2];
	pid_t parent = getpid(), pid;
	int r = 0;

	memset(wd, 0, sizeof(*wd));
	wd->sock = -1;
	wd->pid = -1;
	busy = calloc(cfg->n ? cfg->n : 1, 1);
	if (!busy)
		return -ENOMEM;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		r = -errno;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(sv[0]);
		close(sv[1]);
		goto out;
	}
	if (pid == 0) {
		close(sv[0]);
		if (cfg->detached) {
			pid_t gc;

			setsid();
			gc = fork();
			if (gc != 0) {
				int32_t v = gc < 0 ? -1 : gc;

				(void)!write(sv[1], &v, sizeof(v));
				_exit(gc < 0);
			}
			close(sv[1]);
			wd_main(cfg, busy, -1, parent);
		}
		wd_main(cfg, busy, sv[1], parent);
	}
	close(sv[1]);
	if (cfg->detached) {
		int32_t v = -1;
		int st;

		if (read(sv[0], &v, sizeof(v)) != sizeof(v) || v <= 0)
			r = -ECHILD;
		waitpid(pid, &st, 0);
		close(sv[0]);
		wd->pid = v;
		goto out;
	}
	wd->pid = pid;
	wd->sock = sv[0];
out:
	free(busy);
	return r;
}

int vv_watchdog_note_busy(struct vv_watchdog *wd, size_t idx)
{
	struct wd_cmd c = { .op = MSG_BUSY, .idx = (uint32_t)idx };

	if (wd->sock < 0)
		return -ENOTCONN;
	return send(wd->sock, &c, sizeof(c), MSG_NOSIGNAL) == sizeof(c) ? 0 : -errno;
}

static void take_event(struct vv_watchdog *wd, const struct wd_event *ev)
{
	if (wd->cause != VV_WD_NONE)
		return;	/* the first cause is the one that thawed */
	wd->cause = (enum vv_wd_cause)ev->cause;
	wd->thaws = ev->thaws;
	wd->thawed_at_ms = ev->at_ms;
}

bool vv_watchdog_poll(struct vv_watchdog *wd)
{
	struct wd_event ev;

	while (wd->sock >= 0 && recv(wd->sock, &ev, sizeof(ev), MSG_DONTWAIT) == sizeof(ev))
		take_event(wd, &ev);
	return wd->cause != VV_WD_NONE;
}

int vv_watchdog_finish(struct vv_watchdog *wd)
{
	struct wd_cmd c = { .op = MSG_DONE };
	struct wd_event ev;
	int st, r = 0;
	ssize_t n;

	if (wd->pid <= 0 || wd->sock < 0)
		return -ECHILD;
	(void)send(wd->sock, &c, sizeof(c), MSG_NOSIGNAL);
	/*
	 * Its last words, then EOF when it exits. A reset (it left with our
	 * message unread) is reported once, ahead of what it had queued.
	 */
	for (;;) {
		n = recv(wd->sock, &ev, sizeof(ev), 0);
		if (n == sizeof(ev))
			take_event(wd, &ev);
		else if (n < 0 && (errno == ECONNRESET || errno == EINTR))
			continue;
		else
			break;
	}
	if (waitpid(wd->pid, &st, 0) < 0)
		r = -errno;
	else if (WIFSIGNALED(st))
		wd->term_signal = WTERMSIG(st);
	close(wd->sock);
	wd->sock = -1;
	wd->pid = -1;
	return r;
}
