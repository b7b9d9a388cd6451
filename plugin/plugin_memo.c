// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The last failed answer, asked again at once. libcryptsetup 2.6 walks the
 * tokens twice when a token's keyslot is preferred (as vaultvol's BEK
 * keyslots are): once for preferred keyslots, once for normal ones, so a
 * failed open is asked again at once with the same crypt device, token and
 * JSON. Without this, a vault that is down would cost its whole retry
 * budget twice, and every message would be said twice.
 */
#include "plugin/plugin.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/evp.h>

/*
 * The JSON is remembered by its SHA-256, not copied: nothing is allocated,
 * so nothing is left behind when libcryptsetup unloads the plugin.
 */
static struct {
	bool set;
	const void *cd;
	int token;
	unsigned char digest[EVP_MAX_MD_SIZE];
	int rc;
	long long at_ms;
} memo;
static pthread_mutex_t memo_lock = PTHREAD_MUTEX_INITIALIZER;

static bool digest(const char *json, unsigned char out[EVP_MAX_MD_SIZE])
{
	unsigned int n = 0;

	memset(out, 0, EVP_MAX_MD_SIZE);
	return json && EVP_Digest(json, strlen(json), out, &n, EVP_sha256(), NULL) == 1;
}

void vv_plugin_memo_put(const void *cd, int token, const char *json, int rc, long long now_ms)
{
	pthread_mutex_lock(&memo_lock);
	memo.set = rc < 0 && digest(json, memo.digest);
	memo.cd = cd;
	memo.token = token;
	memo.rc = rc;
	memo.at_ms = now_ms;
	pthread_mutex_unlock(&memo_lock);
}

int vv_plugin_memo_get(const void *cd, int token, const char *json, long long now_ms)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	int rc = 0;

	if (!digest(json, d))
		return 0;
	pthread_mutex_lock(&memo_lock);
	if (memo.set && memo.cd == cd && memo.token == token &&
	    !memcmp(memo.digest, d, sizeof(d)) &&
	    now_ms >= memo.at_ms && now_ms - memo.at_ms <= VV_PLUGIN_MEMO_MS)
		rc = memo.rc;
	pthread_mutex_unlock(&memo_lock);
	return rc;
}
