#include "common/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((format(printf, 4, 0))) static int
error_vmake(sf_error_t *err, int status, const char *suffix, const char *fmt, va_list ap)
{
  if (err == NULL || *err != NULL)
    return -1;
  struct sf_error_s *e = calloc(1, sizeof(*e));
  if (e == NULL)
    return -1;
  char *msg = NULL;
  if (vasprintf(&msg, fmt, ap) < 0)
    msg = NULL;
  if (msg != NULL && suffix != NULL) {
    char *full = NULL;
    if (asprintf(&full, "%s: %s", msg, suffix) >= 0) {
      free(msg);
      msg = full;
    }
  }
  e->status = status;
  e->msg = msg != NULL ? msg : strdup("out of memory formatting error");
  *err = e;
  return -1;
}

int sf_error_make(sf_error_t *err, int status, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  error_vmake(err, status, NULL, fmt, ap);
  va_end(ap);
  return -1;
}

int sf_error_sys(sf_error_t *err, const char *fmt, ...)
{
  int saved = errno;
  va_list ap;
  va_start(ap, fmt);
  error_vmake(err, saved, strerror(saved), fmt, ap);
  va_end(ap);
  errno = saved;
  return -1;
}

int sf_error_wrap(sf_error_t *err, const char *fmt, ...)
{
  if (err == NULL || *err == NULL)
    return -1;
  char *prefix = NULL;
  va_list ap;
  va_start(ap, fmt);
  int r = vasprintf(&prefix, fmt, ap);
  va_end(ap);
  if (r < 0)
    return -1;
  char *full = NULL;
  if (asprintf(&full, "%s: %s", prefix, (*err)->msg ? (*err)->msg : "") >= 0) {
    free((*err)->msg);
    (*err)->msg = full;
  }
  free(prefix);
  return -1;
}

int sf_error_code(const sf_error_t *err)
{
  return (err != NULL && *err != NULL) ? (*err)->status : 0;
}

const char *sf_error_msg(const sf_error_t *err)
{
  return (err != NULL && *err != NULL && (*err)->msg != NULL) ? (*err)->msg : "";
}

void sf_error_release(sf_error_t *err)
{
  if (err == NULL || *err == NULL)
    return;
  free((*err)->msg);
  free(*err);
  *err = NULL;
}
