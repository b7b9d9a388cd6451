// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A key that could not be fetched, judged once for `vaultvol open` and the
 * token plugin (plugin/): which remedy fits, and whether waiting may fix it.
 */
#include "agent/open/open.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/*
 * boot: the failure is seen by `open` (the boot service and the plugin's
 * callers retry an outage by themselves); otherwise by a command an
 * operator ran, which does nothing more until it is run again.
 */
static const char *cause_remedy(enum vv_cause c, bool boot)
{
	switch (c) {
	case VV_CAUSE_NOT_FOUND:
		return "the secret or key does not exist (deleted? wrong name or version): "
		       "recover it from the vault's soft-delete, or fix the key reference";
	case VV_CAUSE_DISABLED:
		return "the secret or key is disabled (revoked) in the vault: re-enable it "
		       "if this VM should have access again";
	case VV_CAUSE_FORBIDDEN:
		return "the VM's identity may not read it: grant secrets get (and keys unwrapKey "
		       "for a KEK) to the managed identity";
	case VV_CAUSE_UNAUTHORIZED:
		return "authentication failed: check the identity / AAD application settings";
	case VV_CAUSE_NO_IDENTITY:
		return "the VM has no managed identity (or not the configured one): assign it";
	case VV_CAUSE_THROTTLED:
	case VV_CAUSE_UNAVAILABLE:
		return boot ? "the vault is unreachable or overloaded: check network, DNS and "
			      "firewall; the boot service retries" :
			      "the vault is unreachable or overloaded: check network, DNS and "
			      "firewall, then run the command again";
	case VV_CAUSE_BAD_RESPONSE:
		return boot ? "the vault's answer made no sense (a proxy in the way?); the boot "
			      "service retries" :
			      "the vault's answer made no sense (a proxy in the way?): check what "
			      "answers for the vault's host, then run the command again";
	case VV_CAUSE_CRYPTO:
		return "unwrapping failed: the KEK does not match the secret (wrong KEK version?)";
	case VV_CAUSE_CONFIG:
		return "fix the key reference or the [vault] section";
	case VV_CAUSE_EXPIRED:
		return "renew the secret in the vault";
	case VV_CAUSE_UNTRUSTED:
		return "the volume names a vault no trusted configuration names, or a vault whose "
		       "challenge failed: a disk cannot choose where this VM's identity token goes. "
		       "If the vault is yours, add it to [vault] allowed; if not, the disk's header "
		       "was tampered with";
	default:
		return "see the message; `vaultvol -v open` shows more";
	}
}

/*
 * bek: keys come from the BEK VOLUME disk, not from a vault: a failure
 * there is a disk matter, with a disk remedy, and waiting does not fix it.
 */
static bool is_bek_ref(const char *ref)
{
	return ref && !strncmp(ref, "bek:", 4);
}

static const char *bek_remedy(enum vv_cause c, const char *msg)
{
	if (c == VV_CAUSE_NOT_FOUND && strstr(msg, "no vfat filesystem labelled"))
		return "attach the BEK VOLUME disk: the platform attaches it to VMs encrypted by "
		       "Azure Disk Encryption; after a restore, re-run the Azure Disk Encryption "
		       "extension on the VM (it re-creates the disk), then run `vaultvol open --all`";
	if (c == VV_CAUSE_NOT_FOUND)
		return "the BEK VOLUME disk lacks this volume's passphrase file: re-run the Azure "
		       "Disk Encryption extension so it writes the file, or fix the key reference";
	return "check the BEK VOLUME disk (vfat, label 'BEK VOLUME'): see the message";
}

static bool cause_transient(enum vv_cause c)
{
	return c == VV_CAUSE_UNAVAILABLE || c == VV_CAUSE_THROTTLED || c == VV_CAUSE_BAD_RESPONSE;
}

static const char *remedy_for(const char *ref, const struct vv_error *err, bool boot)
{
	if (is_bek_ref(ref))
		return bek_remedy(err->cause, err->message);
	/* The vault's own remedy, when it gave one, fits better than the cause's. */
	return err->remedy[0] ? err->remedy : cause_remedy(err->cause, boot);
}

const char *vv_open_key_remedy(const char *ref, const struct vv_error *err)
{
	return remedy_for(ref, err, true);
}

/* The causes a key source reports; other causes are this machine's or a disk's. */
static bool key_access_cause(enum vv_cause c)
{
	switch (c) {
	case VV_CAUSE_NOT_FOUND:
	case VV_CAUSE_DISABLED:
	case VV_CAUSE_FORBIDDEN:
	case VV_CAUSE_UNAUTHORIZED:
	case VV_CAUSE_THROTTLED:
	case VV_CAUSE_UNAVAILABLE:
	case VV_CAUSE_BAD_RESPONSE:
	case VV_CAUSE_NO_IDENTITY:
	case VV_CAUSE_EXPIRED:
	case VV_CAUSE_CRYPTO:
	case VV_CAUSE_UNTRUSTED:
		return true;
	default:
		return false;
	}
}

bool vv_key_remedy_fill(const char *ref, struct vv_error *err)
{
	if (!key_access_cause(err->cause))
		return false;
	/* A missing file or device is no vault matter: only an answer's 404 is. */
	if (err->cause == VV_CAUSE_NOT_FOUND && err->http_status != 404 && !is_bek_ref(ref))
		return false;
	if (!err->remedy[0])
		vv_error_remedy(err, "%s", remedy_for(ref, err, false));
	return true;
}

bool vv_open_key_transient(const char *ref, enum vv_cause cause)
{
	return !is_bek_ref(ref) && cause_transient(cause);
}

bool vv_open_key_dates_warning(const struct vv_bek *bek, const char *ref, char *buf,
			       size_t len)
{
	const char *id = bek->secret_id ? bek->secret_id : ref;
	time_t now = time(NULL);

	if (bek->exp && bek->exp < now)
		snprintf(buf, len, "the secret %s expired %lld s ago; opened anyway - renew it "
			 "in the vault", id, (long long)(now - bek->exp));
	else if (bek->nbf && bek->nbf > now)
		snprintf(buf, len, "the secret %s is not valid before %lld; opened anyway", id,
			 (long long)bek->nbf);
	else
		return false;
	return true;
}
