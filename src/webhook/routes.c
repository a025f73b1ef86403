/* The webhook management API (webhooks.md §8): endpoints CRUD, a synchronous
 * test send, secret rotation, deliveries with their attempts, redelivery and
 * recovery.  Secrets are returned only when created or rotated. */
#include "api/http.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "webhook/webhook_internal.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reply with the endpoint's JSON (plus `secret` when given). */
static void reply_endpoint(sf_http_req *req, sf_webhooks *wh, int status, const char *id,
                           const char *secret)
{
  sf_store_lock(wh->store);
  sf_wh_endpoint *e = sf_wh_endpoint_find(wh, id);
  json_t *j = e ? sf_wh_endpoint_json(wh, e) : NULL;
  sf_store_unlock(wh->store);
  if (j == NULL) {
    sf_http_reply_error(req, 404, "NOT_FOUND", "no webhook '%s'", id);
    return;
  }
  if (secret)
    json_object_set_new(j, "secret", json_string(secret));
  sf_http_reply_json(req, status, j);
}

static void list_endpoints(sf_http_req *req, void *ud)
{
  sf_webhooks *wh = ud;
  json_t *items = json_array();
  sf_store_lock(wh->store);
  for (size_t i = 0; i < wh->n_eps; i++)
    json_array_append_new(items, sf_wh_endpoint_json(wh, wh->eps[i]));
  sf_store_unlock(wh->store);
  sf_http_reply_json(req, 200, json_pack("{s:o}", "items", items));
}

static void create_endpoint(sf_http_req *req, void *ud)
{
  sf_webhooks *wh = ud;
  json_auto_t *body = sf_http_json_body(req, false);
  if (body == NULL)
    return;
  sf_error_t err = NULL;
  sf_wh_endpoint *e = calloc(1, sizeof(*e));
  e->id = sf_new_id("wh_", 8);
  e->api = true;
  e->format = strdup("json");
  e->description = strdup("");
  e->events = calloc(1, sizeof(char *));
  e->created_ms = sf_now_ms();
  cleanup_free char *generated = NULL;
  if (sf_wh_endpoint_apply_json(wh, e, body, true, &err) < 0 ||
      (e->n_secrets == 0 && (generated = sf_sig_generate_secret(&err)) == NULL) ||
      (generated && sf_wh_endpoint_set(e, "secret", generated, &err) < 0)) {
    sf_wh_endpoint_clear(e);
    free(e);
    sf_http_reply_sf_error(req, NULL, &err);
    return;
  }
  cleanup_free char *id = strdup(e->id);
  bool begun = sf_store_begin(wh->store, &err) == 0;
  if (!begun || sf_wh_endpoint_save(wh, e, &err) < 0) {
    if (begun)
      sf_store_rollback(wh->store);
    sf_wh_endpoint_clear(e);
    free(e);
    sf_http_reply_sf_error(req, NULL, &err);
    return;
  }
  sf_wh_endpoints_add(wh, e); /* under the transaction's lock: atomic with the row */
  if (sf_store_commit(wh->store, &err) < 0) {
    sf_store_lock(wh->store);
    sf_wh_endpoints_remove(wh, id);
    sf_store_unlock(wh->store);
    sf_http_reply_sf_error(req, NULL, &err);
    return;
  }
  sf_log_fields(SF_LOG_INFO, "webhook endpoint created", json_pack("{s:s}", "endpoint", id));
  reply_endpoint(req, wh, 201, id, generated); /* a secret the caller chose is not echoed */
  if (generated)
    OPENSSL_cleanse(generated, strlen(generated));
}

static void get_endpoint(sf_http_req *req, void *ud)
{
  reply_endpoint(req, ud, 200, sf_http_param(req, "id"), NULL);
}

/* Begin a transaction and find the endpoint; on failure replies and returns NULL. */
static sf_wh_endpoint *begin_with_endpoint(sf_http_req *req, sf_webhooks *wh, bool editable)
{
  sf_error_t err = NULL;
  const char *id = sf_http_param(req, "id");
  if (sf_store_begin(wh->store, &err) < 0) {
    sf_http_reply_sf_error(req, NULL, &err);
    return NULL;
  }
  sf_wh_endpoint *e = sf_wh_endpoint_find(wh, id);
  if (e == NULL || (editable && !e->api)) {
    sf_store_rollback(wh->store);
    if (e == NULL)
      sf_http_reply_error(req, 404, "NOT_FOUND", "no webhook '%s'", id);
    else
      sf_http_reply_error(req, 409, "CONFLICT",
                          "webhook '%s' is configured by the operator (flags, environment or "
                          "config file) and can only be changed there",
                          id);
    return NULL;
  }
  return e;
}

static void finish(sf_http_req *req, sf_webhooks *wh, sf_error_t *err)
{
  if (*err) {
    sf_store_rollback(wh->store);
    sf_http_reply_sf_error(req, NULL, err);
  } else if (sf_store_commit(wh->store, err) < 0) {
    sf_http_reply_sf_error(req, NULL, err);
  }
}

static void patch_endpoint(sf_http_req *req, void *ud)
{
  sf_webhooks *wh = ud;
  json_auto_t *body = sf_http_json_body(req, false);
  if (body == NULL)
    return;
  sf_wh_endpoint *cur = begin_with_endpoint(req, wh, false);
  if (cur == NULL)
    return;
  sf_error_t err = NULL;
  if (!cur->api && (json_object_size(body) != 1 || !json_object_get(body, "enabled"))) {
    sf_store_rollback(wh->store);
    sf_http_reply_error(req, 409, "CONFLICT",
                        "webhook '%s' is configured by the operator; only 'enabled' can be "
                        "changed through the API",
                        cur->id);
    return;
  }
  sf_wh_endpoint *e = sf_wh_endpoint_dup(cur);
  cleanup_free char *id = strdup(cur->id);
  if (sf_wh_endpoint_apply_json(wh, e, body, false, &err) < 0 ||
      (e->api ? sf_wh_endpoint_save(wh, e, &err) : sf_wh_endpoint_save_state(wh, e, &err)) < 0) {
    sf_wh_endpoint_clear(e);
    free(e);
    finish(req, wh, &err);
    return;
  }
  sf_wh_endpoints_add(wh, e); /* replaces `cur` */
  finish(req, wh, &err);
  if (err == NULL) {
    sf_wh_dispatcher_wake(wh); /* re-enabled: pending deliveries may go */
    reply_endpoint(req, wh, 200, id, NULL);
  }
}

static int exec_bound(sf_webhooks *wh, const char *sql, const char *id, sf_error_t *err)
{
  sqlite3_stmt *q = NULL;
  sqlite3 *db = sf_store_db(wh->store);
  sqlite3_prepare_v2(db, sql, -1, &q, NULL);
  sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
  int r = sqlite3_step(q);
  sqlite3_finalize(q);
  return r == SQLITE_DONE ? 0 : sf_error_make(err, EIO, "delete webhook: %s", sqlite3_errmsg(db));
}

static void delete_endpoint(sf_http_req *req, void *ud)
{
  sf_webhooks *wh = ud;
  sf_wh_endpoint *e = begin_with_endpoint(req, wh, true);
  if (e == NULL)
    return;
  sf_error_t err = NULL;
  cleanup_free char *id = strdup(e->id);
  if (exec_bound(wh,
                 "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM "
                 "webhook_deliveries WHERE endpoint_id = ?)",
                 id, &err) == 0 &&
      exec_bound(wh, "DELETE FROM webhook_deliveries WHERE endpoint_id = ?", id, &err) == 0 &&
      exec_bound(wh, "DELETE FROM webhook_endpoints WHERE id = ?", id, &err) == 0)
    sf_wh_endpoints_remove(wh, id);
  finish(req, wh, &err);
  if (err == NULL) {
    sf_log_fields(SF_LOG_INFO, "webhook endpoint deleted", json_pack("{s:s}", "endpoint", id));
    sf_http_reply_empty(req, 204);
  }
}

/* Send a `webhook.test` event now, in this request's thread (the caller asked
 * to wait for it), and report the attempt.  It is not stored. */
static void test_endpoint(sf_http_req *req, void *ud)
{
  sf_webhooks *wh = ud;
  const char *id = sf_http_param(req, "id");
  sf_error_t err = NULL;
  cleanup_free char *evt = sf_new_id("evt_", 8);
  cleanup_free char *did = sf_new_id("dlv_test_", 8); /* not stored; names this one send */
  char ts[40];
  sf_format_rfc3339_ms(sf_now_ms(), ts, sizeof(ts));
  json_auto_t *payload = json_pack("{s:s,s:s,s:s,s:{s:s}}", "id", evt, "event", "webhook.test",
                                   "timestamp", ts, "data", "webhook_id", id);
  cleanup_free char *text = json_dumps(payload, JSON_COMPACT);
  sf_store_lock(wh->store);
  sf_wh_endpoint *e = sf_wh_endpoint_find(wh, id);
  sf_wh_request *r = e ? sf_wh_request_new(wh, e, evt, "webhook.test", did, 1, text, &err) : NULL;
  sf_store_unlock(wh->store);
  if (e == NULL) {
    sf_http_reply_error(req, 404, "NOT_FOUND", "no webhook '%s'", id);
    return;
  }
  if (r == NULL) {
    sf_http_reply_sf_error(req, NULL, &err);
    return;
  }
  int64_t t0 = sf_mono_us();
  CURLcode rc = curl_easy_perform(r->easy);
  int64_t dur = (sf_mono_us() - t0) / 1000;
  long http = 0;
  char buf[256];
  const char *error = sf_wh_request_outcome(r, rc, &http, buf, sizeof(buf));
  bool ok = error == NULL && http >= 200 && http < 300;
  sf_http_reply_json(
      req, 200,
      json_pack("{s:s,s:b,s:{s:o,s:o,s:I,s:s%}}", "eventId", evt, "success", ok, "attempt",
                "httpStatus", http ? json_integer(http) : json_null(), "error",
                error ? json_string(error)
                      : (ok ? json_null() : json_sprintf("receiver answered HTTP %ld", http)),
                "durationMs", (json_int_t)dur, "response", r->response, r->response_len));
  sf_wh_request_free(r);
}

static void rotate_secret(sf_http_req *req, void *ud)
{
  sf_webhooks *wh = ud;
  json_auto_t *body = sf_http_json_body(req, true);
  if (body == NULL)
    return;
  json_t *given = json_object_get(body, "secret");
  if ((given && !json_is_string(given)) || json_object_size(body) > (given ? 1u : 0u)) {
    sf_http_reply_error(req, 400, "INVALID_PARAMETER",
                        "the body may only hold {\"secret\": \"...\"}");
    return;
  }
  sf_wh_endpoint *cur = begin_with_endpoint(req, wh, true);
  if (cur == NULL)
    return;
  sf_error_t err = NULL;
  cleanup_free char *secret =
      given ? strdup(json_string_value(given)) : sf_sig_generate_secret(&err);
  int64_t expires = sf_now_ms() + wh->s.rotation_overlap_ms;
  sf_wh_endpoint *e = sf_wh_endpoint_dup(cur);
  cleanup_free char *id = strdup(cur->id);
  if (secret == NULL || sf_wh_endpoint_rotate(e, secret, expires, &err) < 0 ||
      sf_wh_endpoint_save(wh, e, &err) < 0) {
    sf_wh_endpoint_clear(e);
    free(e);
    finish(req, wh, &err);
    return;
  }
  sf_wh_endpoints_add(wh, e);
  finish(req, wh, &err);
  if (err)
    return;
  char exp[40];
  sf_format_rfc3339_ms(expires, exp, sizeof(exp));
  sf_log_fields(SF_LOG_INFO, "webhook secret rotated", json_pack("{s:s}", "endpoint", id));
  json_t *out = json_pack("{s:s,s:s}", "id", id, "previousSecretExpiresAt", exp);
  if (given == NULL) /* generated: shown this once; a secret the caller chose is not echoed */
    json_object_set_new(out, "secret", json_string(secret));
  sf_http_reply_json(req, 200, out);
  OPENSSL_cleanse(secret, strlen(secret));
}

/* 404 unless the endpoint exists; 409 if `need_enabled` and it is disabled. */
static bool check_endpoint(sf_http_req *req, sf_webhooks *wh, bool need_enabled)
{
  const char *id = sf_http_param(req, "id");
  sf_store_lock(wh->store);
  sf_wh_endpoint *e = sf_wh_endpoint_find(wh, id);
  bool exists = e != NULL, disabled = e && e->disabled;
  sf_store_unlock(wh->store);
  if (!exists)
    sf_http_reply_error(req, 404, "NOT_FOUND", "no webhook '%s'", id);
  else if (need_enabled && disabled)
    sf_http_reply_error(req, 409, "CONFLICT",
                        "webhook '%s' is disabled; enable it first (PATCH {\"enabled\": true})",
                        id);
  return exists && !(need_enabled && disabled);
}

static void list_deliveries(sf_http_req *req, void *ud)
{
  sf_webhooks *wh = ud;
  if (!check_endpoint(req, wh, false))
    return;
  const char *status = sf_http_query(req, "status"), *limit = sf_http_query(req, "limit");
  if (status && strcmp(status, "pending") && strcmp(status, "succeeded") &&
      strcmp(status, "failed")) {
    sf_http_reply_error(req, 400, "INVALID_PARAMETER",
                        "status must be pending, succeeded or failed");
    return;
  }
  const char *cursor = sf_http_query(req, "cursor");
  int64_t n = 100, c = 0;
  if ((limit && (sf_parse_int64(limit, &n) < 0 || n < 1 || n > 1000)) ||
      (cursor && (sf_parse_int64(cursor, &c) < 0 || c < 0))) {
    sf_http_reply_error(req, 400, "INVALID_PARAMETER",
                        "limit must be 1-1000 and cursor a nextCursor value from a previous page");
    return;
  }
  sf_error_t err = NULL;
  json_t *out = sf_wh_deliveries_list(wh, sf_http_param(req, "id"), status, (int)n, cursor, &err);
  if (out == NULL)
    sf_http_reply_sf_error(req, NULL, &err);
  else
    sf_http_reply_json(req, 200, out);
}

static void get_delivery(sf_http_req *req, void *ud)
{
  sf_webhooks *wh = ud;
  if (!check_endpoint(req, wh, false))
    return;
  sf_error_t err = NULL;
  json_t *d =
      sf_wh_delivery_get(wh, sf_http_param(req, "id"), sf_http_param(req, "did"), true, &err);
  if (d == NULL)
    sf_http_reply_sf_error(req, NULL, &err);
  else
    sf_http_reply_json(req, 200, d);
}

static void redeliver(sf_http_req *req, void *ud)
{
  sf_webhooks *wh = ud;
  if (!check_endpoint(req, wh, true))
    return;
  sf_error_t err = NULL;
  const char *id = sf_http_param(req, "id"), *did = sf_http_param(req, "did");
  json_t *d = NULL;
  if (sf_wh_delivery_redeliver(wh, id, did, &err) < 0 ||
      (d = sf_wh_delivery_get(wh, id, did, false, &err)) == NULL)
    sf_http_reply_sf_error(req, NULL, &err);
  else
    sf_http_reply_json(req, 202, d);
}

static void recover(sf_http_req *req, void *ud)
{
  sf_webhooks *wh = ud;
  json_auto_t *body = sf_http_json_body(req, false);
  if (body == NULL || !check_endpoint(req, wh, true))
    return;
  const char *since = json_string_value(json_object_get(body, "since"));
  int64_t since_ms = 0, n = 0;
  if (since == NULL || sf_parse_rfc3339(since, &since_ms) < 0 || json_object_size(body) != 1) {
    sf_http_reply_error(req, 400, "INVALID_PARAMETER",
                        "the body must be {\"since\": \"<RFC 3339 time>\"}");
    return;
  }
  sf_error_t err = NULL;
  if (sf_wh_recover(wh, sf_http_param(req, "id"), since_ms, &n, &err) < 0)
    sf_http_reply_sf_error(req, NULL, &err);
  else
    sf_http_reply_json(req, 202, json_pack("{s:I}", "recovered", (json_int_t)n));
}

int sf_webhooks_register_routes(sf_webhooks *wh, struct sf_http_server *http, sf_error_t *err)
{
  sf_http_route(http, "GET", "/webhooks", list_endpoints, wh, 0);
  sf_http_route(http, "POST", "/webhooks", create_endpoint, wh, 0);
  sf_http_route(http, "GET", "/webhooks/{id}", get_endpoint, wh, 0);
  sf_http_route(http, "PATCH", "/webhooks/{id}", patch_endpoint, wh, 0);
  sf_http_route(http, "DELETE", "/webhooks/{id}", delete_endpoint, wh, 0);
  sf_http_route(http, "POST", "/webhooks/{id}/test", test_endpoint, wh, 0);
  sf_http_route(http, "POST", "/webhooks/{id}/rotate-secret", rotate_secret, wh, 0);
  sf_http_route(http, "GET", "/webhooks/{id}/deliveries", list_deliveries, wh, 0);
  sf_http_route(http, "GET", "/webhooks/{id}/deliveries/{did}", get_delivery, wh, 0);
  sf_http_route(http, "POST", "/webhooks/{id}/deliveries/{did}/redeliver", redeliver, wh, 0);
  sf_http_route(http, "POST", "/webhooks/{id}/recover", recover, wh, 0);
  return 0;
}
