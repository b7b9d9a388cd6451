// SPDX-License-Identifier: GPL-2.0-or-later
/* ADE state (azure_crypt_mount, crypttab + fstab) read as volume config. */
#include "agent/config/config_ade.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/readfile.h"

/* crypttab, fstab and azure_crypt_mount are a few lines; more is not ADE state. */
#define ADE_FILE_MAX (1024 * 1024)
#define AZURE_LUN_DIR "/dev/disk/azure/scsi1/lun"

int vv_ade_device_match(const char *device, struct vv_match *m)
{
	char buf[PATH_MAX], why[256];
	const char *p;

	memset(m, 0, sizeof(*m));
	if (!strncmp(device, "UUID=", 5) || !strncmp(device, "/dev/disk/by-uuid/", 18)) {
		p = device[0] == 'U' ? device + 5 : device + 18;
		snprintf(buf, sizeof(buf), "uuid:%s", p);
		return vv_match_parse(buf, m, why, sizeof(why));
	}
	if (!strncmp(device, AZURE_LUN_DIR, strlen(AZURE_LUN_DIR))) {
		snprintf(buf, sizeof(buf), "lun:%s", device + strlen(AZURE_LUN_DIR));
		return vv_match_parse(buf, m, why, sizeof(why));
	}
	if (!strncmp(device, "PARTUUID=", 9))
		snprintf(buf, sizeof(buf), "path:/dev/disk/by-partuuid/%s", device + 9);
	else if (!strncmp(device, "LABEL=", 6))
		snprintf(buf, sizeof(buf), "path:/dev/disk/by-label/%s", device + 6);
	else if (!strncmp(device, "/dev/disk/", 10))
		snprintf(buf, sizeof(buf), "path:%s", device);
	else if (!strncmp(device, "/dev/", 5) && device[5] && !strchr(device + 5, ' ')) {
		m->kind = VV_MATCH_DEVNAME;
		m->value = strdup(device);
		return m->value ? 0 : -ENOMEM;
	} else
		return -EINVAL;
	return vv_match_parse(buf, m, why, sizeof(why));
}

/* A plain file name on the BEK volume: no directory part. */
static bool bek_name_ok(const char *name)
{
	return *name && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..");
}

/* Open a state file; NULL with errno ENOENT when absent. Unsafe files fail. */
static FILE *open_state(const char *path, int *r, struct vv_error *err)
{
	struct vv_error e = { 0 };
	struct stat st;
	FILE *f;
	int fd;

	*r = 0;
	fd = vv_file_open_checked(AT_FDCWD, path, VV_RF_TRUSTED, ADE_FILE_MAX, &st, &e);
	if (fd < 0) {
		if (fd != -ENOENT) {
			*r = fd == -EINVAL || fd == -ELOOP ? -EPERM : fd;
			vv_fail(err, *r, VV_CAUSE_CONFIG, "%.400s; ignoring ADE state", e.message);
		}
		errno = -fd;
		return NULL;
	}
	f = fdopen(fd, "re");
	if (!f) {
		*r = -errno;
		close(fd);
		vv_fail(err, *r, VV_CAUSE_SYSTEM, "%s: %s", path, strerror(-*r));
	}
	return f;
}

/* Split a line into at most max whitespace-separated fields; returns count. */
static int split(char *line, char **fields, int max)
{
	int n = 0;
	char *save = NULL;

	for (char *t = strtok_r(line, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == max)
			return max + 1;
		fields[n++] = t;
	}
	return n;
}

static int add_volume(struct vv_volume_conf **vols, size_t *n, struct vv_volume_conf *v)
{
	struct vv_volume_conf *nv;

	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*vols)[i].name, v->name)) {
			vv_warn("%s: volume %s already described at %s; ignoring this line",
				v->where, v->name, (*vols)[i].where);
			vv_volume_conf_clear(v);
			return 0;
		}
	nv = realloc(*vols, (*n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	*vols = nv;
	nv[(*n)++] = *v;
	memset(v, 0, sizeof(*v));
	return 1;
}

static int set_where(struct vv_volume_conf *v, const char *path, int line)
{
	if (asprintf(&v->where, "%s:%d", path, line) < 0) {
		v->where = NULL;
		return -ENOMEM;
	}
	return 0;
}

/*
 * fstab options without the ones only boot-time tools understand; the rest
 * goes to libmount. "" when nothing is left.
 */
static char *mount_options(const char *opts)
{
	static const char *const drop[] = { "defaults", "nofail", "auto", "noauto",
		"nobootwait", "_netdev", "user", "nouser", "users" };
	char *copy = strdup(opts), *out = calloc(1, strlen(opts) + 1), *save = NULL;

	if (!copy || !out) {
		free(copy);
		free(out);
		return NULL;
	}
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		bool skip = !strncmp(t, "x-", 2) || !strncmp(t, "comment=", 8);

		for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]) && !skip; i++)
			skip = !strcmp(t, drop[i]);
		if (skip)
			continue;
		if (*out)
			strcat(out, ",");
		strcat(out, t);
	}
	free(copy);
	return out;
}

/* Fill mount/fs/options of v from the fstab line for /dev/mapper/<name>. */
static int from_fstab(const char *fstab, struct vv_volume_conf *v)
{
	char want[PATH_MAX], line[4096];
	int r = 0, dummy;
	struct vv_error err = { 0 };
	FILE *f = open_state(fstab, &dummy, &err);

	if (!f) {
		if (dummy)
			vv_warn("%s", err.message);
		return 0;
	}
	snprintf(want, sizeof(want), "/dev/mapper/%s", v->name);
	while (fgets(line, sizeof(line), f)) {
		char *fld[6];
		int nf;

		if (line[strspn(line, " \t")] == '#')
			continue;
		nf = split(line, fld, 6);
		if (nf < 3 || nf > 6 || strcmp(fld[0], want))
			continue;
		if (fld[1][0] != '/')
			break;	/* swap or none: nothing to mount */
		v->mount = strdup(fld[1]);
		if (strcmp(fld[2], "auto"))
			v->fs = strdup(fld[2]);
		if (nf >= 4) {
			v->options = mount_options(fld[3]);
			if (v->options && !*v->options) {
				free(v->options);
				v->options = NULL;
			}
		}
		if (!v->mount)
			r = -ENOMEM;
		break;
	}
	fclose(f);
	return r;
}

/*
 * The end of a line's volume: when all its strings were allocated (ok),
 * add it (*added counts it; a duplicate name is dropped with a warning),
 * else drop it. 0, or -ENOMEM: the caller stops reading.
 */
static int keep_volume(struct vv_volume_conf **vols, size_t *n, struct vv_volume_conf *v,
		       bool ok, int *added)
{
	int r;

	if (!ok) {
		vv_volume_conf_clear(v);
		return -ENOMEM;
	}
	r = add_volume(vols, n, v);
	if (r < 0)
		return r;
	*added += r;
	return 0;
}

static bool truthy(const char *s)
{
	return !strcasecmp(s, "True") || !strcmp(s, "1");
}

static int load_crypt_mount(const char *root, struct vv_volume_conf **vols, size_t *n,
			    struct vv_error *err)
{
	char path[PATH_MAX], line[4096];
	int r = 0, lineno = 0, added = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s%s", root, VV_ADE_CRYPT_MOUNT);
	f = open_state(path, &r, err);
	if (!f)
		return r;
	while (fgets(line, sizeof(line), f)) {
		struct vv_volume_conf v = { .origin = VV_ORIGIN_ADE };
		char *fld[8];
		int nf;

		lineno++;
		nf = split(line, fld, 7);
		if (nf == 0 || fld[0][0] == '#')
			continue;
		if (nf < 6 || nf > 7) {
			vv_warn("%s:%d: expected 7 fields (mapper device header mount fs "
				"cleartext slot); line ignored", path, lineno);
			continue;
		}
		if (!strcmp(fld[3], "/") || !strcmp(fld[0], "osencrypt"))
			continue;	/* the root volume is the initramfs's job */
		if (!vv_volume_name_valid(fld[0])) {
			vv_warn("%s:%d: invalid mapper name '%s'; line ignored", path, lineno, fld[0]);
			continue;
		}
		if (vv_ade_device_match(fld[1], &v.match) < 0) {
			vv_warn("%s:%d: cannot use device '%s'; line ignored", path, lineno, fld[1]);
			continue;
		}
		v.name = strdup(fld[0]);
		if (strcmp(fld[2], "None") && fld[2][0] == '/')
			v.header = strdup(fld[2]);
		if (fld[3][0] == '/')
			v.mount = strdup(fld[3]);
		if (strcmp(fld[4], "None") && strcmp(fld[4], "auto"))
			v.fs = strdup(fld[4]);
		if (truthy(fld[5])) {
			if (asprintf(&v.key, "file:%s%s/cleartext_key%s", root, VV_ADE_CONFIG_DIR,
				     fld[0]) < 0)
				v.key = NULL;
		} else
			v.key = strdup("bek:" VV_ADE_OS_PASSPHRASE);
		r = keep_volume(vols, n, &v,
				v.name && v.key && set_where(&v, path, lineno) >= 0, &added);
		if (r < 0)
			break;
	}
	fclose(f);
	return r < 0 ? r : added;
}

/*
 * The BEK volume file a crypttab key path names: the part after one of the
 * mount points ADE versions used (/mnt/azure_bek_disk/, /azure_bek_disk/).
 * NULL when the key is not on the BEK volume (the line is not ADE's).
 */
static const char *bek_file(const char *keypath)
{
	static const char *const prefixes[] = { VV_ADE_BEK_MOUNT "/", VV_ADE_BEK_MOUNT_OLD "/" };

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (!strncmp(keypath, prefixes[i], strlen(prefixes[i])))
			return keypath + strlen(prefixes[i]);
	return NULL;
}

int vv_ade_crypttab_options(char *opts, char **header)
{
	char *save = NULL;

	*header = NULL;
	for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		if (strncmp(o, "header=", 7))
			continue;
		/* Two headers: which one ADE meant is unknowable; use neither. */
		if (*header || o[7] != '/') {
			free(*header);
			*header = NULL;
			return -EINVAL;
		}
		*header = strdup(o + 7);
		if (!*header)
			return -ENOMEM;
	}
	return 0;
}

static int load_crypttab(const char *root, struct vv_volume_conf **vols, size_t *n,
			 struct vv_error *err)
{
	char path[PATH_MAX], fstab[PATH_MAX], line[4096];
	int r = 0, lineno = 0, added = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/etc/crypttab", root);
	snprintf(fstab, sizeof(fstab), "%s/etc/fstab", root);
	f = open_state(path, &r, err);
	if (!f)
		return r;
	while (fgets(line, sizeof(line), f)) {
		struct vv_volume_conf v = { .origin = VV_ORIGIN_ADE };
		const char *file;
		char *fld[5];
		int nf;

		lineno++;
		nf = split(line, fld, 4);
		if (nf == 0 || fld[0][0] == '#')
			continue;
		/* Only lines whose key is on the BEK volume are ADE's. */
		if (nf < 3 || nf > 4 || !(file = bek_file(fld[2])))
			continue;
		if (!strcmp(fld[0], "osencrypt"))
			continue;
		if (!vv_volume_name_valid(fld[0]) || !bek_name_ok(file)) {
			vv_warn("%s:%d: unusable ADE line; ignored", path, lineno);
			continue;
		}
		if (nf == 4) {
			r = vv_ade_crypttab_options(fld[3], &v.header);
			if (r == -ENOMEM)
				break;
			if (r < 0) {
				vv_warn("%s:%d: header= given twice (or not an absolute path); "
					"line ignored", path, lineno);
				r = 0;
				continue;
			}
		}
		if (vv_ade_device_match(fld[1], &v.match) < 0) {
			vv_warn("%s:%d: cannot use device '%s'; line ignored", path, lineno, fld[1]);
			vv_volume_conf_clear(&v);
			continue;
		}
		/*
		 * ADE's resource-disk line (ResourceDiskUtil: mapper
		 * resourceencrypt, the OS passphrase file, no LUN). Whether its
		 * disk really is the platform's resource disk is decided
		 * against the disks present (open_plan.c).
		 */
		v.ade_resource = !strcmp(fld[0], VV_ADE_RESOURCE_MAPPER) &&
				 !strcmp(file, VV_ADE_OS_PASSPHRASE);
		v.name = strdup(fld[0]);
		if (asprintf(&v.key, "bek:%s", file) < 0)
			v.key = NULL;
		r = keep_volume(vols, n, &v,
				v.name && v.key && set_where(&v, path, lineno) >= 0 &&
				from_fstab(fstab, &v) >= 0, &added);
		if (r < 0)
			break;
	}
	fclose(f);
	return r < 0 ? r : added;
}

int vv_ade_load(const char *root, struct vv_volume_conf **vols, size_t *n,
		struct vv_error *err)
{
	struct vv_error e1 = { 0 }, e2 = { 0 };
	int a, b;

	if (!root)
		root = "";
	/* An unsafe or unreadable file is reported and skipped; the other may still count. */
	a = load_crypt_mount(root, vols, n, &e1);
	if (a == -ENOMEM)
		return a;
	b = load_crypttab(root, vols, n, &e2);
	if (b == -ENOMEM)
		return b;
	if (a < 0)
		vv_warn("%s", e1.message);
	if (b < 0)
		vv_warn("%s", e2.message);
	/* Skipped files are reported, not failed: the count is still returned. */
	vv_error_set(err, a < 0 || b < 0 ? VV_CAUSE_CONFIG : VV_CAUSE_NONE, 0, "%s%s%s",
		     a < 0 ? e1.message : "", a < 0 && b < 0 ? "; " : "", b < 0 ? e2.message : "");
	return (a < 0 ? 0 : a) + (b < 0 ? 0 : b);
}
