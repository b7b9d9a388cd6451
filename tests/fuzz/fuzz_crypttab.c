// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * /etc/crypttab (agent/config/crypttab.c): read by every `vaultvol open` to
 * stay out of systemd-cryptsetup's way. The file is root-owned, but it is
 * restored from backups and edited by hand and by ADE, so the parser must
 * survive any bytes. The parsed table is then matched against one disk, as
 * open's planning does, so the matcher reads every entry the parser kept.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config/crypttab.h"
#include "tests/fuzz/fz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *const links[] = {
		"/dev/disk/by-uuid/3a1b2c3d-0000-4000-8000-00000000abcd",
		"/dev/disk/by-partuuid/0f0e0d0c-01",
		"/dev/disk/by-label/data",
		"/dev/disk/by-partlabel/vv",
		"/dev/disk/azure/scsi1/lun0",
	};
	struct vv_crypttab tab = { 0 };
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (vv_crypttab_parse(text, &tab) == 0) {
		vv_crypttab_find(&tab, "3a1b2c3d-0000-4000-8000-00000000abcd", "/dev/sdc",
				 links, sizeof(links) / sizeof(links[0]));
		vv_crypttab_find(&tab, "", "/dev/vdb", NULL, 0);
	}
	vv_crypttab_free(&tab);
	free(text);
	return 0;
}
