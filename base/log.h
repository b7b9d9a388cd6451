/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging for vault/ and agent/. Messages go to stderr, or, when stderr is
 * systemd's journal stream (JOURNAL_STREAM names stderr's device:inode, as
 * systemd sets it for a service), to the journal through libsystemd with
 * structured fields; and also to a log file when one is set (e.g. the
 * extension handler's log folder). Never pass key material here: the type
 * system cannot stop it, reviews and the leak tests (which grep logs and
 * journal datagrams for the test keys) do.
 */
#ifndef VV_LOG_H
#define VV_LOG_H

#include <stdbool.h>

enum vv_log_level { VV_LOG_ERR, VV_LOG_WARN, VV_LOG_INFO, VV_LOG_DEBUG };

/* Configuration, set once at start-up (the only process-wide state). */
void vv_log_set_level(enum vv_log_level lvl);
enum vv_log_level vv_log_get_level(void);
/* Also append messages to this file (NULL stops). Returns -errno. */
int vv_log_set_file(const char *path);
/*
 * Send every message to sink instead (NULL: back to stderr or the
 * journal, and the file): the token plugin hands vault/'s and agent/'s
 * messages to its host's logger (libcryptsetup's crypt_log), never to a
 * stderr or journal it does not own. The level filter still applies.
 */
typedef void (*vv_log_sink)(enum vv_log_level lvl, const char *msg, void *ctx);
void vv_log_set_sink(vv_log_sink sink, void *ctx);

/*
 * The journal's MESSAGE_ID of each event kind an operator may search for
 * (`journalctl MESSAGE_ID=...`); docs/ARCHITECTURE.md lists them.
 */
#define VV_MSGID_VOLUME_OPENED	"abfadd085c7240c5b67fe17ef6377277"
#define VV_MSGID_VOLUME_FAILED	"ba64e56d55a146b29df56d922077d2bc"
#define VV_MSGID_VAULT_FAILOVER	"e73ea28f1e47426788ca8ceecc53d58b"
#define VV_MSGID_SNAPSHOT	"8a60797e41c8499fb6ba92f740456e64"
#define VV_MSGID_KEY_EXPIRING	"2171a5e7ed5041b0911dfd03eabe58c3"
#define VV_MSGID_REVOCATION	"efce1500b93940d7ad69d40e475eecfa"

/*
 * What a message is about: each non-NULL member becomes a journal field
 * (VAULTVOL_VOLUME=, VAULTVOL_KEY_REF=, VAULTVOL_CAUSE=, MESSAGE_ID=). A key
 * reference names where a key lives, never the key.
 */
struct vv_log_fields {
	const char *volume;
	const char *key_ref;
	const char *cause;
	const char *message_id;
};

/* True when messages go to the journal (stderr is its stream). */
bool vv_log_journal(void);

void vv_log(enum vv_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void vv_log_with(enum vv_log_level lvl, const struct vv_log_fields *f,
		 const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define vv_err(...) vv_log(VV_LOG_ERR, __VA_ARGS__)
#define vv_warn(...) vv_log(VV_LOG_WARN, __VA_ARGS__)
#define vv_info(...) vv_log(VV_LOG_INFO, __VA_ARGS__)
#define vv_debug(...) vv_log(VV_LOG_DEBUG, __VA_ARGS__)

#endif
