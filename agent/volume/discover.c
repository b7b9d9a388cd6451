// SPDX-License-Identifier: GPL-2.0-or-later
/* Block device discovery (libblkid, libcryptsetup) and volume matching. */
#include "agent/volume/discover.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <blkid.h>

#include "base/log.h"

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

void vv_disks_free(struct vv_disks *d)
{
	for (size_t i = 0; i < d->n; i++) {
		struct vv_blockdev *b = &d->dev[i];

		free(b->path);
		for (size_t j = 0; j < b->nlinks; j++)
			free(b->links[j]);
		free(b->links);
		if (b->token_rc == 0)
			vv_token_clear(&b->token);
	}
	free(d->dev);
	d->dev = NULL;
	d->n = 0;
}

/* TYPE and UUID as libblkid sees them; -ENOENT when it recognises nothing. */
static int blkid_probe_type(const char *path, char *type, size_t tlen, char *uuid, size_t ulen)
{
	blkid_probe pr = blkid_new_probe_from_filename(path);
	const char *v = NULL;
	int r = -ENOENT;

	type[0] = uuid[0] = '\0';
	if (!pr)
		return errno ? -errno : -EIO;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_UUID);
	if (blkid_do_safeprobe(pr) == 0 &&
	    blkid_probe_lookup_value(pr, "TYPE", &v, NULL) == 0 && v) {
		snprintf(type, tlen, "%s", v);
		if (blkid_probe_lookup_value(pr, "UUID", &v, NULL) == 0 && v)
			snprintf(uuid, ulen, "%s", v);
		r = 0;
	}
	blkid_free_probe(pr);
	return r;
}

int vv_discover_add(struct vv_disks *d, const char *path)
{
	struct vv_blockdev b = { .lun = -1, .token_rc = -ENOENT };
	struct vv_unlock *u = NULL;
	struct vv_blockdev *nd;
	struct vv_crypt_info info;
	char buuid[64];
	struct stat st;
	bool enc;
	int r;

	if (stat(path, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode))
		b.devno = st.st_rdev;
	r = blkid_probe_type(path, b.blkid_type, sizeof(b.blkid_type), buuid, sizeof(buuid));
	if (r < 0 && r != -ENOENT)
		return r;
	enc = !strcmp(b.blkid_type, "crypto_LUKS") || !strcmp(b.blkid_type, "BitLocker");
	if (enc) {
		/*
		 * libcryptsetup reads the whole header (checksums, JSON) and
		 * knows the BitLocker GUID; libblkid only saw a signature, so
		 * a failure here means a damaged header on a device that is
		 * still recognisably ours.
		 */
		b.probe_rc = vv_unlock_load(path, NULL, &u, &info);
		if (b.probe_rc == 0) {
			b.type = info.type;
			snprintf(b.uuid, sizeof(b.uuid), "%s", info.uuid);
		} else {
			snprintf(b.uuid, sizeof(b.uuid), "%s", buuid);
			snprintf(b.probe_reason, sizeof(b.probe_reason), "%s", info.reason);
		}
		/*
		 * The UUID (GUID) becomes a volume name (luks-<uuid>), a match
		 * and a file name; a header is not authenticated, so one that
		 * is not 8-4-4-4-12 hex is a damaged header, nothing more.
		 */
		if (!vv_uuid_valid(b.uuid)) {
			if (b.uuid[0])
				vv_warn("%s: the %s header's UUID is not a UUID; treated as damaged",
					path, b.blkid_type);
			b.uuid[0] = '\0';
			b.type = VV_VOL_UNKNOWN;
			b.probe_rc = -EINVAL;
		}
		lower(b.uuid);
		/* The token from the header just read: each header is read once here. */
		if (b.type == VV_VOL_LUKS2)
			b.token_rc = vv_token_read_loaded(u, path, &b.token);
		vv_unlock_free(u);
	}
	b.path = strdup(path);
	nd = b.path ? realloc(d->dev, (d->n + 1) * sizeof(*nd)) : NULL;
	if (!nd) {
		free(b.path);
		if (b.token_rc == 0)
			vv_token_clear(&b.token);
		return -ENOMEM;
	}
	d->dev = nd;
	d->dev[d->n++] = b;
	return enc ? 1 : 0;
}

static struct vv_blockdev *by_devno(struct vv_disks *d, dev_t devno)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->dev[i].devno && d->dev[i].devno == devno)
			return &d->dev[i];
	return NULL;
}

static int add_link(struct vv_blockdev *b, const char *link)
{
	char **nl = realloc(b->links, (b->nlinks + 1) * sizeof(*nl));

	if (!nl)
		return -ENOMEM;
	b->links = nl;
	nl[b->nlinks] = strdup(link);
	if (!nl[b->nlinks])
		return -ENOMEM;
	b->nlinks++;
	return 0;
}

/* Record every symlink under dir (depth-limited) pointing at a known device. */
static int collect_links(struct vv_disks *d, const char *dir, int depth)
{
	DIR *dh = opendir(dir);
	struct dirent *e;
	int r = 0;

	if (!dh)
		return 0;
	while (!r && (e = readdir(dh))) {
		char path[PATH_MAX];
		struct stat lst, st;
		struct vv_blockdev *b;

		if (e->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
			continue;
		if (lstat(path, &lst) < 0)
			continue;
		if (S_ISDIR(lst.st_mode)) {
			if (depth > 0)
				r = collect_links(d, path, depth - 1);
			continue;
		}
		if (!S_ISLNK(lst.st_mode) || stat(path, &st) < 0 || !S_ISBLK(st.st_mode))
			continue;
		b = by_devno(d, st.st_rdev);
		if (b)
			r = add_link(b, path);
	}
	closedir(dh);
	return r;
}

/* lun<N> and lun<N>-part<M> links give the LUN of each data disk. */
static void collect_luns(struct vv_disks *d, const char *lun_dir)
{
	DIR *dh = opendir(lun_dir);
	struct dirent *e;

	if (!dh)
		return;
	while ((e = readdir(dh))) {
		char path[PATH_MAX];
		struct vv_blockdev *b;
		struct stat st;
		int lun = -1, part = 0, n = 0;

		if (sscanf(e->d_name, "lun%d%n", &lun, &n) != 1 || lun < 0)
			continue;
		if (e->d_name[n] && (sscanf(e->d_name + n, "-part%d", &part) != 1 || part <= 0))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", lun_dir, e->d_name) >= (int)sizeof(path))
			continue;
		if (stat(path, &st) < 0 || !S_ISBLK(st.st_mode))
			continue;
		b = by_devno(d, st.st_rdev);
		if (b) {
			b->lun = lun;
			b->part = part;
		}
	}
	closedir(dh);
}

static bool skip_name(const char *name)
{
	/* RAM disks and zram hold nothing to open; loops without a file have size 0. */
	return !strncmp(name, "ram", 3) || !strncmp(name, "zram", 4) || name[0] == '.';
}

/*
 * A suspended device-mapper device (one `vaultvol watch` suspended after a
 * revocation), or one stacked on such a device (dm-quiesce over dm-crypt),
 * blocks every read until it is resumed: probing it would hang the scan,
 * and with it status, the watch that would resume it, open and close. Its
 * holders are named in sysfs: dm/suspended, and slaves/ one level down.
 */
static bool dm_blocked(const char *sys, const char *name, int depth)
{
	char path[PATH_MAX], v = '0';
	struct dirent *e;
	bool blocked = false;
	DIR *dh;
	FILE *f;

	if (depth > 8 ||
	    snprintf(path, sizeof(path), "%s/%s/dm/suspended", sys, name) >= (int)sizeof(path))
		return false;
	f = fopen(path, "re");
	if (!f)
		return false;	/* not device-mapper (or an old kernel): nothing to fear */
	if (fread(&v, 1, 1, f) != 1)
		v = '0';
	fclose(f);
	if (v == '1')
		return true;
	if (snprintf(path, sizeof(path), "%s/%s/slaves", sys, name) >= (int)sizeof(path))
		return false;
	dh = opendir(path);
	if (!dh)
		return false;
	while (!blocked && (e = readdir(dh)))
		if (e->d_name[0] != '.')
			blocked = dm_blocked(sys, e->d_name, depth + 1);
	closedir(dh);
	return blocked;
}

int vv_discover_scan(const struct vv_discover_opts *opts, struct vv_disks *out)
{
	const char *sys = opts && opts->sys_block ? opts->sys_block : "/sys/class/block";
	const char *dev = opts && opts->dev_dir ? opts->dev_dir : "/dev";
	char lun_dir[PATH_MAX], disk_dir[PATH_MAX];
	struct dirent *e;
	DIR *dh;
	int r = 0;

	memset(out, 0, sizeof(*out));
	dh = opendir(sys);
	if (!dh)
		return -errno;
	while ((e = readdir(dh))) {
		char path[PATH_MAX], sizef[PATH_MAX];
		unsigned long long size = 0;
		FILE *f;

		if (skip_name(e->d_name))
			continue;
		if (snprintf(sizef, sizeof(sizef), "%s/%s/size", sys, e->d_name) >= (int)sizeof(sizef) ||
		    snprintf(path, sizeof(path), "%s/%s", dev, e->d_name) >= (int)sizeof(path))
			continue;
		/* sysfs, not a regular file: read directly, not through vv_file_read. */
		f = fopen(sizef, "re");
		if (!f)
			continue;
		if (fscanf(f, "%llu", &size) != 1)
			size = 0;
		fclose(f);
		if (size == 0)
			continue;
		if (dm_blocked(sys, e->d_name, 0)) {
			vv_debug("discover: %s is suspended (or stacked on a suspended device): "
				 "not probed", path);
			continue;
		}
		r = vv_discover_add(out, path);
		if (r == -ENOMEM)
			break;
		if (r < 0)
			vv_debug("discover: %s: %s", path, strerror(-r));
		r = 0;
	}
	closedir(dh);
	if (r < 0) {
		vv_disks_free(out);
		return r;
	}
	snprintf(disk_dir, sizeof(disk_dir), "%s/disk", dev);
	r = collect_links(out, disk_dir, 3);
	if (r < 0) {
		vv_disks_free(out);
		return r;
	}
	if (opts && opts->lun_dir)
		snprintf(lun_dir, sizeof(lun_dir), "%s", opts->lun_dir);
	else
		snprintf(lun_dir, sizeof(lun_dir), "%s/disk/azure/scsi1", dev);
	collect_luns(out, lun_dir);
	return 0;
}

static bool is_encrypted(const struct vv_blockdev *b)
{
	return !strcmp(b->blkid_type, "crypto_LUKS") || !strcmp(b->blkid_type, "BitLocker");
}

static bool matches(const struct vv_blockdev *b, const struct vv_match *m)
{
	switch (m->kind) {
	case VV_MATCH_UUID:
		return is_encrypted(b) && b->type != VV_VOL_BITLK &&
		       strcmp(b->blkid_type, "BitLocker") && !strcasecmp(b->uuid, m->value);
	case VV_MATCH_BITLOCKER:
		return !strcmp(b->blkid_type, "BitLocker") && !strcasecmp(b->uuid, m->value);
	case VV_MATCH_LUN:
		return b->lun == m->lun && b->part == m->part;
	case VV_MATCH_PATH:
		for (size_t i = 0; i < b->nlinks; i++)
			if (!strcmp(b->links[i], m->value))
				return true;
		return !strcmp(b->path, m->value);
	case VV_MATCH_DEVNAME:
		return !strcmp(b->path, m->value);
	default:
		return false;
	}
}

int vv_discover_match(const struct vv_disks *d, const struct vv_match *m,
		      size_t *idx, size_t *other)
{
	size_t found = 0;

	if (m->kind == VV_MATCH_NONE ||
	    (m->kind != VV_MATCH_LUN && !m->value))
		return -EINVAL;
	for (size_t i = 0; i < d->n; i++) {
		if (!matches(&d->dev[i], m))
			continue;
		if (found == 0)
			*idx = i;
		else {
			if (other)
				*other = i;
			return -ENOTUNIQ;
		}
		found++;
	}
	return found ? 0 : -ENOENT;
}
