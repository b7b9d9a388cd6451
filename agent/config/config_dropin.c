// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Drop-ins beside the config file (conf.d/NAME.conf, the systemd convention)
 * and the vault allow-list they carry. provision, adopt and rotate write
 * one per vault they used, so the allow-list travels with the OS disk: a VM
 * restored from backup trusts the vaults its volumes were made with, and a
 * disk's own token can never add one.
 */
#include "agent/config/config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/writefile.h"
#include "vault/vault.h"

int vv_config_dropin_dir(const char *config_path, char *out, size_t outlen)
{
	const char *p = config_path ? config_path : VV_DEFAULT_CONFIG;
	const char *slash = strrchr(p, '/');
	int n;

	if (!slash)
		n = snprintf(out, outlen, "conf.d");
	else
		n = snprintf(out, outlen, "%.*s/conf.d", (int)(slash - p), p);
	return n > 0 && (size_t)n < outlen ? 0 : -ENAMETOOLONG;
}

/* Take what a drop-in says: later files win for single values, lists grow. */
static int take_str(char **dst, char **src)
{
	if (!*src)
		return 0;
	free(*dst);
	*dst = *src;
	*src = NULL;
	return 0;
}

static int merge(struct vv_config *cfg, struct vv_config *d, const char *path,
		 struct vv_error *err)
{
	struct vv_config_vault *a = &cfg->vault, *b = &d->vault;
	struct vv_volume_conf *nv;

	if (d->snapshot.nexclude || d->snapshot.scripts_config || d->snapshot.hooks_dir ||
	    d->snapshot.timeout_s != VV_SNAPSHOT_DEFAULT_TIMEOUT_S)
		return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
			       "%s: [snapshot] belongs in the main config file", path);
	for (size_t i = 0; i < d->nvolumes; i++) {
		const struct vv_volume_conf *old = vv_config_volume(cfg, d->volumes[i].name);

		if (old)
			return vv_fail(err, -EINVAL, VV_CAUSE_CONFIG,
				       "%s: [volume %s] is already described at %s",
				       d->volumes[i].where ? d->volumes[i].where : path,
				       d->volumes[i].name, old->where ? old->where : "?");
	}
	for (size_t i = 0; i < b->nallowed; i++) {
		int r = vv_config_add_allowed(a, b->allowed[i], err, path, 0);

		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < b->nmoves; i++) {
		char line[2 * VV_ORIGIN_MAX + 2];
		int r;

		snprintf(line, sizeof(line), "%s %s", b->moves[i].from, b->moves[i].to);
		r = vv_config_add_moved(a, line, err, path, 0);
		if (r < 0)
			return r;
	}
	take_str(&a->url, &b->url);
	take_str(&a->secondary, &b->secondary);
	take_str(&a->imds, &b->imds);
	take_str(&a->ca_file, &b->ca_file);
	take_str(&a->identity_kind, &b->identity_kind);
	take_str(&a->identity_value, &b->identity_value);
	take_str(&a->aad_tenant, &b->aad_tenant);
	take_str(&a->aad_authority, &b->aad_authority);
	take_str(&a->aad_client_id, &b->aad_client_id);
	take_str(&a->aad_secret_file, &b->aad_secret_file);
	take_str(&a->aad_cert_file, &b->aad_cert_file);
	take_str(&a->keystore, &b->keystore);
	if (b->timeout_s)
		a->timeout_s = b->timeout_s;
	/* [revocation]: what a drop-in says wins, key by key. */
	if (d->revocation.given & VV_REV_SET_ENFORCE)
		cfg->revocation.enforce = d->revocation.enforce;
	if (d->revocation.given & VV_REV_SET_CHECK)
		cfg->revocation.check_s = d->revocation.check_s;
	if (d->revocation.given & VV_REV_SET_GRACE)
		cfg->revocation.grace_s = d->revocation.grace_s;
	cfg->revocation.given |= d->revocation.given;
	/* [open] token_options_allowed: a list, it grows like allowed. */
	cfg->token_options_allowed |= d->token_options_allowed;
	if (!d->nvolumes)
		return 0;
	nv = realloc(cfg->volumes, (cfg->nvolumes + d->nvolumes) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	cfg->volumes = nv;
	memcpy(nv + cfg->nvolumes, d->volumes, d->nvolumes * sizeof(*nv));
	cfg->nvolumes += d->nvolumes;
	d->nvolumes = 0;	/* moved: d must not free them */
	return 0;
}

static int dropin_filter(const struct dirent *e)
{
	return e->d_name[0] != '.' && !fnmatch("*.conf", e->d_name, 0);
}

/* The directory decides what is trusted too: it must be as protected as its files. */
static int check_dir(const char *dir, struct vv_error *err)
{
	struct stat st;

	if (lstat(dir, &st) < 0)
		return errno == ENOENT ? 1 : -errno;
	if (!S_ISDIR(st.st_mode))
		return vv_fail(err, -ENOTDIR, VV_CAUSE_CONFIG, "%s: not a directory", dir);
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return vv_fail(err, -EPERM, VV_CAUSE_CONFIG,
			       "%s: owned by uid %u, must be owned by root", dir,
			       (unsigned)st.st_uid);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return vv_fail(err, -EPERM, VV_CAUSE_CONFIG,
			       "%s: writable by group or others (mode %04o); run: chmod go-w %s",
			       dir, (unsigned)(st.st_mode & 07777), dir);
	return 0;
}

int vv_config_load(const char *path, struct vv_config **out, struct vv_error *err)
{
	bool is_default = !path || !strcmp(path, VV_DEFAULT_CONFIG);
	struct vv_config *cfg = NULL, *d = NULL;
	struct dirent **ents = NULL;
	char dir[PATH_MAX], file[PATH_MAX + 256];
	int n = 0, r;

	r = vv_config_load_file(path, !is_default, &cfg, err);
	if (r < 0)
		return r;
	r = vv_config_dropin_dir(path, dir, sizeof(dir));
	if (r < 0)
		goto out;
	r = check_dir(dir, err);
	if (r) {
		if (r == 1)
			r = 0;	/* no drop-ins */
		else if (err && !err->message[0])
			vv_fail(err, r, VV_CAUSE_SYSTEM, "%s: %s", dir, strerror(-r));
		goto out;
	}
	n = scandir(dir, &ents, dropin_filter, alphasort);
	if (n < 0) {
		r = vv_fail(err, -errno, VV_CAUSE_SYSTEM, "%s: %s", dir, strerror(errno));
		n = 0;
		goto out;
	}
	for (int i = 0; i < n && !r; i++) {
		snprintf(file, sizeof(file), "%s/%s", dir, ents[i]->d_name);
		r = vv_config_load_file(file, true, &d, err);
		if (!r)
			r = merge(cfg, d, file, err);
		vv_config_free(d);
		d = NULL;
	}
out:
	for (int i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	if (r < 0) {
		vv_config_free(cfg);
		return r;
	}
	*out = cfg;
	return 0;
}

static bool trusted_by(const struct vv_config *cfg, const char *origin)
{
	char o[VV_ORIGIN_MAX];

	if (!cfg)
		return false;
	if ((cfg->vault.url && !vv_origin(cfg->vault.url, o, sizeof(o)) && !strcmp(o, origin)) ||
	    (cfg->vault.secondary && !vv_origin(cfg->vault.secondary, o, sizeof(o)) &&
	     !strcmp(o, origin)))
		return true;
	for (size_t i = 0; i < cfg->vault.nallowed; i++)
		if (!strcmp(cfg->vault.allowed[i], origin))
			return true;
	/*
	 * Not a `moved` target: that line is a bridge an operator removes once
	 * the tokens name the new vault (adopt --rewrite), and a token written
	 * now names that vault directly, so it needs its own allow-list entry.
	 */
	return false;
}

/* mkdir that leaves an existing directory alone; 0755 like /etc's. */
static int mkdir_one(const char *d)
{
	return mkdir(d, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

int vv_config_trust_vault(const char *config_path, const struct vv_config *cfg,
			  const char *ref, struct vv_error *err)
{
	char o[VV_ORIGIN_MAX], dir[PATH_MAX], parent[PATH_MAX], name[PATH_MAX + VV_ORIGIN_MAX + 32];
	char text[2 * VV_ORIGIN_MAX + 256], stamp[64];
	const char *host;
	time_t now = time(NULL);
	size_t len;
	char *slash;
	int r;

	if (!ref || strncmp(ref, "https://", 8) || vv_origin(ref, o, sizeof(o)) < 0 ||
	    trusted_by(cfg, o))
		return 0;
	r = vv_config_dropin_dir(config_path, dir, sizeof(dir));
	if (r < 0)
		goto fail;
	snprintf(parent, sizeof(parent), "%s", dir);
	slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		if ((r = mkdir_one(parent)) < 0)
			goto fail;
	}
	if ((r = mkdir_one(dir)) < 0)
		goto fail;
	/* The origin is a checked DNS name and port: safe as a file name. */
	host = o + 8;
	snprintf(name, sizeof(name), "%s/50-vault-%s.conf", dir, host);
	for (char *c = strrchr(name, '/') + 1; *c; c++)
		if (*c == ':')
			*c = '-';
	strftime(stamp, sizeof(stamp), "%Y-%m-%d", gmtime(&now));
	len = (size_t)snprintf(text, sizeof(text),
			       "# Written by vaultvol on %s: volumes on this machine keep their\n"
			       "# keys in this vault, so it is trusted (docs/security.md).\n"
			       "[vault]\nallowed = %s\n", stamp, o);
	r = vv_file_write_atomic(AT_FDCWD, name, text, len, 0644, 0, NULL);
	if (r < 0)
		goto fail;
	return 0;
fail:
	return vv_fail(err, r, VV_CAUSE_SYSTEM,
		       "cannot write the vault allow-list drop-in for %s in %s: %s",
		       o, dir, strerror(-r));
}
