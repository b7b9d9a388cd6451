// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The handler commands waagent runs (HandlerManifest.json): install, enable,
 * disable, uninstall, update. enable does the work:
 *
 *   HandlerEnvironment.json -> lock the status folder -> pick N ->
 *   N already finished? stop -> "transitioning" -> settings -> decrypt and
 *   validate -> operation -> <N>.status -> heartbeat
 *
 * enable runs on every boot and after every settings change, so it must be
 * idempotent: a sequence number whose status file records a finished
 * operation (success, warning or error) is not redone. A crash mid-way
 * leaves "transitioning", which the next enable retries. Invalid settings
 * are refused before any operation runs, so volumes stay untouched.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/command.h"
#include "agent/handler/handler.h"
#include "agent/handler/handler_internal.h"
#include "agent/version.h"
#include "base/http.h"
#include "base/log.h"

/* What enable knows so far; released in one place. */
struct enable_state {
	char *dir;
	struct vv_handler_env env;
	int lock_fd;
	int seq;
	struct vv_handler_settings settings;
	struct vv_secret *protected_plain;
	struct json_object *protected_json;
	struct vv_handler_request req;
	bool have_req;
	struct vv_handler_result res;
};

static const char *waagent_dir(const struct vv_handler_args *a)
{
	const char *e = getenv("VV_WAAGENT_DIR");

	if (a->waagent_dir)
		return a->waagent_dir;
	return e && *e ? e : VV_DEFAULT_WAAGENT_DIR;
}

static const char *handler_name(const struct vv_handler_env *env)
{
	return env->name ? env->name : "vaultvol";
}

/* mkdir -p with mode for the folders waagent normally creates. */
static int mkdirs(const char *path, mode_t mode)
{
	char *p = strdup(path);
	int r = 0;

	if (!p)
		return -ENOMEM;
	for (char *s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;

			*s = '\0';
			if (mkdir(p, mode) < 0 && errno != EEXIST) {
				r = -errno;
				break;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	free(p);
	return r;
}

/* Find the handler directory and read HandlerEnvironment.json; log there. */
static int load_env(const struct vv_handler_args *a, const char *cmd,
		    char **dir, struct vv_handler_env *env)
{
	struct vv_error err = { 0 };
	int r;

	r = vv_handler_find_dir(a->handler_dir, dir);
	if (r < 0) {
		vv_err("handler %s: cannot find the handler directory: %s", cmd, strerror(-r));
		return r;
	}
	r = vv_handler_env_load(*dir, env, &err);
	if (r < 0) {
		vv_err("handler %s: %s (handler directory %s)", cmd, err.message, *dir);
		return r;
	}
	if (env->log_folder) {
		char *log = NULL;

		if (mkdirs(env->log_folder, 0700) == 0 &&
		    asprintf(&log, "%s/" VV_HANDLER_LOG_NAME, env->log_folder) >= 0) {
			r = vv_log_set_file(log);
			if (r < 0)
				vv_warn("handler: cannot log to %s: %s", log, strerror(-r));
			free(log);
		}
	}
	vv_info("handler %s: vaultvol %s, handler %s %s, directory %s", cmd, VV_VERSION,
		handler_name(env), env->version ? env->version : "?", *dir);
	return 0;
}

static void heartbeat(const struct vv_handler_env *env, bool ready, int code,
		      const char *msg)
{
	int r;

	if (!env->heartbeat_file)
		return;
	r = vv_handler_heartbeat_write(env->heartbeat_file, ready ? "ready" : "notready",
				       code, msg);
	if (r < 0)
		vv_warn("handler: cannot write heartbeat %s: %s", env->heartbeat_file, strerror(-r));
}

/* One enable at a time: waagent and a boot-time run may overlap. */
static int lock_status_folder(const char *folder)
{
	int fd, r;

	r = mkdirs(folder, 0700);
	if (r < 0)
		return r;
	fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static int write_status(struct enable_state *s, const char *operation)
{
	int r = vv_handler_status_write(s->env.status_folder, s->seq,
					handler_name(&s->env), operation, &s->res);

	if (r < 0)
		vv_err("handler: cannot write %s/%d.status: %s", s->env.status_folder,
		       s->seq, strerror(-r));
	return r;
}

/* Settings -> validated request. On failure res holds the error. */
static int prepare(struct enable_state *s, const struct vv_handler_args *a)
{
	struct vv_error err = { 0 };
	char *path = NULL;
	int r;

	if (asprintf(&path, "%s/%d.settings", s->env.config_folder, s->seq) < 0)
		return -ENOMEM;
	r = vv_handler_settings_load(path, &s->settings, &err);
	free(path);
	if (r < 0)
		goto bad;
	if (s->settings.protected_b64) {
		r = vv_handler_decrypt(waagent_dir(a), s->settings.thumbprint,
				       s->settings.protected_b64, &s->protected_plain,
				       &err);
		if (r < 0)
			goto bad;
		struct vv_error why = { 0 };

		s->protected_json = vv_handler_json_parse((const char *)s->protected_plain->data,
							  s->protected_plain->len, &why);
		if (!s->protected_json) {
			r = vv_fail(&err, -EINVAL, why.cause, "protectedSettings: %s", why.message);
			goto bad;
		}
	}
	r = vv_handler_request_build(s->settings.public_settings, s->protected_json,
				     &s->req, &err);
	if (r < 0)
		goto bad;
	s->have_req = true;
	return 0;
bad:
	vv_handler_result_set(&s->res, VV_HS_ERROR, VV_EXIT_USAGE, "invalid settings: %s",
			      err.message);
	return r;
}

static vv_handler_op_fn pick_op(const struct vv_handler_ops *ops, enum vv_handler_op op)
{
	switch (op) {
	case VV_HOP_REOPEN: return ops->reopen;
	case VV_HOP_PROVISION: return ops->provision;
	case VV_HOP_ROTATE: return ops->rotate;
	case VV_HOP_SNAPSHOT: return ops->snapshot;
	}
	return NULL;
}

static int run_op(struct enable_state *s, const struct vv_options *opt,
		  const struct vv_handler_args *a)
{
	const struct vv_handler_ops *ops = a->ops ? a->ops : &vv_handler_default_ops;
	const char *name = vv_handler_op_str(s->req.op);
	vv_handler_op_fn fn = pick_op(ops, s->req.op);
	struct vv_options o = *opt;
	struct vv_handler_ctx ctx = { .opt = &o, .env = &s->env, .seq = s->seq };

	if (s->req.vault_url)
		o.vault_url = s->req.vault_url;
	if (!fn) {
		vv_handler_result_set(&s->res, VV_HS_ERROR, VV_EXIT_FAILURE,
				      "%s: this build of vaultvol has no %s operation", name, name);
		return -EOPNOTSUPP;
	}
	vv_info("handler: sequence %d: %s, %zu volume(s) named", s->seq, name, s->req.nvolumes);
	s->res.status = VV_HS_TRANSITIONING;
	s->res.message[0] = '\0';
	fn(&ctx, &s->req, &s->res);
	if (s->res.status == VV_HS_TRANSITIONING)
		vv_handler_result_summarize(&s->res, name);
	/* Keep code and status consistent for waagent and for our exit status. */
	if (s->res.status == VV_HS_SUCCESS)
		s->res.code = 0;
	else if (s->res.code == 0)
		s->res.code = VV_EXIT_FAILURE;
	return 0;
}

static int enable_flow(struct enable_state *s, const struct vv_options *opt,
		       const struct vv_handler_args *a)
{
	struct vv_error err = { 0 };
	const char *operation = "enable";
	int r, code = 0;

	if (load_env(a, "enable", &s->dir, &s->env) < 0)
		return VV_EXIT_USAGE;
	s->lock_fd = lock_status_folder(s->env.status_folder);
	if (s->lock_fd < 0) {
		vv_err("handler: cannot use status folder %s: %s", s->env.status_folder,
		       strerror(-s->lock_fd));
		heartbeat(&s->env, false, VV_EXIT_FAILURE, "status folder unusable");
		return VV_EXIT_FAILURE;
	}
	r = vv_handler_pick_seq(s->env.config_folder, a->seq_env, &s->seq, &err);
	if (r == -ENOENT) {
		vv_info("handler enable: %s: nothing to do", err.message);
		heartbeat(&s->env, true, 0, "no settings to act on");
		return VV_EXIT_OK;
	}
	if (r < 0) {
		vv_err("handler enable: %s", err.message);
		heartbeat(&s->env, false, VV_EXIT_USAGE, err.message);
		return VV_EXIT_USAGE;
	}
	r = vv_handler_status_handled(s->env.status_folder, s->seq, &code);
	if (r == 1) {
		vv_info("handler enable: sequence %d was already handled (code %d); nothing redone",
			s->seq, code);
		heartbeat(&s->env, code == 0, code, "settings already handled");
		return code >= 0 && code <= VV_EXIT_PARTIAL ? code : VV_EXIT_FAILURE;
	}
	vv_handler_result_set(&s->res, VV_HS_TRANSITIONING, 0, "reading settings %d", s->seq);
	write_status(s, operation);
	if (prepare(s, a) == 0) {
		operation = vv_handler_op_str(s->req.op);
		vv_handler_result_set(&s->res, VV_HS_TRANSITIONING, 0, "%s in progress", operation);
		write_status(s, operation);
		run_op(s, opt, a);
	}
	if (s->res.status != VV_HS_SUCCESS)
		vv_err("handler enable: sequence %d: %s: %s", s->seq,
		       vv_hstatus_str(s->res.status), s->res.message);
	else
		vv_info("handler enable: sequence %d: %s", s->seq, s->res.message);
	if (write_status(s, operation) < 0 && s->res.code == 0)
		s->res.code = VV_EXIT_FAILURE;
	heartbeat(&s->env, s->res.status == VV_HS_SUCCESS, s->res.code, s->res.message);
	return s->res.code;
}

int vv_handler_enable(const struct vv_options *opt, const struct vv_handler_args *a)
{
	struct enable_state s = { .lock_fd = -1 };
	int rc;

	umask(077);
	rc = enable_flow(&s, opt, a);
	if (s.have_req)
		vv_handler_request_clear(&s.req);
	vv_handler_result_clear(&s.res);
	if (s.protected_json)
		vv_json_put_wiped(s.protected_json);
	vv_secret_free(s.protected_plain);
	vv_handler_settings_clear(&s.settings);
	if (s.lock_fd >= 0)
		close(s.lock_fd);
	vv_handler_env_clear(&s.env);
	free(s.dir);
	vv_log_set_file(NULL);
	return rc;
}

/* install/disable/uninstall/update: log, keep the heartbeat honest. */
static int simple(const char *cmd, const struct vv_handler_args *a,
		  bool make_folders, int hb)
{
	struct vv_handler_env env = { 0 };
	char *dir = NULL;
	int rc = VV_EXIT_OK;

	umask(077);
	if (load_env(a, cmd, &dir, &env) < 0) {
		rc = VV_EXIT_USAGE;
		goto out;
	}
	if (make_folders) {
		int r = mkdirs(env.status_folder, 0700);

		if (r < 0) {
			vv_err("handler %s: cannot create %s: %s", cmd, env.status_folder, strerror(-r));
			rc = VV_EXIT_FAILURE;
			goto out;
		}
	}
	if (hb >= 0) {
		char msg[64];

		snprintf(msg, sizeof(msg), "%s done", cmd);
		heartbeat(&env, hb, 0, msg);
	}
	vv_info("handler %s: done", cmd);
out:
	vv_handler_env_clear(&env);
	free(dir);
	vv_log_set_file(NULL);
	return rc;
}

int vv_handler_install(const struct vv_options *opt, const struct vv_handler_args *a)
{
	(void)opt;
	return simple("install", a, true, 1);
}

/*
 * disable stops nothing because nothing of ours keeps running between
 * commands; open volumes stay open. <N>.status is left as enable wrote it,
 * so a later enable of the same N is still recognised as handled.
 */
int vv_handler_disable(const struct vv_options *opt, const struct vv_handler_args *a)
{
	(void)opt;
	return simple("disable", a, false, 0);
}

int vv_handler_uninstall(const struct vv_options *opt, const struct vv_handler_args *a)
{
	(void)opt;
	return simple("uninstall", a, false, -1);
}

/* No state to migrate between versions: the status folder carries it. */
int vv_handler_update(const struct vv_options *opt, const struct vv_handler_args *a)
{
	(void)opt;
	return simple("update", a, false, -1);
}
