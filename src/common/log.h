/* Structured logging: one JSON object per line on stderr
 * ({"ts":"…","level":"info","msg":"…", …fields}).  Thread-safe; every line is
 * written with a single write(2).  Never pass secrets in fields. */
#ifndef SF_COMMON_LOG_H
#define SF_COMMON_LOG_H

#include <jansson.h>

typedef enum { SF_LOG_DEBUG, SF_LOG_INFO, SF_LOG_WARN, SF_LOG_ERROR } sf_log_level;

/* Lines below `level` are dropped.  Default SF_LOG_INFO (env SANDFORGE_LOG_LEVEL). */
void sf_log_set_level(sf_log_level level);

/* Emit `msg` with the key/values of `fields` (may be NULL; the reference is stolen). */
void sf_log_fields(sf_log_level level, const char *msg, json_t *fields);

/* printf-style convenience without fields. */
void sf_log(sf_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define sf_log_info(...) sf_log(SF_LOG_INFO, __VA_ARGS__)
#define sf_log_warn(...) sf_log(SF_LOG_WARN, __VA_ARGS__)
#define sf_log_error(...) sf_log(SF_LOG_ERROR, __VA_ARGS__)
#define sf_log_debug(...) sf_log(SF_LOG_DEBUG, __VA_ARGS__)

#endif
