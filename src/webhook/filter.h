/* Event catalog and subscription filters (webhooks.md §1): exact names,
 * "prefix.*", "*"; an empty filter means all; unknown names are errors. */
#ifndef SF_WEBHOOK_FILTER_H
#define SF_WEBHOOK_FILTER_H

#include <stdbool.h>

#include "common/error.h"

/* NULL-terminated list of every event name Sandforge emits. */
const char *const *sf_event_catalog(void);
bool sf_event_known(const char *name);

/* Parse "sandbox.*, task.timeout" into a NULL-terminated list of patterns.
 * Fails (EINVAL) on an unknown name or a prefix that matches nothing. */
int sf_filter_parse(const char *spec, char ***out, sf_error_t *err);
/* Does `event` match the patterns (NULL or empty list = everything)? */
bool sf_filter_match(char *const *patterns, const char *event);

#endif
