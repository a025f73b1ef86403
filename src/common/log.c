#include "common/log.h"
#include "common/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static int log_level = -1;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

static sf_log_level log_current_level(void)
{
  if (log_level < 0) {
    const char *env = getenv("SANDFORGE_LOG_LEVEL");
    log_level = SF_LOG_INFO;
    for (int i = 0; env != NULL && i < 4; i++)
      if (strcasecmp(env, level_names[i]) == 0)
        log_level = i;
  }
  return (sf_log_level)log_level;
}

void sf_log_set_level(sf_log_level level)
{
  log_level = (int)level;
}

void sf_log_fields(sf_log_level level, const char *msg, json_t *fields)
{
  if (level < log_current_level()) {
    json_decref(fields);
    return;
  }
  char ts[40];
  sf_format_rfc3339_ms(sf_now_ms(), ts, sizeof(ts));
  json_t *line = json_object();
  json_object_set_new(line, "ts", json_string(ts));
  json_object_set_new(line, "level", json_string(level_names[level]));
  json_object_set_new(line, "msg", json_string(msg ? msg : ""));
  if (json_is_object(fields))
    json_object_update(line, fields);
  json_decref(fields);
  char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(line);
  if (text == NULL)
    return;
  size_t n = strlen(text);
  text[n] = '\n'; /* overwrite NUL: one write(2) keeps concurrent lines whole */
  ssize_t r = write(STDERR_FILENO, text, n + 1);
  (void)r;
  free(text);
}

void sf_log(sf_log_level level, const char *fmt, ...)
{
  if (level < log_current_level())
    return;
  char *msg = NULL;
  va_list ap;
  va_start(ap, fmt);
  int r = vasprintf(&msg, fmt, ap);
  va_end(ap);
  if (r < 0)
    return;
  sf_log_fields(level, msg, NULL);
  free(msg);
}
