// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The operations the extension handler performs, behind the function
 * pointers of struct vv_handler_ops so the protocol code (handler.c) is
 * tested on its own with stand-ins. Each fills a struct vv_handler_result
 * with one substatus per volume.
 */
#include "agent/handler.h"

const struct vv_handler_ops vv_handler_default_ops = {
	.reopen = NULL,
	.provision = NULL,
	.rotate = NULL,
	.snapshot = NULL,
};
