// SPDX-License-Identifier: GPL-2.0-or-later
/* `vaultvol encrypt`: encrypt a device holding ext4 in place, offline. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/cmd_encrypt_progress.h"
#include "agent/cmd_provision_output.h"
#include "agent/command.h"
#include "agent/config/config_vault.h"
#include "agent/provision/provision.h"
#include "base/log.h"

static const char usage[] =
	"Usage: vaultvol [--json] encrypt DEVICE --secret NAME [--kek KEK-REF]\n"
	"                [--alg ALG] [--mount PATH] [--name MAPPER] [--options OPTS]\n"
	"                [--recovery print|secret] [--recovery-iter-time MS]\n"
	"                [--recovery-memory KB] [--recovery-iterations N]\n"
	"                [--recovery-parallel N] [--keystore DIR]\n"
	"                [--require-purge-protection]\n"
	"\n"
	"Encrypt the ext4 filesystem on DEVICE in place, keeping its data: a LUKS2\n"
	"volume with a vaultvol token, keyed as `vaultvol provision` keys one (a new\n"
	"random 32-byte key stored as a new version of secret NAME, wrapped by the\n"
	"KEK when given, and a recovery keyslot). Offline only: DEVICE must not be\n"
	"mounted or open. The filesystem is checked (e2fsck -f -p) and shrunk\n"
	"(resize2fs) to end 32 MiB before the end of DEVICE, making room for the\n"
	"16 MiB header and libcryptsetup's 16 MiB data shift; then LUKS2\n"
	"reencryption encrypts it (as `cryptsetup reencrypt --encrypt\n"
	"--reduce-device-size 32M`). Afterwards `vaultvol open` opens it.\n"
	"\n"
	"Nothing is written before the key is stored and read back from the vault.\n"
	"Refused, with nothing written: a mounted or open device, xfs (it cannot\n"
	"shrink), a filesystem too full to give up 32 MiB, LUKS or BitLocker, and\n"
	"anything else that is not ext4. A LUKS2 volume whose vaultvol token names\n"
	"the same --secret was encrypted before: nothing to do, exit status 0.\n"
	"\n"
	"Resumable: when stopped (Ctrl-C, SIGTERM) or killed, or after a power cut,\n"
	"run the same command again: a DEVICE whose LUKS2 header is in encryption\n"
	"with a vaultvol token is resumed with the key the token names.\n"
	"\n"
	"Progress goes to stderr: one updating line on a terminal (percent, MiB/s,\n"
	"time left), otherwise a line every 5 s or 10 %.\n"
	"\n"
	"  --secret NAME     keystore:NAME, NAME (the configured vault, else the\n"
	"                    keystore) or https://VAULT/secrets/NAME; no version\n"
	"  --kek REF         https://VAULT/keys/NAME[/VERSION] or keystore-kek:NAME;\n"
	"                    --alg RSA-OAEP (default), RSA-OAEP-256 or RSA1_5\n"
	"  --mount PATH      mount point, recorded in the token\n"
	"  --name MAPPER     /dev/mapper name (default: the secret's name)\n"
	"  --options OPTS    mount options recorded in the token (default defaults)\n"
	"  --recovery print  a recovery passphrase keyslot (argon2id), printed once\n"
	"                    on stdout (default); secret: stored as NAME-recovery\n"
	"  --recovery-iter-time MS, --recovery-memory KB, --recovery-iterations N,\n"
	"  --recovery-parallel N\n"
	"                    argon2id cost of the recovery keyslot, as for provision\n"
	"  --keystore DIR    local keystore directory\n"
	"\n"
	PV_GUARDS_HELP("the device is written")
	"\n"
	"Header backups go to STATE-DIR/header-backups (root only). Exit status 1\n"
	"when stopped before the end (run it again to resume).\n";

enum { OPT_SECRET = 1, OPT_KEK, OPT_ALG, OPT_MOUNT, OPT_NAME, OPT_OPTIONS, OPT_RECOVERY,
       OPT_ITER, OPT_MEM, OPT_ITERS, OPT_PAR, OPT_KEYSTORE, OPT_REQUIRE_PP };

static int parse(int argc, char **argv, struct vv_provision_req *req, const char **keystore)
{
	static const struct option longopts[] = {
		{ "secret", required_argument, NULL, OPT_SECRET },
		{ "kek", required_argument, NULL, OPT_KEK },
		{ "alg", required_argument, NULL, OPT_ALG },
		{ "mount", required_argument, NULL, OPT_MOUNT },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "options", required_argument, NULL, OPT_OPTIONS },
		{ "recovery", required_argument, NULL, OPT_RECOVERY },
		{ "recovery-iter-time", required_argument, NULL, OPT_ITER },
		{ "recovery-memory", required_argument, NULL, OPT_MEM },
		{ "recovery-iterations", required_argument, NULL, OPT_ITERS },
		{ "recovery-parallel", required_argument, NULL, OPT_PAR },
		{ "keystore", required_argument, NULL, OPT_KEYSTORE },
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
		case OPT_NAME: req->name = optarg; break;
		case OPT_OPTIONS: req->options = optarg; break;
		case OPT_KEYSTORE: *keystore = optarg; break;
		case OPT_REQUIRE_PP: req->require_purge_protection = true; break;
		case OPT_RECOVERY:
		case OPT_ITER:
		case OPT_MEM:
		case OPT_ITERS:
		case OPT_PAR:
			if (pv_recovery_opt(c - OPT_RECOVERY, optarg, req, "encrypt"))
				return VV_EXIT_USAGE;
			break;
		default:
			return VV_EXIT_USAGE;
		}
	}
	if (pv_one_device(argc, argv, true, "encrypt", "one DEVICE", &req->device))
		return VV_EXIT_USAGE;
	if (!req->secret) {
		fprintf(stderr, "vaultvol encrypt: --secret is required\n");
		return VV_EXIT_USAGE;
	}
	return 0;
}

/* Set by SIGINT/SIGTERM: the next progress report stops the run cleanly. */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct report {
	struct vv_progress pg;
	const char *device;
	bool printed;	/* a terminal line is open (needs its newline) */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int on_progress(uint64_t size, uint64_t done, void *ctx)
{
	struct report *rp = ctx;
	double now = now_s();
	char line[96];

	if (vv_progress_due(&rp->pg, done, size, now)) {
		vv_progress_format(&rp->pg, done, size, now, line, sizeof(line));
		if (rp->pg.tty) {
			fprintf(stderr, "\rencrypting %s: %s   ", rp->device, line);
			rp->printed = true;
		} else {
			fprintf(stderr, "encrypting %s: %s\n", rp->device, line);
		}
		fflush(stderr);
	}
	return stop_requested ? 1 : 0;
}

static int run_encrypt(const struct vv_options *opt, int argc, char **argv)
{
	struct vv_provision_req req = { .recovery = VV_RECOVERY_PRINT };
	struct sigaction sa = { .sa_handler = on_signal }, old_int, old_term;
	struct vv_encrypt_result res;
	struct vv_provision_result *pr = &res.p;
	struct vv_vault_session s;
	struct vv_error err = { 0 };
	struct report rp = { .device = NULL };
	const char *keystore = NULL;
	int r, status;

	r = parse(argc, argv, &req, &keystore);
	if (r)
		return r;
	req.state_dir = opt->state_dir;
	rp.device = req.device;
	vv_progress_init(&rp.pg, isatty(STDERR_FILENO));
	r = pv_session_open(opt, keystore, "encrypt", &s);
	if (r)
		return r;
	if (s.cfg && s.cfg->vault.require_purge_protection)
		req.require_purge_protection = true;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	r = vv_encrypt(s.vault, &req, on_progress, &rp, &res, &err);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (rp.printed)
		fputc('\n', stderr);
	/* Shown even after a later failure: its keyslot exists. */
	if (pr->recovery)
		pv_show_recovery(pr, opt->json);
	if (r >= 0 && opt->json) {
		struct json_object *o = pv_json_for(req.device);

		json_object_object_add(o, "token", pv_token_json(&pr->token));
		json_object_object_add(o, "resumed", json_object_new_boolean(res.resumed));
		json_object_object_add(o, "already", json_object_new_boolean(res.already));
		if (!res.resumed && !res.already) {
			json_object_object_add(o, "sector_size",
					       json_object_new_int64(pr->sector_size));
			json_object_object_add(o, "recovery_keyslot",
					       json_object_new_int(pr->recovery_keyslot));
			json_object_object_add(o, "fs_bytes_before",
					       json_object_new_int64((int64_t)res.fs_bytes_before));
			json_object_object_add(o, "fs_bytes_after",
					       json_object_new_int64((int64_t)res.fs_bytes_after));
			json_object_object_add(o, "header_backup",
					       json_object_new_string(pr->backup));
		}
		if (pr->recovery_ref)
			json_object_object_add(o, "recovery_secret",
					       json_object_new_string(pr->recovery_ref));
		pv_print_json(o);
	} else if (r >= 0) {
		pv_print_token(res.already ? "already encrypted " :
			       res.resumed ? "encrypted (resumed) " : "encrypted ", &pr->token);
		if (pr->recovery_ref)
			printf("recovery passphrase stored as %s (keyslot %d)\n", pr->recovery_ref,
			       pr->recovery_keyslot);
		if (!res.resumed && !res.already && res.fs_bytes_after != res.fs_bytes_before)
			printf("ext4 shrunk from %llu to %llu MiB for the LUKS2 header\n",
			       (unsigned long long)(res.fs_bytes_before >> 20),
			       (unsigned long long)(res.fs_bytes_after >> 20));
		printf("%s is encrypted; vaultvol open opens it\n", req.device);
	}
	status = pv_trust_and_close(opt, &s, "encrypt", req.device, &err, &pr->token, r);
	vv_provision_result_clear(pr);
	return status;
}

VV_COMMAND(encrypt,
	.name = "encrypt",
	.summary = "encrypt a disk holding ext4 in place, keeping its data",
	.usage = usage,
	.order = 41,
	.run = run_encrypt);
