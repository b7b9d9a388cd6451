// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Suspending a mapping with its key wiped from the kernel, and resuming it
 * with the key that opened it (`vaultvol watch`, docs/revocation.md).
 * libcryptsetup suspends and resumes LUKS only, so a BitLocker mapping is
 * refused before anything changes: a volume must never be suspended that
 * cannot be resumed by itself.
 */
#include "agent/volume/crypt.h"
#include "agent/volume/crypt_internal.h"

#include <errno.h>
#include <string.h>

/* The active LUKS mapping name, loaded with its header (detached or not). */
static int load_luks(const char *name, const char *header, struct crypt_device **cd)
{
	const char *t;
	int r;

	*cd = NULL;
	switch (crypt_status(NULL, name)) {
	case CRYPT_ACTIVE:
	case CRYPT_BUSY:
		break;
	case CRYPT_INVALID:
		return -ENXIO;
	default:
		return -ENODEV;
	}
	r = header ? crypt_init_by_name_and_header(cd, name, header) :
		     crypt_init_by_name(cd, name);
	if (r < 0)
		return r;
	t = crypt_get_type(*cd);
	if (!t || (strcmp(t, CRYPT_LUKS1) && strcmp(t, CRYPT_LUKS2))) {
		crypt_free(*cd);
		*cd = NULL;
		return -ENOTSUP;
	}
	return 0;
}

int vv_crypt_suspended(const char *name)
{
	struct crypt_device *cd = NULL;
	struct crypt_active_device cad;
	int r;

	if (crypt_status(NULL, name) == CRYPT_INVALID)
		return -ENXIO;
	r = crypt_init_by_name(&cd, name);
	if (r < 0)
		return r;
	r = crypt_get_active_device(cd, name, &cad);
	crypt_free(cd);
	if (r < 0)
		return r;
	return (cad.flags & CRYPT_ACTIVATE_SUSPENDED) ? 1 : 0;
}

int vv_crypt_suspend(const char *name, const char *header)
{
	struct crypt_device *cd = NULL;
	int r = load_luks(name, header, &cd);

	if (r < 0)
		return r;
	r = crypt_suspend(cd, name);
	crypt_free(cd);
	return r;
}

int vv_crypt_resume_by_key(const char *name, const char *header, const struct vv_secret *key)
{
	struct crypt_device *cd = NULL;
	int r = load_luks(name, header, &cd);

	if (r < 0)
		return r;
	/* A vaultvol key is a keyslot passphrase, as when the volume was opened. */
	r = crypt_resume_by_passphrase(cd, name, CRYPT_ANY_SLOT, (const char *)key->data,
				       key->len);
	crypt_free(cd);
	return r < 0 ? r : 0;
}
