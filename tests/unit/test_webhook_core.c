/* Webhook primitives: the spec's signature test vectors, multi-secret
 * headers, generated secrets, filters, the retry schedule with jitter bounds,
 * Retry-After. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/util.h"
#include "webhook/backoff.h"
#include "webhook/filter.h"
#include "webhook/signature.h"

static void test_standard_webhooks_vector(void **state)
{
  sf_error_t err = NULL;
  const char *body = "{\"test\": 2432232314}";
  char *sig = sf_sig_standard("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                              "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, strlen(body), &err);
  assert_non_null(sig);
  assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  free(sig);
}

static void test_stripe_vector(void **state)
{
  sf_error_t err = NULL;
  const char *body = "{\"id\":\"evt_test\",\"object\":\"event\"}";
  char *sig = sf_sig_stripe("whsec_test_secret", 1614265330, body, strlen(body), &err);
  assert_non_null(sig);
  assert_string_equal(sig, "fbd6bf5496b9d6310e422a2c072578f95f5eb492111ab57a5510e9cd79c1b304");
  free(sig);
}

static void test_headers_with_rotation(void **state)
{
  sf_error_t err = NULL;
  char *secrets[] = {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "plain-old-secret", NULL};
  char *std = NULL, *str = NULL;
  const char *body = "{\"test\": 2432232314}";
  assert_int_equal(sf_sig_headers(secrets, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
                                  strlen(body), &std, &str, &err),
                   0);
  assert_non_null(strstr(std, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1,"));
  assert_int_equal(strncmp(str, "t=1614265330,v1=", 16), 0);
  assert_non_null(strstr(str + 16, ",v1="));
  free(std);
  free(str);
  /* a malformed whsec_ secret is an error, not a wrong signature */
  char *bad[] = {"whsec_!!!notbase64", NULL};
  assert_int_equal(sf_sig_headers(bad, "m", 1, "x", 1, &std, &str, &err), -1);
  sf_error_release(&err);
}

static void test_generated_secret(void **state)
{
  sf_error_t err = NULL;
  char *a = sf_sig_generate_secret(&err), *b = sf_sig_generate_secret(&err);
  assert_int_equal(strncmp(a, "whsec_", 6), 0);
  assert_int_equal(strlen(a), 6 + 44);
  assert_string_not_equal(a, b);
  char *sig = sf_sig_standard(a, "id", 1, "b", 1, &err); /* usable as a key */
  assert_non_null(sig);
  free(sig);
  free(a);
  free(b);
}

static void test_filters(void **state)
{
  char **f = NULL;
  sf_error_t err = NULL;
  assert_int_equal(sf_filter_parse("sandbox.*, task.timeout", &f, &err), 0);
  assert_true(sf_filter_match(f, "sandbox.created"));
  assert_true(sf_filter_match(f, "task.timeout"));
  assert_false(sf_filter_match(f, "security.violation"));
  assert_false(sf_filter_match(f, "sandboxx.created"));
  sf_strv_free(f);
  assert_int_equal(sf_filter_parse("", &f, &err), 0);
  assert_true(sf_filter_match(f, "webhook.test"));
  sf_strv_free(f);
  assert_int_equal(sf_filter_parse("*", &f, &err), 0);
  assert_true(sf_filter_match(f, "resource.exhausted"));
  sf_strv_free(f);
  assert_int_equal(sf_filter_parse("sandbox.create", &f, &err), -1);
  assert_non_null(strstr(sf_error_msg(&err), "sandbox.create"));
  sf_error_release(&err);
  assert_int_equal(sf_filter_parse("nothing.*", &f, &err), -1);
  sf_error_release(&err);
}

static void test_backoff_schedule_and_jitter(void **state)
{
  sf_backoff b;
  sf_backoff_default(&b);
  assert_int_equal(b.n, 7);
  int64_t total = 0;
  for (int a = 1; a <= 7; a++)
    total += b.delays_ms[a - 1];
  assert_true(total > 27 * 3600 * 1000LL && total < 28 * 3600 * 1000LL); /* ≈ 27.6 h */
  assert_int_equal(sf_backoff_next_ms(&b, 8, 0.5), -1);
  int64_t lo = INT64_MAX, hi = 0;
  srand(42);
  for (int i = 0; i < 1000; i++) {
    int64_t d = sf_backoff_next_ms(&b, 1, rand() / ((double)RAND_MAX + 1));
    assert_true(d >= 4000 && d <= 6000);
    lo = d < lo ? d : lo;
    hi = d > hi ? d : hi;
  }
  assert_true(hi - lo > 1000); /* actually jittered */
  sf_error_t err = NULL;
  assert_int_equal(sf_backoff_parse("100ms, 2s,1m", &b, &err), 0);
  assert_int_equal(b.n, 3);
  assert_int_equal(b.delays_ms[2], 60000);
  assert_int_equal(sf_backoff_parse("5s, soon", &b, &err), -1);
  sf_error_release(&err);
}

static void test_retry_after(void **state)
{
  assert_int_equal(sf_retry_after_ms("120", 0), 120000);
  assert_int_equal(sf_retry_after_ms("999999", 0), 3600000); /* capped at 1 h */
  assert_int_equal(sf_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470000LL), 10000);
  assert_int_equal(sf_retry_after_ms("soon", 0), -1);
  assert_int_equal(sf_retry_after_ms(NULL, 0), -1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_standard_webhooks_vector),
      cmocka_unit_test(test_stripe_vector),
      cmocka_unit_test(test_headers_with_rotation),
      cmocka_unit_test(test_generated_secret),
      cmocka_unit_test(test_filters),
      cmocka_unit_test(test_backoff_schedule_and_jitter),
      cmocka_unit_test(test_retry_after),
  };
  return cmocka_run_group_tests_name("webhook core", tests, NULL, NULL);
}
