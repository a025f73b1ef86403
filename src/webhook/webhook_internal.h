/* Shared between the webhook module's files.
 *
 * Locking: the endpoint registry (sf_webhooks.eps) and the delivery counters
 * are guarded by the store's (recursive) lock.  The outbox hook already runs
 * under it (inside the state change's transaction), the dispatcher takes it to
 * read due deliveries and record attempts, and the management routes take it
 * through sf_store_begin.  One lock means one lock order: nothing here ever
 * waits on a receiver while holding it (requests are built under the lock,
 * sent after it is released). */
#ifndef SF_WEBHOOK_INTERNAL_H
#define SF_WEBHOOK_INTERNAL_H

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "webhook/backoff.h"
#include "webhook/filter.h"
#include "webhook/signature.h"
#include "webhook/webhook.h"

#define SF_WH_RESPONSE_KEEP 4096
#define SF_WH_USER_AGENT "Sandforge-Webhooks/0.1.0"

typedef struct {
  char *value;
  int64_t expires_ms; /* 0 = the current secret; else rotated out, signs until then */
} sf_wh_secret;

typedef struct {
  char *id;   /* "wh_<hex>" (API) or "wh_op_<name>" (operator) */
  char *name; /* operator section name; NULL for API endpoints */
  char *url;
  sf_wh_secret *secrets; /* newest first */
  size_t n_secrets;
  char **events;  /* filter patterns; empty = all */
  char **headers; /* extra "Name: value" */
  char *format;   /* json | wecom | slack | feishu */
  char *description;
  int64_t timeout_ms; /* 0 = global */
  bool api;           /* created through the REST API (SSRF-guarded, editable) */
  bool per_sandbox;   /* ordering = per-sandbox */
  bool disabled;
  char *disabled_reason;
  int64_t failing_since_ms; /* 0 = not failing */
  int64_t created_ms;
} sf_wh_endpoint;

struct sf_webhook_settings {
  sf_wh_endpoint *eps;
  size_t n;
  sf_backoff backoff;
  int64_t timeout_ms, connect_timeout_ms, retention_ms, disable_after_ms, rotation_overlap_ms;
  int max_in_flight, max_connections;
  bool allow_private_targets;
  char *ca_bundle; /* NULL = libcurl's default */
};

/* Attempt latency histogram buckets (ms), for /metrics. */
#define SF_WH_LATENCY_BUCKETS 12

/* One HTTP request to an endpoint, built under the store lock from an
 * endpoint snapshot and sent without it. */
typedef struct sf_wh_request {
  CURL *easy;
  struct curl_slist *headers;
  char *body;
  char response[SF_WH_RESPONSE_KEEP + 1];
  size_t response_len;
  char blocked[160]; /* why the SSRF guard refused the connection, "" if it did not */
  char format[8];    /* wecom/feishu: a 2xx whose JSON reports an error code fails */
} sf_wh_request;

enum { STMT_DUE, STMT_DUE_ORDERED, STMT_RECORD, STMT_ATTEMPT, STMT_COUNT };

struct sf_webhooks {
  sf_store *store;
  sf_webhook_settings s; /* global settings; s.eps/s.n unused after start */
  sf_wh_endpoint **eps;  /* registry: operator endpoints then API endpoints */
  size_t n_eps;
  pthread_t thread;
  pthread_mutex_t lock; /* stop flag only */
  bool stop, running;
  CURLM *multi;
  struct sf_wh_flight *flights;
  int n_inflight;
  int64_t next_prune_ms;
  sqlite3_stmt *stmts[STMT_COUNT]; /* dispatcher statements, prepared once */
  /* counters (store lock) */
  uint64_t attempts_ok, attempts_failed, dead, disabled_total;
  uint64_t latency_buckets[SF_WH_LATENCY_BUCKETS + 1]; /* last = +Inf */
  double latency_sum_s;
  uint64_t latency_count;
};

/* ---- settings.c --------------------------------------------------------- */
void sf_wh_endpoint_clear(sf_wh_endpoint *e);
/* Deep copy (secrets included). */
sf_wh_endpoint *sf_wh_endpoint_dup(const sf_wh_endpoint *e);
/* Validate and apply one endpoint key as in a `[webhook "name"]` section. */
int sf_wh_endpoint_set(sf_wh_endpoint *e, const char *key, const char *value, sf_error_t *err);
/* The host part of a URL (free with curl_free), NULL when it does not parse. */
char *sf_wh_url_host(const char *url);
/* http(s) URL check shared by config and API. */
int sf_wh_check_url(const char *url, sf_error_t *err);
/* "Name: value" with a token name, no CR/LF, and not one of our own headers. */
int sf_wh_check_header(const char *line, sf_error_t *err);
bool sf_wh_format_known(const char *format);

/* ---- ssrf.c ------------------------------------------------------------- */
/* Is this address one an API-registered endpoint may not reach?  `why` gets a
 * short reason ("loopback", "private", …) when it is. */
bool sf_ssrf_addr_blocked(const struct sockaddr *sa, const char **why);
/* At registration: refuse IP literals and localhost names that are blocked. */
int sf_ssrf_check_url(const char *url, sf_error_t *err);

/* ---- format.c ----------------------------------------------------------- */
/* The body for `format` from the event payload (json: the payload itself). */
char *sf_wh_format_body(const char *format, const char *payload, sf_error_t *err);
/* For wecom/feishu: does a 2xx response body report an error?  Fills `why`. */
bool sf_wh_response_reports_error(const char *format, const char *body, char *why, size_t len);

/* ---- request.c ---------------------------------------------------------- */
/* Build a signed request of `payload` (event payload JSON) to `e`.  `guard`:
 * apply the SSRF check to the resolved address at connect time. */
sf_wh_request *sf_wh_request_new(sf_webhooks *wh, const sf_wh_endpoint *e, const char *event_id,
                                 const char *event_type, const char *delivery_id, int attempt,
                                 const char *payload, sf_error_t *err);
void sf_wh_request_free(sf_wh_request *r);
/* Outcome after the transfer: NULL + http status on an answer that counts as
 * success or failure by status; else an error text (transport, SSRF, errcode)
 * written to `buf`. */
const char *sf_wh_request_outcome(sf_wh_request *r, CURLcode rc, long *http, char *buf, size_t len);

/* ---- endpoints.c -------------------------------------------------------- */
int sf_wh_endpoints_load(sf_webhooks *wh, const sf_webhook_settings *settings, sf_error_t *err);
void sf_wh_endpoints_free(sf_webhooks *wh);
sf_wh_endpoint *sf_wh_endpoint_find(sf_webhooks *wh, const char *id);
/* Persist an API endpoint's row (inside a transaction). */
int sf_wh_endpoint_save(sf_webhooks *wh, const sf_wh_endpoint *e, sf_error_t *err);
/* Persist enabled/disabled_reason/failing_since (inside a transaction). */
int sf_wh_endpoint_save_state(sf_webhooks *wh, const sf_wh_endpoint *e, sf_error_t *err);
/* JSON view (no secret values). */
json_t *sf_wh_endpoint_json(sf_webhooks *wh, const sf_wh_endpoint *e);
/* Apply a POST/PATCH body to `e`; `creating` allows `secret`. */
int sf_wh_endpoint_apply_json(sf_webhooks *wh, sf_wh_endpoint *e, json_t *body, bool creating,
                              sf_error_t *err);
void sf_wh_endpoints_add(sf_webhooks *wh, sf_wh_endpoint *e);
void sf_wh_endpoints_remove(sf_webhooks *wh, const char *id);
/* Rotation: `new_secret` becomes current, the others sign until `expires_ms`. */
int sf_wh_endpoint_rotate(sf_wh_endpoint *e, const char *new_secret, int64_t expires_ms,
                          sf_error_t *err);
/* Active secrets (current + unexpired rotated) as a NULL-terminated borrowed list. */
char **sf_wh_endpoint_active_secrets(const sf_wh_endpoint *e, int64_t now_ms);

/* ---- deliveries.c ------------------------------------------------------- */
/* The store's event hook: one delivery row per matching enabled endpoint. */
int sf_wh_outbox_on_event(sf_store *st, const sf_event *ev, const char *payload, void *ud,
                          sf_error_t *err);
json_t *sf_wh_deliveries_list(sf_webhooks *wh, const char *endpoint_id, const char *status,
                              int limit, const char *cursor, sf_error_t *err);
json_t *sf_wh_delivery_get(sf_webhooks *wh, const char *endpoint_id, const char *delivery_id,
                           bool with_attempts, sf_error_t *err);
int sf_wh_delivery_redeliver(sf_webhooks *wh, const char *endpoint_id, const char *delivery_id,
                             sf_error_t *err);
int sf_wh_recover(sf_webhooks *wh, const char *endpoint_id, int64_t since_ms, int64_t *count,
                  sf_error_t *err);
/* Delete deliveries, attempts and events older than the retention time. */
int sf_wh_prune(sf_webhooks *wh, int64_t now_ms, sf_error_t *err);
/* Delivery counts by status for one endpoint. */
json_t *sf_wh_endpoint_stats(sf_webhooks *wh, const char *endpoint_id);

/* ---- dispatcher.c ------------------------------------------------------- */
void sf_wh_dispatcher_wake(sf_webhooks *wh);
/* Record one finished attempt's latency in the histogram (store lock held). */
void sf_wh_metrics_observe(sf_webhooks *wh, int64_t duration_ms);

#endif
