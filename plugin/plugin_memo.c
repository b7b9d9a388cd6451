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
#include <stdlib.h>
#include <string.h>

static struct {
	const void *cd;
	int token;
	char *json;
	int rc;
	long long at_ms;
} memo;
static pthread_mutex_t memo_lock = PTHREAD_MUTEX_INITIALIZER;

void vv_plugin_memo_put(const void *cd, int token, const char *json, int rc, long long now_ms)
{
	pthread_mutex_lock(&memo_lock);
	free(memo.json);
	memo.json = NULL;
	memo.cd = NULL;
	if (rc < 0 && json && (memo.json = strdup(json))) {
		memo.cd = cd;
		memo.token = token;
		memo.rc = rc;
		memo.at_ms = now_ms;
	}
	pthread_mutex_unlock(&memo_lock);
}

int vv_plugin_memo_get(const void *cd, int token, const char *json, long long now_ms)
{
	int rc = 0;

	pthread_mutex_lock(&memo_lock);
	if (memo.cd && memo.cd == cd && memo.token == token && json && !strcmp(memo.json, json) &&
	    now_ms >= memo.at_ms && now_ms - memo.at_ms <= VV_PLUGIN_MEMO_MS)
		rc = memo.rc;
	pthread_mutex_unlock(&memo_lock);
	return rc;
}
