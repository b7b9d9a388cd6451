// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Backup-service messages (agent/snapshot/backup_service.c): the answers to
 * pre-snapshot, do-snapshot and report, through vv_bsvc_prepare,
 * vv_bsvc_take and vv_bsvc_report over the fake transport.
 *
 * Input: the service's answers in order, separated by "----" lines (a 429
 * or 503 to prepare is retried, so it may consume several).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/snapshot/backup_service.h"
#include "tests/fuzz/fake_http.h"
#include "tests/fuzz/fz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

FZ_INIT_QUIET()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char body[] = "{\"request_id\":\"0123456789abcdef0123456789abcdef\"}";
	struct vv_bsvc *s = NULL;
	struct vv_error why = { 0 };
	char *id = NULL, *answer = NULL;
	long timeout_ms = 60000;
	int status = 0;
	bool sent_null = memmem(data, size, "(null)", 6) != NULL;
	struct fz_parts p;

	fz_split(data, size, &p);
	fz_http_reset();
	for (size_t i = 0; i < p.n; i++)
		fz_http_push(FZ_SERVICE, p.part[i], p.len[i]);
	if (vv_bsvc_open("http://127.0.0.1:8080/", NULL, &s, &why) < 0)
		abort();
	why.message[0] = '\0';
	if (vv_bsvc_prepare(s, body, &id, &timeout_ms, &why) == 0) {
		vv_bsvc_take(s, id, body, timeout_ms, &answer, &status, &why);
		/* glibc prints a NULL %s as "(null)": the message shows it
		 * (unless the service itself sent that text). */
		if (strstr(why.message, "(null)") && !sent_null)
			abort();
		vv_bsvc_report(s, id, "{\"status\":\"ok\"}", &why);
	}
	if (strstr(why.message, "(null)") && !sent_null)
		abort();
	free(id);
	free(answer);
	vv_bsvc_close(s);
	fz_parts_free(&p);
	return 0;
}
