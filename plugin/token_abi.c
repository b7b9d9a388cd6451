// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The entry points of libcryptsetup-token-vaultvol.so (libcryptsetup.h,
 * "external token" ABI CRYPTSETUP_TOKEN_1.0; the version script
 * plugin/token.map exports these and nothing else). libcryptsetup loads
 * the plugin for a token of type "vaultvol" from its token directory
 * (crypt_token_external_path(), /lib/<multiarch>/cryptsetup on Debian).
 *
 * No cryptsetup_token_open_pin: a vaultvol token is unlocked by the
 * machine's identity and configuration, there is no PIN to ask for (a
 * caller that passes one gets -ENOENT from libcryptsetup and moves on).
 *
 * Our messages go through crypt_log for the call's crypt device (errors
 * always, the rest with -v or --debug), never to the host's stderr or
 * journal directly; the log sink is set for the call and removed after.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "agent/volume/crypt.h"
#include "base/log.h"
#include "base/retry.h"
#include "base/secret.h"
#include "plugin/plugin.h"

#define VV_PUBLIC __attribute__((visibility("default")))

/*
 * Keys handed to libcryptsetup, until it gives them back through
 * cryptsetup_token_buffer_free: the buffer is a struct vv_secret's locked
 * pages, released (wiped, unlocked, unmapped) by the secret's own free.
 * libcryptsetup holds one at a time; a few slots leave room for threads.
 */
#define VV_HANDED_MAX 16
static struct vv_secret *handed[VV_HANDED_MAX];
static pthread_mutex_t handed_lock = PTHREAD_MUTEX_INITIALIZER;

static int hand_out(struct vv_secret *key, char **buffer, size_t *len)
{
	int r = -ENOMEM;

	pthread_mutex_lock(&handed_lock);
	for (size_t i = 0; i < VV_HANDED_MAX; i++)
		if (!handed[i]) {
			handed[i] = key;
			*buffer = (char *)key->data;
			*len = key->len;
			r = 0;
			break;
		}
	pthread_mutex_unlock(&handed_lock);
	return r;
}

/* "vaultvol: ..." as vaultvol says it, amid libcryptsetup's own lines. */
static void log_to_crypt(enum vv_log_level lvl, const char *msg, void *cd)
{
	vv_crypt_log_line(cd, lvl, "vaultvol: ", msg);
}

/* Our messages to this call's crypt device; debug ones too (--debug decides). */
static enum vv_log_level log_begin(struct crypt_device *cd)
{
	enum vv_log_level was = vv_log_get_level();

	vv_log_set_sink(log_to_crypt, cd);
	vv_log_set_level(VV_LOG_DEBUG);
	return was;
}

static void log_end(enum vv_log_level was)
{
	vv_log_set_sink(NULL, NULL);
	vv_log_set_level(was);
}

VV_PUBLIC const char *cryptsetup_token_version(void)
{
	return VV_VERSION;
}

VV_PUBLIC int cryptsetup_token_open(struct crypt_device *cd, int token, char **buffer,
				    size_t *buffer_len, void *usrptr)
{
	enum vv_log_level was = log_begin(cd);
	const char *device = vv_crypt_device_name(cd), *json = NULL;
	struct vv_secret *key = NULL;
	int r;

	(void)usrptr;	/* callers pass their own data (systemd: NULL or its params) */
	*buffer = NULL;
	*buffer_len = 0;
	if (vv_crypt_token_json(cd, token, &json) < 0) {
		vv_err("%s: cannot read LUKS2 token %d", device, token);
		r = -ENOENT;
		goto out;
	}
	r = vv_plugin_memo_get(cd, token, json, vv_retry_now_ms());
	if (r < 0) {
		vv_debug("%s: token %d: the answer of a moment ago (%d) again", device, token, r);
		goto out;
	}
	r = vv_plugin_open(device, json, NULL, &key);
	if (r == 0 && (r = hand_out(key, buffer, buffer_len)) < 0)
		vv_secret_free(key);
	vv_plugin_memo_put(cd, token, json, r, vv_retry_now_ms());
out:
	log_end(was);
	return r;
}

VV_PUBLIC void cryptsetup_token_buffer_free(void *buffer, size_t buffer_len)
{
	struct vv_secret *key = NULL;

	pthread_mutex_lock(&handed_lock);
	for (size_t i = 0; i < VV_HANDED_MAX && buffer; i++)
		if (handed[i] && handed[i]->data == buffer) {
			key = handed[i];
			handed[i] = NULL;
			break;
		}
	pthread_mutex_unlock(&handed_lock);
	if (key)
		vv_secret_free(key);
	else if (buffer)	/* not ours (cannot happen): wiped at least; freeing is its owner's */
		explicit_bzero(buffer, buffer_len);
}

VV_PUBLIC int cryptsetup_token_validate(struct crypt_device *cd, const char *json)
{
	enum vv_log_level was = log_begin(cd);
	int r = vv_plugin_validate(json);

	log_end(was);
	return r;
}

static void dump_line(const char *text, void *cd)
{
	vv_crypt_log_line(cd, VV_CRYPT_LOG_DUMP, "", text);
}

VV_PUBLIC void cryptsetup_token_dump(struct crypt_device *cd, const char *json)
{
	enum vv_log_level was = log_begin(cd);

	vv_plugin_dump(json, dump_line, cd);
	log_end(was);
}
