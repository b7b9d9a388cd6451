// SPDX-License-Identifier: GPL-2.0-or-later
/* Run the Key Vault / IMDS / AAD fakes as a child process for unit tests. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "tests/unit/support/fakes_proc.h"

static void copy_member(struct json_object *o, const char *key, char *dst, size_t len)
{
	struct json_object *v;

	dst[0] = '\0';
	if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
		snprintf(dst, len, "%s", json_object_get_string(v));
}

void vv_fakes_pin(const char *pins)
{
	const char *old = getenv("VAULTVOL_TEST_RESOLVE");
	char all[2048];

	snprintf(all, sizeof(all), "%s%s%s", old ? old : "", old && *old ? "," : "", pins);
	setenv("VAULTVOL_TEST_RESOLVE", all, 1);
}

/* The ports.json members read_ports() copies: each into the field of its name. */
#define PORT_MEMBER(m) { #m, offsetof(struct vv_fakes, m), sizeof(((struct vv_fakes *)0)->m) }
static const struct {
	const char *key;
	size_t off, len;
} port_members[] = {
	PORT_MEMBER(ca),
	PORT_MEMBER(kv_url),
	PORT_MEMBER(kv2_url),
	PORT_MEMBER(imds_url),
	PORT_MEMBER(ctl_url),
	PORT_MEMBER(aad_url),
	PORT_MEMBER(tenant),
	PORT_MEMBER(aad_client_id),
	PORT_MEMBER(aad_client_secret),
	PORT_MEMBER(aad_cert),
	PORT_MEMBER(aad_key),
	PORT_MEMBER(kv_ip_url),
	PORT_MEMBER(resolve),
};
#undef PORT_MEMBER

static int read_ports(struct vv_fakes *f)
{
	char path[512];
	struct json_object *o;

	snprintf(path, sizeof(path), "%s/ports.json", f->dir);
	o = json_object_from_file(path);
	if (!o)
		return -EPROTO;
	for (size_t i = 0; i < sizeof(port_members) / sizeof(port_members[0]); i++)
		copy_member(o, port_members[i].key, (char *)f + port_members[i].off,
			    port_members[i].len);
	json_object_put(o);
	/*
	 * The vault client (and every vaultvol this test runs) reaches the
	 * fakes by their vault names, pinned to loopback: added to what an
	 * earlier fake of this process pinned.
	 */
	if (f->resolve[0])
		vv_fakes_pin(f->resolve);
	return f->kv_url[0] && f->imds_url[0] && f->ctl_url[0] && f->ca[0] ? 0 : -EPROTO;
}

int vv_fakes_start(struct vv_fakes *f, const char *const *extra)
{
	const char *src = getenv("VV_SRCDIR");
	char script[512], ready[300], log[300];
	const char *argv[32];
	int n = 0, fd;
	pid_t pid;

	memset(f, 0, sizeof(*f));
	f->pid = -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/vv-fakes-XXXXXX");
	if (!mkdtemp(f->dir))
		return -errno;
	snprintf(script, sizeof(script), "%s/tests/fakes/fakes.py", src ? src : ".");
	snprintf(ready, sizeof(ready), "%s/ready", f->dir);
	snprintf(log, sizeof(log), "%s/fakes.log", f->dir);
	argv[n++] = "python3";
	argv[n++] = script;
	argv[n++] = "--state-dir";
	argv[n++] = f->dir;
	argv[n++] = "--quiet";
	for (int i = 0; extra && extra[i] && n < 30; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			dup2(fd, 0);
		execvp("python3", (char *const *)argv);
		_exit(127);
	}
	f->pid = pid;
	/* Certificate generation takes a few seconds on a busy machine. */
	for (int i = 0; i < 1200; i++) {
		int st;
		struct timespec ts = { 0, 50 * 1000 * 1000 };

		if (access(ready, F_OK) == 0)
			return read_ports(f);
		if (waitpid(pid, &st, WNOHANG) == pid) {
			char cmd[400];

			f->pid = -1;
			fprintf(stderr, "fakes exited early; log:\n");
			snprintf(cmd, sizeof(cmd), "cat '%s' >&2", log);
			if (system(cmd) < 0)
				perror("system");
			return -ECHILD;
		}
		nanosleep(&ts, NULL);
	}
	vv_fakes_stop(f);
	return -ETIMEDOUT;
}

static void rm_tree(const char *dir)
{
	char cmd[400];

	if (!dir[0] || strncmp(dir, "/tmp/vv-fakes-", 14))
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) < 0)
		perror("system");
}

void vv_fakes_stop(struct vv_fakes *f)
{
	if (f->pid > 0) {
		int st;

		kill(f->pid, SIGTERM);
		for (int i = 0; i < 100; i++) {
			struct timespec ts = { 0, 50 * 1000 * 1000 };

			if (waitpid(f->pid, &st, WNOHANG) == f->pid)
				goto reaped;
			nanosleep(&ts, NULL);
		}
		kill(f->pid, SIGKILL);
		waitpid(f->pid, &st, 0);
reaped:
		f->pid = -1;
	}
	if (getenv("VV_KEEP_FAKES"))
		fprintf(stderr, "fakes state kept in %s\n", f->dir);
	else
		rm_tree(f->dir);
	f->dir[0] = '\0';
}

struct sink {
	char *p;
	size_t n;
};

static size_t on_data(char *p, size_t s, size_t n, void *u)
{
	struct sink *k = u;
	char *q = realloc(k->p, k->n + s * n + 1);

	if (!q)
		return 0;
	memcpy(q + k->n, p, s * n);
	k->n += s * n;
	q[k->n] = '\0';
	k->p = q;
	return s * n;
}

static struct json_object *ctl_v(const struct vv_fakes *f, const char *op,
				 const char *fmt, va_list ap)
{
	struct json_object *o = NULL, *ok;
	struct curl_slist *h = NULL;
	struct sink k = { 0 };
	char url[300], *body = NULL;
	CURL *c;

	if (!fmt)
		body = strdup("{}");
	else if (vasprintf(&body, fmt, ap) < 0)
		body = NULL;
	if (!body)
		return NULL;
	snprintf(url, sizeof(url), "%s/ctl/%s", f->ctl_url, op);
	c = curl_easy_init();
	h = curl_slist_append(NULL, "Content-Type: application/json");
	if (!c || !h)
		goto out;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &k);
	if (curl_easy_perform(c) != CURLE_OK || !k.p) {
		fprintf(stderr, "fakes ctl %s: request failed\n", op);
		goto out;
	}
	o = json_tokener_parse(k.p);
	if (!o || !json_object_object_get_ex(o, "ok", &ok) || !json_object_get_boolean(ok)) {
		fprintf(stderr, "fakes ctl %s %s: %s\n", op, body, k.p);
		json_object_put(o);
		o = NULL;
	}
out:
	if (c)
		curl_easy_cleanup(c);
	curl_slist_free_all(h);
	free(k.p);
	free(body);
	return o;
}

struct json_object *vv_fakes_ctl(const struct vv_fakes *f, const char *op,
				 const char *fmt, ...)
{
	struct json_object *o;
	va_list ap;

	va_start(ap, fmt);
	o = ctl_v(f, op, fmt, ap);
	va_end(ap);
	return o;
}

int vv_fakes_ctl_ok(const struct vv_fakes *f, const char *op, const char *fmt, ...)
{
	struct json_object *o;
	va_list ap;

	va_start(ap, fmt);
	o = ctl_v(f, op, fmt, ap);
	va_end(ap);
	json_object_put(o);
	return o ? 0 : -1;
}

const char *vv_fakes_ctl_str(const struct vv_fakes *f, char *buf, size_t len,
			     const char *member, const char *op, const char *fmt, ...)
{
	struct json_object *o;
	va_list ap;

	va_start(ap, fmt);
	o = ctl_v(f, op, fmt, ap);
	va_end(ap);
	if (!o)
		return NULL;
	copy_member(o, member, buf, len);
	json_object_put(o);
	return buf[0] ? buf : NULL;
}

long vv_fakes_counter(const struct vv_fakes *f, const char *name)
{
	struct json_object *o = vv_fakes_ctl(f, "counter", "{\"name\":\"%s\"}", name), *v;
	long n = -1;

	if (o && json_object_object_get_ex(o, "value", &v))
		n = (long)json_object_get_int64(v);
	json_object_put(o);
	return n;
}

int vv_fakes_closed_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &l) < 0)
		r = -errno;
	else
		r = ntohs(a.sin_port);
	close(fd);	/* nothing listens there now */
	return r;
}
