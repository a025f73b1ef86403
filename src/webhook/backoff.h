/* Retry schedule (webhooks.md §5): delays after attempt 1, 2, … with ±20 %
 * jitter; Retry-After (seconds or HTTP date) honoured on 429/503, capped at 1 h. */
#ifndef SF_WEBHOOK_BACKOFF_H
#define SF_WEBHOOK_BACKOFF_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct {
  int64_t delays_ms[32];
  size_t n; /* attempts = n + 1 */
} sf_backoff;

/* The default: 5s, 5m, 30m, 2h, 5h, 10h, 10h (8 attempts, ≈ 27.6 h). */
void sf_backoff_default(sf_backoff *b);
/* Parse "5s, 5m, 30m" (durations as in config files). */
int sf_backoff_parse(const char *spec, sf_backoff *b, sf_error_t *err);
/* Delay before the next attempt after `attempt` (1-based) failed; -1 when
 * the schedule is exhausted.  `rnd` in [0,1) picks the jitter. */
int64_t sf_backoff_next_ms(const sf_backoff *b, int attempt, double rnd);
/* Retry-After value → ms (capped at 1 h), -1 when absent/invalid. */
int64_t sf_retry_after_ms(const char *value, int64_t now_ms);

#endif
