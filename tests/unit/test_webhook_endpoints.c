/* Webhook endpoint rules: SSRF classification of IPv4/IPv6 addresses and
 * URLs, chat formatters and their error-code answers, endpoint settings
 * (formats, ordering, reserved headers, config errors), secret rotation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "common/util.h"
#include "webhook/webhook_internal.h"

static bool blocked(const char *ip)
{
  struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
  struct sockaddr_in s4 = {.sin_family = AF_INET};
  if (inet_pton(AF_INET, ip, &s4.sin_addr) == 1)
    return sf_ssrf_addr_blocked((struct sockaddr *)&s4, NULL);
  assert_int_equal(inet_pton(AF_INET6, ip, &s6.sin6_addr), 1);
  return sf_ssrf_addr_blocked((struct sockaddr *)&s6, NULL);
}

static void test_ssrf_ipv4(void **state)
{
  const char *bad[] = {"127.0.0.1",       "127.255.255.254", "10.0.0.1",        "172.16.0.1",
                       "172.31.255.255",  "192.168.1.1",     "169.254.169.254", "100.64.0.1",
                       "100.127.255.255", "0.0.0.0",         "224.0.0.1",       "239.255.255.250",
                       "240.0.0.1",       "255.255.255.255", "192.0.2.10",      "198.18.0.1",
                       "198.51.100.7",    "203.0.113.9"};
  const char *good[] = {"8.8.8.8",         "1.1.1.1",        "172.15.255.255",
                        "172.32.0.1",      "100.63.255.255", "100.128.0.1",
                        "169.253.255.255", "93.184.216.34",  "11.0.0.1"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    if (!blocked(bad[i]))
      fail_msg("%s should be blocked", bad[i]);
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
    if (blocked(good[i]))
      fail_msg("%s should pass", good[i]);
}

static void test_ssrf_ipv6(void **state)
{
  const char *bad[] = {"::1",
                       "::",
                       "::ffff:127.0.0.1",
                       "::ffff:10.1.2.3",
                       "::ffff:169.254.169.254",
                       "fc00::1",
                       "fd12:3456::1",
                       "fe80::1",
                       "fec0::1",
                       "ff02::1",
                       "2001:db8::1",
                       "64:ff9b::a00:1" /* NAT64 of 10.0.0.1 */,
                       "2002:7f00:1::1",
                       "100::1",
                       "2001:0:4136:e378::1" /* Teredo */,
                       "::127.0.0.1"};
  const char *good[] = {"2606:4700:4700::1111", "2001:4860:4860::8888", "::ffff:8.8.8.8",
                        "64:ff9b::808:808", "2002:808:808::1"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    if (!blocked(bad[i]))
      fail_msg("%s should be blocked", bad[i]);
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
    if (blocked(good[i]))
      fail_msg("%s should pass", good[i]);
}

static void test_ssrf_urls(void **state)
{
  sf_error_t err = NULL;
  const char *bad[] = {
      "http://127.0.0.1:8080/x",  "http://[::1]/",      "https://169.254.169.254/latest/meta-data",
      "http://localhost/",        "http://LOCALHOST./", "http://api.localhost:9000/",
      "http://[fe80::1%25eth0]/", "http://10.0.0.5/"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(sf_ssrf_check_url(bad[i], &err), -1);
    assert_non_null(strstr(sf_error_msg(&err), "SSRF guard"));
    sf_error_release(&err);
  }
  /* names are judged at connect time, public literals pass */
  assert_int_equal(sf_ssrf_check_url("https://hooks.example.com/sandforge", &err), 0);
  assert_int_equal(sf_ssrf_check_url("http://8.8.8.8/", &err), 0);
  assert_int_equal(sf_ssrf_check_url("http://[2606:4700::1]:8443/", &err), 0);
}

static void test_formatters(void **state)
{
  const char *payload =
      "{\"id\":\"evt_1\",\"event\":\"sandbox.paused\",\"timestamp\":\"2026-11-22T10:00:00.123Z\","
      "\"sandbox_id\":\"sb_1\",\"template_id\":\"host\",\"data\":{\"sandbox_id\":\"sb_1\","
      "\"template_id\":\"host\",\"state\":\"Paused\",\"reason\":\"idle\",\"metadata\":{}}}";
  sf_error_t err = NULL;
  char *json = sf_wh_format_body("json", payload, &err);
  assert_string_equal(json, payload); /* json: the exact payload bytes */
  free(json);

  char *w = sf_wh_format_body("wecom", payload, &err);
  json_t *j = json_loads(w, 0, NULL);
  assert_string_equal(json_string_value(json_object_get(j, "msgtype")), "markdown");
  const char *content =
      json_string_value(json_object_get(json_object_get(j, "markdown"), "content"));
  assert_non_null(strstr(content, "**Sandforge: sandbox.paused**"));
  assert_non_null(strstr(content, "> sandbox: `sb_1` (template host)"));
  assert_non_null(strstr(content, "> reason: `idle`"));
  assert_null(strstr(content, "metadata")); /* empty objects are left out */
  json_decref(j);
  free(w);

  char *s = sf_wh_format_body("slack", payload, &err);
  j = json_loads(s, 0, NULL);
  assert_int_equal(json_object_size(j), 1);
  assert_non_null(
      strstr(json_string_value(json_object_get(j, "text")), "[Sandforge] sandbox.paused"));
  json_decref(j);
  free(s);

  char *f = sf_wh_format_body("feishu", payload, &err);
  j = json_loads(f, 0, NULL);
  assert_string_equal(json_string_value(json_object_get(j, "msg_type")), "text");
  assert_non_null(strstr(json_string_value(json_object_get(json_object_get(j, "content"), "text")),
                         "state: Paused"));
  json_decref(j);
  free(f);

  /* sandbox-controlled text cannot add lines, links or break out of its code span */
  const char *hostile =
      "{\"id\":\"evt_2\",\"event\":\"security.violation\",\"sandbox_id\":\"sb_1\",\"data\":{"
      "\"attempted_command\":\"x`\\n> **ALL CLEAR** [click](http://evil)\"}}";
  w = sf_wh_format_body("wecom", hostile, &err);
  j = json_loads(w, 0, NULL);
  content = json_string_value(json_object_get(json_object_get(j, "markdown"), "content"));
  assert_non_null(
      strstr(content, "> attempted_command: `x' > **ALL CLEAR** [click](http://evil)`"));
  assert_null(strstr(content, "\n> **ALL"));
  json_decref(j);
  free(w);

  assert_null(sf_wh_format_body("teams", payload, &err));
  sf_error_release(&err);
}

static void test_error_code_answers(void **state)
{
  char why[128];
  assert_false(
      sf_wh_response_reports_error("wecom", "{\"errcode\":0,\"errmsg\":\"ok\"}", why, sizeof(why)));
  assert_true(sf_wh_response_reports_error(
      "wecom", "{\"errcode\":93000,\"errmsg\":\"invalid webhook url\"}", why, sizeof(why)));
  assert_non_null(strstr(why, "93000"));
  assert_non_null(strstr(why, "invalid webhook url"));
  assert_false(
      sf_wh_response_reports_error("feishu", "{\"code\":0,\"msg\":\"success\"}", why, sizeof(why)));
  assert_true(sf_wh_response_reports_error("feishu", "{\"code\":19021,\"msg\":\"sign match fail\"}",
                                           why, sizeof(why)));
  assert_true(sf_wh_response_reports_error("feishu", "{\"StatusCode\":9499}", why, sizeof(why)));
  /* json/slack bodies are never inspected; non-JSON bodies are not errors */
  assert_false(sf_wh_response_reports_error("json", "{\"errcode\":1}", why, sizeof(why)));
  assert_false(sf_wh_response_reports_error("slack", "{\"code\":1}", why, sizeof(why)));
  assert_false(sf_wh_response_reports_error("wecom", "ok", why, sizeof(why)));
}

static void test_endpoint_settings(void **state)
{
  sf_webhook_settings *s = sf_webhook_settings_new();
  sf_error_t err = NULL;
  assert_int_equal(
      sf_webhook_settings_ini(s, "webhook", "ops", "url", "https://ops.example/h", &err), 0);
  assert_int_equal(sf_webhook_settings_ini(s, "webhook", "ops", "format", "wecom", &err), 0);
  assert_int_equal(sf_webhook_settings_ini(s, "webhook", "ops", "ordering", "per-sandbox", &err),
                   0);
  assert_int_equal(sf_webhook_settings_ini(s, "webhook", "ops", "header", "X-Team: infra", &err),
                   0);
  assert_true(s->eps[0].per_sandbox);
  assert_string_equal(s->eps[0].format, "wecom");
  struct {
    const char *key, *value, *msg;
  } bad[] = {{"format", "teams", "unknown"},
             {"ordering", "strict", "per-sandbox"},
             {"header", "webhook-id: x", "cannot be overridden"},
             {"header", "X-Sandforge-Event: x", "cannot be overridden"},
             {"header", "Bad Name: x", "invalid characters"},
             {"header", "NoColon", "Name: value"},
             {"url", "ftp://x/", "http"},
             {"url", "http://exa mple/", "not a valid URL"},
             {"events", "sandbox.exploded", "sandbox.exploded"},
             {"colour", "blue", "unknown webhook key"}};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(sf_webhook_settings_ini(s, "webhook", "ops", bad[i].key, bad[i].value, &err),
                     -1);
    assert_non_null(strstr(sf_error_msg(&err), bad[i].msg));
    sf_error_release(&err);
  }
  assert_int_equal(
      sf_webhook_settings_ini(s, "webhooks", NULL, "allow_private_targets", "yes", &err), -1);
  sf_error_release(&err);
  assert_int_equal(sf_webhook_settings_ini(s, "webhooks", NULL, "disable_after", "2d", &err), 0);
  assert_int_equal(s->disable_after_ms, 2 * 86400000LL);
  sf_webhook_settings_free(s);
}

static void test_rotation_keeps_old_secret_until_expiry(void **state)
{
  sf_wh_endpoint e = {0};
  sf_error_t err = NULL;
  assert_int_equal(sf_wh_endpoint_set(&e, "secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &err),
                   0);
  assert_int_equal(
      sf_wh_endpoint_rotate(&e, "whsec_dGhpcy1pcy1hLW5ldy1zZWNyZXQtMzJieXRlcyE=", 5000, &err), 0);
  char **active = sf_wh_endpoint_active_secrets(&e, 1000);
  assert_int_equal(sf_strv_len(active), 2);
  assert_string_equal(active[0], "whsec_dGhpcy1pcy1hLW5ldy1zZWNyZXQtMzJieXRlcyE=");
  free(active);
  active = sf_wh_endpoint_active_secrets(&e, 5000); /* expired: only the new one signs */
  assert_int_equal(sf_strv_len(active), 1);
  free(active);
  assert_int_equal(sf_wh_endpoint_rotate(&e, "short", 9000, &err), -1);
  sf_error_release(&err);
  assert_int_equal(sf_wh_endpoint_rotate(&e, "whsec_!!!not-base64!!!!!!!", 9000, &err), -1);
  sf_error_release(&err);
  sf_wh_endpoint_clear(&e);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ssrf_ipv4),
      cmocka_unit_test(test_ssrf_ipv6),
      cmocka_unit_test(test_ssrf_urls),
      cmocka_unit_test(test_formatters),
      cmocka_unit_test(test_error_code_answers),
      cmocka_unit_test(test_endpoint_settings),
      cmocka_unit_test(test_rotation_keeps_old_secret_until_expiry),
  };
  return cmocka_run_group_tests_name("webhook endpoints", tests, NULL, NULL);
}
