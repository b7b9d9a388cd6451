/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The dm-quiesce target (dmtarget/dm-quiesce.c) through libdevmapper:
 * stack it over a device, freeze with a kernel-enforced deadline, thaw, read
 * the kernel's own figures, remove. All functions return 0 (or the stated
 * value) on success and a negative errno on failure; -ENODEV always means
 * "no mapping of that name".
 *
 * The guest and initramfs have no udev: mappings are created with a udev
 * cookie, so where udev runs the nodes come from it, and where it does not
 * libdevmapper creates /dev/mapper/NAME itself.
 *
 * libdevmapper keeps process-wide node-operation state, so do not call these
 * from several threads at once (serialise them, as with libcryptsetup's own
 * dm calls). Each call is one or a few ioctls and returns promptly, except
 * vv_quiesce_freeze, which returns once the filesystem is frozen and earlier
 * writes have landed (at most timeout_ms).
 */
#ifndef VV_QUIESCE_H
#define VV_QUIESCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The dm target type name, as in a table line. */
#define VV_QUIESCE_TARGET "quiesce"
/* Limits of the freeze deadline accepted by the kernel target. */
#define VV_QUIESCE_TIMEOUT_MIN_MS 1u
#define VV_QUIESCE_TIMEOUT_MAX_MS 3600000u

enum vv_quiesce_state {
	VV_QUIESCE_THAWED = 0,
	VV_QUIESCE_FREEZING,	/* the filesystem is being synced and frozen */
	VV_QUIESCE_FROZEN,
};

/* One INFO status line of the target, plus the mapping's suspend flag. */
struct vv_quiesce_status {
	enum vv_quiesce_state state;
	uint64_t epoch;		/* successful freezes since the table loaded */
	/* Latest freeze, message to end of thaw; while frozen: so far. */
	uint64_t last_freeze_us;
	uint64_t expiries;	/* freezes ended by the kernel's deadline */
	uint64_t held_writes;	/* writes held at the target right now */
	bool suspended;		/* the mapping is suspended (not from the line) */
};

/*
 * 0 when device-mapper can be used (driver loaded, control node there),
 * else -ENODEV and the reason in why, in the operator's words; what
 * libdevmapper itself says goes to the debug log, never to stderr.
 */
int vv_dm_available(char *why, size_t len);

/*
 * Remove /dev/mapper/NAME when it is what an interrupted activation leaves:
 * a device with no live table (none, or one loaded and never resumed), no
 * opener, and exactly the device-mapper UUID dm_uuid. 1 removed, 0 no such
 * device, -EEXIST something else is there, or -errno.
 */
int vv_dm_remove_stale(const char *name, const char *dm_uuid);

/*
 * Make /dev/mapper/NAME when the mapping exists and its node does not
 * (without udev, libdevmapper makes nodes after the ioctls: a process
 * killed in between leaves a live mapping with no node). 0 it was there,
 * 1 made, -errno.
 */
int vv_dm_ensure_node(const char *name);

/* 1 when /dev/mapper/NAME has a live table, 0 when it has none, -ENODEV when absent. */
int vv_dm_live(const char *name);

/* The device-mapper UUID of a quiesce layer: this prefix, then its name. */
#define VV_QUIESCE_UUID_PREFIX "VAULTVOL-QUIESCE-"

/* The remedy that goes with vv_dm_available's reason. */
#define VV_DM_REMEDY "load device-mapper and dm-crypt (modprobe dm_mod dm_crypt), or run " \
	"vaultvol where they are available"

/*
 * 1 when the running kernel has the quiesce target registered (module
 * loaded), 0 when not, negative errno when device-mapper itself is not
 * usable (-ENODEV: no dm driver or control node).
 */
int vv_quiesce_available(void);

/*
 * Create /dev/mapper/NAME: the quiesce target over lower_dev_path from its
 * sector 0, `sectors` long (0: the whole lower device). -EEXIST when a
 * mapping of that name exists, -EINVAL when the kernel refuses the table
 * (e.g. the target is not loaded), other -errno.
 */
int vv_quiesce_create(const char *name, const char *lower_dev_path, uint64_t sectors);

/*
 * Freeze what is mounted on NAME and hold raw writes; the kernel thaws by
 * itself timeout_ms after this call began (VV_QUIESCE_TIMEOUT_MIN_MS ..
 * VV_QUIESCE_TIMEOUT_MAX_MS). -EBUSY already frozen or suspended,
 * -ETIMEDOUT the freeze itself took longer than the deadline (already
 * undone), -EINVAL bad timeout or NAME is not a quiesce mapping.
 */
int vv_quiesce_freeze(const char *name, unsigned timeout_ms);

/* Thaw and release held writes. -EINVAL when not frozen (e.g. expired). */
int vv_quiesce_thaw(const char *name);

/* Read the target's status. -EMEDIUMTYPE when NAME is not a quiesce mapping. */
int vv_quiesce_status(const char *name, struct vv_quiesce_status *st);

/* Remove the mapping (thaws first in the kernel). -EBUSY while open. */
int vv_quiesce_remove(const char *name);

/*
 * Parse the target's INFO status line
 *   "<state> <epoch> <last_freeze_us> <expiries> <held>"
 * Fields after the fifth are ignored (later target versions may add some).
 * Pure; sets every field it parses and leaves `suspended` alone.
 * -EINVAL on anything malformed.
 */
int vv_quiesce_parse_status(const char *line, struct vv_quiesce_status *st);

/* "thawed", "freezing", "frozen" (or "unknown"). */
const char *vv_quiesce_state_name(enum vv_quiesce_state s);

#endif
