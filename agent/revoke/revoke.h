/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Revocation enforcement (`vaultvol watch`, docs/revocation.md): a volume
 * whose Key Vault secret or KEK stays revoked past a grace period is
 * suspended with its key wiped from the kernel, and resumed by itself when
 * access returns.
 *
 *   revoke_machine.c  the pure state machine: state + verdict + time ->
 *                     next state + action
 *   revoke_state.c    <state_dir>/revocation.json: what is pending or
 *                     inaccessible, with the boot it was seen in
 *   revoke_check.c    one volume's verdict from the vault (vault/vault.h)
 *   revoke_run.c      one pass over the open volumes, through vv_rv_ops so
 *                     tests drive it with fakes
 *   revoke_targets.c  which open volumes are covered (Key Vault keys, LUKS,
 *                     not opted out)
 *   revoke_ops.c      the real ops: vault check, syncfs, crypt suspend and
 *                     resume (agent/volume/crypt.h)
 *
 * What counts: a definite answer about the key or access (403, 404,
 * disabled, expired, the identity refused) is a revocation; a timeout, a
 * 5xx, a 429, DNS or a connection failure is an outage, and so is anything
 * the vault did not decide (a local configuration error, an untrusted
 * vault): an outage never suspends anything, however long it lasts.
 */
#ifndef VV_REVOKE_H
#define VV_REVOKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

enum vv_rv_state {
	VV_RV_OPEN = 0,		/* nothing revoked (not recorded) */
	VV_RV_PENDING,		/* revoked since first_seen, grace running */
	VV_RV_INACCESSIBLE,	/* suspended, key wiped from the kernel */
};
const char *vv_rv_state_str(enum vv_rv_state s);

enum vv_rv_verdict {
	VV_RV_OK = 0,		/* the secret (and KEK) answered, usable */
	VV_RV_REVOKED,		/* a definite refusal: cause says which */
	VV_RV_OUTAGE,		/* no definite answer: cause says why */
};
const char *vv_rv_verdict_str(enum vv_rv_verdict v);

enum vv_rv_action { VV_RV_NONE = 0, VV_RV_SUSPEND, VV_RV_RESUME };
const char *vv_rv_action_str(enum vv_rv_action a);

#define VV_RV_CAUSE_MAX 256
#define VV_RV_NAME_MAX 65

struct vv_rv_check {
	enum vv_rv_verdict verdict;
	char cause[VV_RV_CAUSE_MAX];	/* "" for OK; never key material */
};

/* One volume's record. */
struct vv_rv_vol {
	char name[VV_RV_NAME_MAX];
	enum vv_rv_state state;
	/* CLOCK_BOOTTIME seconds when the revocation was first seen (not OPEN) */
	int64_t first_seen;
	char cause[VV_RV_CAUSE_MAX];	/* the revocation's cause (not OPEN) */
};

/*
 * The transition table (pure). From cur, with the check's verdict at now
 * (CLOCK_BOOTTIME seconds) and grace_s, fill *next and return the action:
 *
 *   OPEN         + OK      -> OPEN
 *   OPEN         + OUTAGE  -> OPEN
 *   OPEN         + REVOKED -> PENDING(now), or, when grace_s is 0,
 *                             INACCESSIBLE + SUSPEND
 *   PENDING      + OK      -> OPEN (the revocation ended within grace)
 *   PENDING      + OUTAGE  -> PENDING, clock kept: an outage neither starts
 *                             nor completes a revocation
 *   PENDING      + REVOKED -> INACCESSIBLE + SUSPEND once now - first_seen
 *                             >= grace_s, else PENDING (cause updated)
 *   INACCESSIBLE + OK      -> OPEN + RESUME
 *   INACCESSIBLE + OUTAGE  -> INACCESSIBLE (nothing to resume with)
 *   INACCESSIBLE + REVOKED -> INACCESSIBLE (cause updated)
 *
 * A clock that went backwards (first_seen > now) restarts the grace at
 * now. The caller commits *next only when the action succeeded.
 */
enum vv_rv_action vv_rv_next(const struct vv_rv_vol *cur, const struct vv_rv_check *in,
			     int64_t now, int grace_s, struct vv_rv_vol *next);

/*
 * Is a vault failure cause a revocation (true) or an outage (false)? A
 * definite answer (vv_cause_is_definite) about the key or the access to
 * it; not the definite causes that are this machine's own (CONFIG,
 * UNTRUSTED, CRYPTO): a network that can fake those must not be able to
 * suspend volumes.
 */
bool vv_rv_cause_revokes(enum vv_cause c);

/* ---- <state_dir>/revocation.json (revoke_state.c) ---- */

#define VV_RV_STATE_FILE "revocation.json"
#define VV_RV_BOOT_ID_LEN 36

/* The volumes not OPEN, and the boot their clocks belong to. */
struct vv_rv_table {
	char boot_id[VV_RV_BOOT_ID_LEN + 1];
	struct vv_rv_vol *v;
	size_t n;
};

/* The record of name, or NULL (OPEN). */
struct vv_rv_vol *vv_rv_table_get(struct vv_rv_table *t, const char *name);
/* Record v (OPEN removes it). 0 or -ENOMEM. */
int vv_rv_table_set(struct vv_rv_table *t, const struct vv_rv_vol *v);
void vv_rv_table_free(struct vv_rv_table *t);

/*
 * Parse the file's text strictly (unknown keys, bad names, states, times
 * or causes are -EINVAL with err naming what). A file from another boot
 * (boot_id differs): CLOCK_BOOTTIME restarted, so pending revocations
 * restart their grace at now, and inaccessible ones are dropped (no
 * suspended mapping outlives a boot). t->boot_id is set to boot_id.
 */
int vv_rv_state_parse(const char *text, const char *name, const char *boot_id, int64_t now,
		      struct vv_rv_table *t, struct vv_error *err);
/* The file's text (malloc'ed), or NULL on ENOMEM. */
char *vv_rv_state_format(const struct vv_rv_table *t);

/* Load (a missing file is an empty table) and save (atomic, 0600). */
int vv_rv_state_load(const char *state_dir, const char *boot_id, int64_t now,
		     struct vv_rv_table *t, struct vv_error *err);
int vv_rv_state_save(const char *state_dir, const struct vv_rv_table *t, struct vv_error *err);

/* vv_rv_state_load for this boot and now (status, the handler). */
int vv_rv_state_load_current(const char *state_dir, struct vv_rv_table *t,
			     struct vv_error *err);

/* This boot's id (/proc/sys/kernel/random/boot_id), lower case. 0 or -errno. */
int vv_rv_boot_id(char *buf, size_t len);
/* CLOCK_BOOTTIME in seconds. */
int64_t vv_rv_now(void);

/* ---- one pass (revoke_run.c) ---- */

/* One open volume under the policy. */
struct vv_rv_target {
	const char *name;	/* the volume (its /dev/mapper name) */
	const char *crypt_name;	/* the dm-crypt mapping (under a quiesce layer) */
	const char *header;	/* detached LUKS header, NULL on the disk */
	const char *mount;	/* where it is mounted, NULL when not */
	const char *key_ref;	/* the key reference open would use now */
	const char *kek_ref;	/* NULL: the secret's tags decide */
	/*
	 * [volume] revocation = no: never suspended. Not even checked while it
	 * is open or pending (a check that cannot lead to an action is only a
	 * vault request and log noise; a pending record is dropped); one that
	 * was suspended before the opt-out is still checked, so that it is
	 * resumed when access returns rather than left suspended for good.
	 */
	bool exempt;
};

/*
 * What the pass does to the world. check fills the verdict; sync flushes
 * the mounted filesystem; suspend and resume act on the mapping (resume
 * fetches the key itself). 0 or -errno with err. suspended asks the kernel
 * whether the mapping is suspended now: 1, 0, or -errno when it cannot say.
 */
struct vv_rv_ops {
	void (*check)(void *ctx, const struct vv_rv_target *t, struct vv_rv_check *out);
	int (*sync)(void *ctx, const struct vv_rv_target *t, struct vv_error *err);
	int (*suspend)(void *ctx, const struct vv_rv_target *t, struct vv_error *err);
	int (*resume)(void *ctx, const struct vv_rv_target *t, struct vv_error *err);
	int (*suspended)(void *ctx, const struct vv_rv_target *t);
	void *ctx;
};

struct vv_rv_stats {
	unsigned checked, ok, revoked, outages;
	unsigned suspended, resumed, failed;	/* actions done, actions that failed */
	unsigned pending, inaccessible;		/* states after the pass */
	unsigned exempt;			/* opted out, not checked */
	unsigned resumed_by_hand;		/* recorded inaccessible, running now */
};

/*
 * Check every target once and act on the verdicts: sync then suspend, or
 * resume; a failed action leaves the volume in its state (retried next
 * pass). A volume recorded inaccessible whose mapping the kernel says is
 * running (resumed by hand) is taken as open first: the kernel is the
 * truth, and the check then decides as for any open volume (a revocation
 * still there starts a new grace period). When the kernel cannot say, the
 * record stands. An exempt target is skipped unless it is inaccessible (see
 * vv_rv_target.exempt). Records of volumes not among the targets (closed
 * since) are dropped. Every transition and failure is logged with the volume's name
 * and cause. Returns the number of failed actions.
 */
int vv_rv_pass(const struct vv_rv_ops *ops, const struct vv_rv_target *tg, size_t n,
	       struct vv_rv_table *t, int64_t now, int grace_s, struct vv_rv_stats *st);

/* ---- which open volumes (revoke_targets.c) ---- */

struct vv_open_plan;

/* The targets of one pass: names owned by the plan, crypt names here. */
struct vv_rv_targets {
	struct vv_rv_target *t;
	char (*crypt)[128];
	size_t n;
};

/*
 * The plan's open volumes the policy covers: LUKS volumes whose key the
 * last open fetched from Key Vault (never the BEK VOLUME, a keystore or a
 * key file), with `revocation = no` ones marked exempt. first: name the
 * BitLocker volumes left out (and the exempt ones) in the log. 0 or
 * -ENOMEM; tg refers to plan's strings.
 */
int vv_rv_targets_pick(const struct vv_open_plan *plan, bool first, struct vv_rv_targets *tg);
void vv_rv_targets_free(struct vv_rv_targets *tg);

/* ---- the real ops (revoke_ops.c) ---- */

struct vv_vault;
/* Verdict of t's secret and KEK at the vault (revoke_check.c). */
void vv_rv_check_vault(struct vv_vault *vault, const struct vv_rv_target *t,
		       struct vv_rv_check *out);
/* ops over vault (the check, the key for resume) and the running system. */
void vv_rv_ops_system(struct vv_vault *vault, struct vv_rv_ops *ops);

#endif
