// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * encrypt's ext4 work: read the superblock, ask resize2fs how small the
 * filesystem can get (read-only, before anything is stored or written),
 * then check and shrink it with e2fsck and resize2fs.
 */
#include "agent/provision/provision_encrypt.h"
#include "agent/provision/provision_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"

int pe_ext4_read_sb(const char *device, uint32_t *block_size, uint64_t *blocks)
{
	unsigned char sb[1024];
	ssize_t n;
	int fd, r;

	fd = open(device, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pread(fd, sb, sizeof(sb), 1024);
	r = n == (ssize_t)sizeof(sb) ? vv_ext4_sb_parse(sb, sizeof(sb), block_size, blocks) :
	    n < 0 ? -errno : -EIO;
	close(fd);
	return r;
}

/*
 * Run tool with args (NULL-terminated) as mkfs is run: a fixed path, no
 * shell, a minimal environment, stdin from /dev/null. Its stdout goes into
 * out (when given, up to len-1 bytes) or onto stderr, never our stdout.
 * Returns the exit status (0-255) or -errno.
 */
static int run_tool(const char *tool, const char *const *args, char *out, size_t len)
{
	char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL };
	const char *argv[8];
	char path[256];
	int argc = 0, st, fd, pfd[2] = { -1, -1 };
	size_t got = 0;
	pid_t pid;

	if (pv_find_tool(tool, path, sizeof(path)) < 0)
		return -ENOENT;
	argv[argc++] = tool;
	for (; *args && argc < 7; args++)
		argv[argc++] = *args;
	argv[argc] = NULL;
	if (out && pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	vv_info("running %s %s", path, argv[1]);
	pid = fork();
	if (pid < 0) {
		st = -errno;
		goto out;
	}
	if (pid == 0) {
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0 || dup2(fd, STDIN_FILENO) < 0 ||
		    dup2(out ? pfd[1] : STDERR_FILENO, STDOUT_FILENO) < 0)
			_exit(127);
		execve(path, (char *const *)argv, envp);
		_exit(127);
	}
	if (out) {
		ssize_t n;

		close(pfd[1]);
		pfd[1] = -1;
		while ((n = read(pfd[0], out + got, len - 1 - got)) != 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				break;
			got += (size_t)n;
			if (got == len - 1)
				break;
		}
		out[got] = '\0';
		close(pfd[0]);
		pfd[0] = -1;
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			st = -errno;
			goto out;
		}
	st = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
out:
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	return st;
}

#define MIN_PREFIX "Estimated minimum size of the filesystem: "

int pe_ext4_min_size(const char *device, uint32_t block_size, uint64_t *min_bytes,
		     struct vv_error *err)
{
	const char *const args[] = { "-P", device, NULL };
	char out[2048], *p;
	unsigned long long blocks;
	int st;

	st = run_tool("resize2fs", args, out, sizeof(out));
	if (st < 0)
		return vv_fail(err, st, VV_CAUSE_NONE, "resize2fs: %s", strerror(-st));
	p = strstr(out, MIN_PREFIX);
	if (st != 0 || !p || sscanf(p + strlen(MIN_PREFIX), "%llu", &blocks) != 1)
		return vv_fail(err, -EIO, VV_CAUSE_NONE,
			       "resize2fs -P %s could not estimate the minimum size (status %d); "
			       "nothing was written: check it with e2fsck -f %s", device, st, device);
	*min_bytes = (uint64_t)blocks * block_size;
	return 0;
}

int pe_ext4_shrink(const char *device, uint64_t target, struct vv_error *err)
{
	const char *const fsck[] = { "-f", "-p", device, NULL };
	char size[32];
	const char *const resize[] = { device, size, NULL };
	int st;

	/* -p repairs only what is safe unattended; 1 means it did. */
	st = run_tool("e2fsck", fsck, NULL, 0);
	if (st < 0 || st > 1)
		return vv_fail(err, st < 0 ? st : -EIO, VV_CAUSE_NONE,
			       "e2fsck -f -p %s failed (status %d); the filesystem needs a manual "
			       "e2fsck -f before it can be encrypted", device, st);
	snprintf(size, sizeof(size), "%" PRIu64 "K", target >> 10);
	st = run_tool("resize2fs", resize, NULL, 0);
	if (st != 0)
		return vv_fail(err, st < 0 ? st : -ENOSPC, VV_CAUSE_NONE,
			       "resize2fs %s %s failed (status %d): the filesystem cannot shrink "
			       "by the 32 MiB the LUKS2 header needs (too full?); free some space "
			       "or grow the device by 32 MiB", device, size, st);
	return 0;
}
