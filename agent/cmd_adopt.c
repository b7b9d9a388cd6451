// SPDX-License-Identifier: GPL-2.0-or-later
/* `vaultvol adopt`: give an existing LUKS2 volume a vaultvol token. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "agent/cmd_adopt_rewrite.h"
#include "agent/command.h"
#include "agent/error_view.h"
#include "agent/provision/provision.h"
#include "agent/cmd_provision_output.h"
#include "agent/config/config_vault.h"
#include "base/log.h"

static const char usage[] =
	"Usage: vaultvol [--json] adopt DEVICE --secret REF [--kek KEK-REF]\n"
	"                [--name MAPPER] [--mount PATH] [--fs FS] [--options OPTS]\n"
	"                [--keystore DIR] [--force] [--require-purge-protection]\n"
	"       vaultvol [--json] adopt DEVICE --rewrite [--yes] [--keystore DIR]\n"
	"\n"
	"Make an existing LUKS2 volume self-describing: fetch the key REF (a vault\n"
	"secret, keystore: or bek:; never file:, which open refuses from a token:\n"
	"`vaultvol key put` stores such a key in the keystore), check that it opens a\n"
	"keyslot, back up the header and write a `vaultvol` token naming the exact\n"
	"version fetched, the KEK and the mount. Keyslots are not changed. A volume\n"
	"that already has a vaultvol token needs --force. LUKS1 and BitLocker\n"
	"cannot hold tokens: describe them in the config file.\n"
	"\n"
	"Before the token is written, the key's vault and a vault KEK are read:\n"
	"a vault without purge protection (recoveryLevel naming \"Purgeable\") gets\n"
	"a warning with the command that turns it on (az keyvault update --name\n"
	"VAULT --enable-purge-protection true); --require-purge-protection (or\n"
	"[vault] require_purge_protection = yes) makes it a refusal. A KEK unfit\n"
	"to wrap new keys (not RSA/RSA-HSM of 2048, 3072 or 4096 bits, expired,\n"
	"not yet valid) is a warning: the volume opens with it, and adopting is\n"
	"the way to `rotate --kek` away from it.\n"
	"\n"
	"--rewrite: the token names a vault that a `[vault] moved = OLD NEW` line maps\n"
	"elsewhere (the keys were restored into NEW, same names and versions): its key\n"
	"and KEK references are rewritten to NEW. The key is fetched at NEW and must\n"
	"open the keyslot the token names (nothing is activated); old -> new is shown\n"
	"and confirmed on the terminal (--yes: without asking; without a terminal and\n"
	"without --yes nothing is written); the header is backed up, then the token is\n"
	"replaced. Nothing else in the header changes. Without --rewrite a token is\n"
	"never touched by a moved line.\n";

enum { OPT_SECRET = 1, OPT_KEK, OPT_NAME, OPT_MOUNT, OPT_FS, OPT_OPTIONS, OPT_KEYSTORE,
       OPT_FORCE, OPT_REQUIRE_PP, OPT_REWRITE, OPT_YES };

static int run_adopt(const struct vv_options *opt, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "secret", required_argument, NULL, OPT_SECRET },
		{ "kek", required_argument, NULL, OPT_KEK },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "mount", required_argument, NULL, OPT_MOUNT },
		{ "fs", required_argument, NULL, OPT_FS },
		{ "options", required_argument, NULL, OPT_OPTIONS },
		{ "keystore", required_argument, NULL, OPT_KEYSTORE },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "require-purge-protection", no_argument, NULL, OPT_REQUIRE_PP },
		{ "rewrite", no_argument, NULL, OPT_REWRITE },
		{ "yes", no_argument, NULL, OPT_YES },
		{ 0 }
	};
	struct vv_adopt_req req = { 0 };
	struct vv_vault_session s;
	struct vv_error err = { 0 };
	struct vv_token t;
	const char *keystore = NULL;
	bool rewrite = false, yes = false;
	int c, r, status;

	optind = 0;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SECRET: req.secret = optarg; break;
		case OPT_KEK: req.kek = optarg; break;
		case OPT_NAME: req.name = optarg; break;
		case OPT_MOUNT: req.mount = optarg; break;
		case OPT_FS: req.fs = optarg; break;
		case OPT_OPTIONS: req.options = optarg; break;
		case OPT_KEYSTORE: keystore = optarg; break;
		case OPT_FORCE: req.force = true; break;
		case OPT_REQUIRE_PP: req.require_purge_protection = true; break;
		case OPT_REWRITE: rewrite = true; break;
		case OPT_YES: yes = true; break;
		default: return VV_EXIT_USAGE;
		}
	}
	if (rewrite || yes) {
		r = pv_one_device(argc, argv, rewrite && !req.secret && !req.kek && !req.name &&
				  !req.mount && !req.fs && !req.options && !req.force &&
				  !req.require_purge_protection, "adopt",
				  "DEVICE --rewrite [--yes], with no other option but --keystore", &req.device);
		return r ? r : vv_cmd_adopt_rewrite(opt, req.device, keystore, yes);
	}
	r = pv_one_device(argc, argv, req.secret != NULL, "adopt", "DEVICE and --secret",
			  &req.device);
	if (r)
		return r;
	req.state_dir = opt->state_dir;
	r = pv_session_open(opt, keystore, "adopt", &s);
	if (r)
		return r;
	if (s.cfg && s.cfg->vault.require_purge_protection)
		req.require_purge_protection = true;
	r = vv_adopt(s.vault, &req, &t, &err);
	if (r >= 0 && opt->json) {
		struct json_object *o = pv_json_for(req.device);

		json_object_object_add(o, "token", pv_token_json(&t));
		pv_print_json(o);
	} else if (r >= 0) {
		pv_print_token("adopted ", &t);
	}
	status = pv_trust_and_close(opt, &s, "adopt", req.device, &err, &t, r);
	vv_token_clear(&t);
	return status;
}

VV_COMMAND(adopt,
	.name = "adopt",
	.summary = "write a vaultvol token into an existing LUKS2 volume",
	.usage = usage,
	.order = 41,
	.run = run_adopt);
