// SPDX-License-Identifier: GPL-2.0-or-later
/* `vaultvol status [--json]`: the encrypted volumes and their state. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "agent/command.h"
#include "agent/volume/crypt.h"
#include "agent/error_view.h"
#include "agent/open/open.h"
#include "agent/revoke/revoke.h"

/* The secret's name and version from a versioned id (URL or keystore:N/V). */
static const char *short_version(const char *id, char *buf, size_t len)
{
	const char *s;

	if (!id || !*id)
		return "-";
	s = strstr(id, "/secrets/");
	if (s)
		id = s + 9;
	else if (!strncmp(id, "keystore:", 9))
		id += 9;
	snprintf(buf, len, "%s", id);
	return buf;
}

/* Days until exp as "45d" ("-3d": expired), "-" when none or unknown. */
static const char *days_str(int64_t exp, int64_t now, char *buf, size_t len)
{
	if (!exp)
		return "-";
	snprintf(buf, len, "%ldd", vv_expiry_days(exp, now));
	return buf;
}

/*
 * What `vaultvol watch` recorded for v (revocation.json), while its mapping
 * is still there; NULL otherwise.
 */
static const struct vv_rv_vol *revocation_of(struct vv_rv_table *rt, const struct vv_vol *v)
{
	if (v->state != VV_VS_OPEN && v->state != VV_VS_MOUNTED)
		return NULL;
	return vv_rv_table_get(rt, v->conf.name);
}

/* The records of this boot; an unreadable file is reported, never fatal for status. */
static void load_revocation(const char *state_dir, struct vv_rv_table *rt)
{
	struct vv_error err = { 0 };

	if (vv_rv_state_load_current(state_dir, rt, &err) < 0)
		fprintf(stderr, "vaultvol status: warning: %s\n", err.message);
}

static void print_table(const struct vv_open_plan *plan, struct vv_rv_table *rt)
{
	int64_t now = (int64_t)time(NULL);

	printf("%-16s %-12s %-9s %-10s %-44s %-8s %-20s %-10s %-10s %s\n", "VOLUME", "DEVICE",
	       "TYPE", "KEY-SOURCE", "KEY-VERSION", "STATE", "MOUNT", "SECRET-EXP", "KEK-EXP",
	       "LAST-ERROR");
	for (size_t i = 0; i < plan->n; i++) {
		const struct vv_vol *v = &plan->v[i];
		const char *err = v->fail ? vv_fail_str(v->fail) :
				  v->last_error[0] ? v->last_error : "-";
		const struct vv_rv_vol *rv = revocation_of(rt, v);
		char ver[128], sd[24], kd[24];

		printf("%-16s %-12s %-9s %-10s %-44s %-8s %-20s %-10s %-10s %s\n", v->conf.name,
		       v->device ? v->device : "-", vv_vol_type_str(v->type),
		       v->key_source ? v->key_source :
		       v->conf.key ? vv_origin_str(v->key_origin) : "-",
		       short_version(v->key_version, ver, sizeof(ver)),
		       rv && rv->state == VV_RV_INACCESSIBLE ? "inaccessible" : vv_vstate_str(v->state),
		       v->mounted_on ? v->mounted_on : v->conf.mount ? v->conf.mount : "-",
		       days_str(v->secret_exp, now, sd, sizeof(sd)),
		       days_str(v->kek_exp, now, kd, sizeof(kd)), err);
	}
	for (size_t i = 0; i < plan->n; i++) {
		const struct vv_vol *v = &plan->v[i];

		if (v->undescribed) {
			const char *kind = v->type == VV_VOL_BITLK ? "bitlocker" : "uuid";
			char lun[32] = "";

			if (v->lun >= 0)
				snprintf(lun, sizeof(lun), ", lun %d", v->lun);
			printf("%s: undescribed: %s volume on %s (uuid %s%s): no token, config or ADE "
			       "entry describes it; to open it, add a [volume NAME] section with "
			       "'match = %s:%s' and 'key = REF' to vaultvol.conf, or run `vaultvol "
			       "adopt %s --secret REF`\n", v->conf.name, vv_vol_type_str(v->type),
			       v->device ? v->device : "?", v->uuid, lun, kind, v->uuid,
			       v->device ? v->device : "DEVICE");
			continue;
		}
		if (v->reencrypt_pct >= 0)
			printf("%s: encryption in progress, %d%%\n", v->conf.name, v->reencrypt_pct);
		{
			const struct vv_rv_vol *rv = revocation_of(rt, v);

			if (rv && rv->state == VV_RV_INACCESSIBLE)
				printf("%s: inaccessible: %s (suspended by `vaultvol watch`; resumed "
				       "when access returns)\n", v->conf.name, rv->cause);
			else if (rv)
				printf("%s: warning: key revoked: %s (suspended after the grace "
				       "period unless access returns)\n", v->conf.name, rv->cause);
		}
		if (v->error.message[0])
			printf("%s: %s%s%s\n", v->conf.name, v->error.message,
			       v->error.remedy[0] ? "; remedy: " : "", v->error.remedy);
		if (v->warning[0])
			printf("%s: warning: %s\n", v->conf.name, v->warning);
		for (int kek = 0; kek < 2; kek++) {
			char msg[1024];

			if (vv_open_expiry_warning(v, kek, now, msg, sizeof(msg)))
				printf("%s: warning: %s\n", v->conf.name, msg);
		}
	}
}

static int run_status(const struct vv_options *opt, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'J' },
		{ 0 }
	};
	struct vv_open_setup s;
	struct vv_rv_table rt;
	bool json = opt->json;
	struct vv_error err = { 0 };
	int c, r;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c != 'J')
			return VV_EXIT_USAGE;
		json = true;
	}
	if (optind < argc) {
		fprintf(stderr, "vaultvol status: no arguments expected\n");
		return VV_EXIT_USAGE;
	}
	/* It only reads headers: an unusable /run must not hide them. */
	vv_crypt_locks_check();
	r = vv_open_setup(opt, false, &s, &err);
	if (r < 0) {
		vv_error_print(json, 0, "status", &err);
		vv_open_teardown(&s);
		return r == -EINVAL ? VV_EXIT_USAGE : VV_EXIT_FAILURE;
	}
	vv_open_refresh(&s.plan);
	vv_open_state_merge(opt->state_dir, &s.plan);
	load_revocation(opt->state_dir, &rt);
	if (json) {
		struct json_object *o = json_object_new_object(), *a = json_object_new_array();

		for (size_t i = 0; i < s.plan.n; i++) {
			struct json_object *vo = vv_open_vol_json(&s.plan.v[i]);
			const struct vv_rv_vol *rv = revocation_of(&rt, &s.plan.v[i]);

			if (vo && rv) {
				struct json_object *ro = json_object_new_object();

				json_object_object_add(ro, "state",
						       json_object_new_string(vv_rv_state_str(rv->state)));
				json_object_object_add(ro, "cause", json_object_new_string(rv->cause));
				json_object_object_add(vo, "revocation", ro);
			}
			json_object_array_add(a, vo);
		}
		json_object_object_add(o, "volumes", a);
		printf("%s\n", json_object_to_json_string_ext(o, VV_OPEN_JSON_FLAGS));
		json_object_put(o);
	} else if (s.plan.n == 0)
		printf("no encrypted volumes described (config, ADE state or vaultvol tokens)\n");
	else
		print_table(&s.plan, &rt);
	vv_rv_table_free(&rt);
	vv_open_teardown(&s);
	return VV_EXIT_OK;
}

VV_COMMAND(status,
	.name = "status",
	.summary = "show encrypted volumes, their keys and state",
	.usage =
	"Usage: vaultvol [OPTIONS] status [--json]\n"
	"\n"
	"Lists every volume described by a vaultvol token, the config file or ADE state:\n"
	"its disk, type, where its key comes from and which version opened it, whether it\n"
	"is closed, open or mounted and where, days until its secret and KEK expire\n"
	"(SECRET-EXP, KEK-EXP: as the last open read them, \"-\" none or unknown; a\n"
	"warning line under 30 days), and the last error with its remedy; an\n"
	"encryption in progress with its percentage; and encrypted disks nobody\n"
	"describes (state \"undescribed\") with what to put in a [volume] section; and\n"
	"a volume `vaultvol watch` suspended for a revoked key as \"inaccessible: CAUSE\"\n"
	"(a revocation still in its grace period as a warning). It\n"
	"reads the disks' headers and the running system; it changes nothing and\n"
	"contacts no vault.\n",
	.order = 12,
	.run = run_status);
