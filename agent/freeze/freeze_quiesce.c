// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The dm-quiesce freeze method: when a filesystem's own block device is a
 * quiesce mapping and the module is loaded, the freeze goes through the
 * target so the kernel enforces the deadline even if every process of ours
 * dies, and the report carries the kernel's own figures.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libdevmapper.h>

#include "agent/freeze/freeze_exec.h"
#include "agent/volume/quiesce.h"

void vv_freeze_after_fork(void)
{
	/* Closes the control fd libdevmapper keeps; the next call reopens it. */
	dm_lib_release();
}

static int q_freeze(struct vv_freeze_target *t, unsigned timeout_ms)
{
	struct vv_quiesce_status st;

	if (timeout_ms < VV_QUIESCE_TIMEOUT_MIN_MS)
		timeout_ms = VV_QUIESCE_TIMEOUT_MIN_MS;
	if (vv_quiesce_status(t->dm_name, &st) == 0) {
		t->q_expiries_before = st.expiries;
		t->q_valid = true;
	}
	return vv_quiesce_freeze(t->dm_name, timeout_ms);
}

static int q_thaw(struct vv_freeze_target *t, int *count)
{
	int r = vv_quiesce_thaw(t->dm_name);

	*count = r == 0;
	/* EINVAL: not frozen any more (the kernel's deadline ended it). */
	return r == -EINVAL ? 0 : r;
}

static void q_figures(struct vv_freeze_target *t)
{
	struct vv_quiesce_status st;

	if (vv_quiesce_status(t->dm_name, &st) != 0) {
		t->q_valid = false;
		return;
	}
	t->q_last_freeze_us = st.last_freeze_us;
	t->q_expiries_after = st.expiries;
}

static const struct vv_freeze_ops quiesce_ops = {
	.name = "quiesce",
	.freeze = q_freeze,
	.thaw = q_thaw,
	.figures = q_figures,
};

const struct vv_freeze_ops *vv_freeze_quiesce_ops(const struct vv_fs *fs, char **dm_name)
{
	struct vv_quiesce_status st;
	const char *name;

	*dm_name = NULL;
	/* The filesystem's own device is the top of its stack. */
	if (!fs->n_layers || !fs->layers[0].dm_name)
		return NULL;
	name = fs->layers[0].dm_name;
	if (vv_quiesce_available() != 1)
		return NULL;
	if (vv_quiesce_status(name, &st) != 0)
		return NULL;
	*dm_name = strdup(name);
	if (!*dm_name)
		return NULL;
	return &quiesce_ops;
}
