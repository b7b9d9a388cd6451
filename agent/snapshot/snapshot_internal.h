/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Pieces of the snapshot run shared between snapshot*.c files. */
#ifndef VV_SNAPSHOT_INTERNAL_H
#define VV_SNAPSHOT_INTERNAL_H

#include <signal.h>

#include "agent/snapshot/snapshot.h"

/* The scripts a run will use, loaded and checked up front. */
struct vv_snap_scripts {
	bool enabled;			/* application consistency requested */
	bool have_plugin;
	struct vv_plugin_config plugin;
	char **hooks;			/* NULL-terminated, may be empty */
	size_t n_hooks;
	int hook_timeout_s;
	bool continue_on_failure;	/* after a failed pre-script */
	bool freeze_enabled;		/* fsFreezeEnabled */
};

/*
 * Load the plugin config and the hook list; config problems lower the
 * report to filesystem consistency (never fatal).
 */
void vv_snap_scripts_load(const struct vv_snapshot_opts *o, struct vv_snapshot_report *rep,
			  struct vv_snap_scripts *s);
void vv_snap_scripts_free(struct vv_snap_scripts *s);

/*
 * Pre-scripts: the plugin's pre-script, then every hook with "freeze".
 * 0 all succeeded (or none), 1 some failed and the run continues
 * (the report was lowered), -ECANCELED some failed and the backup must
 * not go on (continueBackupOnFailure=false).
 */
int vv_snap_scripts_pre(struct vv_snap_scripts *s, struct vv_snapshot_report *rep);

/* Post-scripts: every hook with "thaw", then the plugin's post-script. */
void vv_snap_scripts_post(struct vv_snap_scripts *s, struct vv_snapshot_report *rep);

/*
 * Run the snapshot command while frozen. At deadline_ms (vv_clock_ms),
 * thaw(ctx) is called once and the wait goes on: the command is not killed
 * (a late snapshot is still a crash-consistent one). When *stop becomes
 * non-zero (a signal reached the agent), thaw(ctx) is called and the
 * signal is passed on to the command. Returns its wait status mapped to
 * 0..255 (128+signal), or -errno when it could not be started. *end_ms:
 * when it ended.
 */
int vv_snap_run_cmd(char *const cmd[], char *const env[], bool stdout_to_stderr,
		    long long deadline_ms, void (*thaw)(void *), void *ctx,
		    volatile sig_atomic_t *stop, long long *end_ms);

#endif
