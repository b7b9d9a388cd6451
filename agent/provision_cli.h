/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Output shared by `vaultvol provision`, `adopt` and `rotate`. */
#ifndef VV_PROVISION_CLI_H
#define VV_PROVISION_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "agent/token.h"

/* The token as a JSON object (no secrets in a token). */
struct json_object *pv_token_json(const struct vv_token *t);

/* One line describing the token, for text output. */
void pv_print_token(const char *prefix, const struct vv_token *t);

/* Parse a non-negative decimal that fits uint32_t. */
bool pv_parse_u32(const char *s, uint32_t *out);

/* Print a JSON object on stdout, flushed. */
void pv_print_json(struct json_object *o);

#endif
