/* Shared between cmd_webhook.c and cmd_webhook_deliveries.c. */
#ifndef SF_CLI_CMD_WEBHOOK_H
#define SF_CLI_CMD_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>

/* "/v1/webhooks/ID[/deliveries/DID]SUFFIX" with both ids escaped.  -1 (and
 * a message) when it does not fit. */
int sf_cli_webhook_path(char *buf, size_t cap, const char *id, const char *did, const char *suffix);
/* cmd_webhook_deliveries.c */
int sf_cli_webhook_deliveries(int argc, char **argv, bool as_json);
int sf_cli_webhook_redeliver(int argc, char **argv, bool as_json);
int sf_cli_webhook_recover(int argc, char **argv, bool as_json);

#endif
