/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * For the config tests (test_config.c, test_revocation_config.c): each bad
 * input must fail, name the right file:line and say what is wrong. Include
 * after <cmocka.h> and agent/config/config.h.
 */
#ifndef VV_TEST_CONFIG_EXPECT_H
#define VV_TEST_CONFIG_EXPECT_H

static inline void expect_error(const char *text, const char *where, const char *what)
{
	struct vv_config *cfg = NULL;
	struct vv_error err = { 0 };
	int r = vv_config_parse(text, "bad.conf", &cfg, &err);

	if (r == 0 || !strstr(err.message, where) || !strstr(err.message, what))
		fail_msg("input:\n%s\ngot r=%d err='%s', wanted '%s' and '%s'", text, r,
			 r ? err.message : "", where, what);
	assert_null(cfg);
}

#endif
