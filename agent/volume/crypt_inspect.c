// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What is read from a header for reports and refusals, never for
 * unlocking: how far an online encryption has come, which protectors a
 * BitLocker volume has, and whether its header already says libcryptsetup
 * will not activate it.
 */
#include "agent/volume/crypt.h"
#include "agent/volume/crypt_internal.h"

#include <fcntl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

/* A LUKS2 segment size: a number of bytes, or "dynamic" (to the device's end). */
static bool segment_size(struct json_object *seg, uint64_t dev_size, uint64_t *size)
{
	struct json_object *sz, *off;
	const char *s;
	char *end;

	if (!json_object_object_get_ex(seg, "size", &sz) ||
	    !json_object_object_get_ex(seg, "offset", &off))
		return false;
	s = json_object_get_string(sz);
	if (s && !strcmp(s, "dynamic")) {
		uint64_t o = strtoull(json_object_get_string(off), &end, 10);

		if (*end || o > dev_size)
			return false;
		*size = dev_size - o;
		return true;
	}
	*size = s ? strtoull(s, &end, 10) : 0;
	return s && *s && !*end;
}

int vv_luks2_encrypted_percent(const char *json, uint64_t dev_size)
{
	struct json_object *root = json ? json_tokener_parse(json) : NULL, *segs;
	uint64_t done = 0, total = 0;
	int pct = -1;

	if (!root || !json_object_object_get_ex(root, "segments", &segs) ||
	    !json_object_is_type(segs, json_type_object))
		goto out;
	json_object_object_foreach(segs, key, seg) {
		struct json_object *type, *flags;
		uint64_t size;
		bool backup = false;

		(void)key;
		if (json_object_object_get_ex(seg, "flags", &flags) &&
		    json_object_is_type(flags, json_type_array))
			for (size_t i = 0; i < json_object_array_length(flags); i++)
				if (!strncmp(json_object_get_string(json_object_array_get_idx(flags, i)),
					     "backup-", 7))
					backup = true;
		if (backup)
			continue;
		if (!json_object_object_get_ex(seg, "type", &type) ||
		    !segment_size(seg, dev_size, &size))
			goto out;
		total += size;
		if (!strcmp(json_object_get_string(type), "crypt"))
			done += size;
	}
	if (total)
		pct = (int)(done * 100 / total);
out:
	json_object_put(root);
	return pct;
}

int vv_unlock_reencrypt_percent(struct vv_unlock *u)
{
	const char *json = NULL, *dev;
	uint64_t size = 0;
	int fd;

	if (!vv_unlock_reencrypting(u) || crypt_dump_json(u->cd, &json, 0) < 0)
		return -1;
	dev = crypt_get_device_name(u->cd);
	fd = dev ? open(dev, O_RDONLY | O_CLOEXEC) : -1;
	if (fd >= 0) {
		off_t end = lseek(fd, 0, SEEK_END);

		size = end > 0 ? (uint64_t)end : 0;
		close(fd);
	}
	return size ? vv_luks2_encrypted_percent(json, size) : -1;
}

struct dump_buf {
	char *out;
	size_t len, used;
};

/* Collect "Protection: VMK protected with X" lines of crypt_dump's output. */
static void dump_cb(int level, const char *msg, void *usrptr)
{
	struct dump_buf *b = usrptr;
	const char *p;

	if (level != CRYPT_LOG_NORMAL)
		return;
	for (p = strstr(msg, "Protection:"); p; p = strstr(p, "Protection:")) {
		size_t n;
		int w;

		p += strlen("Protection:");
		p += strspn(p, " \t");
		if (!strncmp(p, "VMK protected with ", 19))
			p += 19;
		n = strcspn(p, "\n");
		if (b->used >= b->len)
			return;
		w = snprintf(b->out + b->used, b->len - b->used, "%s%.*s",
			     b->used ? ", " : "", (int)n, p);
		if (w > 0)
			b->used += (size_t)w < b->len - b->used ? (size_t)w : b->len - b->used - 1;
	}
}

int vv_unlock_protectors(struct vv_unlock *u, char *buf, size_t len)
{
	struct dump_buf b = { .out = buf, .len = len };
	int r;

	if (!len)
		return -EINVAL;
	buf[0] = '\0';
	if (u->type != VV_VOL_BITLK)
		return -ENOTSUP;
	crypt_set_log_callback(u->cd, dump_cb, &b);
	r = crypt_dump(u->cd);
	crypt_set_log_callback(u->cd, vv_unlock_log, u);
	if (r < 0)
		return r;
	return buf[0] ? 0 : -ENOENT;
}

int vv_unlock_refusal(struct vv_unlock *u, char *why, size_t why_len, char *remedy,
		      size_t remedy_len)
{
	char prot[512];

	if (u->type != VV_VOL_BITLK)
		return 0;
	if (u->bitlk_type[0] && strcmp(u->bitlk_type, "normal")) {
		snprintf(why, why_len, "its header says it is a BitLocker volume of type '%s', "
			 "which libcryptsetup cannot activate (\"BITLK devices with type '%s' "
			 "cannot be activated\")", u->bitlk_type, u->bitlk_type);
		snprintf(remedy, remedy_len, "vaultvol cannot open it as it is: in Windows, "
			 "decrypt it (manage-bde -off) and encrypt it again encrypting the whole "
			 "volume (manage-bde -on without -UsedSpaceOnly), or use it from Windows");
		return -ENOTSUP;
	}
	if (u->bitlk_state[0] >= 0) {
		snprintf(why, why_len, "its header says its BitLocker conversion is not finished "
			 "(state %d, next state %d: being encrypted or decrypted, or paused); "
			 "libcryptsetup activates only fully encrypted volumes",
			 u->bitlk_state[0], u->bitlk_state[1]);
		snprintf(remedy, remedy_len, "let Windows finish encrypting or decrypting it "
			 "(manage-bde -status; manage-bde -resume), then open it again");
		return -ENOTSUP;
	}
	if (vv_unlock_protectors(u, prot, sizeof(prot)) == 0 && strstr(prot, "clear key")) {
		snprintf(why, why_len, "its header holds a clear key (BitLocker protection "
			 "suspended, or the volume partly decrypted); libcryptsetup does not "
			 "activate such volumes (protectors: %s)", prot);
		snprintf(remedy, remedy_len, "in Windows, resume its protection "
			 "(manage-bde -protectors -enable) or finish decrypting it, then open it "
			 "again");
		return -ENOTSUP;
	}
	return 0;
}
