// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Bench tool (host and guest): the peak memory of one command.
 *
 *   vv-memprobe [--interval-ms N] [--smaps FILE] -- CMD [ARGS...]
 *
 * Runs CMD under ptrace and samples /proc/PID/smaps_rollup ("Rss:" and
 * "Pss:", which cover the whole address space, every thread's) every N ms
 * (default 5) while it runs, and once more when it stops at its exit
 * (PTRACE_EVENT_EXIT: its memory is still mapped then), so a command that
 * exits at once, like `vaultvol version`, is measured too. CMD's stdin,
 * stdout and stderr are its own; the signals it receives are passed on.
 * Prints to stderr:
 *
 *   vv-memprobe: peak_rss_kib=N peak_pss_kib=N maxrss_kib=N exit=N hwm_kib=N samples=N
 *
 * peak_rss_kib is the larger of the sampled Rss and hwm_kib, the command's
 * VmHWM read at its exit stop (the kernel's peak RSS of its image, which
 * sees peaks between samples); PSS has no such mark, so peak_pss_kib is
 * sampled only. maxrss_kib is wait4's ru_maxrss: it also counts this
 * probe's forked copy before the exec and the command's waited-for
 * children. Exits with CMD's status (128 + signal if it was killed); 125 when
 * the probe itself fails, 127 when CMD cannot be run. --smaps: a copy of
 * /proc/PID/smaps taken at the exit stop, to see which mappings hold it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct mem_peak {
	long rss_kib;
	long pss_kib;
	long hwm_kib;
	unsigned samples;
};

/* One look at PID's memory: raise the peaks. */
static int sample(pid_t pid, struct mem_peak *p)
{
	char path[64], line[256];
	FILE *f = NULL;
	long v;
	int r = 0;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		goto out;
	}
	while (fgets(line, sizeof(line), f)) {
		/* "Pss:" does not match "Pss_Anon:" and the like. */
		if (sscanf(line, "Rss: %ld kB", &v) == 1 && v > p->rss_kib)
			p->rss_kib = v;
		else if (sscanf(line, "Pss: %ld kB", &v) == 1 && v > p->pss_kib)
			p->pss_kib = v;
	}
	p->samples++;
out:
	if (f)
		fclose(f);
	return r;
}

/* VmHWM from /proc/PID/status: the peak RSS of the command's own image. */
static int read_hwm(pid_t pid, struct mem_peak *p)
{
	char path[64], line[256];
	FILE *f = NULL;
	long v;
	int r = -ENOENT;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		goto out;
	}
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &v) == 1) {
			p->hwm_kib = v;
			r = 0;
			break;
		}
out:
	if (f)
		fclose(f);
	return r;
}

/* The child: be traced, then become CMD (the exec stops it for the parent). */
static void run_child(char **cmd)
{
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0) {
		fprintf(stderr, "vv-memprobe: ptrace(TRACEME): %s\n", strerror(errno));
		_exit(125);
	}
	execvp(cmd[0], cmd);
	fprintf(stderr, "vv-memprobe: %s: %s\n", cmd[0], strerror(errno));
	_exit(127);
}

/* A copy of PID's /proc/PID/smaps in PATH: which mappings hold its memory. */
static void save_smaps(pid_t pid, const char *path)
{
	char src[64], buf[65536];
	FILE *in, *out;
	size_t n;

	snprintf(src, sizeof(src), "/proc/%d/smaps", (int)pid);
	in = fopen(src, "re");
	out = in ? fopen(path, "we") : NULL;
	while (out && (n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, out);
	if (!out)
		fprintf(stderr, "vv-memprobe: cannot copy %s to %s\n", src, path);
	if (out)
		fclose(out);
	if (in)
		fclose(in);
}

/*
 * Follow PID to its end, sampling every INTERVAL_MS; *status is its exit
 * status in the shell's sense, *ru its resource usage; SMAPS (or NULL)
 * gets its smaps as it exits.
 */
static int trace(pid_t pid, long interval_ms, const char *smaps, struct mem_peak *p,
		 int *status, struct rusage *ru)
{
	struct timespec tick = { interval_ms / 1000, (interval_ms % 1000) * 1000000L };
	int st, sig, r = 0;
	pid_t w;

	/* The first stop is the exec's SIGTRAP: CMD's image is in place. */
	w = waitpid(pid, &st, 0);
	if (w < 0) {
		r = -errno;
		goto out;
	}
	if (!WIFSTOPPED(st)) {
		/* The exec failed (or the child died): nothing was run to measure. */
		*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		r = -ECHILD;
		goto out;
	}
	/*
	 * TRACEEXEC: a later exec of CMD's own reports an event instead of a
	 * SIGTRAP that would kill it; EXITKILL: CMD does not outlive the probe.
	 */
	if (ptrace(PTRACE_SETOPTIONS, pid, NULL,
		   (void *)(long)(PTRACE_O_TRACEEXIT | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL)) < 0 ||
	    ptrace(PTRACE_CONT, pid, NULL, NULL) < 0) {
		r = -errno;
		goto out;
	}
	for (;;) {
		w = wait4(pid, &st, WNOHANG, ru);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			r = -errno;
			goto out;
		}
		if (w == 0) {
			/* Running: a sample may miss it exiting in between; fine. */
			sample(pid, p);
			nanosleep(&tick, NULL);
			continue;
		}
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			break;
		}
		if (!WIFSTOPPED(st))
			continue;
		sig = WSTOPSIG(st);
		if (st >> 8 == (SIGTRAP | (PTRACE_EVENT_EXIT << 8))) {
			/* Exiting, memory still mapped: the last look. */
			sample(pid, p);
			read_hwm(pid, p);
			if (smaps)
				save_smaps(pid, smaps);
			sig = 0;
		} else if (st >> 8 == (SIGTRAP | (PTRACE_EVENT_EXEC << 8))) {
			sig = 0;
		}
		/* Any other stop is a signal for CMD: deliver it. */
		if (ptrace(PTRACE_CONT, pid, NULL, (void *)(long)sig) < 0 && errno != ESRCH) {
			r = -errno;
			goto out;
		}
	}
out:
	return r;
}

static int usage(void)
{
	fprintf(stderr, "usage: vv-memprobe [--interval-ms N] [--smaps FILE] -- CMD [ARGS...]\n");
	return 125;
}

int main(int argc, char **argv)
{
	struct mem_peak peak = { 0 };
	struct rusage ru = { 0 };
	const char *smaps = NULL;
	long interval_ms = 5;
	int i = 1, status = 125, r;
	char *end;
	pid_t pid;

	if (i + 1 < argc && !strcmp(argv[i], "--interval-ms")) {
		errno = 0;
		interval_ms = strtol(argv[i + 1], &end, 10);
		if (errno || *end || interval_ms < 1 || interval_ms > 60000)
			return usage();
		i += 2;
	}
	if (i + 1 < argc && !strcmp(argv[i], "--smaps")) {
		smaps = argv[i + 1];
		i += 2;
	}
	if (i < argc && !strcmp(argv[i], "--"))
		i++;
	if (i >= argc)
		return usage();
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "vv-memprobe: fork: %s\n", strerror(errno));
		return 125;
	}
	if (pid == 0)
		run_child(argv + i);
	r = trace(pid, interval_ms, smaps, &peak, &status, &ru);
	if (peak.hwm_kib > peak.rss_kib)
		peak.rss_kib = peak.hwm_kib;
	if (r == -ECHILD)
		return status;
	if (r < 0) {
		fprintf(stderr, "vv-memprobe: tracing %s: %s\n", argv[i], strerror(-r));
		kill(pid, SIGKILL);
		return 125;
	}
	fprintf(stderr,
		"vv-memprobe: peak_rss_kib=%ld peak_pss_kib=%ld maxrss_kib=%ld exit=%d hwm_kib=%ld samples=%u\n",
		peak.rss_kib, peak.pss_kib, ru.ru_maxrss, status, peak.hwm_kib, peak.samples);
	return status;
}
