/* Small shared helpers: time, value parsing (sizes, CPU, durations),
 * randomness, whole-file I/O.  Parsers reject anything they do not fully
 * understand and say why in the error. */
#ifndef SF_COMMON_UTIL_H
#define SF_COMMON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

/* Wall clock, milliseconds since the Unix epoch. */
int64_t sf_now_ms(void);
/* Monotonic clock in milliseconds / microseconds (for timeouts and latencies). */
int64_t sf_mono_ms(void);
int64_t sf_mono_us(void);

/* "2026-11-22T10:00:00.123Z" (always UTC, milliseconds). */
void sf_format_rfc3339_ms(int64_t epoch_ms, char *buf, size_t len);
/* Parse RFC 3339 (Z or ±hh:mm offset, optional fraction).  -1 on error. */
int sf_parse_rfc3339(const char *s, int64_t *epoch_ms);

/* "512Mi", "2Gi", "1G", "100M", "64k", "1048576" → bytes.  Binary (Ki/Mi/Gi/Ti)
 * and decimal (k/K/M/G/T) suffixes as Kubernetes does. */
int sf_parse_size(const char *s, int64_t *bytes, sf_error_t *err);
/* "500m" → 500, "2" → 2000, "1.5" → 1500 (millicores). */
int sf_parse_cpu_millis(const char *s, int64_t *millis, sf_error_t *err);
/* "250ms", "10s", "5m", "2h", "5d", or a bare number of seconds → ms. */
/* A whole decimal number (optional sign, nothing else); -1 otherwise. */
int sf_parse_int64(const char *s, int64_t *out);
int sf_parse_duration_ms(const char *s, int64_t *ms, sf_error_t *err);

/* Fill buf with n bytes from the OS CSPRNG (OpenSSL RAND_bytes). */
int sf_random_bytes(void *buf, size_t n, sf_error_t *err);
/* Heap string of 2*nbytes lowercase hex chars from the CSPRNG; NULL on failure. */
char *sf_random_hex(size_t nbytes);
/* Generate "<prefix><hex>" ids (e.g. "evt_" + 16 hex). */
char *sf_new_id(const char *prefix, size_t nbytes);

/* write(2) until done, retrying EINTR.  -1 with errno on failure. */
int sf_write_all(int fd, const void *buf, size_t len);
/* Read a whole (small) file; *out is NUL-terminated.  -1 + err on failure. */
int sf_read_file(const char *path, char **out, size_t *len, sf_error_t *err);
int sf_read_file_at(int dirfd, const char *path, char **out, size_t *len, sf_error_t *err);
/* Write a string to an existing file (sysfs/cgroupfs/procfs style, no O_CREAT). */
int sf_write_file(const char *path, const char *data, sf_error_t *err);
int sf_write_file_at(int dirfd, const char *path, const char *data, sf_error_t *err);

/* mkdir -p with `mode` for every created component (existing ones are kept). */
int sf_mkdir_p(const char *path, mode_t mode, sf_error_t *err);

/* Compare two buffers in constant time (for API keys / tokens). */
bool sf_consttime_eq(const void *a, size_t alen, const void *b, size_t blen);

/* NULL-terminated string vectors. */
size_t sf_strv_len(char *const *v);
char **sf_strv_dup(char *const *v);
/* Append a copy of `s` (the list may be NULL); -1 when out of memory. */
int sf_strv_push(char ***v, const char *s);
void sf_strv_free(char **v);

#endif
