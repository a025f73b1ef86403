/* The endpoint registry: operator endpoints (flags, env, INI; read-only over
 * the API apart from enabling) and API endpoints (persisted in the store with
 * their secrets).  The in-memory list is guarded by the store's lock (see
 * webhook_internal.h); every change is written to the store first. */
#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "webhook/webhook_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const webhook_schema[] = {
    "CREATE TABLE webhook_endpoints ("
    "  id TEXT PRIMARY KEY, name TEXT NOT NULL, url TEXT NOT NULL, source TEXT NOT NULL,"
    "  enabled INTEGER NOT NULL DEFAULT 1, disabled_reason TEXT, created_at INTEGER NOT NULL,"
    "  failing_since INTEGER);"
    "CREATE TABLE webhook_deliveries ("
    "  id TEXT PRIMARY KEY, event_seq INTEGER NOT NULL, event_id TEXT NOT NULL, endpoint_id TEXT "
    "NOT NULL,"
    "  status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_at INTEGER NOT NULL, last_status INTEGER, last_error TEXT, created_at INTEGER "
    "NOT NULL);"
    "CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);"
    "CREATE TABLE webhook_attempts ("
    "  delivery_id TEXT NOT NULL, attempt INTEGER NOT NULL, ts INTEGER NOT NULL, http_status "
    "INTEGER,"
    "  error TEXT, duration_ms INTEGER NOT NULL, response TEXT, PRIMARY KEY(delivery_id, "
    "attempt));",
    /* 2: API endpoints (their settings and secrets as JSON), manual
     * redelivery rounds, per-endpoint scans and per-sandbox ordering. */
    "ALTER TABLE webhook_endpoints ADD COLUMN spec TEXT;"
    "ALTER TABLE webhook_deliveries ADD COLUMN retry_base INTEGER NOT NULL DEFAULT 0;"
    "DROP INDEX webhook_deliveries_due;"
    "CREATE INDEX webhook_deliveries_due ON webhook_deliveries(endpoint_id, status, "
    "next_attempt_at);"
    "CREATE INDEX webhook_deliveries_order ON webhook_deliveries(endpoint_id, status, event_seq);"
    "CREATE INDEX webhook_deliveries_event ON webhook_deliveries(event_seq);"
    "CREATE INDEX webhook_deliveries_created ON webhook_deliveries(endpoint_id, created_at);",
};

sf_wh_endpoint *sf_wh_endpoint_find(sf_webhooks *wh, const char *id)
{
  for (size_t i = 0; i < wh->n_eps; i++)
    if (strcmp(wh->eps[i]->id, id) == 0)
      return wh->eps[i];
  return NULL;
}

void sf_wh_endpoints_add(sf_webhooks *wh, sf_wh_endpoint *e)
{
  for (size_t i = 0; i < wh->n_eps; i++)
    if (strcmp(wh->eps[i]->id, e->id) == 0) { /* replace (PATCH) */
      sf_wh_endpoint_clear(wh->eps[i]);
      free(wh->eps[i]);
      wh->eps[i] = e;
      return;
    }
  sf_wh_endpoint **n = realloc(wh->eps, (wh->n_eps + 1) * sizeof(*n));
  if (n == NULL)
    abort(); /* a few pointers: no sane way to go on */
  wh->eps = n;
  wh->eps[wh->n_eps++] = e;
}

void sf_wh_endpoints_remove(sf_webhooks *wh, const char *id)
{
  for (size_t i = 0; i < wh->n_eps; i++)
    if (strcmp(wh->eps[i]->id, id) == 0) {
      sf_wh_endpoint_clear(wh->eps[i]);
      free(wh->eps[i]);
      memmove(&wh->eps[i], &wh->eps[i + 1], (wh->n_eps - i - 1) * sizeof(wh->eps[0]));
      wh->n_eps--;
      return;
    }
}

void sf_wh_endpoints_free(sf_webhooks *wh)
{
  for (size_t i = 0; i < wh->n_eps; i++) {
    sf_wh_endpoint_clear(wh->eps[i]);
    free(wh->eps[i]);
  }
  free(wh->eps);
  wh->eps = NULL;
  wh->n_eps = 0;
}

char **sf_wh_endpoint_active_secrets(const sf_wh_endpoint *e, int64_t now_ms)
{
  char **v = calloc(e->n_secrets + 1, sizeof(char *));
  size_t n = 0;
  for (size_t i = 0; v && i < e->n_secrets; i++)
    if (e->secrets[i].expires_ms == 0 || e->secrets[i].expires_ms > now_ms)
      v[n++] = e->secrets[i].value;
  return v;
}

/* ---- persistence -------------------------------------------------------- */

static json_t *strv_json(char *const *v)
{
  json_t *a = json_array();
  for (; v && *v; v++)
    json_array_append_new(a, json_string(*v));
  return a;
}

static char **json_strv(json_t *a)
{
  char **v = calloc(1, sizeof(char *));
  size_t i;
  json_t *x;
  json_array_foreach(a, i, x) if (json_is_string(x)) sf_strv_push(&v, json_string_value(x));
  return v;
}

static char *spec_dump(const sf_wh_endpoint *e)
{
  json_t *secrets = json_array();
  for (size_t i = 0; i < e->n_secrets; i++)
    json_array_append_new(secrets, json_pack("{s:s,s:I}", "value", e->secrets[i].value, "expiresAt",
                                             (json_int_t)e->secrets[i].expires_ms));
  json_auto_t *spec = json_pack("{s:o,s:o,s:s,s:s,s:s,s:I,s:o}", "events", strv_json(e->events),
                                "headers", strv_json(e->headers), "format", e->format,
                                "description", e->description ? e->description : "", "ordering",
                                e->per_sandbox ? "per-sandbox" : "none", "timeoutMs",
                                (json_int_t)e->timeout_ms, "secrets", secrets);
  return json_dumps(spec, JSON_COMPACT);
}

static void spec_load(sf_wh_endpoint *e, const char *text)
{
  json_auto_t *spec = json_loads(text ? text : "{}", 0, NULL);
  e->events = json_strv(json_object_get(spec, "events"));
  e->headers = json_strv(json_object_get(spec, "headers"));
  const char *f = json_string_value(json_object_get(spec, "format"));
  e->format = strdup(f && sf_wh_format_known(f) ? f : "json");
  const char *d = json_string_value(json_object_get(spec, "description"));
  e->description = strdup(d ? d : "");
  const char *o = json_string_value(json_object_get(spec, "ordering"));
  e->per_sandbox = o && strcmp(o, "per-sandbox") == 0;
  e->timeout_ms = json_integer_value(json_object_get(spec, "timeoutMs"));
  json_t *secrets = json_object_get(spec, "secrets");
  e->secrets = calloc(json_array_size(secrets) + 1, sizeof(sf_wh_secret));
  size_t i;
  json_t *s;
  json_array_foreach(secrets, i, s)
  {
    const char *v = json_string_value(json_object_get(s, "value"));
    if (v)
      e->secrets[e->n_secrets++] =
          (sf_wh_secret){strdup(v), json_integer_value(json_object_get(s, "expiresAt"))};
  }
}

int sf_wh_endpoint_save(sf_webhooks *wh, const sf_wh_endpoint *e, sf_error_t *err)
{
  sqlite3 *db = sf_store_db(wh->store);
  sqlite3_stmt *q = NULL;
  cleanup_free char *spec = spec_dump(e);
  sqlite3_prepare_v2(
      db,
      "INSERT INTO webhook_endpoints(id, name, url, source, enabled, "
      "disabled_reason, created_at, failing_since, spec) VALUES(?,?,?,'api',?,?,?,?,?) "
      "ON CONFLICT(id) DO UPDATE SET url = excluded.url, enabled = excluded.enabled, "
      "disabled_reason = excluded.disabled_reason, failing_since = "
      "excluded.failing_since, spec = excluded.spec",
      -1, &q, NULL);
  sqlite3_bind_text(q, 1, e->id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, e->description ? e->description : "", -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 3, e->url, -1, SQLITE_STATIC);
  sqlite3_bind_int(q, 4, !e->disabled);
  if (e->disabled_reason)
    sqlite3_bind_text(q, 5, e->disabled_reason, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 6, e->created_ms);
  if (e->failing_since_ms)
    sqlite3_bind_int64(q, 7, e->failing_since_ms);
  sqlite3_bind_text(q, 8, spec, -1, SQLITE_STATIC);
  int r = sqlite3_step(q);
  sqlite3_finalize(q);
  if (r != SQLITE_DONE)
    return sf_error_make(err, EIO, "save webhook endpoint: %s", sqlite3_errmsg(db));
  return 0;
}

int sf_wh_endpoint_save_state(sf_webhooks *wh, const sf_wh_endpoint *e, sf_error_t *err)
{
  sqlite3 *db = sf_store_db(wh->store);
  sqlite3_stmt *q = NULL;
  sqlite3_prepare_v2(db,
                     "UPDATE webhook_endpoints SET enabled = ?, disabled_reason = ?, "
                     "failing_since = ? WHERE id = ?",
                     -1, &q, NULL);
  sqlite3_bind_int(q, 1, !e->disabled);
  if (e->disabled_reason)
    sqlite3_bind_text(q, 2, e->disabled_reason, -1, SQLITE_STATIC);
  if (e->failing_since_ms)
    sqlite3_bind_int64(q, 3, e->failing_since_ms);
  sqlite3_bind_text(q, 4, e->id, -1, SQLITE_STATIC);
  int r = sqlite3_step(q);
  sqlite3_finalize(q);
  if (r != SQLITE_DONE)
    return sf_error_make(err, EIO, "save webhook endpoint state: %s", sqlite3_errmsg(db));
  return 0;
}

static void read_state(sqlite3_stmt *q, int col, sf_wh_endpoint *e)
{
  e->disabled = sqlite3_column_int(q, col) == 0;
  if (sqlite3_column_type(q, col + 1) != SQLITE_NULL)
    e->disabled_reason = strdup((const char *)sqlite3_column_text(q, col + 1));
  e->created_ms = sqlite3_column_int64(q, col + 2);
  e->failing_since_ms = sqlite3_column_int64(q, col + 3);
}

static int load_operator(sf_webhooks *wh, const sf_wh_endpoint *src, sf_error_t *err)
{
  if (src->url == NULL)
    return sf_error_make(err, EINVAL, "webhook '%s' has no url", src->name);
  sf_wh_endpoint *e = sf_wh_endpoint_dup(src);
  e->api = false;
  free(e->disabled_reason);
  e->disabled_reason = NULL;
  sqlite3 *db = sf_store_db(wh->store);
  sqlite3_stmt *q = NULL;
  sqlite3_prepare_v2(db,
                     "INSERT INTO webhook_endpoints(id, name, url, source, created_at) "
                     "VALUES(?,?,?,'operator',?) ON CONFLICT(id) DO UPDATE SET url = excluded.url",
                     -1, &q, NULL);
  sqlite3_bind_text(q, 1, e->id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, e->name, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 3, e->url, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 4, sf_now_ms());
  int r = sqlite3_step(q);
  sqlite3_finalize(q);
  sqlite3_prepare_v2(db,
                     "SELECT enabled, disabled_reason, created_at, failing_since FROM "
                     "webhook_endpoints WHERE id = ?",
                     -1, &q, NULL);
  sqlite3_bind_text(q, 1, e->id, -1, SQLITE_STATIC);
  if (r == SQLITE_DONE && sqlite3_step(q) == SQLITE_ROW)
    read_state(q, 0, e);
  sqlite3_finalize(q);
  sf_wh_endpoints_add(wh, e);
  if (r != SQLITE_DONE)
    return sf_error_make(err, EIO, "record webhook endpoint '%s': %s", e->name, sqlite3_errmsg(db));
  return 0;
}

int sf_wh_endpoints_load(sf_webhooks *wh, const sf_webhook_settings *settings, sf_error_t *err)
{
  if (sf_store_migrate(wh->store, "webhook", webhook_schema,
                       sizeof(webhook_schema) / sizeof(webhook_schema[0]), err) < 0)
    return -1;
  if (sf_store_begin(wh->store, err) < 0)
    return -1;
  for (size_t i = 0; i < settings->n; i++)
    if (load_operator(wh, &settings->eps[i], err) < 0) {
      sf_store_rollback(wh->store);
      return -1;
    }
  sqlite3_stmt *q = NULL;
  sqlite3_prepare_v2(sf_store_db(wh->store),
                     "SELECT id, url, enabled, disabled_reason, created_at, failing_since, spec "
                     "FROM webhook_endpoints WHERE source = 'api' ORDER BY created_at",
                     -1, &q, NULL);
  while (sqlite3_step(q) == SQLITE_ROW) {
    sf_wh_endpoint *e = calloc(1, sizeof(*e));
    e->id = strdup((const char *)sqlite3_column_text(q, 0));
    e->url = strdup((const char *)sqlite3_column_text(q, 1));
    e->api = true;
    read_state(q, 2, e);
    spec_load(e, (const char *)sqlite3_column_text(q, 6));
    sf_wh_endpoints_add(wh, e);
  }
  sqlite3_finalize(q);
  return sf_store_commit(wh->store, err);
}

/* ---- JSON --------------------------------------------------------------- */

static json_t *time_or_null(int64_t ms)
{
  char buf[40];
  if (ms <= 0)
    return json_null();
  sf_format_rfc3339_ms(ms, buf, sizeof(buf));
  return json_string(buf);
}

/* Does a header or query parameter name look like it carries a credential? */
static bool sensitive_name(const char *name, size_t len)
{
  static const char *const words[] = {"auth",   "token",    "key",  "secret",  "sign",
                                      "cookie", "password", "pass", "session", NULL};
  char low[128];
  if (len >= sizeof(low))
    len = sizeof(low) - 1;
  for (size_t i = 0; i < len; i++)
    low[i] = (char)tolower((unsigned char)name[i]);
  low[len] = '\0';
  for (const char *const *w = words; *w; w++)
    if (strstr(low, *w))
      return true;
  return false;
}

/* The URL as the API shows it: a password in the userinfo and the values of
 * credential-looking query parameters (WeCom's ?key=…) become "***".  The
 * stored URL is unchanged; tokens embedded in a path (Slack, Feishu) cannot be
 * told apart from the path and are shown. */
static json_t *url_json(const char *url)
{
  char *out = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&out, &len);
  if (f == NULL)
    return json_string(url);
  const char *auth = strstr(url, "://");
  auth = auth ? auth + 3 : url;
  size_t host_len = strcspn(auth, "/?#");
  const char *at = memchr(auth, '@', host_len);
  const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
  const char *p = url;
  if (colon) {
    fprintf(f, "%.*s:***", (int)(colon - url), url);
    p = at;
  }
  const char *q = strchr(p, '?');
  if (q == NULL) {
    fputs(p, f);
  } else {
    fprintf(f, "%.*s", (int)(q - p + 1), p);
    for (const char *param = q + 1; *param && *param != '#';) {
      size_t n = strcspn(param, "&#");
      const char *eq = memchr(param, '=', n);
      if (eq && sensitive_name(param, (size_t)(eq - param)))
        fprintf(f, "%.*s***", (int)(eq - param + 1), param);
      else
        fprintf(f, "%.*s", (int)n, param);
      param += n;
      if (*param == '&')
        fputc(*param++, f);
    }
    const char *frag = strchr(q, '#');
    if (frag)
      fputs(frag, f);
  }
  fclose(f);
  json_t *j = json_string(out);
  free(out);
  return j;
}

json_t *sf_wh_endpoint_json(sf_webhooks *wh, const sf_wh_endpoint *e)
{
  json_t *headers = json_object();
  for (char **h = e->headers; h && *h; h++) {
    const char *colon = strchr(*h, ':');
    char name[256];
    snprintf(name, sizeof(name), "%.*s", (int)(colon - *h), *h);
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
      v++;
    json_object_set_new(headers, name, json_string(sensitive_name(name, strlen(name)) ? "***" : v));
  }
  char **active = sf_wh_endpoint_active_secrets(e, sf_now_ms());
  bool has_secret = active && active[0];
  free(active);
  return json_pack(
      "{s:s,s:s,s:o,s:o,s:o,s:s,s:s,s:o,s:s,s:b,s:o,s:o,s:b,s:o,s:o}", "id", e->id, "source",
      e->api ? "api" : "operator", "name", e->name ? json_string(e->name) : json_null(), "url",
      url_json(e->url), "events", strv_json(e->events), "format", e->format, "description",
      e->description ? e->description : "", "headers", headers, "ordering",
      e->per_sandbox ? "per-sandbox" : "none", "enabled", !e->disabled, "disabledReason",
      e->disabled_reason ? json_string(e->disabled_reason) : json_null(), "failingSince",
      time_or_null(e->failing_since_ms), "hasSecret", has_secret, "createdAt",
      time_or_null(e->created_ms), "stats", sf_wh_endpoint_stats(wh, e->id));
}

/* events: an array of names/patterns or one comma-separated string. */
static int apply_events(sf_wh_endpoint *e, json_t *v, sf_error_t *err)
{
  char *spec = NULL;
  if (json_is_string(v)) {
    spec = strdup(json_string_value(v));
  } else if (json_is_array(v)) {
    size_t len = 0, i;
    FILE *f = open_memstream(&spec, &len);
    json_t *x;
    json_array_foreach(v, i, x)
    {
      if (!json_is_string(x)) {
        fclose(f);
        free(spec);
        return sf_error_make(err, EINVAL, "events must be an array of event names");
      }
      fprintf(f, "%s%s", i ? "," : "", json_string_value(x));
    }
    fclose(f);
  } else if (!json_is_null(v)) {
    return sf_error_make(err, EINVAL, "events must be an array of event names");
  }
  int r = sf_wh_endpoint_set(e, "events", spec ? spec : "", err);
  free(spec);
  return r;
}

static int apply_headers(sf_wh_endpoint *e, json_t *v, sf_error_t *err)
{
  if (!json_is_object(v) && !json_is_null(v))
    return sf_error_make(err, EINVAL, "headers must be an object of header names to values");
  sf_strv_free(e->headers);
  e->headers = NULL;
  const char *k;
  json_t *x;
  json_object_foreach(v, k, x)
  {
    if (!json_is_string(x))
      return sf_error_make(err, EINVAL, "header '%s' must have a string value", k);
    char line[4096];
    snprintf(line, sizeof(line), "%s: %s", k, json_string_value(x));
    if (sf_wh_endpoint_set(e, "header", line, err) < 0)
      return -1;
  }
  return 0;
}

static int check_secret(const char *s, sf_error_t *err)
{
  size_t n = strlen(s);
  if (n < 16 || n > 256)
    return sf_error_make(err, EINVAL, "secret must be 16 to 256 characters");
  char *probe = sf_sig_standard(s, "id", 0, "", 0, err); /* whsec_ must decode */
  if (probe == NULL)
    return sf_error_wrap(err, "secret");
  free(probe);
  return 0;
}

int sf_wh_endpoint_apply_json(sf_webhooks *wh, sf_wh_endpoint *e, json_t *body, bool creating,
                              sf_error_t *err)
{
  const char *k;
  json_t *v;
  json_object_foreach(body, k, v)
  {
    int r = 0;
    if (strcmp(k, "url") == 0) {
      if (!json_is_string(v))
        return sf_error_make(err, EINVAL, "url must be a string");
      r = sf_wh_endpoint_set(e, "url", json_string_value(v), err);
      if (r == 0 && e->api && !wh->s.allow_private_targets)
        r = sf_ssrf_check_url(json_string_value(v), err);
    } else if (strcmp(k, "events") == 0) {
      r = apply_events(e, v, err);
    } else if (strcmp(k, "headers") == 0) {
      r = apply_headers(e, v, err);
    } else if (strcmp(k, "format") == 0 || strcmp(k, "ordering") == 0 ||
               strcmp(k, "description") == 0) {
      if (!json_is_string(v))
        return sf_error_make(err, EINVAL, "%s must be a string", k);
      if (strcmp(k, "description") == 0 && strlen(json_string_value(v)) > 1024)
        return sf_error_make(err, EINVAL, "description is longer than 1024 bytes");
      r = sf_wh_endpoint_set(e, k, json_string_value(v), err);
    } else if (strcmp(k, "enabled") == 0) {
      if (!json_is_boolean(v))
        return sf_error_make(err, EINVAL, "enabled must be true or false");
      e->disabled = !json_is_true(v);
      free(e->disabled_reason);
      e->disabled_reason = e->disabled ? strdup("disabled through the API") : NULL;
      if (!e->disabled)
        e->failing_since_ms = 0;
    } else if (strcmp(k, "secret") == 0 && creating) {
      if (!json_is_string(v) || check_secret(json_string_value(v), err) < 0)
        return json_is_string(v) ? -1 : sf_error_make(err, EINVAL, "secret must be a string");
      r = sf_wh_endpoint_set(e, "secret", json_string_value(v), err);
    } else {
      return sf_error_make(err, EINVAL, "unknown field '%s'%s", k,
                           strcmp(k, "secret") == 0 ? " (use rotate-secret to change the secret)"
                                                    : "");
    }
    if (r < 0)
      return -1;
  }
  if (e->url == NULL)
    return sf_error_make(err, EINVAL, "url is required");
  return 0;
}

/* Used by the rotate route: the new secret first, the old ones expire. */
int sf_wh_endpoint_rotate(sf_wh_endpoint *e, const char *new_secret, int64_t expires_ms,
                          sf_error_t *err)
{
  if (check_secret(new_secret, err) < 0)
    return -1;
  sf_wh_secret *n = calloc(e->n_secrets + 2, sizeof(*n));
  if (n == NULL)
    return sf_error_make(err, ENOMEM, "out of memory");
  n[0] = (sf_wh_secret){strdup(new_secret), 0};
  size_t k = 1;
  int64_t now = sf_now_ms();
  for (size_t i = 0; i < e->n_secrets; i++) {
    sf_wh_secret s = e->secrets[i];
    if (s.expires_ms != 0 && s.expires_ms <= now) { /* long expired: drop */
      free(s.value);
      continue;
    }
    if (s.expires_ms == 0 || s.expires_ms > expires_ms)
      s.expires_ms = expires_ms;
    n[k++] = s;
  }
  free(e->secrets);
  e->secrets = n;
  e->n_secrets = k;
  return 0;
}
