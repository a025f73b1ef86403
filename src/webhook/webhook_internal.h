/* Shared between the webhook module's files. */
#ifndef SF_WEBHOOK_INTERNAL_H
#define SF_WEBHOOK_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "webhook/backoff.h"
#include "webhook/filter.h"
#include "webhook/signature.h"
#include "webhook/webhook.h"

typedef struct {
  char *id; /* "wh_op_<name>" for operator endpoints */
  char *name;
  char *url;
  char **secrets; /* active signing secrets, newest first */
  char **events;  /* filter patterns; empty = all */
  char **headers; /* extra "Name: value" */
  char *format;
  int64_t timeout_ms; /* 0 = global */
  bool disabled;
} sf_wh_endpoint;

struct sf_webhook_settings {
  sf_wh_endpoint *eps;
  size_t n;
  sf_backoff backoff;
  int64_t timeout_ms, connect_timeout_ms, retention_ms, disable_after_ms, rotation_overlap_ms;
  int max_in_flight, max_connections;
  bool allow_private_targets;
};

#endif
