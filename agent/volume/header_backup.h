/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * LUKS header backups, taken before every header change vaultvol makes
 * (token write, keyslot add/remove). A backup restores a volume whose header
 * a bug or a crash damaged, with `cryptsetup luksHeaderRestore`.
 *
 *   <state_dir>/header-backups/            0700, created when missing
 *   <state_dir>/header-backups/<uuid>-<YYYYmmddTHHMMSS.nnnnnnnnnZ>.luks   0600
 *
 * The header holds keyslots (key material wrapped by the keys that open
 * them), hence root-only. Backups are never deleted by vaultvol: an old
 * header opens with old key versions, which are never deleted either.
 */
#ifndef VV_HEADER_BACKUP_H
#define VV_HEADER_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#define VV_HEADER_BACKUP_DIR "header-backups"

/*
 * Back up the LUKS header of device. path_out (may be NULL) receives the
 * backup's path. The directory is refused when it exists with group/other
 * access or another owner (-EPERM), the file is created exclusively and
 * fsync'ed with its directory. Returns 0 or -errno.
 */
int vv_header_backup(const char *device, const char *state_dir, char *path_out,
		     size_t len);

/*
 * Whether dir's filesystem has need bytes free (as this user may use
 * them: root the reserved blocks too); *avail gets what is free. 0, or
 * -ENOSPC. A directory that cannot be read counts as room (0, *avail 0):
 * the write that follows reports what is wrong with it.
 */
int vv_dir_room(const char *dir, uint64_t need, uint64_t *avail);

#endif
