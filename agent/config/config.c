// SPDX-License-Identifier: GPL-2.0-or-later
/* The config file parser (format in agent/config/config.h and docs/open.md). */
#include "agent/config/config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/readfile.h"
#include "vault/vault.h"

/* Larger than any sane config; a bigger file is refused, not truncated. */
#define VV_CONFIG_MAX (1024 * 1024)
#define VV_TIMEOUT_MAX_S 3600

const char *vv_origin_str(enum vv_origin o)
{
	switch (o) {
	case VV_ORIGIN_TOKEN: return "token";
	case VV_ORIGIN_CONFIG: return "config";
	case VV_ORIGIN_ADE: return "ade";
	}
	return "unknown";
}

bool vv_volume_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > 64 || name[0] == '.' || name[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!isalnum(c) && c != '.' && c != '_' && c != '+' && c != '-')
			return false;
	}
	return true;
}

/* ---- identifiers and mount points ---------------------------------- */

/* Where a mount would replace what the system runs, reads or exposes. */
static const char *const system_dirs[] = {
	"/etc", "/usr", "/bin", "/sbin", "/boot", "/proc", "/sys", "/dev", "/run", "/root",
};
/*
 * Ordinary places for data, but holding state, spools and users' files
 * that other programs trust: a disk may not put itself there, root may.
 */
static const char *const config_only_dirs[] = { "/var", "/tmp", "/home" };

/* path is dir or below it (component-wise: /etcetera is not /etc). */
static bool path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/');
}

static bool path_normalised(const char *p)
{
	size_t n = strlen(p);

	if (p[0] != '/' || (n > 1 && p[n - 1] == '/') || strstr(p, "//"))
		return false;
	for (const char *c = p; c; c = strchr(c + 1, '/'))
		if (!strncmp(c, "/./", 3) || !strcmp(c, "/.") ||
		    !strncmp(c, "/../", 4) || !strcmp(c, "/.."))
			return false;
	return true;
}

int vv_mount_point_check(const char *path, enum vv_origin from, char *why, size_t whylen)
{
	size_t n = path ? strlen(path) : 0;

	if (!n || path[0] != '/') {
		snprintf(why, whylen, "'%s' is not an absolute path", path ? path : "");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		if (!isgraph((unsigned char)path[i])) {
			snprintf(why, whylen, "'%s' contains a space or control character", path);
			return -EINVAL;
		}
	if (n >= PATH_MAX || !path_normalised(path)) {
		snprintf(why, whylen, "'%s' is not a normalised path (no '//', '.', '..' or "
			 "trailing '/')", path);
		return -EINVAL;
	}
	if (!strcmp(path, "/")) {
		snprintf(why, whylen, "/ is the root directory");
		return -EPERM;
	}
	/* /lib, /lib32, /lib64, /libx32: every top-level lib* directory. */
	if (!strncmp(path, "/lib", 4)) {
		int top = (int)strcspn(path + 1, "/") + 1;

		snprintf(why, whylen, (size_t)top == n ? "%s is a system directory" :
			 "%s is under the system directory %.*s", path, top, path);
		return -EPERM;
	}
	for (size_t i = 0; i < sizeof(system_dirs) / sizeof(system_dirs[0]); i++)
		if (path_under(path, system_dirs[i])) {
			snprintf(why, whylen, !strcmp(path, system_dirs[i]) ?
				 "%s is a system directory" : "%s is under the system directory %s",
				 path, system_dirs[i]);
			return -EPERM;
		}
	/* /var itself holds the system's state; data volumes below it are usual. */
	if (!strcmp(path, "/var")) {
		snprintf(why, whylen, "/var is a system directory");
		return -EPERM;
	}
	for (size_t i = 0; i < sizeof(config_only_dirs) / sizeof(config_only_dirs[0]); i++) {
		const char *d = config_only_dirs[i];

		if (from == VV_ORIGIN_TOKEN && path_under(path, d)) {
			if (strcmp(path, d))
				snprintf(why, whylen, "%s is under %s, where only vaultvol.conf "
					 "may put a volume", path, d);
			else
				snprintf(why, whylen, "%s is where only vaultvol.conf may put "
					 "a volume", path);
			return -EPERM;
		}
	}
	return 0;
}

bool vv_uuid_valid(const char *s)
{
	static const int groups[] = { 8, 4, 4, 4, 12 };
	size_t pos = 0;

	if (!s)
		return false;
	for (size_t g = 0; g < 5; g++) {
		for (int i = 0; i < groups[g]; i++, pos++)
			if (!isxdigit((unsigned char)s[pos]))
				return false;
		if (g < 4 && s[pos++] != '-')
			return false;
	}
	return s[pos] == '\0';
}

void vv_match_clear(struct vv_match *m)
{
	free(m->value);
	memset(m, 0, sizeof(*m));
}

/* A UUID or GUID (vv_uuid_valid), copied lower-cased into out. */
static bool parse_uuid(const char *s, char *out)
{
	if (!vv_uuid_valid(s))
		return false;
	for (; *s; s++)
		*out++ = (char)tolower((unsigned char)*s);
	*out = '\0';
	return true;
}

static bool parse_int(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (!*s || !(isdigit((unsigned char)s[0]) || s[0] == '-'))
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

int vv_match_parse(const char *spec, struct vv_match *m, char *why, size_t whylen)
{
	char buf[40];

	memset(m, 0, sizeof(*m));
	if (!strncmp(spec, "uuid:", 5) || !strncmp(spec, "bitlocker:", 10)) {
		bool bl = spec[0] == 'b';
		const char *v = spec + (bl ? 10 : 5);

		/* BitLocker GUIDs are often written in braces. */
		if (bl && v[0] == '{' && strlen(v) == 38 && v[37] == '}') {
			memcpy(buf, v + 1, 36);
			buf[36] = '\0';
			v = buf;
		}
		if (strlen(v) != 36 || !parse_uuid(v, buf)) {
			snprintf(why, whylen, "'%s' is not a %s (8-4-4-4-12 hex digits)",
				 v, bl ? "BitLocker volume GUID" : "LUKS UUID");
			return -EINVAL;
		}
		m->kind = bl ? VV_MATCH_BITLOCKER : VV_MATCH_UUID;
		m->value = strdup(buf);
		return m->value ? 0 : -ENOMEM;
	}
	if (!strncmp(spec, "lun:", 4)) {
		const char *v = spec + 4, *p = strstr(v, "-part");
		char num[16];
		long lun, part = 0;
		size_t n = p ? (size_t)(p - v) : strlen(v);

		if (n == 0 || n >= sizeof(num))
			goto bad_lun;
		memcpy(num, v, n);
		num[n] = '\0';
		if (!parse_int(num, 0, 255, &lun) || (p && !parse_int(p + 5, 1, 128, &part)))
			goto bad_lun;
		m->kind = VV_MATCH_LUN;
		m->lun = (int)lun;
		m->part = (int)part;
		return 0;
bad_lun:
		snprintf(why, whylen, "'%s' is not a LUN (lun:N or lun:N-partM, N 0-255)", spec);
		return -EINVAL;
	}
	if (!strncmp(spec, "path:", 5)) {
		const char *v = spec + 5;

		/*
		 * Only the stable udev names: /dev/sdX and /dev/nvmeXnY are
		 * handed out in probe order and change across restores.
		 */
		if (strncmp(v, "/dev/disk/", 10) != 0 || strstr(v, "/../") || strlen(v) > 255) {
			snprintf(why, whylen, "'%s' is not a stable device path (use /dev/disk/by-*/... "
				 "or /dev/disk/azure/...; kernel names like /dev/sdc change across restores)", v);
			return -EINVAL;
		}
		m->kind = VV_MATCH_PATH;
		m->value = strdup(v);
		return m->value ? 0 : -ENOMEM;
	}
	if (spec[0] == '/')
		snprintf(why, whylen, "a bare device name (%s) changes across reboots and restores: "
			 "use uuid:, lun:, path:/dev/disk/... or bitlocker:", spec);
	else
		snprintf(why, whylen, "'%s' is not uuid:UUID, lun:N, path:/dev/disk/... or bitlocker:GUID",
			 spec);
	return -EINVAL;
}

const char *vv_match_str(const struct vv_match *m, char *buf, size_t len)
{
	switch (m->kind) {
	case VV_MATCH_UUID: snprintf(buf, len, "uuid:%s", m->value); break;
	case VV_MATCH_BITLOCKER: snprintf(buf, len, "bitlocker:%s", m->value); break;
	case VV_MATCH_PATH: snprintf(buf, len, "path:%s", m->value); break;
	case VV_MATCH_DEVNAME: snprintf(buf, len, "device:%s", m->value); break;
	case VV_MATCH_LUN:
		if (m->part)
			snprintf(buf, len, "lun:%d-part%d", m->lun, m->part);
		else
			snprintf(buf, len, "lun:%d", m->lun);
		break;
	default: snprintf(buf, len, "(none)"); break;
	}
	return buf;
}

void vv_volume_conf_clear(struct vv_volume_conf *v)
{
	free(v->name);
	vv_match_clear(&v->match);
	free(v->key);
	free(v->kek);
	free(v->alg);
	free(v->mount);
	free(v->fs);
	free(v->options);
	free(v->header);
	free(v->where);
	memset(v, 0, sizeof(*v));
}

static int dup_field(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

int vv_volume_conf_copy(struct vv_volume_conf *dst, const struct vv_volume_conf *src)
{
	int r = 0;

	memset(dst, 0, sizeof(*dst));
	dst->match.kind = src->match.kind;
	dst->match.lun = src->match.lun;
	dst->match.part = src->match.part;
	dst->readonly = src->readonly;
	dst->quiesce = src->quiesce;
	dst->revocation = src->revocation;
	dst->origin = src->origin;
	dst->ade_resource = src->ade_resource;
	r |= dup_field(&dst->name, src->name);
	r |= dup_field(&dst->match.value, src->match.value);
	r |= dup_field(&dst->key, src->key);
	r |= dup_field(&dst->kek, src->kek);
	r |= dup_field(&dst->alg, src->alg);
	r |= dup_field(&dst->mount, src->mount);
	r |= dup_field(&dst->fs, src->fs);
	r |= dup_field(&dst->options, src->options);
	r |= dup_field(&dst->header, src->header);
	r |= dup_field(&dst->where, src->where);
	if (r) {
		vv_volume_conf_clear(dst);
		return -ENOMEM;
	}
	return 0;
}

/* ---- value checks ------------------------------------------------------ */

static bool no_space_printable(const char *v)
{
	for (; *v; v++)
		if (!isgraph((unsigned char)*v))
			return false;
	return true;
}

static bool abs_path(const char *v)
{
	return v[0] == '/' && strlen(v) < PATH_MAX && no_space_printable(v) && !strstr(v, "/../");
}

static bool https_url(const char *v)
{
	return !strncmp(v, "https://", 8) && v[8] && no_space_printable(v);
}

static bool http_url(const char *v)
{
	return (!strncmp(v, "http://", 7) && v[7] && no_space_printable(v)) || https_url(v);
}

/*
 * [vault] aad_authority: the AAD login host that receives the client
 * secret or assertion, so only https://HOST[:PORT][/]: the token path
 * (/TENANT/oauth2/token) is appended by the vault library, and userinfo,
 * a query or a fragment would only hide where the secret goes.
 * NULL when fine, else why not.
 */
static const char *aad_authority_why(const char *v)
{
	const char *h, *e;
	size_t n;

	if (!no_space_printable(v))
		return "it has spaces or control characters";
	if (strncmp(v, "https://", 8))
		return "the client secret is sent to it, so it must be https://";
	h = v + 8;
	if (strchr(h, '@'))
		return "no user@ part: only the host";
	if (strpbrk(h, "?#"))
		return "no query or fragment: only the host";
	e = h + strcspn(h, "/");
	if (*e && strcmp(e, "/"))
		return "no path: vaultvol appends /TENANT/oauth2/token itself";
	for (n = 0; h + n < e && (isalnum((unsigned char)h[n]) || h[n] == '-' || h[n] == '.'); n++)
		;
	if (n == 0 || h[0] == '.' || h[0] == '-' || h[n - 1] == '.' || h[n - 1] == '-')
		return "it names no host";
	if (h + n < e) {
		long port = 0;
		const char *q = h + n + 1;

		if (h[n] != ':' || q == e || e - q > 5)
			return "the host is followed by something other than :PORT";
		for (; q < e; q++) {
			if (!isdigit((unsigned char)*q))
				return "the port is not a number";
			port = port * 10 + (*q - '0');
		}
		if (port < 1 || port > 65535)
			return "the port is not 1-65535";
	}
	return NULL;
}

/* Key references as vault/vault.h lists them; the vault checks the rest. */
static bool key_ref_ok(const char *v)
{
	if (!no_space_printable(v))
		return false;
	if (https_url(v))
		return strstr(v, "/secrets/") != NULL;
	if (!strncmp(v, "bek:", 4))
		return v[4] && !strchr(v + 4, '/');
	if (!strncmp(v, "keystore:", 9))
		return v[9] != '\0';
	if (!strncmp(v, "file:", 5))
		return v[5] == '/';
	/* A bare secret name in the default vault: NAME or NAME/VERSION. */
	for (const char *p = v; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '/')
			return false;
	return v[0] && v[0] != '/';
}

static bool kek_ref_ok(const char *v)
{
	if (!no_space_printable(v))
		return false;
	if (https_url(v))
		return strstr(v, "/keys/") != NULL;
	if (!vv_kek_ref_is_local(v))
		return false;
	/* A local KEK: an absolute PEM path, or a keystore KEK's name. */
	return !strncmp(v, "file:", 5) ? v[5] == '/' : v[13] != '\0';
}

static bool fs_ok(const char *v)
{
	if (!*v || strlen(v) > 31)
		return false;
	for (; *v; v++)
		if (!isalnum((unsigned char)*v) && *v != '-' && *v != '_' && *v != '.')
			return false;
	return true;
}

static int parse_bool(const char *v, enum vv_tristate *out)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true")) {
		*out = VV_TRI_YES;
		return 0;
	}
	if (!strcmp(v, "no") || !strcmp(v, "false")) {
		*out = VV_TRI_NO;
		return 0;
	}
	return -EINVAL;
}

/* ---- parser ------------------------------------------------------------ */

enum section { SEC_NONE, SEC_VAULT, SEC_VOLUME, SEC_SNAPSHOT, SEC_OPEN, SEC_ADE, SEC_REVOCATION };

struct parser {
	const char *name;
	int line;
	struct vv_error *err;
	struct vv_config *cfg;
	enum section sec;
	struct vv_volume_conf *vol;	/* current [volume] */
	bool seen_vault, seen_snapshot, seen_open, seen_ade, seen_revocation;
	/* keys seen in the current section, for duplicate detection */
	char seen[32][32];
	int nseen;
	int sec_line;
};

static int perr(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int perr(struct parser *p, const char *fmt, ...)
{
	char what[sizeof(p->err->message)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return vv_fail(p->err, -EINVAL, VV_CAUSE_CONFIG, "%s:%d: %s", p->name, p->line, what);
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* A [volume] section is complete: check what needs the whole section. */
static int finish_volume(struct parser *p)
{
	struct vv_volume_conf *v = p->vol;
	int saved = p->line;
	int r = 0;

	if (!v)
		return 0;
	p->line = p->sec_line;
	if (v->match.kind == VV_MATCH_NONE)
		r = perr(p, "[volume %s] has no 'match' (uuid:, lun:, path: or bitlocker:)", v->name);
	else if ((v->alg) && !v->kek)
		r = perr(p, "[volume %s]: 'alg' needs 'kek'", v->name);
	p->line = saved;
	p->vol = NULL;
	return r;
}

static int section_header(struct parser *p, char *s)
{
	char *end = strchr(s, ']');
	char *body, *arg;
	int r;

	if (!end || end[1] != '\0')
		return perr(p, "malformed section header (expected [name])");
	*end = '\0';
	body = trim(s + 1);
	r = finish_volume(p);
	if (r)
		return r;
	p->nseen = 0;
	p->sec_line = p->line;
	arg = body + strcspn(body, " \t");
	if (*arg) {
		*arg++ = '\0';
		arg = trim(arg);
	}
	if (!strcmp(body, "vault") || !strcmp(body, "snapshot")) {
		bool *seen = body[0] == 'v' ? &p->seen_vault : &p->seen_snapshot;

		if (*arg)
			return perr(p, "[%s] takes no name", body);
		if (*seen)
			return perr(p, "duplicate section [%s]", body);
		*seen = true;
		p->sec = body[0] == 'v' ? SEC_VAULT : SEC_SNAPSHOT;
		return 0;
	}
	if (!strcmp(body, "open")) {
		if (*arg)
			return perr(p, "[open] takes no name");
		if (p->seen_open)
			return perr(p, "duplicate section [open]");
		p->seen_open = true;
		p->sec = SEC_OPEN;
		return 0;
	}
	if (!strcmp(body, "revocation")) {
		if (*arg || p->seen_revocation)
			return perr(p, *arg ? "[revocation] takes no name" :
				    "duplicate section [revocation]");
		p->seen_revocation = true;
		p->sec = SEC_REVOCATION;
		return 0;
	}
	if (!strcmp(body, "ade")) {
		if (*arg || p->seen_ade)
			return perr(p, *arg ? "[ade] takes no name" : "duplicate section [ade]");
		p->seen_ade = true;
		p->sec = SEC_ADE;
		return 0;
	}
	if (!strcmp(body, "volume")) {
		struct vv_volume_conf *nv;
		char where[PATH_MAX + 16];

		if (!*arg)
			return perr(p, "[volume] needs a name: [volume NAME]");
		if (!vv_volume_name_valid(arg))
			return perr(p, "invalid volume name '%s' (1-64 of A-Z a-z 0-9 . _ + -)", arg);
		if (vv_config_volume(p->cfg, arg))
			return perr(p, "duplicate section [volume %s]", arg);
		nv = realloc(p->cfg->volumes, (p->cfg->nvolumes + 1) * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		p->cfg->volumes = nv;
		p->vol = &nv[p->cfg->nvolumes++];
		memset(p->vol, 0, sizeof(*p->vol));
		p->vol->origin = VV_ORIGIN_CONFIG;
		snprintf(where, sizeof(where), "%s:%d", p->name, p->line);
		p->vol->name = strdup(arg);
		p->vol->where = strdup(where);
		if (!p->vol->name || !p->vol->where)
			return -ENOMEM;
		p->sec = SEC_VOLUME;
		return 0;
	}
	return perr(p, "unknown section [%s] (known: [vault], [volume NAME], [open], [snapshot], "
		    "[revocation], [ade])", body);
}

static int set_str(struct parser *p, char **dst, const char *key, const char *v,
		   bool (*ok)(const char *), const char *expect)
{
	if (ok && !ok(v))
		return perr(p, "%s: invalid value '%s' (expected %s)", key, v, expect);
	*dst = strdup(v);
	return *dst ? 0 : -ENOMEM;
}

static int set_timeout(struct parser *p, int *dst, const char *key, const char *v)
{
	long t;

	if (!parse_int(v, 1, VV_TIMEOUT_MAX_S, &t))
		return perr(p, "%s: invalid value '%s' (expected seconds, 1-%d)", key, v,
			    VV_TIMEOUT_MAX_S);
	*dst = (int)t;
	return 0;
}

static int vault_key(struct parser *p, const char *k, const char *v)
{
	struct vv_config_vault *c = &p->cfg->vault;

	if (!strcmp(k, "url"))
		return set_str(p, &c->url, k, v, https_url, "an https:// URL");
	if (!strcmp(k, "secondary"))
		return set_str(p, &c->secondary, k, v, https_url, "an https:// URL");
	if (!strcmp(k, "allowed"))
		return vv_config_add_allowed(c, v, p->err, p->name, p->line);
	if (!strcmp(k, "moved"))
		return vv_config_add_moved(c, v, p->err, p->name, p->line);
	if (!strcmp(k, "imds"))
		return set_str(p, &c->imds, k, v, http_url, "an http:// URL");
	if (!strcmp(k, "ca_file"))
		return set_str(p, &c->ca_file, k, v, abs_path, "an absolute path");
	if (!strcmp(k, "identity")) {
		const char *colon = strchr(v, ':');
		size_t kl = colon ? (size_t)(colon - v) : 0;

		if (!colon || !colon[1] || !no_space_printable(colon + 1) ||
		    !((kl == 9 && !strncmp(v, "client_id", 9)) ||
		      (kl == 9 && !strncmp(v, "object_id", 9)) ||
		      (kl == 10 && !strncmp(v, "msi_res_id", 10))))
			return perr(p, "identity: invalid value '%s' (expected client_id:ID, "
				    "object_id:ID or msi_res_id:ID)", v);
		c->identity_kind = strndup(v, kl);
		c->identity_value = strdup(colon + 1);
		return c->identity_kind && c->identity_value ? 0 : -ENOMEM;
	}
	if (!strcmp(k, "aad_tenant"))
		return set_str(p, &c->aad_tenant, k, v, no_space_printable, "a tenant id");
	if (!strcmp(k, "aad_authority")) {
		const char *why = aad_authority_why(v);

		/* A value with userinfo may carry a password: not echoed. */
		if (why)
			return perr(p, "aad_authority: invalid value '%s': %s (expected "
				    "https://HOST[:PORT], e.g. https://login.microsoftonline.us; "
				    "fix the line or remove it for https://login.microsoftonline.com)",
				    strchr(v, '@') ? "(hidden)" : v, why);
		return set_str(p, &c->aad_authority, k, v, NULL, NULL);
	}
	if (!strcmp(k, "aad_client_id"))
		return set_str(p, &c->aad_client_id, k, v, no_space_printable, "a client id");
	if (!strcmp(k, "aad_secret_file"))
		return set_str(p, &c->aad_secret_file, k, v, abs_path, "an absolute path");
	if (!strcmp(k, "aad_cert_file"))
		return set_str(p, &c->aad_cert_file, k, v, abs_path, "an absolute path");
	if (!strcmp(k, "keystore"))
		return set_str(p, &c->keystore, k, v, abs_path, "an absolute path");
	if (!strcmp(k, "timeout"))
		return set_timeout(p, &c->timeout_s, k, v);
	if (!strcmp(k, "require_purge_protection")) {
		enum vv_tristate t;

		if (parse_bool(v, &t) < 0)
			return perr(p, "%s: invalid value '%s' (expected yes or no)", k, v);
		c->require_purge_protection = t == VV_TRI_YES;
		return 0;
	}
	return perr(p, "unknown key '%s' in [vault]", k);
}

static int volume_key(struct parser *p, const char *k, const char *v)
{
	struct vv_volume_conf *vol = p->vol;

	if (!strcmp(k, "match")) {
		char why[256];

		if (vv_match_parse(v, &vol->match, why, sizeof(why)) < 0)
			return perr(p, "match: %s", why);
		return 0;
	}
	if (!strcmp(k, "key"))
		return set_str(p, &vol->key, k, v, key_ref_ok,
			       "https://VAULT/secrets/NAME[/VERSION], NAME[/VERSION], bek:FILE, "
			       "keystore:NAME or file:/PATH");
	if (!strcmp(k, "kek"))
		return set_str(p, &vol->kek, k, v, kek_ref_ok,
			       "https://VAULT/keys/NAME/VERSION, file:/PATH.pem or keystore-kek:NAME");
	if (!strcmp(k, "alg"))
		return set_str(p, &vol->alg, k, v, vv_kek_alg_valid,
			       "RSA-OAEP, RSA-OAEP-256 or RSA1_5");
	if (!strcmp(k, "mount")) {
		char why[PATH_MAX + 80];

		if (vv_mount_point_check(v, VV_ORIGIN_CONFIG, why, sizeof(why)) < 0)
			return perr(p, "mount: invalid value: %s", why);
		return set_str(p, &vol->mount, k, v, NULL, NULL);
	}
	if (!strcmp(k, "fs"))
		return set_str(p, &vol->fs, k, v, fs_ok, "a filesystem type such as ext4");
	if (!strcmp(k, "options"))
		return set_str(p, &vol->options, k, v, no_space_printable,
			       "comma-separated mount options without spaces");
	if (!strcmp(k, "readonly")) {
		if (parse_bool(v, &vol->readonly) < 0)
			return perr(p, "readonly: invalid value '%s' (expected yes or no)", v);
		return 0;
	}
	if (!strcmp(k, "quiesce")) {
		if (!strcmp(v, "auto"))
			vol->quiesce = VV_TRI_AUTO;
		else if (parse_bool(v, &vol->quiesce) < 0)
			return perr(p, "quiesce: invalid value '%s' (expected auto, yes or no)", v);
		return 0;
	}
	if (!strcmp(k, "revocation")) {
		if (parse_bool(v, &vol->revocation) < 0)
			return perr(p, "revocation: invalid value '%s' (expected yes or no)", v);
		return 0;
	}
	return perr(p, "unknown key '%s' in [volume %s]", k, vol->name);
}

static int snapshot_key(struct parser *p, const char *k, const char *v)
{
	struct vv_config_snapshot *s = &p->cfg->snapshot;

	if (!strcmp(k, "timeout"))
		return set_timeout(p, &s->timeout_s, k, v);
	if (!strcmp(k, "scripts_config"))
		return set_str(p, &s->scripts_config, k, v, abs_path, "an absolute path");
	if (!strcmp(k, "hooks_dir"))
		return set_str(p, &s->hooks_dir, k, v, abs_path, "an absolute path");
	if (!strcmp(k, "exclude")) {
		char *copy = strdup(v), *save = NULL, *tok;
		int r = 0;

		if (!copy)
			return -ENOMEM;
		for (tok = strtok_r(copy, ",", &save); tok && !r; tok = strtok_r(NULL, ",", &save)) {
			char *t = trim(tok), **nx;

			if (!abs_path(t)) {
				r = perr(p, "exclude: '%s' is not an absolute mount point", t);
				break;
			}
			nx = realloc(s->exclude, (s->nexclude + 1) * sizeof(*nx));
			if (!nx || !(nx[s->nexclude] = strdup(t))) {
				if (nx)
					s->exclude = nx;
				r = -ENOMEM;
				break;
			}
			s->exclude = nx;
			s->nexclude++;
		}
		free(copy);
		return r;
	}
	return perr(p, "unknown key '%s' in [snapshot]", k);
}

int vv_duration_parse(const char *s, int *secs)
{
	unsigned long long n = 0, unit = 1;
	const char *c = s;

	if (!isdigit((unsigned char)*c))
		return -EINVAL;
	for (; isdigit((unsigned char)*c); c++) {
		n = n * 10 + (unsigned)(*c - '0');
		if (n > INT_MAX)
			return -EINVAL;
	}
	switch (*c) {
	case '\0': break;
	case 's': c++; break;
	case 'm': unit = 60; c++; break;
	case 'h': unit = 3600; c++; break;
	case 'd': unit = 86400; c++; break;
	default: return -EINVAL;
	}
	if (*c || n * unit > INT_MAX)
		return -EINVAL;
	*secs = (int)(n * unit);
	return 0;
}

static int set_duration(struct parser *p, int *dst, const char *k, const char *v, int min,
			int max)
{
	int t;

	if (vv_duration_parse(v, &t) < 0 || t < min || t > max)
		return perr(p, "%s: invalid value '%s' (expected a duration such as 30s, 5m "
			    "or 1h, %ds-%ds)", k, v, min, max);
	*dst = t;
	return 0;
}

static int revocation_key(struct parser *p, const char *k, const char *v)
{
	struct vv_config_revocation *rv = &p->cfg->revocation;
	enum vv_tristate t;

	if (!strcmp(k, "enforce")) {
		if (parse_bool(v, &t) < 0)
			return perr(p, "enforce: invalid value '%s' (expected yes or no)", v);
		rv->enforce = t == VV_TRI_YES;
		rv->given |= VV_REV_SET_ENFORCE;
		return 0;
	}
	if (!strcmp(k, "check")) {
		rv->given |= VV_REV_SET_CHECK;
		return set_duration(p, &rv->check_s, k, v, VV_REVOCATION_CHECK_MIN_S,
				    VV_REVOCATION_CHECK_MAX_S);
	}
	if (!strcmp(k, "grace")) {
		rv->given |= VV_REV_SET_GRACE;
		return set_duration(p, &rv->grace_s, k, v, 0, VV_REVOCATION_GRACE_MAX_S);
	}
	return perr(p, "unknown key '%s' in [revocation]", k);
}

/*
 * [open] token_options_allowed = suid, dev, exec: the mount options a
 * disk's token may ask for (a header is not authenticated; see docs/open.md).
 */
static int open_key(struct parser *p, const char *k, const char *v)
{
	char *copy, *save = NULL, *tok;
	int r = 0;

	if (strcmp(k, "token_options_allowed"))
		return perr(p, "unknown key '%s' in [open]", k);
	copy = strdup(v);
	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok && !r; tok = strtok_r(NULL, ",", &save)) {
		char *t = trim(tok);

		if (!strcmp(t, "suid"))
			p->cfg->token_options_allowed |= VV_TOKOPT_SUID;
		else if (!strcmp(t, "dev"))
			p->cfg->token_options_allowed |= VV_TOKOPT_DEV;
		else if (!strcmp(t, "exec"))
			p->cfg->token_options_allowed |= VV_TOKOPT_EXEC;
		else
			r = perr(p, "token_options_allowed: invalid value '%s' (expected a list "
				 "of suid, dev, exec)", t);
	}
	free(copy);
	return r;
}

static int key_line(struct parser *p, char *s)
{
	char *eq = strchr(s, '=');
	char *k, *v;

	if (!eq)
		return perr(p, "expected 'key = value', '[section]' or a '#' comment");
	*eq = '\0';
	k = trim(s);
	v = trim(eq + 1);
	if (!*k)
		return perr(p, "missing key before '='");
	if (!*v)
		return perr(p, "%s: empty value", k);
	if (p->sec == SEC_NONE)
		return perr(p, "'%s' outside any section", k);
	if (strlen(k) >= sizeof(p->seen[0]))
		return perr(p, "unknown key '%s'", k);
	/* Lists (`allowed`, `moved`) may take several lines; values may not. */
	for (int i = 0; i < p->nseen; i++)
		if (!strcmp(p->seen[i], k) &&
		    !(p->sec == SEC_VAULT && (!strcmp(k, "allowed") || !strcmp(k, "moved"))))
			return perr(p, "duplicate key '%s' in this section", k);
	if (p->nseen < (int)(sizeof(p->seen) / sizeof(p->seen[0])))
		strcpy(p->seen[p->nseen++], k);
	switch (p->sec) {
	case SEC_VAULT: return vault_key(p, k, v);
	case SEC_VOLUME: return volume_key(p, k, v);
	case SEC_SNAPSHOT: return snapshot_key(p, k, v);
	case SEC_OPEN: return open_key(p, k, v);
	case SEC_REVOCATION: return revocation_key(p, k, v);
	case SEC_ADE:
		if (strcmp(k, "resource_disk"))
			return perr(p, "unknown key '%s' in [ade]", k);
		if (strcmp(v, "reencrypt") && strcmp(v, "skip"))
			return perr(p, "resource_disk: invalid value '%s' (expected reencrypt or skip)", v);
		p->cfg->ade_resource_skip = !strcmp(v, "skip");
		return 0;
	default: return -EINVAL;
	}
}

static struct vv_config *config_new(void)
{
	struct vv_config *cfg = calloc(1, sizeof(*cfg));

	if (cfg) {
		cfg->snapshot.timeout_s = VV_SNAPSHOT_DEFAULT_TIMEOUT_S;
		cfg->revocation.check_s = VV_REVOCATION_DEFAULT_CHECK_S;
		cfg->revocation.grace_s = VV_REVOCATION_DEFAULT_GRACE_S;
	}
	return cfg;
}

int vv_config_parse(const char *text, const char *name, struct vv_config **out,
		    struct vv_error *err)
{
	struct parser p = { .name = name ? name : "(config)", .err = err };
	char *copy = strdup(text), *save = NULL, *line, *cur;
	int r = 0;

	vv_error_clear(err);
	p.cfg = config_new();
	if (!copy || !p.cfg) {
		r = -ENOMEM;
		goto out;
	}
	/* Walk lines by hand: strtok would merge empty lines and skew numbers. */
	for (cur = copy; cur && !r; cur = save) {
		char *nl = strchr(cur, '\n');

		save = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		p.line++;
		if (strchr(cur, '\r') && strchr(cur, '\r')[1] == '\0')
			*strchr(cur, '\r') = '\0';
		for (const char *c = cur; *c; c++)
			if ((unsigned char)*c < 0x20 && *c != '\t') {
				r = perr(&p, "control character in line");
				break;
			}
		if (r)
			break;
		line = trim(cur);
		if (!*line || line[0] == '#')
			continue;
		if (line[0] == '[')
			r = section_header(&p, line);
		else
			r = key_line(&p, line);
		if (r == -ENOMEM)
			vv_fail(err, r, VV_CAUSE_SYSTEM, "%s: out of memory", p.name);
	}
	if (!r)
		r = finish_volume(&p);
out:
	free(copy);
	if (r) {
		vv_config_free(p.cfg);
		return r;
	}
	*out = p.cfg;
	return 0;
}

int vv_config_load_file(const char *path, bool must_exist, struct vv_config **out,
			struct vv_error *err)
{
	bool is_default = !must_exist;
	struct vv_error e = { 0 };
	char *text = NULL;
	size_t got = 0;
	int r;

	if (!path)
		path = VV_DEFAULT_CONFIG;
	vv_error_clear(err);
	/*
	 * The file names key sources and mount points: whoever can write it
	 * can redirect keys and mounts, so it must be as protected as root.
	 */
	r = vv_file_read(AT_FDCWD, path, VV_RF_TRUSTED, VV_CONFIG_MAX, &text, &got, &e);
	if (r == -ENOENT && is_default) {
		*out = config_new();
		return *out ? 0 : -ENOMEM;
	}
	if (r < 0)
		return vv_fail(err, r, e.cause, "%s", e.message);
	if (strlen(text) != got) {
		r = vv_fail(err, -EINVAL, VV_CAUSE_CONFIG, "%s: contains a NUL byte", path);
		goto out;
	}
	r = vv_config_parse(text, path, out, err);
	if (!r) {
		(*out)->path = strdup(path);
		if (!(*out)->path) {
			vv_config_free(*out);
			*out = NULL;
			r = -ENOMEM;
		}
	}
out:
	free(text);
	return r;
}

void vv_config_free(struct vv_config *cfg)
{
	struct vv_config_vault *c;

	if (!cfg)
		return;
	c = &cfg->vault;
	free(c->url);
	free(c->secondary);
	for (size_t i = 0; i < c->nallowed; i++)
		free(c->allowed[i]);
	free(c->allowed);
	for (size_t i = 0; i < c->nmoves; i++) {
		free((char *)c->moves[i].from);
		free((char *)c->moves[i].to);
	}
	free(c->moves);
	free(c->imds);
	free(c->ca_file);
	free(c->identity_kind);
	free(c->identity_value);
	free(c->aad_tenant);
	free(c->aad_authority);
	free(c->aad_client_id);
	free(c->aad_secret_file);
	free(c->aad_cert_file);
	free(c->keystore);
	for (size_t i = 0; i < cfg->nvolumes; i++)
		vv_volume_conf_clear(&cfg->volumes[i]);
	free(cfg->volumes);
	for (size_t i = 0; i < cfg->snapshot.nexclude; i++)
		free(cfg->snapshot.exclude[i]);
	free(cfg->snapshot.exclude);
	free(cfg->snapshot.scripts_config);
	free(cfg->snapshot.hooks_dir);
	free(cfg->path);
	free(cfg);
}

const struct vv_volume_conf *vv_config_volume(const struct vv_config *cfg, const char *name)
{
	if (!cfg)
		return NULL;
	for (size_t i = 0; i < cfg->nvolumes; i++)
		if (cfg->volumes[i].name && !strcmp(cfg->volumes[i].name, name))
			return &cfg->volumes[i];
	return NULL;
}

int vv_config_vault(const struct vv_config *cfg, const struct vv_options *opt,
		    struct vv_vault_config *vcfg)
{
	const struct vv_config_vault *c = cfg ? &cfg->vault : NULL;

	memset(vcfg, 0, sizeof(*vcfg));
	if (c) {
		vcfg->vault_url = c->url;
		vcfg->secondary_url = c->secondary;
		vcfg->allowed_urls = (const char *const *)c->allowed;
		vcfg->moves = c->moves;
		vcfg->nmoves = c->nmoves;
		vcfg->imds_url = c->imds;
		vcfg->ca_file = c->ca_file;
		vcfg->identity_kind = c->identity_kind;
		vcfg->identity_value = c->identity_value;
		vcfg->aad_tenant = c->aad_tenant;
		vcfg->aad_authority = c->aad_authority;	/* NULL: the public cloud's */
		vcfg->aad_client_id = c->aad_client_id;
		vcfg->aad_secret_file = c->aad_secret_file;
		vcfg->aad_cert_file = c->aad_cert_file;
		vcfg->keystore_dir = c->keystore;
		if (c->timeout_s > 0) {
			/* The timeout bounds one key operation with its retries;
			 * a single request gets at most the library default. */
			vcfg->total_timeout_ms = c->timeout_s * 1000;
			vcfg->request_timeout_ms = c->timeout_s * 1000 < 10000 ? c->timeout_s * 1000 : 0;
		}
	}
	if (opt) {
		if (opt->vault_url)
			vcfg->vault_url = opt->vault_url;
		if (opt->imds_url)
			vcfg->imds_url = opt->imds_url;
		if (opt->ca_file)
			vcfg->ca_file = opt->ca_file;
	}
	return 0;
}
