// SPDX-License-Identifier: GPL-2.0-or-later
/* The snapshot report: consistency bookkeeping, JSON and text forms. */
#include "agent/snapshot/snapshot.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/command.h"

const char *vv_consistency_name(enum vv_consistency c)
{
	switch (c) {
	case VV_CONS_FAILED: return "failed";
	case VV_CONS_CRASH: return "crash";
	case VV_CONS_FS: return "filesystem";
	case VV_CONS_APP: return "application";
	}
	return "unknown";
}

int vv_consistency_parse(const char *s, enum vv_consistency *c)
{
	if (!strcasecmp(s, "app") || !strcasecmp(s, "application"))
		*c = VV_CONS_APP;
	else if (!strcasecmp(s, "fs") || !strcasecmp(s, "filesystem"))
		*c = VV_CONS_FS;
	else
		return -EINVAL;
	return 0;
}

static int strv_push(char ***v, size_t *n, char *s)
{
	char **nv;

	if (!s)
		return -ENOMEM;
	nv = realloc(*v, (*n + 1) * sizeof(*nv));
	if (!nv) {
		free(s);
		return -ENOMEM;
	}
	*v = nv;
	(*v)[(*n)++] = s;
	return 0;
}

static char *vfmt(const char *fmt, va_list ap)
{
	char *s = NULL;

	if (vasprintf(&s, fmt, ap) < 0)
		return NULL;
	return s;
}

int vv_report_lower(struct vv_snapshot_report *rep, enum vv_consistency level,
		    const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = vfmt(fmt, ap);
	va_end(ap);
	if (level < rep->achieved)
		rep->achieved = level;
	return strv_push(&rep->reasons, &rep->n_reasons, s);
}

int vv_report_warn(struct vv_snapshot_report *rep, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = vfmt(fmt, ap);
	va_end(ap);
	return strv_push(&rep->warnings, &rep->n_warnings, s);
}

int vv_snapshot_exit_status(const struct vv_snapshot_report *rep)
{
	if (rep->achieved == VV_CONS_FAILED)
		return VV_EXIT_FAILURE;
	return rep->achieved >= rep->requested ? VV_EXIT_OK : VV_EXIT_PARTIAL;
}

void vv_snapshot_report_free(struct vv_snapshot_report *rep)
{
	for (size_t i = 0; i < rep->n_reasons; i++)
		free(rep->reasons[i]);
	free(rep->reasons);
	for (size_t i = 0; i < rep->n_warnings; i++)
		free(rep->warnings[i]);
	free(rep->warnings);
	for (size_t i = 0; i < rep->n_skipped; i++)
		free(rep->skipped[i]);
	free(rep->skipped);
	for (size_t i = 0; i < rep->n_fs; i++) {
		free(rep->fs[i].mount);
		free(rep->fs[i].fstype);
		free(rep->fs[i].source);
	}
	free(rep->fs);
	for (size_t i = 0; i < rep->n_scripts; i++) {
		free(rep->scripts[i].phase);
		free(rep->scripts[i].kind);
		free(rep->scripts[i].path);
		free(rep->scripts[i].error);
	}
	free(rep->scripts);
	free(rep->snapshot_error);
	free(rep->snapshot_id);
	free(rep->service_result);
	free(rep->thawed_by);
	memset(rep, 0, sizeof(*rep));
}

static struct json_object *jstrv(char *const *v, size_t n)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

static void jadd_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static struct json_object *fs_json(const struct vv_snap_fs *f)
{
	struct json_object *o = json_object_new_object();

	jadd_str(o, "mount", f->mount);
	jadd_str(o, "fstype", f->fstype);
	jadd_str(o, "source", f->source);
	jadd_str(o, "device", f->device);
	json_object_object_add(o, "mounts", json_object_new_int((int)f->n_mounts));
	json_object_object_add(o, "wave", json_object_new_int(f->wave));
	jadd_str(o, "method", f->method);
	jadd_str(o, "state", vv_freeze_state_name(f->state));
	if (f->err && f->state != VV_FZ_FROZEN)
		jadd_str(o, "error", strerror(-f->err));
	json_object_object_add(o, "freeze_ms", json_object_new_int64(f->freeze_ms));
	json_object_object_add(o, "thaws", json_object_new_int(f->thaw_count));
	if (f->thaw_err)
		jadd_str(o, "thaw_error", strerror(-f->thaw_err));
	json_object_object_add(o, "thawed_elsewhere", json_object_new_boolean(f->thawed_elsewhere));
	if (f->q_valid) {
		struct json_object *q = json_object_new_object();

		json_object_object_add(q, "last_freeze_us",
				       json_object_new_int64((int64_t)f->q_last_freeze_us));
		json_object_object_add(q, "expired", json_object_new_boolean(f->q_expired));
		json_object_object_add(o, "kernel", q);
	}
	return o;
}

static struct json_object *script_json(const struct vv_snap_script *s)
{
	struct json_object *o = json_object_new_object();

	jadd_str(o, "phase", s->phase);
	jadd_str(o, "kind", s->kind);
	jadd_str(o, "path", s->path);
	json_object_object_add(o, "refused", json_object_new_boolean(s->refused));
	if (s->error)
		jadd_str(o, "error", s->error);
	json_object_object_add(o, "attempts", json_object_new_int(s->attempts));
	if (s->ex.started && !s->ex.term_signal)
		json_object_object_add(o, "exit_code", json_object_new_int(s->ex.exit_code));
	else
		json_object_object_add(o, "exit_code", NULL);
	if (s->ex.term_signal)
		json_object_object_add(o, "signal", json_object_new_int(s->ex.term_signal));
	json_object_object_add(o, "timed_out", json_object_new_boolean(s->ex.timed_out));
	json_object_object_add(o, "duration_ms", json_object_new_int64(s->ex.duration_ms));
	jadd_str(o, "output", s->ex.output);
	return o;
}

int vv_snapshot_report_json(const struct vv_snapshot_report *rep, char **out)
{
	struct json_object *o = json_object_new_object(), *ph, *a, *snap;
	const char *text;

	*out = NULL;
	if (!o)
		return -ENOMEM;
	jadd_str(o, "consistency", vv_consistency_name(rep->achieved));
	jadd_str(o, "requested", vv_consistency_name(rep->requested));
	json_object_object_add(o, "exit_status", json_object_new_int(vv_snapshot_exit_status(rep)));
	jadd_str(o, "reason", rep->n_reasons ? rep->reasons[0] : NULL);
	json_object_object_add(o, "reasons", jstrv(rep->reasons, rep->n_reasons));
	json_object_object_add(o, "warnings", jstrv(rep->warnings, rep->n_warnings));

	snap = json_object_new_object();
	json_object_object_add(snap, "attempted", json_object_new_boolean(rep->snapshot_attempted));
	json_object_object_add(snap, "ok", json_object_new_boolean(rep->snapshot_ok));
	json_object_object_add(snap, "status", json_object_new_int(rep->snapshot_exit));
	jadd_str(snap, "error", rep->snapshot_error);
	jadd_str(snap, "id", rep->snapshot_id);
	if (rep->service_result) {
		struct json_object *res = json_tokener_parse(rep->service_result);

		json_object_object_add(snap, "service", res);
	}
	json_object_object_add(o, "snapshot", snap);

	ph = json_object_new_object();
	json_object_object_add(ph, "pre_scripts_ms", json_object_new_int64(rep->pre_ms));
	json_object_object_add(ph, "freeze_ms", json_object_new_int64(rep->freeze_ms));
	json_object_object_add(ph, "flush_ms", json_object_new_int64(rep->flush_ms));
	json_object_object_add(ph, "snapshot_ms", json_object_new_int64(rep->snapshot_ms));
	json_object_object_add(ph, "thaw_ms", json_object_new_int64(rep->thaw_ms));
	json_object_object_add(ph, "post_scripts_ms", json_object_new_int64(rep->post_ms));
	json_object_object_add(ph, "total_ms", json_object_new_int64(rep->total_ms));
	json_object_object_add(o, "phases", ph);
	json_object_object_add(o, "freeze_window_ms", json_object_new_int64(rep->window_ms));
	json_object_object_add(o, "timeout_s", json_object_new_int(rep->timeout_s));
	json_object_object_add(o, "deadline_expired", json_object_new_boolean(rep->deadline_expired));
	jadd_str(o, "thawed_by", rep->thawed_by);

	a = json_object_new_array();
	for (size_t i = 0; i < rep->n_fs; i++)
		json_object_array_add(a, fs_json(&rep->fs[i]));
	json_object_object_add(o, "filesystems", a);
	json_object_object_add(o, "skipped", jstrv(rep->skipped, rep->n_skipped));
	a = json_object_new_array();
	for (size_t i = 0; i < rep->n_scripts; i++)
		json_object_array_add(a, script_json(&rep->scripts[i]));
	json_object_object_add(o, "scripts", a);

	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	*out = text ? strdup(text) : NULL;
	json_object_put(o);
	return *out ? 0 : -ENOMEM;
}

void vv_snapshot_report_line(const struct vv_snapshot_report *rep, char *buf, size_t len)
{
	int n;

	if (rep->achieved == VV_CONS_FAILED)
		n = snprintf(buf, len, "snapshot failed");
	else
		n = snprintf(buf, len, "snapshot taken: %s-consistent",
			     vv_consistency_name(rep->achieved));
	if (n >= 0 && (size_t)n < len && rep->n_fs)
		n += snprintf(buf + n, len - (size_t)n, ", %zu filesystem%s frozen for %lld ms",
			      rep->n_fs, rep->n_fs == 1 ? "" : "s", rep->window_ms);
	if (n >= 0 && (size_t)n < len && rep->n_reasons)
		snprintf(buf + n, len - (size_t)n, " (%s)", rep->reasons[0]);
}

void vv_snapshot_report_text(const struct vv_snapshot_report *rep, FILE *f)
{
	char line[1024];

	vv_snapshot_report_line(rep, line, sizeof(line));
	fprintf(f, "%s\n", line);
	for (size_t i = 1; i < rep->n_reasons; i++)
		fprintf(f, "  also: %s\n", rep->reasons[i]);
	fprintf(f, "  phases: pre-scripts %lld ms, freeze %lld ms (write-back first %lld ms), "
		"snapshot %lld ms, thaw %lld ms, post-scripts %lld ms, total %lld ms\n",
		rep->pre_ms, rep->freeze_ms, rep->flush_ms, rep->snapshot_ms, rep->thaw_ms,
		rep->post_ms, rep->total_ms);
	if (rep->thawed_by)
		fprintf(f, "  thawed by %s; deadline %d s%s\n", rep->thawed_by, rep->timeout_s,
			rep->deadline_expired ? ", expired" : "");
	for (size_t i = 0; i < rep->n_fs; i++) {
		const struct vv_snap_fs *x = &rep->fs[i];

		fprintf(f, "  %-24s %-6s wave %d  %-14s %lld ms (%s)%s%s\n", x->mount, x->fstype,
			x->wave, vv_freeze_state_name(x->state), x->freeze_ms, x->method,
			x->err && x->state != VV_FZ_FROZEN ? ": " : "",
			x->err && x->state != VV_FZ_FROZEN ? strerror(-x->err) : "");
	}
	for (size_t i = 0; i < rep->n_skipped; i++)
		fprintf(f, "  skipped %s\n", rep->skipped[i]);
	for (size_t i = 0; i < rep->n_scripts; i++) {
		const struct vv_snap_script *s = &rep->scripts[i];

		if (s->refused)
			fprintf(f, "  %s %s %s: refused: %s\n", s->phase, s->kind, s->path, s->error);
		else if (s->ex.timed_out)
			fprintf(f, "  %s %s %s: killed at its timeout after %lld ms\n", s->phase,
				s->kind, s->path, s->ex.duration_ms);
		else if (!s->ex.started)
			fprintf(f, "  %s %s %s: could not start: %s\n", s->phase, s->kind, s->path,
				s->error ? s->error : "?");
		else
			fprintf(f, "  %s %s %s: exit %d in %lld ms (%d attempt%s)\n", s->phase,
				s->kind, s->path, s->ex.exit_code, s->ex.duration_ms, s->attempts,
				s->attempts == 1 ? "" : "s");
	}
	for (size_t i = 0; i < rep->n_warnings; i++)
		fprintf(f, "  warning: %s\n", rep->warnings[i]);
}
