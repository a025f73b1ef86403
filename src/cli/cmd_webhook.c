/* `sandforge webhook add|ls|show|rm|enable|disable|test|rotate|deliveries|
 * redeliver|recover`: a thin client of the webhook management API
 * (/v1/webhooks, webhooks.md §8).  Deliveries and recovery live in
 * cmd_webhook_deliveries.c. */
#include "cli/cli.h"
#include "cli/cli_util.h"
#include "cli/client.h"
#include "cli/cmd_webhook.h"
#include "common/util.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sf_cli_webhook_path(char *buf, size_t cap, const char *id, const char *did, const char *suffix)
{
  static const char mid[] = "/deliveries/";
  snprintf(buf, cap, "/v1/webhooks/");
  bool ok = sf_cli_append_escaped(buf, cap, id) == 0;
  if (ok && did) {
    ok = strlen(buf) + strlen(mid) < cap;
    if (ok) {
      strcat(buf, mid);
      ok = sf_cli_append_escaped(buf, cap, did) == 0;
    }
  }
  if (!ok || strlen(buf) + strlen(suffix) >= cap) {
    fprintf(stderr, "sandforge: the webhook or delivery id is too long\n");
    return -1;
  }
  strcat(buf, suffix);
  return 0;
}

/* ---- webhook commands ---- */

static void usage(FILE *out)
{
  fprintf(
      out,
      "usage: sandforge webhook COMMAND [--json]\n"
      "  add URL [--events LIST] [--secret S] [--format json|wecom|slack|feishu]\n"
      "      [--description D] [--header 'Name: value']... [--ordering none|per-sandbox]\n"
      "      [--disabled]\n"
      "  ls                       show ID                  rm ID\n"
      "  enable ID                disable ID               test ID\n"
      "  rotate ID [--secret S]\n"
      "  deliveries ID [--status pending|succeeded|failed] [--limit N]\n"
      "  deliveries ID DELIVERY_ID                         redeliver ID DELIVERY_ID\n"
      "  recover ID --since TIME  (TIME: RFC 3339, or a duration such as 2h = that long ago)\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "sandforge webhook: ");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  usage(stderr);
  return 2;
}

/* obj[key] = value; -1 (and a message) when value is not UTF-8, so that a
 * given secret is never silently dropped (and replaced by a generated one). */
static int set_text(json_t *obj, const char *key, const char *value)
{
  if (json_object_set_new(obj, key, json_string(value)) == 0)
    return 0;
  fprintf(stderr, "sandforge webhook: the %s must be UTF-8 text\n", key);
  return -1;
}

/* "sandbox.*, task.timeout" → ["sandbox.*", "task.timeout"]; "" → [] (all).
 * NULL (and a message) when a name is not UTF-8: dropping it could widen the
 * filter to every event. */
static json_t *split_events(const char *list)
{
  json_t *a = json_array();
  char *copy = strdup(list), *save = NULL;
  for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    while (*t == ' ' || *t == '\t')
      t++;
    size_t n = strlen(t);
    while (n && (t[n - 1] == ' ' || t[n - 1] == '\t'))
      t[--n] = '\0';
    if (n && json_array_append_new(a, json_string(t)) < 0) {
      fprintf(stderr, "sandforge webhook: --events must be UTF-8 text\n");
      json_decref(a);
      a = NULL;
      break;
    }
  }
  free(copy);
  return a;
}

/* "Name: value" into headers; -1 when there is no name, no colon, or the
 * text is not UTF-8. */
static int header_into(json_t *headers, const char *arg)
{
  const char *colon = strchr(arg, ':');
  if (colon == NULL || colon == arg)
    return -1;
  char *name = strndup(arg, (size_t)(colon - arg));
  size_t n = strlen(name);
  while (n && name[n - 1] == ' ')
    name[--n] = '\0';
  const char *value = colon + 1;
  while (*value == ' ' || *value == '\t')
    value++;
  /* json_object_set_new fails (and frees nothing twice) on non-UTF-8 text */
  int r = n && !strchr(name, ' ') && json_object_set_new(headers, name, json_string(value)) == 0
              ? 0
              : -1;
  free(name);
  return r;
}

static char *join_events(json_t *events)
{
  if (json_array_size(events) == 0)
    return strdup("*");
  size_t i, len = 1;
  json_t *e;
  json_array_foreach(events, i, e)
  {
    len += strlen(sf_cli_or(json_string_value(e))) + 1;
  }
  char *s = calloc(len, 1);
  json_array_foreach(events, i, e)
  {
    if (i)
      strcat(s, ",");
    strcat(s, sf_cli_or(json_string_value(e)));
  }
  return s;
}

static int add(int argc, char **argv, bool as_json)
{
  static const struct option opts[] = {
      {"events", required_argument, NULL, 'e'}, {"secret", required_argument, NULL, 's'},
      {"format", required_argument, NULL, 'f'}, {"description", required_argument, NULL, 'd'},
      {"header", required_argument, NULL, 'H'}, {"ordering", required_argument, NULL, 'o'},
      {"disabled", no_argument, NULL, 'D'},     {NULL, 0, NULL, 0}};
  json_t *body = json_object(), *headers = json_object();
  int c, bad = 0;
  optind = 0;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'e': {
      json_t *events = split_events(optarg);
      bad |= events == NULL;
      json_object_set_new(body, "events", events ? events : json_null());
      break;
    }
    case 's':
      bad |= set_text(body, "secret", optarg) < 0;
      break;
    case 'f':
      bad |= set_text(body, "format", optarg) < 0;
      break;
    case 'd':
      bad |= set_text(body, "description", optarg) < 0;
      break;
    case 'o':
      bad |= set_text(body, "ordering", optarg) < 0;
      break;
    case 'D':
      json_object_set_new(body, "enabled", json_false());
      break;
    case 'H':
      if (header_into(headers, optarg) < 0) {
        fprintf(stderr, "sandforge webhook: --header must be 'Name: value' (UTF-8), got '%s'\n",
                optarg);
        bad = 1;
      }
      break;
    default:
      bad = 1;
    }
  }
  if (!bad && optind + 1 != argc) {
    fprintf(stderr, "sandforge webhook add: %s\n", optind < argc ? "one URL only" : "URL missing");
    bad = 1;
  }
  if (bad) {
    json_decref(body);
    json_decref(headers);
    usage(stderr);
    return 2;
  }
  if (set_text(body, "url", argv[optind]) < 0) {
    json_decref(body);
    json_decref(headers);
    return 2;
  }
  if (json_object_size(headers))
    json_object_set(body, "headers", headers);
  json_decref(headers);
  json_t *wh = sf_client_json("POST", "/v1/webhooks", body);
  json_decref(body);
  if (wh == NULL || as_json)
    return sf_cli_print_json(wh);
  const char *secret = sf_cli_str(wh, "secret", NULL);
  printf("%s\n", sf_cli_str(wh, "id", "?"));
  if (secret) {
    printf("secret: %s\n", secret);
    fprintf(stderr, "sandforge: the secret is shown only this once: store it now\n");
  }
  json_decref(wh);
  return 0;
}

static int list(bool as_json)
{
  json_t *j = sf_client_json("GET", "/v1/webhooks", NULL);
  if (j == NULL || as_json)
    return sf_cli_print_json(j);
  static const char *const head[] = {"ID",      "SOURCE",  "URL",   "EVENTS",
                                     "ENABLED", "PENDING", "FAILED"};
  json_t *rows = json_array(), *w;
  size_t i;
  json_array_foreach(json_object_get(j, "items"), i, w)
  {
    char *events = join_events(json_object_get(w, "events"));
    json_t *stats = json_object_get(w, "stats");
    json_array_append_new(
        rows, json_pack("[sssssss]", sf_cli_str(w, "id", "?"), sf_cli_str(w, "source", "-"),
                        sf_cli_str(w, "url", "-"), events, sf_cli_str(w, "enabled", "-"),
                        sf_cli_str(stats, "pending", "-"), sf_cli_str(stats, "failed", "-")));
    free(events);
  }
  sf_cli_table(head, 7, rows);
  json_decref(rows);
  json_decref(j);
  return 0;
}

static int show(const char *id, bool as_json)
{
  char path[512];
  if (sf_cli_webhook_path(path, sizeof(path), id, NULL, "") < 0)
    return 1;
  json_t *w = sf_client_json("GET", path, NULL);
  if (w == NULL || as_json)
    return sf_cli_print_json(w);
  char *events = join_events(json_object_get(w, "events"));
  json_t *stats = json_object_get(w, "stats");
  printf("id:            %s\n", sf_cli_str(w, "id", "?"));
  const char *name = sf_cli_str(w, "name", NULL), *reason = sf_cli_str(w, "disabledReason", NULL);
  printf("source:        %s%s%s\n", sf_cli_str(w, "source", "-"), name ? " " : "", sf_cli_or(name));
  printf("url:           %s\n", sf_cli_str(w, "url", "-"));
  printf("events:        %s\n", events);
  printf("format:        %s\n", sf_cli_str(w, "format", "-"));
  printf("ordering:      %s\n", sf_cli_str(w, "ordering", "-"));
  printf("enabled:       %s%s%s%s\n", sf_cli_str(w, "enabled", "-"), reason ? " (" : "",
         sf_cli_or(reason), reason ? ")" : "");
  printf("failing since: %s\n", sf_cli_str(w, "failingSince", "-"));
  printf("secret:        %s\n", json_is_true(json_object_get(w, "hasSecret")) ? "set" : "none");
  printf("description:   %s\n", sf_cli_str(w, "description", ""));
  const char *header;
  json_t *v;
  json_object_foreach(json_object_get(w, "headers"), header, v)
  {
    printf("header:        %s: %s\n", header, sf_cli_or(json_string_value(v)));
  }
  printf("created:       %s\n", sf_cli_str(w, "createdAt", "-"));
  printf("deliveries:    %s pending, %s succeeded, %s failed\n", sf_cli_str(stats, "pending", "-"),
         sf_cli_str(stats, "succeeded", "-"), sf_cli_str(stats, "failed", "-"));
  free(events);
  json_decref(w);
  return 0;
}

/* rm, enable, disable: quiet on success unless --json. */
static int change(const char *cmd, const char *id, bool as_json)
{
  char path[512];
  if (sf_cli_webhook_path(path, sizeof(path), id, NULL, "") < 0)
    return 1;
  if (strcmp(cmd, "rm") == 0) {
    json_t *r = sf_client_json("DELETE", path, NULL);
    json_decref(r);
    return r ? 0 : 1;
  }
  json_t *body = json_pack("{s:b}", "enabled", strcmp(cmd, "enable") == 0);
  json_t *w = sf_client_json("PATCH", path, body);
  json_decref(body);
  if (w == NULL || as_json)
    return sf_cli_print_json(w);
  json_decref(w);
  return 0;
}

static int test(const char *id, bool as_json)
{
  char path[512];
  if (sf_cli_webhook_path(path, sizeof(path), id, NULL, "/test") < 0)
    return 1;
  json_t *r = sf_client_json("POST", path, NULL);
  if (r == NULL)
    return 1;
  bool ok = json_is_true(json_object_get(r, "success"));
  if (as_json) {
    sf_cli_print_json(r);
    return ok ? 0 : 1;
  }
  json_t *a = json_object_get(r, "attempt");
  const char *status = sf_cli_str(a, "httpStatus", NULL), *error = sf_cli_str(a, "error", NULL);
  const char *resp = sf_cli_str(a, "response", "");
  printf("webhook.test %s %s: %s%s%s%s in %s ms\n", sf_cli_str(r, "eventId", "?"),
         ok ? "delivered" : "FAILED", status ? "HTTP " : "", status ? status : "",
         status && error ? ", " : "", error ? error : "", sf_cli_str(a, "durationMs", "?"));
  size_t n = strcspn(resp, "\r\n");
  if (n > 200)
    n = 200;
  if (*resp)
    printf("response: %.*s%s\n", (int)n, resp, resp[n] ? " ..." : "");
  json_decref(r);
  return ok ? 0 : 1;
}

static int rotate(int argc, char **argv, bool as_json)
{
  static const struct option opts[] = {{"secret", required_argument, NULL, 's'},
                                       {NULL, 0, NULL, 0}};
  json_t *body = NULL;
  int c;
  optind = 0;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (body == NULL)
      body = json_object();
    if (c != 's' || set_text(body, "secret", optarg) < 0) {
      json_decref(body);
      if (c != 's')
        usage(stderr);
      return 2;
    }
  }
  if (optind + 1 != argc) {
    json_decref(body);
    return usage_error("rotate takes one webhook ID");
  }
  char path[512];
  if (sf_cli_webhook_path(path, sizeof(path), argv[optind], NULL, "/rotate-secret") < 0) {
    json_decref(body);
    return 1;
  }
  json_t *r = sf_client_json("POST", path, body);
  json_decref(body);
  if (r == NULL || as_json)
    return sf_cli_print_json(r);
  if (json_object_get(r, "secret")) /* generated: the only time it is shown */
    printf("secret: %s\n", sf_cli_str(r, "secret", "?"));
  printf("the previous secret keeps signing until %s\n",
         sf_cli_str(r, "previousSecretExpiresAt", "?"));
  json_decref(r);
  return 0;
}

int cli_webhook(int argc, char **argv)
{
  bool as_json = sf_client_take_flag(&argc, argv, "--json");
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const char *cmd = argv[1];
  for (int i = 2; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 0;
    }
  if (strcmp(cmd, "add") == 0)
    return add(argc - 1, argv + 1, as_json);
  if (strcmp(cmd, "rotate") == 0)
    return rotate(argc - 1, argv + 1, as_json);
  if (strcmp(cmd, "deliveries") == 0)
    return sf_cli_webhook_deliveries(argc - 1, argv + 1, as_json);
  if (strcmp(cmd, "redeliver") == 0)
    return sf_cli_webhook_redeliver(argc - 1, argv + 1, as_json);
  if (strcmp(cmd, "recover") == 0)
    return sf_cli_webhook_recover(argc - 1, argv + 1, as_json);
  if (strcmp(cmd, "ls") == 0 || strcmp(cmd, "list") == 0) {
    if (argc != 2)
      return usage_error("ls takes no arguments (got '%s')", argv[2]);
    return list(as_json);
  }
  static const char *const one_id[] = {"show", "rm", "enable", "disable", "test"};
  for (size_t i = 0; i < sizeof(one_id) / sizeof(one_id[0]); i++) {
    if (strcmp(cmd, one_id[i]) != 0)
      continue;
    if (argc != 3)
      return usage_error("%s takes one webhook ID", cmd);
    if (argv[2][0] == '-')
      return usage_error("unknown option '%s'", argv[2]);
    if (i == 0)
      return show(argv[2], as_json);
    if (i == 4)
      return test(argv[2], as_json);
    return change(cmd, argv[2], as_json);
  }
  return usage_error("unknown command '%s'", cmd);
}
