/* libFuzzer target: the value parsers fed by config files, CLI flags and API
 * bodies (sizes, CPU quantities, durations, RFC 3339 timestamps). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *s = malloc(size + 1);
  if (s == NULL)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  int64_t v;
  sf_error_t err = NULL;
  if (sf_parse_size(s, &v, &err) == 0 && v < 0)
    abort();
  sf_error_release(&err);
  if (sf_parse_cpu_millis(s, &v, &err) == 0 && v <= 0)
    abort();
  sf_error_release(&err);
  if (sf_parse_duration_ms(s, &v, &err) == 0 && v < 0)
    abort();
  sf_error_release(&err);
  if (sf_parse_rfc3339(s, &v) == 0) {
    char buf[40];
    sf_format_rfc3339_ms(v, buf, sizeof(buf));
  }
  free(s);
  return 0;
}
