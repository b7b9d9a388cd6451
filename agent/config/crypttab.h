/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * /etc/crypttab, read only to stay out of its way: a volume listed there
 * without a key file is systemd-cryptsetup's (through the vaultvol token
 * plugin). Lines with a key file are ADE's (its BEK volume files), which
 * vaultvol opens as it always has: ADE state, not this rule, covers them.
 * `vaultvol open` never opens it itself, so the two never race for one disk
 * at boot (vaultvol-open.service runs before remote-fs-pre.target, a _netdev
 * crypttab line after it: no ordering can put one after the other), and
 * treats it as open once systemd-cryptsetup has opened it, under whatever
 * name crypttab gives it.
 *
 * Matching is pure: a line's source (UUID=, PARTUUID=, LABEL=, PARTLABEL=,
 * or a path) against a disk's LUKS UUID, kernel path and stable
 * /dev/disk/... links, as discovery found them.
 */
#ifndef VV_CRYPTTAB_H
#define VV_CRYPTTAB_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

#define VV_CRYPTTAB_PATH "/etc/crypttab"

struct vv_crypttab_entry {
	char *name;		/* the mapping crypttab asks for */
	char *source;		/* as written */
	bool noauto;		/* not opened at boot (still crypttab's) */
	/*
	 * No key file (absent, "none" or "-"): systemd-cryptsetup tries the
	 * disk's tokens (the vaultvol plugin), then asks for a passphrase.
	 * A line with a key file (ADE's, on the BEK volume) is not about tokens.
	 */
	bool keyless;
};

struct vv_crypttab {
	struct vv_crypttab_entry *e;
	size_t n;
};

/*
 * Parse crypttab text. Malformed lines (fewer than two fields) are skipped,
 * as systemd's generator skips them. 0 or -ENOMEM.
 */
int vv_crypttab_parse(const char *text, struct vv_crypttab *tab);
/*
 * Read and parse path (root-owned, not writable by others). A missing file
 * is an empty table. -errno with err set otherwise.
 */
int vv_crypttab_load(const char *path, struct vv_crypttab *tab, struct vv_error *err);
void vv_crypttab_free(struct vv_crypttab *tab);

/*
 * The entry whose source names the disk with LUKS UUID uuid (may be ""),
 * kernel path path and stable links; NULL when none does.
 */
const struct vv_crypttab_entry *vv_crypttab_find(const struct vv_crypttab *tab, const char *uuid,
						 const char *path, char *const *links,
						 size_t nlinks);

#endif
