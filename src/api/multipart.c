#include "api/multipart.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *memfind(const char *h, size_t hl, const char *n, size_t nl)
{
  if (nl == 0 || hl < nl)
    return NULL;
  for (const char *p = h; (p = memchr(p, n[0], hl - (size_t)(p - h) - nl + 1)) != NULL; p++)
    if (memcmp(p, n, nl) == 0)
      return p;
  return NULL;
}

/* value of `key=` in a header line like: form-data; name="file"; filename="a.txt" */
static void param(const char *line, size_t len, const char *key, char *out, size_t cap)
{
  out[0] = '\0';
  size_t kl = strlen(key);
  for (size_t i = 0; i + kl + 1 < len; i++) {
    if ((i == 0 || line[i - 1] == ' ' || line[i - 1] == ';') &&
        strncasecmp(line + i, key, kl) == 0 && line[i + kl] == '=') {
      const char *v = line + i + kl + 1, *end = line + len;
      bool quoted = v < end && *v == '"';
      if (quoted)
        v++;
      size_t n = 0;
      while (v + n < end && (quoted ? v[n] != '"' : (v[n] != ';' && v[n] != ' ')))
        n++;
      snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), v);
      return;
    }
  }
}

int sf_multipart_parse(const char *content_type, const char *body, size_t len, sf_mp_part *parts,
                       int max, sf_error_t *err)
{
  char boundary[256];
  if (content_type == NULL || strncasecmp(content_type, "multipart/form-data", 19) != 0)
    return sf_error_make(err, EINVAL, "expected Content-Type multipart/form-data");
  param(content_type, strlen(content_type), "boundary", boundary, sizeof(boundary));
  if (boundary[0] == '\0' || strlen(boundary) > 200)
    return sf_error_make(err, EINVAL, "multipart body without a valid boundary");
  char delim[210];
  int dl = snprintf(delim, sizeof(delim), "--%s", boundary);
  const char *p = memfind(body, len, delim, (size_t)dl), *end = body + len;
  if (p == NULL)
    return sf_error_make(err, EINVAL, "multipart boundary not found in body");
  int n = 0;
  for (;;) {
    p += dl;
    if (end - p >= 2 && p[0] == '-' && p[1] == '-')
      return n; /* closing delimiter */
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
      return sf_error_make(err, EINVAL, "malformed multipart delimiter line");
    p += 2;
    const char *hdr_end = memfind(p, (size_t)(end - p), "\r\n\r\n", 4);
    if (hdr_end == NULL)
      return sf_error_make(err, EINVAL, "multipart part without header terminator");
    if (n == max)
      return sf_error_make(err, E2BIG, "too many multipart parts (max %d)", max);
    sf_mp_part *part = &parts[n];
    memset(part, 0, sizeof(*part));
    for (const char *line = p; line < hdr_end;) {
      const char *eol = memfind(line, (size_t)(hdr_end + 2 - line), "\r\n", 2);
      size_t ll = (size_t)(eol - line);
      if (ll > 20 && strncasecmp(line, "Content-Disposition:", 20) == 0) {
        param(line + 20, ll - 20, "name", part->name, sizeof(part->name));
        param(line + 20, ll - 20, "filename", part->filename, sizeof(part->filename));
      }
      line = eol + 2;
    }
    const char *data = hdr_end + 4;
    char next[214];
    int nl = snprintf(next, sizeof(next), "\r\n%s", delim);
    const char *stop = memfind(data, (size_t)(end - data), next, (size_t)nl);
    if (stop == NULL)
      return sf_error_make(err, EINVAL, "multipart part not terminated by the boundary");
    part->data = data;
    part->len = (size_t)(stop - data);
    n++;
    p = stop + 2;
  }
}
