// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `vaultvol key show|put|new-kek`: inspect and store BEKs. Output is
 * metadata only: key bytes never reach argv, stdout, stderr or logs (the
 * SHA-256 fingerprint identifies a key without revealing it). Key material
 * for `put` comes from a file, stdin or the RNG, never the command line.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/rand.h>

#include "agent/command.h"
#include "agent/error_view.h"
#include "agent/config/config_vault.h"
#include "agent/open/open.h"
#include "base/log.h"
#include "vault/vault.h"

static const char key_usage[] =
	"Usage: vaultvol [--json] key show SECRET-REF [--kek KEK-REF] [--keystore DIR]\n"
	"       vaultvol [--json] key put NAME [--kek KEK-REF] [--alg ALG]\n"
	"                [--file-name NAME] [--keystore DIR]\n"
	"                (--generate BYTES | --from-file PATH | --stdin)\n"
	"       vaultvol [--json] key new-kek NAME [--bits N] [--keystore DIR]\n"
	"\n"
	"show     fetch a key and print its metadata: reference and version,\n"
	"         source, content type, tags, wrapped or not, KEK and algorithm,\n"
	"         length, SHA-256 fingerprint of the unwrapped key, nbf/exp (warns\n"
	"         when expired), the vault's recovery level for the secret and a\n"
	"         vault KEK and whether it is purge-protected. Never the key itself.\n"
	"put      store a BEK (base64 once, ADE tags; wrapped when --kek is given)\n"
	"         and print the new versioned reference. The key comes from a\n"
	"         file, stdin or the random generator, never from the command line.\n"
	"new-kek  create a local RSA KEK in the keystore (keystore-kek:NAME).\n"
	"\n"
	"SECRET-REF  https://VAULT/secrets/NAME[/VERSION], NAME[/VERSION] (the\n"
	"            configured vault, or the keystore when there is none),\n"
	"            keystore:NAME[/VERSION], bek:FILE (BEK VOLUME), file:/PATH\n"
	"NAME        https://VAULT/secrets/NAME, NAME or keystore:NAME\n"
	"KEK-REF     https://VAULT/keys/NAME/VERSION, file:/PATH.pem,\n"
	"            keystore-kek:NAME\n"
	"ALG         RSA-OAEP (default), RSA-OAEP-256, RSA1_5\n"
	"--file-name DiskEncryptionKeyFileName tag (default LinuxPassPhraseFileName;\n"
	"            <GUID>.BEK for a BitLocker startup key)\n"
	"--keystore  local keystore directory (default from the config file, else\n"
	"            /etc/vaultvol/keys)\n";

enum { OPT_KEK = 1, OPT_ALG, OPT_FILE_NAME, OPT_KEYSTORE, OPT_GENERATE, OPT_FROM_FILE,
       OPT_STDIN, OPT_BITS };

struct key_args {
	const char *kek, *alg, *file_name, *keystore, *from_file;
	long generate;		/* bytes, 0 = not asked */
	bool from_stdin;
	long bits;
	const char *pos;	/* the one positional argument */
};

/* Parse argv (argv[0] = the subcommand). Returns 0 or VV_EXIT_USAGE. */
static int parse_args(int argc, char **argv, struct key_args *a)
{
	static const struct option longopts[] = {
		{ "kek", required_argument, NULL, OPT_KEK },
		{ "alg", required_argument, NULL, OPT_ALG },
		{ "file-name", required_argument, NULL, OPT_FILE_NAME },
		{ "keystore", required_argument, NULL, OPT_KEYSTORE },
		{ "generate", required_argument, NULL, OPT_GENERATE },
		{ "from-file", required_argument, NULL, OPT_FROM_FILE },
		{ "stdin", no_argument, NULL, OPT_STDIN },
		{ "bits", required_argument, NULL, OPT_BITS },
		{ 0 }
	};
	char *end;
	int c;

	memset(a, 0, sizeof(*a));
	optind = 0;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_KEK: a->kek = optarg; break;
		case OPT_ALG: a->alg = optarg; break;
		case OPT_FILE_NAME: a->file_name = optarg; break;
		case OPT_KEYSTORE: a->keystore = optarg; break;
		case OPT_FROM_FILE: a->from_file = optarg; break;
		case OPT_STDIN: a->from_stdin = true; break;
		case OPT_GENERATE:
		case OPT_BITS:
			errno = 0;
			*(c == OPT_BITS ? &a->bits : &a->generate) = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg) {
				fprintf(stderr, "vaultvol key: '%s' is not a number\n", optarg);
				return VV_EXIT_USAGE;
			}
			break;
		default:
			return VV_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "vaultvol key %s: expected exactly one %s argument\n",
			argv[0], strcmp(argv[0], "show") == 0 ? "SECRET-REF" : "NAME");
		return VV_EXIT_USAGE;
	}
	a->pos = argv[optind];
	return 0;
}

static void fail(const struct vv_options *opt, const char *what, const char *ref,
		 const struct vv_error *err)
{
	struct vv_error shown = *err;
	char *line = NULL;

	vv_key_remedy_fill(ref, &shown);
	/* As long as the reference is: a long URL is kept whole. */
	if (asprintf(&line, "key %s %s", what, ref) < 0)
		line = NULL;
	vv_error_print(opt->json, VV_EV_LOG | VV_EV_CAUSE, line ? line : "key", &shown);
	free(line);
}

static char *iso_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "%lld", (long long)t);
	return buf;
}

/* The version part of a versioned reference, or NULL. */
static const char *version_of(const struct vv_bek *b)
{
	const char *slash;

	if (!b->secret_id || (strcmp(b->source, "keyvault") && strcmp(b->source, "keystore")))
		return NULL;
	slash = strrchr(b->secret_id, '/');
	return slash && slash[1] ? slash + 1 : NULL;
}

/* err: the secret holds no key (b->key NULL); shown with the metadata. */
static void print_show_json(const struct vv_bek *b, const char *fp, bool expired,
			    bool early, const struct vv_error *err)
{
	struct json_object *o = json_object_new_object(), *tags = json_object_new_object();
	const char *ver = version_of(b);

#define ADD_STR(k, v) json_object_object_add(o, k, (v) ? json_object_new_string(v) : NULL)
	ADD_STR("ref", b->secret_id);
	ADD_STR("version", ver);
	ADD_STR("source", b->source);
	ADD_STR("content_type", b->content_type);
	json_object_object_add(o, "wrapped", json_object_new_boolean(b->wrapped));
	ADD_STR("kek", b->kek_id);
	ADD_STR("alg", b->alg);
	ADD_STR("file_name", b->file_name);
	ADD_STR("kind", b->windows_bek ? "bitlocker-startup-key" : "passphrase");
	json_object_object_add(o, "length", b->key ? json_object_new_int64((int64_t)b->key->len)
						   : NULL);
	ADD_STR("sha256", b->key ? fp : NULL);
	json_object_object_add(o, "nbf", b->nbf ? json_object_new_int64(b->nbf) : NULL);
	json_object_object_add(o, "exp", b->exp ? json_object_new_int64(b->exp) : NULL);
	json_object_object_add(o, "expired", json_object_new_boolean(expired));
	json_object_object_add(o, "not_yet_valid", json_object_new_boolean(early));
	ADD_STR("recovery_level", b->recovery_level);
	json_object_object_add(o, "recoverable_days", b->recoverable_days ?
			       json_object_new_int(b->recoverable_days) : NULL);
	json_object_object_add(o, "purge_protected", b->recovery_level ?
			       json_object_new_boolean(vv_recovery_level_protected(
				       b->recovery_level)) : NULL);
	ADD_STR("kek_recovery_level", b->kek_recovery_level);
	json_object_object_add(o, "kek_purge_protected", b->kek_recovery_level ?
			       json_object_new_boolean(vv_recovery_level_protected(
				       b->kek_recovery_level)) : NULL);
	for (size_t i = 0; i < b->ntags; i++)
		json_object_object_add(tags, b->tags[i].name,
				       json_object_new_string(b->tags[i].value));
	json_object_object_add(o, "tags", tags);
	if (err)
		json_object_object_add(o, "error", vv_error_json(err));
#undef ADD_STR
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						      JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* "Recoverable, 90 days (purge-protected)"; nothing for local keys. */
static void print_recovery(const char *label, const char *level, int days)
{
	if (!level)
		return;
	printf("%s%s", label, level);
	if (days)
		printf(", %d days", days);
	printf(" (%s)\n", vv_recovery_level_protected(level) ? "purge-protected" :
	       "NOT purge-protected");
}

static void print_show_text(const struct vv_bek *b, const char *fp, bool expired,
			    bool early)
{
	const char *ver = version_of(b);
	char t[64];

	printf("reference:    %s\n", b->secret_id ? b->secret_id : "-");
	printf("version:      %s\n", ver ? ver : "-");
	printf("source:       %s\n", b->source);
	printf("content type: %s\n", b->content_type ? b->content_type : "-");
	if (b->wrapped)
		printf("wrapped:      yes, KEK %s, %s\n", b->kek_id ? b->kek_id : "?",
		       b->alg ? b->alg : "?");
	else
		printf("wrapped:      no\n");
	printf("file name:    %s\n", b->file_name ? b->file_name : "-");
	printf("kind:         %s\n", b->windows_bek ? "BitLocker startup key (.BEK)"
						  : "passphrase");
	if (b->key) {
		printf("length:       %zu bytes\n", b->key->len);
		printf("fingerprint:  sha256:%s\n", fp);
	} else
		printf("value:        not a base64 key\n");
	if (b->nbf)
		printf("not before:   %s%s\n", iso_time(b->nbf, t, sizeof(t)),
		       early ? " (NOT YET VALID)" : "");
	if (b->exp)
		printf("expires:      %s%s\n", iso_time(b->exp, t, sizeof(t)),
		       expired ? " (EXPIRED)" : "");
	print_recovery("recovery:     ", b->recovery_level, b->recoverable_days);
	print_recovery("KEK recovery: ", b->kek_recovery_level, b->kek_recoverable_days);
	if (b->ntags) {
		printf("tags:\n");
		for (size_t i = 0; i < b->ntags; i++)
			printf("  %s = %s\n", b->tags[i].name, b->tags[i].value);
	}
}

/*
 * A vault KEK's recovery level: one key GET, here only (opening a volume
 * asks nothing about its KEK). Not being able to read it is not an error:
 * the unwrap worked.
 */
static void add_kek_recovery(struct vv_vault *v, struct vv_bek *b)
{
	struct vv_key_info *ki = NULL;
	struct vv_error err = { 0 };

	if (!b->kek_id || vv_kek_ref_is_local(b->kek_id) ||
	    vv_key_get(v, b->kek_id, &ki, &err) < 0 || !ki->recovery_level) {
		vv_key_info_free(ki);
		return;
	}
	b->kek_recovery_level = ki->recovery_level;
	b->kek_recoverable_days = ki->recoverable_days;
	ki->recovery_level = NULL;
	vv_key_info_free(ki);
}

static void warn_purge(const char *level, const char *what, const char *id)
{
	char advice[1024];

	if (!level || vv_recovery_level_protected(level))
		return;
	vv_purge_advice(what, id, level, advice, sizeof(advice));
	vv_warn("%s", advice);
}

static int key_show(const struct vv_options *opt, int argc, char **argv)
{
	struct vv_vault_session s;
	struct vv_error err = { 0 };
	struct vv_bek *b = NULL;
	struct key_args a;
	char fp[65];
	int64_t now = (int64_t)time(NULL);
	bool expired, early;
	int r = parse_args(argc, argv, &a);

	if (r)
		return r;
	if (a.alg || a.file_name || a.from_file || a.from_stdin || a.generate || a.bits) {
		fprintf(stderr, "vaultvol key show: only --kek and --keystore apply\n");
		return VV_EXIT_USAGE;
	}
	if (vv_vault_session_open(opt, a.keystore, &s, &err) < 0) {
		vv_error_print(opt->json, VV_EV_LOG, NULL, &err);
		vv_vault_session_close(&s);
		return VV_EXIT_USAGE;
	}
	r = vv_bek_inspect(s.vault, a.pos, a.kek, &b, &err);
	if (r < 0 && !b) {
		fail(opt, "show", a.pos, &err);
		vv_vault_session_close(&s);
		return VV_EXIT_FAILURE;
	}
	/* A secret that holds no key: its metadata, then why it is no key. */
	if (!b->key || vv_secret_fingerprint(b->key, fp) < 0)
		snprintf(fp, sizeof(fp), "unavailable");
	expired = b->exp && b->exp <= now;
	early = b->nbf && b->nbf > now;
	if (expired)
		vv_warn("%s expired at %lld; it still opens volumes, rotate it",
			b->secret_id, (long long)b->exp);
	if (early)
		vv_warn("%s is not valid before %lld", b->secret_id, (long long)b->nbf);
	add_kek_recovery(s.vault, b);
	warn_purge(b->recovery_level, "the key", b->secret_id);
	warn_purge(b->kek_recovery_level, "the KEK", b->kek_id);
	if (opt->json)
		print_show_json(b, fp, expired, early, r < 0 ? &err : NULL);
	else
		print_show_text(b, fp, expired, early);
	if (r < 0 && !opt->json)
		fail(opt, "show", a.pos, &err);
	vv_bek_free(b);
	vv_vault_session_close(&s);
	return r < 0 ? VV_EXIT_FAILURE : VV_EXIT_OK;
}

/* Read all of fd into a new secret (at most VV_KEYFILE_MAX bytes). */
static int read_fd_secret(int fd, struct vv_secret **out)
{
	struct vv_secret *s = vv_secret_new(VV_KEYFILE_MAX + 1);

	*out = NULL;
	if (!s)
		return -ENOMEM;
	while (s->len < s->cap) {
		ssize_t n = read(fd, s->data + s->len, s->cap - s->len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;

			vv_secret_free(s);
			return r;
		}
		if (n == 0)
			break;
		s->len += (size_t)n;
	}
	if (s->len > VV_KEYFILE_MAX) {
		vv_secret_free(s);
		return -EFBIG;
	}
	*out = s;
	return 0;
}

/* A passphrase typed on a terminal: no echo, one line, newline dropped. */
static int read_tty_secret(struct vv_secret **out)
{
	struct termios old, quiet;
	struct vv_secret *s = vv_secret_new(1024);
	int r = 0;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	fprintf(stderr, "Key (input hidden, end with Enter): ");
	fflush(stderr);
	if (tcgetattr(0, &old) < 0) {
		vv_secret_free(s);
		return -errno;
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(0, TCSAFLUSH, &quiet);
	while (s->len < s->cap) {
		ssize_t n = read(0, s->data + s->len, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || s->data[s->len] == '\n')
			break;
		s->len++;
	}
	if (s->len < s->cap)
		s->data[s->len] = '\0';
	else
		r = -EFBIG;
	tcsetattr(0, TCSAFLUSH, &old);
	fprintf(stderr, "\n");
	if (r < 0)
		vv_secret_free(s);
	else
		*out = s;
	return r;
}

static int load_key(const struct vv_options *opt, const struct key_args *a,
		    struct vv_secret **key)
{
	struct vv_error err = { 0 };
	int sources = !!a->from_file + !!a->from_stdin + !!a->generate, r;

	*key = NULL;
	if (sources != 1) {
		fprintf(stderr, "vaultvol key put: give exactly one of --generate BYTES, "
			"--from-file PATH, --stdin\n");
		return -EINVAL;
	}
	if (a->generate) {
		if (a->generate < 16 || a->generate > 4096) {
			fprintf(stderr, "vaultvol key put: --generate takes 16..4096 bytes\n");
			return -EINVAL;
		}
		*key = vv_secret_new((size_t)a->generate);
		if (!*key)
			return -ENOMEM;
		/* The private DRBG: key material, not nonces. */
		if (RAND_priv_bytes((*key)->data, (int)a->generate) != 1) {
			vv_secret_free(*key);
			*key = NULL;
			vv_fail(&err, -EIO, VV_CAUSE_SYSTEM, "the random generator failed");
			vv_error_print(opt->json, VV_EV_LOG, "key put", &err);
			return -EIO;
		}
		(*key)->len = (size_t)a->generate;
		return 0;
	}
	if (a->from_file) {
		r = vv_key_file_read(AT_FDCWD, a->from_file, 0, key, &err);
		if (r < 0)
			vv_error_print(opt->json, VV_EV_LOG, "key put", &err);
		return r;
	}
	r = isatty(0) ? read_tty_secret(key) : read_fd_secret(0, key);
	if (r < 0) {
		vv_fail(&err, r, VV_CAUSE_SYSTEM, "reading the key from stdin: %s", strerror(-r));
		vv_error_print(opt->json, VV_EV_LOG, "key put", &err);
	}
	return r;
}

static int key_put(const struct vv_options *opt, int argc, char **argv)
{
	struct vv_vault_session s;
	struct vv_error err = { 0 };
	struct vv_secret *key = NULL;
	struct key_args a;
	char fp[65], *ref = NULL, *kid = NULL;
	int r = parse_args(argc, argv, &a);

	if (r)
		return r;
	if (a.bits) {
		fprintf(stderr, "vaultvol key put: --bits belongs to new-kek\n");
		return VV_EXIT_USAGE;
	}
	r = load_key(opt, &a, &key);
	if (r == -EINVAL)
		return VV_EXIT_USAGE;
	if (r < 0)
		return VV_EXIT_FAILURE;
	if (key->len == 0) {
		vv_fail(&err, -EINVAL, VV_CAUSE_CONFIG, "the key is empty");
		vv_error_print(opt->json, VV_EV_LOG, "key put", &err);
		vv_secret_free(key);
		return VV_EXIT_FAILURE;
	}
	if (vv_vault_session_open(opt, a.keystore, &s, &err) < 0) {
		vv_error_print(opt->json, VV_EV_LOG, NULL, &err);
		vv_vault_session_close(&s);
		vv_secret_free(key);
		return VV_EXIT_USAGE;
	}
	r = vv_bek_store(s.vault, a.pos, key, a.kek, a.alg, a.file_name, &ref, &kid, &err);
	if (r < 0) {
		fail(opt, "put", a.pos, &err);
		r = VV_EXIT_FAILURE;
		goto out;
	}
	if (vv_secret_fingerprint(key, fp) < 0)
		snprintf(fp, sizeof(fp), "unavailable");
	if (opt->json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "ref", json_object_new_string(ref));
		json_object_object_add(o, "wrapped", json_object_new_boolean(kid != NULL));
		json_object_object_add(o, "kek", kid ? json_object_new_string(kid) : NULL);
		json_object_object_add(o, "alg", kid ? json_object_new_string(
						       a.alg ? a.alg : "RSA-OAEP") : NULL);
		json_object_object_add(o, "length", json_object_new_int64((int64_t)key->len));
		json_object_object_add(o, "sha256", json_object_new_string(fp));
		printf("%s\n", json_object_to_json_string_ext(
			       o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		printf("stored:       %s\n", ref);
		if (kid)
			printf("wrapped:      yes, KEK %s, %s\n", kid, a.alg ? a.alg : "RSA-OAEP");
		else
			printf("wrapped:      no\n");
		printf("length:       %zu bytes\n", key->len);
		printf("fingerprint:  sha256:%s\n", fp);
	}
	r = VV_EXIT_OK;
out:
	free(ref);
	free(kid);
	vv_secret_free(key);
	vv_vault_session_close(&s);
	return r;
}

static int key_new_kek(const struct vv_options *opt, int argc, char **argv)
{
	struct vv_error err = { 0 };
	struct vv_config *cfg = NULL;
	struct key_args a;
	const char *dir;
	int r = parse_args(argc, argv, &a);

	if (r)
		return r;
	if (a.kek || a.alg || a.file_name || a.from_file || a.from_stdin || a.generate) {
		fprintf(stderr, "vaultvol key new-kek: only --bits and --keystore apply\n");
		return VV_EXIT_USAGE;
	}
	if (vv_config_load(opt->config_path, &cfg, &err) < 0) {
		vv_error_print(opt->json, VV_EV_LOG, NULL, &err);
		return VV_EXIT_USAGE;
	}
	dir = a.keystore ? a.keystore : cfg->vault.keystore ? cfg->vault.keystore
			 : VV_KEYSTORE_DEFAULT_DIR;
	if (!a.bits)
		a.bits = 3072;
	r = vv_keystore_create_kek(dir, a.pos, (unsigned)(a.bits > 0 ? a.bits : 0), &err);
	if (r < 0) {
		fail(opt, "new-kek", a.pos, &err);
		r = VV_EXIT_FAILURE;
	} else {
		if (opt->json)
			printf("{\"kek\":\"keystore-kek:%s\",\"bits\":%ld}\n", a.pos, a.bits);
		else
			printf("created keystore-kek:%s (RSA, %ld bits) in %s\n", a.pos, a.bits,
			       dir);
		r = VV_EXIT_OK;
	}
	vv_config_free(cfg);
	return r;
}

static int run_key(const struct vv_options *opt, int argc, char **argv)
{
	if (argc < 2) {
		fputs(key_usage, stderr);
		return VV_EXIT_USAGE;
	}
	if (strcmp(argv[1], "show") == 0)
		return key_show(opt, argc - 1, argv + 1);
	if (strcmp(argv[1], "put") == 0)
		return key_put(opt, argc - 1, argv + 1);
	if (strcmp(argv[1], "new-kek") == 0)
		return key_new_kek(opt, argc - 1, argv + 1);
	fprintf(stderr, "vaultvol key: unknown subcommand '%s'\n\n%s", argv[1], key_usage);
	return VV_EXIT_USAGE;
}

VV_COMMAND(key,
	.name = "key",
	.summary = "show or store a volume key (metadata only), create a local KEK",
	.usage = key_usage,
	.order = 50,
	.run = run_key);
