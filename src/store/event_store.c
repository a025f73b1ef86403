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
  /* q->type: one pattern or a comma-separated list ("sandbox.*, task.timeout"),
   * each an exact name, "prefix.*" or "*"; up to 16. */
  char likes[16][80];
  int nlikes = 0;
  bool all = q->type == NULL || *q->type == '\0';
  for (const char *p = q->type; p && *p && !all;) {
    size_t n = strcspn(p, ",");
    const char *a = p, *b = p + n;
    while (a < b && (*a == ' ' || *a == '\t'))
      a++;
    while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
      b--;
    size_t len = (size_t)(b - a);
    if (len == 1 && *a == '*')
      all = true;
    else if (len > 0 && nlikes < 16) {
      bool prefix = len >= 2 && a[len - 2] == '.' && a[len - 1] == '*';
      snprintf(likes[nlikes++], sizeof(likes[0]), "%.*s%s", (int)(prefix ? len - 1 : len), a,
               prefix ? "%" : "");
    }
    p = b + strspn(b, " \t");
    p += *p == ',';
  }
  if (all)
    nlikes = 0;
  char sql[1024] = "SELECT seq, payload FROM events WHERE seq > ?1 AND ts >= ?2 "
                   "AND (?3 IS NULL OR sandbox_id = ?3)";
  for (int i = 0; i < nlikes; i++)
    snprintf(sql + strlen(sql), sizeof(sql) - strlen(sql), "%s type LIKE ?%d", i ? " OR" : " AND (",
             5 + i);
  snprintf(sql + strlen(sql), sizeof(sql) - strlen(sql), "%s ORDER BY seq LIMIT ?4",
           nlikes ? ")" : "");
  sqlite3_stmt *s = NULL;
  sf_store_lock(st);
  if (sqlite3_prepare_v2(sf_store_db(st), sql, -1, &s, NULL) != SQLITE_OK) {
    sf_store_unlock(st);
    return sf_store_db_error(st, err, "prepare event query");
  }
  sqlite3_bind_int64(s, 1, q->after_seq);
  sqlite3_bind_int64(s, 2, q->since_ms);
  if (q->sandbox_id)
    sqlite3_bind_text(s, 3, q->sandbox_id, -1, SQLITE_STATIC);
  sqlite3_bind_int(s, 4, limit);
  for (int i = 0; i < nlikes; i++)
    sqlite3_bind_text(s, 5 + i, likes[i], -1, SQLITE_STATIC);
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
