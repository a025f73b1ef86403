/* multipart/form-data parser over a complete body (hostile input: every
 * length is checked, malformed input is an error, never a crash). */
#ifndef SF_API_MULTIPART_H
#define SF_API_MULTIPART_H

#include <stddef.h>

#include "common/error.h"

typedef struct {
  char name[128];
  char filename[256];
  const char *data; /* points into the body */
  size_t len;
} sf_mp_part;

/* Parse `body` with the boundary from `content_type`.  Fills up to `max`
 * parts; returns how many, or -1 + err (EINVAL) on malformed input. */
int sf_multipart_parse(const char *content_type, const char *body, size_t len, sf_mp_part *parts,
                       int max, sf_error_t *err);

#endif
