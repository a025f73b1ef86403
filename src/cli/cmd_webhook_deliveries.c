/* `sandforge webhook deliveries ID [--status S] [--limit N]`,
 * `deliveries ID DELIVERY_ID`, `redeliver ID DELIVERY_ID` and
 * `recover ID --since TIME`: the dead-letter side of the management API
 * (webhooks.md §8).  Dispatched from cmd_webhook.c. */
#include "cli/cli_util.h"
#include "cli/client.h"
#include "cli/cmd_webhook.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage_error(const char *msg)
{
  fprintf(stderr,
          "sandforge webhook: %s\n"
          "usage: sandforge webhook deliveries ID [--status pending|succeeded|failed] [--limit N] "
          "[--json]\n"
          "       sandforge webhook deliveries ID DELIVERY_ID [--json]\n"
          "       sandforge webhook redeliver ID DELIVERY_ID [--json]\n"
          "       sandforge webhook recover ID --since TIME [--json]\n",
          msg);
  return 2;
}

/* "HTTP 500", "HTTP 200: receiver answered errcode …" (WeCom/Feishu), the
 * transport error (shortened), or "-". */
static void outcome(json_t *o, const char *status_key, const char *error_key, char *buf, size_t len)
{
  const char *status = sf_cli_str(o, status_key, NULL), *error = sf_cli_str(o, error_key, NULL);
  if (status && error)
    snprintf(buf, len, "HTTP %s: %.50s%s", status, error, strlen(error) > 50 ? "..." : "");
  else if (status)
    snprintf(buf, len, "HTTP %s", status);
  else if (error)
    snprintf(buf, len, "%.60s%s", error, strlen(error) > 60 ? "..." : "");
  else
    snprintf(buf, len, "-");
}

static int list(const char *id, const char *status, long limit, bool as_json)
{
  json_t *all = json_array(), *next = json_null();
  char cursor[1024] = "";
  int rc = 0;
  for (;;) {
    char path[2048], page[24];
    snprintf(page, sizeof(page), "%ld", limit > 0 ? limit - (long)json_array_size(all) : 0);
    if (sf_cli_webhook_path(path, sizeof(path), id, NULL, "/deliveries") < 0 ||
        sf_cli_query_add(path, sizeof(path), "status", status) < 0 ||
        sf_cli_query_add(path, sizeof(path), "limit", limit > 0 ? page : NULL) < 0 ||
        sf_cli_query_add(path, sizeof(path), "cursor", *cursor ? cursor : NULL) < 0) {
      rc = 1;
      break;
    }
    json_t *j = sf_client_json("GET", path, NULL);
    if (j == NULL) {
      rc = 1;
      break;
    }
    json_t *items = json_object_get(j, "items");
    size_t i;
    json_t *d;
    json_array_foreach(items, i, d)
    {
      if (limit <= 0 || (long)json_array_size(all) < limit)
        json_array_append(all, d);
    }
    json_decref(next);
    next = json_incref(json_object_get(j, "nextCursor"));
    if (next == NULL)
      next = json_null();
    const char *n = sf_cli_str(j, "nextCursor", NULL);
    /* Stop at the end, at the limit, or if the server hands back the same cursor. */
    bool more = n && *n && json_array_size(items) > 0 && strcmp(n, cursor) != 0 &&
                strlen(n) < sizeof(cursor) && (limit <= 0 || (long)json_array_size(all) < limit);
    if (more)
      snprintf(cursor, sizeof(cursor), "%s", n);
    json_decref(j);
    if (!more)
      break;
  }
  if (rc == 0 && as_json) {
    sf_cli_print_json(json_pack("{s:O,s:O}", "items", all, "nextCursor", next));
  } else if (rc == 0) {
    static const char *const head[] = {"ID",       "EVENT", "SANDBOX",      "STATUS",
                                       "ATTEMPTS", "LAST",  "NEXT ATTEMPT", "CREATED"};
    json_t *rows = json_array(), *d;
    size_t i;
    json_array_foreach(all, i, d)
    {
      char last[80];
      outcome(d, "lastHttpStatus", "lastError", last, sizeof(last));
      json_array_append_new(
          rows, json_pack("[ssssssss]", sf_cli_str(d, "id", "?"), sf_cli_str(d, "event", "-"),
                          sf_cli_str(d, "sandboxId", "-"), sf_cli_str(d, "status", "-"),
                          sf_cli_str(d, "attempts", "-"), last, sf_cli_str(d, "nextAttemptAt", "-"),
                          sf_cli_str(d, "createdAt", "-")));
    }
    sf_cli_table(head, 8, rows);
    json_decref(rows);
  }
  json_decref(all);
  json_decref(next);
  return rc;
}

static int show(const char *id, const char *did, bool as_json)
{
  char path[1024];
  if (sf_cli_webhook_path(path, sizeof(path), id, did, "") < 0)
    return 1;
  json_t *d = sf_client_json("GET", path, NULL);
  if (d == NULL || as_json)
    return sf_cli_print_json(d);
  printf("id:            %s\n", sf_cli_str(d, "id", "?"));
  printf("webhook:       %s\n", sf_cli_str(d, "endpointId", "-"));
  printf("event:         %s %s\n", sf_cli_str(d, "event", "-"), sf_cli_str(d, "eventId", "-"));
  printf("sandbox:       %s\n", sf_cli_str(d, "sandboxId", "-"));
  printf("status:        %s after %s attempt(s)\n", sf_cli_str(d, "status", "-"),
         sf_cli_str(d, "attempts", "?"));
  printf("next attempt:  %s\n", sf_cli_str(d, "nextAttemptAt", "-"));
  printf("created:       %s\n", sf_cli_str(d, "createdAt", "-"));
  char *payload = json_dumps(json_object_get(d, "payload"), JSON_COMPACT);
  printf("payload:       %s\n\n", payload ? payload : "-");
  free(payload);
  static const char *const head[] = {"ATTEMPT", "TIME", "RESULT", "DURATION", "RESPONSE"};
  json_t *rows = json_array(), *a;
  size_t i;
  json_array_foreach(json_object_get(d, "attemptLog"), i, a)
  {
    char result[80], ms[32], resp[84];
    outcome(a, "httpStatus", "error", result, sizeof(result));
    snprintf(ms, sizeof(ms), "%s ms", sf_cli_str(a, "durationMs", "?"));
    const char *r = sf_cli_str(a, "response", "");
    size_t n = strcspn(r, "\r\n");
    snprintf(resp, sizeof(resp), "%.*s%s", (int)(n > 60 ? 60 : n), r,
             r[n > 60 ? 60 : n] ? "..." : "");
    json_array_append_new(rows, json_pack("[sssss]", sf_cli_str(a, "attempt", "?"),
                                          sf_cli_str(a, "timestamp", "-"), result, ms, resp));
  }
  sf_cli_table(head, 5, rows);
  json_decref(rows);
  json_decref(d);
  return 0;
}

int sf_cli_webhook_deliveries(int argc, char **argv, bool as_json)
{
  static const struct option opts[] = {{"status", required_argument, NULL, 's'},
                                       {"limit", required_argument, NULL, 'l'},
                                       {NULL, 0, NULL, 0}};
  const char *status = NULL;
  long limit = 0;
  int c;
  optind = 0;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (c == 's' && (strcmp(optarg, "pending") == 0 || strcmp(optarg, "succeeded") == 0 ||
                     strcmp(optarg, "failed") == 0)) {
      status = optarg;
    } else if (c == 'l') {
      char *end = NULL;
      limit = strtol(optarg, &end, 10);
      if (end == optarg || *end || limit <= 0)
        return usage_error("--limit must be a positive number");
    } else {
      return usage_error(c == 's' ? "--status must be pending, succeeded or failed"
                                  : "unknown option");
    }
  }
  if (optind + 1 == argc)
    return list(argv[optind], status, limit, as_json);
  if (optind + 2 == argc && status == NULL && limit == 0)
    return show(argv[optind], argv[optind + 1], as_json);
  return usage_error(optind + 2 == argc ? "--status and --limit apply to the list only"
                                        : "expected ID [DELIVERY_ID]");
}

int sf_cli_webhook_redeliver(int argc, char **argv, bool as_json)
{
  char path[1024];
  if (argc != 3 || argv[1][0] == '-' || argv[2][0] == '-')
    return usage_error("redeliver takes a webhook ID and a DELIVERY_ID");
  if (sf_cli_webhook_path(path, sizeof(path), argv[1], argv[2], "/redeliver") < 0)
    return 1;
  json_t *d = sf_client_json("POST", path, NULL);
  if (d == NULL || as_json)
    return sf_cli_print_json(d);
  json_t *attempts = json_object_get(d, "attempts");
  printf("%s: %s, attempt %" JSON_INTEGER_FORMAT " due %s\n", sf_cli_str(d, "id", argv[2]),
         sf_cli_str(d, "status", "?"), json_integer_value(attempts) + 1,
         sf_cli_str(d, "nextAttemptAt", "now"));
  json_decref(d);
  return 0;
}

int sf_cli_webhook_recover(int argc, char **argv, bool as_json)
{
  static const struct option opts[] = {{"since", required_argument, NULL, 's'}, {NULL, 0, NULL, 0}};
  char since[64] = "";
  int c;
  optind = 0;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (c != 's')
      return usage_error("unknown option");
    if (sf_cli_time_arg(optarg, since, sizeof(since)) < 0)
      return 2;
  }
  if (optind + 1 != argc || !*since)
    return usage_error("recover takes a webhook ID and --since TIME");
  char path[1024];
  if (sf_cli_webhook_path(path, sizeof(path), argv[optind], NULL, "/recover") < 0)
    return 1;
  json_t *body = json_pack("{s:s}", "since", since);
  json_t *r = sf_client_json("POST", path, body);
  json_decref(body);
  if (r == NULL || as_json)
    return sf_cli_print_json(r);
  printf("recovered %s deliveries since %s\n", sf_cli_str(r, "recovered", "?"), since);
  json_decref(r);
  return 0;
}
