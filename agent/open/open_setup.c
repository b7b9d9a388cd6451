// SPDX-License-Identifier: GPL-2.0-or-later
/* The common start of open, close and status: config, ADE, disks, plan. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config/config_ade.h"
#include "agent/open/open.h"
#include "agent/options.h"
#include "agent/config/config_vault.h"
#include "base/log.h"

/*
 * <root>/etc/crypttab (root: VAULTVOL_ROOT, tests). One that cannot be read
 * is said and treated as empty: the volumes it would list are then opened
 * by vaultvol, as before crypttab was read at all.
 */
static int crypttab_load(const char *root, struct vv_crypttab *tab)
{
	struct vv_error err = { 0 };
	char path[4096];
	int r;

	snprintf(path, sizeof(path), "%s%s", root ? root : "", VV_CRYPTTAB_PATH);
	r = vv_crypttab_load(path, tab, &err);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		vv_warn("%s; volumes it lists are not left to systemd-cryptsetup", err.message);
	return 0;
}

int vv_open_setup(const struct vv_options *opt, bool need_vault, struct vv_open_setup *s,
		  struct vv_error *err)
{
	struct vv_discover_opts dopts = { .lun_dir = getenv("VAULTVOL_LUN_DIR") };
	const char *root = getenv("VAULTVOL_ROOT");
	struct vv_open_env env;
	struct vv_error ade_err = { 0 };
	int r;

	memset(s, 0, sizeof(*s));
	if (need_vault) {
		struct vv_vault_session vs;

		r = vv_vault_session_open(opt, NULL, &vs, err);
		s->cfg = vs.cfg;
		s->vault = vs.vault;
	} else
		r = vv_config_load(opt->config_path, &s->cfg, err);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	r = vv_ade_load(root, &s->ade, &s->nade, &ade_err);
	if (r < 0)
		return vv_fail(err, r, VV_CAUSE_SYSTEM, "reading ADE state: %s", strerror(-r));
	r = vv_discover_scan(&dopts, &s->disks);
	if (r < 0)
		return vv_fail(err, r, VV_CAUSE_SYSTEM, "listing block devices: %s", strerror(-r));
	r = vv_open_state_read(opt->state_dir, &s->prev, &s->nprev, err);
	if (r < 0)
		return r;
	r = crypttab_load(root, &s->crypttab);
	if (r < 0)
		return vv_fail(err, r, VV_CAUSE_SYSTEM, "reading crypttab: %s", strerror(-r));
	env = (struct vv_open_env){
		.cfg = s->cfg, .ade = s->ade, .nade = s->nade, .disks = &s->disks,
		.prev = s->prev, .nprev = s->nprev, .crypttab = &s->crypttab,
	};
	r = vv_open_plan_build(&env, &s->plan);
	if (r < 0)
		vv_fail(err, r, VV_CAUSE_SYSTEM, "planning: %s", strerror(-r));
	return r;
}

void vv_open_teardown(struct vv_open_setup *s)
{
	vv_open_plan_free(&s->plan);
	vv_prev_free(s->prev, s->nprev);
	vv_crypttab_free(&s->crypttab);
	vv_disks_free(&s->disks);
	for (size_t i = 0; i < s->nade; i++)
		vv_volume_conf_clear(&s->ade[i]);
	free(s->ade);
	vv_vault_free(s->vault);
	vv_config_free(s->cfg);
	memset(s, 0, sizeof(*s));
}
