// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The operations the extension handler performs, behind the function
 * pointers of struct vv_handler_ops so the protocol code (handler.c) is
 * tested on its own with stand-ins. Each turns a validated request into
 * calls of the same library code the CLI uses (`vaultvol open`,
 * `vaultvol snapshot`) and fills a struct vv_handler_result with one
 * substatus per volume (per filesystem for a snapshot).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/snapshot/snapshot_config.h"
#include "agent/command.h"
#include "agent/config/config.h"
#include "agent/handler/handler.h"
#include "agent/open/open.h"
#include "agent/provision/provision.h"
#include "agent/revoke/revoke.h"
#include "agent/cmd_provision_output.h"
#include "agent/snapshot/snapshot.h"
#include "agent/config/config_vault.h"
#include "agent/volume/luks2_token.h"
#include "base/log.h"

/*
 * The vault library reads an AAD client secret from a file
 * (aad_secret_file). The handler's secret arrives decrypted in memory and
 * must not touch a disk, so it is handed over as an anonymous memory file
 * (memfd) whose pages are locked while mapped, reachable as
 * /proc/self/fd/N, wiped and closed when the operation ends.
 */
struct aad_memfd {
	int fd;
	void *map;
	size_t len;
	char path[40];
};

static void aad_memfd_close(struct aad_memfd *m)
{
	if (m->map) {
		explicit_bzero(m->map, m->len);
		munmap(m->map, m->len);
	}
	if (m->fd >= 0) {
		/* Drop the pages too, not just our mapping of them. */
		if (ftruncate(m->fd, 0) < 0)
			vv_debug("handler: truncating the secret memfd: %s", strerror(errno));
		close(m->fd);
	}
	m->fd = -1;
	m->map = NULL;
}

static int aad_memfd_open(const struct vv_secret *s, struct aad_memfd *m)
{
	int r;

	m->fd = memfd_create("vaultvol-aad", MFD_CLOEXEC);
	m->map = NULL;
	m->len = s->len;
	if (m->fd < 0)
		return -errno;
	if (ftruncate(m->fd, (off_t)s->len) < 0) {
		r = -errno;
		goto fail;
	}
	m->map = mmap(NULL, s->len, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	if (m->map == MAP_FAILED) {
		m->map = NULL;
		r = -errno;
		goto fail;
	}
	if (mlock(m->map, s->len) < 0) {
		r = -errno;
		goto fail;
	}
	madvise(m->map, s->len, MADV_DONTDUMP);
	memcpy(m->map, s->data, s->len);
	snprintf(m->path, sizeof(m->path), "/proc/self/fd/%d", m->fd);
	return 0;
fail:
	aad_memfd_close(m);
	return r;
}

/* Replace a config string with a copy of value. */
static int set_str(char **field, const char *value)
{
	char *c = strdup(value);

	if (!c)
		return -ENOMEM;
	free(*field);
	*field = c;
	return 0;
}

/*
 * Apply the settings' identity choices to the loaded config, then create
 * the vault client from it (the client keeps its own copy of every string).
 */
static int make_vault(const struct vv_handler_ctx *ctx, const struct vv_handler_request *req,
		      struct vv_config *cfg, struct vv_vault **vault, struct aad_memfd *m,
		      struct vv_error *err)
{
	struct vv_vault_config vcfg;
	int r = 0;

	if (req->identity_client_id) {
		r = set_str(&cfg->vault.identity_kind, "client_id");
		if (!r)
			r = set_str(&cfg->vault.identity_value, req->identity_client_id);
	}
	if (!r && req->aad_client_id) {
		r = set_str(&cfg->vault.aad_client_id, req->aad_client_id);
		if (!r && req->aad_tenant_id)
			r = set_str(&cfg->vault.aad_tenant, req->aad_tenant_id);
		free(cfg->vault.aad_cert_file);
		cfg->vault.aad_cert_file = NULL;
		/* Read when the client asks for a token: kept until the caller ends. */
		if (!r)
			r = aad_memfd_open(req->aad_client_secret, m);
		if (!r)
			r = set_str(&cfg->vault.aad_secret_file, m->path);
	}
	/*
	 * The extension's settings are trusted configuration (they come from
	 * the platform, the protected half encrypted to this VM): the KEK
	 * they name may live in another vault than vaultUrl.
	 */
	if (!r && req->kek_url && !strncmp(req->kek_url, "https://", 8))
		r = vv_config_add_allowed(&cfg->vault, req->kek_url, err, "settings", 0);
	if (req->require_purge_protection)
		cfg->vault.require_purge_protection = true;
	if (!r && req->moved_from) {
		char line[4200];

		snprintf(line, sizeof(line), "%s %s", req->moved_from, req->moved_to);
		r = vv_config_add_moved(&cfg->vault, line, err, "settings", 0);
	}
	if (r < 0) {
		if (r == -EINVAL)
			return r;	/* the message names the URL */
		return vv_fail(err, r, VV_CAUSE_SYSTEM,
			       "preparing the vault identity: %s", strerror(-r));
	}
	r = vv_config_vault(cfg, ctx->opt, &vcfg);
	if (r < 0)
		return vv_fail(err, r, VV_CAUSE_SYSTEM, "vault configuration: %s", strerror(-r));
	r = vv_vault_new(&vcfg, vault);
	if (r < 0)
		return vv_fail(err, r, VV_CAUSE_SYSTEM,
			       "cannot create the vault client: %s", strerror(-r));
	return 0;
}

/* ---- reopen ---------------------------------------------------------------- */

static void report_volume(struct vv_handler_result *res, const struct vv_vol *v,
			  struct vv_rv_table *rt)
{
	const struct vv_rv_vol *rv = NULL;

	if (v->state == VV_VS_OPEN || v->state == VV_VS_MOUNTED)
		rv = vv_rv_table_get(rt, v->conf.name);
	if (rv && rv->state == VV_RV_INACCESSIBLE) {
		/* Open, but suspended by `vaultvol watch`: not usable. */
		vv_handler_result_add(res, v->conf.name, VV_HS_ERROR, VV_EXIT_FAILURE,
				      "%s: inaccessible: %s (suspended by vaultvol watch; resumed "
				      "when access returns)", v->conf.name, rv->cause);
		return;
	}
	if (v->undescribed) {
		/* Listed so it is seen, never opened, no failure. */
		vv_handler_result_add(res, v->conf.name, VV_HS_SUCCESS, 0,
				      "%s: undescribed %s volume on %s (uuid %s): not opened",
				      v->conf.name, vv_vol_type_str(v->type),
				      v->device ? v->device : "?", v->uuid);
		return;
	}
	if (v->fail) {
		vv_handler_result_add(res, v->conf.name, VV_HS_ERROR, VV_EXIT_FAILURE,
				      "%s: failed (%s%s%s): %s%s%s", v->conf.name,
				      vv_fail_str(v->fail),
				      v->fail == VV_FAIL_KEY_ACCESS ? ", " : "",
				      v->fail == VV_FAIL_KEY_ACCESS ? vv_cause_str(v->error.cause) : "",
				      v->error.message, v->error.remedy[0] ? "; remedy: " : "",
				      v->error.remedy);
		return;
	}
	vv_handler_result_add(res, v->conf.name,
			      v->warning[0] ? VV_HS_WARNING : VV_HS_SUCCESS, 0,
			      "%s: %s %s (%s %s%s%s%s%s)%s%s", v->conf.name,
			      v->state == VV_VS_MOUNTED ?
				      (v->changed ? "mounted on" : "already mounted on") :
				      (v->changed ? "opened as" : "already open as"),
			      v->state == VV_VS_MOUNTED && v->mounted_on ? v->mounted_on : v->top,
			      vv_vol_type_str(v->type), v->device ? v->device : "?",
			      v->key_source ? ", key from " : "", v->key_source ? v->key_source : "",
			      v->key_version ? " " : "", v->key_version ? v->key_version : "",
			      v->warning[0] ? "; warning: " : "", v->warning);
}

/*
 * The volumes found the way `vaultvol open` finds them, and the vault the
 * request names: 0, or -errno with res failed for op. The caller tears s
 * down and closes m either way.
 */
static int setup_volumes(const struct vv_handler_ctx *ctx, const struct vv_handler_request *req,
			 struct vv_open_setup *s, struct aad_memfd *m,
			 struct vv_handler_result *res, const char *op)
{
	struct vv_error err = { 0 };
	int r;

	r = vv_open_setup(ctx->opt, false, s, &err);
	if (r < 0) {
		vv_handler_result_fail(res, r == -EINVAL ? VV_EXIT_USAGE : VV_EXIT_FAILURE,
				       op, &err);
		return r;
	}
	r = make_vault(ctx, req, s->cfg, &s->vault, m, &err);
	if (r < 0)
		vv_handler_result_fail(res, VV_EXIT_FAILURE, op, &err);
	return r;
}

static int op_reopen(const struct vv_handler_ctx *ctx, const struct vv_handler_request *req,
		     struct vv_handler_result *res)
{
	struct vv_open_setup s;
	struct vv_open_ctx oc = { 0 };
	struct vv_rv_table rt = { 0 };
	struct vv_error err = { 0 };
	char bad[128];
	struct aad_memfd m = { .fd = -1 };
	char **names = NULL;
	size_t nnames = 0;
	int r;

	r = setup_volumes(ctx, req, &s, &m, res, "reopen");
	if (r < 0)
		goto out;
	/*
	 * Named volumes: the ones vaultvol does not know get an error
	 * substatus of their own; the others are opened.
	 */
	if (req->nvolumes) {
		names = calloc(req->nvolumes, sizeof(*names));
		if (!names) {
			r = -ENOMEM;
			vv_handler_result_set(res, VV_HS_ERROR, VV_EXIT_FAILURE, "reopen: out of memory");
			goto out;
		}
		for (size_t i = 0; i < req->nvolumes; i++) {
			if (vv_open_plan_find(&s.plan, req->volumes[i].name))
				names[nnames++] = req->volumes[i].name;
			else
				vv_handler_result_add(res, req->volumes[i].name, VV_HS_ERROR,
						      VV_EXIT_FAILURE,
						      "%s: no such volume (not in the config file, "
						      "ADE state or any disk's vaultvol token)",
						      req->volumes[i].name);
		}
		r = vv_open_select(&s.plan, names, nnames, bad, sizeof(bad));
		if (r < 0) {
			vv_handler_result_set(res, VV_HS_ERROR, VV_EXIT_FAILURE,
					      "reopen: cannot select volume %s", bad);
			goto out;
		}
	}
	if (!req->nvolumes || nnames) {
		oc.vault = s.vault;
		vv_open_run(&oc, &s.plan);
		if (vv_open_state_write(ctx->opt->state_dir, &s.plan, &err) < 0)
			vv_warn("handler reopen: %s", err.message);
	}
	if (vv_rv_state_load_current(ctx->opt->state_dir, &rt, &err) < 0)
		vv_warn("handler reopen: %s", err.message);
	for (size_t i = 0; i < s.plan.n; i++)
		if (s.plan.v[i].selected)
			report_volume(res, &s.plan.v[i], &rt);
	vv_rv_table_free(&rt);
	vv_handler_result_summarize(res, "reopen");
	r = 0;
out:
	free(names);
	vv_open_teardown(&s);
	aad_memfd_close(&m);
	return r;
}

/* ---- provision ------------------------------------------------------------ */

/*
 * Did the key source's refusal fail the operation? provision and rotate
 * record this machine's own failures as VV_CAUSE_SYSTEM.
 */
static bool key_source(const struct vv_error *e)
{
	return e->cause != VV_CAUSE_NONE && e->cause != VV_CAUSE_SYSTEM;
}

/*
 * One provision entry. A device that already carries this volume's vaultvol
 * token counts as provisioned (the same request sent again, possibly with
 * the volume open by now); any other content is refused by vv_provision
 * unwritten.
 */
static void provision_one(const struct vv_handler_ctx *ctx, const struct vv_handler_request *req,
			  struct vv_vault *vault, const struct vv_handler_volume *hv,
			  bool require_purge_protection, struct vv_handler_result *res)
{
	struct vv_provision_req pr = {
		.device = hv->device,
		.secret = hv->key ? hv->key : hv->name,
		.kek = req->kek_url,
		.alg = req->kek_alg,
		.name = hv->name,
		.mount = hv->mount,
		.fs = hv->fs,
		.options = hv->options,
		/* Never printed: the status file must hold no secret. */
		.recovery = VV_RECOVERY_SECRET,
		.require_purge_protection = require_purge_protection,
		.state_dir = ctx->opt->state_dir,
	};
	struct vv_provision_result pres;
	struct vv_error err = { 0 };
	struct vv_token tok = { 0 };
	int r;

	memset(&pres, 0, sizeof(pres));
	r = vv_provision(vault, &pr, &pres, &err);
	if ((r == -EEXIST || r == -EBUSY) && vv_token_read(hv->device, &tok) == 0 && tok.name &&
	    strcmp(tok.name, hv->name) == 0) {
		vv_handler_result_add(res, hv->name, VV_HS_SUCCESS, 0,
				      "%s: %s is already provisioned (key %s)", hv->name,
				      hv->device, tok.key ? tok.key : "?");
	} else if (r < 0) {
		vv_handler_result_add(res, hv->name, VV_HS_ERROR, VV_EXIT_FAILURE,
				      "%s: provisioning %s failed: %s%s%s", hv->name, hv->device,
				      err.message[0] ? err.message : strerror(-r),
				      key_source(&err) ? "; key source: " : "",
				      key_source(&err) ? vv_cause_str(err.cause) : "");
	} else if (pv_trust_vaults(ctx->opt, NULL, &pres.token) < 0) {
		vv_handler_result_add(res, hv->name, VV_HS_ERROR, VV_EXIT_FAILURE,
				      "%s: provisioned %s, but its vault could not be added to the "
				      "allow-list drop-in (see the log)", hv->name, hv->device);
	} else {
		vv_handler_result_add(res, hv->name, VV_HS_SUCCESS, 0,
				      "%s: provisioned %s (key %s%s%s%s%s)%s%s", hv->name,
				      hv->device, pres.token.key ? pres.token.key : "?",
				      pres.token.kek ? ", wrapped by " : "",
				      pres.token.kek ? pres.token.kek : "",
				      pres.recovery_ref ? ", recovery passphrase stored as " : "",
				      pres.recovery_ref ? pres.recovery_ref : "",
				      pres.mapper_path[0] ? ", open as " : "", pres.mapper_path);
	}
	vv_token_clear(&tok);
	vv_provision_result_clear(&pres);
}

static int op_provision(const struct vv_handler_ctx *ctx, const struct vv_handler_request *req,
			struct vv_handler_result *res)
{
	struct aad_memfd m = { .fd = -1 };
	struct vv_config *cfg = NULL;
	struct vv_vault *vault = NULL;
	struct vv_error err = { 0 };
	int r;

	r = vv_config_load(ctx->opt->config_path, &cfg, &err);
	if (r < 0) {
		vv_handler_result_fail(res, VV_EXIT_USAGE, "provision", &err);
		goto out;
	}
	r = make_vault(ctx, req, cfg, &vault, &m, &err);
	if (r < 0) {
		vv_handler_result_fail(res, VV_EXIT_FAILURE, "provision", &err);
		goto out;
	}
	for (size_t i = 0; i < req->nvolumes; i++)
		provision_one(ctx, req, vault, &req->volumes[i],
			      cfg->vault.require_purge_protection, res);
	vv_handler_result_summarize(res, "provision");
out:
	vv_vault_free(vault);
	vv_config_free(cfg);
	aad_memfd_close(&m);
	return r < 0 ? r : 0;
}

/* ---- rotate ----------------------------------------------------------------- */

static int op_rotate(const struct vv_handler_ctx *ctx, const struct vv_handler_request *req,
		     struct vv_handler_result *res)
{
	struct aad_memfd m = { .fd = -1 };
	struct vv_open_setup s;
	int r;

	r = setup_volumes(ctx, req, &s, &m, res, "rotate");
	if (r < 0)
		goto out;
	for (size_t i = 0; i < req->nvolumes; i++) {
		const char *name = req->volumes[i].name;
		struct vv_vol *v = vv_open_plan_find(&s.plan, name);
		struct vv_rotate_req rr = {
			.bek = !req->rotate_kek,
			.kek = req->kek_url,
			.alg = req->kek_alg,
			.require_purge_protection = s.cfg->vault.require_purge_protection,
			.state_dir = ctx->opt->state_dir,
		};
		struct vv_rotate_result rres;
		struct vv_error verr = { 0 };

		if (!v || !v->device) {
			vv_handler_result_add(res, name, VV_HS_ERROR, VV_EXIT_FAILURE,
					      "%s: %s", name, v ? "its disk was not found" :
					      "no such volume (not in the config file, ADE state "
					      "or any disk's vaultvol token)");
			continue;
		}
		rr.device = v->device;
		memset(&rres, 0, sizeof(rres));
		r = vv_rotate(s.vault, &rr, &rres, &verr);
		if (r < 0)
			vv_handler_result_add(res, name, VV_HS_ERROR, VV_EXIT_FAILURE,
					      "%s: rotating %s failed: %s%s%s", name, v->device,
					      verr.message[0] ? verr.message : strerror(-r),
					      key_source(&verr) ? "; key source: " : "",
					      key_source(&verr) ? vv_cause_str(verr.cause) : "");
		else if (pv_trust_vaults(ctx->opt, s.cfg, &rres.after) < 0)
			vv_handler_result_add(res, name, VV_HS_ERROR, VV_EXIT_FAILURE,
					      "%s: rotated %s, but its vault could not be added to the "
					      "allow-list drop-in (see the log)", name, v->device);
		else
			vv_handler_result_add(res, name, VV_HS_SUCCESS, 0,
					      "%s: %s %s; key now %s%s%s (was %s)", name,
					      rres.resumed ? "completed the interrupted rotation of" :
					      "rotated", v->device,
					      rres.after.key ? rres.after.key : "?",
					      rres.after.kek ? ", wrapped by " : "",
					      rres.after.kek ? rres.after.kek : "",
					      rres.before.key ? rres.before.key : "?");
		vv_rotate_result_clear(&rres);
	}
	vv_handler_result_summarize(res, "rotate");
	r = 0;
out:
	vv_open_teardown(&s);
	aad_memfd_close(&m);
	return r;
}

/* ---- snapshot ------------------------------------------------------------ */

static int op_snapshot(const struct vv_handler_ctx *ctx,
		       const struct vv_handler_request *req,
		       struct vv_handler_result *res)
{
	struct vv_snapshot_report rep = { 0 };
	struct vv_snapshot_opts so = { 0 };
	struct vv_config *cfg = NULL;
	struct vv_error err = { 0 };
	char line[VV_HANDLER_MSG_MAX + 1];
	int r, exit_status;

	r = vv_config_load(ctx->opt->config_path, &cfg, &err);
	if (r < 0) {
		vv_handler_result_fail(res, VV_EXIT_USAGE, "snapshot", &err);
		return r;
	}
	so.timeout_s = req->timeout_s;
	so.requested = req->fs_consistent ? VV_CONS_FS : VV_CONS_APP;
	so.service_url = req->service_url;
	so.exclude = (const char *const *)cfg->snapshot.exclude;
	so.n_exclude = cfg->snapshot.nexclude;
	/* The same defaults as `vaultvol snapshot`. */
	vv_snapshot_opts_from_config(&so, ctx->opt, cfg);
	r = vv_snapshot_run(&so, &rep);
	vv_snapshot_report_line(&rep, line, sizeof(line));
	for (size_t i = 0; i < rep.n_fs; i++) {
		const struct vv_snap_fs *f = &rep.fs[i];
		bool ok = f->err == 0 && f->thaw_err == 0;

		vv_handler_result_add(res, f->mount, ok ? VV_HS_SUCCESS : VV_HS_ERROR,
				      ok ? 0 : VV_EXIT_FAILURE,
				      "%s (%s) via %s: %s%s%s, frozen for %lld ms", f->mount,
				      f->fstype ? f->fstype : "?", f->method ? f->method : "?",
				      f->err ? "freeze failed: " : "frozen and thawed",
				      f->err ? strerror(-f->err) : "",
				      f->q_expired ? " (the kernel deadline thawed it)" : "",
				      f->freeze_ms);
	}
	exit_status = r < 0 ? VV_EXIT_FAILURE : vv_snapshot_exit_status(&rep);
	if (exit_status == VV_EXIT_OK)
		vv_handler_result_set(res, VV_HS_SUCCESS, 0, "snapshot: %s", line);
	else if (exit_status == VV_EXIT_PARTIAL)
		vv_handler_result_set(res, VV_HS_WARNING, VV_EXIT_PARTIAL, "snapshot: %s", line);
	else
		vv_handler_result_set(res, VV_HS_ERROR, VV_EXIT_FAILURE, "snapshot: %s", line);
	vv_snapshot_report_free(&rep);
	vv_config_free(cfg);
	return r < 0 ? r : 0;
}

const struct vv_handler_ops vv_handler_default_ops = {
	.reopen = op_reopen,
	.provision = op_provision,
	.rotate = op_rotate,
	.snapshot = op_snapshot,
};
