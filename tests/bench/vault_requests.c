// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Bench: what N volumes sharing K Key Vault secrets cost, against the fakes.
 *
 * vaultvol: one client for the run, volumes opened in parallel, each secret
 * fetched once (the agent's per-run key table, modelled here), one token,
 * one kept-alive connection. Baseline, measured in the same run: each
 * volume fetches its key on its own (a fresh client per volume, as a
 * per-disk invocation does): N GETs, N tokens, N connections.
 *
 * Usage: vault_requests N K [naive-first]   (run from the repository root;
 * naive-first measures the baseline first, so that rounds can alternate
 * which side meets the freshly started fakes)
 * Prints one JSON row per line: {"name","value","unit","baseline","ratio"}.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/unit/support/fakes_proc.h"
#include "vault/vault.h"

static struct vv_fakes F;

struct counts {
	long gets_ok, get_requests, tokens, connections, imds_connections;
	unsigned challenges, retries;
	double ms;
};

/* The agent's per-run key table: the first volume needing a secret fetches it. */
struct key_slot {
	pthread_mutex_t lock;
	pthread_cond_t done_cv;
	bool started, done;
	struct vv_bek *bek;
	int rc;
};

struct run {
	struct vv_vault *shared;	/* NULL: naive, a client per volume */
	struct vv_vault_config cfg;
	struct key_slot *slots;
	int n, k, failures;
};

struct vol {
	struct run *run;
	int i;
};

static void expected_key(int secret, char *buf, size_t len)
{
	snprintf(buf, len, "passphrase-of-secret-%d", secret);
}

static void *open_volume(void *arg)
{
	struct vol *vol = arg;
	struct run *run = vol->run;
	int s = vol->i % run->k;
	struct vv_bek *bek = NULL;
	struct vv_error err;
	char ref[32], want[64];
	int rc;

	snprintf(ref, sizeof(ref), "bek-%d", s);
	expected_key(s, want, sizeof(want));
	if (run->shared) {
		struct key_slot *slot = &run->slots[s];

		pthread_mutex_lock(&slot->lock);
		if (!slot->started) {
			slot->started = true;
			pthread_mutex_unlock(&slot->lock);
			rc = vv_bek_fetch(run->shared, ref, NULL, &bek, &err);
			pthread_mutex_lock(&slot->lock);
			slot->bek = bek;
			slot->rc = rc;
			slot->done = true;
			pthread_cond_broadcast(&slot->done_cv);
		}
		while (!slot->done)
			pthread_cond_wait(&slot->done_cv, &slot->lock);
		bek = slot->bek;
		rc = slot->rc;
		pthread_mutex_unlock(&slot->lock);
		if (rc == 0 && (bek->key->len != strlen(want) ||
				memcmp(bek->key->data, want, strlen(want))))
			rc = -EBADMSG;
	} else {
		struct vv_vault *v = NULL;

		rc = vv_vault_new(&run->cfg, &v);
		if (rc == 0)
			rc = vv_bek_fetch(v, ref, NULL, &bek, &err);
		if (rc == 0 && (bek->key->len != strlen(want) ||
				memcmp(bek->key->data, want, strlen(want))))
			rc = -EBADMSG;
		vv_bek_free(bek);
		vv_vault_free(v);
	}
	if (rc < 0) {
		fprintf(stderr, "volume %d (%s): %s\n", vol->i, ref,
			rc == -EBADMSG ? "wrong key" : err.message);
		__atomic_add_fetch(&run->failures, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int measure(struct run *run, struct counts *c)
{
	pthread_t *th = calloc((size_t)run->n, sizeof(*th));
	struct vol *vols = calloc((size_t)run->n, sizeof(*vols));
	struct vv_vault_stats st = { 0 };
	double t0;

	if (!th || !vols || vv_fakes_ctl_ok(&F, "reset_counters", NULL) < 0)
		return -1;
	t0 = now_ms();
	for (int i = 0; i < run->n; i++) {
		vols[i] = (struct vol){ run, i };
		if (pthread_create(&th[i], NULL, open_volume, &vols[i]))
			return -1;
	}
	for (int i = 0; i < run->n; i++)
		pthread_join(th[i], NULL);
	c->ms = now_ms() - t0;
	if (run->shared)
		vv_vault_get_stats(run->shared, &st);
	c->challenges = st.challenges;
	c->retries = st.retries;
	c->gets_ok = vv_fakes_counter(&F, "primary.get_secret.ok");
	c->get_requests = vv_fakes_counter(&F, "primary.get_secret");
	c->tokens = vv_fakes_counter(&F, "imds.token");
	c->connections = vv_fakes_counter(&F, "primary.connections");
	c->imds_connections = vv_fakes_counter(&F, "imds.connections");
	free(th);
	free(vols);
	return run->failures ? -1 : 0;
}

static void row(const char *what, int n, int k, double value, double baseline,
		const char *unit, const char *extra)
{
	printf("{\"name\":\"vault %s, %d volumes / %d secrets\",\"value\":%g,\"unit\":\"%s\","
	       "\"baseline\":%g,\"ratio\":%.3f%s}\n", what, n, k, value, unit, baseline,
	       baseline ? value / baseline : 0.0, extra ? extra : "");
}

int main(int argc, char **argv)
{
	static const char *const fake_args[] = { "--no-limits", NULL };
	int n = argc > 1 ? atoi(argv[1]) : 16, k = argc > 2 ? atoi(argv[2]) : 4;
	bool naive_first = argc > 3 && !strcmp(argv[3], "naive-first");
	struct run shared = { 0 }, naive = { 0 };
	struct counts a = { 0 }, b = { 0 };
	char extra[512];
	int rc = 1;

	if (n < 1 || k < 1 || k > n) {
		fprintf(stderr, "usage: vault_requests N K (1 <= K <= N)\n");
		return 2;
	}
	if (vv_fakes_start(&F, fake_args) < 0) {
		fprintf(stderr, "cannot start the fakes\n");
		return 1;
	}
	for (int s = 0; s < k; s++) {
		char want[64];

		expected_key(s, want, sizeof(want));
		if (vv_fakes_ctl_ok(&F, "put_bek", "{\"name\":\"bek-%d\",\"key\":\"%s\"}", s, want) < 0)
			goto out;
	}
	shared.cfg = (struct vv_vault_config){
		.vault_url = F.kv_url, .imds_url = F.imds_url, .ca_file = F.ca,
	};
	naive.cfg = shared.cfg;
	shared.n = naive.n = n;
	shared.k = naive.k = k;
	shared.slots = calloc((size_t)k, sizeof(*shared.slots));
	if (!shared.slots || vv_vault_new(&shared.cfg, &shared.shared) < 0)
		goto out;
	for (int s = 0; s < k; s++) {
		pthread_mutex_init(&shared.slots[s].lock, NULL);
		pthread_cond_init(&shared.slots[s].done_cv, NULL);
	}
	if (naive_first ? measure(&naive, &b) < 0 || measure(&shared, &a) < 0 :
			  measure(&shared, &a) < 0 || measure(&naive, &b) < 0) {
		fprintf(stderr, "a volume did not get its key\n");
		goto out;
	}
	fprintf(stderr, "vaultvol: %ld GETs ok (%ld GET requests incl. %u challenge), %ld tokens, "
		"%ld vault connections, %ld IMDS connections, %.1f ms\n",
		a.gets_ok, a.get_requests, a.challenges, a.tokens, a.connections,
		a.imds_connections, a.ms);
	fprintf(stderr, "baseline: %ld GETs ok (%ld GET requests), %ld tokens, %ld vault connections, "
		"%ld IMDS connections, %.1f ms\n", b.gets_ok, b.get_requests, b.tokens,
		b.connections, b.imds_connections, b.ms);
	snprintf(extra, sizeof(extra),
		 ",\"counts\":{\"secret_gets\":%ld,\"get_requests\":%ld,\"challenges\":%u,"
		 "\"tokens\":%ld,\"connections\":%ld},\"baseline_counts\":{\"secret_gets\":%ld,"
		 "\"get_requests\":%ld,\"tokens\":%ld,\"connections\":%ld}",
		 a.gets_ok, a.get_requests, a.challenges, a.tokens, a.connections,
		 b.gets_ok, b.get_requests, b.tokens, b.connections);
	row("cost (secret GETs + tokens + connections)", n, k,
	    (double)(a.gets_ok + a.tokens + a.connections),
	    (double)(b.gets_ok + b.tokens + b.connections), "count", extra);
	row("secret GETs", n, k, (double)a.gets_ok, (double)b.gets_ok, "count", NULL);
	row("token fetches", n, k, (double)a.tokens, (double)b.tokens, "count", NULL);
	row("connections", n, k, (double)a.connections, (double)b.connections, "count", NULL);
	row("key fetch time", n, k, a.ms, b.ms, "ms", NULL);
	rc = 0;
out:
	if (shared.slots) {
		for (int s = 0; s < k; s++) {
			vv_bek_free(shared.slots[s].bek);
			pthread_mutex_destroy(&shared.slots[s].lock);
			pthread_cond_destroy(&shared.slots[s].done_cv);
		}
		free(shared.slots);
	}
	vv_vault_free(shared.shared);
	vv_fakes_stop(&F);
	return rc;
}
