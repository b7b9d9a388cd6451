/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Start tests/fakes/fakes.py (Key Vault primary + secondary over TLS, IMDS,
 * AAD, control API) on 127.0.0.1 with free ports, wait until it is ready,
 * read its ports and CA, drive its control API, and stop it.
 */
#ifndef VV_TEST_FAKES_PROC_H
#define VV_TEST_FAKES_PROC_H

#include <stdbool.h>
#include <sys/types.h>

struct json_object;

struct vv_fakes {
	pid_t pid;
	char dir[256];			/* state dir (certs, ports, log) */
	char ca[512];			/* CA that signed the fakes' certificates */
	char kv_url[128], kv2_url[128], imds_url[128], ctl_url[128];
	char aad_url[128], tenant[64];
	char aad_client_id[64], aad_client_secret[128];
	char aad_cert[512], aad_key[512];
	char kv_ip_url[128];		/* the primary by its address (fakes' own checks) */
	char resolve[256];		/* host:port:addr pins, also set in VAULTVOL_TEST_RESOLVE */
};

/* Start with extra fakes.py arguments (NULL-terminated, may be NULL). 0 or -errno. */
int vv_fakes_start(struct vv_fakes *f, const char *const *extra_args);
/*
 * Pin "host:port:addr[,...]" (loopback only) for vault clients of this
 * process and the programs it runs: appended to VAULTVOL_TEST_RESOLVE.
 * vv_fakes_start() pins the fakes' vault names itself.
 */
void vv_fakes_pin(const char *pins);

/* SIGTERM, wait, remove the state dir. */
void vv_fakes_stop(struct vv_fakes *f);

/*
 * POST /ctl/<op> with the printf-formatted JSON body (NULL: "{}").
 * Returns the parsed answer (caller json_object_put()s it) or NULL when the
 * request failed or the answer was not {"ok": true, ...} (printed to stderr).
 */
struct json_object *vv_fakes_ctl(const struct vv_fakes *f, const char *op,
				 const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Same, only success or failure (0 / -1). */
int vv_fakes_ctl_ok(const struct vv_fakes *f, const char *op, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A named counter ("primary.connections", "imds.token", "tokens_issued"...); -1 on error. */
long vv_fakes_counter(const struct vv_fakes *f, const char *name);
/* A string member of a ctl answer copied into buf (NULL when absent). */
const char *vv_fakes_ctl_str(const struct vv_fakes *f, char *buf, size_t len,
			     const char *member, const char *op, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/*
 * A loopback TCP port nothing listens on (bound once, then closed): a
 * server that is down. The port, or -errno.
 */
int vv_fakes_closed_port(void);

/* VV_FAKES_GROUP flags. */
#define VV_FAKES_FAST_RETRY	1	/* retries wait 1% of the real schedule */
#define VV_FAKES_NO_PROXY	2	/* no https_proxy from the caller's environment */

/*
 * The group fixture of a test file that shares one set of fakes F:
 * group_setup (start, with the flags above), group_teardown (stop), and
 * reset (a test's setup: the fakes back to their first state).
 */
#define VV_FAKES_GROUP(F, flags)					\
	static int group_setup(void **state)				\
	{								\
		(void)state;						\
		if ((flags) & VV_FAKES_FAST_RETRY)			\
			setenv("VV_TEST_BACKOFF_SCALE", "0.01", 1);	\
		if ((flags) & VV_FAKES_NO_PROXY) {			\
			unsetenv("https_proxy");			\
			unsetenv("HTTPS_PROXY");			\
		}							\
		return vv_fakes_start(&(F), NULL) == 0 ? 0 : -1;	\
	}								\
	static int group_teardown(void **state)				\
	{								\
		(void)state;						\
		vv_fakes_stop(&(F));					\
		return 0;						\
	}								\
	static __attribute__((unused)) int reset(void **state)		\
	{								\
		(void)state;						\
		return vv_fakes_ctl_ok(&(F), "reset", NULL);		\
	}

#endif
