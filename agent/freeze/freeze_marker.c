// SPDX-License-Identifier: GPL-2.0-or-later
/* The frozen-state marker file and crash recovery (see freeze_marker.h). */
#include "agent/freeze/freeze_marker.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "agent/freeze/freeze_exec.h"
#include "agent/volume/quiesce.h"
#include "agent/config/state_dir.h"
#include "base/log.h"
#include "base/writefile.h"

/* Biggest marker we accept: a few hundred mounts. */
#define MARKER_MAX (256 * 1024)

int vv_marker_path(const char *state_dir, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", state_dir, VV_MARKER_NAME);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

void vv_marker_clear(struct vv_marker *mk)
{
	for (size_t i = 0; i < mk->n; i++) {
		free(mk->m[i].target);
		free(mk->m[i].dm_name);
	}
	free(mk->m);
	memset(mk, 0, sizeof(*mk));
}

unsigned long long vv_proc_starttime(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long start = 0;
	const char *p;
	FILE *f;
	size_t n;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	/* procfs, not a regular file: read directly, not through vv_file_read. */
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields start after the last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	p++;
	/* state is field 3; starttime is field 22, i.e. 19 fields after state. */
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p + 1, ' ');
	}
	if (p)
		start = strtoull(p + 1, NULL, 10);
	/* A zombie is as good as gone: it cannot thaw anything. */
	if (strstr(buf, ") Z ") || strstr(buf, ") X "))
		return 0;
	return start;
}

void vv_boot_id(char out[40])
{
	/* procfs, not a regular file: read directly, not through vv_file_read. */
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

	out[0] = '\0';
	if (!f)
		return;
	if (fgets(out, 40, f))
		out[strcspn(out, "\n")] = '\0';
	fclose(f);
}

int vv_marker_write(const char *path, const struct vv_marker *mk)
{
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
	char dir[PATH_MAX], *line = NULL;
	const char *text;
	char *slash;
	int r;

	if (!o || !arr) {
		json_object_put(arr);
		r = -ENOMEM;
		goto out;
	}
	json_object_object_add(o, "version", json_object_new_int(1));
	json_object_object_add(o, "agent_pid", json_object_new_int(mk->agent_pid));
	json_object_object_add(o, "agent_start", json_object_new_uint64(mk->agent_start));
	json_object_object_add(o, "watchdog_pid", json_object_new_int(mk->wd_pid));
	json_object_object_add(o, "watchdog_start", json_object_new_uint64(mk->wd_start));
	json_object_object_add(o, "deadline_boottime_ms", json_object_new_int64(mk->deadline_ms));
	json_object_object_add(o, "boot_id", json_object_new_string(mk->boot_id));
	json_object_object_add(o, "created", json_object_new_int64(mk->created));
	for (size_t i = 0; i < mk->n; i++) {
		struct json_object *e = json_object_new_object();
		char dev[32];

		snprintf(dev, sizeof(dev), "%u:%u", major(mk->m[i].devno), minor(mk->m[i].devno));
		json_object_object_add(e, "target", json_object_new_string(mk->m[i].target));
		json_object_object_add(e, "dev", json_object_new_string(dev));
		if (mk->m[i].dm_name)
			json_object_object_add(e, "dm_name", json_object_new_string(mk->m[i].dm_name));
		json_object_array_add(arr, e);
	}
	json_object_object_add(o, "mounts", arr);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	/* Created 0700 when missing; checked: what it says gets thawed later. */
	{
		struct vv_error why = { 0 };

		r = vv_state_dir_open(dir, true, &why);
		if (r < 0) {
			vv_err("frozen-state marker: %s", why.message);
			goto out;
		}
		close(r);
	}
	/* The rename is on disk (directory synced) before anything is frozen. */
	if (asprintf(&line, "%s\n", text) < 0) {
		line = NULL;
		r = -ENOMEM;
		goto out;
	}
	r = vv_file_write_atomic(AT_FDCWD, path, line, strlen(line), 0600, 0, NULL);
out:
	free(line);
	json_object_put(o);
	return r;
}

static long long jint(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

/* The marker's text, through the state directory's checks. */
static int read_marker_file(const char *path, char **buf)
{
	struct vv_error why = { 0 };
	char dir[PATH_MAX];
	const char *name = path;
	char *slash;
	size_t len;
	int r;

	snprintf(dir, sizeof(dir), ".");
	slash = strrchr(path, '/');
	if (slash) {
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
		name = slash + 1;
	}
	r = vv_state_file_read(dir, name, MARKER_MAX, buf, &len, &why);
	if (r < 0 && r != -ENOENT)
		vv_err("frozen-state marker: %s", why.message);
	if (r == 0 && !len) {
		free(*buf);
		*buf = NULL;
		r = -EINVAL;
	}
	return r;
}

int vv_marker_read(const char *path, struct vv_marker *mk)
{
	struct json_object *o = NULL, *arr, *v;
	char *buf = NULL;
	int r = 0;

	memset(mk, 0, sizeof(*mk));
	r = read_marker_file(path, &buf);
	if (r < 0)
		return r;
	o = json_tokener_parse(buf);
	if (!o || !json_object_is_type(o, json_type_object)) {
		r = -EINVAL;
		goto out;
	}
	mk->agent_pid = (pid_t)jint(o, "agent_pid");
	mk->wd_pid = (pid_t)jint(o, "watchdog_pid");
	if (json_object_object_get_ex(o, "agent_start", &v))
		mk->agent_start = json_object_get_uint64(v);
	if (json_object_object_get_ex(o, "watchdog_start", &v))
		mk->wd_start = json_object_get_uint64(v);
	mk->deadline_ms = jint(o, "deadline_boottime_ms");
	mk->created = jint(o, "created");
	if (json_object_object_get_ex(o, "boot_id", &v))
		snprintf(mk->boot_id, sizeof(mk->boot_id), "%s", json_object_get_string(v));
	if (!json_object_object_get_ex(o, "mounts", &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		r = -EINVAL;
		goto out;
	}
	mk->n = json_object_array_length(arr);
	mk->m = calloc(mk->n ? mk->n : 1, sizeof(*mk->m));
	if (!mk->m) {
		mk->n = 0;
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < mk->n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		unsigned ma = 0, mi = 0;

		if (!json_object_object_get_ex(e, "target", &v) ||
		    !json_object_is_type(v, json_type_string)) {
			r = -EINVAL;
			goto out;
		}
		mk->m[i].target = strdup(json_object_get_string(v));
		/* A JSON null has no string (sscanf/strdup of NULL crashed here). */
		if (json_object_object_get_ex(e, "dev", &v) && json_object_is_type(v, json_type_string) &&
		    sscanf(json_object_get_string(v), "%u:%u", &ma, &mi) == 2)
			mk->m[i].devno = makedev(ma, mi);
		if (json_object_object_get_ex(e, "dm_name", &v) && json_object_is_type(v, json_type_string))
			mk->m[i].dm_name = strdup(json_object_get_string(v));
		if (!mk->m[i].target) {
			r = -ENOMEM;
			goto out;
		}
	}
out:
	json_object_put(o);
	free(buf);
	if (r)
		vv_marker_clear(mk);
	return r;
}

static bool owner_alive(pid_t pid, unsigned long long start)
{
	unsigned long long now;

	if (pid <= 0)
		return false;
	now = vv_proc_starttime(pid);
	return now && (!start || now == start);
}

/* Written in another boot than this one (only when both ids are known). */
static bool marker_other_boot(const struct vv_marker *mk)
{
	char boot[40];

	vv_boot_id(boot);
	return mk->boot_id[0] && boot[0] && strcmp(boot, mk->boot_id) != 0;
}

bool vv_marker_live(const struct vv_marker *mk)
{
	if (marker_other_boot(mk))
		return false;	/* a reboot thawed everything */
	/* The file's deadline may be anything: keep the sum on our side. */
	if (mk->deadline_ms && vv_clock_ms() - 1000 > mk->deadline_ms)
		return false;
	return owner_alive(mk->agent_pid, mk->agent_start) ||
	       owner_alive(mk->wd_pid, mk->wd_start);
}

int vv_marker_recover(const char *state_dir, bool force, struct vv_recover_result *res)
{
	struct vv_marker mk;
	char path[PATH_MAX];
	int r;

	memset(res, 0, sizeof(*res));
	r = vv_marker_path(state_dir, path, sizeof(path));
	if (r)
		return r;
	r = vv_marker_read(path, &mk);
	if (r == -ENOENT)
		return 0;
	if (r) {
		/* Unreadable: nothing to act on; keep it for a human to see. */
		if (r == -EINVAL || r == -EFBIG || r == -EIO)
			vv_warn("frozen-state marker %s is unreadable (%s)", path, strerror(-r));
		return r;
	}
	res->found = true;
	/*
	 * A freeze does not outlive the boot it happened in. A marker of another
	 * boot is a leftover (power cut mid-snapshot) or came with a copy of the
	 * OS disk (a VM restored from a snapshot taken while frozen): the mounts
	 * and dm-quiesce devices it names are not frozen, and at boot may not
	 * exist yet. Acting on it would only print failures; remove it.
	 */
	if (marker_other_boot(&mk)) {
		res->other_boot = true;
		vv_debug("removing the frozen-state marker %s of boot %s: nothing is frozen "
			 "after a reboot", path, mk.boot_id);
		r = vv_file_unlink_durable(AT_FDCWD, path);
		goto out;
	}
	if (!force && vv_marker_live(&mk)) {
		res->skipped_live = true;
		goto out;
	}
	/* Ask a live watchdog to thaw and go (it does the same as below). */
	if (owner_alive(mk.wd_pid, mk.wd_start))
		kill(mk.wd_pid, SIGTERM);
	/* Reverse: the marker lists them in freeze order. */
	for (size_t k = mk.n; k-- > 0;) {
		struct vv_marker_mount *m = &mk.m[k];
		int count = 0;

		if (m->dm_name) {
			int q = vv_quiesce_thaw(m->dm_name);

			if (q == 0)
				res->thawed++;
		}
		{
			int fd = open(m->target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

			if (fd < 0) {
				vv_warn("cannot open %s to thaw it: %s", m->target, strerror(errno));
				res->errors++;
				continue;
			}
			if (vv_thaw_fd(fd, &count) < 0)
				res->errors++;
			else if (count > 0)
				res->thawed++;
			close(fd);
		}
	}
	r = vv_file_unlink_durable(AT_FDCWD, path);
out:
	vv_marker_clear(&mk);
	return r;
}
