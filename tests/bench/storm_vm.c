// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * One simulated VM of the restore storm (tests/bench/storm.py): resolves
 * its volumes' keys with the product's key-resolution code, as `vaultvol
 * open --all` does (agent/open/open_run.c): one vault client for the run,
 * a worker thread per volume, vv_bek_fetch() per key reference (IMDS token
 * for the VM's own identity, the 401 challenge, GET secret, unwrapkey with
 * the KEK the secret's tags name). No volume, no device-mapper.
 *
 * Usage: storm_vm VM VAULT_URL IMDS_URL CA CLIENT_ID START_MS MAX_RETRIES REF...
 *   START_MS: CLOCK_MONOTONIC ms to start at (the storm's common start).
 *   Each REF's key must be "storm-key-REF".
 * Prints one JSON line: {"vm","ok","done_ms","retries","tokens","failed"}.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vault/vault.h"

#define MAX_REFS 16

struct job {
	struct vv_vault *v;
	const char *ref;
	int rc;
	char why[200];
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *fetch(void *arg)
{
	struct job *j = arg;
	struct vv_bek *bek = NULL;
	struct vv_error err;
	char want[128];

	snprintf(want, sizeof(want), "storm-key-%s", j->ref);
	j->rc = vv_bek_fetch(j->v, j->ref, NULL, &bek, &err);
	if (j->rc < 0)
		snprintf(j->why, sizeof(j->why), "%.190s", err.message);
	else if (bek->key->len != strlen(want) || memcmp(bek->key->data, want, strlen(want)))
		j->rc = -EBADMSG;
	vv_bek_free(bek);
	return NULL;
}

int main(int argc, char **argv)
{
	struct vv_vault_config cfg = { 0 };
	struct vv_vault_stats st = { 0 };
	struct job jobs[MAX_REFS];
	pthread_t tids[MAX_REFS];
	struct vv_vault *v = NULL;
	const char *allowed[2] = { NULL, NULL };
	long long start;
	int n, failed = 0;

	if (argc < 9 || argc - 8 > MAX_REFS) {
		fprintf(stderr, "usage: storm_vm VM VAULT_URL IMDS_URL CA CLIENT_ID START_MS "
			"MAX_RETRIES REF...\n");
		return 2;
	}
	n = argc - 8;
	cfg.vault_url = argv[2];
	allowed[0] = argv[2];
	cfg.allowed_urls = allowed;
	cfg.imds_url = argv[3];
	cfg.ca_file = argv[4];
	cfg.identity_kind = "client_id";
	cfg.identity_value = argv[5];
	cfg.max_retries = atoi(argv[7]);	/* 0: the product's default */
	start = atoll(argv[6]);
	if (vv_vault_new(&cfg, &v) < 0) {
		fprintf(stderr, "vm %s: vault client\n", argv[1]);
		return 1;
	}
	while (now_ms() < start) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
	for (int i = 0; i < n; i++) {
		jobs[i] = (struct job){ .v = v, .ref = argv[8 + i] };
		if (pthread_create(&tids[i], NULL, fetch, &jobs[i]))
			jobs[i].rc = -EAGAIN;
	}
	for (int i = 0; i < n; i++) {
		if (jobs[i].rc != -EAGAIN)
			pthread_join(tids[i], NULL);
		if (jobs[i].rc < 0) {
			failed++;
			fprintf(stderr, "vm %s %s: %s\n", argv[1], jobs[i].ref,
				jobs[i].rc == -EBADMSG ? "wrong key" : jobs[i].why);
		}
	}
	vv_vault_get_stats(v, &st);
	printf("{\"vm\":%s,\"ok\":%s,\"done_ms\":%lld,\"retries\":%u,\"tokens\":%u,\"failed\":%d}\n",
	       argv[1], failed ? "false" : "true", now_ms(), st.retries, st.token_requests, failed);
	vv_vault_free(v);
	return failed ? 1 : 0;
}
