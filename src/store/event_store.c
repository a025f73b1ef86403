/* The events table: the transactional outbox and the event log. */
#include "common/cleanup.h"
#include "common/util.h"
#include "store/store_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *sf_event_payload(const sf_event *ev)
{
  char ts[40];
  sf_format_rfc3339_ms(ev->timestamp_ms, ts, sizeof(ts));
  json_t *p = json_object();
  json_object_set_new(p, "id", json_string(ev->id));
  json_object_set_new(p, "event", json_string(ev->type));
  json_object_set_new(p, "timestamp", json_string(ts));
  if (ev->sandbox_id)
    json_object_set_new(p, "sandbox_id", json_string(ev->sandbox_id));
  if (ev->template_id)
    json_object_set_new(p, "template_id", json_string(ev->template_id));
  json_object_set(p, "data", ev->data ? ev->data : json_object());
  if (ev->data == NULL)
    json_decref(json_object_get(p, "data"));
  char *s = json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(p);
  return s;
}

int sf_store_event_append(sf_store *st, sf_event *ev, sf_error_t *err)
{
  if (ev->id[0] == '\0') {
    cleanup_free char *id = sf_new_id("evt_", 8);
    if (id == NULL)
      return sf_error_make(err, EIO, "cannot generate event id");
    snprintf(ev->id, sizeof(ev->id), "%s", id);
  }
  if (ev->timestamp_ms == 0)
    ev->timestamp_ms = sf_now_ms();
  cleanup_free char *payload = sf_event_payload(ev);
  if (payload == NULL)
    return sf_error_make(err, ENOMEM, "cannot encode event");
  sqlite3 *db = sf_store_db(st);
  sqlite3_stmt *q = NULL;
  if (sqlite3_prepare_v2(db,
                         "INSERT INTO events(id, type, ts, sandbox_id, payload) VALUES(?,?,?,?,?)",
                         -1, &q, NULL) != SQLITE_OK)
    return sf_store_db_error(st, err, "prepare event insert");
  sqlite3_bind_text(q, 1, ev->id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, ev->type, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 3, ev->timestamp_ms);
  if (ev->sandbox_id)
    sqlite3_bind_text(q, 4, ev->sandbox_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 5, payload, -1, SQLITE_STATIC);
  int r = sqlite3_step(q);
  sqlite3_finalize(q);
  if (r != SQLITE_DONE)
    return sf_store_db_error(st, err, "insert event");
  ev->seq = sqlite3_last_insert_rowid(db);
  return sf_store_run_event_hooks(st, ev, payload, err);
}

int sf_store_events_list(sf_store *st, const sf_event_query *q, json_t **out, sf_error_t *err)
{
  int limit = q->limit > 0 ? (q->limit > 1000 ? 1000 : q->limit) : 100;
  char type_like[80] = "";
  bool prefix = false;
  if (q->type && *q->type) {
    size_t n = strlen(q->type);
    prefix = n >= 2 && strcmp(q->type + n - 2, ".*") == 0;
    snprintf(type_like, sizeof(type_like), "%.*s%s", (int)(prefix ? n - 1 : n), q->type,
             prefix ? "%" : "");
    if (strcmp(q->type, "*") == 0)
      type_like[0] = '\0';
  }
  sqlite3_stmt *s = NULL;
  sf_store_lock(st);
  if (sqlite3_prepare_v2(sf_store_db(st),
                         "SELECT seq, payload FROM events WHERE seq > ? AND ts >= ? "
                         "AND (? = '' OR type LIKE ?) AND (? IS NULL OR sandbox_id = ?) "
                         "ORDER BY seq LIMIT ?",
                         -1, &s, NULL) != SQLITE_OK) {
    sf_store_unlock(st);
    return sf_store_db_error(st, err, "prepare event query");
  }
  sqlite3_bind_int64(s, 1, q->after_seq);
  sqlite3_bind_int64(s, 2, q->since_ms);
  sqlite3_bind_text(s, 3, type_like, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 4, type_like, -1, SQLITE_STATIC);
  if (q->sandbox_id) {
    sqlite3_bind_text(s, 5, q->sandbox_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, q->sandbox_id, -1, SQLITE_STATIC);
  }
  sqlite3_bind_int(s, 7, limit);
  json_t *arr = json_array();
  while (sqlite3_step(s) == SQLITE_ROW) {
    json_t *p = json_loads((const char *)sqlite3_column_text(s, 1), 0, NULL);
    if (p) {
      json_object_set_new(p, "seq", json_integer(sqlite3_column_int64(s, 0)));
      json_array_append_new(arr, p);
    }
  }
  sqlite3_finalize(s);
  sf_store_unlock(st);
  *out = arr;
  return 0;
}

int sf_store_events_prune(sf_store *st, int64_t before_ms, int64_t *deleted, sf_error_t *err)
{
  if (sf_store_begin(st, err) < 0)
    return -1;
  sqlite3_stmt *s = NULL;
  sqlite3_prepare_v2(sf_store_db(st), "DELETE FROM events WHERE ts < ?", -1, &s, NULL);
  sqlite3_bind_int64(s, 1, before_ms);
  int r = sqlite3_step(s);
  sqlite3_finalize(s);
  if (r != SQLITE_DONE) {
    sf_store_db_error(st, err, "prune events");
    sf_store_rollback(st);
    return -1;
  }
  if (deleted)
    *deleted = sqlite3_changes(sf_store_db(st));
  return sf_store_commit(st, err);
}
