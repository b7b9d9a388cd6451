// SPDX-License-Identifier: GPL-2.0-or-later
/* Local keystore: versioned secrets and local KEKs in a root-only directory. */
#include "vault/keystore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "base/writefile.h"
#include "vault/vault.h"

bool vv_keystore_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > VV_KEYSTORE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

bool vv_keystore_version_valid(const char *version)
{
	if (!version || strlen(version) != VV_KEYSTORE_VERSION_LEN)
		return false;
	for (size_t i = 0; i < VV_KEYSTORE_VERSION_LEN; i++)
		if (!((version[i] >= '0' && version[i] <= '9') ||
		      (version[i] >= 'a' && version[i] <= 'f')))
			return false;
	return true;
}

int vv_keystore_split_ref(const char *ref, char name[VV_KEYSTORE_NAME_MAX + 1],
			  char version[VV_KEYSTORE_VERSION_LEN + 1],
			  struct vv_error *err)
{
	const char *slash = ref ? strchr(ref, '/') : NULL;
	size_t nlen = slash ? (size_t)(slash - ref) : (ref ? strlen(ref) : 0);

	name[0] = version[0] = '\0';
	if (!ref || nlen == 0 || nlen > VV_KEYSTORE_NAME_MAX)
		goto bad;
	memcpy(name, ref, nlen);
	name[nlen] = '\0';
	if (!vv_keystore_name_valid(name))
		goto bad;
	if (slash) {
		if (!vv_keystore_version_valid(slash + 1))
			goto bad;
		memcpy(version, slash + 1, VV_KEYSTORE_VERSION_LEN + 1);
	}
	return 0;
bad:
	name[0] = version[0] = '\0';
	vv_error_set(err, VV_CAUSE_CONFIG, 0,
		     "bad keystore reference '%.100s': expected NAME or NAME/VERSION "
		     "(NAME: 1-127 of A-Z a-z 0-9 -, VERSION: 32 hex digits)",
		     ref ? ref : "");
	return -EINVAL;
}

/* mkdir -p for the parents of path (0755, like /etc itself); path is absolute. */
static int make_parents(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i < n; i++) {
		if (buf[i] != '/')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		buf[i] = '/';
	}
	return 0;
}

/*
 * The directory just opened as fd, described as what: fd when it is
 * private (vv_stat_private), else closed and -errno with err set.
 */
static int keep_private(int fd, const char *what, struct vv_error *err)
{
	struct stat st;
	int r;

	if (fstat(fd, &st) < 0) {
		r = -errno;
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "%s: %s", what, strerror(-r));
		close(fd);
		return r;
	}
	if (!vv_stat_private(&st, what, err)) {
		close(fd);
		return -EPERM;
	}
	return fd;
}

/* Open (and with create, make) the keystore directory after checking it. */
static int open_store(const char *dir, bool create, struct vv_error *err)
{
	char what[4200];
	int fd, r;

	if (!dir || dir[0] != '/') {
		vv_error_set(err, VV_CAUSE_CONFIG, 0,
			     "keystore directory must be an absolute path");
		return -EINVAL;
	}
	if (create) {
		r = make_parents(dir);
		if (r == 0 && mkdir(dir, 0700) < 0 && errno != EEXIST)
			r = -errno;
		if (r < 0) {
			vv_error_set(err, VV_CAUSE_CONFIG, 0,
				     "cannot create keystore directory %s: %s",
				     dir, strerror(-r));
			return r;
		}
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		vv_error_set(err, r == -ENOENT ? VV_CAUSE_NOT_FOUND : VV_CAUSE_CONFIG, 0,
			     "keystore directory %s: %s", dir, strerror(-r));
		return r;
	}
	snprintf(what, sizeof(what), "keystore directory %s", dir);
	return keep_private(fd, what, err);
}

/* Open the directory of secret name inside the store, checked like the store. */
static int open_entry(int storefd, const char *name, bool create,
		      struct vv_error *err)
{
	char what[200];
	int fd, r;

	if (create && mkdirat(storefd, name, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "cannot create keystore entry %s: %s",
			     name, strerror(-r));
		return r;
	}
	fd = openat(storefd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT)
			vv_error_set(err, VV_CAUSE_NOT_FOUND, 0,
				     "keystore has no secret named %s", name);
		else
			vv_error_set(err, VV_CAUSE_CONFIG, 0, "keystore entry %s: %s",
				     name, strerror(-r));
		return r;
	}
	snprintf(what, sizeof(what), "keystore entry %s", name);
	return keep_private(fd, what, err);
}

/*
 * The store and the directory of secret name in it, both checked: the
 * entry's fd, or -errno. *storefd is -1 or open for the caller to close.
 */
static int open_store_entry(const char *dir, const char *name, bool create, int *storefd,
			    struct vv_error *err)
{
	*storefd = open_store(dir, create, err);
	if (*storefd < 0)
		return *storefd;
	return open_entry(*storefd, name, create, err);
}

/*
 * Write buf to dirfd/name atomically (0600; with noreplace, only if name
 * does not exist). The caller fsyncs the directory once its renames are done.
 */
static int write_atomic(int dirfd, const char *name, const void *buf,
			size_t len, bool noreplace, struct vv_error *err)
{
	int r = vv_file_write_atomic(dirfd, name, buf, len, 0600, VV_WF_NO_DIRSYNC |
				     (noreplace ? VV_WF_NOREPLACE : 0), err);

	if (r < 0 && err)
		err->cause = VV_CAUSE_CONFIG;
	return r;
}

static int sync_dir(int dirfd, struct vv_error *err)
{
	if (fsync(dirfd) < 0) {
		int r = -errno;

		vv_error_set(err, VV_CAUSE_CONFIG, 0, "fsync of keystore directory: %s",
			     strerror(-r));
		return r;
	}
	return 0;
}

static int read_latest(int entryfd, const char *name,
		       char version[VV_KEYSTORE_VERSION_LEN + 1], struct vv_error *err)
{
	struct vv_secret *s = NULL;
	int r = vv_key_file_read(entryfd, "latest", VV_KF_PRIVATE | VV_KF_NOFOLLOW,
				 &s, err);

	if (r < 0)
		return r;
	while (s->len && (s->data[s->len - 1] == '\n' || s->data[s->len - 1] == ' '))
		s->len--;
	s->data[s->len] = '\0';
	if (!vv_keystore_version_valid((char *)s->data)) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0,
			     "keystore entry %s: 'latest' does not hold a version", name);
		r = -EINVAL;
	} else {
		memcpy(version, s->data, VV_KEYSTORE_VERSION_LEN + 1);
	}
	vv_secret_free(s);
	return r;
}

static int64_t json_int(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return 0;
	return json_object_get_int64(v);
}

/* Fill b's metadata from the parsed <version>.json. */
static int bundle_from_json(struct vv_secret_bundle *b, struct json_object *root,
			    const char *what, struct vv_error *err)
{
	struct json_object *ct, *tags, *attrs = NULL, *en;

	if (!json_object_is_type(root, json_type_object))
		goto bad;
	if (json_object_object_get_ex(root, "contentType", &ct) &&
	    json_object_is_type(ct, json_type_string)) {
		b->content_type = strdup(json_object_get_string(ct));
		if (!b->content_type)
			goto nomem;
	}
	if (json_object_object_get_ex(root, "tags", &tags)) {
		size_t n, i = 0;

		if (!json_object_is_type(tags, json_type_object))
			goto bad;
		n = (size_t)json_object_object_length(tags);
		b->tags = calloc(n ? n : 1, sizeof(*b->tags));
		if (!b->tags)
			goto nomem;
		json_object_object_foreach(tags, k, val) {
			if (!json_object_is_type(val, json_type_string))
				goto bad;
			b->tags[i].name = strdup(k);
			b->tags[i].value = strdup(json_object_get_string(val));
			b->ntags = ++i;
			if (!b->tags[i - 1].name || !b->tags[i - 1].value)
				goto nomem;
		}
	}
	json_object_object_get_ex(root, "attributes", &attrs);
	b->enabled = true;
	if (attrs && json_object_object_get_ex(attrs, "enabled", &en))
		b->enabled = json_object_get_boolean(en);
	b->nbf = json_int(attrs, "nbf");
	b->exp = json_int(attrs, "exp");
	b->created = json_int(attrs, "created");
	b->updated = json_int(attrs, "updated");
	return 0;
bad:
	vv_error_set(err, VV_CAUSE_CONFIG, 0, "%s: damaged metadata", what);
	return -EINVAL;
nomem:
	vv_error_set(err, VV_CAUSE_CONFIG, 0, "out of memory");
	return -ENOMEM;
}

int vv_keystore_get(const char *dir, const char *ref,
		    struct vv_secret_bundle **out, struct vv_error *err)
{
	char name[VV_KEYSTORE_NAME_MAX + 1], version[VV_KEYSTORE_VERSION_LEN + 1];
	char meta_name[VV_KEYSTORE_VERSION_LEN + 8], what[200];
	struct vv_secret *meta = NULL;
	struct vv_secret_bundle *b = NULL;
	struct json_object *root = NULL;
	int storefd = -1, entryfd = -1, r;

	*out = NULL;
	r = vv_keystore_split_ref(ref, name, version, err);
	if (r < 0)
		return r;
	entryfd = open_store_entry(dir, name, false, &storefd, err);
	if (entryfd < 0) {
		r = entryfd;
		goto out;
	}
	if (!version[0]) {
		r = read_latest(entryfd, name, version, err);
		if (r < 0)
			goto out;
	}
	snprintf(what, sizeof(what), "keystore:%s/%s", name, version);
	snprintf(meta_name, sizeof(meta_name), "%s.json", version);
	b = calloc(1, sizeof(*b));
	if (!b || asprintf(&b->id, "%s", what) < 0) {
		if (b)
			b->id = NULL;
		r = -ENOMEM;
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "out of memory");
		goto out;
	}
	/* Metadata is not secret, but read it with the same ownership checks. */
	r = vv_key_file_read(entryfd, meta_name, VV_KF_PRIVATE | VV_KF_NOFOLLOW,
			     &meta, err);
	if (r == -ENOENT)
		vv_error_set(err, VV_CAUSE_NOT_FOUND, 0, "%s: no such version", what);
	if (r < 0)
		goto out;
	meta->data[meta->len] = '\0';
	root = json_tokener_parse((const char *)meta->data);
	if (!root) {
		r = -EINVAL;
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "%s: damaged metadata", what);
		goto out;
	}
	r = bundle_from_json(b, root, what, err);
	if (r < 0)
		goto out;
	if (!b->enabled) {
		r = -EACCES;
		vv_error_set(err, VV_CAUSE_DISABLED, 0, "%s is disabled", what);
		goto out;
	}
	r = vv_key_file_read(entryfd, version, VV_KF_PRIVATE | VV_KF_NOFOLLOW,
			     &b->value, err);
	if (r == -ENOENT)
		vv_error_set(err, VV_CAUSE_NOT_FOUND, 0, "%s: value missing", what);
	if (r < 0)
		goto out;
	*out = b;
	b = NULL;
out:
	json_object_put(root);
	vv_secret_free(meta);
	vv_secret_bundle_free(b);
	if (entryfd >= 0)
		close(entryfd);
	if (storefd >= 0)
		close(storefd);
	return r;
}

static char *metadata_json(const char *id, const char *content_type,
			   const struct vv_tag *tags, size_t ntags, int64_t now)
{
	struct json_object *root = json_object_new_object();
	struct json_object *jt = json_object_new_object();
	struct json_object *attrs = json_object_new_object();
	char *text = NULL;

	if (!root || !jt || !attrs) {
		json_object_put(jt);
		json_object_put(attrs);
		goto out;
	}
	json_object_object_add(root, "id", json_object_new_string(id));
	if (content_type)
		json_object_object_add(root, "contentType",
				       json_object_new_string(content_type));
	for (size_t i = 0; i < ntags; i++)
		json_object_object_add(jt, tags[i].name,
				       json_object_new_string(tags[i].value));
	json_object_object_add(root, "tags", jt);
	json_object_object_add(attrs, "enabled", json_object_new_boolean(1));
	json_object_object_add(attrs, "created", json_object_new_int64(now));
	json_object_object_add(attrs, "updated", json_object_new_int64(now));
	json_object_object_add(root, "attributes", attrs);
	{
		const char *s = json_object_to_json_string_ext(
			root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);

		if (s && asprintf(&text, "%s\n", s) < 0)
			text = NULL;
	}
out:
	json_object_put(root);
	return text;
}

int vv_keystore_put(const char *dir, const char *name,
		    const struct vv_secret *value, const char *content_type,
		    const struct vv_tag *tags, size_t ntags, char **ref_out,
		    struct vv_error *err)
{
	unsigned char rnd[VV_KEYSTORE_VERSION_LEN / 2];
	char version[VV_KEYSTORE_VERSION_LEN + 2], meta_name[VV_KEYSTORE_VERSION_LEN + 8];
	char *id = NULL, *meta = NULL;
	int storefd = -1, entryfd = -1, r;

	*ref_out = NULL;
	if (!vv_keystore_name_valid(name)) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0,
			     "bad keystore secret name '%.100s' (1-127 of A-Z a-z 0-9 -)",
			     name ? name : "");
		return -EINVAL;
	}
	for (size_t i = 0; i < ntags; i++) {
		if (!tags[i].name || !tags[i].value) {
			vv_error_set(err, VV_CAUSE_CONFIG, 0, "tag without name or value");
			return -EINVAL;
		}
	}
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		vv_error_set(err, VV_CAUSE_CRYPTO, 0, "random generator failed");
		return -EIO;
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(version + 2 * i, 3, "%02x", rnd[i]);
	snprintf(meta_name, sizeof(meta_name), "%s.json", version);

	entryfd = open_store_entry(dir, name, true, &storefd, err);
	if (entryfd < 0) {
		r = entryfd;
		goto out;
	}
	if (asprintf(&id, "keystore:%s/%s", name, version) < 0) {
		id = NULL;
		r = -ENOMEM;
		goto nomem;
	}
	meta = metadata_json(id, content_type, tags, ntags, (int64_t)time(NULL));
	if (!meta) {
		r = -ENOMEM;
		goto nomem;
	}
	/* Value and metadata first; "latest" moves only once both are durable. */
	r = write_atomic(entryfd, version, value->data, value->len, true, err);
	if (r == 0)
		r = write_atomic(entryfd, meta_name, meta, strlen(meta), true, err);
	if (r == 0)
		r = sync_dir(entryfd, err);
	if (r == 0) {
		version[VV_KEYSTORE_VERSION_LEN] = '\n';
		r = write_atomic(entryfd, "latest", version, VV_KEYSTORE_VERSION_LEN + 1,
				 false, err);
	}
	if (r == 0)
		r = sync_dir(entryfd, err);
	if (r == 0)
		r = sync_dir(storefd, err);
	if (r == 0) {
		*ref_out = id;
		id = NULL;
	}
	goto out;
nomem:
	vv_error_set(err, VV_CAUSE_CONFIG, 0, "out of memory");
out:
	free(id);
	free(meta);
	if (entryfd >= 0)
		close(entryfd);
	if (storefd >= 0)
		close(storefd);
	return r;
}

int vv_keystore_read_kek(const char *dir, const char *name,
			 struct vv_secret **pem, struct vv_error *err)
{
	char file[VV_KEYSTORE_NAME_MAX + 8];
	int storefd, r;

	*pem = NULL;
	if (!vv_keystore_name_valid(name)) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "bad keystore KEK name '%.100s'",
			     name ? name : "");
		return -EINVAL;
	}
	storefd = open_store(dir, false, err);
	if (storefd < 0)
		return storefd;
	snprintf(file, sizeof(file), "%s.pem", name);
	r = vv_key_file_read(storefd, file, VV_KF_PRIVATE | VV_KF_NOFOLLOW, pem, err);
	if (r == -ENOENT)
		vv_error_set(err, VV_CAUSE_NOT_FOUND, 0, "keystore has no KEK named %s",
			     name);
	close(storefd);
	return r;
}

int vv_keystore_create_kek(const char *dir, const char *name, unsigned bits,
			   struct vv_error *err)
{
	char file[VV_KEYSTORE_NAME_MAX + 8];
	EVP_PKEY *pk = NULL;
	BIO *bio = NULL;
	struct vv_secret *pem = NULL;
	BUF_MEM *mem = NULL;
	int storefd = -1, r;

	if (!vv_keystore_name_valid(name)) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "bad keystore KEK name '%.100s'",
			     name ? name : "");
		return -EINVAL;
	}
	if (bits < 2048 || bits > 8192) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0,
			     "KEK size must be 2048..8192 bits, not %u", bits);
		return -EINVAL;
	}
	storefd = open_store(dir, true, err);
	if (storefd < 0)
		return storefd;
	pk = EVP_RSA_gen(bits);
	/* A secure-memory BIO: its buffer is wiped when freed. */
	bio = BIO_new(BIO_s_secmem());
	if (!pk || !bio || !PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL) ||
	    BIO_get_mem_ptr(bio, &mem) <= 0 || !mem) {
		r = -EIO;
		vv_error_set(err, VV_CAUSE_CRYPTO, 0, "RSA key generation failed");
		goto out;
	}
	pem = vv_secret_from(mem->data, mem->length);
	if (!pem) {
		r = -ENOMEM;
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "cannot allocate locked memory");
		goto out;
	}
	snprintf(file, sizeof(file), "%s.pem", name);
	r = write_atomic(storefd, file, pem->data, pem->len, true, err);
	if (r == -EEXIST)
		vv_error_set(err, VV_CAUSE_CONFIG, 0,
			     "keystore KEK %s already exists; it is never replaced", name);
	if (r == 0)
		r = sync_dir(storefd, err);
out:
	vv_secret_free(pem);
	BIO_free(bio);
	EVP_PKEY_free(pk);
	close(storefd);
	return r;
}
