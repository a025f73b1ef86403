/* Delivery rows: the outbox hook that creates them in the state change's
 * transaction, the views of the management API (deliveries with their
 * attempts), manual redelivery and bulk recovery, and retention pruning. */
#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "webhook/webhook_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int insert_delivery(sqlite3 *db, int64_t seq, const char *event_id, const char *endpoint_id,
                           int64_t due_ms, sf_error_t *err)
{
  cleanup_free char *did = sf_new_id("dlv_", 8);
  sqlite3_stmt *q = NULL;
  sqlite3_prepare_v2(db,
                     "INSERT INTO webhook_deliveries(id, event_seq, event_id, endpoint_id, "
                     "next_attempt_at, created_at) VALUES(?,?,?,?,?,?)",
                     -1, &q, NULL);
  sqlite3_bind_text(q, 1, did, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, seq);
  sqlite3_bind_text(q, 3, event_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 4, endpoint_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 5, due_ms);
  sqlite3_bind_int64(q, 6, sf_now_ms());
  int r = sqlite3_step(q);
  sqlite3_finalize(q);
  if (r != SQLITE_DONE)
    return sf_error_make(err, EIO, "queue webhook delivery: %s", sqlite3_errmsg(db));
  return 0;
}

int sf_wh_outbox_on_event(sf_store *st, const sf_event *ev, const char *payload, void *ud,
                          sf_error_t *err)
{
  sf_webhooks *wh = ud;
  for (size_t i = 0; i < wh->n_eps; i++) {
    sf_wh_endpoint *e = wh->eps[i];
    if (e->disabled || !sf_filter_match(e->events, ev->type))
      continue;
    if (insert_delivery(sf_store_db(st), ev->seq, ev->id, e->id, ev->timestamp_ms, err) < 0)
      return -1;
  }
  return 0;
}

/* ---- views -------------------------------------------------------------- */

#define DELIVERY_COLUMNS                                                                           \
  "d.rowid, d.id, d.endpoint_id, d.event_id, e.type, e.sandbox_id, d.status, d.attempts, "         \
  "d.next_attempt_at, d.last_status, d.last_error, d.created_at, e.payload "                       \
  "FROM webhook_deliveries d LEFT JOIN events e ON e.seq = d.event_seq "

static json_t *text_or_null(sqlite3_stmt *q, int col)
{
  return sqlite3_column_type(q, col) == SQLITE_NULL
             ? json_null()
             : json_string((const char *)sqlite3_column_text(q, col));
}

static json_t *time_json(int64_t ms)
{
  char buf[40];
  sf_format_rfc3339_ms(ms, buf, sizeof(buf));
  return json_string(buf);
}

static json_t *delivery_row(sqlite3_stmt *q)
{
  const char *status = (const char *)sqlite3_column_text(q, 6);
  bool pending = strcmp(status, "pending") == 0;
  return json_pack(
      "{s:o,s:o,s:o,s:o,s:o,s:s,s:i,s:o,s:o,s:o,s:o}", "id", text_or_null(q, 1), "endpointId",
      text_or_null(q, 2), "eventId", text_or_null(q, 3), "event", text_or_null(q, 4), "sandboxId",
      text_or_null(q, 5), "status", status, "attempts", sqlite3_column_int(q, 7), "nextAttemptAt",
      pending ? time_json(sqlite3_column_int64(q, 8)) : json_null(), "lastHttpStatus",
      sqlite3_column_type(q, 9) == SQLITE_NULL ? json_null()
                                               : json_integer(sqlite3_column_int(q, 9)),
      "lastError", text_or_null(q, 10), "createdAt", time_json(sqlite3_column_int64(q, 11)));
}

json_t *sf_wh_deliveries_list(sf_webhooks *wh, const char *endpoint_id, const char *status,
                              int limit, const char *cursor, sf_error_t *err)
{
  if (limit <= 0 || limit > 1000)
    limit = 100;
  int64_t before = cursor ? strtoll(cursor, NULL, 10) : 0;
  json_t *items = json_array();
  int64_t last = 0;
  sf_store_lock(wh->store);
  sqlite3_stmt *q = NULL;
  int r = sqlite3_prepare_v2(sf_store_db(wh->store),
                             "SELECT " DELIVERY_COLUMNS
                             "WHERE d.endpoint_id = ?1 AND (?2 IS NULL OR d.status = ?2) "
                             "AND (?3 = 0 OR d.rowid < ?3) ORDER BY d.rowid DESC LIMIT ?4",
                             -1, &q, NULL);
  sqlite3_bind_text(q, 1, endpoint_id, -1, SQLITE_STATIC);
  if (status)
    sqlite3_bind_text(q, 2, status, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 3, before);
  sqlite3_bind_int(q, 4, limit);
  while (r == SQLITE_OK && (r = sqlite3_step(q)) == SQLITE_ROW) {
    json_array_append_new(items, delivery_row(q));
    last = sqlite3_column_int64(q, 0);
    r = SQLITE_OK;
  }
  if (r != SQLITE_DONE && r != SQLITE_OK)
    sf_error_make(err, EIO, "list deliveries: %s", sqlite3_errmsg(sf_store_db(wh->store)));
  sqlite3_finalize(q);
  sf_store_unlock(wh->store);
  if (r != SQLITE_DONE && r != SQLITE_OK) {
    json_decref(items);
    return NULL;
  }
  char next[32];
  snprintf(next, sizeof(next), "%lld", (long long)last);
  bool more = (int)json_array_size(items) == limit;
  return json_pack("{s:o,s:o}", "items", items, "nextCursor",
                   more ? json_string(next) : json_null());
}

static json_t *attempt_log(sqlite3 *db, const char *delivery_id)
{
  json_t *arr = json_array();
  sqlite3_stmt *q = NULL;
  sqlite3_prepare_v2(db,
                     "SELECT attempt, ts, http_status, error, duration_ms, response FROM "
                     "webhook_attempts WHERE delivery_id = ? ORDER BY attempt",
                     -1, &q, NULL);
  sqlite3_bind_text(q, 1, delivery_id, -1, SQLITE_STATIC);
  while (sqlite3_step(q) == SQLITE_ROW)
    json_array_append_new(
        arr,
        json_pack("{s:i,s:o,s:o,s:o,s:I,s:o}", "attempt", sqlite3_column_int(q, 0), "timestamp",
                  time_json(sqlite3_column_int64(q, 1)), "httpStatus",
                  sqlite3_column_type(q, 2) == SQLITE_NULL ? json_null()
                                                           : json_integer(sqlite3_column_int(q, 2)),
                  "error", text_or_null(q, 3), "durationMs", (json_int_t)sqlite3_column_int64(q, 4),
                  "response", text_or_null(q, 5)));
  sqlite3_finalize(q);
  return arr;
}

json_t *sf_wh_delivery_get(sf_webhooks *wh, const char *endpoint_id, const char *delivery_id,
                           bool with_attempts, sf_error_t *err)
{
  json_t *out = NULL;
  sf_store_lock(wh->store);
  sqlite3 *db = sf_store_db(wh->store);
  sqlite3_stmt *q = NULL;
  sqlite3_prepare_v2(db, "SELECT " DELIVERY_COLUMNS "WHERE d.id = ? AND d.endpoint_id = ?", -1, &q,
                     NULL);
  sqlite3_bind_text(q, 1, delivery_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, endpoint_id, -1, SQLITE_STATIC);
  if (sqlite3_step(q) == SQLITE_ROW) {
    out = delivery_row(q);
    if (with_attempts) {
      const char *payload = (const char *)sqlite3_column_text(q, 12);
      json_t *p = payload ? json_loads(payload, 0, NULL) : NULL;
      json_object_set_new(out, "payload", p ? p : json_null());
      json_object_set_new(out, "attemptLog", attempt_log(db, delivery_id));
    }
  } else {
    sf_error_make(err, ENOENT, "no delivery '%s' for webhook '%s'", delivery_id, endpoint_id);
  }
  sqlite3_finalize(q);
  sf_store_unlock(wh->store);
  return out;
}

json_t *sf_wh_endpoint_stats(sf_webhooks *wh, const char *endpoint_id)
{
  json_t *stats = json_pack("{s:i,s:i,s:i}", "pending", 0, "succeeded", 0, "failed", 0);
  sf_store_lock(wh->store);
  sqlite3_stmt *q = NULL;
  sqlite3_prepare_v2(sf_store_db(wh->store),
                     "SELECT status, COUNT(*) FROM webhook_deliveries WHERE endpoint_id = ? "
                     "GROUP BY status",
                     -1, &q, NULL);
  sqlite3_bind_text(q, 1, endpoint_id, -1, SQLITE_STATIC);
  while (sqlite3_step(q) == SQLITE_ROW)
    json_object_set_new(stats, (const char *)sqlite3_column_text(q, 0),
                        json_integer(sqlite3_column_int64(q, 1)));
  sqlite3_finalize(q);
  sf_store_unlock(wh->store);
  return stats;
}

/* ---- redelivery and recovery ---------------------------------------------- */

/* Back to pending, due now.  `retry_base` restarts the retry schedule while
 * attempt numbers keep counting (the attempt log stays complete). */
#define REQUEUE_SET "status = 'pending', next_attempt_at = ?, retry_base = attempts "

int sf_wh_delivery_redeliver(sf_webhooks *wh, const char *endpoint_id, const char *delivery_id,
                             sf_error_t *err)
{
  if (sf_store_begin(wh->store, err) < 0)
    return -1;
  sqlite3 *db = sf_store_db(wh->store);
  sqlite3_stmt *q = NULL;
  sqlite3_prepare_v2(
      db, "UPDATE webhook_deliveries SET " REQUEUE_SET "WHERE id = ? AND endpoint_id = ?", -1, &q,
      NULL);
  sqlite3_bind_int64(q, 1, sf_now_ms());
  sqlite3_bind_text(q, 2, delivery_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 3, endpoint_id, -1, SQLITE_STATIC);
  int r = sqlite3_step(q);
  sqlite3_finalize(q);
  if (r != SQLITE_DONE || sqlite3_changes(db) == 0) {
    if (r != SQLITE_DONE)
      sf_error_make(err, EIO, "redeliver: %s", sqlite3_errmsg(db));
    else
      sf_error_make(err, ENOENT, "no delivery '%s' for webhook '%s'", delivery_id, endpoint_id);
    sf_store_rollback(wh->store);
    return -1;
  }
  if (sf_store_commit(wh->store, err) < 0)
    return -1;
  sf_wh_dispatcher_wake(wh);
  return 0;
}

int sf_wh_recover(sf_webhooks *wh, const char *endpoint_id, int64_t since_ms, int64_t *count,
                  sf_error_t *err)
{
  if (sf_store_begin(wh->store, err) < 0)
    return -1;
  sqlite3 *db = sf_store_db(wh->store);
  int64_t now = sf_now_ms(), n = 0;
  sf_wh_endpoint *e = sf_wh_endpoint_find(wh, endpoint_id);
  if (e == NULL) {
    sf_store_rollback(wh->store);
    return sf_error_make(err, ENOENT, "no webhook '%s'", endpoint_id);
  }
  sqlite3_stmt *q = NULL;
  sqlite3_prepare_v2(db,
                     "UPDATE webhook_deliveries SET " REQUEUE_SET
                     "WHERE endpoint_id = ? AND status = 'failed' AND event_seq IN "
                     "(SELECT seq FROM events WHERE ts >= ?)",
                     -1, &q, NULL);
  sqlite3_bind_int64(q, 1, now);
  sqlite3_bind_text(q, 2, endpoint_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 3, since_ms);
  int r = sqlite3_step(q);
  sqlite3_finalize(q);
  n += sqlite3_changes(db);
  /* Events the endpoint never got a delivery for (it was disabled, or
   * subscribed later): queue them now if its filter matches. */
  sqlite3_prepare_v2(db,
                     "SELECT seq, id, type FROM events v WHERE ts >= ? AND NOT EXISTS (SELECT 1 "
                     "FROM webhook_deliveries d WHERE d.event_seq = v.seq AND d.endpoint_id = ?) "
                     "ORDER BY seq",
                     -1, &q, NULL);
  sqlite3_bind_int64(q, 1, since_ms);
  sqlite3_bind_text(q, 2, endpoint_id, -1, SQLITE_STATIC);
  while (r == SQLITE_DONE && sqlite3_step(q) == SQLITE_ROW) {
    if (!sf_filter_match(e->events, (const char *)sqlite3_column_text(q, 2)))
      continue;
    if (insert_delivery(db, sqlite3_column_int64(q, 0), (const char *)sqlite3_column_text(q, 1),
                        endpoint_id, now, err) < 0) {
      r = SQLITE_ERROR;
      break;
    }
    n++;
  }
  sqlite3_finalize(q);
  if (r != SQLITE_DONE) {
    if (*err == NULL)
      sf_error_make(err, EIO, "recover: %s", sqlite3_errmsg(db));
    sf_store_rollback(wh->store);
    return -1;
  }
  if (sf_store_commit(wh->store, err) < 0)
    return -1;
  *count = n;
  sf_wh_dispatcher_wake(wh);
  return 0;
}

/* ---- retention ------------------------------------------------------------ */

int sf_wh_prune(sf_webhooks *wh, int64_t now_ms, sf_error_t *err)
{
  int64_t cutoff = now_ms - wh->s.retention_ms, deleted = 0;
  if (sf_store_begin(wh->store, err) < 0)
    return -1;
  static const char *const steps[] = {
      "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT d.id FROM webhook_deliveries d "
      "JOIN events e ON e.seq = d.event_seq WHERE e.ts < ?)",
      "DELETE FROM webhook_deliveries WHERE event_seq IN (SELECT seq FROM events WHERE ts < ?)",
  };
  for (size_t i = 0; i < 2; i++) {
    sqlite3_stmt *q = NULL;
    sqlite3_prepare_v2(sf_store_db(wh->store), steps[i], -1, &q, NULL);
    sqlite3_bind_int64(q, 1, cutoff);
    int r = sqlite3_step(q);
    sqlite3_finalize(q);
    if (r != SQLITE_DONE) {
      sf_error_make(err, EIO, "prune webhook deliveries: %s",
                    sqlite3_errmsg(sf_store_db(wh->store)));
      sf_store_rollback(wh->store);
      return -1;
    }
  }
  if (sf_store_commit(wh->store, err) < 0)
    return -1;
  /* A crash between the two transactions leaves only old events, which the
   * next pass deletes. */
  if (sf_store_events_prune(wh->store, cutoff, &deleted, err) < 0)
    return -1;
  if (deleted > 0)
    sf_log_info("pruned %lld events older than the retention time", (long long)deleted);
  return 0;
}
