/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging for vault/ and agent/. Messages go to stderr (and to a log file
 * when one is set, e.g. the extension handler's log folder). Never pass key
 * material here: the type system cannot stop it, reviews and the leak tests
 * (which grep logs for the test keys) do.
 */
#ifndef VV_LOG_H
#define VV_LOG_H

enum vv_log_level { VV_LOG_ERR, VV_LOG_WARN, VV_LOG_INFO, VV_LOG_DEBUG };

/* Configuration, set once at start-up (the only process-wide state). */
void vv_log_set_level(enum vv_log_level lvl);
enum vv_log_level vv_log_get_level(void);
/* Also append messages to this file (NULL stops). Returns -errno. */
int vv_log_set_file(const char *path);

void vv_log(enum vv_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define vv_err(...) vv_log(VV_LOG_ERR, __VA_ARGS__)
#define vv_warn(...) vv_log(VV_LOG_WARN, __VA_ARGS__)
#define vv_info(...) vv_log(VV_LOG_INFO, __VA_ARGS__)
#define vv_debug(...) vv_log(VV_LOG_DEBUG, __VA_ARGS__)

#endif
