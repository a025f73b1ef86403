/* Health, Prometheus metrics, SDK telemetry sink, templates, the event log. */
#include "api/api.h"
#include "webhook/filter.h"
#include "webhook/webhook.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void health(sf_http_req *req, void *ud)
{
  sf_api_ctx *ctx = ud;
  json_t *events = NULL;
  sf_event_query q = {.limit = 1};
  bool store_ok = sf_store_events_list(ctx->store, &q, &events, NULL) == 0;
  json_decref(events);
  sf_http_reply_json(req, store_ok ? 200 : 503,
                     json_pack("{s:s,s:s,s:{s:s}}", "status", store_ok ? "ok" : "degraded", "store",
                               store_ok ? "ok" : "error", "runtime", "cgroup",
                               sf_runtime_cgroup_mode(ctx->runtime)));
}

static void metrics(sf_http_req *req, void *ud)
{
  sf_api_ctx *ctx = ud;
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  json_t *counts = sf_lifecycle_state_counts(ctx->lifecycle);
  fprintf(f, "# HELP sandforge_sandboxes Sandboxes by state.\n# TYPE sandforge_sandboxes gauge\n");
  static const char *const states[] = {"Pending",  "Running",  "Pausing", "Paused",
                                       "Resuming", "Stopping", "Failed",  NULL};
  for (const char *const *s = states; *s; s++)
    fprintf(f, "sandforge_sandboxes{state=\"%s\"} %lld\n", *s,
            (long long)json_integer_value(json_object_get(counts, *s)));
  json_decref(counts);
  sqlite3_stmt *q = NULL;
  sf_store_lock(ctx->store);
  fprintf(f, "# HELP sandforge_events_total Events recorded, by type.\n# TYPE "
             "sandforge_events_total counter\n");
  if (sqlite3_prepare_v2(sf_store_db(ctx->store), "SELECT type, COUNT(*) FROM events GROUP BY type",
                         -1, &q, NULL) == SQLITE_OK)
    while (sqlite3_step(q) == SQLITE_ROW)
      fprintf(f, "sandforge_events_total{event=\"%s\"} %lld\n", sqlite3_column_text(q, 0),
              (long long)sqlite3_column_int64(q, 1));
  sqlite3_finalize(q);
  sf_store_unlock(ctx->store);
  if (ctx->webhooks)
    sf_webhooks_write_metrics(ctx->webhooks, f);
  fclose(f);
  sf_http_reply_bytes(req, 200, "text/plain; version=0.0.4", buf, len);
  free(buf);
}

static void telemetry(sf_http_req *req, void *ud)
{
  sf_http_reply_empty(req, 204);
}

static void templates(sf_http_req *req, void *ud)
{
  sf_api_ctx *ctx = ud;
  json_t *arr = json_array();
  json_array_append_new(arr, json_pack("{s:s,s:s}", "name", "host", "source", "built-in"));
  DIR *d = ctx->templates_dir ? opendir(ctx->templates_dir) : NULL;
  struct dirent *de;
  while (d && (de = readdir(d)) != NULL)
    if (de->d_name[0] != '.' && (de->d_type == DT_DIR || de->d_type == DT_LNK))
      json_array_append_new(arr, json_pack("{s:s,s:s}", "name", de->d_name, "source", "directory"));
  if (d)
    closedir(d);
  sf_http_reply_json(req, 200, json_pack("{s:o}", "items", arr));
}

static bool valid_template_name(const char *n)
{
  if (n == NULL || *n == '\0' || strlen(n) > 64 || strcmp(n, "host") == 0)
    return false;
  for (const char *p = n; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '-' || *p == '_'))
      return false;
  return true;
}

/* Register a rootfs directory as a template: a symlink in the templates dir
 * (the directory is used read-only as the overlay's lower layer). */
static void template_add(sf_http_req *req, void *ud)
{
  sf_api_ctx *ctx = ud;
  json_t *body = sf_http_json_body(req, false);
  if (body == NULL)
    return;
  const char *name = json_string_value(json_object_get(body, "name"));
  const char *path = json_string_value(json_object_get(body, "path"));
  struct stat st;
  char link[4200];
  if (!valid_template_name(name)) {
    sf_http_reply_error(req, 400, "INVALID_PARAMETER",
                        "template name must be 1-64 of [A-Za-z0-9_-] and not 'host'");
  } else if (path == NULL || path[0] != '/' || stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
    sf_http_reply_error(req, 400, "INVALID_PARAMETER",
                        "path must be an absolute path to a rootfs directory");
  } else {
    snprintf(link, sizeof(link), "%s/%s", ctx->templates_dir, name);
    if (symlink(path, link) < 0)
      sf_http_reply_error(req, errno == EEXIST ? 409 : 500,
                          errno == EEXIST ? "CONFLICT" : "GENERAL::UNKNOWN_ERROR",
                          "cannot register template '%s': %s", name, strerror(errno));
    else
      sf_http_reply_json(req, 201, json_pack("{s:s,s:s}", "name", name, "path", path));
  }
  json_decref(body);
}

static void template_rm(sf_http_req *req, void *ud)
{
  sf_api_ctx *ctx = ud;
  const char *name = sf_http_param(req, "name");
  char link[4200];
  if (name && strcmp(name, "host") == 0) {
    sf_http_reply_error(req, 409, "CONFLICT",
                        "the host template is built in and cannot be removed");
    return;
  }
  snprintf(link, sizeof(link), "%s/%s", ctx->templates_dir,
           valid_template_name(name) ? name : "\x01");
  if (!valid_template_name(name) || unlink(link) < 0)
    sf_http_reply_error(req, 404, "NOT_FOUND", "no template '%s'", name ? name : "");
  else
    sf_http_reply_empty(req, 204);
}

/* ---- the event log, paginated or followed (SSE) ------------------------- */

typedef struct {
  sf_store *store;
  char *type, *sandbox_id;
  int64_t since_ms, after_seq;
  char *out; /* formatted, not yet handed to the connection */
  size_t len, off;
} event_follower;

/* Next batch of matching events after `after_seq` as SSE frames; NULL when
 * there are none. */
static char *follower_batch(event_follower *f, size_t *len)
{
  sf_event_query q = {.type = f->type,
                      .sandbox_id = f->sandbox_id,
                      .since_ms = f->since_ms,
                      .after_seq = f->after_seq,
                      .limit = 200};
  json_t *items = NULL;
  sf_error_t err = NULL;
  if (sf_store_events_list(f->store, &q, &items, &err) < 0) {
    sf_error_release(&err);
    return NULL;
  }
  char *buf = NULL;
  FILE *m = json_array_size(items) ? open_memstream(&buf, len) : NULL;
  size_t i;
  json_t *ev;
  json_array_foreach(items, i, ev)
  {
    if (m == NULL)
      break;
    f->after_seq = json_integer_value(json_object_get(ev, "seq"));
    json_object_del(ev, "seq");
    cleanup_free char *data = json_dumps(ev, JSON_COMPACT);
    fprintf(m, "id: %lld\nevent: %s\ndata: %s\n\n", (long long)f->after_seq,
            json_string_value(json_object_get(ev, "event")), data ? data : "{}");
  }
  if (m)
    fclose(m);
  json_decref(items);
  return buf;
}

static ssize_t follower_produce(void *ctx, char *buf, size_t max)
{
  event_follower *f = ctx;
  for (;;) {
    if (f->off < f->len) {
      size_t n = f->len - f->off < max ? f->len - f->off : max;
      memcpy(buf, f->out + f->off, n);
      f->off += n;
      return (ssize_t)n;
    }
    free(f->out);
    f->out = NULL;
    f->len = f->off = 0;
    /* Generation before the query: a commit racing with it still wakes us. */
    uint64_t gen = sf_store_events_generation(f->store);
    if ((f->out = follower_batch(f, &f->len)) != NULL)
      continue;
    int w = sf_store_events_wait(f->store, gen, 15000);
    if (w < 0)
      return 0;   /* the supervisor is stopping: end the stream cleanly */
    if (w == 0) { /* proxies drop idle connections; a comment keeps it open */
      f->out = strdup(": keep-alive\n\n");
      f->len = strlen(f->out);
    }
  }
}

static void follower_done(void *ctx, bool client_gone)
{
  event_follower *f = ctx;
  free(f->type);
  free(f->sandbox_id);
  free(f->out);
  free(f);
}

static void events(sf_http_req *req, void *ud)
{
  sf_api_ctx *ctx = ud;
  sf_event_query q = {.type = sf_http_query(req, "event"),
                      .sandbox_id = sf_http_query(req, "sandboxId")};
  const char *since = sf_http_query(req, "since"), *cursor = sf_http_query(req, "cursor"),
             *limit = sf_http_query(req, "limit"), *accept = sf_http_header(req, "Accept"),
             *last_id = sf_http_header(req, "Last-Event-ID");
  if (since && sf_parse_rfc3339(since, &q.since_ms) < 0) {
    sf_http_reply_error(req, 400, "INVALID_PARAMETER", "since must be an RFC 3339 timestamp");
    return;
  }
  if (q.type && *q.type && strcmp(q.type, "*") != 0) {
    char **patterns = NULL;
    sf_error_t err = NULL;
    if (sf_filter_parse(q.type, &patterns, &err) < 0) {
      sf_http_reply_sf_error(req, NULL, &err);
      return;
    }
    sf_strv_free(patterns);
  }
  int64_t lim = 100, last = 0;
  if ((cursor && (sf_parse_int64(cursor, &q.after_seq) < 0 || q.after_seq < 0)) ||
      (limit && (sf_parse_int64(limit, &lim) < 0 || lim < 1 || lim > 1000)) ||
      (last_id && (sf_parse_int64(last_id, &last) < 0 || last < 0))) {
    sf_http_reply_error(req, 400, "INVALID_PARAMETER",
                        "limit must be 1-1000; cursor and Last-Event-ID must be event sequence "
                        "numbers from this API");
    return;
  }
  q.limit = (int)lim;
  if (accept && strstr(accept, "text/event-stream")) {
    event_follower *f = calloc(1, sizeof(*f));
    f->store = ctx->store;
    f->type = q.type ? strdup(q.type) : NULL;
    f->sandbox_id = q.sandbox_id ? strdup(q.sandbox_id) : NULL;
    f->since_ms = q.since_ms;
    f->after_seq = last_id ? last : q.after_seq;
    /* Something right away, so the client sees the headers before the first event. */
    f->out = strdup(": following the Sandforge event log\n\n");
    f->len = strlen(f->out);
    sf_http_reply_stream(req, 200, "text/event-stream", follower_produce, follower_done, f);
    sf_http_reply_add_header(req, "Cache-Control", "no-cache");
    return;
  }
  json_t *items = NULL;
  sf_error_t err = NULL;
  if (sf_store_events_list(ctx->store, &q, &items, &err) < 0) {
    sf_http_reply_sf_error(req, NULL, &err);
    return;
  }
  size_t n = json_array_size(items);
  json_int_t next =
      n ? json_integer_value(json_object_get(json_array_get(items, n - 1), "seq")) : q.after_seq;
  sf_http_reply_json(req, 200, json_pack("{s:o,s:I}", "items", items, "nextCursor", next));
}

void sf_api_register_system_routes(sf_http_server *srv, sf_api_ctx *ctx)
{
  sf_http_route(srv, "GET", "/health", health, ctx, SF_HTTP_NOAUTH);
  sf_http_route(srv, "GET", "/metrics", metrics, ctx, 0);
  sf_http_route(srv, "POST", "/metrics/events", telemetry, ctx, 0);
  sf_http_route(srv, "GET", "/templates", templates, ctx, 0);
  sf_http_route(srv, "POST", "/templates", template_add, ctx, 0);
  sf_http_route(srv, "DELETE", "/templates/{name}", template_rm, ctx, 0);
  sf_http_route(srv, "GET", "/events", events, ctx, 0);
}
