// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `vaultvol adopt DEVICE --rewrite [--yes]`: the token of a volume whose
 * vault moved (`[vault] moved`) is rewritten to the new vault after the
 * operator saw old -> new and agreed, on a terminal; --yes agrees in
 * advance. Without a terminal and without --yes nothing is written.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent/cmd_adopt_rewrite.h"
#include "agent/cmd_provision_output.h"
#include "agent/command.h"
#include "agent/config/config_vault.h"
#include "agent/error_view.h"
#include "agent/provision/provision.h"

struct ask {
	const char *device;
	bool yes, json, refused_no_tty;
};

static void show_change(FILE *f, const char *what, const char *before, const char *after)
{
	if (!before)
		return;
	fprintf(f, "  %-4s %s\n", what, before);
	fprintf(f, "    -> %s%s\n", after, strcmp(before, after) ? "" : " (unchanged)");
}

/* Show old -> new, then take --yes or ask on the terminal. */
static bool confirm(const struct vv_token *before, const struct vv_token *after, void *arg)
{
	struct ask *a = arg;
	/* With --json, stdout holds the one JSON document: the listing goes to stderr. */
	FILE *f = a->json ? stderr : stdout;
	char line[16];

	fprintf(f, "%s: token %d (keyslot %d, volume %s):\n", a->device, before->token_id,
		before->keyslot, before->name);
	show_change(f, "key", before->key, after->key);
	show_change(f, "kek", before->kek, after->kek);
	fflush(f);
	if (a->yes)
		return true;
	if (!isatty(STDIN_FILENO) || !isatty(STDERR_FILENO)) {
		a->refused_no_tty = true;
		return false;
	}
	fprintf(stderr, "Back up the header and rewrite the token? [y/N] ");
	fflush(stderr);
	if (!fgets(line, sizeof(line), stdin))
		return false;
	return line[0] == 'y' || line[0] == 'Y';
}

int vv_cmd_adopt_rewrite(const struct vv_options *opt, const char *device,
			 const char *keystore, bool yes)
{
	struct ask a = { .device = device, .yes = yes, .json = opt->json };
	struct vv_rewrite_req req = { .device = device, .state_dir = opt->state_dir,
				      .confirm = confirm, .confirm_arg = &a };
	struct vv_rewrite_result res;
	struct vv_error err = { 0 };
	struct vv_vault_session s;
	int r;

	r = pv_session_open(opt, keystore, "adopt", &s);
	if (r)
		return r;
	req.moves = s.cfg->vault.moves;
	req.nmoves = s.cfg->vault.nmoves;
	r = vv_adopt_rewrite(s.vault, &req, &res, &err);
	if (r == -ECANCELED && a.refused_no_tty) {
		vv_fail(&err, r, VV_CAUSE_NONE, "%s: no terminal to confirm the rewrite on; "
			"nothing was written", device);
		vv_error_remedy(&err, "run it on a terminal, or add --yes to rewrite without asking");
	}
	if (r < 0) {
		vv_error_print(opt->json, 0, "adopt --rewrite", &err);
		vv_vault_session_close(&s);
		vv_rewrite_result_clear(&res);
		return r == -ECANCELED && a.refused_no_tty ? VV_EXIT_USAGE : VV_EXIT_FAILURE;
	}
	if (opt->json) {
		struct json_object *o = pv_json_for(device);

		json_object_object_add(o, "before", pv_token_json(&res.before));
		json_object_object_add(o, "token", pv_token_json(&res.after));
		json_object_object_add(o, "backup", json_object_new_string(res.backup));
		pv_print_json(o);
	} else {
		printf("header backed up to %s\n", res.backup);
		pv_print_token("rewritten ", &res.after);
	}
	/* The new vault becomes trusted for good: the moved line may go later. */
	r = pv_trust_and_close(opt, &s, "adopt", device, &err, &res.after, 0);
	vv_rewrite_result_clear(&res);
	return r;
}
