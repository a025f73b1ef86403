/* SQL for the sandboxes table and the sandbox events built from its rows. */
#include "common/cleanup.h"
#include "common/util.h"
#include "lifecycle/lifecycle_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int step_done(sf_store *st, sqlite3_stmt *s, const char *what, sf_error_t *err)
{
  int r = sqlite3_step(s);
  sqlite3_finalize(s);
  if (r != SQLITE_DONE)
    return sf_error_make(err, EIO, "store: %s: %s", what, sqlite3_errmsg(sf_store_db(st)));
  return 0;
}

static sqlite3_stmt *prep(sf_store *st, const char *sql)
{
  sqlite3_stmt *s = NULL;
  sqlite3_prepare_v2(sf_store_db(st), sql, -1, &s, NULL);
  return s;
}

static char *dump(json_t *j)
{
  return j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : strdup("{}");
}

int sf_db_insert_sandbox(sf_store *st, const char *id, const char *template_id, const char *image,
                         json_t *spec, json_t *metadata, const char *token, int64_t created_ms,
                         int64_t expires_ms, sf_error_t *err)
{
  cleanup_free char *spec_s = dump(spec), *meta_s = dump(metadata);
  sqlite3_stmt *s =
      prep(st, "INSERT INTO sandboxes(id, state, template, image, spec, metadata, token, "
               "created_at, expires_at, transition_at, last_active_at) "
               "VALUES(?, 'Pending', ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, template_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 3, image, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 4, spec_s, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 5, meta_s, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 6, token, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 7, created_ms);
  if (expires_ms > 0)
    sqlite3_bind_int64(s, 8, expires_ms);
  sqlite3_bind_int64(s, 9, created_ms);
  sqlite3_bind_int64(s, 10, created_ms);
  return step_done(st, s, "insert sandbox", err);
}

int sf_db_set_state(sf_store *st, const char *id, const char *state, const char *reason,
                    sf_error_t *err)
{
  sqlite3_stmt *s =
      prep(st, "UPDATE sandboxes SET state = ?, reason = ?, transition_at = ? WHERE id = ?");
  sqlite3_bind_text(s, 1, state, -1, SQLITE_STATIC);
  if (reason)
    sqlite3_bind_text(s, 2, reason, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 3, sf_now_ms());
  sqlite3_bind_text(s, 4, id, -1, SQLITE_STATIC);
  return step_done(st, s, "update sandbox state", err);
}

int sf_db_set_expiry(sf_store *st, const char *id, int64_t expires_ms, sf_error_t *err)
{
  sqlite3_stmt *s = prep(st, "UPDATE sandboxes SET expires_at = ? WHERE id = ?");
  sqlite3_bind_int64(s, 1, expires_ms);
  sqlite3_bind_text(s, 2, id, -1, SQLITE_STATIC);
  return step_done(st, s, "update expiry", err);
}

int sf_db_set_metadata(sf_store *st, const char *id, json_t *metadata, sf_error_t *err)
{
  cleanup_free char *m = dump(metadata);
  sqlite3_stmt *s = prep(st, "UPDATE sandboxes SET metadata = ? WHERE id = ?");
  sqlite3_bind_text(s, 1, m, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, id, -1, SQLITE_STATIC);
  return step_done(st, s, "update metadata", err);
}

int sf_db_delete_sandbox(sf_store *st, const char *id, sf_error_t *err)
{
  sqlite3_stmt *s = prep(st, "DELETE FROM sandboxes WHERE id = ?");
  sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
  return step_done(st, s, "delete sandbox", err);
}

static json_t *row_json(sqlite3_stmt *s)
{
  /* columns: id, state, reason, template, image, spec, metadata, created_at, expires_at,
   * transition_at */
  char created[40], trans[40], expires[40];
  sf_format_rfc3339_ms(sqlite3_column_int64(s, 7), created, sizeof(created));
  sf_format_rfc3339_ms(sqlite3_column_int64(s, 9), trans, sizeof(trans));
  json_t *spec = json_loads((const char *)sqlite3_column_text(s, 5), 0, NULL);
  json_t *meta = json_loads((const char *)sqlite3_column_text(s, 6), 0, NULL);
  json_t *status = json_pack("{s:s,s:s}", "state", (const char *)sqlite3_column_text(s, 1),
                             "lastTransitionAt", trans);
  if (sqlite3_column_type(s, 2) != SQLITE_NULL)
    json_object_set_new(status, "reason", json_string((const char *)sqlite3_column_text(s, 2)));
  json_t *entry = json_object_get(spec, "entrypoint");
  json_t *o = json_pack(
      "{s:s,s:o,s:s,s:O,s:o,s:{s:s}}", "id", (const char *)sqlite3_column_text(s, 0), "status",
      status, "createdAt", created, "entrypoint", entry ? entry : json_array(), "metadata",
      meta ? meta : json_object(), "image", "uri", (const char *)sqlite3_column_text(s, 4));
  if (sqlite3_column_type(s, 8) != SQLITE_NULL) {
    sf_format_rfc3339_ms(sqlite3_column_int64(s, 8), expires, sizeof(expires));
    json_object_set_new(o, "expiresAt", json_string(expires));
  }
  json_t *res = json_object_get(spec, "resourceLimits");
  if (res)
    json_object_set(o, "resourceLimits", res);
  json_decref(spec);
  return o;
}

#define SELECT_COLS                                                                                \
  "SELECT id, state, reason, template, image, spec, metadata, created_at, expires_at, "            \
  "transition_at FROM sandboxes"

int sf_db_sandbox_json(sf_store *st, const char *id, json_t **out, sf_error_t *err)
{
  sf_store_lock(st);
  sqlite3_stmt *s = prep(st, SELECT_COLS " WHERE id = ?");
  sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
  json_t *o = sqlite3_step(s) == SQLITE_ROW ? row_json(s) : NULL;
  sqlite3_finalize(s);
  sf_store_unlock(st);
  if (o == NULL)
    return sf_error_make(err, ENOENT, "sandbox %s not found", id);
  *out = o;
  return 0;
}

int sf_db_all_sandboxes(sf_store *st, json_t **out, sf_error_t *err)
{
  sf_store_lock(st);
  sqlite3_stmt *s = prep(st, SELECT_COLS " ORDER BY created_at DESC, id");
  json_t *arr = json_array();
  while (sqlite3_step(s) == SQLITE_ROW)
    json_array_append_new(arr, row_json(s));
  sqlite3_finalize(s);
  sf_store_unlock(st);
  *out = arr;
  return 0;
}

int sf_db_recovery_rows(sf_store *st, json_t **out, sf_error_t *err)
{
  sf_store_lock(st);
  sqlite3_stmt *s = prep(
      st, "SELECT id, state, template, token, spec, expires_at, last_active_at FROM sandboxes");
  json_t *arr = json_array();
  while (sqlite3_step(s) == SQLITE_ROW) {
    json_t *spec = json_loads((const char *)sqlite3_column_text(s, 4), 0, NULL);
    json_array_append_new(
        arr, json_pack("{s:s,s:s,s:s,s:s,s:o,s:I}", "id", sqlite3_column_text(s, 0), "state",
                       sqlite3_column_text(s, 1), "template", sqlite3_column_text(s, 2), "token",
                       sqlite3_column_text(s, 3), "spec", spec ? spec : json_object(), "expires_at",
                       (json_int_t)sqlite3_column_int64(s, 5)));
  }
  sqlite3_finalize(s);
  sf_store_unlock(st);
  *out = arr;
  return 0;
}

int sf_db_event(sf_store *st, const char *type, const char *id, json_t *extra, sf_error_t *err)
{
  sqlite3_stmt *s = prep(st, "SELECT template, state, metadata, spec FROM sandboxes WHERE id = ?");
  sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
  json_t *data = json_object();
  char template_id[65] = "";
  if (sqlite3_step(s) == SQLITE_ROW) {
    snprintf(template_id, sizeof(template_id), "%s", sqlite3_column_text(s, 0));
    json_t *spec = json_loads((const char *)sqlite3_column_text(s, 3), 0, NULL);
    json_object_set_new(data, "sandbox_id", json_string(id));
    json_object_set_new(data, "template_id", json_string(template_id));
    json_object_set_new(data, "state", json_string((const char *)sqlite3_column_text(s, 1)));
    json_t *m = json_loads((const char *)sqlite3_column_text(s, 2), 0, NULL);
    json_object_set_new(data, "metadata", m ? m : json_object());
    json_t *r = json_object_get(spec, "resourceLimits");
    json_object_set_new(data, "resources", r ? json_incref(r) : json_object());
    json_decref(spec);
  } else {
    json_object_set_new(data, "sandbox_id", json_string(id));
  }
  sqlite3_finalize(s);
  if (extra)
    json_object_update(data, extra);
  sf_event ev = {.type = type,
                 .sandbox_id = id,
                 .template_id = template_id[0] ? template_id : NULL,
                 .data = data};
  int r = sf_store_event_append(st, &ev, err);
  json_decref(data);
  return r;
}
