// SPDX-License-Identifier: GPL-2.0-or-later
/* Output shared by `vaultvol provision`, `adopt` and `rotate`. */
#include "agent/cmd_provision_output.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/command.h"
#include "agent/error_view.h"
#include "agent/open/open.h"
#include "base/log.h"

static void add(struct json_object *o, const char *k, const char *v)
{
	if (v)
		json_object_object_add(o, k, json_object_new_string(v));
}

struct json_object *pv_token_json(const struct vv_token *t)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "token_id", json_object_new_int(t->token_id));
	json_object_object_add(o, "keyslot", json_object_new_int(t->keyslot));
	add(o, "key", t->key);
	add(o, "kek", t->kek);
	add(o, "alg", t->alg);
	add(o, "name", t->name);
	add(o, "mount", t->mount);
	add(o, "fs", t->fs);
	add(o, "options", t->options);
	return o;
}

void pv_print_token(const char *prefix, const struct vv_token *t)
{
	printf("%s%s: key %s, keyslot %d", prefix, t->name, t->key, t->keyslot);
	if (t->kek)
		printf(", kek %s (%s)", t->kek, t->alg ? t->alg : "RSA-OAEP");
	if (t->mount)
		printf(", mount %s (%s, %s)", t->mount, t->fs ? t->fs : "auto",
		       t->options ? t->options : "defaults");
	printf("\n");
	fflush(stdout);
}

bool pv_parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

int pv_recovery_opt(int which, const char *arg, struct vv_provision_req *req, const char *cmd)
{
	uint32_t *num[] = {
		[PV_OPT_ITER_MS] = &req->recovery_iter_ms,
		[PV_OPT_MEMORY] = &req->recovery_max_kb,
		[PV_OPT_ITERATIONS] = &req->recovery_iterations,
		[PV_OPT_PARALLEL] = &req->recovery_parallel,
	};

	if (which == PV_OPT_RECOVERY) {
		if (!strcmp(arg, "print")) {
			req->recovery = VV_RECOVERY_PRINT;
		} else if (!strcmp(arg, "secret")) {
			req->recovery = VV_RECOVERY_SECRET;
		} else {
			fprintf(stderr, "vaultvol %s: --recovery print|secret\n", cmd);
			return VV_EXIT_USAGE;
		}
		return 0;
	}
	if (which < PV_OPT_ITER_MS || which > PV_OPT_PARALLEL || !pv_parse_u32(arg, num[which])) {
		fprintf(stderr, "vaultvol %s: '%s' is not a number\n", cmd, arg);
		return VV_EXIT_USAGE;
	}
	return 0;
}

void pv_print_json(struct json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
	json_object_put(o);
}

int pv_trust_vaults(const struct vv_options *opt, const struct vv_config *cfg,
		    const struct vv_token *t)
{
	const char *refs[] = { t->key, t->kek };
	struct vv_error err = { 0 };
	int r = 0;

	for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]) && !r; i++)
		r = vv_config_trust_vault(opt ? opt->config_path : NULL, cfg, refs[i], &err);
	if (r < 0)
		vv_err("%s; the volume is ready, but after a restore vaultvol will not trust "
		       "its vault: add the vault under [vault] allowed = in the config file",
		       err.message);
	return r;
}

int pv_one_device(int argc, char **argv, bool ok, const char *cmd, const char *what,
		  const char **device)
{
	if (optind != argc - 1 || !ok) {
		fprintf(stderr, "vaultvol %s: expected %s (see --help)\n", cmd, what);
		return VV_EXIT_USAGE;
	}
	*device = argv[optind];
	return 0;
}

int pv_session_open(const struct vv_options *opt, const char *keystore, const char *cmd,
		    struct vv_vault_session *s)
{
	struct vv_error err = { 0 };

	if (vv_vault_session_open(opt, keystore, s, &err) < 0) {
		vv_error_print(opt->json, VV_EV_LOG, cmd, &err);
		vv_vault_session_close(s);
		return VV_EXIT_USAGE;
	}
	return 0;
}

int pv_trust_and_close(const struct vv_options *opt, struct vv_vault_session *s,
		       const char *cmd, const char *device, const struct vv_error *err,
		       const struct vv_token *t, int r)
{
	if (r < 0) {
		struct vv_error shown = *err;
		char what[PATH_MAX + 32];
		unsigned flags = VV_EV_LOG;

		/* A key source's failure gets its cause named and the remedy that fits. */
		if (vv_key_remedy_fill(NULL, &shown))
			flags |= VV_EV_CAUSE;
		/* With --json the failure is the JSON answer, cause and remedy included. */
		snprintf(what, sizeof(what), "%s %s", cmd, device);
		vv_error_print(opt && opt->json, flags, what, &shown);
	}
	/* The vaults it used become trusted here (a drop-in), never by the disk. */
	if (r >= 0 && pv_trust_vaults(opt, s->cfg, t) < 0)
		r = -EIO;
	vv_vault_session_close(s);
	return r < 0 ? VV_EXIT_FAILURE : VV_EXIT_OK;
}

struct json_object *pv_json_for(const char *device)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "device", json_object_new_string(device));
	return o;
}

/*
 * The one time the recovery passphrase exists outside locked memory: the
 * write(2) to stdout, bypassing stdio so no copy stays in its buffer.
 */
void pv_show_recovery(const struct vv_provision_result *res, bool json)
{
	static const char nl = '\n';

	if (isatty(STDOUT_FILENO))
		fprintf(stderr, "vaultvol: the recovery passphrase below opens keyslot %d "
			"of this volume. It is shown only once and stored nowhere: write it "
			"down now.\n", res->recovery_keyslot);
	else
		fprintf(stderr, "vaultvol: warning: stdout is not a terminal - the recovery "
			"passphrase is going to a file or pipe; protect or destroy that copy "
			"(or use --recovery secret)\n");
	fflush(stdout);
	if (json) {
		printf("{\"recovery_keyslot\":%d,\"recovery_passphrase\":\"", res->recovery_keyslot);
		fflush(stdout);
		if (write(STDOUT_FILENO, res->recovery->data, res->recovery->len) < 0)
			vv_err("cannot write the recovery passphrase: %m");
		printf("\"}\n");
	} else {
		printf("recovery passphrase (keyslot %d):\n", res->recovery_keyslot);
		fflush(stdout);
		if (write(STDOUT_FILENO, res->recovery->data, res->recovery->len) < 0 ||
		    write(STDOUT_FILENO, &nl, 1) < 0)
			vv_err("cannot write the recovery passphrase: %m");
	}
	fflush(stdout);
}
