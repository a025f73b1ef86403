/* Small helpers shared by the CLI's commands: URL escaping, query strings,
 * "since" times, printing JSON members, tables. */
#include "cli/cli_util.h"
#include "common/util.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Append `s` to the NUL-terminated `buf`, percent-encoding everything but
 * RFC 3986 unreserved characters (ids and times go into paths and queries:
 * a '+' in a UTC offset would otherwise arrive as a space).  -1 when it
 * does not fit. */
int sf_cli_append_escaped(char *buf, size_t cap, const char *s)
{
  static const char hex[] = "0123456789ABCDEF";
  size_t n = strlen(buf);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 strchr("-._~", *p) != NULL;
    if (n + (plain ? 1 : 3) >= cap)
      return -1;
    if (plain) {
      buf[n++] = (char)*p;
    } else {
      buf[n++] = '%';
      buf[n++] = hex[*p >> 4];
      buf[n++] = hex[*p & 15];
    }
  }
  buf[n] = '\0';
  return 0;
}

/* Append "?key=value" or "&key=value" (value escaped); no-op when value is
 * NULL.  -1 (and a message) when the query does not fit. */
int sf_cli_query_add(char *buf, size_t cap, const char *key, const char *value)
{
  if (value == NULL)
    return 0;
  size_t n = strlen(buf);
  if (snprintf(buf + n, cap - n, "%c%s=", strchr(buf, '?') ? '&' : '?', key) >= (int)(cap - n) ||
      sf_cli_append_escaped(buf, cap, value) < 0) {
    fprintf(stderr, "sandforge: --%s value is too long\n", key);
    return -1;
  }
  return 0;
}

/* TIME as the API wants it: an RFC 3339 time, or a duration ("2h", "30m",
 * "90s", bare seconds) meaning that long ago.  -1 (and a message) otherwise. */
int sf_cli_time_arg(const char *arg, char *out, size_t len)
{
  int64_t ms;
  sf_error_t err = NULL;
  if (sf_parse_rfc3339(arg, &ms) == 0) {
    sf_format_rfc3339_ms(ms, out, len);
    return 0;
  }
  if (sf_parse_duration_ms(arg, &ms, &err) == 0) {
    sf_format_rfc3339_ms(sf_now_ms() - ms, out, len);
    return 0;
  }
  sf_error_release(&err);
  fprintf(stderr, "sandforge: '%s' is neither an RFC 3339 time nor a duration such as 2h\n", arg);
  return -1;
}

/* s, or "" when s is NULL. */
const char *sf_cli_or(const char *s)
{
  return s ? s : "";
}

/* A member for printing: strings as they are, booleans as yes/no, integers
 * formatted into one of four rotating static buffers (so up to four may be
 * used in one printf), `dflt` when it is missing or null. */
const char *sf_cli_str(json_t *obj, const char *key, const char *dflt)
{
  static char num[4][32];
  static int slot;
  json_t *v = json_object_get(obj, key);
  if (json_is_string(v))
    return json_string_value(v);
  if (json_is_integer(v)) {
    slot = (slot + 1) % 4;
    snprintf(num[slot], sizeof(num[slot]), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return num[slot];
  }
  if (json_is_boolean(v))
    return json_is_true(v) ? "yes" : "no";
  return dflt;
}

static void print_cell(const char *s, size_t width, bool last)
{
  if (last)
    printf("%s\n", s);
  else
    printf("%-*s  ", (int)width, s);
}

/* Print `rows` (an array of arrays of strings) under `head` (at most 16
 * columns), each column as wide as its widest cell; the last is not padded. */
void sf_cli_table(const char *const *head, size_t ncols, json_t *rows)
{
  size_t w[16] = {0}, i;
  json_t *row;
  if (ncols > 16)
    ncols = 16;
  for (size_t c = 0; c < ncols; c++)
    w[c] = strlen(head[c]);
  json_array_foreach(rows, i, row)
  {
    for (size_t c = 0; c < ncols; c++) {
      size_t l = strlen(sf_cli_or(json_string_value(json_array_get(row, c))));
      w[c] = l > w[c] ? l : w[c];
    }
  }
  for (size_t c = 0; c < ncols; c++)
    print_cell(head[c], w[c], c + 1 == ncols);
  json_array_foreach(rows, i, row)
  {
    for (size_t c = 0; c < ncols; c++)
      print_cell(sf_cli_or(json_string_value(json_array_get(row, c))), w[c], c + 1 == ncols);
  }
}

/* Print `j` indented and release it; 1 when j is NULL (the error was printed). */
int sf_cli_print_json(json_t *j)
{
  if (j == NULL)
    return 1;
  char *s = json_dumps(j, JSON_INDENT(2));
  printf("%s\n", s ? s : "null");
  free(s);
  json_decref(j);
  return 0;
}

int sf_cli_buf_append(char **buf, size_t *len, const char *data, size_t n)
{
  char *nb = realloc(*buf, *len + n + 1);
  if (nb == NULL)
    return -1;
  memcpy(nb + *len, data, n);
  *len += n;
  nb[*len] = '\0';
  *buf = nb;
  return 0;
}
