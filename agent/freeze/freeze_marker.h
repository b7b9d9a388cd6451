/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The frozen-state marker: <state_dir>/frozen.json, written (atomically,
 * 0600, fsynced) before the first freeze and removed after the thaw. It
 * lists what may be frozen, who holds the freeze (agent and watchdog, by
 * pid and start time, so a reused pid is not mistaken for them) and the
 * deadline. A vaultvol started later (`vaultvol thaw`, or any command that
 * calls vv_marker_recover) thaws what a crashed one left frozen.
 */
#ifndef VV_FREEZE_MARKER_H
#define VV_FREEZE_MARKER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define VV_MARKER_NAME "frozen.json"

struct vv_marker_mount {
	char *target;
	dev_t devno;
	char *dm_name;		/* dm-quiesce mapping when frozen through it */
};

struct vv_marker {
	pid_t agent_pid;
	unsigned long long agent_start;	/* /proc/PID/stat starttime */
	pid_t wd_pid;
	unsigned long long wd_start;
	long long deadline_ms;		/* CLOCK_BOOTTIME ms */
	char boot_id[40];		/* the boot the freeze happened in */
	long long created;		/* seconds since the epoch */
	struct vv_marker_mount *m;
	size_t n;
};

/* "<state_dir>/frozen.json" into buf; -ENAMETOOLONG. */
int vv_marker_path(const char *state_dir, char *buf, size_t len);
/* Creates state_dir (0700) when missing. */
int vv_marker_write(const char *path, const struct vv_marker *mk);
/* -ENOENT when there is none, -EINVAL when unreadable. */
int vv_marker_read(const char *path, struct vv_marker *mk);
void vv_marker_clear(struct vv_marker *mk);

/* starttime of a live process (field 22 of /proc/PID/stat), 0 when none. */
unsigned long long vv_proc_starttime(pid_t pid);
/* The current boot's id (/proc/sys/kernel/random/boot_id), "" if unknown. */
void vv_boot_id(char out[40]);

/*
 * Is the freeze the marker describes still owned: same boot, deadline not
 * passed, and the agent or its watchdog still alive?
 */
bool vv_marker_live(const struct vv_marker *mk);

struct vv_recover_result {
	bool found;		/* there was a marker */
	bool skipped_live;	/* its owner is alive: left alone (not forced) */
	bool other_boot;	/* written in an earlier boot (or on another VM whose
				 * disk this is, after a restore): removed, nothing
				 * acted on, as a reboot thawed everything */
	int thawed;		/* filesystems where a thaw took effect */
	int errors;		/* mount points that could not be thawed */
};

/*
 * Thaw what the marker in state_dir lists and remove it. Without force a
 * live owner's freeze is left alone (another vaultvol is mid-snapshot).
 * With force the owner's watchdog is also sent SIGTERM. 0 or -errno.
 */
int vv_marker_recover(const char *state_dir, bool force, struct vv_recover_result *res);

#endif
