/* Webhook delivery, as the supervisor sees it (contract: docs/webhooks.md,
 * ../shared/spec/webhooks.md).
 *
 * Wiring, in the supervisor's start-up order:
 *   settings = sf_webhook_settings_new();
 *   config loader → sf_webhook_settings_ini() for `[webhooks]` and
 *                   `[webhook "name"]` sections (errors name the key; the loader adds file:line)
 *   sf_webhook_settings_env(settings, environ)      SANDFORGE_WEBHOOK[S]_* variables
 *   sf_webhook_settings_add_flag_endpoint(...)      --webhook-url/--webhook-secret/--webhook-events
 *   sf_webhooks_start(store, settings, &wh)          migrates its tables, registers the store's
 *                                                   event hook (delivery rows in the same
 *                                                   transaction) and commit hook, starts the
 *                                                   dispatcher thread (libcurl multi)
 *   sf_webhooks_register_routes(wh, http)           /v1/webhooks… management routes
 *   …
 *   sf_webhooks_stop(wh)                            on shutdown (pending work stays in the store)
 */
#ifndef SF_WEBHOOK_WEBHOOK_H
#define SF_WEBHOOK_WEBHOOK_H

#include <stdio.h>

#include "common/error.h"
#include "store/store.h"

struct sf_http_server;
typedef struct sf_webhooks sf_webhooks;
typedef struct sf_webhook_settings sf_webhook_settings;

sf_webhook_settings *sf_webhook_settings_new(void);
void sf_webhook_settings_free(sf_webhook_settings *s);

/* One key of an INI section.  `section` is "webhooks" (global delivery
 * settings) or "webhook" with `subsection` = the endpoint name.  Returns 0,
 * 1 when the section is not ours (caller reports unknown section), or -1 +
 * err (unknown key, bad value, unknown event name). */
int sf_webhook_settings_ini(sf_webhook_settings *s, const char *section, const char *subsection,
                            const char *key, const char *value, sf_error_t *err);

/* Read SANDFORGE_WEBHOOK_{URL,SECRET,EVENTS}, SANDFORGE_WEBHOOK_<N>_{URL,SECRET,EVENTS,FORMAT}
 * and SANDFORGE_WEBHOOKS_<KEY> from `envp`. */
int sf_webhook_settings_env(sf_webhook_settings *s, char **envp, sf_error_t *err);

/* The endpoint given by command-line flags (events may be NULL = all). */
int sf_webhook_settings_add_flag_endpoint(sf_webhook_settings *s, const char *url,
                                          const char *secret, const char *events, sf_error_t *err);

/* Start delivery (see top).  `settings` is copied. */
int sf_webhooks_start(sf_store *st, const sf_webhook_settings *settings, sf_webhooks **out,
                      sf_error_t *err);
/* Stop the dispatcher thread and free; undelivered work stays in the store. */
void sf_webhooks_stop(sf_webhooks *wh);

/* Add the management routes of webhooks.md §8 (not /v1/events: the API owns that). */
int sf_webhooks_register_routes(sf_webhooks *wh, struct sf_http_server *http, sf_error_t *err);

/* Append Prometheus text (deliveries by outcome, attempt latency histogram,
 * queue depth, endpoints failing/disabled) to `out`. */
void sf_webhooks_write_metrics(sf_webhooks *wh, FILE *out);

#endif
