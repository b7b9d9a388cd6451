// SPDX-License-Identifier: GPL-2.0-or-later
/* The pre/post-script phases of a snapshot (see scripts.h for the rules). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/snapshot/snapshot_internal.h"
#include "base/log.h"

void vv_snap_scripts_load(const struct vv_snapshot_opts *o, struct vv_snapshot_report *rep,
			  struct vv_snap_scripts *s)
{
	const char *cfg = o->plugin_config ? o->plugin_config : VV_PLUGIN_CONFIG_DEFAULT;
	struct vv_error cfg_err = { 0 }, hooks_err = { 0 };
	int r;

	memset(s, 0, sizeof(*s));
	s->continue_on_failure = true;
	s->freeze_enabled = true;
	s->hook_timeout_s = o->hook_timeout_s > 0 ? o->hook_timeout_s : VV_SCRIPT_TIMEOUT_DEFAULT_S;
	s->enabled = rep->requested == VV_CONS_APP;
	if (!s->enabled)
		return;

	if (*cfg) {
		r = vv_plugin_config_load(cfg, &s->plugin, &cfg_err);
		if (r == 0) {
			s->have_plugin = true;
			s->continue_on_failure = s->plugin.continue_on_failure;
			s->freeze_enabled = s->plugin.fs_freeze_enabled;
		} else if (r != -ENOENT) {
			/* Azure's rule: a config error falls back to a filesystem-consistent snapshot. */
			vv_report_lower(rep, VV_CONS_FS, "script config refused: %s",
					cfg_err.message);
		}
	}
	if (o->hooks_dir && *o->hooks_dir) {
		r = vv_hooks_list(o->hooks_dir, &s->hooks, &s->n_hooks, &hooks_err);
		if (r && r != -ENOENT)
			vv_report_lower(rep, VV_CONS_FS, "hook directory refused: %s",
					hooks_err.message);
	}
	if (!(s->have_plugin && s->plugin.pre_script) && !s->n_hooks &&
	    rep->achieved == VV_CONS_APP)
		vv_report_lower(rep, VV_CONS_FS, "no pre-snapshot script or hook is configured");
}

void vv_snap_scripts_free(struct vv_snap_scripts *s)
{
	vv_plugin_config_clear(&s->plugin);
	vv_strv_free(s->hooks);
	memset(s, 0, sizeof(*s));
}

static struct vv_snap_script *add_script(struct vv_snapshot_report *rep, const char *phase,
					 const char *kind, const char *path)
{
	struct vv_snap_script *ns = realloc(rep->scripts, (rep->n_scripts + 1) * sizeof(*ns));

	if (!ns)
		return NULL;
	rep->scripts = ns;
	ns = &rep->scripts[rep->n_scripts];
	memset(ns, 0, sizeof(*ns));
	ns->phase = strdup(phase);
	ns->kind = strdup(kind);
	ns->path = strdup(path);
	if (!ns->phase || !ns->kind || !ns->path) {
		free(ns->phase);
		free(ns->kind);
		free(ns->path);
		return NULL;
	}
	rep->n_scripts++;
	return ns;
}

/* Describe a failed script for reasons and warnings. */
static void describe(const struct vv_snap_script *sc, char *buf, size_t len)
{
	if (sc->refused)
		snprintf(buf, len, "%s %s refused: %s", sc->phase, sc->path, sc->error);
	else if (!sc->ex.started)
		snprintf(buf, len, "%s %s could not start: %s", sc->phase, sc->path,
			 sc->error ? sc->error : strerror(-sc->ex.start_err));
	else if (sc->ex.timed_out)
		snprintf(buf, len, "%s-script %s timed out after %lld ms and was killed",
			 sc->phase, sc->path, sc->ex.duration_ms);
	else if (sc->ex.term_signal)
		snprintf(buf, len, "%s-script %s killed by signal %d", sc->phase, sc->path,
			 sc->ex.term_signal);
	else
		snprintf(buf, len, "%s-script %s exited with %d", sc->phase, sc->path,
			 sc->ex.exit_code);
}

/*
 * Run one script: up to 1 + retries attempts, each of which checks the file
 * again and executes the very descriptor it checked (a script swapped
 * between attempts or between check and exec never runs). Returns true on
 * success. *ran is set once a process was started.
 */
static bool run_one(struct vv_snapshot_report *rep, const char *phase, const char *kind,
		    const char *path, char *const *params, const char *arg, int timeout_s,
		    int retries, bool *ran)
{
	char env_phase[32];
	char *env[] = { env_phase, NULL };
	char **argv;
	size_t np = 0;
	struct vv_snap_script *sc = add_script(rep, phase, kind, path);
	bool ok = false;

	if (!sc)
		return false;
	snprintf(env_phase, sizeof(env_phase), "VAULTVOL_PHASE=%s", phase);
	while (params && params[np])
		np++;
	argv = calloc(np + 3, sizeof(*argv));
	if (!argv)
		return false;
	argv[0] = (char *)path;
	for (size_t i = 0; i < np; i++)
		argv[1 + i] = params[i];
	if (arg)
		argv[1 + np] = (char *)arg;
	for (int a = 0; a <= retries; a++) {
		struct vv_error err = { 0 };
		int fd = vv_script_open(path, true, &err), r;

		if (fd < 0) {
			sc->refused = true;
			free(sc->error);
			sc->error = strdup(err.message);
			break;
		}
		r = vv_exec_run_fd(fd, argv, env, (long)timeout_s * 1000, &sc->ex);
		close(fd);

		sc->attempts = a + 1;
		if (sc->ex.started)
			*ran = true;
		if (r < 0 && !sc->error) {
			char e[256];

			snprintf(e, sizeof(e), "%s", strerror(-r));
			sc->error = strdup(e);
		}
		if (vv_exec_ok(&sc->ex)) {
			ok = true;
			break;
		}
	}
	free(argv);
	return ok;
}

int vv_snap_scripts_pre(struct vv_snap_scripts *s, struct vv_snapshot_report *rep)
{
	bool failed = false;

	if (!s->enabled)
		return 0;
	/*
	 * From here on the post phase is owed: an application may be
	 * half-quiesced by a pre-script that failed or timed out.
	 */
	if (s->have_plugin || s->n_hooks)
		rep->pre_ran = true;
	if (s->have_plugin && s->plugin.pre_script) {
		bool ran = false;

		if (!run_one(rep, "pre", "plugin", s->plugin.pre_script, s->plugin.pre_params, NULL,
			     s->plugin.timeout_s, s->plugin.pre_retries, &ran))
			failed = true;
	}
	for (size_t i = 0; i < s->n_hooks; i++) {
		bool ran = false;

		if (!run_one(rep, "pre", "hook", s->hooks[i], NULL, "freeze", s->hook_timeout_s, 0,
			     &ran))
			failed = true;
	}
	if (!failed)
		return 0;
	for (size_t i = 0; i < rep->n_scripts; i++) {
		char d[700];
		const struct vv_snap_script *sc = &rep->scripts[i];

		if (strcmp(sc->phase, "pre") || (!sc->refused && vv_exec_ok(&sc->ex)))
			continue;
		describe(sc, d, sizeof(d));
		if (s->continue_on_failure)
			vv_report_lower(rep, VV_CONS_FS, "%s", d);
		else
			vv_report_lower(rep, VV_CONS_FAILED, "%s (continueBackupOnFailure is false)", d);
	}
	return s->continue_on_failure ? 1 : -ECANCELED;
}

void vv_snap_scripts_post(struct vv_snap_scripts *s, struct vv_snapshot_report *rep)
{
	size_t first = rep->n_scripts;

	if (!s->enabled || !rep->pre_ran)
		return;
	/* Like the stock qemu-ga hook: name order for thaw too, not reversed. */
	for (size_t i = 0; i < s->n_hooks; i++) {
		bool ran = false;

		run_one(rep, "post", "hook", s->hooks[i], NULL, "thaw", s->hook_timeout_s, 0, &ran);
	}
	if (s->have_plugin && s->plugin.post_script) {
		bool ran = false;

		run_one(rep, "post", "plugin", s->plugin.post_script, s->plugin.post_params, NULL,
			s->plugin.timeout_s, s->plugin.post_retries, &ran);
	}
	/* The snapshot is taken by now: a failing post-script is a warning. */
	for (size_t i = first; i < rep->n_scripts; i++) {
		char d[700];
		const struct vv_snap_script *sc = &rep->scripts[i];

		if (!sc->refused && vv_exec_ok(&sc->ex))
			continue;
		describe(sc, d, sizeof(d));
		vv_report_warn(rep, "%s", d);
	}
}
