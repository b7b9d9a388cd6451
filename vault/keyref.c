// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Key and KEK references as text: which kind a reference is, and its parts.
 * Pure string work, no I/O: the table at the top of vault/vault.h is the
 * syntax. Every other file of vault/ (and the agent) asks here rather than
 * comparing prefixes itself.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vault/vault.h"

bool vv_kek_ref_is_local(const char *kek_ref)
{
	return kek_ref && (strncmp(kek_ref, "file:", 5) == 0 ||
			   strncmp(kek_ref, "keystore-kek:", 13) == 0);
}

bool vv_kek_alg_valid(const char *alg)
{
	return alg && (strcmp(alg, "RSA-OAEP") == 0 ||
		       strcmp(alg, "RSA-OAEP-256") == 0 ||
		       strcmp(alg, "RSA1_5") == 0);
}

/* Split a storable reference into prefix ("keystore:", "https://H/secrets/", "") and rest. */
static int ref_parts(const char *ref, size_t *prefix_len)
{
	const char *p;

	if (!ref || !*ref)
		return -EINVAL;
	if (!strncmp(ref, "keystore:", 9)) {
		*prefix_len = 9;
		return 0;
	}
	if (!strncmp(ref, "https://", 8)) {
		p = strchr(ref + 8, '/');
		if (!p || strncmp(p, "/secrets/", 9))
			return -EINVAL;
		*prefix_len = (size_t)(p + 9 - ref);
		return 0;
	}
	if (strchr(ref, ':'))
		return -EINVAL;	/* file:, bek: and unknown schemes hold no versions */
	*prefix_len = 0;
	return 0;
}

/* Where a storable reference's name starts (*pre) and ends (*end), or -EINVAL. */
static int ref_name_span(const char *ref, size_t *pre, size_t *end)
{
	const char *slash;

	if (ref_parts(ref, pre) < 0 || !ref[*pre] || ref[*pre] == '/')
		return -EINVAL;
	slash = strchr(ref + *pre, '/');
	*end = slash ? (size_t)(slash - ref) : strlen(ref);
	return 0;
}

char *vv_ref_unversioned(const char *ref)
{
	size_t pre, end;

	if (ref_name_span(ref, &pre, &end) < 0)
		return NULL;
	return strndup(ref, end);
}

char *vv_ref_name(const char *ref)
{
	size_t pre, end;

	if (ref_name_span(ref, &pre, &end) < 0)
		return NULL;
	return strndup(ref + pre, end - pre);
}
