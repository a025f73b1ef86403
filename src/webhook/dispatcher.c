/* Webhook delivery: the outbox hook and the dispatcher thread.
 *
 * The store's event hook runs inside the transaction of the state change and
 * inserts one `deliveries` row per matching endpoint; the commit hook wakes
 * the dispatcher.  The dispatcher (its own thread, libcurl multi) sends due
 * deliveries, records every attempt, and schedules retries.  Nothing about a
 * delivery lives only in memory: a crash (kill -9) leaves pending rows that
 * the next start sends again (at least once; receivers dedupe on webhook-id). */
#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "webhook/webhook_internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESPONSE_KEEP 4096

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
};

typedef struct inflight {
  struct inflight *next;
  char delivery_id[40];
  char event_id[40];
  char endpoint_id[80];
  int attempt;
  CURL *easy;
  struct curl_slist *headers;
  char *body;
  char response[RESPONSE_KEEP + 1];
  size_t response_len;
  int64_t started_us;
} inflight;

struct sf_webhooks {
  sf_store *store;
  sf_webhook_settings s;
  pthread_t thread;
  pthread_mutex_t lock; /* stop flag */
  bool stop, running;
  CURLM *multi;
  inflight *flights;
  int n_inflight;
  uint64_t delivered, failed_attempts, dead;
};

static sf_wh_endpoint *endpoint_by_id(sf_webhooks *wh, const char *id)
{
  for (size_t i = 0; i < wh->s.n; i++)
    if (strcmp(wh->s.eps[i].id, id) == 0)
      return &wh->s.eps[i];
  return NULL;
}

/* ---- the outbox: in the state change's transaction ----------------------- */

static int on_event(sf_store *st, const sf_event *ev, const char *payload, void *ud,
                    sf_error_t *err)
{
  sf_webhooks *wh = ud;
  for (size_t i = 0; i < wh->s.n; i++) {
    sf_wh_endpoint *e = &wh->s.eps[i];
    if (e->disabled || !sf_filter_match(e->events, ev->type))
      continue;
    cleanup_free char *did = sf_new_id("dlv_", 8);
    sqlite3_stmt *q = NULL;
    sqlite3_prepare_v2(sf_store_db(st),
                       "INSERT INTO webhook_deliveries(id, event_seq, event_id, endpoint_id, "
                       "next_attempt_at, created_at) "
                       "VALUES(?,?,?,?,?,?)",
                       -1, &q, NULL);
    sqlite3_bind_text(q, 1, did, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, ev->seq);
    sqlite3_bind_text(q, 3, ev->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, e->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 5, ev->timestamp_ms);
    sqlite3_bind_int64(q, 6, sf_now_ms());
    int r = sqlite3_step(q);
    sqlite3_finalize(q);
    if (r != SQLITE_DONE)
      return sf_error_make(err, EIO, "queue webhook delivery: %s", sqlite3_errmsg(sf_store_db(st)));
  }
  return 0;
}

static void on_commit(void *ud)
{
  sf_webhooks *wh = ud;
  if (wh->multi)
    curl_multi_wakeup(wh->multi); /* never waits on a receiver: just a poke */
}

/* ---- sending ------------------------------------------------------------ */

static size_t keep_response(char *data, size_t size, size_t n, void *ud)
{
  inflight *f = ud;
  size_t len = size * n, room = RESPONSE_KEEP - f->response_len;
  if (room > 0) {
    size_t c = len < room ? len : room;
    memcpy(f->response + f->response_len, data, c);
    f->response_len += c;
    f->response[f->response_len] = '\0';
  }
  return len;
}

static bool is_inflight(sf_webhooks *wh, const char *did)
{
  for (inflight *f = wh->flights; f; f = f->next)
    if (strcmp(f->delivery_id, did) == 0)
      return true;
  return false;
}

static int endpoint_inflight(sf_webhooks *wh, const char *eid)
{
  int n = 0;
  for (inflight *f = wh->flights; f; f = f->next)
    n += strcmp(f->endpoint_id, eid) == 0;
  return n;
}

static void start_delivery(sf_webhooks *wh, const char *did, const char *eid, const char *event_id,
                           int attempts, const char *payload, const char *event_type)
{
  sf_wh_endpoint *e = endpoint_by_id(wh, eid);
  if (e == NULL || e->disabled)
    return;
  inflight *f = calloc(1, sizeof(*f));
  snprintf(f->delivery_id, sizeof(f->delivery_id), "%s", did);
  snprintf(f->event_id, sizeof(f->event_id), "%s", event_id);
  snprintf(f->endpoint_id, sizeof(f->endpoint_id), "%s", eid);
  f->attempt = attempts + 1;
  f->body = strdup(payload);
  int64_t ts = sf_now_ms() / 1000; /* a fresh timestamp (and signature) per attempt */
  char h[1024];
  f->headers = curl_slist_append(NULL, "Content-Type: application/json");
  f->headers = curl_slist_append(f->headers, "User-Agent: Sandforge-Webhooks/0.1.0");
  snprintf(h, sizeof(h), "webhook-id: %s", event_id);
  f->headers = curl_slist_append(f->headers, h);
  snprintf(h, sizeof(h), "webhook-timestamp: %lld", (long long)ts);
  f->headers = curl_slist_append(f->headers, h);
  snprintf(h, sizeof(h), "X-Sandforge-Event: %s", event_type);
  f->headers = curl_slist_append(f->headers, h);
  snprintf(h, sizeof(h), "X-Sandforge-Delivery: %s", did);
  f->headers = curl_slist_append(f->headers, h);
  snprintf(h, sizeof(h), "X-Sandforge-Attempt: %d", f->attempt);
  f->headers = curl_slist_append(f->headers, h);
  if (e->secrets && e->secrets[0]) {
    char *std = NULL, *str = NULL;
    sf_error_t err = NULL;
    if (sf_sig_headers(e->secrets, event_id, ts, f->body, strlen(f->body), &std, &str, &err) == 0) {
      char *line = NULL;
      if (asprintf(&line, "webhook-signature: %s", std) >= 0)
        f->headers = curl_slist_append(f->headers, line);
      free(line);
      if (asprintf(&line, "X-Sandforge-Signature: %s", str) >= 0)
        f->headers = curl_slist_append(f->headers, line);
      free(line);
    } else {
      sf_log_warn("webhook %s: cannot sign: %s", eid, sf_error_msg(&err));
      sf_error_release(&err);
    }
    free(std);
    free(str);
  }
  for (char **x = e->headers; x && *x; x++)
    f->headers = curl_slist_append(f->headers, *x);
  f->headers = curl_slist_append(f->headers, "Expect:");
  CURL *c = curl_easy_init();
  f->easy = c;
  curl_easy_setopt(c, CURLOPT_URL, e->url);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, f->body);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, f->headers);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* redirects are failures, never followed */
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(e->timeout_ms ? e->timeout_ms : wh->s.timeout_ms));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)wh->s.connect_timeout_ms);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_response);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
  curl_easy_setopt(c, CURLOPT_PRIVATE, f);
  f->started_us = sf_mono_us();
  curl_multi_add_handle(wh->multi, c);
  f->next = wh->flights;
  wh->flights = f;
  wh->n_inflight++;
}

/* Load due deliveries within the global and per-endpoint in-flight limits. */
static void fill(sf_webhooks *wh)
{
  int room = wh->s.max_connections - wh->n_inflight;
  if (room <= 0)
    return;
  sf_store_lock(wh->store);
  sqlite3_stmt *q = NULL;
  sqlite3_prepare_v2(
      sf_store_db(wh->store),
      "SELECT d.id, d.endpoint_id, d.event_id, d.attempts, e.payload, e.type FROM "
      "webhook_deliveries d "
      "JOIN events e ON e.seq = d.event_seq WHERE d.status = 'pending' AND d.next_attempt_at <= ? "
      "ORDER BY d.next_attempt_at LIMIT ?",
      -1, &q, NULL);
  sqlite3_bind_int64(q, 1, sf_now_ms());
  sqlite3_bind_int(q, 2, room + wh->n_inflight);
  while (sqlite3_step(q) == SQLITE_ROW && wh->n_inflight < wh->s.max_connections) {
    const char *did = (const char *)sqlite3_column_text(q, 0);
    const char *eid = (const char *)sqlite3_column_text(q, 1);
    if (is_inflight(wh, did) || endpoint_inflight(wh, eid) >= wh->s.max_in_flight)
      continue;
    start_delivery(wh, did, eid, (const char *)sqlite3_column_text(q, 2), sqlite3_column_int(q, 3),
                   (const char *)sqlite3_column_text(q, 4),
                   (const char *)sqlite3_column_text(q, 5));
  }
  sqlite3_finalize(q);
  sf_store_unlock(wh->store);
}

static void record(sf_webhooks *wh, inflight *f, long http, const char *error)
{
  int64_t now = sf_now_ms();
  int64_t dur = (sf_mono_us() - f->started_us) / 1000;
  bool ok = error == NULL && http >= 200 && http < 300;
  bool gone = error == NULL && http == 410;
  int64_t next = -1;
  const char *status = "succeeded";
  if (!ok) {
    int64_t delay = gone ? -1
                         : sf_backoff_next_ms(&wh->s.backoff, f->attempt,
                                              (double)rand() / ((double)RAND_MAX + 1));
    if (!gone && (http == 429 || http == 503)) {
      char *ra = NULL;
      struct curl_header *hdr = NULL;
      if (curl_easy_header(f->easy, "Retry-After", 0, CURLH_HEADER, -1, &hdr) == CURLHE_OK)
        ra = hdr->value;
      int64_t r = sf_retry_after_ms(ra, now);
      if (r >= 0 && delay >= 0)
        delay = r;
    }
    next = delay >= 0 ? now + delay : -1;
    status = next >= 0 ? "pending" : "failed";
  }
  sf_error_t err = NULL;
  if (sf_store_begin(wh->store, &err) == 0) {
    sqlite3 *db = sf_store_db(wh->store);
    sqlite3_stmt *q = NULL;
    sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO webhook_attempts VALUES(?,?,?,?,?,?,?)", -1, &q,
                       NULL);
    sqlite3_bind_text(q, 1, f->delivery_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 2, f->attempt);
    sqlite3_bind_int64(q, 3, now);
    if (error == NULL)
      sqlite3_bind_int(q, 4, (int)http);
    if (error)
      sqlite3_bind_text(q, 5, error, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 6, dur);
    sqlite3_bind_text(q, 7, f->response, (int)f->response_len, SQLITE_STATIC);
    sqlite3_step(q);
    sqlite3_finalize(q);
    sqlite3_prepare_v2(
        db,
        "UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?, "
        "last_status = ?, last_error = ? WHERE id = ?",
        -1, &q, NULL);
    sqlite3_bind_text(q, 1, status, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 2, f->attempt);
    sqlite3_bind_int64(q, 3, next >= 0 ? next : now);
    if (error == NULL)
      sqlite3_bind_int(q, 4, (int)http);
    if (error)
      sqlite3_bind_text(q, 5, error, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 6, f->delivery_id, -1, SQLITE_STATIC);
    sqlite3_step(q);
    sqlite3_finalize(q);
    if (gone) { /* 410 Gone: the receiver asked us to stop */
      sqlite3_prepare_v2(
          db, "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = '410 Gone' WHERE id = ?",
          -1, &q, NULL);
      sqlite3_bind_text(q, 1, f->endpoint_id, -1, SQLITE_STATIC);
      sqlite3_step(q);
      sqlite3_finalize(q);
      sf_wh_endpoint *e = endpoint_by_id(wh, f->endpoint_id);
      if (e)
        e->disabled = true;
    }
    sf_store_commit(wh->store, &err);
  }
  if (err) {
    sf_log_warn("webhook: recording attempt: %s", sf_error_msg(&err));
    sf_error_release(&err);
  }
  if (ok) {
    wh->delivered++;
    return;
  }
  wh->failed_attempts++;
  if (next < 0)
    wh->dead++;
  char next_ts[40] = "";
  if (next >= 0)
    sf_format_rfc3339_ms(next, next_ts, sizeof(next_ts));
  sf_log_fields(SF_LOG_WARN, "webhook attempt failed",
                json_pack("{s:s,s:s,s:s,s:i,s:I,s:s,s:I,s:s}", "endpoint", f->endpoint_id,
                          "event_id", f->event_id, "delivery_id", f->delivery_id, "attempt",
                          f->attempt, "http_status", (json_int_t)http, "error", error ? error : "",
                          "duration_ms", (json_int_t)dur, "next_attempt_at",
                          next >= 0 ? next_ts
                                    : (gone ? "never (410 Gone: endpoint disabled)"
                                            : "never (dead letter)")));
}

static void finish_done(sf_webhooks *wh)
{
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(wh->multi, &left)) != NULL) {
    if (m->msg != CURLMSG_DONE)
      continue;
    inflight *f = NULL;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&f);
    long http = 0;
    curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &http);
    record(wh, f, http, m->data.result == CURLE_OK ? NULL : curl_easy_strerror(m->data.result));
    curl_multi_remove_handle(wh->multi, m->easy_handle);
    curl_easy_cleanup(m->easy_handle);
    for (inflight **pp = &wh->flights; *pp; pp = &(*pp)->next)
      if (*pp == f) {
        *pp = f->next;
        break;
      }
    wh->n_inflight--;
    curl_slist_free_all(f->headers);
    free(f->body);
    free(f);
  }
}

static void *dispatcher_main(void *arg)
{
  sf_webhooks *wh = arg;
  for (;;) {
    pthread_mutex_lock(&wh->lock);
    bool stop = wh->stop;
    pthread_mutex_unlock(&wh->lock);
    if (stop)
      break;
    fill(wh);
    int running = 0;
    curl_multi_perform(wh->multi, &running);
    finish_done(wh);
    /* Sleep until a socket is ready, a commit wakes us, or the next due
     * retry could be ready (polled at least every 100 ms). */
    curl_multi_poll(wh->multi, NULL, 0, 100, NULL);
  }
  return NULL;
}

static int sync_operator_endpoints(sf_webhooks *wh, sf_error_t *err)
{
  if (sf_store_begin(wh->store, err) < 0)
    return -1;
  sqlite3 *db = sf_store_db(wh->store);
  for (size_t i = 0; i < wh->s.n; i++) {
    sf_wh_endpoint *e = &wh->s.eps[i];
    if (e->url == NULL) {
      sf_store_rollback(wh->store);
      return sf_error_make(err, EINVAL, "webhook '%s' has no url", e->name);
    }
    sqlite3_stmt *q = NULL;
    sqlite3_prepare_v2(db,
                       "INSERT INTO webhook_endpoints(id, name, url, source, created_at) "
                       "VALUES(?,?,?,'operator',?) "
                       "ON CONFLICT(id) DO UPDATE SET url = excluded.url",
                       -1, &q, NULL);
    sqlite3_bind_text(q, 1, e->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, e->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, e->url, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, sf_now_ms());
    sqlite3_step(q);
    sqlite3_finalize(q);
    sqlite3_prepare_v2(db, "SELECT enabled FROM webhook_endpoints WHERE id = ?", -1, &q, NULL);
    sqlite3_bind_text(q, 1, e->id, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW)
      e->disabled = sqlite3_column_int(q, 0) == 0;
    sqlite3_finalize(q);
  }
  return sf_store_commit(wh->store, err);
}

static void copy_settings(sf_webhook_settings *dst, const sf_webhook_settings *src)
{
  *dst = *src;
  dst->eps = calloc(src->n + 1, sizeof(sf_wh_endpoint));
  for (size_t i = 0; i < src->n; i++) {
    const sf_wh_endpoint *a = &src->eps[i];
    sf_wh_endpoint *b = &dst->eps[i];
    b->id = strdup(a->id);
    b->name = strdup(a->name);
    b->url = a->url ? strdup(a->url) : NULL;
    b->secrets = sf_strv_dup(a->secrets);
    b->events = sf_strv_dup(a->events);
    b->headers = sf_strv_dup(a->headers);
    b->format = strdup(a->format);
    b->timeout_ms = a->timeout_ms;
  }
}

int sf_webhooks_start(sf_store *st, const sf_webhook_settings *settings, sf_webhooks **out,
                      sf_error_t *err)
{
  sf_webhooks *wh = calloc(1, sizeof(*wh));
  wh->store = st;
  copy_settings(&wh->s, settings);
  pthread_mutex_init(&wh->lock, NULL);
  if (sf_store_migrate(st, "webhook", webhook_schema,
                       sizeof(webhook_schema) / sizeof(webhook_schema[0]), err) < 0 ||
      sync_operator_endpoints(wh, err) < 0) {
    sf_webhooks_stop(wh);
    return -1;
  }
  wh->multi = curl_multi_init();
  curl_multi_setopt(wh->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)wh->s.max_connections);
  curl_multi_setopt(wh->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)wh->s.max_in_flight);
  sf_store_add_event_hook(st, on_event, wh);
  sf_store_add_commit_hook(st, on_commit, wh);
  if (pthread_create(&wh->thread, NULL, dispatcher_main, wh) != 0) {
    sf_webhooks_stop(wh);
    return sf_error_make(err, EAGAIN, "cannot start the webhook dispatcher thread");
  }
  wh->running = true;
  *out = wh;
  return 0;
}

void sf_webhooks_stop(sf_webhooks *wh)
{
  if (wh == NULL)
    return;
  if (wh->running) {
    pthread_mutex_lock(&wh->lock);
    wh->stop = true;
    pthread_mutex_unlock(&wh->lock);
    curl_multi_wakeup(wh->multi);
    pthread_join(wh->thread, NULL);
  }
  while (wh->flights) { /* still pending in the store: sent again next start */
    inflight *f = wh->flights;
    wh->flights = f->next;
    curl_multi_remove_handle(wh->multi, f->easy);
    curl_easy_cleanup(f->easy);
    curl_slist_free_all(f->headers);
    free(f->body);
    free(f);
  }
  if (wh->multi)
    curl_multi_cleanup(wh->multi);
  sf_webhook_settings tmp = wh->s;
  sf_webhook_settings *p = calloc(1, sizeof(*p));
  *p = tmp;
  sf_webhook_settings_free(p);
  pthread_mutex_destroy(&wh->lock);
  free(wh);
}

void sf_webhooks_write_metrics(sf_webhooks *wh, FILE *out)
{
  fprintf(out,
          "# HELP sandforge_webhook_attempts_total Delivery attempts by outcome.\n"
          "# TYPE sandforge_webhook_attempts_total counter\n"
          "sandforge_webhook_attempts_total{outcome=\"succeeded\"} %llu\n"
          "sandforge_webhook_attempts_total{outcome=\"failed\"} %llu\n"
          "sandforge_webhook_dead_letters_total %llu\n"
          "sandforge_webhook_in_flight %d\n",
          (unsigned long long)wh->delivered, (unsigned long long)wh->failed_attempts,
          (unsigned long long)wh->dead, wh->n_inflight);
}

int sf_webhooks_register_routes(sf_webhooks *wh, struct sf_http_server *http, sf_error_t *err)
{
  (void)wh;
  (void)http;
  return 0; /* the management API (webhooks.md §8) is not built yet */
}
