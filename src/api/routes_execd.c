/* execd command routes, served by the supervisor under
 * /sandboxes/{id}/execd/...: ping, POST /command (an SSE stream in execd's
 * exact format: one JSON object per event followed by a blank line, no
 * "data:" prefix), background commands with status and logs, interrupt. */
#include "api/api.h"
#include "api/execd_internal.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_CAP (1 << 20) /* output kept per background command */

/* ---- command registry (status/logs/interrupt) ---------------------------- */

typedef struct cmd {
  struct cmd *next;
  char id[33];
  char sandbox_id[65];
  char *command;
  sf_exec *ex;
  bool running, exited;
  int exit_code;
  char error[128];
  int64_t started_ms, finished_ms;
  char *log; /* merged stdout+stderr, at most LOG_CAP (oldest dropped) */
  size_t log_len;
  int64_t log_base; /* cursor of log[0] */
} cmd;

static pthread_mutex_t cmds_lock = PTHREAD_MUTEX_INITIALIZER;
static cmd *cmds;

static cmd *cmd_find(const char *sandbox_id, const char *id)
{
  for (cmd *c = cmds; c; c = c->next)
    if (strcmp(c->id, id) == 0 && strcmp(c->sandbox_id, sandbox_id) == 0)
      return c;
  return NULL;
}

static void cmd_log_append(cmd *c, const char *data, size_t n)
{
  pthread_mutex_lock(&cmds_lock);
  if (c->log == NULL)
    c->log = malloc(LOG_CAP);
  if (n > LOG_CAP) {
    data += n - LOG_CAP;
    c->log_base += (int64_t)(n - LOG_CAP);
    n = LOG_CAP;
  }
  if (c->log_len + n > LOG_CAP) {
    size_t drop = c->log_len + n - LOG_CAP;
    memmove(c->log, c->log + drop, c->log_len - drop);
    c->log_len -= drop;
    c->log_base += (int64_t)drop;
  }
  memcpy(c->log + c->log_len, data, n);
  c->log_len += n;
  pthread_mutex_unlock(&cmds_lock);
}

/* ---- event encoding --------------------------------------------------- */

static size_t put_event(char *buf, size_t max, json_t *ev)
{
  json_object_set_new(ev, "timestamp", json_integer(sf_now_ms()));
  char *s = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(ev);
  size_t n = s ? strlen(s) : 0;
  if (s == NULL || n + 2 > max) {
    free(s);
    return 0;
  }
  memcpy(buf, s, n);
  memcpy(buf + n, "\n\n", 2);
  free(s);
  return n + 2;
}

/* ---- streaming a foreground command ------------------------------------ */

typedef struct {
  sf_api_ctx *ctx;
  sf_sandbox_ref *ref;
  cmd *c;
  int out_fd, err_fd;
  char line[2][8192];
  size_t line_len[2];
  bool sent_init, finished, sent_final;
  int64_t last_ping_ms, limit_ms;
  char *pending; /* encoded events not yet handed to MHD */
  size_t pending_len, pending_off;
} stream_ctx;

static void queue(stream_ctx *s, json_t *ev)
{
  char buf[16384 + 512];
  size_t n = put_event(buf, sizeof(buf), ev);
  char *np = realloc(s->pending, s->pending_len + n);
  if (np == NULL)
    return;
  s->pending = np;
  memcpy(s->pending + s->pending_len, buf, n);
  s->pending_len += n;
}

static void emit_line(stream_ctx *s, int which, const char *text)
{
  queue(s, json_pack("{s:s,s:s}", "type", which == 0 ? "stdout" : "stderr", "text",
                     *text ? text : "\n"));
}

/* Split output into one event per line ("\r" also ends a line). */
static void feed(stream_ctx *s, int which, const char *data, size_t n)
{
  cmd_log_append(s->c, data, n);
  for (size_t i = 0; i < n; i++) {
    char ch = data[i];
    if (ch == '\n' || ch == '\r' || s->line_len[which] == sizeof(s->line[which]) - 1) {
      s->line[which][s->line_len[which]] = '\0';
      emit_line(s, which, s->line[which]);
      s->line_len[which] = 0;
      if (ch == '\n' || ch == '\r')
        continue;
    }
    s->line[which][s->line_len[which]++] = ch;
  }
}

/* Read what is there; at EOF stop polling the fd (a closed pipe would
 * otherwise make poll return at once, forever). */
static void drain(stream_ctx *s, int which, int *fd)
{
  char buf[8192];
  ssize_t n = -1;
  while (*fd >= 0 && (n = read(*fd, buf, sizeof(buf))) > 0)
    feed(s, which, buf, (size_t)n);
  if (*fd >= 0 && n == 0)
    *fd = -1;
}

static void finish(stream_ctx *s, const sf_exec_result *res)
{
  for (int w = 0; w < 2; w++)
    if (s->line_len[w] > 0) {
      s->line[w][s->line_len[w]] = '\0';
      emit_line(s, w, s->line[w]);
      s->line_len[w] = 0;
    }
  int64_t elapsed = sf_now_ms() - s->c->started_ms;
  int code = res->exited ? res->exit_code : 128 + res->signal;
  pthread_mutex_lock(&cmds_lock);
  s->c->running = false;
  s->c->exited = true;
  s->c->exit_code = code;
  s->c->finished_ms = sf_now_ms();
  if (res->timed_out)
    snprintf(s->c->error, sizeof(s->c->error), "timed out after %lld ms", (long long)s->limit_ms);
  pthread_mutex_unlock(&cmds_lock);
  if (res->timed_out) {
    sf_error_t err = NULL;
    json_t *data = json_pack("{s:s,s:f,s:f}", "command", s->c->command, "limit_seconds",
                             s->limit_ms / 1000.0, "cpu_consumed", res->cpu_usec / 1e6);
    if (sf_lifecycle_emit(s->ctx->lifecycle, "task.timeout", s->c->sandbox_id, data, &err) < 0)
      sf_log_warn("task.timeout event: %s", sf_error_msg(&err));
    sf_error_release(&err);
    json_decref(data);
  }
  char ev[32];
  snprintf(ev, sizeof(ev), "%d", code);
  if (code == 0)
    queue(s, json_pack("{s:s,s:I}", "type", "execution_complete", "execution_time",
                       (json_int_t)elapsed));
  else
    queue(s, json_pack("{s:s,s:{s:s,s:s,s:[]}}", "type", "error", "error", "ename",
                       "CommandExecError", "evalue", ev, "traceback"));
  s->finished = true;
}

static ssize_t stream_produce(void *ctx, char *buf, size_t max)
{
  stream_ctx *s = ctx;
  for (;;) {
    if (s->pending_off < s->pending_len) {
      size_t n = s->pending_len - s->pending_off;
      if (n > max)
        n = max;
      memcpy(buf, s->pending + s->pending_off, n);
      s->pending_off += n;
      if (s->pending_off == s->pending_len)
        s->pending_off = s->pending_len = 0;
      return (ssize_t)n;
    }
    if (s->finished)
      return 0;
    if (!s->sent_init) {
      s->sent_init = true;
      queue(s, json_pack("{s:s,s:s}", "type", "init", "text", s->c->id));
      continue;
    }
    struct pollfd p[3] = {
        {s->out_fd, POLLIN, 0}, {s->err_fd, POLLIN, 0}, {sf_exec_wait_fd(s->c->ex), POLLIN, 0}};
    poll(p, 3, 100);
    drain(s, 0, &s->out_fd);
    drain(s, 1, &s->err_fd);
    sf_exec_result res;
    sf_error_t err = NULL;
    int r = sf_exec_poll(s->c->ex, &res, &err);
    if (r < 0) {
      queue(s, json_pack("{s:s,s:{s:s,s:s,s:[]}}", "type", "error", "error", "ename",
                         "RuntimeError", "evalue", sf_error_msg(&err), "traceback"));
      sf_error_release(&err);
      s->finished = true;
    } else if (r == 1) {
      drain(s, 0, &s->out_fd);
      drain(s, 1, &s->err_fd);
      finish(s, &res);
    } else if (sf_now_ms() - s->last_ping_ms >= 3000) {
      s->last_ping_ms = sf_now_ms();
      queue(s, json_pack("{s:s,s:s}", "type", "ping", "text", "pong"));
    }
  }
}

static void stream_done(void *ctx, bool client_gone)
{
  stream_ctx *s = ctx;
  if (!s->finished) { /* client went away: the command goes too */
    sf_error_t err = NULL;
    sf_exec_kill(s->c->ex, &err);
    sf_error_release(&err);
    sf_exec_result res;
    sf_exec_wait(s->c->ex, &res, &err);
    sf_error_release(&err);
    pthread_mutex_lock(&cmds_lock);
    s->c->running = false;
    snprintf(s->c->error, sizeof(s->c->error), "client disconnected");
    pthread_mutex_unlock(&cmds_lock);
  }
  pthread_mutex_lock(&cmds_lock);
  sf_exec *ex = s->c->ex;
  s->c->ex = NULL;
  pthread_mutex_unlock(&cmds_lock);
  sf_exec_free(ex);
  sf_lifecycle_release(s->ref);
  free(s->pending);
  free(s);
}

/* ---- background commands ----------------------------------------------- */

typedef struct {
  cmd *c;
  sf_sandbox_ref *ref;
  sf_api_ctx *ctx;
  int64_t limit_ms;
} bg_ctx;

static void *background_main(void *arg)
{
  bg_ctx *b = arg;
  stream_ctx *s = calloc(1, sizeof(*s)); /* freed by stream_done, as for streams */
  *s = (stream_ctx){.ctx = b->ctx,
                    .ref = b->ref,
                    .c = b->c,
                    .limit_ms = b->limit_ms,
                    .sent_init = true,
                    .out_fd = sf_exec_stdout_fd(b->c->ex),
                    .err_fd = sf_exec_stderr_fd(b->c->ex),
                    .last_ping_ms = sf_now_ms()};
  char buf[4096];
  while (stream_produce(s, buf, sizeof(buf)) > 0)
    ; /* events are discarded: status and logs are read from the registry */
  stream_done(s, false);
  free(b);
  return NULL;
}

/* ---- handlers ------------------------------------------------------------ */

sf_sandbox_ref *sf_execd_acquire(sf_http_req *req, sf_api_ctx *ctx)
{
  sf_sandbox_ref *ref = NULL;
  sf_error_t err = NULL;
  if (sf_lifecycle_acquire(ctx->lifecycle, sf_http_param(req, "id"),
                           sf_http_header(req, "X-EXECD-ACCESS-TOKEN"), &ref, &err) < 0) {
    if (sf_error_code(&err) == EACCES) {
      sf_http_reply_json(req, 401,
                         json_pack("{s:s}", "error", "Unauthorized: invalid X-EXECD-ACCESS-TOKEN"));
      sf_error_release(&err);
    } else {
      sf_http_reply_sf_error(req, NULL, &err);
    }
    return NULL;
  }
  return ref;
}

static void ping(sf_http_req *req, void *ud)
{
  sf_sandbox_ref *ref = sf_execd_acquire(req, ud);
  if (ref == NULL)
    return;
  sf_lifecycle_release(ref);
  sf_http_reply_empty(req, 200);
}

static char **env_from(json_t *envs)
{
  char **v = calloc(json_object_size(envs) + 1, sizeof(char *));
  const char *k;
  json_t *val;
  size_t i = 0;
  json_object_foreach(envs, k, val)
  {
    if (json_is_string(val) && asprintf(&v[i], "%s=%s", k, json_string_value(val)) >= 0)
      i++;
  }
  return v;
}

static void run_command(sf_http_req *req, void *ud)
{
  sf_api_ctx *ctx = ud;
  json_t *body = sf_http_json_body(req, false);
  if (body == NULL)
    return;
  const char *command = json_string_value(json_object_get(body, "command"));
  json_t *timeout = json_object_get(body, "timeout"), *uid = json_object_get(body, "uid");
  json_t *gid = json_object_get(body, "gid"), *envs = json_object_get(body, "envs");
  if (command == NULL ||
      (timeout && !json_is_null(timeout) &&
       (!json_is_integer(timeout) || json_integer_value(timeout) < 1)) ||
      (uid && !json_is_null(uid) &&
       (!json_is_integer(uid) || json_integer_value(uid) < 0 || json_integer_value(uid) > 65535)) ||
      (gid && !json_is_null(gid) && (!json_is_integer(gid) || !json_is_integer(uid))) ||
      (envs && !json_is_null(envs) && !json_is_object(envs))) {
    json_decref(body);
    sf_http_reply_error(req, 400, "INVALID_REQUEST_BODY",
                        "expected {command: string, cwd?, background?, timeout? (ms >= 1), uid?, "
                        "gid? (needs uid), envs?}");
    return;
  }
  sf_sandbox_ref *ref = sf_execd_acquire(req, ctx);
  if (ref == NULL) {
    json_decref(body);
    return;
  }
  char **env = env_from(envs);
  int64_t limit = json_is_integer(timeout) ? json_integer_value(timeout) : 0;
  sf_exec_spec xs = {.shell_cmd = command,
                     .env = env,
                     .cwd = json_string_value(json_object_get(body, "cwd")),
                     .uid = json_is_integer(uid) ? json_integer_value(uid) : -1,
                     .gid = json_is_integer(gid)
                                ? json_integer_value(gid)
                                : (json_is_integer(uid) ? json_integer_value(uid) : -1),
                     .stdin_fd = -1,
                     .stdout_fd = -1,
                     .stderr_fd = -1,
                     .timeout_ms = limit};
  cmd *c = calloc(1, sizeof(*c));
  cleanup_free char *hex = sf_random_hex(16);
  snprintf(c->id, sizeof(c->id), "%s", hex);
  snprintf(c->sandbox_id, sizeof(c->sandbox_id), "%s", sf_sandbox_ref_id(ref));
  c->command = strdup(command);
  c->started_ms = sf_now_ms();
  c->running = true;
  sf_error_t err = NULL;
  int r = sf_exec_start(sf_sandbox_ref_get(ref), &xs, &c->ex, &err);
  sf_strv_free(env);
  bool background = json_is_true(json_object_get(body, "background"));
  json_decref(body);
  if (r < 0) {
    sf_lifecycle_release(ref);
    free(c->command);
    free(c);
    sf_http_reply_sf_error(req, "RUNTIME_ERROR", &err);
    return;
  }
  pthread_mutex_lock(&cmds_lock);
  /* Forget commands that finished more than 10 minutes ago. */
  for (cmd **pp = &cmds; *pp;) {
    cmd *o = *pp;
    if (!o->running && o->ex == NULL && o->finished_ms && sf_now_ms() - o->finished_ms > 600000) {
      *pp = o->next;
      free(o->command);
      free(o->log);
      free(o);
    } else {
      pp = &o->next;
    }
  }
  c->next = cmds;
  cmds = c;
  pthread_mutex_unlock(&cmds_lock);
  if (background) {
    bg_ctx *b = calloc(1, sizeof(*b));
    b->c = c;
    b->ref = ref;
    b->ctx = ctx;
    b->limit_ms = limit;
    pthread_t t;
    pthread_create(&t, NULL, background_main, b);
    pthread_detach(t);
    char out[512];
    size_t n = put_event(out, sizeof(out), json_pack("{s:s,s:s}", "type", "init", "text", c->id));
    n += put_event(out + n, sizeof(out) - n,
                   json_pack("{s:s,s:i}", "type", "execution_complete", "execution_time", 0));
    sf_http_reply_bytes(req, 200, "text/event-stream", out, n);
  } else {
    stream_ctx *s = calloc(1, sizeof(*s));
    s->ctx = ctx;
    s->ref = ref;
    s->c = c;
    s->limit_ms = limit;
    s->out_fd = sf_exec_stdout_fd(c->ex);
    s->err_fd = sf_exec_stderr_fd(c->ex);
    s->last_ping_ms = sf_now_ms();
    sf_http_reply_stream(req, 200, "text/event-stream", stream_produce, stream_done, s);
  }
  sf_http_reply_add_header(req, "Cache-Control", "no-cache");
  sf_http_reply_add_header(req, "X-Accel-Buffering", "no");
}

static void command_status(sf_http_req *req, void *ud)
{
  sf_sandbox_ref *ref = sf_execd_acquire(req, ud);
  if (ref == NULL)
    return;
  pthread_mutex_lock(&cmds_lock);
  cmd *c = cmd_find(sf_sandbox_ref_id(ref), sf_http_param(req, "cid"));
  json_t *o = NULL;
  if (c) {
    char st[40], fin[40];
    sf_format_rfc3339_ms(c->started_ms, st, sizeof(st));
    o = json_pack("{s:s,s:s,s:b,s:s}", "id", c->id, "content", c->command, "running", c->running,
                  "started_at", st);
    if (c->exited)
      json_object_set_new(o, "exit_code", json_integer(c->exit_code));
    if (c->error[0])
      json_object_set_new(o, "error", json_string(c->error));
    if (c->finished_ms) {
      sf_format_rfc3339_ms(c->finished_ms, fin, sizeof(fin));
      json_object_set_new(o, "finished_at", json_string(fin));
    }
  }
  pthread_mutex_unlock(&cmds_lock);
  sf_lifecycle_release(ref);
  if (o)
    sf_http_reply_json(req, 200, o);
  else
    sf_http_reply_error(req, 404, "CONTEXT_NOT_FOUND", "no command '%s'",
                        sf_http_param(req, "cid"));
}

static void command_logs(sf_http_req *req, void *ud)
{
  sf_sandbox_ref *ref = sf_execd_acquire(req, ud);
  if (ref == NULL)
    return;
  const char *cur = sf_http_query(req, "cursor");
  int64_t cursor = cur ? strtoll(cur, NULL, 10) : 0;
  pthread_mutex_lock(&cmds_lock);
  cmd *c = cmd_find(sf_sandbox_ref_id(ref), sf_http_param(req, "cid"));
  char *data = NULL;
  size_t n = 0;
  int64_t tail = 0;
  if (c) {
    int64_t start = cursor < c->log_base ? c->log_base : cursor;
    tail = c->log_base + (int64_t)c->log_len;
    if (start < tail) {
      n = (size_t)(tail - start);
      data = malloc(n);
      memcpy(data, c->log + (start - c->log_base), n);
    }
  }
  pthread_mutex_unlock(&cmds_lock);
  sf_lifecycle_release(ref);
  if (c == NULL) {
    sf_http_reply_error(req, 404, "CONTEXT_NOT_FOUND", "no command '%s'",
                        sf_http_param(req, "cid"));
    return;
  }
  char t[32];
  snprintf(t, sizeof(t), "%lld", (long long)tail);
  sf_http_reply_bytes(req, 200, "text/plain; charset=utf-8", data ? data : "", n);
  sf_http_reply_add_header(req, "EXECD-COMMANDS-TAIL-CURSOR", t);
  free(data);
}

static void command_interrupt(sf_http_req *req, void *ud)
{
  sf_sandbox_ref *ref = sf_execd_acquire(req, ud);
  if (ref == NULL)
    return;
  const char *id = sf_http_query(req, "id");
  pthread_mutex_lock(&cmds_lock);
  cmd *c = id ? cmd_find(sf_sandbox_ref_id(ref), id) : NULL;
  if (c && c->ex) {
    sf_error_t err = NULL;
    sf_exec_kill(c->ex, &err);
    sf_error_release(&err);
  }
  pthread_mutex_unlock(&cmds_lock);
  sf_lifecycle_release(ref);
  if (id == NULL)
    sf_http_reply_error(req, 400, "MISSING_QUERY", "query parameter 'id' is required");
  else if (c == NULL)
    sf_http_reply_error(req, 404, "CONTEXT_NOT_FOUND", "no command '%s'", id);
  else
    sf_http_reply_empty(req, 200);
}

static void sandbox_metrics(sf_http_req *req, void *ud)
{
  sf_sandbox_ref *ref = sf_execd_acquire(req, ud);
  if (ref == NULL)
    return;
  sf_usage u;
  sf_error_t err = NULL;
  int r = sf_sandbox_usage(sf_sandbox_ref_get(ref), &u, &err);
  sf_lifecycle_release(ref);
  if (r < 0) {
    sf_http_reply_sf_error(req, "RUNTIME_ERROR", &err);
    return;
  }
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  double total_mib = u.memory_limit > 0
                         ? u.memory_limit / 1048576.0
                         : (double)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE) / 1048576.0;
  sf_http_reply_json(req, 200,
                     json_pack("{s:i,s:f,s:f,s:f,s:I}", "cpu_count", (int)ncpu, "cpu_used_pct", 0.0,
                               "mem_total_mib", total_mib, "mem_used_mib",
                               u.memory_bytes / 1048576.0, "timestamp", (json_int_t)sf_now_ms()));
}

void sf_api_register_execd_routes(sf_http_server *srv, sf_api_ctx *ctx)
{
  sf_http_route(srv, "GET", "/sandboxes/{id}/execd/ping", ping, ctx, SF_HTTP_EXECD);
  sf_http_route(srv, "POST", "/sandboxes/{id}/execd/command", run_command, ctx, SF_HTTP_EXECD);
  sf_http_route(srv, "DELETE", "/sandboxes/{id}/execd/command", command_interrupt, ctx,
                SF_HTTP_EXECD);
  sf_http_route(srv, "GET", "/sandboxes/{id}/execd/command/status/{cid}", command_status, ctx,
                SF_HTTP_EXECD);
  sf_http_route(srv, "GET", "/sandboxes/{id}/execd/command/{cid}/logs", command_logs, ctx,
                SF_HTTP_EXECD);
  sf_http_route(srv, "GET", "/sandboxes/{id}/execd/metrics", sandbox_metrics, ctx, SF_HTTP_EXECD);
  sf_execd_register_file_routes(srv, ctx);
}
