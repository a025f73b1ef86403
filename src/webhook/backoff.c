#include "webhook/backoff.h"
#include "common/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RETRY_AFTER_CAP_MS (3600LL * 1000)

void sf_backoff_default(sf_backoff *b)
{
  static const int64_t d[] = {5000, 300000, 1800000, 7200000, 18000000, 36000000, 36000000};
  b->n = sizeof(d) / sizeof(d[0]);
  memcpy(b->delays_ms, d, sizeof(d));
}

int sf_backoff_parse(const char *spec, sf_backoff *b, sf_error_t *err)
{
  char *copy = strdup(spec ? spec : ""), *save = NULL;
  b->n = 0;
  for (char *tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
    if (b->n == sizeof(b->delays_ms) / sizeof(b->delays_ms[0])) {
      free(copy);
      return sf_error_make(err, EINVAL, "retry_schedule has more than 32 delays");
    }
    if (sf_parse_duration_ms(tok, &b->delays_ms[b->n], err) < 0) {
      free(copy);
      return sf_error_wrap(err, "retry_schedule");
    }
    b->n++;
  }
  free(copy);
  if (b->n == 0)
    return sf_error_make(err, EINVAL, "retry_schedule needs at least one delay");
  return 0;
}

int64_t sf_backoff_next_ms(const sf_backoff *b, int attempt, double rnd)
{
  if (attempt < 1 || (size_t)attempt > b->n)
    return -1;
  double base = (double)b->delays_ms[attempt - 1];
  return (int64_t)(base * (0.8 + 0.4 * rnd)); /* ±20 % */
}

int64_t sf_retry_after_ms(const char *value, int64_t now_ms)
{
  if (value == NULL || *value == '\0')
    return -1;
  char *end;
  long long secs = strtoll(value, &end, 10);
  int64_t ms;
  if (*end == '\0' && end != value) {
    if (secs < 0)
      return -1;
    ms = secs * 1000;
  } else {
    struct tm tm = {0};
    if (strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm) == NULL)
      return -1;
    ms = (int64_t)timegm(&tm) * 1000 - now_ms;
    if (ms < 0)
      ms = 0;
  }
  return ms > RETRY_AFTER_CAP_MS ? RETRY_AFTER_CAP_MS : ms;
}
