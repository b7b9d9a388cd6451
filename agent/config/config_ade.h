/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Azure Disk Encryption (ADE) state, read as configuration, so a VM that
 * ADE encrypted is reopened by vaultvol without re-running the extension:
 *
 * - <root>/var/lib/azure_disk_encryption_config/azure_crypt_mount (older
 *   ADE): "<mapper> <device> <luks_header|None> <mount_point> <fs>
 *   <uses_cleartext_key> <luks_slot>". The key is the passphrase file on
 *   the BEK volume (bek:LinuxPassPhraseFileName), or with
 *   uses_cleartext_key=True the local key file ADE created
 *   (<config dir>/cleartext_key<mapper>).
 * - <root>/etc/crypttab (newer ADE): lines whose key file lies on the BEK
 *   volume, /mnt/azure_bek_disk/<FILE> (or /azure_bek_disk/<FILE>, older
 *   versions) -> key bek:<FILE>; the mount point,
 *   filesystem and options come from the <root>/etc/fstab line for
 *   /dev/mapper/<mapper>. Other crypttab lines are not ADE's and are left
 *   to systemd-cryptsetup.
 *
 * The line "resourceencrypt /dev/disk/azure/resource-part1
 * .../LinuxPassPhraseFileName" is ADE's encrypted resource disk: marked
 * ade_resource (see open.h for what that allows).
 *
 * The root volume ("/", osencrypt) is skipped: it is opened in the
 * initramfs, before vaultvol runs. Devices are matched as the files name
 * them: /dev/disk/azure/scsi1/lun<N> -> lun:N, UUID=... or
 * /dev/disk/by-uuid/... -> uuid:, other /dev/disk/ paths -> path:, and a
 * kernel name such as /dev/sdc -> VV_MATCH_DEVNAME, which open refuses to
 * trust alone (names change across restores).
 *
 * root is "" or NULL for the real system. Tests (and `vaultvol open`, via
 * the VAULTVOL_ROOT environment variable) point it at a directory tree.
 * Malformed or foreign lines are skipped with a warning naming file:line:
 * the files are ADE's, and one bad line must not stop the other volumes.
 */
#ifndef VV_ADE_H
#define VV_ADE_H

#include <stddef.h>

#include "agent/config/config.h"

#define VV_ADE_CONFIG_DIR "/var/lib/azure_disk_encryption_config"
#define VV_ADE_CRYPT_MOUNT VV_ADE_CONFIG_DIR "/azure_crypt_mount"
#define VV_ADE_BEK_MOUNT "/mnt/azure_bek_disk"
#define VV_ADE_BEK_MOUNT_OLD "/azure_bek_disk"
#define VV_ADE_OS_PASSPHRASE "LinuxPassPhraseFileName"
#define VV_ADE_RESOURCE_MAPPER "resourceencrypt"

/*
 * Append the ADE-described volumes to *vols / *n (origin VV_ORIGIN_ADE,
 * where = "file:line"). Missing files are fine (no ADE). A file that exists
 * but is unsafe (writable by group/others, foreign owner) or unreadable is
 * skipped with its reason in err (and a warning). Returns the number of
 * volumes added, or -ENOMEM.
 */
int vv_ade_load(const char *root, struct vv_volume_conf **vols, size_t *n,
		struct vv_error *err);

/*
 * crypttab options (modified in place): *header gets header=PATH (NULL when
 * none). -EINVAL when header= appears twice or is not absolute (the line
 * must then be ignored as a whole), -ENOMEM.
 */
int vv_ade_crypttab_options(char *opts, char **header);

/*
 * Device field -> match (see above). 0, or -EINVAL for something that is
 * not a device (e.g. "none", "PARTUUID=" is taken as a path).
 */
int vv_ade_device_match(const char *device, struct vv_match *m);

#endif
