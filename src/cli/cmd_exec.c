/* `sandforge exec ID [--timeout S] [--cwd D] [--env K=V] -- CMD...`: streams
 * stdout/stderr live from the execd SSE stream and exits with the command's
 * status. */
#include "cli/cli.h"
#include "cli/cli_util.h"
#include "cli/client.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  char *buf;
  size_t len;
  int exit_code;
  bool done;
} sse_state;

static void handle_event(sse_state *s, const char *line)
{
  json_t *e = json_loads(line, 0, NULL);
  const char *type = json_string_value(json_object_get(e, "type"));
  const char *text = json_string_value(json_object_get(e, "text"));
  if (type && text && (strcmp(type, "stdout") == 0 || strcmp(type, "stderr") == 0)) {
    FILE *f = type[3] == 'o' ? stdout : stderr;
    fputs(strcmp(text, "\n") == 0 ? "" : text, f);
    fputc('\n', f);
    fflush(f);
  } else if (type && strcmp(type, "execution_complete") == 0) {
    s->exit_code = 0;
    s->done = true;
  } else if (type && strcmp(type, "error") == 0) {
    const char *v = json_string_value(json_object_get(json_object_get(e, "error"), "evalue"));
    char *end = NULL;
    long code = v ? strtol(v, &end, 10) : 1;
    s->exit_code = (v && end && *end == '\0') ? (int)code : 1;
    if (!(v && end && *end == '\0'))
      fprintf(stderr, "sandforge: %s\n", v ? v : "command failed");
    s->done = true;
  }
  json_decref(e);
}

static size_t on_data(char *data, size_t size, size_t n, void *ud)
{
  sse_state *s = ud;
  size_t add = size * n;
  if (sf_cli_buf_append(&s->buf, &s->len, data, add) < 0)
    return 0;
  char *start = s->buf, *sep;
  while ((sep = strstr(start, "\n\n")) != NULL) {
    *sep = '\0';
    if (*start == '{')
      handle_event(s, start);
    start = sep + 2;
  }
  s->len = strlen(start);
  memmove(s->buf, start, s->len + 1);
  return add;
}

static void exec_usage(void)
{
  fprintf(stderr, "usage: sandforge exec ID [--timeout SECONDS] [--cwd DIR] [--env K=V]... -- "
                  "CMD [ARGS...]\n");
}

/* Options may stand before or after the ID ("+": stop at the first other
 * word, so nothing of CMD is ever taken for an option).  1 = done (help),
 * 2 = usage error, 0 = go on. */
static int exec_options(int argc, char **argv, json_t *req, json_t *env)
{
  static const struct option opts[] = {{"timeout", required_argument, NULL, 't'},
                                       {"cwd", required_argument, NULL, 'c'},
                                       {"env", required_argument, NULL, 'e'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
    char *end = NULL;
    double secs = c == 't' ? strtod(optarg, &end) : 0;
    if (c == 't' && end != optarg && *end == '\0' && secs > 0)
      json_object_set_new(req, "timeout", json_integer((json_int_t)(secs * 1000)));
    else if (c == 'c')
      json_object_set_new(req, "cwd", json_string(optarg));
    else if (c == 'e' && strchr(optarg, '=')) {
      char *k = strndup(optarg, (size_t)(strchr(optarg, '=') - optarg));
      json_object_set_new(env, k, json_string(strchr(optarg, '=') + 1));
      free(k);
    } else {
      if (c == 't')
        fprintf(stderr, "sandforge exec: --timeout wants seconds > 0, got '%s'\n", optarg);
      exec_usage();
      return c == 'h' ? 1 : 2;
    }
  }
  return 0;
}

int cli_exec(int argc, char **argv)
{
  json_t *req = json_object(), *env = json_object();
  optind = 1;
  int opt = exec_options(argc, argv, req, env);
  const char *id =
      opt == 0 && optind < argc && strcmp(argv[optind], "--") != 0 ? argv[optind++] : NULL;
  if (id && optind < argc && argv[optind][0] == '-' && strcmp(argv[optind], "--") != 0)
    opt = exec_options(argc, argv, req, env); /* options after the ID */
  if (optind < argc && strcmp(argv[optind], "--") == 0)
    optind++;
  if (opt != 0 || id == NULL || optind >= argc) {
    if (opt == 0)
      exec_usage();
    json_decref(req);
    json_decref(env);
    return opt == 1 ? 0 : 2;
  }
  /* Quote each argument for `bash -c` so the command runs as given. */
  size_t cap = 1;
  for (int i = optind; i < argc; i++)
    cap += strlen(argv[i]) * 4 + 3;
  char *cmd = calloc(cap, 1), *p = cmd;
  for (int i = optind; i < argc; i++) {
    if (i > optind)
      *p++ = ' ';
    *p++ = '\'';
    for (const char *a = argv[i]; *a; a++) {
      if (*a == '\'') {
        memcpy(p, "'\\''", 4);
        p += 4;
      } else {
        *p++ = *a;
      }
    }
    *p++ = '\'';
  }
  json_object_set_new(req, "command", json_string(cmd));
  json_object_set_new(req, "envs", env);
  free(cmd);
  char *base = NULL, *token = NULL;
  if (sf_client_execd(id, &base, &token) < 0) {
    json_decref(req);
    return 1;
  }
  char url[1024];
  snprintf(url, sizeof(url), "%s/command", base);
  char *body = json_dumps(req, JSON_COMPACT);
  char *headers[] = {token, "Accept: text/event-stream", NULL};
  sse_state s = {.exit_code = 1};
  long status = 0;
  int rc = sf_client_stream("POST", url, body, headers, on_data, &s, &status);
  if (rc == 0 && status != 200) {
    sf_resp r = {.status = status, .body = s.buf, .len = s.len};
    sf_client_print_error(&r);
  } else if (rc == 0 && !s.done) {
    fprintf(stderr, "sandforge: the command stream ended early\n");
  }
  free(s.buf);
  free(body);
  free(base);
  free(token);
  json_decref(req);
  return rc < 0 || status != 200 ? 1 : s.exit_code;
}
