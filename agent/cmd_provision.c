// SPDX-License-Identifier: GPL-2.0-or-later
/* `vaultvol provision`: encrypt a new data disk keyed from the vault. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/command.h"
#include "agent/error_view.h"
#include "agent/provision/provision.h"
#include "agent/cmd_provision_output.h"
#include "agent/config/config_vault.h"
#include "base/log.h"

static const char usage[] =
	"Usage: vaultvol [--json] provision DEVICE --secret NAME --mount PATH\n"
	"                [--kek KEK-REF] [--alg ALG] [--fs ext4|xfs] [--label L]\n"
	"                [--name MAPPER] [--options OPTS] [--recovery print|secret]\n"
	"                [--recovery-iter-time MS] [--recovery-memory KB]\n"
	"                [--recovery-iterations N] [--recovery-parallel N]\n"
	"                [--keystore DIR] [--force]\n"
	"                [--format-only] [--require-purge-protection]\n"
	"\n"
	"Encrypt DEVICE with LUKS2 (aes-xts-plain64, 512-bit key, 4096-byte\n"
	"sectors where the device allows) under a new random 32-byte key (BEK),\n"
	"store the BEK as a new version of secret NAME (wrapped by the KEK when\n"
	"given, ADE tags), write a `vaultvol` token naming that version, make the\n"
	"filesystem and mount it. The volume then reopens by itself: `vaultvol open`.\n"
	"\n"
	"DEVICE must hold nothing libblkid recognises (filesystem, partition table,\n"
	"LUKS, BitLocker, RAID, swap); --force erases it instead. Nothing is\n"
	"written before the key is stored and read back from the vault.\n"
	"\n"
	"  --secret NAME     keystore:NAME, NAME (the configured vault, else the\n"
	"                    keystore) or https://VAULT/secrets/NAME; no version\n"
	"  --kek REF         https://VAULT/keys/NAME[/VERSION] or keystore-kek:NAME\n"
	"                    (a token never names a local file); --alg RSA-OAEP\n"
	"                    (default), RSA-OAEP-256 or RSA1_5\n"
	"  --mount PATH      mount point, recorded in the token\n"
	"  --fs ext4|xfs     filesystem (default ext4); --label its label\n"
	"  --name MAPPER     /dev/mapper name (default: the secret's name)\n"
	"  --options OPTS    mount options recorded in the token (default defaults)\n"
	"  --recovery print  a recovery passphrase keyslot (argon2id); the\n"
	"                    passphrase is printed once on stdout (default)\n"
	"  --recovery secret store it as secret NAME-recovery instead (wrapped by\n"
	"                    the same KEK)\n"
	"  --recovery-iter-time MS, --recovery-memory KB, --recovery-iterations N,\n"
	"  --recovery-parallel N\n"
	"                    argon2id cost for the recovery keyslot, as cryptsetup's\n"
	"                    --iter-time, --pbkdf-memory, --pbkdf-force-iterations,\n"
	"                    --pbkdf-parallel\n"
	"  --keystore DIR    local keystore directory\n"
	"  --force           overwrite whatever DEVICE holds\n"
	"  --format-only     header, keyslots and token only: no mkfs, no mount\n"
	"                    (prepares a disk image without device-mapper)\n"
	"  --require-purge-protection\n"
	"                    refuse a vault without purge protection (below)\n"
	"\n"
	PV_GUARDS_HELP("the device is written")
	"\n"
	"Header backups go to STATE-DIR/header-backups (root only).\n";

enum { OPT_SECRET = 1, OPT_KEK, OPT_ALG, OPT_MOUNT, OPT_FS, OPT_LABEL, OPT_NAME,
       OPT_OPTIONS, OPT_RECOVERY, OPT_ITER, OPT_MEM, OPT_ITERS, OPT_PAR, OPT_KEYSTORE,
       OPT_FORCE, OPT_FORMAT_ONLY, OPT_REQUIRE_PP };

static int parse(int argc, char **argv, struct vv_provision_req *req, const char **keystore)
{
	static const struct option longopts[] = {
		{ "secret", required_argument, NULL, OPT_SECRET },
		{ "kek", required_argument, NULL, OPT_KEK },
		{ "alg", required_argument, NULL, OPT_ALG },
		{ "mount", required_argument, NULL, OPT_MOUNT },
		{ "fs", required_argument, NULL, OPT_FS },
		{ "label", required_argument, NULL, OPT_LABEL },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "options", required_argument, NULL, OPT_OPTIONS },
		{ "recovery", required_argument, NULL, OPT_RECOVERY },
		{ "recovery-iter-time", required_argument, NULL, OPT_ITER },
		{ "recovery-memory", required_argument, NULL, OPT_MEM },
		{ "recovery-iterations", required_argument, NULL, OPT_ITERS },
		{ "recovery-parallel", required_argument, NULL, OPT_PAR },
		{ "keystore", required_argument, NULL, OPT_KEYSTORE },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "format-only", no_argument, NULL, OPT_FORMAT_ONLY },
		{ "require-purge-protection", no_argument, NULL, OPT_REQUIRE_PP },
		{ 0 }
	};
	int c;

	optind = 0;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SECRET: req->secret = optarg; break;
		case OPT_KEK: req->kek = optarg; break;
		case OPT_ALG: req->alg = optarg; break;
		case OPT_MOUNT: req->mount = optarg; break;
		case OPT_FS: req->fs = optarg; break;
		case OPT_LABEL: req->label = optarg; break;
		case OPT_NAME: req->name = optarg; break;
		case OPT_OPTIONS: req->options = optarg; break;
		case OPT_KEYSTORE: *keystore = optarg; break;
		case OPT_FORCE: req->force = true; break;
		case OPT_FORMAT_ONLY: req->format_only = true; break;
		case OPT_REQUIRE_PP: req->require_purge_protection = true; break;
		case OPT_RECOVERY:
		case OPT_ITER:
		case OPT_MEM:
		case OPT_ITERS:
		case OPT_PAR:
			if (pv_recovery_opt(c - OPT_RECOVERY, optarg, req, "provision"))
				return VV_EXIT_USAGE;
			break;
		default:
			return VV_EXIT_USAGE;
		}
	}
	if (pv_one_device(argc, argv, true, "provision", "one DEVICE", &req->device))
		return VV_EXIT_USAGE;
	if (!req->secret || (!req->mount && !req->format_only)) {
		fprintf(stderr, "vaultvol provision: --secret and --mount are required\n");
		return VV_EXIT_USAGE;
	}
	return 0;
}

static int run_provision(const struct vv_options *opt, int argc, char **argv)
{
	struct vv_provision_req req = { .recovery = VV_RECOVERY_PRINT };
	struct vv_provision_result res;
	struct vv_vault_session s;
	struct vv_error err = { 0 };
	const char *keystore = NULL;
	int r, status;

	r = parse(argc, argv, &req, &keystore);
	if (r)
		return r;
	req.state_dir = opt->state_dir;
	r = pv_session_open(opt, keystore, "provision", &s);
	if (r)
		return r;
	if (s.cfg && s.cfg->vault.require_purge_protection)
		req.require_purge_protection = true;
	r = vv_provision(s.vault, &req, &res, &err);
	/* Shown even after a later failure: its keyslot exists. */
	if (res.recovery)
		pv_show_recovery(&res, opt->json);
	if (r >= 0 && opt->json) {
		struct json_object *o = pv_json_for(req.device);

		json_object_object_add(o, "token", pv_token_json(&res.token));
		json_object_object_add(o, "sector_size", json_object_new_int64(res.sector_size));
		json_object_object_add(o, "recovery_keyslot",
				       json_object_new_int(res.recovery_keyslot));
		if (res.recovery_ref)
			json_object_object_add(o, "recovery_secret",
					       json_object_new_string(res.recovery_ref));
		if (res.mapper_path[0])
			json_object_object_add(o, "mapper", json_object_new_string(res.mapper_path));
		json_object_object_add(o, "header_backup", json_object_new_string(res.backup));
		pv_print_json(o);
	} else if (r >= 0) {
		pv_print_token("provisioned ", &res.token);
		if (res.recovery_ref)
			printf("recovery passphrase stored as %s (keyslot %d)\n", res.recovery_ref,
			       res.recovery_keyslot);
		if (res.mapper_path[0])
			printf("%s is open%s%s\n", res.mapper_path,
			       req.mount ? " and mounted on " : "", req.mount ? req.mount : "");
	}
	status = pv_trust_and_close(opt, &s, "provision", req.device, &err, &res.token, r);
	vv_provision_result_clear(&res);
	return status;
}

VV_COMMAND(provision,
	.name = "provision",
	.summary = "encrypt a new data disk with a vault-stored key",
	.usage = usage,
	.order = 40,
	.run = run_provision);
