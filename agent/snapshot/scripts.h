/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Pre/post snapshot scripts in the two conventions users already have:
 *
 * - Azure's VMSnapshotScriptPluginConfig.json: one pre-script and one
 *   post-script with parameters, retries, a timeout per run,
 *   continueBackupOnFailure and fsFreezeEnabled.
 * - A qemu-guest-agent style hook directory: every executable regular file,
 *   in name order (C collation), run with "freeze" before the freeze and
 *   with "thaw" after the thaw, in the same order both times; names ending
 *   in ~ .bak .orig .rpmnew .rpmorig .rpmsave .sample or containing
 *   .dpkg- are skipped.
 *
 * Config files and scripts must be owned by root and not writable by group
 * or others, nor may any directory on their real path be (unless root owns
 * it and it is sticky, like /tmp); otherwise they are refused with the
 * reason. Every script runs in its own session (process group), stdin from
 * /dev/null, output captured (a tail kept for the report); at its timeout
 * the whole group is killed with SIGKILL.
 */
#ifndef VV_SCRIPTS_H
#define VV_SCRIPTS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

/* Bytes of a script's output kept for the report (the end of it). */
#define VV_SCRIPT_OUTPUT_MAX 512

#define VV_PLUGIN_CONFIG_DEFAULT "/etc/azure/VMSnapshotScriptPluginConfig.json"
#define VV_SCRIPT_TIMEOUT_DEFAULT_S 60
#define VV_PLUGIN_TIMEOUT_MAX_S 1800

/* One execution of a program. */
struct vv_exec_result {
	bool started;
	int start_err;		/* -errno when it could not be started */
	int exit_code;		/* valid when it exited */
	int term_signal;	/* signal that ended it, 0 when it exited */
	bool timed_out;		/* killed at the timeout */
	long long duration_ms;
	char output[VV_SCRIPT_OUTPUT_MAX + 1];	/* tail of stdout+stderr */
};

/*
 * Run argv[0] (a path, not searched in PATH) with argv, in a new session,
 * killing its process group after timeout_ms (<= 0: no timeout). env
 * (NULL-terminated "K=V") is added to the inherited environment. Returns
 * 0 when it ran (whatever its status; see res), -errno when it could not.
 */
int vv_exec_run(char *const argv[], char *const env[], long timeout_ms,
		struct vv_exec_result *res);
/*
 * The same, executing the file open as fd (an O_PATH descriptor from
 * vv_script_open) with execveat(AT_EMPTY_PATH): what runs is what was
 * checked, whatever happens to the path meanwhile. argv[0] is only shown.
 */
int vv_exec_run_fd(int fd, char *const argv[], char *const env[], long timeout_ms,
		   struct vv_exec_result *res);

/* Did it run and exit with 0? */
bool vv_exec_ok(const struct vv_exec_result *res);

/*
 * Is path safe to read or execute as root: an absolute path with no
 * symbolic link in it, naming a regular file owned by root, not
 * group/other writable, every directory on the way root-owned and not
 * group/other writable unless sticky; with executable, also executable by
 * its owner. 0, or -EPERM/-ENOENT/... with err filled.
 */
int vv_path_trusted(const char *path, bool executable, struct vv_error *err);
/*
 * The checks of vv_path_trusted, made on descriptors while walking the
 * absolute path from / with O_PATH|O_NOFOLLOW (a symbolic link anywhere on
 * the way is refused): returns the O_PATH descriptor of the file, for
 * vv_exec_run_fd.
 */
int vv_script_open(const char *path, bool executable, struct vv_error *err);
/*
 * The directory part of that walk: an O_PATH descriptor of path's parent,
 * every directory to it checked; *base points at path's last component.
 */
int vv_trusted_parent_open(const char *path, const char **base, struct vv_error *err);
/*
 * A hook directory: every parent checked as above, the directory itself
 * root-owned, not group/other-writable (sticky or not), not a symbolic
 * link. Returns an O_RDONLY|O_DIRECTORY descriptor or -errno with err filled.
 */
int vv_trusted_dir_open(const char *dir, struct vv_error *err);

/* --- VMSnapshotScriptPluginConfig.json ------------------------------ */

struct vv_plugin_config {
	char *plugin_name;
	char *pre_script;	/* NULL when empty */
	char **pre_params;	/* NULL-terminated */
	char *post_script;
	char **post_params;
	int pre_retries, post_retries;
	int timeout_s;
	bool continue_on_failure;
	bool fs_freeze_enabled;
};

/* Parse the JSON text. 0 or -EINVAL with err filled. Absent fields take defaults. */
int vv_plugin_config_parse(const char *text, struct vv_plugin_config *c,
			   struct vv_error *err);
/*
 * Check ownership and parse. -ENOENT when the file does not exist; -EPERM
 * (refused) or -EINVAL (malformed) with err filled.
 */
int vv_plugin_config_load(const char *path, struct vv_plugin_config *c,
			  struct vv_error *err);
void vv_plugin_config_clear(struct vv_plugin_config *c);

/* --- hook directory ----------------------------------------------------- */

/* Is this directory entry name one that is never run? */
bool vv_hook_name_skipped(const char *name);

/*
 * Executable regular files of dir (full paths) in name order; skipped
 * names and non-executables are left out; symbolic links are listed (and
 * refused with a reason when run). dir and its parents must pass
 * vv_trusted_dir_open. -ENOENT when dir does not exist, -EPERM... with err.
 * Free with vv_strv_free.
 */
int vv_hooks_list(const char *dir, char ***paths, size_t *n, struct vv_error *err);

void vv_strv_free(char **v);

#endif
