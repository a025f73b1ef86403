#include "common/util.h"
#include "common/cleanup.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t sf_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sf_mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sf_mono_us(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void sf_format_rfc3339_ms(int64_t epoch_ms, char *buf, size_t len)
{
  time_t secs = (time_t)(epoch_ms / 1000);
  int ms = (int)(epoch_ms % 1000);
  if (ms < 0) {
    ms += 1000;
    secs -= 1;
  }
  struct tm tm;
  gmtime_r(&secs, &tm);
  snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

int sf_parse_rfc3339(const char *s, int64_t *epoch_ms)
{
  if (s == NULL)
    return -1;
  struct tm tm = {0};
  const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
  if (p == NULL)
    p = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
  if (p == NULL)
    return -1;
  int64_t ms = 0;
  if (*p == '.') {
    p++;
    int digits = 0;
    while (isdigit((unsigned char)*p)) {
      if (digits < 3)
        ms = ms * 10 + (*p - '0');
      digits++;
      p++;
    }
    if (digits == 0)
      return -1;
    for (; digits < 3; digits++)
      ms *= 10;
  }
  int64_t offset_s = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    /* exactly ±hh:mm (found by the fuzzer: "+01:4" used to read past the end) */
    int sign = *p == '-' ? -1 : 1;
    if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]) || p[3] != ':' ||
        !isdigit((unsigned char)p[4]) || !isdigit((unsigned char)p[5]))
      return -1;
    int hh = (p[1] - '0') * 10 + (p[2] - '0'), mm = (p[4] - '0') * 10 + (p[5] - '0');
    if (hh > 23 || mm > 59)
      return -1;
    offset_s = sign * (hh * 3600 + mm * 60);
    p += 6;
  } else {
    return -1;
  }
  if (*p != '\0')
    return -1;
  time_t t = timegm(&tm);
  *epoch_ms = ((int64_t)t - offset_s) * 1000 + ms;
  return 0;
}

/* Parses a non-negative decimal with optional fraction; returns the rest. */
static const char *parse_decimal(const char *s, double *out)
{
  if (s == NULL || !(isdigit((unsigned char)*s) || *s == '.'))
    return NULL;
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (errno != 0 || end == s || !isfinite(v) || v < 0)
    return NULL;
  *out = v;
  return end;
}

int sf_parse_size(const char *s, int64_t *bytes, sf_error_t *err)
{
  double v;
  const char *rest = parse_decimal(s, &v);
  if (rest == NULL)
    return sf_error_make(err, EINVAL, "invalid size '%s' (expected e.g. 512Mi, 2Gi, 1G)",
                         s ? s : "");
  static const struct {
    const char *suffix;
    double mult;
  } units[] = {{"", 1},
               {"B", 1},
               {"k", 1e3},
               {"K", 1e3},
               {"M", 1e6},
               {"G", 1e9},
               {"T", 1e12},
               {"Ki", 1024.0},
               {"Mi", 1024.0 * 1024},
               {"Gi", 1024.0 * 1024 * 1024},
               {"Ti", 1024.0 * 1024 * 1024 * 1024},
               {"KiB", 1024.0},
               {"MiB", 1024.0 * 1024},
               {"GiB", 1024.0 * 1024 * 1024}};
  for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
    if (strcmp(rest, units[i].suffix) == 0) {
      double b = v * units[i].mult;
      if (b > 9.0e18)
        return sf_error_make(err, ERANGE, "size '%s' is too large", s);
      *bytes = (int64_t)b;
      return 0;
    }
  }
  return sf_error_make(err, EINVAL,
                       "invalid size '%s': unknown unit '%s' (use Ki, Mi, Gi, K, M, G)", s, rest);
}

int sf_parse_cpu_millis(const char *s, int64_t *millis, sf_error_t *err)
{
  double v;
  const char *rest = parse_decimal(s, &v);
  if (rest == NULL)
    return sf_error_make(err, EINVAL, "invalid cpu '%s' (expected e.g. 500m, 1, 2.5)", s ? s : "");
  if (strcmp(rest, "m") == 0)
    *millis = (int64_t)v;
  else if (*rest == '\0')
    *millis = (int64_t)(v * 1000.0 + 0.5);
  else
    return sf_error_make(err, EINVAL, "invalid cpu '%s': unknown unit '%s'", s, rest);
  if (*millis <= 0)
    return sf_error_make(err, EINVAL, "invalid cpu '%s': must be positive", s);
  if (*millis > 1024 * 1000)
    return sf_error_make(err, ERANGE, "cpu '%s' is too large", s);
  return 0;
}

int sf_parse_duration_ms(const char *s, int64_t *ms, sf_error_t *err)
{
  double v;
  const char *rest = parse_decimal(s, &v);
  if (rest == NULL)
    return sf_error_make(
        err, EINVAL, "invalid duration '%s' (expected e.g. 500ms, 10s, 5m, 2h, 7d)", s ? s : "");
  double mult;
  if (strcmp(rest, "ms") == 0)
    mult = 1;
  else if (*rest == '\0' || strcmp(rest, "s") == 0)
    mult = 1000;
  else if (strcmp(rest, "m") == 0 || strcmp(rest, "min") == 0)
    mult = 60e3;
  else if (strcmp(rest, "h") == 0)
    mult = 3600e3;
  else if (strcmp(rest, "d") == 0)
    mult = 86400e3;
  else
    return sf_error_make(err, EINVAL, "invalid duration '%s': unknown unit '%s'", s, rest);
  double r = v * mult;
  if (r > 9.0e15)
    return sf_error_make(err, ERANGE, "duration '%s' is too large", s);
  *ms = (int64_t)r;
  return 0;
}

int sf_random_bytes(void *buf, size_t n, sf_error_t *err)
{
  if (RAND_bytes(buf, (int)n) != 1)
    return sf_error_make(err, EIO, "CSPRNG failure");
  return 0;
}

char *sf_random_hex(size_t nbytes)
{
  unsigned char raw[128];
  if (nbytes > sizeof(raw) || RAND_bytes(raw, (int)nbytes) != 1)
    return NULL;
  char *out = malloc(nbytes * 2 + 1);
  if (out == NULL)
    return NULL;
  for (size_t i = 0; i < nbytes; i++)
    snprintf(out + 2 * i, 3, "%02x", raw[i]);
  OPENSSL_cleanse(raw, sizeof(raw));
  return out;
}

char *sf_new_id(const char *prefix, size_t nbytes)
{
  cleanup_free char *hex = sf_random_hex(nbytes);
  char *id = NULL;
  if (hex == NULL || asprintf(&id, "%s%s", prefix ? prefix : "", hex) < 0)
    return NULL;
  return id;
}

int sf_write_all(int fd, const void *buf, size_t len)
{
  const char *p = buf;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

int sf_read_file_at(int dirfd, const char *path, char **out, size_t *len, sf_error_t *err)
{
  cleanup_close int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return sf_error_sys(err, "open '%s'", path);
  size_t cap = 4096, n = 0;
  cleanup_free char *buf = malloc(cap);
  if (buf == NULL)
    return sf_error_make(err, ENOMEM, "out of memory reading '%s'", path);
  for (;;) {
    if (n + 1 >= cap) {
      cap *= 2;
      char *nb = realloc(buf, cap);
      if (nb == NULL)
        return sf_error_make(err, ENOMEM, "out of memory reading '%s'", path);
      buf = nb;
    }
    ssize_t r = read(fd, buf + n, cap - n - 1);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return sf_error_sys(err, "read '%s'", path);
    }
    if (r == 0)
      break;
    n += (size_t)r;
  }
  buf[n] = '\0';
  if (len)
    *len = n;
  *out = sf_steal_ptr(&buf);
  return 0;
}

int sf_read_file(const char *path, char **out, size_t *len, sf_error_t *err)
{
  return sf_read_file_at(AT_FDCWD, path, out, len, err);
}

int sf_write_file_at(int dirfd, const char *path, const char *data, sf_error_t *err)
{
  cleanup_close int fd = openat(dirfd, path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return sf_error_sys(err, "open '%s' for writing", path);
  if (sf_write_all(fd, data, strlen(data)) < 0)
    return sf_error_sys(err, "write '%s' to '%s'", data, path);
  return 0;
}

int sf_write_file(const char *path, const char *data, sf_error_t *err)
{
  return sf_write_file_at(AT_FDCWD, path, data, err);
}

int sf_mkdir_p(const char *path, mode_t mode, sf_error_t *err)
{
  char tmp[4096];
  if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
    return sf_error_make(err, ENAMETOOLONG, "path too long: '%s'", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(tmp, mode) < 0 && errno != EEXIST)
      return sf_error_sys(err, "mkdir '%s'", tmp);
    *p = '/';
  }
  if (mkdir(tmp, mode) < 0 && errno != EEXIST)
    return sf_error_sys(err, "mkdir '%s'", tmp);
  return 0;
}

bool sf_consttime_eq(const void *a, size_t alen, const void *b, size_t blen)
{
  if (alen != blen)
    return false;
  return CRYPTO_memcmp(a, b, alen) == 0;
}

size_t sf_strv_len(char *const *v)
{
  size_t n = 0;
  while (v != NULL && v[n] != NULL)
    n++;
  return n;
}

char **sf_strv_dup(char *const *v)
{
  size_t n = sf_strv_len(v);
  char **out = calloc(n + 1, sizeof(char *));
  if (out == NULL)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    out[i] = strdup(v[i]);
    if (out[i] == NULL) {
      sf_strv_free(out);
      return NULL;
    }
  }
  return out;
}

int sf_strv_push(char ***v, const char *s)
{
  size_t n = sf_strv_len(*v);
  char *copy = strdup(s);
  char **nv = copy ? realloc(*v, (n + 2) * sizeof(char *)) : NULL;
  if (nv == NULL) {
    free(copy);
    return -1;
  }
  nv[n] = copy;
  nv[n + 1] = NULL;
  *v = nv;
  return 0;
}

void sf_strv_free(char **v)
{
  if (v == NULL)
    return;
  for (char **p = v; *p; p++)
    free(*p);
  free(v);
}

int sf_parse_int64(const char *s, int64_t *out)
{
  if (s == NULL || *s == '\0')
    return -1;
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || *end != '\0' || end == s)
    return -1;
  *out = v;
  return 0;
}
