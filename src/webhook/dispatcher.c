/* The dispatcher thread (libcurl multi): sends due deliveries within the
 * per-endpoint and global in-flight limits, records every attempt, schedules
 * retries, disables endpoints (410 Gone, or failing for `disable_after`) and
 * prunes old rows.
 *
 * Nothing about a delivery lives only in memory: a crash (kill -9) leaves
 * pending rows that the next start sends again (at least once; receivers
 * dedupe on webhook-id). */
#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "webhook/webhook_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sf_wh_flight {
  struct sf_wh_flight *next;
  char delivery_id[40];
  char event_id[40];
  char endpoint_id[80];
  char sandbox_id[80];
  int attempt, retry_base;
  sf_wh_request *req;
  int64_t started_us;
  CURLcode result;
  json_t *log; /* failure log fields, written after the store lock is released */
} flight;

/* The dispatcher's statements are prepared once (they run for every
 * delivery); `slot` indexes wh->stmts.  Reset and unbound before reuse. */
static sqlite3_stmt *cached_stmt(sf_webhooks *wh, int slot, const char *sql)
{
  sqlite3_stmt **q = &wh->stmts[slot];
  if (*q == NULL)
    sqlite3_prepare_v3(sf_store_db(wh->store), sql, -1, SQLITE_PREPARE_PERSISTENT, q, NULL);
  else {
    sqlite3_reset(*q);
    sqlite3_clear_bindings(*q);
  }
  return *q;
}

void sf_wh_dispatcher_wake(sf_webhooks *wh)
{
  if (wh->multi)
    curl_multi_wakeup(wh->multi); /* never waits on a receiver: just a poke */
}

static void on_commit(void *ud)
{
  sf_wh_dispatcher_wake(ud);
}

static bool is_inflight(sf_webhooks *wh, const char *did)
{
  for (flight *f = wh->flights; f; f = f->next)
    if (strcmp(f->delivery_id, did) == 0)
      return true;
  return false;
}

static int endpoint_inflight(sf_webhooks *wh, const char *eid)
{
  int n = 0;
  for (flight *f = wh->flights; f; f = f->next)
    n += strcmp(f->endpoint_id, eid) == 0;
  return n;
}

static bool sandbox_inflight(sf_webhooks *wh, const char *eid, const char *sid)
{
  for (flight *f = wh->flights; f; f = f->next)
    if (strcmp(f->endpoint_id, eid) == 0 && strcmp(f->sandbox_id, sid) == 0)
      return true;
  return false;
}

static void start_delivery(sf_webhooks *wh, sf_wh_endpoint *e, sqlite3_stmt *q)
{
  flight *f = calloc(1, sizeof(*f));
  if (f == NULL)
    return;
  snprintf(f->delivery_id, sizeof(f->delivery_id), "%s", sqlite3_column_text(q, 0));
  snprintf(f->event_id, sizeof(f->event_id), "%s", sqlite3_column_text(q, 1));
  snprintf(f->endpoint_id, sizeof(f->endpoint_id), "%s", e->id);
  const char *sid = (const char *)sqlite3_column_text(q, 6);
  snprintf(f->sandbox_id, sizeof(f->sandbox_id), "%s", sid ? sid : "");
  f->attempt = sqlite3_column_int(q, 2) + 1;
  f->retry_base = sqlite3_column_int(q, 3);
  sf_error_t err = NULL;
  f->req =
      sf_wh_request_new(wh, e, f->event_id, (const char *)sqlite3_column_text(q, 5), f->delivery_id,
                        f->attempt, (const char *)sqlite3_column_text(q, 4), &err);
  if (f->req == NULL) { /* cannot happen short of OOM; retried on the next pass */
    sf_log_warn("webhook %s: cannot build delivery %s: %s", e->id, f->delivery_id,
                sf_error_msg(&err));
    sf_error_release(&err);
    free(f);
    return;
  }
  curl_easy_setopt(f->req->easy, CURLOPT_PRIVATE, f);
  f->started_us = sf_mono_us();
  curl_multi_add_handle(wh->multi, f->req->easy);
  f->next = wh->flights;
  wh->flights = f;
  wh->n_inflight++;
}

/* Start due deliveries endpoint by endpoint, so one endpoint's backlog can
 * never use up the slots (or the query's LIMIT) of another. */
static void fill(sf_webhooks *wh)
{
  if (wh->n_inflight >= wh->s.max_connections)
    return;
  sf_store_lock(wh->store);
  int64_t now = sf_now_ms();
  for (size_t i = 0; i < wh->n_eps && wh->n_inflight < wh->s.max_connections; i++) {
    sf_wh_endpoint *e = wh->eps[i];
    int room = wh->s.max_in_flight - endpoint_inflight(wh, e->id);
    if (e->disabled || room <= 0)
      continue;
    /* Per-sandbox ordering: only a sandbox's oldest pending delivery may go,
     * and only when none of that sandbox's is in flight. */
    sqlite3_stmt *q = cached_stmt(
        wh, e->per_sandbox ? STMT_DUE_ORDERED : STMT_DUE,
        e->per_sandbox
            ? "SELECT d.id, d.event_id, d.attempts, d.retry_base, v.payload, v.type, v.sandbox_id "
              "FROM webhook_deliveries d JOIN events v ON v.seq = d.event_seq "
              "WHERE d.endpoint_id = ?1 AND d.status = 'pending' AND d.next_attempt_at <= ?2 "
              "AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d2 JOIN events v2 ON v2.seq = "
              "d2.event_seq WHERE d2.endpoint_id = ?1 AND d2.status = 'pending' AND d2.event_seq "
              "< d.event_seq AND v2.sandbox_id IS v.sandbox_id) ORDER BY d.event_seq LIMIT ?3"
            : "SELECT d.id, d.event_id, d.attempts, d.retry_base, v.payload, v.type, v.sandbox_id "
              "FROM webhook_deliveries d JOIN events v ON v.seq = d.event_seq "
              "WHERE d.endpoint_id = ?1 AND d.status = 'pending' AND d.next_attempt_at <= ?2 "
              "ORDER BY d.next_attempt_at LIMIT ?3");
    sqlite3_bind_text(q, 1, e->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, now);
    sqlite3_bind_int(q, 3, room + wh->s.max_in_flight); /* in-flight rows are still pending */
    while (room > 0 && wh->n_inflight < wh->s.max_connections && sqlite3_step(q) == SQLITE_ROW) {
      const char *did = (const char *)sqlite3_column_text(q, 0);
      const char *sid = (const char *)sqlite3_column_text(q, 6);
      if (is_inflight(wh, did) || (e->per_sandbox && sandbox_inflight(wh, e->id, sid ? sid : "")))
        continue;
      start_delivery(wh, e, q);
      room--;
    }
    sqlite3_reset(q);
  }
  sf_store_unlock(wh->store);
}

void sf_wh_metrics_observe(sf_webhooks *wh, int64_t duration_ms)
{
  static const int64_t bounds[SF_WH_LATENCY_BUCKETS] = {5,   10,   25,   50,   100,   250,
                                                        500, 1000, 2500, 5000, 10000, 30000};
  int b = 0;
  while (b < SF_WH_LATENCY_BUCKETS && duration_ms > bounds[b])
    b++;
  wh->latency_buckets[b]++;
  wh->latency_sum_s += (double)duration_ms / 1000.0;
  wh->latency_count++;
}

static void disable_endpoint(sf_webhooks *wh, sf_wh_endpoint *e, const char *reason)
{
  e->disabled = true;
  free(e->disabled_reason);
  e->disabled_reason = strdup(reason);
  wh->disabled_total++;
  sf_log_fields(SF_LOG_WARN, "webhook endpoint disabled",
                json_pack("{s:s,s:s}", "endpoint", e->id, "reason", reason));
}

/* Endpoint health after an attempt: 410 disables at once; a run of failures
 * longer than disable_after disables; any success ends the run. */
static void update_endpoint(sf_webhooks *wh, sf_wh_endpoint *e, bool ok, bool gone, int64_t now)
{
  bool changed = false;
  if (ok) {
    changed = e->failing_since_ms != 0;
    e->failing_since_ms = 0;
  } else if (gone) {
    disable_endpoint(wh, e, "410 Gone");
    changed = true;
  } else if (e->failing_since_ms == 0) {
    e->failing_since_ms = now;
    changed = true;
  } else if (now - e->failing_since_ms >= wh->s.disable_after_ms) {
    char since[40], reason[96];
    sf_format_rfc3339_ms(e->failing_since_ms, since, sizeof(since));
    snprintf(reason, sizeof(reason), "failing continuously since %s", since);
    disable_endpoint(wh, e, reason);
    changed = true;
  }
  sf_error_t err = NULL;
  if (changed && sf_wh_endpoint_save_state(wh, e, &err) < 0) {
    sf_log_warn("webhook %s: %s", e->id, sf_error_msg(&err));
    sf_error_release(&err);
  }
}

/* Record one finished attempt (store lock held).  Returns the fields of the
 * failure log line, written by the caller once the lock is released. */
static json_t *record_one(sf_webhooks *wh, flight *f, int64_t now)
{
  sqlite3 *db = sf_store_db(wh->store);
  int64_t dur = (sf_mono_us() - f->started_us) / 1000;
  long http = 0;
  char errbuf[256];
  const char *error = sf_wh_request_outcome(f->req, f->result, &http, errbuf, sizeof(errbuf));
  bool ok = error == NULL && http >= 200 && http < 300;
  bool gone = error == NULL && http == 410;
  int64_t next = -1;
  if (!ok && !gone) {
    int64_t delay = sf_backoff_next_ms(&wh->s.backoff, f->attempt - f->retry_base,
                                       (double)rand() / ((double)RAND_MAX + 1));
    if (delay >= 0 && error == NULL && (http == 429 || http == 503)) {
      struct curl_header *hdr = NULL;
      if (curl_easy_header(f->req->easy, "Retry-After", 0, CURLH_HEADER, -1, &hdr) == CURLHE_OK) {
        int64_t ra = sf_retry_after_ms(hdr->value, now);
        if (ra >= 0)
          delay = ra;
      }
    }
    next = delay >= 0 ? now + delay : -1;
  }
  const char *status = ok ? "succeeded" : next >= 0 ? "pending" : "failed";
  sqlite3_stmt *q =
      cached_stmt(wh, STMT_RECORD,
                  "UPDATE webhook_deliveries SET status = ?, attempts = ?, "
                  "next_attempt_at = ?, last_status = ?, last_error = ? WHERE id = ?");
  sqlite3_bind_text(q, 1, status, -1, SQLITE_STATIC);
  sqlite3_bind_int(q, 2, f->attempt);
  sqlite3_bind_int64(q, 3, next >= 0 ? next : now);
  if (http)
    sqlite3_bind_int(q, 4, (int)http);
  if (error)
    sqlite3_bind_text(q, 5, error, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 6, f->delivery_id, -1, SQLITE_STATIC);
  int r = sqlite3_step(q);
  sqlite3_reset(q);
  if (r != SQLITE_DONE || sqlite3_changes(db) == 0)
    return NULL; /* the endpoint was deleted (or the row pruned) while in flight */
  q = cached_stmt(wh, STMT_ATTEMPT,
                  "INSERT OR REPLACE INTO webhook_attempts VALUES(?,?,?,?,?,?,?)");
  sqlite3_bind_text(q, 1, f->delivery_id, -1, SQLITE_STATIC);
  sqlite3_bind_int(q, 2, f->attempt);
  sqlite3_bind_int64(q, 3, now);
  if (http)
    sqlite3_bind_int(q, 4, (int)http);
  if (error)
    sqlite3_bind_text(q, 5, error, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 6, dur);
  sqlite3_bind_text(q, 7, f->req->response, (int)f->req->response_len, SQLITE_STATIC);
  sqlite3_step(q);
  sqlite3_reset(q);
  sf_wh_metrics_observe(wh, dur);
  sf_wh_endpoint *e = sf_wh_endpoint_find(wh, f->endpoint_id);
  if (e)
    update_endpoint(wh, e, ok, gone, now);
  if (ok) {
    wh->attempts_ok++;
    return NULL;
  }
  wh->attempts_failed++;
  if (next < 0 && !gone)
    wh->dead++;
  char next_ts[40] = "";
  if (next >= 0)
    sf_format_rfc3339_ms(next, next_ts, sizeof(next_ts));
  return json_pack(
      "{s:s,s:s,s:s,s:i,s:I,s:s,s:I,s:s}", "endpoint", f->endpoint_id, "event_id", f->event_id,
      "delivery_id", f->delivery_id, "attempt", f->attempt, "http_status", (json_int_t)http,
      "error", error ? error : "", "duration_ms", (json_int_t)dur, "next_attempt_at",
      next >= 0 ? next_ts : (gone ? "never (410 Gone: endpoint disabled)" : "never (dead letter)"));
}

/* Record every finished transfer in one transaction.  The attempt records
 * are committed with synchronous=NORMAL: in WAL mode that survives a crash
 * of the process (kill -9) and only a power loss can drop the last records,
 * which at worst sends a delivery again (at-least-once holds).  An fsync per
 * attempt would cap throughput at the disk's flush rate. */
static int finish_done(sf_webhooks *wh)
{
  flight *done = NULL;
  int n = 0;
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(wh->multi, &left)) != NULL) {
    if (m->msg != CURLMSG_DONE)
      continue;
    flight *f = NULL;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&f);
    f->result = m->data.result;
    curl_multi_remove_handle(wh->multi, m->easy_handle);
    for (flight **pp = &wh->flights; *pp; pp = &(*pp)->next)
      if (*pp == f) {
        *pp = f->next;
        break;
      }
    wh->n_inflight--;
    f->next = done;
    done = f;
    n++;
  }
  if (done == NULL)
    return 0;
  sf_error_t err = NULL;
  bool failures = false;
  sf_store_lock(wh->store);
  sf_store_exec(wh->store, "PRAGMA synchronous = NORMAL", NULL);
  if (sf_store_begin(wh->store, &err) == 0) {
    int64_t now = sf_now_ms();
    for (flight *f = done; f; f = f->next)
      if ((f->log = record_one(wh, f, now)) != NULL)
        failures = true;
    sf_store_commit(wh->store, &err);
  }
  sf_store_exec(wh->store, "PRAGMA synchronous = FULL", NULL);
  sf_store_unlock(wh->store);
  if (err) {
    sf_log_warn("webhook: recording attempts: %s", sf_error_msg(&err));
    sf_error_release(&err);
  }
  /* No I/O under the store lock: the API's commits wait on it. */
  for (flight *f = failures ? done : NULL; f; f = f->next)
    if (f->log)
      sf_log_fields(SF_LOG_WARN, "webhook attempt failed", f->log);
  while (done) {
    flight *f = done;
    done = f->next;
    sf_wh_request_free(f->req);
    free(f);
  }
  return n;
}

static void maybe_prune(sf_webhooks *wh)
{
  int64_t now = sf_now_ms();
  if (now < wh->next_prune_ms)
    return;
  int64_t every = wh->s.retention_ms / 10;
  wh->next_prune_ms = now + (every < 1000 ? 1000 : every > 60000 ? 60000 : every);
  sf_error_t err = NULL;
  if (sf_wh_prune(wh, now, &err) < 0) {
    sf_log_warn("webhook: pruning: %s", sf_error_msg(&err));
    sf_error_release(&err);
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
    maybe_prune(wh);
    fill(wh);
    int running = 0;
    curl_multi_perform(wh->multi, &running);
    /* Freed slots are refilled at once: sleeping here would cap a backlog at
     * max_in_flight deliveries per poll interval. */
    if (finish_done(wh) > 0)
      continue;
    /* Sleep until a socket is ready, a commit wakes us, or the next due
     * retry could be ready (polled at least every 100 ms). */
    curl_multi_poll(wh->multi, NULL, 0, 100, NULL);
  }
  return NULL;
}

int sf_webhooks_start(sf_store *st, const sf_webhook_settings *settings, sf_webhooks **out,
                      sf_error_t *err)
{
  sf_webhooks *wh = calloc(1, sizeof(*wh));
  if (wh == NULL)
    return sf_error_make(err, ENOMEM, "out of memory");
  wh->store = st;
  wh->s = *settings;
  wh->s.eps = NULL;
  wh->s.n = 0;
  wh->s.ca_bundle = settings->ca_bundle ? strdup(settings->ca_bundle) : NULL;
  pthread_mutex_init(&wh->lock, NULL);
  if (sf_wh_endpoints_load(wh, settings, err) < 0) {
    sf_webhooks_stop(wh);
    return -1;
  }
  wh->multi = curl_multi_init();
  curl_multi_setopt(wh->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)wh->s.max_connections);
  /* No per-host cap: two endpoints on one host (two Slack hooks) must not
   * queue behind each other; fill() enforces max_in_flight per endpoint. */
  sf_store_add_event_hook(st, sf_wh_outbox_on_event, wh);
  sf_store_add_commit_hook(st, on_commit, wh);
  if (pthread_create(&wh->thread, NULL, dispatcher_main, wh) != 0) {
    sf_webhooks_stop(wh);
    return sf_error_make(err, EAGAIN, "cannot start the webhook dispatcher thread");
  }
  pthread_setname_np(wh->thread, "sf-webhooks"); /* for top/perf */
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
    flight *f = wh->flights;
    wh->flights = f->next;
    curl_multi_remove_handle(wh->multi, f->req->easy);
    sf_wh_request_free(f->req);
    free(f);
  }
  if (wh->multi)
    curl_multi_cleanup(wh->multi);
  for (int i = 0; i < STMT_COUNT; i++)
    sqlite3_finalize(wh->stmts[i]);
  sf_wh_endpoints_free(wh);
  free(wh->s.ca_bundle);
  pthread_mutex_destroy(&wh->lock);
  free(wh);
}
