// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * agent/revoke: every cell of the transition table, the state file's
 * strictness and boot rule, and a pass driven through fake ops.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent/open/open.h"
#include "agent/revoke/revoke.h"

#define GRACE 600
#define T0 1000

/* ---- the transition table ---- */

struct cell {
	enum vv_rv_state from;
	int64_t first_seen;
	enum vv_rv_verdict in;
	int64_t now;
	int grace;
	enum vv_rv_state to;
	int64_t to_first_seen;
	enum vv_rv_action action;
};

static const struct cell table[] = {
	/* OPEN */
	{ VV_RV_OPEN, 0, VV_RV_OK, T0, GRACE, VV_RV_OPEN, 0, VV_RV_NONE },
	{ VV_RV_OPEN, 0, VV_RV_OUTAGE, T0, GRACE, VV_RV_OPEN, 0, VV_RV_NONE },
	{ VV_RV_OPEN, 0, VV_RV_REVOKED, T0, GRACE, VV_RV_PENDING, T0, VV_RV_NONE },
	{ VV_RV_OPEN, 0, VV_RV_REVOKED, T0, 0, VV_RV_INACCESSIBLE, T0, VV_RV_SUSPEND },
	/* PENDING, within the grace and past it */
	{ VV_RV_PENDING, T0, VV_RV_OK, T0 + 10, GRACE, VV_RV_OPEN, 0, VV_RV_NONE },
	{ VV_RV_PENDING, T0, VV_RV_OK, T0 + 9999, GRACE, VV_RV_OPEN, 0, VV_RV_NONE },
	{ VV_RV_PENDING, T0, VV_RV_OUTAGE, T0 + 10, GRACE, VV_RV_PENDING, T0, VV_RV_NONE },
	/* an outage never completes a revocation, however long */
	{ VV_RV_PENDING, T0, VV_RV_OUTAGE, T0 + 99999, GRACE, VV_RV_PENDING, T0, VV_RV_NONE },
	{ VV_RV_PENDING, T0, VV_RV_REVOKED, T0 + GRACE - 1, GRACE, VV_RV_PENDING, T0, VV_RV_NONE },
	{ VV_RV_PENDING, T0, VV_RV_REVOKED, T0 + GRACE, GRACE, VV_RV_INACCESSIBLE, T0,
	  VV_RV_SUSPEND },
	{ VV_RV_PENDING, T0, VV_RV_REVOKED, T0 + 99999, GRACE, VV_RV_INACCESSIBLE, T0,
	  VV_RV_SUSPEND },
	/* a clock that went backwards restarts the grace */
	{ VV_RV_PENDING, T0 + 500, VV_RV_REVOKED, T0, GRACE, VV_RV_PENDING, T0, VV_RV_NONE },
	/* INACCESSIBLE */
	{ VV_RV_INACCESSIBLE, T0, VV_RV_OK, T0 + 5, GRACE, VV_RV_OPEN, 0, VV_RV_RESUME },
	{ VV_RV_INACCESSIBLE, T0, VV_RV_OUTAGE, T0 + 5, GRACE, VV_RV_INACCESSIBLE, T0,
	  VV_RV_NONE },
	{ VV_RV_INACCESSIBLE, T0, VV_RV_REVOKED, T0 + 99999, GRACE, VV_RV_INACCESSIBLE, T0,
	  VV_RV_NONE },
	{ VV_RV_INACCESSIBLE, T0 + 500, VV_RV_REVOKED, T0, GRACE, VV_RV_INACCESSIBLE, T0 + 500,
	  VV_RV_NONE },
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const struct cell *c = &table[i];
		struct vv_rv_vol cur = { .name = "data", .state = c->from,
					 .first_seen = c->first_seen }, next;
		struct vv_rv_check in = { .verdict = c->in };
		enum vv_rv_action a;

		if (c->from != VV_RV_OPEN)
			snprintf(cur.cause, sizeof(cur.cause), "old cause");
		if (c->in != VV_RV_OK)
			snprintf(in.cause, sizeof(in.cause), "new cause");
		a = vv_rv_next(&cur, &in, c->now, c->grace, &next);
		if (a != c->action || next.state != c->to || next.first_seen != c->to_first_seen)
			fail_msg("cell %zu (%s + %s): got %s/%lld/%s, wanted %s/%lld/%s", i,
				 vv_rv_state_str(c->from), vv_rv_verdict_str(c->in),
				 vv_rv_state_str(next.state), (long long)next.first_seen,
				 vv_rv_action_str(a), vv_rv_state_str(c->to),
				 (long long)c->to_first_seen, vv_rv_action_str(c->action));
		assert_string_equal(next.name, "data");
		/* the cause: cleared when open, the revocation's otherwise */
		if (next.state == VV_RV_OPEN)
			assert_string_equal(next.cause, "");
		else if (c->in == VV_RV_REVOKED)
			assert_string_equal(next.cause, "new cause");
		else
			assert_string_equal(next.cause, "old cause");
	}
}

/* Every (state, verdict) pair is a cell of the table above. */
static void test_table_complete(void **state)
{
	(void)state;
	for (int s = VV_RV_OPEN; s <= VV_RV_INACCESSIBLE; s++)
		for (int v = VV_RV_OK; v <= VV_RV_OUTAGE; v++) {
			bool found = false;

			for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
				found |= (int)table[i].from == s && (int)table[i].in == v;
			if (!found)
				fail_msg("no cell for %s + %s", vv_rv_state_str(s),
					 vv_rv_verdict_str(v));
		}
}

static void test_causes(void **state)
{
	static const enum vv_cause revokes[] = {
		VV_CAUSE_NOT_FOUND, VV_CAUSE_DISABLED, VV_CAUSE_FORBIDDEN,
		VV_CAUSE_UNAUTHORIZED, VV_CAUSE_NO_IDENTITY, VV_CAUSE_EXPIRED,
	};
	static const enum vv_cause outages[] = {
		VV_CAUSE_NONE, VV_CAUSE_THROTTLED, VV_CAUSE_UNAVAILABLE, VV_CAUSE_BAD_RESPONSE,
		VV_CAUSE_SYSTEM, VV_CAUSE_CONFIG, VV_CAUSE_UNTRUSTED, VV_CAUSE_CRYPTO,
	};

	(void)state;
	for (size_t i = 0; i < sizeof(revokes) / sizeof(revokes[0]); i++)
		if (!vv_rv_cause_revokes(revokes[i]))
			fail_msg("%s should revoke", vv_cause_str(revokes[i]));
	for (size_t i = 0; i < sizeof(outages) / sizeof(outages[0]); i++)
		if (vv_rv_cause_revokes(outages[i]))
			fail_msg("%s should not revoke", vv_cause_str(outages[i]));
}

/* ---- revocation.json ---- */

#define BOOT "0f3c2a4e-1111-4222-8333-944455556666"
#define OTHER "aaaaaaaa-1111-4222-8333-944455556666"

static void test_state_roundtrip(void **state)
{
	struct vv_rv_table t = { .boot_id = BOOT }, u;
	struct vv_rv_vol a = { .name = "data", .state = VV_RV_PENDING, .first_seen = 42,
			       .cause = "secret x: disabled (HTTP 403 SecretDisabled)" };
	struct vv_rv_vol b = { .name = "logs", .state = VV_RV_INACCESSIBLE, .first_seen = 7,
			       .cause = "KEK k: expired" };
	struct vv_error err = { 0 };
	char *text;

	(void)state;
	assert_int_equal(vv_rv_table_set(&t, &a), 0);
	assert_int_equal(vv_rv_table_set(&t, &b), 0);
	text = vv_rv_state_format(&t);
	assert_non_null(text);
	assert_int_equal(vv_rv_state_parse(text, "f", BOOT, 5000, &u, &err), 0);
	assert_int_equal(u.n, 2);
	assert_int_equal(vv_rv_table_get(&u, "data")->first_seen, 42);
	assert_int_equal(vv_rv_table_get(&u, "logs")->state, VV_RV_INACCESSIBLE);
	assert_string_equal(vv_rv_table_get(&u, "logs")->cause, "KEK k: expired");
	vv_rv_table_free(&u);
	/* another boot: the pending clock restarts, nothing stays inaccessible */
	assert_int_equal(vv_rv_state_parse(text, "f", OTHER, 5000, &u, &err), 0);
	assert_int_equal(u.n, 1);
	assert_int_equal(vv_rv_table_get(&u, "data")->first_seen, 5000);
	assert_null(vv_rv_table_get(&u, "logs"));
	assert_string_equal(u.boot_id, OTHER);
	vv_rv_table_free(&u);
	free(text);
	/* setting OPEN removes */
	a.state = VV_RV_OPEN;
	assert_int_equal(vv_rv_table_set(&t, &a), 0);
	assert_int_equal(t.n, 1);
	assert_null(vv_rv_table_get(&t, "data"));
	vv_rv_table_free(&t);
}

static void expect_bad(const char *text, const char *what)
{
	struct vv_rv_table t;
	struct vv_error err = { 0 };

	if (vv_rv_state_parse(text, "rv.json", BOOT, 1, &t, &err) != -EINVAL ||
	    !strstr(err.message, what))
		fail_msg("input %s: got '%s', wanted '%s'", text, err.message, what);
	assert_int_equal(t.n, 0);
}

static void test_state_strict(void **state)
{
	(void)state;
	expect_bad("", "not valid JSON");
	expect_bad("[]", "not a JSON object");
	expect_bad("{\"boot_id\":\"" BOOT "\",\"volumes\":{}} x", "not valid JSON");
	expect_bad("{\"volumes\":{}}", "boot_id");
	expect_bad("{\"boot_id\":\"0F3C2A4E-1111-4222-8333-944455556666\",\"volumes\":{}}",
		   "boot_id");
	expect_bad("{\"boot_id\":\"" BOOT "\"}", "volumes missing");
	expect_bad("{\"boot_id\":\"" BOOT "\",\"volumes\":{},\"x\":1}", "unknown key");
	expect_bad("{\"boot_id\":\"" BOOT "\",\"volumes\":{\"-x\":{}}}", "invalid volume name");
	expect_bad("{\"boot_id\":\"" BOOT "\",\"volumes\":{\"d\":1}}", "not an object");
	expect_bad("{\"boot_id\":\"" BOOT "\",\"volumes\":{\"d\":{\"state\":\"pending\"}}}",
		   "needs state, first_seen and cause");
	expect_bad("{\"boot_id\":\"" BOOT "\",\"volumes\":{\"d\":{\"state\":\"open\","
		   "\"first_seen\":1,\"cause\":\"c\"}}}", "neither pending nor inaccessible");
	expect_bad("{\"boot_id\":\"" BOOT "\",\"volumes\":{\"d\":{\"state\":\"pending\","
		   "\"first_seen\":-1,\"cause\":\"c\"}}}", "negative");
	expect_bad("{\"boot_id\":\"" BOOT "\",\"volumes\":{\"d\":{\"state\":\"pending\","
		   "\"first_seen\":\"1\",\"cause\":\"c\"}}}", "needs state");
	expect_bad("{\"boot_id\":\"" BOOT "\",\"volumes\":{\"d\":{\"state\":\"pending\","
		   "\"first_seen\":1,\"cause\":\"a\\nb\"}}}", "printable");
	expect_bad("{\"boot_id\":\"" BOOT "\",\"volumes\":{\"d\":{\"state\":\"pending\","
		   "\"first_seen\":1,\"cause\":\"c\",\"extra\":1}}}", "unknown key in a volume");
}

static void test_state_files(void **state)
{
	static char dir[] = "/tmp/vv-test-revoke-XXXXXX";
	struct vv_rv_table t = { .boot_id = BOOT }, u;
	struct vv_rv_vol a = { .name = "data", .state = VV_RV_INACCESSIBLE, .first_seen = 9,
			       .cause = "secret s: disabled" };
	struct vv_error err = { 0 };
	char path[300];
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(vv_rv_state_load(dir, BOOT, 1, &u, &err), 0);
	assert_int_equal(u.n, 0);
	assert_int_equal(vv_rv_table_set(&t, &a), 0);
	assert_int_equal(vv_rv_state_save(dir, &t, &err), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, VV_RV_STATE_FILE);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(vv_rv_state_load(dir, BOOT, 1, &u, &err), 0);
	assert_int_equal(u.n, 1);
	assert_string_equal(u.v[0].cause, "secret s: disabled");
	vv_rv_table_free(&u);
	vv_rv_table_free(&t);
	unlink(path);
	rmdir(dir);
}

static void test_boot_id(void **state)
{
	char id[64];

	(void)state;
	assert_int_equal(vv_rv_boot_id(id, sizeof(id)), 0);
	assert_int_equal(strlen(id), VV_RV_BOOT_ID_LEN);
	assert_true(vv_rv_now() >= 0);
}

/* ---- a pass through fake ops ---- */

struct fake {
	enum vv_rv_verdict verdict;
	int suspend_r, resume_r;
	unsigned syncs, suspends, resumes;
	char order[64];
	char names[256];	/* "c:NAME s:NAME r:NAME ": checks and actions, by volume */
	char kernel[128];	/* " NAME NAME ": the mappings suspended now */
	int kernel_r;		/* not 0: what asking the kernel returns */
};

static void note(struct fake *f, char op, const char *name)
{
	size_t l = strlen(f->names);

	snprintf(f->names + l, sizeof(f->names) - l, "%c:%s ", op, name);
}

static void f_check(void *ctx, const struct vv_rv_target *t, struct vv_rv_check *out)
{
	struct fake *f = ctx;

	note(f, 'c', t->name);
	memset(out, 0, sizeof(*out));
	out->verdict = f->verdict;
	if (f->verdict != VV_RV_OK)
		snprintf(out->cause, sizeof(out->cause), "secret %s: %s", t->key_ref,
			 f->verdict == VV_RV_REVOKED ? "disabled" : "unavailable");
}

static int f_sync(void *ctx, const struct vv_rv_target *t, struct vv_error *err)
{
	struct fake *f = ctx;

	(void)t;
	(void)err;
	f->syncs++;
	strcat(f->order, "y");
	return 0;
}

static int f_suspend(void *ctx, const struct vv_rv_target *t, struct vv_error *err)
{
	struct fake *f = ctx;

	note(f, 's', t->name);
	f->suspends++;
	strcat(f->order, "s");
	if (f->suspend_r)
		return vv_fail(err, f->suspend_r, VV_CAUSE_SYSTEM, "no");
	snprintf(f->kernel + strlen(f->kernel), sizeof(f->kernel) - strlen(f->kernel), " %s ",
		 t->name);
	return 0;
}

/* " NAME " in f->kernel, or NULL. */
static char *in_kernel(struct fake *f, const char *name)
{
	char pat[80];

	snprintf(pat, sizeof(pat), " %s ", name);
	return strstr(f->kernel, pat);
}

static int f_suspended(void *ctx, const struct vv_rv_target *t)
{
	struct fake *f = ctx;

	return f->kernel_r ? f->kernel_r : in_kernel(f, t->name) != NULL;
}

/* Someone resumes the mapping by hand. */
static void resume_by_hand(struct fake *f, const char *name)
{
	char *p = in_kernel(f, name);

	assert_non_null(p);
	memmove(p, p + strlen(name) + 2, strlen(p + strlen(name) + 2) + 1);
}

static int f_resume(void *ctx, const struct vv_rv_target *t, struct vv_error *err)
{
	struct fake *f = ctx;

	note(f, 'r', t->name);
	f->resumes++;
	strcat(f->order, "r");
	if (f->resume_r)
		return vv_fail(err, f->resume_r, VV_CAUSE_SYSTEM, "no");
	resume_by_hand(f, t->name);	/* the same to the kernel */
	return 0;
}

static void test_pass(void **state)
{
	struct fake f = { .verdict = VV_RV_OK };
	struct vv_rv_ops ops = { f_check, f_sync, f_suspend, f_resume, f_suspended, &f };
	struct vv_rv_target tg[] = {
		{ .name = "data", .crypt_name = "data", .mount = "/data", .key_ref = "k1" },
	};
	struct vv_rv_table t = { .boot_id = BOOT };
	struct vv_rv_stats st;

	(void)state;
	/* all well: nothing recorded, nothing done */
	assert_int_equal(vv_rv_pass(&ops, tg, 1, &t, T0, GRACE, &st), 0);
	assert_int_equal(t.n, 0);
	assert_int_equal(st.checked, 1);
	/* revoked: pending, then outages for a long time: still pending */
	f.verdict = VV_RV_REVOKED;
	assert_int_equal(vv_rv_pass(&ops, tg, 1, &t, T0, GRACE, &st), 0);
	assert_int_equal(st.pending, 1);
	f.verdict = VV_RV_OUTAGE;
	assert_int_equal(vv_rv_pass(&ops, tg, 1, &t, T0 + 10 * GRACE, GRACE, &st), 0);
	assert_int_equal(st.outages, 1);
	assert_int_equal(vv_rv_table_get(&t, "data")->state, VV_RV_PENDING);
	assert_int_equal(f.suspends, 0);
	/* revoked past the grace: sync, then suspend; a failed one stays pending */
	f.verdict = VV_RV_REVOKED;
	f.suspend_r = -EBUSY;
	assert_int_equal(vv_rv_pass(&ops, tg, 1, &t, T0 + 10 * GRACE, GRACE, &st), 1);
	assert_int_equal(vv_rv_table_get(&t, "data")->state, VV_RV_PENDING);
	assert_int_equal(vv_rv_table_get(&t, "data")->first_seen, T0);
	f.suspend_r = 0;
	assert_int_equal(vv_rv_pass(&ops, tg, 1, &t, T0 + 10 * GRACE, GRACE, &st), 0);
	assert_int_equal(st.suspended, 1);
	assert_int_equal(st.inaccessible, 1);
	assert_string_equal(f.order, "ysys");
	assert_string_equal(vv_rv_table_get(&t, "data")->cause, "secret k1: disabled");
	/* inaccessible: outages change nothing; access back: resume */
	f.verdict = VV_RV_OUTAGE;
	assert_int_equal(vv_rv_pass(&ops, tg, 1, &t, T0 + 20 * GRACE, GRACE, &st), 0);
	assert_int_equal(vv_rv_table_get(&t, "data")->state, VV_RV_INACCESSIBLE);
	f.verdict = VV_RV_OK;
	f.resume_r = -EPERM;
	assert_int_equal(vv_rv_pass(&ops, tg, 1, &t, T0 + 20 * GRACE, GRACE, &st), 1);
	assert_int_equal(vv_rv_table_get(&t, "data")->state, VV_RV_INACCESSIBLE);
	f.resume_r = 0;
	assert_int_equal(vv_rv_pass(&ops, tg, 1, &t, T0 + 20 * GRACE, GRACE, &st), 0);
	assert_int_equal(st.resumed, 1);
	assert_int_equal(t.n, 0);
	assert_string_equal(f.order, "ysysrr");
	vv_rv_table_free(&t);
}

/* Grace 0 suspends at first sight; an unmounted volume is not synced; a
 * record of a volume no longer open is dropped. */
static void test_pass_edges(void **state)
{
	struct fake f = { .verdict = VV_RV_REVOKED };
	struct vv_rv_ops ops = { f_check, f_sync, f_suspend, f_resume, f_suspended, &f };
	struct vv_rv_target tg[] = { { .name = "raw", .crypt_name = "raw", .key_ref = "k" } };
	struct vv_rv_table t = { .boot_id = BOOT };
	struct vv_rv_vol gone = { .name = "gone", .state = VV_RV_PENDING, .first_seen = 1,
				  .cause = "c" };
	struct vv_rv_stats st;

	(void)state;
	assert_int_equal(vv_rv_table_set(&t, &gone), 0);
	f.suspend_r = -ENOTSUP;
	assert_int_equal(vv_rv_pass(&ops, tg, 1, &t, T0, 0, &st), 1);
	assert_null(vv_rv_table_get(&t, "gone"));
	assert_int_equal(vv_rv_table_get(&t, "raw")->state, VV_RV_PENDING);
	f.suspend_r = 0;
	assert_int_equal(vv_rv_pass(&ops, tg, 1, &t, T0, 0, &st), 0);
	assert_int_equal(vv_rv_table_get(&t, "raw")->state, VV_RV_INACCESSIBLE);
	assert_int_equal(f.syncs, 0);
	assert_string_equal(f.order, "ss");
	/* nothing open: everything dropped */
	assert_int_equal(vv_rv_pass(&ops, NULL, 0, &t, T0, 0, &st), 0);
	assert_int_equal(t.n, 0);
	vv_rv_table_free(&t);
}

/*
 * [volume] revocation = no: the exempt volume is neither checked nor
 * suspended, while the other one is acted on in the same pass; a pending
 * record from before the opt-out is dropped; one suspended before the
 * opt-out is still checked and resumed when access returns, never left
 * suspended for good.
 */
static void test_pass_exempt(void **state)
{
	struct fake f = { .verdict = VV_RV_REVOKED };
	struct vv_rv_ops ops = { f_check, f_sync, f_suspend, f_resume, f_suspended, &f };
	struct vv_rv_target tg[] = {
		{ .name = "out", .crypt_name = "out", .key_ref = "k1", .exempt = true },
		{ .name = "data", .crypt_name = "data", .key_ref = "k2" },
	};
	struct vv_rv_table t = { .boot_id = BOOT };
	struct vv_rv_vol was = { .name = "out", .state = VV_RV_PENDING, .first_seen = 1,
				 .cause = "secret k1: disabled" };
	struct vv_rv_stats st;

	(void)state;
	assert_int_equal(vv_rv_table_set(&t, &was), 0);
	/* revoked, grace 0, far past a pending clock: only data is suspended */
	assert_int_equal(vv_rv_pass(&ops, tg, 2, &t, T0, 0, &st), 0);
	assert_string_equal(f.names, "c:data s:data ");
	assert_int_equal(st.checked, 1);
	assert_int_equal(st.exempt, 1);
	assert_int_equal(st.suspended, 1);
	assert_int_equal(st.pending, 0);
	assert_null(vv_rv_table_get(&t, "out"));
	assert_int_equal(vv_rv_table_get(&t, "data")->state, VV_RV_INACCESSIBLE);
	/* again: still nothing for the exempt volume */
	f.names[0] = '\0';
	assert_int_equal(vv_rv_pass(&ops, tg, 2, &t, T0 + 10 * GRACE, GRACE, &st), 0);
	assert_string_equal(f.names, "c:data ");
	assert_null(vv_rv_table_get(&t, "out"));
	/* suspended, then opted out: checked, stays while revoked, resumed when OK */
	tg[1].exempt = true;
	f.names[0] = '\0';
	assert_int_equal(vv_rv_pass(&ops, tg, 2, &t, T0 + 20 * GRACE, GRACE, &st), 0);
	assert_string_equal(f.names, "c:data ");
	assert_int_equal(vv_rv_table_get(&t, "data")->state, VV_RV_INACCESSIBLE);
	assert_int_equal(st.exempt, 1);
	f.verdict = VV_RV_OK;
	f.names[0] = '\0';
	assert_int_equal(vv_rv_pass(&ops, tg, 2, &t, T0 + 20 * GRACE, GRACE, &st), 0);
	assert_string_equal(f.names, "c:data r:data ");
	assert_int_equal(st.resumed, 1);
	assert_int_equal(t.n, 0);
	/* open and exempt now: no longer checked */
	f.verdict = VV_RV_REVOKED;
	f.names[0] = '\0';
	assert_int_equal(vv_rv_pass(&ops, tg, 2, &t, T0 + 30 * GRACE, 0, &st), 0);
	assert_string_equal(f.names, "");
	assert_int_equal(st.exempt, 2);
	assert_int_equal(t.n, 0);
	assert_int_equal(f.suspends, 1);
	vv_rv_table_free(&t);
}

/*
 * The kernel wins over the state file: a volume recorded inaccessible but
 * resumed by hand is open again (not resumed a second time, counted,
 * record dropped); a revocation still there starts a new grace period and
 * suspends again after it; with the access back it stays open. When the
 * kernel cannot say, the record stands. A volume exempt by then is left
 * open.
 */
static void test_pass_resumed_by_hand(void **state)
{
	struct fake f = { .verdict = VV_RV_REVOKED };
	struct vv_rv_ops ops = { f_check, f_sync, f_suspend, f_resume, f_suspended, &f };
	struct vv_rv_target tg[] = { { .name = "data", .crypt_name = "data", .key_ref = "k" } };
	struct vv_rv_table t = { .boot_id = BOOT };
	struct vv_rv_stats st;

	(void)state;
	assert_int_equal(vv_rv_pass(&ops, tg, 1, &t, T0, 0, &st), 0);
	assert_int_equal(vv_rv_table_get(&t, "data")->state, VV_RV_INACCESSIBLE);
	/* still suspended: nothing to reconcile */
	assert_int_equal(vv_rv_pass(&ops, tg, 1, &t, T0 + 1, GRACE, &st), 0);
	assert_int_equal(st.resumed_by_hand, 0);
	assert_int_equal(vv_rv_table_get(&t, "data")->state, VV_RV_INACCESSIBLE);
	/* resumed by hand, still revoked: pending from now, suspended past the grace */
	resume_by_hand(&f, "data");
	f.kernel_r = -ENODEV;	/* the kernel cannot say: the record stands */
	assert_int_equal(vv_rv_pass(&ops, tg, 1, &t, T0 + 2, GRACE, &st), 0);
	assert_int_equal(st.resumed_by_hand, 0);
	assert_int_equal(vv_rv_table_get(&t, "data")->state, VV_RV_INACCESSIBLE);
	f.kernel_r = 0;
	assert_int_equal(vv_rv_pass(&ops, tg, 1, &t, T0 + 10, GRACE, &st), 0);
	assert_int_equal(st.resumed_by_hand, 1);
	assert_int_equal(st.pending, 1);
	assert_int_equal(vv_rv_table_get(&t, "data")->state, VV_RV_PENDING);
	assert_int_equal(vv_rv_table_get(&t, "data")->first_seen, T0 + 10);
	assert_int_equal(f.suspends, 1);
	assert_int_equal(vv_rv_pass(&ops, tg, 1, &t, T0 + 10 + GRACE, GRACE, &st), 0);
	assert_int_equal(f.suspends, 2);
	assert_int_equal(vv_rv_table_get(&t, "data")->state, VV_RV_INACCESSIBLE);
	/* resumed by hand and the access back: open, not resumed again */
	resume_by_hand(&f, "data");
	f.verdict = VV_RV_OK;
	assert_int_equal(vv_rv_pass(&ops, tg, 1, &t, T0 + 20 + GRACE, GRACE, &st), 0);
	assert_int_equal(st.resumed_by_hand, 1);
	assert_int_equal(st.resumed, 0);
	assert_int_equal(f.resumes, 0);
	assert_int_equal(t.n, 0);
	/* suspended, then exempt, then resumed by hand: dropped and left alone */
	f.verdict = VV_RV_REVOKED;
	assert_int_equal(vv_rv_pass(&ops, tg, 1, &t, T0 + 30 + GRACE, 0, &st), 0);
	assert_int_equal(f.suspends, 3);
	tg[0].exempt = true;
	resume_by_hand(&f, "data");
	f.names[0] = '\0';
	assert_int_equal(vv_rv_pass(&ops, tg, 1, &t, T0 + 40 + GRACE, 0, &st), 0);
	assert_int_equal(st.resumed_by_hand, 1);
	assert_int_equal(st.exempt, 1);
	assert_string_equal(f.names, "");
	assert_int_equal(t.n, 0);
	vv_rv_table_free(&t);
}

/*
 * Which open volumes are targets: only LUKS volumes whose key came from Key
 * Vault; never one keyed from the BEK VOLUME, a keystore or a key file,
 * nor BitLocker, nor anything not open. The crypt mapping is the one below
 * a quiesce layer, or the one the mount uses.
 */
static void test_targets(void **state)
{
#define VOL(n, src, ty, st) { .conf = { .name = n, .key = "s-" n }, .key_source = src, \
			      .type = ty, .state = st, .top = "/dev/mapper/" n }
	struct vv_vol v[] = {
		VOL("kv", "keyvault", VV_VOL_LUKS2, VV_VS_MOUNTED),
		VOL("bek", "bek-volume", VV_VOL_LUKS1, VV_VS_MOUNTED),
		VOL("ks", "keystore", VV_VOL_LUKS2, VV_VS_OPEN),
		VOL("file", "file", VV_VOL_LUKS2, VV_VS_OPEN),
		VOL("nosrc", NULL, VV_VOL_LUKS2, VV_VS_OPEN),
		VOL("bl", "keyvault", VV_VOL_BITLK, VV_VS_MOUNTED),
		VOL("closed", "keyvault", VV_VOL_LUKS2, VV_VS_CLOSED),
		VOL("failed", "keyvault", VV_VOL_LUKS2, VV_VS_FAILED),
		VOL("undesc", "keyvault", VV_VOL_LUKS2, VV_VS_OPEN),
		VOL("nokey", "keyvault", VV_VOL_LUKS2, VV_VS_OPEN),
		VOL("q", "keyvault", VV_VOL_LUKS1, VV_VS_OPEN),
		VOL("out", "keyvault", VV_VOL_LUKS2, VV_VS_OPEN),
		VOL("ct", "keyvault", VV_VOL_LUKS2, VV_VS_OPEN),
	};
#undef VOL
	struct vv_open_plan plan = { .v = v, .n = sizeof(v) / sizeof(v[0]) };
	struct vv_rv_targets tg;
	char qcrypt[128];

	(void)state;
	v[0].mounted_on = "/data";
	v[0].conf.kek = "https://v.vault.azure.net/keys/k/1";
	v[8].undescribed = true;
	v[9].conf.key = NULL;
	v[10].quiesced = true;
	v[11].conf.revocation = VV_TRI_NO;
	snprintf(v[12].top, sizeof(v[12].top), "/dev/mapper/luks-ct");	/* crypttab's name */
	assert_int_equal(vv_rv_targets_pick(&plan, true, &tg), 0);
	assert_int_equal(tg.n, 4);
	assert_string_equal(tg.t[0].name, "kv");
	assert_string_equal(tg.t[0].crypt_name, "kv");
	assert_string_equal(tg.t[0].mount, "/data");
	assert_string_equal(tg.t[0].key_ref, "s-kv");
	assert_string_equal(tg.t[0].kek_ref, "https://v.vault.azure.net/keys/k/1");
	assert_false(tg.t[0].exempt);
	assert_string_equal(tg.t[1].name, "q");
	vv_open_crypt_name("q", qcrypt, sizeof(qcrypt));
	assert_string_equal(tg.t[1].crypt_name, qcrypt);
	assert_null(tg.t[1].mount);
	assert_string_equal(tg.t[2].name, "out");
	assert_true(tg.t[2].exempt);
	assert_string_equal(tg.t[3].name, "ct");
	assert_string_equal(tg.t[3].crypt_name, "luks-ct");
	vv_rv_targets_free(&tg);
	/* nothing open: no targets */
	plan.n = 0;
	assert_int_equal(vv_rv_targets_pick(&plan, false, &tg), 0);
	assert_int_equal(tg.n, 0);
	vv_rv_targets_free(&tg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_table_complete),
		cmocka_unit_test(test_causes),
		cmocka_unit_test(test_state_roundtrip),
		cmocka_unit_test(test_state_strict),
		cmocka_unit_test(test_state_files),
		cmocka_unit_test(test_boot_id),
		cmocka_unit_test(test_pass),
		cmocka_unit_test(test_pass_edges),
		cmocka_unit_test(test_pass_exempt),
		cmocka_unit_test(test_pass_resumed_by_hand),
		cmocka_unit_test(test_targets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
