/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Application-consistent snapshots: the library API behind
 * `vaultvol snapshot` and the extension handler.
 *
 *   pre-scripts -> freeze (deadline armed first) -> snapshot -> thaw
 *   -> post-scripts -> report
 *
 * The snapshot is either a command run while frozen (opts->cmd) or the
 * backup service's do-snapshot request (opts->service_url; see
 * docs/snapshot-protocol.md). Post-scripts and thaw hooks run whenever any
 * pre-script ran, whatever failed after it.
 *
 * Consistency achieved:
 *   application  pre-scripts configured, trusted and successful, every
 *                filesystem frozen, snapshot done before the deadline;
 *   filesystem   every filesystem frozen and snapshot done in time, but the
 *                scripts were not (requested fs, none configured, config
 *                refused, a pre-script failed with continueBackupOnFailure);
 *   crash        a filesystem could not be frozen, the freeze was disabled
 *                (fsFreezeEnabled=false), or the deadline passed before the
 *                snapshot was done;
 *   failed       no snapshot: the command or service failed, or a
 *                pre-script failed with continueBackupOnFailure=false.
 * Exit status (vv_snapshot_exit_status): 0 requested level reached, 3
 * (VV_EXIT_PARTIAL) a weaker one, 1 failed.
 */
#ifndef VV_SNAPSHOT_H
#define VV_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "agent/freeze/freeze_exec.h"
#include "agent/snapshot/scripts.h"

enum vv_consistency {
	VV_CONS_FAILED = 0,
	VV_CONS_CRASH,
	VV_CONS_FS,
	VV_CONS_APP,
};

/* "failed", "crash", "filesystem", "application". */
const char *vv_consistency_name(enum vv_consistency c);
/* "app"/"application", "fs"/"filesystem" -> level; -EINVAL otherwise. */
int vv_consistency_parse(const char *s, enum vv_consistency *c);

/*
 * Key references of an encrypted layer, for the backup service's
 * pre-snapshot request: references only, never key material. Returns 0
 * with *key (and maybe *kek, *alg) set (malloc'd) or -ENOENT.
 */
typedef int (*vv_key_ref_fn)(void *ctx, const char *mapper_name, const char *lower_dev,
			     char **key, char **kek, char **alg);

struct vv_snapshot_opts {
	int timeout_s;			/* freeze deadline; <= 0: 60 */
	enum vv_consistency requested;	/* VV_CONS_APP (default 0 -> APP) or VV_CONS_FS */
	char *const *cmd;		/* snapshot command (NULL-terminated), or NULL */
	bool cmd_stdout_to_stderr;	/* keep stdout for the JSON report */
	const char *service_url;	/* backup service, or NULL */
	const char *ca_file;
	const char *state_dir;		/* marker; NULL: /var/lib/vaultvol */
	const char *plugin_config;	/* NULL: VV_PLUGIN_CONFIG_DEFAULT; "": none */
	const char *hooks_dir;		/* NULL or "": none */
	int hook_timeout_s;		/* <= 0: 60 */
	const char *const *exclude;	/* mount points / patterns never frozen */
	size_t n_exclude;
	vv_key_ref_fn key_refs;		/* NULL: the LUKS2 vaultvol token */
	void *key_refs_ctx;

	/* Test seams: a mountinfo/sysfs copy, and freeze ops that touch nothing. */
	const char *mountinfo;
	const char *sysfs;
	const struct vv_freeze_ops *ops_override;
};

struct vv_snap_script {
	char *phase;		/* "pre" or "post" */
	char *kind;		/* "plugin" or "hook" */
	char *path;
	bool refused;		/* not run: see error */
	char *error;
	int attempts;
	struct vv_exec_result ex;	/* the last attempt */
};

struct vv_snap_fs {
	char *mount, *fstype, *source;
	char device[24];	/* major:minor */
	unsigned n_mounts;
	int wave;
	const char *method;	/* "ioctl" or "quiesce" */
	enum vv_freeze_state state;
	int err;		/* freeze -errno */
	long long freeze_ms;	/* duration of its freeze call */
	int thaw_count;
	int thaw_err;
	bool thawed_elsewhere;	/* the watchdog or the kernel got there first */
	bool q_valid;
	unsigned long long q_last_freeze_us;
	bool q_expired;		/* the kernel's deadline ended its freeze */
};

struct vv_snapshot_report {
	enum vv_consistency requested, achieved;
	char **reasons;		/* why it is not higher, in order */
	size_t n_reasons;
	char **warnings;
	size_t n_warnings;
	char **skipped;		/* "MOUNT (TYPE): reason" */
	size_t n_skipped;

	bool pre_ran;		/* some pre-script started */
	bool snapshot_attempted;
	bool snapshot_ok;
	int snapshot_exit;	/* command exit status, or HTTP status */
	char *snapshot_error;
	char *snapshot_id;	/* the service's id */
	char *service_result;	/* the service's answer to do-snapshot (JSON) */

	long long pre_ms, freeze_ms, snapshot_ms, thaw_ms, post_ms, total_ms;
	long long flush_ms;	/* part of freeze_ms: the write-back before the freeze */
	long long window_ms;	/* first freeze call to last thaw */
	int timeout_s;
	bool deadline_expired;
	char *thawed_by;	/* "agent", "watchdog (deadline)", "kernel (deadline)", ... */

	struct vv_snap_fs *fs;
	size_t n_fs;
	struct vv_snap_script *scripts;
	size_t n_scripts;
};

/*
 * Run a snapshot. Returns 0 when the run completed and *rep says what was
 * achieved (even "failed"), -errno only for local failures before anything
 * happened (rep still carries a reason). Free rep with
 * vv_snapshot_report_free in every case.
 */
int vv_snapshot_run(const struct vv_snapshot_opts *opts, struct vv_snapshot_report *rep);

void vv_snapshot_report_free(struct vv_snapshot_report *rep);

/* 0 (requested level), 3 (weaker) or 1 (failed). */
int vv_snapshot_exit_status(const struct vv_snapshot_report *rep);

/* The report as one JSON object (malloc'd text). */
int vv_snapshot_report_json(const struct vv_snapshot_report *rep, char **out);
/* A few lines for people. */
void vv_snapshot_report_text(const struct vv_snapshot_report *rep, FILE *f);
/* One line (<= len), e.g. for an extension status message. */
void vv_snapshot_report_line(const struct vv_snapshot_report *rep, char *buf, size_t len);

/* --- building a report (used by the run; pure, unit-tested) ----------- */

/* Cap the level at `level`, recording why. */
int vv_report_lower(struct vv_snapshot_report *rep, enum vv_consistency level,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vv_report_warn(struct vv_snapshot_report *rep, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
