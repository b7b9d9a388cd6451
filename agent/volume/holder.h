/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Who holds a disk open as a dm-crypt mapping, whatever its name: the
 * kernel's own record (sysfs holders/, and each holder's dm/uuid, which
 * libcryptsetup prefixes "CRYPT-"). A volume systemd-cryptsetup opened from
 * /etc/crypttab under another name than vaultvol would give it is open all
 * the same; opening it again would only fail with "device in use".
 */
#ifndef VV_HOLDER_H
#define VV_HOLDER_H

#include <stddef.h>
#include <sys/types.h>

/*
 * The name of a dm-crypt mapping directly on the block device devno, read
 * from sysfs (NULL: /sys). 0 with name filled, -ENOENT when there is none,
 * -ENAMETOOLONG when the name does not fit.
 */
int vv_crypt_holder(const char *sysfs, dev_t devno, char *name, size_t len);

#endif
