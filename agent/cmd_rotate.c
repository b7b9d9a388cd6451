// SPDX-License-Identifier: GPL-2.0-or-later
/* `vaultvol rotate`: new BEK and/or KEK for a volume with a vaultvol token. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "agent/command.h"
#include "agent/error_view.h"
#include "agent/provision/provision.h"
#include "agent/cmd_provision_output.h"
#include "agent/config/config_vault.h"
#include "base/log.h"

static const char usage[] =
	"Usage: vaultvol [--json] rotate DEVICE [--bek] [--kek NEW-KEK-REF] [--alg ALG]\n"
	"                [--keystore DIR] [--require-purge-protection]\n"
	"\n"
	"--bek (the default without --kek): a new random BEK is stored as a new\n"
	"version of the volume's secret, a keyslot for it is added, the token is\n"
	"switched to it, and the old keyslot is removed.\n"
	"--kek REF: the same BEK is wrapped by REF and stored as a new secret\n"
	"version; the token is switched to it. Keyslots are not touched.\n"
	"Both: a new BEK wrapped by the new KEK.\n"
	"\n"
	"Old secret versions and KEK versions are never deleted: a backup of the\n"
	"disk taken before the rotation still opens with the versions named in its\n"
	"own token. The header is backed up before every change. Each step is\n"
	"told on stdout as it completes (with --json, one line per step:\n"
	"{\"step\": NAME, \"key\": REF, \"keyslot\": N}). Interrupted at any point,\n"
	"the volume opens with the key its token names; running rotate again\n"
	"completes the interrupted rotation instead of starting another.\n"
	"\n"
	PV_GUARDS_HELP("the header is changed");

enum { OPT_BEK = 1, OPT_KEK, OPT_ALG, OPT_KEYSTORE, OPT_REQUIRE_PP };

struct progress {
	bool json;
};

/* What a step has done, as the operator reads it; t is the token on disk now. */
static void say_step(enum vv_rotate_step step, const struct vv_token *t)
{
	switch (step) {
	case VV_ROT_CHECKED:
		printf("Checked the current key: %s opens keyslot %d.\n", t->key, t->keyslot);
		break;
	case VV_ROT_STORED:
		printf("Stored the new key version in the vault; the volume still opens with %s.\n",
		       t->key);
		break;
	case VV_ROT_KEYSLOT_ADDED:
		printf("Added a keyslot for the new key; the old key (keyslot %d) still opens "
		       "the volume.\n", t->keyslot);
		break;
	case VV_ROT_TOKEN_UPDATED:
		printf("The token now names the new key %s (keyslot %d).\n", t->key, t->keyslot);
		break;
	case VV_ROT_OLD_KEYSLOT_REMOVED:
		if (t->retire_key)
			printf("Removed the old key's keyslot %d (%s).\n", t->retire_keyslot,
			       t->retire_key);
		else
			printf("Removed the old key's keyslot.\n");
		break;
	case VV_ROT_DONE:
		printf("Done: the volume opens with %s (keyslot %d); older key versions are "
		       "kept for old backups.\n", t->key, t->keyslot);
		break;
	}
}

/*
 * Printed and flushed as each step is durable, so an operator sees where it
 * is; --json gives the step's name for a program (or a test) to act on.
 */
static void on_step(enum vv_rotate_step step, const struct vv_token *t, void *arg)
{
	const struct progress *p = arg;

	if (p->json)
		printf("{\"step\":\"%s\",\"key\":\"%s\",\"keyslot\":%d}\n",
		       vv_rotate_step_str(step), t->key, t->keyslot);
	else
		say_step(step, t);
	fflush(stdout);
}

static int run_rotate(const struct vv_options *opt, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "bek", no_argument, NULL, OPT_BEK },
		{ "kek", required_argument, NULL, OPT_KEK },
		{ "alg", required_argument, NULL, OPT_ALG },
		{ "keystore", required_argument, NULL, OPT_KEYSTORE },
		{ "require-purge-protection", no_argument, NULL, OPT_REQUIRE_PP },
		{ 0 }
	};
	struct progress p = { .json = opt->json };
	struct vv_rotate_req req = { .progress = on_step, .progress_arg = &p };
	struct vv_rotate_result res;
	struct vv_vault_session s;
	struct vv_error err = { 0 };
	const char *keystore = NULL;
	int c, r, status;

	optind = 0;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_BEK: req.bek = true; break;
		case OPT_KEK: req.kek = optarg; break;
		case OPT_ALG: req.alg = optarg; break;
		case OPT_KEYSTORE: keystore = optarg; break;
		case OPT_REQUIRE_PP: req.require_purge_protection = true; break;
		default: return VV_EXIT_USAGE;
		}
	}
	r = pv_one_device(argc, argv, true, "rotate", "one DEVICE", &req.device);
	if (r)
		return r;
	req.state_dir = opt->state_dir;
	r = pv_session_open(opt, keystore, "rotate", &s);
	if (r)
		return r;
	if (s.cfg && s.cfg->vault.require_purge_protection)
		req.require_purge_protection = true;
	r = vv_rotate(s.vault, &req, &res, &err);
	if (r >= 0 && opt->json) {
		struct json_object *o = pv_json_for(req.device);

		json_object_object_add(o, "resumed", json_object_new_boolean(res.resumed));
		json_object_object_add(o, "before", pv_token_json(&res.before));
		json_object_object_add(o, "after", pv_token_json(&res.after));
		json_object_object_add(o, "header_backups", json_object_new_int(res.backups));
		pv_print_json(o);
	} else if (r >= 0) {
		if (res.resumed)
			printf("completed an interrupted rotation (run rotate again for a new key)\n");
		pv_print_token("was ", &res.before);
		pv_print_token("now ", &res.after);
	}
	status = pv_trust_and_close(opt, &s, "rotate", req.device, &err, &res.after, r);
	vv_rotate_result_clear(&res);
	return status;
}

VV_COMMAND(rotate,
	.name = "rotate",
	.summary = "rotate a volume's BEK and/or KEK without losing old backups",
	.usage = usage,
	.order = 42,
	.run = run_rotate);
