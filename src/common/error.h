/* Sandforge error convention (modelled on crun's libcrun_error_t).
 *
 * A function that can fail returns a negative int (or NULL) and fills
 * `*err` with the errno it saw and a message.  Callers that add context use
 * sf_error_wrap() and pass the same error up; whoever handles the error
 * reports it and calls sf_error_release().  `*err` must be NULL on entry. */
#ifndef SF_COMMON_ERROR_H
#define SF_COMMON_ERROR_H

#include <stdarg.h>

struct sf_error_s {
  int status; /* errno value, 0 when the failure has no errno */
  char *msg;  /* heap-allocated, human readable, never contains secrets */
};
typedef struct sf_error_s *sf_error_t;

/* Fill *err (if err != NULL and *err == NULL) and return -1 (or -status when
 * that is more useful to the caller, see sf_error_code). */
int sf_error_make(sf_error_t *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like sf_error_make, appending ": strerror(errno)" for the current errno. */
int sf_error_sys(sf_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefix the existing message with context ("creating sandbox x: ...").
 * Returns -1 so that `return sf_error_wrap(err, "...")` reads naturally. */
int sf_error_wrap(sf_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* errno stored in the error (0 when none or err is NULL). */
int sf_error_code(const sf_error_t *err);

/* Message of the error ("" when none). */
const char *sf_error_msg(const sf_error_t *err);

/* Free the error and set *err to NULL.  Safe on NULL / empty errors. */
void sf_error_release(sf_error_t *err);

#endif
