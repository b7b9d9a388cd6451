/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The VM extension handler protocol (waagent, Linux): how the extension
 * framework drives vaultvol. docs/handler.md describes usage and
 * docs/handler-settings.md the settings schema this code enforces.
 *
 *   HandlerEnvironment.json  -> struct vv_handler_env      (handler_env.c)
 *   <configFolder>/<N>.settings -> struct vv_handler_settings (handler_settings.c)
 *   protectedSettings (base64 DER CMS) -> plaintext secret    (handler_cms.c)
 *   public + protected JSON -> struct vv_handler_request       (handler_schema.c)
 *   operation -> struct vv_handler_result -> <N>.status        (handler_status.c)
 *   the install/enable/... flows                               (handler.c)
 *   the operations themselves, behind function pointers        (handler_ops.c)
 *
 * Everything read from the extension framework is hostile until validated:
 * sizes are capped before reading, JSON nesting is bounded, types are
 * checked strictly, unknown keys in the settings are rejected, and strings
 * echoed into messages are sanitized. Nothing secret reaches a message.
 */
#ifndef VV_HANDLER_H
#define VV_HANDLER_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/options.h"
#include "base/error.h"
#include "base/secret.h"

/* Limits (documented in docs/handler-settings.md). */
#define VV_HANDLER_SETTINGS_MAX	(1024 * 1024)	/* one <N>.settings file */
#define VV_HANDLER_ENV_MAX	(64 * 1024)	/* HandlerEnvironment.json */
#define VV_HANDLER_PROTECTED_MAX (64 * 1024)	/* decrypted protected JSON */
#define VV_HANDLER_MSG_MAX	1024		/* formattedMessage.message */
#define VV_HANDLER_STATUS_MAX	(128 * 1024)	/* one <N>.status file */
#define VV_HANDLER_MAX_VOLUMES	64
#define VV_HANDLER_JSON_DEPTH	16		/* nesting accepted in any input */
#define VV_HANDLER_SEQ_MAX	999999999	/* sequence numbers fit an int */

#define VV_DEFAULT_WAAGENT_DIR	"/var/lib/waagent"
#define VV_HANDLER_LOG_NAME	"vaultvol-handler.log"

/* ---- HandlerEnvironment.json ---------------------------------------- */

struct vv_handler_env {
	char *name;		/* handler name ("Publisher.Type"), may be NULL */
	char *version;		/* handler version, may be NULL */
	char *log_folder;	/* may be NULL: log to stderr only */
	char *config_folder;	/* required */
	char *status_folder;	/* required */
	char *heartbeat_file;	/* may be NULL */
};

/*
 * Parse dir/HandlerEnvironment.json. Folders must be absolute paths.
 * -ENOENT when the file is missing, -EINVAL when malformed; err explains.
 */
int vv_handler_env_load(const char *dir, struct vv_handler_env *env,
			struct vv_error *err);
/* Parse the text of a HandlerEnvironment.json (pure; for tests). */
int vv_handler_env_parse(const char *text, size_t len,
			 struct vv_handler_env *env, struct vv_error *err);
void vv_handler_env_clear(struct vv_handler_env *env);

/*
 * The handler's own directory: explicit (--handler-dir), else $VV_HANDLER_DIR,
 * else the directory of the running binary if it holds
 * HandlerEnvironment.json, else that directory's parent (the bundle keeps
 * the binary in bin/). Writes a malloc'ed path to *out.
 */
int vv_handler_find_dir(const char *explicit_dir, char **out);

/*
 * The sequence number to act on: env_seq (the ConfigSequenceNumber
 * environment variable) when set and valid, else the largest N with an
 * <N>.settings file in config_folder. -ENOENT when there is none, -EINVAL
 * when env_seq is not a decimal number in range.
 */
int vv_handler_pick_seq(const char *config_folder, const char *env_seq,
			int *seq, struct vv_error *err);

/* ---- <N>.settings ----------------------------------------------------- */

struct json_object;

struct vv_handler_settings {
	char *thumbprint;		/* protectedSettingsCertThumbprint or NULL */
	char *protected_b64;		/* protectedSettings or NULL */
	struct json_object *public_settings;	/* an object or NULL */
};

/* Read and parse a settings file (size-capped). -EINVAL + err on bad input. */
int vv_handler_settings_load(const char *path, struct vv_handler_settings *s,
			     struct vv_error *err);
int vv_handler_settings_parse(const char *text, size_t len,
			      struct vv_handler_settings *s,
			      struct vv_error *err);
void vv_handler_settings_clear(struct vv_handler_settings *s);

/*
 * Strict JSON parse of len bytes: exactly one value (an object), nothing but
 * whitespace after it, nesting at most VV_HANDLER_JSON_DEPTH. The parser's
 * scratch buffer is wiped (the text may be decrypted protected settings).
 * NULL with err filled on failure.
 */
struct json_object *vv_handler_json_parse(const char *text, size_t len,
					  struct vv_error *err);

/* ---- protectedSettings ----------------------------------------------- */

/*
 * Decrypt base64 DER CMS EnvelopedData with waagent_dir/<THUMBPRINT>.crt and
 * .prv (the thumbprint: 40 hex digits, SHA-1 of the certificate, which must
 * match). The plaintext lands in a secret (NUL-terminated), capped at
 * VV_HANDLER_PROTECTED_MAX. -EINVAL bad input, -ENOENT certificate or key
 * missing, -EACCES not decryptable with that certificate; err says which.
 */
int vv_handler_decrypt(const char *waagent_dir, const char *thumbprint,
		       const char *b64, struct vv_secret **plain,
		       struct vv_error *err);

/* ---- the request (validated settings) --------------------------------- */

enum vv_handler_op {
	VV_HOP_REOPEN,
	VV_HOP_PROVISION,
	VV_HOP_ROTATE,
	VV_HOP_SNAPSHOT,
};
const char *vv_handler_op_str(enum vv_handler_op op);

/*
 * One entry of "volumes". For reopen/rotate/snapshot only name is set; for
 * provision device and name are required and the rest optional.
 */
struct vv_handler_volume {
	char *name;
	char *device;
	char *mount;
	char *fs;
	char *options;
	char *key;		/* key reference (base) to store the new BEK under */
};

struct vv_handler_request {
	enum vv_handler_op op;
	struct vv_handler_volume *volumes;	/* NULL/0: every configured volume */
	size_t nvolumes;
	char *vault_url;	/* overrides the config file's vault */
	char *kek_url;		/* provision/rotate: KEK to wrap with */
	/* vaultMoved: the keys of vault moved_from now live in moved_to */
	char *moved_from, *moved_to;
	char *kek_alg;		/* RSA-OAEP (default), RSA-OAEP-256, RSA1_5 */
	bool rotate_kek;	/* rotate: re-wrap under kek_url instead of a new BEK */
	/* provision/rotate: refuse a vault without purge protection (or the
	 * config's [vault] require_purge_protection) */
	bool require_purge_protection;
	char *identity_client_id;	/* user-assigned managed identity */
	char *aad_client_id;	/* AAD application (with aad_client_secret) */
	char *aad_tenant_id;
	int timeout_s;		/* snapshot: freeze deadline; 0 = config/default */
	char *service_url;	/* snapshot: the backup service (required) */
	bool fs_consistent;	/* snapshot: "filesystem" instead of "application" */
	struct vv_secret *aad_client_secret;	/* protected; NULL when absent */
};

/*
 * Validate public (may be NULL: defaults) and protected (decrypted JSON,
 * may be NULL) settings into *req. -EINVAL with err naming the offending key
 * and the expected type; nothing secret is ever put in err.
 */
int vv_handler_request_build(struct json_object *public_settings,
			     struct json_object *protected_settings,
			     struct vv_handler_request *req,
			     struct vv_error *err);
void vv_handler_request_clear(struct vv_handler_request *req);

/* ---- results and the status file ------------------------------------- */

enum vv_hstatus {
	VV_HS_TRANSITIONING,
	VV_HS_WARNING,
	VV_HS_ERROR,
	VV_HS_SUCCESS,
};
const char *vv_hstatus_str(enum vv_hstatus s);

struct vv_handler_substatus {
	char *name;
	enum vv_hstatus status;
	int code;
	char *message;
};

struct vv_handler_result {
	enum vv_hstatus status;
	int code;			/* 0, or a vaultvol exit status */
	char message[VV_HANDLER_MSG_MAX + 1];
	struct vv_handler_substatus *sub;	/* one per volume */
	size_t nsub;
};

void vv_handler_result_set(struct vv_handler_result *r, enum vv_hstatus st,
			   int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The operation failed as err says: error status, "WHAT: MESSAGE[; remedy: ...]". */
void vv_handler_result_fail(struct vv_handler_result *r, int code, const char *what,
			    const struct vv_error *err);
/* Append a per-volume substatus. -ENOMEM. */
int vv_handler_result_add(struct vv_handler_result *r, const char *name,
			  enum vv_hstatus st, int code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/*
 * Derive the overall status from the substatuses: all success -> success,
 * all error -> error, a mix -> warning (some volumes failed). Keeps an
 * explicitly set error. Used by operations after filling substatuses.
 */
void vv_handler_result_summarize(struct vv_handler_result *r, const char *what);
void vv_handler_result_clear(struct vv_handler_result *r);

/*
 * Render the status document (pure; for tests): messages cut to
 * VV_HANDLER_MSG_MAX bytes on a UTF-8 boundary, substatus messages shortened
 * and, as a last resort, dropped so the text stays within
 * VV_HANDLER_STATUS_MAX. timestamp is "YYYY-MM-DDTHH:MM:SSZ".
 */
int vv_handler_status_render(const char *name, const char *operation,
			     const struct vv_handler_result *r,
			     const char *timestamp, char **text);

/* Write status_folder/<seq>.status atomically (temp, fsync, rename), 0600. */
int vv_handler_status_write(const char *status_folder, int seq,
			    const char *name, const char *operation,
			    const struct vv_handler_result *r);

/*
 * Has sequence number seq been handled? 1 when status_folder/<seq>.status
 * records a finished enable operation (success, warning or error; not
 * transitioning, not disable): *code gets its code. 0 when not, -errno on
 * unreadable state (treated as not handled by the caller).
 */
int vv_handler_status_handled(const char *status_folder, int seq, int *code);

/* Write the heartbeat file atomically. status: "ready" or "notready". */
int vv_handler_heartbeat_write(const char *path, const char *status, int code,
			       const char *message);

/* Cut s in place to at most max bytes on a UTF-8 character boundary. */
void vv_handler_utf8_cut(char *s, size_t max);
/*
 * Copy untrusted text for a message: printable ASCII kept, anything else
 * '?', at most 64 characters (then "...").
 */
void vv_handler_sanitize(const char *in, char *out, size_t outlen);

/* ---- operations -------------------------------------------------------- */

struct vv_handler_ctx {
	const struct vv_options *opt;	/* global options, vault overrides applied */
	const struct vv_handler_env *env;
	int seq;
};

/*
 * One operation. Fills res (overall status, code, message, one substatus per
 * volume). The return value is informational (0 or -errno); res decides the
 * status file.
 */
typedef int (*vv_handler_op_fn)(const struct vv_handler_ctx *ctx,
				const struct vv_handler_request *req,
				struct vv_handler_result *res);

struct vv_handler_ops {
	vv_handler_op_fn reopen;
	vv_handler_op_fn provision;
	vv_handler_op_fn rotate;
	vv_handler_op_fn snapshot;
};

/* The operations of this build (handler_ops.c). */
extern const struct vv_handler_ops vv_handler_default_ops;

/* ---- the commands ------------------------------------------------------ */

struct vv_handler_args {
	const char *handler_dir;	/* NULL: vv_handler_find_dir() */
	const char *waagent_dir;	/* NULL: $VV_WAAGENT_DIR or /var/lib/waagent */
	const char *seq_env;		/* ConfigSequenceNumber value or NULL */
	const struct vv_handler_ops *ops;	/* NULL: vv_handler_default_ops */
};

/* Each returns a process exit status (VV_EXIT_*). */
int vv_handler_install(const struct vv_options *opt, const struct vv_handler_args *a);
int vv_handler_enable(const struct vv_options *opt, const struct vv_handler_args *a);
int vv_handler_disable(const struct vv_options *opt, const struct vv_handler_args *a);
int vv_handler_uninstall(const struct vv_options *opt, const struct vv_handler_args *a);
int vv_handler_update(const struct vv_options *opt, const struct vv_handler_args *a);

#endif
