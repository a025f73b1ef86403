/* Unit tests of src/common: value parsers, time formatting, error convention. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/util.h"

static void test_parse_size(void **state)
{
  int64_t b;
  sf_error_t err = NULL;
  assert_int_equal(sf_parse_size("512Mi", &b, &err), 0);
  assert_int_equal(b, 512LL * 1024 * 1024);
  assert_int_equal(sf_parse_size("2Gi", &b, &err), 0);
  assert_int_equal(b, 2LL << 30);
  assert_int_equal(sf_parse_size("1G", &b, &err), 0);
  assert_int_equal(b, 1000000000LL);
  assert_int_equal(sf_parse_size("4096", &b, &err), 0);
  assert_int_equal(b, 4096);
  assert_int_equal(sf_parse_size("12XB", &b, &err), -1);
  assert_non_null(err);
  assert_non_null(strstr(sf_error_msg(&err), "12XB"));
  sf_error_release(&err);
  assert_int_equal(sf_parse_size("-1Mi", &b, &err), -1);
  sf_error_release(&err);
  assert_int_equal(sf_parse_size("", &b, &err), -1);
  sf_error_release(&err);
}

static void test_parse_cpu(void **state)
{
  int64_t m;
  sf_error_t err = NULL;
  assert_int_equal(sf_parse_cpu_millis("500m", &m, &err), 0);
  assert_int_equal(m, 500);
  assert_int_equal(sf_parse_cpu_millis("2", &m, &err), 0);
  assert_int_equal(m, 2000);
  assert_int_equal(sf_parse_cpu_millis("1.5", &m, &err), 0);
  assert_int_equal(m, 1500);
  assert_int_equal(sf_parse_cpu_millis("0", &m, &err), -1);
  sf_error_release(&err);
  assert_int_equal(sf_parse_cpu_millis("two", &m, &err), -1);
  sf_error_release(&err);
}

static void test_parse_duration(void **state)
{
  int64_t ms;
  sf_error_t err = NULL;
  assert_int_equal(sf_parse_duration_ms("10s", &ms, &err), 0);
  assert_int_equal(ms, 10000);
  assert_int_equal(sf_parse_duration_ms("5m", &ms, &err), 0);
  assert_int_equal(ms, 300000);
  assert_int_equal(sf_parse_duration_ms("250ms", &ms, &err), 0);
  assert_int_equal(ms, 250);
  assert_int_equal(sf_parse_duration_ms("7d", &ms, &err), 0);
  assert_int_equal(ms, 7LL * 86400000);
  assert_int_equal(sf_parse_duration_ms("30", &ms, &err), 0);
  assert_int_equal(ms, 30000);
  assert_int_equal(sf_parse_duration_ms("5 parsecs", &ms, &err), -1);
  sf_error_release(&err);
}

static void test_rfc3339_roundtrip(void **state)
{
  char buf[40];
  sf_format_rfc3339_ms(1795860000123LL, buf, sizeof(buf));
  assert_string_equal(buf, "2026-11-28T10:00:00.123Z");
  int64_t ms = 0;
  assert_int_equal(sf_parse_rfc3339(buf, &ms), 0);
  assert_int_equal(ms, 1795860000123LL);
  assert_int_equal(sf_parse_rfc3339("2026-11-28T11:00:00+01:00", &ms), 0);
  assert_int_equal(ms, 1795860000000LL);
  assert_int_equal(sf_parse_rfc3339("yesterday", &ms), -1);
  assert_int_equal(sf_parse_rfc3339("2026-11-28T10:00:00", &ms), -1);
  /* fuzzer regression: a truncated offset must not be read past its end */
  assert_int_equal(sf_parse_rfc3339("0026-11-2T10:00:00.123+01:4", &ms), -1);
  assert_int_equal(sf_parse_rfc3339("2026-11-28T10:00:00+1:00", &ms), -1);
}

static void test_error_wrap(void **state)
{
  sf_error_t err = NULL;
  assert_int_equal(sf_error_make(&err, 2, "inner %d", 7), -1);
  assert_int_equal(sf_error_wrap(&err, "outer"), -1);
  assert_string_equal(sf_error_msg(&err), "outer: inner 7");
  assert_int_equal(sf_error_code(&err), 2);
  sf_error_release(&err);
  assert_null(err);
}

static void test_random_ids(void **state)
{
  cleanup_free char *a = sf_new_id("evt_", 8);
  cleanup_free char *b = sf_new_id("evt_", 8);
  assert_int_equal(strlen(a), 20);
  assert_string_not_equal(a, b);
  assert_true(sf_consttime_eq("abc", 3, "abc", 3));
  assert_false(sf_consttime_eq("abc", 3, "abd", 3));
  assert_false(sf_consttime_eq("abc", 3, "abcd", 4));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_size),     cmocka_unit_test(test_parse_cpu),
      cmocka_unit_test(test_parse_duration), cmocka_unit_test(test_rfc3339_roundtrip),
      cmocka_unit_test(test_error_wrap),     cmocka_unit_test(test_random_ids),
  };
  return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
