// SPDX-License-Identifier: GPL-2.0-or-later
/* Key Vault client: configuration, counters. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vault/internal.h"

struct vv_vault {
	struct vv_vault_config cfg;	/* strings below are our own copies */
	struct vv_vault_stats stats;
};

static void free_config(struct vv_vault_config *c)
{
	free((char *)c->vault_url);
	free((char *)c->secondary_url);
	free((char *)c->imds_url);
	free((char *)c->ca_file);
	free((char *)c->identity_kind);
	free((char *)c->identity_value);
	free((char *)c->aad_authority);
	free((char *)c->aad_tenant);
	free((char *)c->aad_client_id);
	free((char *)c->aad_secret_file);
	free((char *)c->aad_cert_file);
	free((char *)c->keystore_dir);
	free((char *)c->bek_volume_label);
	memset(c, 0, sizeof(*c));
}

/* Copy s (or dflt when s is NULL); *ok turns false on allocation failure. */
static const char *dup_or(const char *s, const char *dflt, bool *ok)
{
	char *r;

	if (!s)
		s = dflt;
	if (!s)
		return NULL;
	r = strdup(s);
	if (!r)
		*ok = false;
	return r;
}

static int copy_config(struct vv_vault_config *d, const struct vv_vault_config *s)
{
	bool ok = true;

	memset(d, 0, sizeof(*d));
	d->vault_url = dup_or(s->vault_url, NULL, &ok);
	d->secondary_url = dup_or(s->secondary_url, NULL, &ok);
	d->imds_url = dup_or(s->imds_url, "http://169.254.169.254", &ok);
	d->ca_file = dup_or(s->ca_file, NULL, &ok);
	d->identity_kind = dup_or(s->identity_kind, NULL, &ok);
	d->identity_value = dup_or(s->identity_value, NULL, &ok);
	d->aad_authority = dup_or(s->aad_authority,
				  "https://login.microsoftonline.com", &ok);
	d->aad_tenant = dup_or(s->aad_tenant, NULL, &ok);
	d->aad_client_id = dup_or(s->aad_client_id, NULL, &ok);
	d->aad_secret_file = dup_or(s->aad_secret_file, NULL, &ok);
	d->aad_cert_file = dup_or(s->aad_cert_file, NULL, &ok);
	d->keystore_dir = dup_or(s->keystore_dir, "/etc/vaultvol/keys", &ok);
	d->bek_volume_label = dup_or(s->bek_volume_label, "BEK VOLUME", &ok);
	d->request_timeout_ms = s->request_timeout_ms > 0 ? s->request_timeout_ms : 10000;
	d->total_timeout_ms = s->total_timeout_ms > 0 ? s->total_timeout_ms : 60000;
	d->max_retries = s->max_retries > 0 ? s->max_retries : 5;
	if (!ok) {
		free_config(d);
		return -ENOMEM;
	}
	return 0;
}

int vv_vault_new(const struct vv_vault_config *cfg, struct vv_vault **out)
{
	static const struct vv_vault_config empty;
	struct vv_vault *v;
	int r;

	*out = NULL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	r = copy_config(&v->cfg, cfg ? cfg : &empty);
	if (r < 0) {
		free(v);
		return r;
	}
	*out = v;
	return 0;
}

void vv_vault_free(struct vv_vault *v)
{
	if (!v)
		return;
	free_config(&v->cfg);
	free(v);
}

const struct vv_vault_config *vv_vault_config_of(const struct vv_vault *v)
{
	return &v->cfg;
}

void vv_vault_get_stats(const struct vv_vault *v, struct vv_vault_stats *st)
{
	*st = v->stats;
}
