/* `sandforge sandbox create|ls|get|pause|resume|renew|rm`. */
#include "cli/cli.h"
#include "cli/client.h"
#include "common/util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
  fprintf(out,
          "usage: sandforge sandbox COMMAND [--json]\n"
          "  create [--image IMG] [--timeout SECONDS] [--memory 512Mi] [--cpu 1] [--pids N]\n"
          "         [--metadata K=V]... [--env K=V]... [--idle-timeout SECONDS] [--auto-resume]\n"
          "  ls [--state STATE]...      get ID      pause ID      resume ID\n"
          "  renew ID SECONDS           rm ID\n");
}

static int kv_into(json_t *obj, const char *arg, const char *what)
{
  const char *eq = strchr(arg, '=');
  if (eq == NULL || eq == arg) {
    fprintf(stderr, "sandforge: %s must be KEY=VALUE, got '%s'\n", what, arg);
    return -1;
  }
  char *k = strndup(arg, (size_t)(eq - arg));
  json_object_set_new(obj, k, json_string(eq + 1));
  free(k);
  return 0;
}

static void print_table(json_t *items)
{
  printf("%-36s  %-9s  %-24s  %-24s  %s\n", "ID", "STATE", "CREATED", "EXPIRES", "METADATA");
  size_t i;
  json_t *s;
  json_array_foreach(items, i, s)
  {
    char *meta = json_dumps(json_object_get(s, "metadata"), JSON_COMPACT);
    const char *exp = json_string_value(json_object_get(s, "expiresAt"));
    printf("%-36s  %-9s  %-24s  %-24s  %s\n", json_string_value(json_object_get(s, "id")),
           json_string_value(json_object_get(json_object_get(s, "status"), "state")),
           json_string_value(json_object_get(s, "createdAt")), exp ? exp : "-", meta ? meta : "{}");
    free(meta);
  }
}

static int emit(json_t *j, bool as_json, bool table)
{
  if (j == NULL)
    return 1;
  if (as_json || !table) {
    char *s = json_dumps(j, JSON_INDENT(2));
    printf("%s\n", s);
    free(s);
  } else {
    print_table(json_object_get(j, "items"));
  }
  json_decref(j);
  return 0;
}

static int create(int argc, char **argv, bool as_json)
{
  static const struct option opts[] = {
      {"image", required_argument, NULL, 'i'},  {"timeout", required_argument, NULL, 't'},
      {"memory", required_argument, NULL, 'm'}, {"cpu", required_argument, NULL, 'c'},
      {"pids", required_argument, NULL, 'p'},   {"metadata", required_argument, NULL, 'M'},
      {"env", required_argument, NULL, 'e'},    {"idle-timeout", required_argument, NULL, 'I'},
      {"auto-resume", no_argument, NULL, 'a'},  {NULL, 0, NULL, 0}};
  json_t *meta = json_object(), *env = json_object(), *res = json_object(), *ext = json_object();
  const char *image = "host";
  json_t *timeout = json_null();
  int c, bad = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'i':
      image = optarg;
      break;
    case 't':
      json_decref(timeout);
      timeout = json_integer(strtoll(optarg, NULL, 10));
      break;
    case 'm':
      json_object_set_new(res, "memory", json_string(optarg));
      break;
    case 'c':
      json_object_set_new(res, "cpu", json_string(optarg));
      break;
    case 'p':
      json_object_set_new(ext, "pids", json_string(optarg));
      break;
    case 'M':
      bad |= kv_into(meta, optarg, "--metadata");
      break;
    case 'e':
      bad |= kv_into(env, optarg, "--env");
      break;
    case 'I':
      json_object_set_new(ext, "idleTimeout", json_string(optarg));
      break;
    case 'a':
      json_object_set_new(ext, "autoResume", json_string("true"));
      break;
    default:
      bad = 1;
    }
  }
  json_t *body =
      json_pack("{s:{s:s},s:o,s:o,s:o,s:o,s:o}", "image", "uri", image, "timeout", timeout,
                "metadata", meta, "env", env, "resourceLimits", res, "extensions", ext);
  if (bad) {
    json_decref(body);
    usage(stderr);
    return 2;
  }
  json_t *sb = sf_client_json("POST", "/v1/sandboxes", body);
  json_decref(body);
  if (sb == NULL)
    return 1;
  if (as_json)
    return emit(sb, true, false);
  printf("%s\n", json_string_value(json_object_get(sb, "id")));
  json_decref(sb);
  return 0;
}

int cli_sandbox(int argc, char **argv)
{
  bool as_json = sf_client_take_flag(&argc, argv, "--json");
  if (argc < 2 || strcmp(argv[1], "--help") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const char *cmd = argv[1];
  char path[512];
  if (strcmp(cmd, "create") == 0)
    return create(argc - 1, argv + 1, as_json);
  if (strcmp(cmd, "ls") == 0 || strcmp(cmd, "list") == 0) {
    char q[256] = "/v1/sandboxes?pageSize=200";
    for (int i = 2; i + 1 < argc; i++)
      if (strcmp(argv[i], "--state") == 0) {
        strncat(q, "&state=", sizeof(q) - strlen(q) - 1);
        strncat(q, argv[++i], sizeof(q) - strlen(q) - 1);
      }
    return emit(sf_client_json("GET", q, NULL), as_json, true);
  }
  if (argc < 3) {
    usage(stderr);
    return 2;
  }
  const char *id = argv[2];
  if (strcmp(cmd, "get") == 0) {
    snprintf(path, sizeof(path), "/v1/sandboxes/%s", id);
    return emit(sf_client_json("GET", path, NULL), true, false);
  }
  if (strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0) {
    snprintf(path, sizeof(path), "/v1/sandboxes/%s/%s", id, cmd);
    json_t *r = sf_client_json("POST", path, NULL);
    json_decref(r);
    return r ? 0 : 1;
  }
  if (strcmp(cmd, "rm") == 0 || strcmp(cmd, "delete") == 0) {
    snprintf(path, sizeof(path), "/v1/sandboxes/%s", id);
    json_t *r = sf_client_json("DELETE", path, NULL);
    json_decref(r);
    return r ? 0 : 1;
  }
  if (strcmp(cmd, "renew") == 0) {
    if (argc < 4) {
      usage(stderr);
      return 2;
    }
    char ts[40];
    sf_format_rfc3339_ms(sf_now_ms() + strtoll(argv[3], NULL, 10) * 1000, ts, sizeof(ts));
    snprintf(path, sizeof(path), "/v1/sandboxes/%s/renew-expiration", id);
    json_t *body = json_pack("{s:s}", "expiresAt", ts);
    json_t *r = sf_client_json("POST", path, body);
    json_decref(body);
    if (r == NULL)
      return 1;
    printf("%s\n", json_string_value(json_object_get(r, "expiresAt")));
    json_decref(r);
    return 0;
  }
  fprintf(stderr, "sandforge sandbox: unknown command '%s'\n", cmd);
  usage(stderr);
  return 2;
}
