// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Guest bench tool: the kernel floor of restore-to-mounted (open_bench).
 * Activates LUKS2 volumes by their volume key and mounts them, JOBS at a
 * time, in one process: what `vaultvol open --all` must do at the least,
 * with the same parallelism (threads taking volumes from one list; like
 * vaultvol, libcryptsetup's calls under one lock, since crypt_init() and
 * crypt_free() move its device-mapper backend's use count without a lock
 * of their own, and mounts in parallel), minus everything vaultvol adds
 * (discovery, tokens, IMDS and the vault, the keyslot's KDF, libmount).
 * libcryptsetup and mount(2) directly, nothing of ours: a floor must not
 * share the code it bounds.
 *
 * Usage: vv-floor [--keyslot] JOBS < LIST
 *	LIST: one volume per line, "DEVICE NAME KEY-FILE MOUNTPOINT FSTYPE";
 *	KEY-FILE holds the volume key, or with --keyslot a keyslot's
 *	passphrase: the volume key is then taken from the keyslot first
 *	(crypt_volume_key_get, outside the lock, as vaultvol derives it), which
 *	is the part of vaultvol's cost that is libcryptsetup's keyslot work
 *	(KDF and anti-forensic merge), not vaultvol's own.
 * Exit status: 0 when every volume is open and mounted, 1 otherwise (each
 * failure on stderr), 2 for usage.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include <libcryptsetup.h>

#define MAX_VOLS 256
#define MAX_JOBS 64

struct vol {
	char dev[256], name[128], keyfile[256], mnt[256], fs[32];
	int rc;
};

struct list {
	bool keyslot;
	struct vol v[MAX_VOLS];
	size_t n, next;
	pthread_mutex_t lock;	/* n, next */
	pthread_mutex_t dm;	/* libcryptsetup */
};

static int read_key(const char *path, char *key, size_t cap, size_t *len)
{
	FILE *f = fopen(path, "re");
	int r = 0;

	if (!f)
		return -errno;
	*len = fread(key, 1, cap, f);
	if (*len == 0 || *len == cap)
		r = -EINVAL;
	fclose(f);
	return r;
}

static int open_one(struct list *l, struct vol *v)
{
	struct crypt_device *cd = NULL;
	char key[256], vk[256], path[300];
	size_t len = 0, vklen = sizeof(vk);
	int r;

	r = read_key(v->keyfile, key, sizeof(key), &len);
	if (r < 0)
		goto out;
	pthread_mutex_lock(&l->dm);
	r = crypt_init(&cd, v->dev);
	if (r == 0)
		r = crypt_load(cd, CRYPT_LUKS2, NULL);
	pthread_mutex_unlock(&l->dm);
	if (r == 0 && l->keyslot) {
		r = crypt_volume_key_get(cd, CRYPT_ANY_SLOT, vk, &vklen, key, len);
		if (r >= 0) {
			memcpy(key, vk, vklen);
			len = vklen;
			r = 0;
		}
	}
	pthread_mutex_lock(&l->dm);
	if (r == 0)
		r = crypt_activate_by_volume_key(cd, v->name, key, len, 0);
	crypt_free(cd);
	pthread_mutex_unlock(&l->dm);
	if (r < 0)
		goto out;
	snprintf(path, sizeof(path), "/dev/mapper/%s", v->name);
	if (mount(path, v->mnt, v->fs, 0, NULL) < 0)
		r = -errno;
out:
	explicit_bzero(key, sizeof(key));
	explicit_bzero(vk, sizeof(vk));
	return r;
}

static void *worker(void *arg)
{
	struct list *l = arg;

	for (;;) {
		struct vol *v = NULL;

		pthread_mutex_lock(&l->lock);
		if (l->next < l->n)
			v = &l->v[l->next++];
		pthread_mutex_unlock(&l->lock);
		if (!v)
			return NULL;
		v->rc = open_one(l, v);
	}
}

int main(int argc, char **argv)
{
	static struct list l = { .lock = PTHREAD_MUTEX_INITIALIZER, .dm = PTHREAD_MUTEX_INITIALIZER };
	pthread_t th[MAX_JOBS];
	int jobs, started = 0, failed = 0;
	char line[1200];

	if (argc == 3 && !strcmp(argv[1], "--keyslot")) {
		l.keyslot = true;
		argv++;
		argc--;
	}
	jobs = argc == 2 ? atoi(argv[1]) : 0;
	if (jobs < 1 || jobs > MAX_JOBS) {
		fprintf(stderr, "usage: vv-floor [--keyslot] JOBS(1-%d) < LIST\n", MAX_JOBS);
		return 2;
	}
	while (fgets(line, sizeof(line), stdin)) {
		struct vol *v = &l.v[l.n];

		if (l.n == MAX_VOLS ||
		    sscanf(line, "%255s %127s %255s %255s %31s", v->dev, v->name, v->keyfile,
			   v->mnt, v->fs) != 5) {
			fprintf(stderr, "vv-floor: bad or too many lines at: %s", line);
			return 2;
		}
		l.n++;
	}
	for (int i = 0; i < jobs; i++)
		if (pthread_create(&th[started], NULL, worker, &l) == 0)
			started++;
	if (!started)
		worker(&l);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	for (size_t i = 0; i < l.n; i++) {
		if (l.v[i].rc < 0) {
			fprintf(stderr, "vv-floor: %s: %s\n", l.v[i].dev, strerror(-l.v[i].rc));
			failed = 1;
		}
	}
	return failed;
}
