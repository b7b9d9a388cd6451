// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dm-quiesce through libdevmapper (never by running dmsetup): table
 * creation, target messages, status and removal. See agent/volume/quiesce.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/dm-ioctl.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libdevmapper.h>

#include "agent/volume/quiesce.h"
#include "base/log.h"

static const char *const state_names[] = {
	[VV_QUIESCE_THAWED] = "thawed",
	[VV_QUIESCE_FREEZING] = "freezing",
	[VV_QUIESCE_FROZEN] = "frozen",
};

const char *vv_quiesce_state_name(enum vv_quiesce_state s)
{
	if ((unsigned)s < sizeof(state_names) / sizeof(state_names[0]))
		return state_names[s];
	return "unknown";
}

/* Next space-separated field of *p: start and length; 0 length at the end. */
static size_t next_field(const char **p, const char **start)
{
	const char *s = *p;
	size_t n = 0;

	while (*s == ' ' || *s == '\t' || *s == '\n')
		s++;
	*start = s;
	while (s[n] && s[n] != ' ' && s[n] != '\t' && s[n] != '\n')
		n++;
	*p = s + n;
	return n;
}

/* Decimal digits only: strtoull would accept a sign and wrap "-1". */
static int parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int vv_quiesce_parse_status(const char *line, struct vv_quiesce_status *st)
{
	/* Filled in a copy, so callers never see half of a bad line. */
	struct vv_quiesce_status tmp = *st;
	uint64_t *nums[] = { &tmp.epoch, &tmp.last_freeze_us, &tmp.expiries,
			     &tmp.held_writes };
	const char *p = line, *f;
	size_t n, i;
	int found = 0;

	if (!line)
		return -EINVAL;
	n = next_field(&p, &f);
	for (i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++) {
		if (strlen(state_names[i]) == n && !strncmp(f, state_names[i], n)) {
			tmp.state = (enum vv_quiesce_state)i;
			found = 1;
		}
	}
	if (!found)
		return -EINVAL;
	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		n = next_field(&p, &f);
		if (parse_u64(f, n, nums[i]) < 0)
			return -EINVAL;
	}
	*st = tmp;
	return 0;
}

/* The errno of a failed dm_task_run, in this file's conventions. */
/* libdevmapper's own lines ("/dev/mapper/control: open failed ...") at debug level. */
static void dm_log_debug(int level, const char *file, int line, int dm_errno_or_class,
			 const char *f, ...) __attribute__((format(printf, 5, 6)));
static void dm_log_debug(int level, const char *file, int line, int dm_errno_or_class,
			 const char *f, ...)
{
	char msg[512];
	va_list ap;

	(void)level;
	(void)file;
	(void)line;
	(void)dm_errno_or_class;
	if (vv_log_get_level() < VV_LOG_DEBUG)
		return;
	va_start(ap, f);
	vsnprintf(msg, sizeof(msg), f, ap);
	va_end(ap);
	vv_debug("libdevmapper: %s", msg);
}

/*
 * Every task starts here. libdevmapper writes to stderr unless told
 * otherwise, and libcryptsetup puts that default back whenever it lets go
 * of device-mapper: what libdevmapper says goes to our debug log, and the
 * operator reads our own sentence instead.
 */
static struct dm_task *task_create(int type)
{
	dm_log_with_errno_init(dm_log_debug);
	return dm_task_create(type);
}

int vv_dm_available(char *why, size_t len)
{
	struct dm_task *dmt;
	int r = 0, e;

	dmt = task_create(DM_DEVICE_VERSION);
	if (dmt && dm_task_run(dmt))
		goto out;
	e = dmt ? dm_task_get_errno(dmt) : 0;
	r = -ENODEV;
	if (access("/dev/mapper/control", F_OK) != 0)
		snprintf(why, len, "device-mapper is not available on this machine "
			 "(no /dev/mapper/control)");
	else
		snprintf(why, len, "device-mapper is not available on this machine "
			 "(/dev/mapper/control: %s)", strerror(e > 0 ? e : ENODEV));
out:
	if (dmt)
		dm_task_destroy(dmt);
	return r;
}

static int dm_err(struct dm_task *dmt)
{
	int e = dm_task_get_errno(dmt);

	if (e == ENXIO)
		return -ENODEV;
	return e > 0 ? -e : -EIO;
}

/*
 * Run a task of this type on the mapping name: 0 with *out to destroy,
 * or -errno (nothing to destroy).
 */
static int run_task(int type, const char *name, struct dm_task **out)
{
	struct dm_task *dmt;
	int r;

	*out = NULL;
	dmt = task_create(type);
	if (!dmt)
		return -ENOMEM;
	if (!dm_task_set_name(dmt, name)) {
		r = -EINVAL;
		goto fail;
	}
	if (!dm_task_run(dmt)) {
		r = dm_err(dmt);
		goto fail;
	}
	*out = dmt;
	return 0;
fail:
	dm_task_destroy(dmt);
	return r;
}

int vv_quiesce_available(void)
{
	struct dm_task *dmt;
	struct dm_versions *v, *last;
	int r;

	dmt = task_create(DM_DEVICE_LIST_VERSIONS);
	/*
	 * libdevmapper refuses to create a task when the kernel has no
	 * device-mapper driver (what a host without dm-mod sees), far more
	 * often than for lack of memory: report "no device-mapper".
	 */
	if (!dmt)
		return -ENODEV;
	if (!dm_task_run(dmt)) {
		/* No control node or no dm driver: nothing to talk to. */
		r = dm_task_get_errno(dmt);
		r = r > 0 ? -r : -ENODEV;
		goto out;
	}
	r = 0;
	v = dm_task_get_versions(dmt);
	do {
		last = v;
		if (!strcmp(v->name, VV_QUIESCE_TARGET)) {
			r = 1;
			break;
		}
		v = (struct dm_versions *)((char *)v + v->next);
	} while (last != v);
out:
	dm_task_destroy(dmt);
	return r;
}

static int lower_sectors(const char *path, uint64_t *sectors)
{
	uint64_t bytes = 0;
	int fd, r = 0;

	/* A block device node, by design not a regular file. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, BLKGETSIZE64, &bytes) < 0)
		r = -errno;
	else if (bytes < 512)
		r = -EINVAL;
	else
		*sectors = bytes / 512;
	close(fd);
	return r;
}

/*
 * One dm ioctl on NAME: create (no table), load a table, resume or remove.
 * Done step by step rather than with libdevmapper's create-with-table,
 * whose inner tasks keep the kernel's errno to themselves.
 */
static int dm_simple(int type, const char *name, const char *uuid, uint64_t sectors,
		     const char *params, int with_cookie)
{
	struct dm_task *dmt;
	uint32_t cookie = 0;
	int r, cookie_set = 0;

	dmt = task_create(type);
	if (!dmt)
		return -ENOMEM;
	if (!dm_task_set_name(dmt, name) || (uuid && !dm_task_set_uuid(dmt, uuid)) ||
	    (params && !dm_task_add_target(dmt, 0, sectors, VV_QUIESCE_TARGET, params)) ||
	    (type == DM_DEVICE_REMOVE && !dm_task_retry_remove(dmt))) {
		r = -EINVAL;
		goto out;
	}
	/*
	 * With udev running the cookie makes us wait for its node work;
	 * without udev (guest, initramfs) libdevmapper does mknod/unlink
	 * itself when the cookie is waited on.
	 */
	if (with_cookie) {
		if (!dm_task_set_cookie(dmt, &cookie, 0)) {
			r = -EIO;
			goto out;
		}
		cookie_set = 1;
	}
	r = dm_task_run(dmt) ? 0 : dm_err(dmt);
out:
	if (cookie_set)
		(void)dm_udev_wait(cookie);
	dm_task_destroy(dmt);
	return r;
}

int vv_quiesce_create(const char *name, const char *lower_dev_path, uint64_t sectors)
{
	char params[PATH_MAX + 8], uuid[DM_UUID_LEN];
	int r;

	if (!name || !*name || strlen(name) >= DM_NAME_LEN || strchr(name, '/') ||
	    !lower_dev_path || !*lower_dev_path || strchr(lower_dev_path, ' '))
		return -EINVAL;
	if (sectors == 0) {
		r = lower_sectors(lower_dev_path, &sectors);
		if (r < 0)
			return r;
	}
	if ((size_t)snprintf(params, sizeof(params), "%s 0", lower_dev_path) >= sizeof(params))
		return -ENAMETOOLONG;

	/* The UUID marks the layer as ours, for the removal of its debris. */
	if ((size_t)snprintf(uuid, sizeof(uuid), "%s%s", VV_QUIESCE_UUID_PREFIX, name) >=
	    sizeof(uuid))
		return -ENAMETOOLONG;

	/*
	 * The kernel says EBUSY for a name already in use. What a create
	 * killed before its resume leaves under this name (our UUID, no live
	 * table) is taken away once; anything else is someone's mapping.
	 */
	r = dm_simple(DM_DEVICE_CREATE, name, uuid, 0, NULL, 0);
	if (r == -EBUSY && vv_dm_remove_stale(name, uuid) == 1) {
		vv_info("%s: removed the remains of an interrupted activation "
			"(a quiesce mapping with no active table)", name);
		r = dm_simple(DM_DEVICE_CREATE, name, uuid, 0, NULL, 0);
	}
	if (r < 0) {
		if (r == -EBUSY && vv_dm_live(name) >= 0)
			r = -EEXIST;
		return r;
	}
	r = dm_simple(DM_DEVICE_RELOAD, name, NULL, sectors, params, 0);
	if (r == 0)
		r = dm_simple(DM_DEVICE_RESUME, name, NULL, 0, NULL, 1);
	if (r < 0) {
		/* Leave no half-made mapping behind; the first error is the news. */
		(void)dm_simple(DM_DEVICE_REMOVE, name, NULL, 0, NULL, 1);
		return r;
	}
	/* Belt and braces for a udev that did not make the node. */
	r = vv_dm_ensure_node(name);
	return r < 0 ? r : 0;
}

int vv_dm_ensure_node(const char *name)
{
	char node[PATH_MAX];
	struct stat sb;

	if ((size_t)snprintf(node, sizeof(node), "%s/%s", dm_dir(), name) >= sizeof(node))
		return -ENAMETOOLONG;
	if (stat(node, &sb) == 0)
		return 0;
	if (!dm_mknodes(name))
		return -EIO;
	/* libdevmapper queues node operations; this runs them now. */
	dm_task_update_nodes();
	return stat(node, &sb) == 0 ? 1 : -ENOENT;
}

/* Send one target message to sector 0 of NAME. */
static int send_message(const char *name, const char *msg)
{
	struct dm_task *dmt;
	int r;

	if (!name || !*name)
		return -EINVAL;
	dmt = task_create(DM_DEVICE_TARGET_MSG);
	if (!dmt)
		return -ENOMEM;
	if (!dm_task_set_name(dmt, name) || !dm_task_set_sector(dmt, 0) ||
	    !dm_task_set_message(dmt, msg)) {
		r = -EINVAL;
		goto out;
	}
	r = dm_task_run(dmt) ? 0 : dm_err(dmt);
out:
	dm_task_destroy(dmt);
	return r;
}

int vv_quiesce_freeze(const char *name, unsigned timeout_ms)
{
	char msg[32];

	if (timeout_ms < VV_QUIESCE_TIMEOUT_MIN_MS || timeout_ms > VV_QUIESCE_TIMEOUT_MAX_MS)
		return -EINVAL;
	snprintf(msg, sizeof(msg), "freeze %u", timeout_ms);
	return send_message(name, msg);
}

int vv_quiesce_thaw(const char *name)
{
	return send_message(name, "thaw");
}

int vv_quiesce_status(const char *name, struct vv_quiesce_status *st)
{
	struct dm_task *dmt;
	struct dm_info info;
	uint64_t start, length;
	char *type = NULL, *params = NULL;
	int r;

	if (!name || !*name || !st)
		return -EINVAL;
	r = run_task(DM_DEVICE_STATUS, name, &dmt);
	if (r < 0)
		return r;
	/* libdevmapper reports a missing device as success with !exists. */
	if (!dm_task_get_info(dmt, &info) || !info.exists) {
		r = -ENODEV;
		goto out;
	}
	(void)dm_get_next_target(dmt, NULL, &start, &length, &type, &params);
	if (!type || strcmp(type, VV_QUIESCE_TARGET) || !params) {
		r = -EMEDIUMTYPE;
		goto out;
	}
	r = vv_quiesce_parse_status(params, st);
	if (r == 0)
		st->suspended = info.suspended != 0;
out:
	dm_task_destroy(dmt);
	return r;
}

int vv_quiesce_remove(const char *name)
{
	if (!name || !*name)
		return -EINVAL;
	return dm_simple(DM_DEVICE_REMOVE, name, NULL, 0, NULL, 1);
}

int vv_dm_live(const char *name)
{
	struct dm_task *dmt;
	struct dm_info info;
	int r;

	r = run_task(DM_DEVICE_INFO, name, &dmt);
	if (r < 0)
		return r;
	if (!dm_task_get_info(dmt, &info) || !info.exists)
		r = -ENODEV;
	else
		r = info.live_table ? 1 : 0;
	dm_task_destroy(dmt);
	return r;
}

int vv_dm_remove_stale(const char *name, const char *dm_uuid)
{
	struct dm_task *dmt = NULL;
	struct dm_info info;
	const char *uuid;
	int r;

	r = run_task(DM_DEVICE_INFO, name, &dmt);
	if (r < 0)
		return r;
	if (!dm_task_get_info(dmt, &info) || !info.exists) {
		r = 0;
		goto out;
	}
	uuid = dm_task_get_uuid(dmt);
	/*
	 * Only the remains of an activation of this very volume: created,
	 * and then killed (or failed and not cleaned up) before its table
	 * went live: no table, or one loaded into the inactive slot and never
	 * resumed. Such a device holds no I/O path, so removing it loses
	 * nothing. Anything with a live table (a suspended one included: a
	 * revoked volume), an opener or another UUID belongs to someone and
	 * is left alone.
	 */
	if (info.live_table || info.open_count || !uuid || strcmp(uuid, dm_uuid)) {
		r = -EEXIST;
		goto out;
	}
	dm_task_destroy(dmt);
	dmt = NULL;
	r = dm_simple(DM_DEVICE_REMOVE, name, NULL, 0, NULL, 1);
	if (r == 0)
		r = 1;
out:
	if (dmt)
		dm_task_destroy(dmt);
	return r;
}
