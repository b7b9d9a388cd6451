// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `vaultvol snapshot --service` against tests/fakes/backup_service.py on
 * 127.0.0.1 (freeze ops that only log): the three requests and their
 * bodies (key references, never keys), idempotent retries, refusals,
 * failures and a service slower than the deadline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <signal.h>
#include <sys/wait.h>

#include "agent/snapshot/backup_service.h"
#include "agent/snapshot/snapshot.h"
#include "tests/unit/snap_test_util.h"

static const char *mountinfo_text =
	"20 1 253:0 / / rw - ext4 /dev/mapper/root rw\n"
	"21 20 253:1 / /data rw - ext4 /dev/mapper/data rw\n";

static char g_log[128];

static int fake_freeze(struct vv_freeze_target *t, unsigned timeout_ms)
{
	FILE *f = fopen(g_log, "a");

	(void)timeout_ms;
	if (f) {
		fprintf(f, "F %s\n", t->fs->target);
		fclose(f);
	}
	return 0;
}

static int fake_thaw(struct vv_freeze_target *t, int *count)
{
	FILE *f = fopen(g_log, "a");

	if (f) {
		fprintf(f, "T %s\n", t->fs->target);
		fclose(f);
	}
	*count = 1;
	return 0;
}

static const struct vv_freeze_ops fake_ops = {
	.name = "fake", .freeze = fake_freeze, .thaw = fake_thaw,
};

static int fake_key_refs(void *ctx, const char *name, const char *lower, char **key,
			 char **kek, char **alg)
{
	(void)ctx;
	(void)lower;
	if (strcmp(name, "data"))
		return -ENOENT;
	*key = strdup("keystore:datavol/3");
	*kek = strdup("https://v.vault.azure.net/keys/kek/1");
	*alg = strdup("RSA-OAEP");
	return 0;
}

struct fx {
	char dir[64];
	char mountinfo[128], sysfs[128], state[128], dump[160], url[64];
	pid_t fake;
	struct vv_snapshot_opts o;
	struct vv_snapshot_report rep;
	char *cmd[2];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char *sys;

	snprintf(f->dir, sizeof(f->dir), "/tmp/vv-svc-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snap_write(f->dir, "mountinfo", 0644, "%s", mountinfo_text);
	snprintf(f->mountinfo, sizeof(f->mountinfo), "%s/mountinfo", f->dir);
	snprintf(f->sysfs, sizeof(f->sysfs), "%s/sys", f->dir);
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	snprintf(f->dump, sizeof(f->dump), "%s/dump.jsonl", f->dir);
	snprintf(g_log, sizeof(g_log), "%s/log", f->dir);
	/* /data on a quiesce mapping over a LUKS2 crypt mapping over vdb. */
	sys = f->sysfs;
	snap_write(sys, "devices/virtual/block/dm-1/dm/name", 0644, "data\n");
	snap_write(sys, "devices/virtual/block/dm-1/dm/uuid", 0644, "VAULTVOL-QUIESCE-data\n");
	snap_write(sys, "devices/virtual/block/dm-0/dm/name", 0644, "data-vvcrypt\n");
	snap_write(sys, "devices/virtual/block/dm-0/dm/uuid", 0644,
		   "CRYPT-LUKS2-00112233445566778899aabbccddeeff-data-vvcrypt\n");
	snap_symlink(sys, "devices/virtual/block/dm-1/slaves/dm-0", "../../dm-0");
	snap_symlink(sys, "devices/virtual/block/dm-0/slaves/vdb", "../../../../pci0/block/vdb");
	snap_mkdirs(sys, "devices/pci0/block/vdb");
	snap_symlink(sys, "dev/block/253:1", "../../devices/virtual/block/dm-1");
	f->o.timeout_s = 10;
	f->o.state_dir = f->state;
	f->o.plugin_config = "";
	f->o.requested = VV_CONS_FS;
	f->o.mountinfo = f->mountinfo;
	f->o.sysfs = f->sysfs;
	f->o.ops_override = &fake_ops;
	f->o.key_refs = fake_key_refs;
	f->fake = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f->fake > 0) {
		kill(f->fake, SIGTERM);
		waitpid(f->fake, NULL, 0);
	}
	vv_snapshot_report_free(&f->rep);
	snap_rm_rf(f->dir);
	free(f);
	return 0;
}

/* Start the fake with extra arguments (NULL-terminated); sets f->url. */
static void start_fake(struct fx *f, ...)
{
	char script[PATH_MAX], portfile[160], copycmd[256];
	const char *argv[32];
	int n = 0;
	va_list ap;
	const char *a;

	snprintf(script, sizeof(script), "%s/tests/fakes/backup_service.py",
		 getenv("VV_SRCDIR") ? getenv("VV_SRCDIR") : ".");
	snprintf(portfile, sizeof(portfile), "%s/port", f->dir);
	snprintf(copycmd, sizeof(copycmd), "echo copy-$SNAPSHOT_SEQ >> %s", g_log);
	argv[n++] = "python3";
	argv[n++] = script;
	argv[n++] = "--port";
	argv[n++] = "0";
	argv[n++] = "--port-file";
	argv[n++] = portfile;
	argv[n++] = "--dump";
	argv[n++] = f->dump;
	argv[n++] = "--copy-cmd";
	argv[n++] = copycmd;
	va_start(ap, f);
	while ((a = va_arg(ap, const char *)) && n < 30)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	f->fake = fork();
	assert_true(f->fake >= 0);
	if (f->fake == 0) {
		execvp("python3", (char **)argv);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		char *p = snap_read(portfile);

		if (p) {
			snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d/", atoi(p));
			free(p);
			f->o.service_url = f->url;
			return;
		}
		usleep(50 * 1000);
	}
	fail_msg("backup_service.py did not start");
}

/* The n-th dumped request of a kind/path suffix, parsed; NULL if none. */
static struct json_object *dumped(struct fx *f, const char *kind, const char *suffix)
{
	char *text = snap_read(f->dump), *save = NULL, *line;
	struct json_object *found = NULL;

	if (!text)
		return NULL;
	for (line = strtok_r(text, "\n", &save); line && !found; line = strtok_r(NULL, "\n", &save)) {
		struct json_object *o = json_tokener_parse(line), *k, *p;
		size_t pl, sl = strlen(suffix);

		if (o && json_object_object_get_ex(o, "kind", &k) &&
		    json_object_object_get_ex(o, "path", &p) &&
		    !strcmp(json_object_get_string(k), kind) &&
		    (pl = strlen(json_object_get_string(p))) >= sl &&
		    !strcmp(json_object_get_string(p) + pl - sl, suffix)) {
			struct json_object *b;

			json_object_object_get_ex(o, "body", &b);
			found = json_object_get(b);
		}
		json_object_put(o);
	}
	free(text);
	return found;
}

static const char *jpath(struct json_object *o, const char *a, const char *b)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, a, &v))
		return NULL;
	if (b && !json_object_object_get_ex(v, b, &v))
		return NULL;
	return json_object_get_string(v);
}

static void test_service_round_trip(void **state)
{
	struct fx *f = *state;
	struct json_object *prep, *take, *rep, *fss, *fs0, *enc;
	char *log;

	start_fake(f, NULL);
	assert_int_equal(vv_snapshot_run(&f->o, &f->rep), 0);
	assert_int_equal(f->rep.achieved, VV_CONS_FS);
	assert_true(f->rep.snapshot_ok);
	assert_string_equal(f->rep.snapshot_id, "snap-1");
	assert_non_null(f->rep.service_result);
	log = snap_read(g_log);
	/* Copy while frozen: after every freeze, before any thaw. */
	assert_true(strstr(log, "F /\n") < strstr(log, "copy-1"));
	assert_true(strstr(log, "copy-1") < strstr(log, "T /\n"));
	free(log);

	prep = dumped(f, "POST", "/snapshots");
	assert_non_null(prep);
	assert_int_equal(strlen(jpath(prep, "request_id", NULL)), 32);
	assert_string_equal(jpath(prep, "requested", NULL), "filesystem");
	assert_true(json_object_object_get_ex(prep, "filesystems", &fss));
	assert_int_equal(json_object_array_length(fss), 2);
	fs0 = json_object_array_get_idx(fss, 0);
	assert_string_equal(jpath(fs0, "mount", NULL), "/data");
	assert_true(json_object_object_get_ex(fs0, "encryption", &enc));
	assert_string_equal(jpath(enc, "volume", NULL), "data");
	assert_string_equal(jpath(enc, "crypt_mapper", NULL), "data-vvcrypt");
	assert_string_equal(jpath(enc, "device", NULL), "/dev/vdb");
	assert_string_equal(jpath(enc, "format", NULL), "LUKS2");
	assert_string_equal(jpath(enc, "key", NULL), "keystore:datavol/3");
	assert_string_equal(jpath(enc, "kek", NULL), "https://v.vault.azure.net/keys/kek/1");
	{
		struct json_object *disks, *layers;

		assert_true(json_object_object_get_ex(fs0, "disks", &disks));
		assert_int_equal(json_object_array_length(disks), 1);
		assert_string_equal(json_object_get_string(json_object_array_get_idx(disks, 0)), "vdb");
		assert_true(json_object_object_get_ex(fs0, "layers", &layers));
		assert_int_equal(json_object_array_length(layers), 3);
		assert_string_equal(jpath(json_object_array_get_idx(layers, 1), "type", NULL), "crypt");
	}
	/* The root filesystem: no encryption layer known. */
	assert_true(json_object_object_get_ex(json_object_array_get_idx(fss, 1), "encryption", &enc));
	assert_null(enc);
	json_object_put(prep);

	take = dumped(f, "POST", "/snapshots/snap-1/take");
	assert_non_null(take);
	assert_true(json_object_object_get_ex(take, "frozen", &fss));
	assert_int_equal(json_object_array_length(fss), 2);
	assert_string_equal(jpath(take, "consistency", NULL), "filesystem");
	json_object_put(take);

	rep = dumped(f, "PUT", "/snapshots/snap-1/report");
	assert_non_null(rep);
	assert_string_equal(jpath(rep, "consistency", NULL), "filesystem");
	assert_string_equal(jpath(rep, "snapshot", "id"), "snap-1");
	json_object_put(rep);

	/* A second snapshot gets a new id. */
	vv_snapshot_report_free(&f->rep);
	assert_int_equal(vv_snapshot_run(&f->o, &f->rep), 0);
	assert_string_equal(f->rep.snapshot_id, "snap-2");
}

static void test_prepare_refused_freezes_nothing(void **state)
{
	struct fx *f = *state;
	char *log;

	start_fake(f, "--prepare-status", "403", NULL);
	assert_int_equal(vv_snapshot_run(&f->o, &f->rep), 0);
	assert_int_equal(f->rep.achieved, VV_CONS_FAILED);
	assert_false(f->rep.snapshot_attempted);
	assert_non_null(strstr(f->rep.reasons[0], "HTTP 403"));
	log = snap_read(g_log);
	assert_null(log);
}

static void test_take_failure_and_status(void **state)
{
	struct fx *f = *state;

	start_fake(f, "--take-status", "500", NULL);
	assert_int_equal(vv_snapshot_run(&f->o, &f->rep), 0);
	assert_int_equal(f->rep.achieved, VV_CONS_FAILED);
	assert_int_equal(f->rep.snapshot_exit, 500);
	assert_non_null(strstr(f->rep.snapshot_error, "HTTP 500"));
	assert_int_equal(vv_snapshot_exit_status(&f->rep), 1);
}

static void test_slow_service_hits_deadline(void **state)
{
	struct fx *f = *state;
	long long t0 = snap_mono_ms();
	char *log;

	start_fake(f, "--take-delay", "4", NULL);
	f->o.timeout_s = 1;
	assert_int_equal(vv_snapshot_run(&f->o, &f->rep), 0);
	/* The agent gave up before the deadline and thawed. */
	assert_true(snap_mono_ms() - t0 < 4000);	/* not the service's 4 s */
	assert_int_equal(f->rep.achieved, VV_CONS_FAILED);
	assert_non_null(strstr(f->rep.snapshot_error, "deadline"));
	assert_true(f->rep.window_ms < 4000);	/* ended by the 1 s deadline, not the answer */
	log = snap_read(g_log);
	assert_non_null(strstr(log, "T /data"));
	free(log);
}

static void test_service_shortens_timeout(void **state)
{
	struct fx *f = *state;

	start_fake(f, "--max-timeout-ms", "3000", NULL);
	f->o.timeout_s = 30;
	assert_int_equal(vv_snapshot_run(&f->o, &f->rep), 0);
	assert_true(f->rep.snapshot_ok);
	assert_int_equal(f->rep.timeout_s, 3);
}

static void test_second_prepare_while_busy(void **state)
{
	struct fx *f = *state;
	struct vv_error why = { 0 };
	char *id = NULL, *id2 = NULL, *body;
	struct vv_bsvc *s;
	long t = 10000;

	start_fake(f, NULL);
	assert_int_equal(vv_bsvc_open(f->url, NULL, &s, &why), 0);
	body = strdup("{\"protocol\":1,\"request_id\":\"aaaa\",\"filesystems\":[]}");
	assert_int_equal(vv_bsvc_prepare(s, body, &id, &t, &why), 0);
	/* The same request again (a retry): the same snapshot. */
	assert_int_equal(vv_bsvc_prepare(s, body, &id2, &t, &why), 0);
	assert_string_equal(id, id2);
	free(id2);
	free(body);
	/* Another request while that one is open: 409. */
	body = strdup("{\"protocol\":1,\"request_id\":\"bbbb\",\"filesystems\":[]}");
	assert_int_equal(vv_bsvc_prepare(s, body, &id2, &t, &why), -EBUSY);
	assert_non_null(strstr(why.message, "409"));
	free(body);
	free(id);
	vv_bsvc_close(s);
}

static void test_url_rules(void **state)
{
	struct vv_bsvc *s = NULL;
	struct vv_error why = { 0 };

	(void)state;
	assert_true(vv_url_is_loopback("http://127.0.0.1:8480/"));
	assert_true(vv_url_is_loopback("http://127.3.4.5/x"));
	assert_true(vv_url_is_loopback("http://localhost:1/"));
	assert_true(vv_url_is_loopback("http://[::1]:8480/"));
	assert_false(vv_url_is_loopback("http://10.0.0.1/"));
	assert_false(vv_url_is_loopback("http://example.com/"));
	assert_false(vv_url_is_loopback("http://127.0.0.1.example.com/"));
	assert_int_equal(vv_bsvc_open("http://example.com/", NULL, &s, &why), -EINVAL);
	assert_non_null(strstr(why.message, "loopback"));
	assert_int_equal(vv_bsvc_open("ftp://127.0.0.1/", NULL, &s, &why), -EINVAL);
	assert_int_equal(vv_bsvc_open("https://backup.example.com/", NULL, &s, &why), 0);
	vv_bsvc_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_service_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prepare_refused_freezes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_take_failure_and_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_service_hits_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_service_shortens_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_prepare_while_busy, setup, teardown),
		cmocka_unit_test(test_url_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
