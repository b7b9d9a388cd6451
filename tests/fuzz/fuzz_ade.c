// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Azure Disk Encryption state (agent/config/config_ade.c): azure_crypt_mount, then after
 * "----" lines /etc/crypttab and /etc/fstab. They are written under this
 * harness's scratch root and read by vv_ade_load, the public entry (it
 * reads files; a missing part means a missing file).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config/config_ade.h"
#include "agent/config/config.h"
#include "tests/fuzz/fz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const files[] = {
	"var/lib/azure_disk_encryption_config/azure_crypt_mount",
	"etc/crypttab",
	"etc/fstab",
};

FZ_INIT_SCRATCH(root, "ade", NULL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vv_volume_conf *vols = NULL;
	struct fz_parts p;
	size_t n = 0;
	struct vv_error err = { 0 };

	fz_split(data, size, &p);
	for (size_t i = 0; i < 3; i++) {
		if (i < p.n) {
			if (fz_write(root, files[i], p.part[i], p.len[i]) < 0)
				abort();
		} else {
			fz_unlink(root, files[i]);
		}
	}
	vv_ade_load(root, &vols, &n, &err);
	for (size_t i = 0; i < n; i++)
		vv_volume_conf_clear(&vols[i]);
	free(vols);
	fz_parts_free(&p);
	return 0;
}
