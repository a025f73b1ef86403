/* Webhook series for /metrics (Prometheus text format 0.0.4). */
#include "webhook/webhook_internal.h"

#include "common/util.h"

#include <stdio.h>
#include <string.h>

void sf_webhooks_write_metrics(sf_webhooks *wh, FILE *out)
{
  static const char *const bounds[SF_WH_LATENCY_BUCKETS] = {
      "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30"};
  sf_store_lock(wh->store);
  fprintf(out,
          "# HELP sandforge_webhook_attempts_total Delivery attempts by outcome.\n"
          "# TYPE sandforge_webhook_attempts_total counter\n"
          "sandforge_webhook_attempts_total{outcome=\"succeeded\"} %llu\n"
          "sandforge_webhook_attempts_total{outcome=\"failed\"} %llu\n"
          "# HELP sandforge_webhook_dead_letters_total Deliveries that exhausted the retry "
          "schedule.\n"
          "# TYPE sandforge_webhook_dead_letters_total counter\n"
          "sandforge_webhook_dead_letters_total %llu\n"
          "# HELP sandforge_webhook_endpoints_disabled_total Endpoints disabled by 410 Gone or "
          "continuous failure.\n"
          "# TYPE sandforge_webhook_endpoints_disabled_total counter\n"
          "sandforge_webhook_endpoints_disabled_total %llu\n",
          (unsigned long long)wh->attempts_ok, (unsigned long long)wh->attempts_failed,
          (unsigned long long)wh->dead, (unsigned long long)wh->disabled_total);
  fprintf(out, "# HELP sandforge_webhook_attempt_duration_seconds Duration of delivery "
               "attempts.\n# TYPE sandforge_webhook_attempt_duration_seconds histogram\n");
  uint64_t cum = 0;
  for (int i = 0; i < SF_WH_LATENCY_BUCKETS; i++) {
    cum += wh->latency_buckets[i];
    fprintf(out, "sandforge_webhook_attempt_duration_seconds_bucket{le=\"%s\"} %llu\n", bounds[i],
            (unsigned long long)cum);
  }
  cum += wh->latency_buckets[SF_WH_LATENCY_BUCKETS];
  fprintf(out,
          "sandforge_webhook_attempt_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
          "sandforge_webhook_attempt_duration_seconds_sum %.6f\n"
          "sandforge_webhook_attempt_duration_seconds_count %llu\n",
          (unsigned long long)cum, wh->latency_sum_s, (unsigned long long)wh->latency_count);

  fprintf(out, "# HELP sandforge_webhook_deliveries Deliveries in the store by status.\n"
               "# TYPE sandforge_webhook_deliveries gauge\n");
  long long by_status[3] = {0, 0, 0}, due = 0;
  static const char *const statuses[3] = {"pending", "succeeded", "failed"};
  sqlite3_stmt *q = NULL;
  sqlite3 *db = sf_store_db(wh->store);
  if (sqlite3_prepare_v2(db, "SELECT status, COUNT(*) FROM webhook_deliveries GROUP BY status", -1,
                         &q, NULL) == SQLITE_OK)
    while (sqlite3_step(q) == SQLITE_ROW)
      for (int i = 0; i < 3; i++)
        if (strcmp((const char *)sqlite3_column_text(q, 0), statuses[i]) == 0)
          by_status[i] = sqlite3_column_int64(q, 1);
  sqlite3_finalize(q);
  for (int i = 0; i < 3; i++)
    fprintf(out, "sandforge_webhook_deliveries{status=\"%s\"} %lld\n", statuses[i], by_status[i]);
  if (sqlite3_prepare_v2(db,
                         "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending' AND "
                         "next_attempt_at <= ?",
                         -1, &q, NULL) == SQLITE_OK) {
    sqlite3_bind_int64(q, 1, sf_now_ms());
    if (sqlite3_step(q) == SQLITE_ROW)
      due = sqlite3_column_int64(q, 0);
  }
  sqlite3_finalize(q);
  int failing = 0, disabled = 0;
  for (size_t i = 0; i < wh->n_eps; i++) {
    disabled += wh->eps[i]->disabled;
    failing += !wh->eps[i]->disabled && wh->eps[i]->failing_since_ms != 0;
  }
  fprintf(out,
          "# HELP sandforge_webhook_queue_depth Deliveries due now and not yet sent.\n"
          "# TYPE sandforge_webhook_queue_depth gauge\n"
          "sandforge_webhook_queue_depth %lld\n"
          "# HELP sandforge_webhook_in_flight Requests in flight.\n"
          "# TYPE sandforge_webhook_in_flight gauge\n"
          "sandforge_webhook_in_flight %d\n"
          "# HELP sandforge_webhook_endpoints Endpoints by state.\n"
          "# TYPE sandforge_webhook_endpoints gauge\n"
          "sandforge_webhook_endpoints{state=\"active\"} %d\n"
          "sandforge_webhook_endpoints{state=\"failing\"} %d\n"
          "sandforge_webhook_endpoints{state=\"disabled\"} %d\n",
          due > wh->n_inflight ? due - wh->n_inflight : 0, wh->n_inflight,
          (int)wh->n_eps - failing - disabled, failing, disabled);
  sf_store_unlock(wh->store);
}
