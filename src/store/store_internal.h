/* Shared between the store's files. */
#ifndef SF_STORE_INTERNAL_H
#define SF_STORE_INTERNAL_H

#include "store/store.h"

int sf_store_run_event_hooks(sf_store *st, const sf_event *ev, const char *payload,
                             sf_error_t *err);
/* sf_error_make with the connection's last message. */
int sf_store_db_error(sf_store *st, sf_error_t *err, const char *what);

#endif
