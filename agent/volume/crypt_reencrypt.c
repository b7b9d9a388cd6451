// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * In-place encryption through libcryptsetup's LUKS2 reencryption, offline
 * (no device-mapper: libcryptsetup reads and writes the device itself).
 * The layout is the one `cryptsetup reencrypt --encrypt --reduce-device-size`
 * makes: the header is built in a file, the first data segment is moved to
 * the space the filesystem gave up at the end, the header is copied to the
 * start, and the data is encrypted backwards, each hotzone shifted by the
 * data offset. Every step is recorded in the header (resilience
 * "datashift"), so an interrupted run resumes where it stopped.
 */
#include "agent/volume/crypt.h"
#include "agent/volume/crypt_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

#define SECTOR 512

int vv_luks2_init_detached(const char *header, const char *data_device, uint64_t data_offset,
			   struct vv_luks2 **out)
{
	struct crypt_device *cd = NULL;
	struct vv_luks2 *l;
	int r;

	*out = NULL;
	vv_crypt_quiet();
	r = crypt_init_data_device(&cd, header, data_device);
	if (r < 0)
		return r;
	/* In 512-byte sectors, as libcryptsetup counts offsets. */
	r = crypt_set_data_offset(cd, data_offset / SECTOR);
	if (r < 0)
		goto fail;
	l = calloc(1, sizeof(*l));
	if (!l) {
		r = -ENOMEM;
		goto fail;
	}
	l->cd = cd;
	*out = l;
	return 0;
fail:
	crypt_free(cd);
	return r;
}

int vv_luks2_encrypt_init(const char *header, const char *data_device, int slot,
			  const struct vv_secret *key, uint64_t shift, uint32_t sector_size)
{
	struct crypt_device *cd = NULL;
	/* The new segment's: libcryptsetup wants it said again. */
	const struct crypt_params_luks2 luks2 = { .sector_size = sector_size };
	const struct crypt_params_reencrypt params = {
		.luks2 = &luks2,
		.mode = CRYPT_REENCRYPT_ENCRYPT,
		/* Backward: each hotzone lands shift bytes below where it was read. */
		.direction = CRYPT_REENCRYPT_BACKWARD,
		.resilience = "datashift",
		.hash = "sha256",
		.data_shift = shift / SECTOR,
		.flags = CRYPT_REENCRYPT_INITIALIZE_ONLY | CRYPT_REENCRYPT_MOVE_FIRST_SEGMENT,
	};
	int r;

	vv_crypt_quiet();
	r = crypt_init_data_device(&cd, header, data_device);
	if (r < 0)
		return r;
	/* Loaded afresh: the token was written through another context. */
	r = crypt_load(cd, CRYPT_LUKS2, NULL);
	if (r >= 0)
		r = crypt_reencrypt_init_by_passphrase(cd, NULL, (const char *)key->data, key->len,
						       CRYPT_ANY_SLOT, slot, crypt_get_cipher(cd),
						       crypt_get_cipher_mode(cd), &params);
	crypt_free(cd);
	return r < 0 ? r : 0;
}

int vv_luks2_header_restore(const char *device, const char *header)
{
	struct crypt_device *cd = NULL;
	int r;

	vv_crypt_quiet();
	r = crypt_init(&cd, device);
	if (r < 0)
		return r;
	r = crypt_header_restore(cd, CRYPT_LUKS2, header);
	crypt_free(cd);
	return r;
}

int vv_luks2_reencrypt_pending(const char *device)
{
	struct vv_luks2 *l = NULL;
	uint32_t flags = 0;
	int r;

	r = vv_luks2_load(device, &l);
	if (r < 0)
		return r;
	r = crypt_persistent_flags_get(l->cd, CRYPT_FLAGS_REQUIREMENTS, &flags);
	vv_luks2_free(l);
	if (r < 0)
		return r;
	return (flags & CRYPT_REQUIREMENT_ONLINE_REENCRYPT) ? 1 : 0;
}

struct run_ctx {
	vv_reencrypt_progress progress;
	void *ctx;
	bool stopped;
};

static int on_progress(uint64_t size, uint64_t offset, void *usrptr)
{
	struct run_ctx *c = usrptr;

	if (c->progress && c->progress(size, offset, c->ctx)) {
		c->stopped = true;
		return 1;
	}
	return 0;
}

int vv_luks2_reencrypt_run(const char *device, int slot, const struct vv_secret *key,
			   vv_reencrypt_progress progress, void *ctx)
{
	const struct crypt_params_reencrypt params = {
		/* Everything else comes from the reencryption state in the header. */
		.flags = CRYPT_REENCRYPT_RESUME_ONLY,
	};
	struct run_ctx c = { .progress = progress, .ctx = ctx };
	struct vv_luks2 *l = NULL;
	int r;

	r = vv_luks2_load(device, &l);
	if (r < 0)
		return r;
	/*
	 * A header left in the "crash" state (a run killed mid-hotzone) is
	 * first recovered from its resilience data, as `cryptsetup repair`
	 * does; then the header is read again and the run resumes.
	 */
	if (crypt_reencrypt_status(l->cd, NULL) == CRYPT_REENCRYPT_CRASH) {
		const struct crypt_params_reencrypt rec = { .flags = CRYPT_REENCRYPT_RECOVERY };

		vv_info("%s: recovering the interrupted hotzone", device);
		r = crypt_reencrypt_init_by_passphrase(l->cd, NULL, (const char *)key->data,
						       key->len, CRYPT_ANY_SLOT, slot, NULL, NULL,
						       &rec);
		vv_luks2_free(l);
		l = NULL;
		if (r < 0)
			return r;
		r = vv_luks2_load(device, &l);
		if (r < 0)
			return r;
		/*
		 * The hotzone was the last one: recovering it finished the
		 * encryption, and there is nothing left to resume (a resume
		 * would fail with -EINVAL on a header with no reencryption).
		 */
		if (crypt_reencrypt_status(l->cd, NULL) == CRYPT_REENCRYPT_NONE) {
			vv_info("%s: the recovered hotzone was the last: encryption complete", device);
			vv_luks2_free(l);
			return 0;
		}
	}
	r = crypt_reencrypt_init_by_passphrase(l->cd, NULL, (const char *)key->data, key->len,
					       CRYPT_ANY_SLOT, slot, NULL, NULL, &params);
	if (r >= 0)
		r = crypt_reencrypt_run(l->cd, on_progress, &c);
	if (r >= 0)
		r = c.stopped ? -EINTR : 0;
	vv_luks2_free(l);
	return r;
}
