/* Small helpers shared by the CLI's commands (cli_util.c). */
#ifndef SF_CLI_CLI_UTIL_H
#define SF_CLI_CLI_UTIL_H

#include <jansson.h>
#include <stddef.h>

/* Append `s` to the NUL-terminated `buf`, percent-encoding everything but
 * RFC 3986 unreserved characters.  -1 when it does not fit. */
int sf_cli_append_escaped(char *buf, size_t cap, const char *s);
/* Append "?key=value" or "&key=value" (value escaped); no-op when value is
 * NULL.  -1 (and a message) when the query does not fit. */
int sf_cli_query_add(char *buf, size_t cap, const char *key, const char *value);
/* TIME as the API wants it: RFC 3339, or a duration ("2h") meaning that long
 * ago.  -1 (and a message) otherwise. */
int sf_cli_time_arg(const char *arg, char *out, size_t len);
/* s, or "" when s is NULL. */
const char *sf_cli_or(const char *s);
/* A member for printing (strings, integers, yes/no); `dflt` when missing. */
const char *sf_cli_str(json_t *obj, const char *key, const char *dflt);
/* Print `rows` (array of arrays of strings) under `head` as aligned columns. */
void sf_cli_table(const char *const *head, size_t ncols, json_t *rows);
/* Print `j` indented and release it; 1 when j is NULL (the error was printed). */
int sf_cli_print_json(json_t *j);

/* Append `n` bytes to a growable NUL-terminated buffer; -1 when out of memory. */
int sf_cli_buf_append(char **buf, size_t *len, const char *data, size_t n);

#endif
