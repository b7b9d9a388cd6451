// SPDX-License-Identifier: GPL-2.0-or-later
/* Freeze planning: candidates, one per superblock, dependency waves. */
#include "agent/freeze/freeze_plan.h"

#include <blkid.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <libmount.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* Deepest block-device stack we follow (loop on dm on loop ...). */
#define STACK_MAX_DEPTH 16

/* One line of mountinfo, as far as planning needs it. */
struct ment {
	int id;
	dev_t devno;
	char *target;
	char *source;
	char *fstype;
	char *root;
	bool hidden;		/* another mount sits on the same target later */
	int group;		/* superblock group, -1 when not a candidate */
};

struct mtab {
	struct ment *m;
	size_t n;
};

bool vv_freeze_fstype_ok(const char *fstype)
{
	static const char *const ok[] = { "ext3", "ext4", "xfs", "btrfs" };

	if (!fstype)
		return false;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(fstype, ok[i]) == 0)
			return true;
	return false;
}

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void mtab_free(struct mtab *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->m[i].target);
		free(t->m[i].source);
		free(t->m[i].fstype);
		free(t->m[i].root);
	}
	free(t->m);
	t->m = NULL;
	t->n = 0;
}

static int mtab_load(const char *path, struct mtab *t)
{
	struct libmnt_table *tb = mnt_new_table();
	struct libmnt_iter *it = mnt_new_iter(MNT_ITER_FORWARD);
	struct libmnt_fs *fs;
	size_t cap = 0;
	int r = -ENOMEM;

	if (!tb || !it)
		goto out;
	r = mnt_table_parse_file(tb, path);
	if (r) {
		r = r < 0 ? r : -EINVAL;
		goto out;
	}
	while (mnt_table_next_fs(tb, it, &fs) == 0) {
		struct ment *e;

		if (t->n == cap) {
			size_t ncap = cap ? cap * 2 : 32;
			struct ment *nm = realloc(t->m, ncap * sizeof(*nm));

			if (!nm) {
				r = -ENOMEM;
				goto out;
			}
			t->m = nm;
			cap = ncap;
		}
		e = &t->m[t->n];
		memset(e, 0, sizeof(*e));
		e->id = mnt_fs_get_id(fs);
		e->devno = mnt_fs_get_devno(fs);
		e->target = xstrdup(mnt_fs_get_target(fs));
		e->source = xstrdup(mnt_fs_get_source(fs));
		e->fstype = xstrdup(mnt_fs_get_fstype(fs));
		e->root = xstrdup(mnt_fs_get_root(fs));
		e->group = -1;
		t->n++;
		if (!e->target || !e->fstype) {
			r = -ENOMEM;
			goto out;
		}
	}
	/* A later mount on the same target hides the earlier one. */
	for (size_t i = 0; i < t->n; i++)
		for (size_t j = i + 1; j < t->n; j++)
			if (strcmp(t->m[i].target, t->m[j].target) == 0) {
				t->m[i].hidden = true;
				break;
			}
	r = 0;
out:
	mnt_free_iter(it);
	mnt_unref_table(tb);
	return r;
}

/* Do two candidate mounts share a superblock? */
static bool same_sb(const struct ment *a, const struct ment *b)
{
	/* btrfs subvolume mounts get distinct anonymous st_dev numbers. */
	if (strcmp(a->fstype, "btrfs") == 0 && strcmp(b->fstype, "btrfs") == 0)
		return a->source && b->source && strcmp(a->source, b->source) == 0;
	return a->devno == b->devno;
}

/* Is path at or below dir (component-wise)? */
static bool path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return path[0] == '/';
	if (strncmp(path, dir, n) != 0)
		return false;
	return path[n] == '\0' || path[n] == '/';
}

/* The visible mount whose target is the longest prefix of path. */
static const struct ment *mount_of_path(const struct mtab *t, const char *path)
{
	const struct ment *best = NULL;
	size_t best_len = 0;

	for (size_t i = 0; i < t->n; i++) {
		const struct ment *e = &t->m[i];
		size_t n = strlen(e->target);

		if (e->hidden || !path_under(path, e->target))
			continue;
		/* Equal length: the later mount is on top. */
		if (!best || n >= best_len) {
			best = e;
			best_len = n;
		}
	}
	return best;
}

static bool excluded(const struct vv_plan_opts *o, const char *target)
{
	for (size_t i = 0; i < o->n_exclude; i++)
		if (o->exclude[i] && fnmatch(o->exclude[i], target, 0) == 0)
			return true;
	return false;
}

static bool is_resource(const struct vv_plan_opts *o, const struct ment *e)
{
	if (strcmp(e->target, "/mnt/resource") == 0)
		return true;
	for (size_t i = 0; i < o->n_resource_devs; i++)
		if (o->resource_devs[i] == e->devno)
			return true;
	return false;
}

/* Read a one-line sysfs attribute, newline stripped; NULL when absent. */
static char *read_attr(const char *dir, const char *name)
{
	char path[PATH_MAX], buf[PATH_MAX];
	FILE *f;
	size_t n;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return NULL;
	/* sysfs, not a regular file: read directly, not through vv_file_read. */
	f = fopen(path, "re");
	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return n ? strdup(buf) : NULL;
}

static bool file_exists(const char *dir, const char *name)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return false;
	return access(path, F_OK) == 0;
}

struct walk {
	struct vv_fs_layer *l;
	size_t n, cap;
	char **seen;		/* real sysfs dirs already visited */
	size_t n_seen;
};

static void layer_clear(struct vv_fs_layer *l)
{
	free(l->kname);
	free(l->dm_name);
	free(l->dm_uuid);
	free(l->backing_file);
}

static int walk_add_seen(struct walk *w, const char *dir)
{
	char **ns = realloc(w->seen, (w->n_seen + 1) * sizeof(*ns));

	if (!ns)
		return -ENOMEM;
	w->seen = ns;
	w->seen[w->n_seen] = strdup(dir);
	if (!w->seen[w->n_seen])
		return -ENOMEM;
	w->n_seen++;
	return 0;
}

/* Visit one block device directory (real path in sysfs) and what it sits on. */
static int walk_dev(struct walk *w, const char *dir, int depth)
{
	struct vv_fs_layer *l;
	char sub[PATH_MAX];
	DIR *d;
	struct dirent *de;
	const char *base;
	size_t idx, nslaves = 0;
	int r;

	if (depth > STACK_MAX_DEPTH)
		return 0;
	for (size_t i = 0; i < w->n_seen; i++)
		if (strcmp(w->seen[i], dir) == 0)
			return 0;
	r = walk_add_seen(w, dir);
	if (r)
		return r;
	if (w->n == w->cap) {
		size_t ncap = w->cap ? w->cap * 2 : 4;
		struct vv_fs_layer *nl = realloc(w->l, ncap * sizeof(*nl));

		if (!nl)
			return -ENOMEM;
		w->l = nl;
		w->cap = ncap;
	}
	/* w->l moves when the recursion grows it: refer to it by index after. */
	idx = w->n++;
	l = &w->l[idx];
	memset(l, 0, sizeof(*l));
	base = strrchr(dir, '/');
	l->kname = strdup(base ? base + 1 : dir);
	if (!l->kname)
		return -ENOMEM;
	l->dm_name = read_attr(dir, "dm/name");
	l->dm_uuid = read_attr(dir, "dm/uuid");
	l->backing_file = read_attr(dir, "loop/backing_file");
	if (l->backing_file) {
		/* A deleted backing file is still the same inode and mount. */
		char *del = strstr(l->backing_file, " (deleted)");

		if (del && del[10] == '\0')
			*del = '\0';
	}

	l->partition = file_exists(dir, "partition");
	/* A partition: what matters (loop, dm) is its whole disk. */
	if (w->l[idx].partition) {
		char parent[PATH_MAX];
		char *slash;

		snprintf(parent, sizeof(parent), "%s", dir);
		slash = strrchr(parent, '/');
		if (slash && slash != parent) {
			*slash = '\0';
			r = walk_dev(w, parent, depth + 1);
			if (r)
				return r;
		}
	}

	snprintf(sub, sizeof(sub), "%s/slaves", dir);
	d = opendir(sub);
	if (!d) {
		w->l[idx].leaf = !w->l[idx].partition && !w->l[idx].backing_file;
		return 0;
	}
	r = 0;
	while ((de = readdir(d))) {
		char link[PATH_MAX], real[PATH_MAX];

		if (de->d_name[0] == '.')
			continue;
		if (snprintf(link, sizeof(link), "%s/%s", sub, de->d_name) >= (int)sizeof(link))
			continue;
		if (!realpath(link, real))
			continue;
		nslaves++;
		r = walk_dev(w, real, depth + 1);
		if (r)
			break;
	}
	closedir(d);
	w->l[idx].leaf = !nslaves && !w->l[idx].partition && !w->l[idx].backing_file;
	return r;
}

/* Fill fs->layers from sysfs; a device sysfs does not know leaves it empty. */
static int fs_walk_stack(const char *sysfs, struct vv_fs *fs)
{
	char link[PATH_MAX], real[PATH_MAX];
	struct walk w = { 0 };
	int r;

	if (major(fs->devno) == 0)	/* anonymous (btrfs, network): no stack */
		return 0;
	snprintf(link, sizeof(link), "%s/dev/block/%u:%u", sysfs,
		 major(fs->devno), minor(fs->devno));
	if (!realpath(link, real))
		return 0;
	r = walk_dev(&w, real, 0);
	for (size_t i = 0; i < w.n_seen; i++)
		free(w.seen[i]);
	free(w.seen);
	if (r) {
		for (size_t i = 0; i < w.n; i++)
			layer_clear(&w.l[i]);
		free(w.l);
		return r;
	}
	fs->layers = w.l;
	fs->n_layers = w.n;
	return 0;
}

static int add_skip(struct vv_freeze_plan *p, const struct ment *e, const char *why)
{
	struct vv_fs_skip *ns = realloc(p->skipped, (p->n_skipped + 1) * sizeof(*ns));

	if (!ns)
		return -ENOMEM;
	p->skipped = ns;
	ns = &p->skipped[p->n_skipped++];
	ns->target = strdup(e->target);
	ns->fstype = strdup(e->fstype);
	ns->reason = strdup(why);
	if (!ns->target || !ns->fstype || !ns->reason)
		return -ENOMEM;
	return 0;
}

static void fs_clear(struct vv_fs *f)
{
	free(f->target);
	free(f->source);
	free(f->fstype);
	free(f->before);
	for (size_t i = 0; i < f->n_layers; i++)
		layer_clear(&f->layers[i]);
	free(f->layers);
}

void vv_freeze_plan_free(struct vv_freeze_plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		fs_clear(&p->fs[i]);
	free(p->fs);
	for (size_t i = 0; i < p->n_skipped; i++) {
		free(p->skipped[i].target);
		free(p->skipped[i].fstype);
		free(p->skipped[i].reason);
	}
	free(p->skipped);
	memset(p, 0, sizeof(*p));
}

static int add_before(struct vv_fs *parent, size_t child)
{
	size_t *nb;

	for (size_t i = 0; i < parent->n_before; i++)
		if (parent->before[i] == child)
			return 0;
	nb = realloc(parent->before, (parent->n_before + 1) * sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	parent->before = nb;
	parent->before[parent->n_before++] = child;
	return 0;
}

/* Candidates grouped per superblock; representative mount per group. */
static int pick_candidates(const struct vv_plan_opts *o, struct mtab *t,
			   struct vv_freeze_plan *p, int **group_of_fs)
{
	int *gmap = NULL;
	int ngroups = 0, r = 0;

	for (size_t i = 0; i < t->n; i++) {
		struct ment *e = &t->m[i];

		if (!vv_freeze_fstype_ok(e->fstype))
			continue;
		for (size_t j = 0; j < i; j++)
			if (t->m[j].group >= 0 && same_sb(&t->m[j], e)) {
				e->group = t->m[j].group;
				break;
			}
		if (e->group < 0)
			e->group = ngroups++;
	}
	gmap = calloc(ngroups ? ngroups : 1, sizeof(*gmap));
	if (!gmap)
		return -ENOMEM;
	p->fs = calloc(ngroups ? ngroups : 1, sizeof(*p->fs));
	if (!p->fs) {
		free(gmap);
		return -ENOMEM;
	}
	for (int g = 0; g < ngroups && !r; g++) {
		struct ment *rep = NULL, *first = NULL;
		unsigned nm = 0;
		bool excl = false, res = false;

		for (size_t i = 0; i < t->n; i++) {
			struct ment *e = &t->m[i];

			if (e->group != g)
				continue;
			nm++;
			if (!first)
				first = e;
			if (excluded(o, e->target))
				excl = true;
			if (is_resource(o, e))
				res = true;
			if (e->hidden)
				continue;
			/* Prefer the mount of the whole filesystem over a bind of a subtree. */
			if (!rep || (strcmp(rep->root ? rep->root : "/", "/") != 0 &&
				     e->root && strcmp(e->root, "/") == 0))
				rep = e;
		}
		gmap[g] = -1;
		if (excl) {
			r = add_skip(p, first, "excluded");
		} else if (res) {
			r = add_skip(p, first, "resource disk");
		} else if (!rep) {
			r = add_skip(p, first, "mount point hidden by another mount");
		} else {
			struct vv_fs *f = &p->fs[p->n];

			f->target = strdup(rep->target);
			f->source = xstrdup(rep->source);
			f->fstype = strdup(rep->fstype);
			f->mount_id = rep->id;
			f->devno = rep->devno;
			f->n_mounts = nm;
			if (!f->target || !f->fstype) {
				fs_clear(f);
				r = -ENOMEM;
				break;
			}
			gmap[g] = (int)p->n++;
		}
	}
	if (r) {
		free(gmap);
		return r;
	}
	*group_of_fs = gmap;
	return 0;
}

/* Edges: a loop-backed filesystem freezes before the one holding its file. */
static int link_dependencies(const struct vv_plan_opts *o, const struct mtab *t,
			     struct vv_freeze_plan *p, const int *gmap)
{
	const char *sysfs = o->sysfs ? o->sysfs : "/sys";

	for (size_t i = 0; i < p->n; i++) {
		int r = fs_walk_stack(sysfs, &p->fs[i]);

		if (r)
			return r;
	}
	for (size_t i = 0; i < p->n; i++) {
		struct vv_fs *f = &p->fs[i];

		for (size_t k = 0; k < f->n_layers; k++) {
			const struct ment *holder;
			int parent;
			int r;

			if (!f->layers[k].backing_file)
				continue;
			holder = mount_of_path(t, f->layers[k].backing_file);
			if (!holder || holder->group < 0)
				continue;
			parent = gmap[holder->group];
			if (parent < 0 || (size_t)parent == i)
				continue;
			r = add_before(&p->fs[parent], i);
			if (r)
				return r;
		}
	}
	return 0;
}

/* Longest-path wave numbers; `/` alone after everything else. */
static void assign_waves(struct vv_freeze_plan *p)
{
	bool changed = true;
	int maxw = 0;
	size_t root = (size_t)-1;

	for (size_t i = 0; i < p->n; i++)
		p->fs[i].wave = 0;
	/* Relaxation converges in n rounds on a DAG; a cycle stops at the bound. */
	for (size_t round = 0; changed && round <= p->n; round++) {
		changed = false;
		for (size_t i = 0; i < p->n; i++) {
			struct vv_fs *f = &p->fs[i];

			for (size_t k = 0; k < f->n_before; k++) {
				int w = p->fs[f->before[k]].wave + 1;

				if (w > f->wave && w <= (int)p->n) {
					f->wave = w;
					changed = true;
				}
			}
		}
	}
	for (size_t i = 0; i < p->n; i++) {
		if (strcmp(p->fs[i].target, "/") == 0)
			root = i;
		else if (p->fs[i].wave > maxw)
			maxw = p->fs[i].wave;
	}
	if (root != (size_t)-1) {
		bool others = p->n > 1;

		p->fs[root].wave = others ? maxw + 1 : 0;
		maxw = p->fs[root].wave;
	}
	p->n_waves = p->n ? maxw + 1 : 0;
}

/* Stable sort by wave, keeping the index references right. */
static int sort_by_wave(struct vv_freeze_plan *p)
{
	size_t *order, *pos;
	struct vv_fs *sorted;
	size_t k = 0;

	if (p->n < 2)
		return 0;
	order = calloc(p->n, sizeof(*order));
	pos = calloc(p->n, sizeof(*pos));
	sorted = calloc(p->n, sizeof(*sorted));
	if (!order || !pos || !sorted) {
		free(order);
		free(pos);
		free(sorted);
		return -ENOMEM;
	}
	for (int w = 0; w < p->n_waves; w++)
		for (size_t i = 0; i < p->n; i++)
			if (p->fs[i].wave == w)
				order[k++] = i;
	for (size_t i = 0; i < p->n; i++)
		pos[order[i]] = i;
	for (size_t i = 0; i < p->n; i++) {
		sorted[i] = p->fs[order[i]];
		for (size_t b = 0; b < sorted[i].n_before; b++)
			sorted[i].before[b] = pos[sorted[i].before[b]];
	}
	free(p->fs);
	p->fs = sorted;
	free(order);
	free(pos);
	return 0;
}

int vv_freeze_plan_build(const struct vv_plan_opts *o, struct vv_freeze_plan *p)
{
	struct mtab t = { 0 };
	int *gmap = NULL;
	int r;

	memset(p, 0, sizeof(*p));
	r = mtab_load(o->mountinfo ? o->mountinfo : "/proc/self/mountinfo", &t);
	if (r)
		goto out;
	r = pick_candidates(o, &t, p, &gmap);
	if (r)
		goto out;
	r = link_dependencies(o, &t, p, gmap);
	if (r)
		goto out;
	assign_waves(p);
	r = sort_by_wave(p);
out:
	free(gmap);
	mtab_free(&t);
	if (r)
		vv_freeze_plan_free(p);
	return r;
}

static size_t add_dev(dev_t *out, size_t n, size_t max, dev_t d)
{
	for (size_t i = 0; i < n; i++)
		if (out[i] == d)
			return n;
	if (n < max)
		out[n++] = d;
	return n;
}

size_t vv_freeze_resource_devs(const char *devroot, dev_t *out, size_t max)
{
	static const char *const links[] = {
		"disk/azure/resource-part1", "disk/azure/resource",
		"disk/cloud/azure_resource-part1", "disk/cloud/azure_resource",
	};
	/* cloud-init formats the resource disk "ephemeral0"; the platform's NTFS. */
	static const char *const labels[] = { "ephemeral0", "Temporary Storage" };
	size_t n = 0;

	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		char path[PATH_MAX];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", devroot ? devroot : "/dev", links[i]);
		if (stat(path, &st) == 0 && S_ISBLK(st.st_mode))
			n = add_dev(out, n, max, st.st_rdev);
	}
	/* A test tree has no labels to look for; only the real /dev does. */
	if (devroot)
		return n;
	for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
		blkid_cache cache = NULL;
		char *dev = blkid_evaluate_tag("LABEL", labels[i], &cache);
		struct stat st;

		if (dev && stat(dev, &st) == 0 && S_ISBLK(st.st_mode))
			n = add_dev(out, n, max, st.st_rdev);
		free(dev);
		blkid_put_cache(cache);
	}
	return n;
}
