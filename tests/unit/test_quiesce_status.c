// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The dm-quiesce INFO status parser (agent/volume/quiesce.c). The kernel side emits
 * "%s %llu %llu %llu %u" (dmtarget/dm-quiesce.c, quiesce_status); these tests
 * pin that format, the tolerance for appended fields, and that a bad line
 * never half-updates the caller's struct.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/volume/quiesce.h"

static struct vv_quiesce_status sentinel(void)
{
	struct vv_quiesce_status st = {
		.state = VV_QUIESCE_FREEZING,
		.epoch = 111,
		.last_freeze_us = 222,
		.expiries = 333,
		.held_writes = 444,
		.suspended = true,
	};
	return st;
}

/* Parse line over a sentinel; it must give exactly these fields. */
static struct vv_quiesce_status parsed(const char *line, enum vv_quiesce_state want,
				       uint64_t epoch, uint64_t last_us, uint64_t expiries,
				       uint64_t held)
{
	struct vv_quiesce_status st = sentinel();

	assert_int_equal(vv_quiesce_parse_status(line, &st), 0);
	assert_int_equal(st.state, want);
	assert_int_equal(st.epoch, epoch);
	assert_int_equal(st.last_freeze_us, last_us);
	assert_int_equal(st.expiries, expiries);
	assert_int_equal(st.held_writes, held);
	return st;
}

static void test_initial_line(void **state)
{
	struct vv_quiesce_status st;

	(void)state;
	st = parsed("thawed 0 0 0 0", VV_QUIESCE_THAWED, 0, 0, 0, 0);
	/* Not part of the line: the caller's value stays. */
	assert_true(st.suspended);
}

static void test_each_state(void **state)
{
	static const struct {
		const char *line;
		enum vv_quiesce_state want;
	} cases[] = {
		{ "thawed 1 2 3 4", VV_QUIESCE_THAWED },
		{ "freezing 1 2 3 4", VV_QUIESCE_FREEZING },
		{ "frozen 1 2 3 4", VV_QUIESCE_FROZEN },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vv_quiesce_status st = parsed(cases[i].line, cases[i].want, 1, 2, 3, 4);

		assert_string_equal(vv_quiesce_state_name(st.state),
				    cases[i].line[0] == 't' ? "thawed" :
				    cases[i].line[2] == 'e' ? "freezing" : "frozen");
	}
}

static void test_field_order(void **state)
{
	(void)state;
	parsed("frozen 7 1500321 2 19", VV_QUIESCE_FROZEN, 7, 1500321, 2, 19);
}

static void test_u64_limits(void **state)
{
	struct vv_quiesce_status st = sentinel();

	(void)state;
	assert_int_equal(vv_quiesce_parse_status(
		"thawed 18446744073709551615 0 0 0", &st), 0);
	assert_true(st.epoch == UINT64_MAX);

	st = sentinel();
	assert_int_equal(vv_quiesce_parse_status(
		"thawed 18446744073709551616 0 0 0", &st), -EINVAL);
	assert_int_equal(st.epoch, 111);
	assert_int_equal(vv_quiesce_parse_status(
		"thawed 0 0 0 99999999999999999999", &st), -EINVAL);
}

static void test_appended_fields_and_spacing(void **state)
{
	struct vv_quiesce_status st = sentinel();

	(void)state;
	assert_int_equal(vv_quiesce_parse_status("frozen 1 2 3 4 5 future", &st), 0);
	assert_int_equal(st.held_writes, 4);
	st = sentinel();
	assert_int_equal(vv_quiesce_parse_status("  thawed  9 8\t7 6\n", &st), 0);
	assert_int_equal(st.epoch, 9);
	assert_int_equal(st.last_freeze_us, 8);
	assert_int_equal(st.expiries, 7);
	assert_int_equal(st.held_writes, 6);
}

static void test_malformed_lines_leave_struct_alone(void **state)
{
	static const char *const bad[] = {
		"",
		" ",
		"frozen",
		"frozen 1 2 3",
		"frozen 1 2 3 ",
		"FROZEN 1 2 3 4",
		"froze 1 2 3 4",
		"frozenx 1 2 3 4",
		"1 2 3 4 5",
		"frozen -1 2 3 4",
		"frozen +1 2 3 4",
		"frozen 1 2 3 0x4",
		"frozen 1 2a 3 4",
		"frozen 1,2 3 4 5",
		"thawed 1 2 3 4x",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vv_quiesce_status st = sentinel();

		if (vv_quiesce_parse_status(bad[i], &st) != -EINVAL)
			fail_msg("accepted malformed line \"%s\"", bad[i]);
		assert_int_equal(st.state, VV_QUIESCE_FREEZING);
		assert_int_equal(st.epoch, 111);
		assert_int_equal(st.last_freeze_us, 222);
		assert_int_equal(st.expiries, 333);
		assert_int_equal(st.held_writes, 444);
	}
	{
		struct vv_quiesce_status st = sentinel();

		assert_int_equal(vv_quiesce_parse_status(NULL, &st), -EINVAL);
	}
}

/* Whatever the kernel's format string produces must come back unchanged. */
static void test_round_trip_kernel_format(void **state)
{
	static const char *const names[] = { "thawed", "freezing", "frozen" };
	unsigned seed = 12345;
	int i;

	(void)state;
	for (i = 0; i < 2000; i++) {
		struct vv_quiesce_status st = sentinel();
		unsigned long long e, us, x;
		unsigned held, s;
		char line[128];

		s = (unsigned)rand_r(&seed) % 3;
		e = ((unsigned long long)rand_r(&seed) << 33) ^ (unsigned long long)rand_r(&seed);
		us = ((unsigned long long)rand_r(&seed) << 31) | (unsigned long long)rand_r(&seed);
		x = (unsigned long long)rand_r(&seed) % 1000;
		held = (unsigned)rand_r(&seed);
		snprintf(line, sizeof(line), "%s %llu %llu %llu %u", names[s], e, us, x, held);
		assert_int_equal(vv_quiesce_parse_status(line, &st), 0);
		assert_int_equal(st.state, (enum vv_quiesce_state)s);
		assert_true(st.epoch == e);
		assert_true(st.last_freeze_us == us);
		assert_true(st.expiries == x);
		assert_true(st.held_writes == held);
	}
}

static void test_state_names(void **state)
{
	(void)state;
	assert_string_equal(vv_quiesce_state_name(VV_QUIESCE_THAWED), "thawed");
	assert_string_equal(vv_quiesce_state_name(VV_QUIESCE_FREEZING), "freezing");
	assert_string_equal(vv_quiesce_state_name(VV_QUIESCE_FROZEN), "frozen");
	assert_string_equal(vv_quiesce_state_name((enum vv_quiesce_state)7), "unknown");
	assert_string_equal(vv_quiesce_state_name((enum vv_quiesce_state)-1), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_initial_line),
		cmocka_unit_test(test_each_state),
		cmocka_unit_test(test_field_order),
		cmocka_unit_test(test_u64_limits),
		cmocka_unit_test(test_appended_fields_and_spacing),
		cmocka_unit_test(test_malformed_lines_leave_struct_alone),
		cmocka_unit_test(test_round_trip_kernel_format),
		cmocka_unit_test(test_state_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
