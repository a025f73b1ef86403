/* libmicrohttpd glue: routing, bodies, auth, replies.  See http.h. */
#include "api/http.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ROUTES 96
#define MAX_PARAMS 6
#define SMALL_BODY (1u << 20)

typedef struct {
  const char *method;
  char *buf; /* the pattern copy segs point into */
  char *segs[16];
  int nsegs;
  bool rest; /* last segment captures the remainder */
  sf_http_handler fn;
  void *ud;
  int flags;
} route;

struct sf_http_server {
  struct MHD_Daemon *daemon;
  struct sockaddr_storage addr;
  char **api_keys;
  size_t upload_limit;
  route routes[MAX_ROUTES];
  int nroutes;
  char listen[128];
};

struct sf_http_req {
  sf_http_server *srv;
  struct MHD_Connection *conn;
  char *method, *path;
  char *body;
  size_t len, cap;
  bool too_large;
  const route *rt;
  char *pnames[MAX_PARAMS], *pvals[MAX_PARAMS];
  int nparams;
  const char **qvals;
  char request_id[40];
  struct MHD_Response *resp;
  unsigned int status;
  char host[160];
  int64_t started_us;
};

static char *xstrdup(const char *s)
{
  return strdup(s ? s : "");
}

static int split(char *path, char **segs, int max)
{
  int n = 0;
  for (char *tok = strtok(path, "/"); tok && n < max; tok = strtok(NULL, "/"))
    segs[n++] = tok;
  return n;
}

void sf_http_route(sf_http_server *srv, const char *method, const char *pattern, sf_http_handler fn,
                   void *userdata, int flags)
{
  if (srv->nroutes >= MAX_ROUTES)
    abort(); /* a programming error, caught by every test run */
  route *r = &srv->routes[srv->nroutes++];
  char *copy = strdup(pattern);
  r->method = method;
  r->buf = copy;
  r->nsegs = split(copy, r->segs, 16);
  r->fn = fn;
  r->ud = userdata;
  r->flags = flags;
  if (r->nsegs > 0) {
    char *last = r->segs[r->nsegs - 1];
    size_t l = strlen(last);
    if (l > 3 && strcmp(last + l - 2, "*}") == 0) {
      r->rest = true;
      last[l - 2] = '}';
      last[l - 1] = '\0';
    }
  }
}

/* Match against the path with any "/v1" prefix removed. */
static const route *match(sf_http_server *srv, sf_http_req *req, bool *method_mismatch)
{
  cleanup_free char *copy = strdup(req->path);
  char *segs[32];
  int n = split(copy, segs, 32);
  int off = (n > 0 && strcmp(segs[0], "v1") == 0) ? 1 : 0;
  *method_mismatch = false;
  for (int i = 0; i < srv->nroutes; i++) {
    const route *r = &srv->routes[i];
    if (r->rest ? (n - off < r->nsegs) : (n - off != r->nsegs))
      continue;
    bool ok = true;
    int np = 0;
    char *names[MAX_PARAMS], *vals[MAX_PARAMS];
    for (int s = 0; s < r->nsegs && ok; s++) {
      const char *p = r->segs[s];
      if (p[0] == '{') {
        if (np == MAX_PARAMS)
          ok = false;
        else {
          names[np] = strndup(p + 1, strlen(p) - 2);
          if (r->rest && s == r->nsegs - 1) {
            /* rest of the path, re-joined */
            size_t total = 0;
            for (int k = s + off; k < n; k++)
              total += strlen(segs[k]) + 1;
            char *v = calloc(total + 1, 1);
            for (int k = s + off; k < n; k++) {
              strcat(v, k > s + off ? "/" : "");
              strcat(v, segs[k]);
            }
            vals[np++] = v;
          } else {
            vals[np++] = strdup(segs[s + off]);
          }
        }
      } else if (strcmp(p, segs[s + off]) != 0) {
        ok = false;
      }
    }
    if (ok && strcmp(r->method, req->method) != 0) {
      *method_mismatch = true;
      ok = false;
    }
    if (!ok) {
      for (int k = 0; k < np; k++) {
        free(names[k]);
        free(vals[k]);
      }
      continue;
    }
    for (int k = 0; k < np; k++) {
      req->pnames[k] = names[k];
      req->pvals[k] = vals[k];
    }
    req->nparams = np;
    return r;
  }
  return NULL;
}

const char *sf_http_method(sf_http_req *req)
{
  return req->method;
}

const char *sf_http_path(sf_http_req *req)
{
  return req->path;
}

const char *sf_http_header(sf_http_req *req, const char *name)
{
  return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *sf_http_query(sf_http_req *req, const char *key)
{
  return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

typedef struct {
  const char *key;
  const char **vals;
  size_t n;
} query_collect;

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
  query_collect *q = cls;
  if (key && strcmp(key, q->key) == 0 && value) {
    const char **nv = realloc(q->vals, (q->n + 2) * sizeof(char *));
    if (nv == NULL)
      return MHD_NO;
    q->vals = nv;
    q->vals[q->n++] = value;
    q->vals[q->n] = NULL;
  }
  return MHD_YES;
}

const char *const *sf_http_query_all(sf_http_req *req, const char *key)
{
  query_collect q = {key, NULL, 0};
  MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, collect_query, &q);
  free(req->qvals);
  req->qvals = q.vals;
  static const char *const none[] = {NULL};
  return q.vals ? q.vals : none;
}

const char *sf_http_param(sf_http_req *req, const char *name)
{
  for (int i = 0; i < req->nparams; i++)
    if (strcmp(req->pnames[i], name) == 0)
      return req->pvals[i];
  return NULL;
}

const char *sf_http_body(sf_http_req *req, size_t *len)
{
  if (len)
    *len = req->len;
  return req->body ? req->body : "";
}

const char *sf_http_host(sf_http_req *req)
{
  const char *h = sf_http_header(req, "Host");
  snprintf(req->host, sizeof(req->host), "%s", h && *h ? h : req->srv->listen);
  return req->host;
}

json_t *sf_http_json_body(sf_http_req *req, bool allow_empty)
{
  if (req->len == 0 && allow_empty)
    return json_object();
  json_error_t e;
  json_t *j = json_loadb(req->body ? req->body : "", req->len, JSON_REJECT_DUPLICATES, &e);
  if (j == NULL) {
    sf_http_reply_error(req, 400, "INVALID_REQUEST_BODY",
                        "malformed JSON body: %s (line %d, column %d)", e.text, e.line, e.column);
    return NULL;
  }
  if (!json_is_object(j)) {
    json_decref(j);
    sf_http_reply_error(req, 400, "INVALID_REQUEST_BODY", "the request body must be a JSON object");
    return NULL;
  }
  return j;
}

static void set_response(sf_http_req *req, int status, struct MHD_Response *resp)
{
  if (req->resp != NULL) { /* a handler replied twice: keep the first */
    MHD_destroy_response(resp);
    return;
  }
  MHD_add_response_header(resp, "X-Request-ID", req->request_id);
  req->resp = resp;
  req->status = (unsigned)status;
}

void sf_http_reply_add_header(sf_http_req *req, const char *name, const char *value)
{
  if (req->resp)
    MHD_add_response_header(req->resp, name, value);
}

void sf_http_reply_bytes(sf_http_req *req, int status, const char *content_type, const void *data,
                         size_t len)
{
  struct MHD_Response *r =
      MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
  if (content_type)
    MHD_add_response_header(r, "Content-Type", content_type);
  set_response(req, status, r);
}

void sf_http_reply_fd(sf_http_req *req, int status, const char *content_type, int fd, off_t offset,
                      size_t len)
{
  struct MHD_Response *r = MHD_create_response_from_fd_at_offset64(len, fd, (uint64_t)offset);
  if (content_type)
    MHD_add_response_header(r, "Content-Type", content_type);
  set_response(req, status, r);
}

void sf_http_reply_json(sf_http_req *req, int status, json_t *body)
{
  char *s = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(body);
  if (s == NULL) {
    sf_http_reply_error(req, 500, "GENERAL::UNKNOWN_ERROR", "cannot encode response");
    return;
  }
  struct MHD_Response *r = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
  MHD_add_response_header(r, "Content-Type", "application/json");
  set_response(req, status, r);
}

void sf_http_reply_error(sf_http_req *req, int status, const char *code, const char *fmt, ...)
{
  char *msg = NULL;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&msg, fmt, ap) < 0)
    msg = NULL;
  va_end(ap);
  sf_http_reply_json(req, status,
                     json_pack("{s:s,s:s}", "code", code, "message", msg ? msg : "error"));
  free(msg);
}

void sf_http_reply_sf_error(sf_http_req *req, const char *code, sf_error_t *err)
{
  int e = sf_error_code(err), status;
  const char *dflt;
  switch (e) {
  case ENOENT:
    status = 404, dflt = "NOT_FOUND";
    break;
  case EINVAL:
    status = 400, dflt = "INVALID_PARAMETER";
    break;
  case EBUSY:
  case EEXIST:
    status = 409, dflt = "CONFLICT";
    break;
  case E2BIG:
  case EFBIG:
    status = 413, dflt = "PAYLOAD_TOO_LARGE";
    break;
  case EACCES:
    status = 401, dflt = "UNAUTHORIZED";
    break;
  case EPERM:
    status = 403, dflt = "FORBIDDEN";
    break;
  case EAGAIN:
    status = 503, dflt = "UNAVAILABLE";
    break;
  default:
    status = 500, dflt = "GENERAL::UNKNOWN_ERROR";
    break;
  }
  sf_http_reply_error(req, status, code ? code : dflt, "%s", sf_error_msg(err));
  sf_error_release(err);
}

void sf_http_reply_empty(sf_http_req *req, int status)
{
  set_response(req, status, MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT));
}

typedef struct {
  sf_http_produce_fn produce;
  sf_http_done_fn done;
  void *ctx;
  bool ended;
} stream;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
  stream *s = cls;
  ssize_t n = s->produce(s->ctx, buf, max);
  if (n > 0)
    return n;
  s->ended = true;
  return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void stream_free(void *cls)
{
  stream *s = cls;
  if (s->done)
    s->done(s->ctx, !s->ended);
  free(s);
}

void sf_http_reply_stream(sf_http_req *req, int status, const char *content_type,
                          sf_http_produce_fn produce, sf_http_done_fn done, void *ctx)
{
  stream *s = calloc(1, sizeof(*s));
  s->produce = produce;
  s->done = done;
  s->ctx = ctx;
  struct MHD_Response *r =
      MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 8192, stream_read, s, stream_free);
  MHD_add_response_header(r, "Content-Type", content_type);
  set_response(req, status, r);
}

static bool authorized(sf_http_req *req)
{
  char **keys = req->srv->api_keys;
  if (keys == NULL || keys[0] == NULL)
    return true;
  const char *k = sf_http_header(req, "OPEN-SANDBOX-API-KEY");
  const char *auth = sf_http_header(req, "Authorization");
  if (k == NULL && auth && strncasecmp(auth, "Bearer ", 7) == 0)
    k = auth + 7;
  if (k == NULL) {
    sf_http_reply_error(req, 401, "MISSING_API_KEY",
                        "missing API key (OPEN-SANDBOX-API-KEY header)");
    return false;
  }
  bool ok = false;
  for (char **p = keys; *p; p++)
    ok |= sf_consttime_eq(k, strlen(k), *p, strlen(*p));
  if (!ok)
    sf_http_reply_error(req, 401, "INVALID_API_KEY", "invalid API key");
  return ok;
}

static void dispatch(sf_http_req *req)
{
  bool wrong_method = false;
  const route *r = match(req->srv, req, &wrong_method);
  if (r == NULL) {
    if (wrong_method)
      sf_http_reply_error(req, 405, "METHOD_NOT_ALLOWED", "%s is not allowed on %s", req->method,
                          req->path);
    else
      sf_http_reply_error(req, 404, "NOT_FOUND", "no route for %s %s", req->method, req->path);
    return;
  }
  if (!(r->flags & (SF_HTTP_NOAUTH | SF_HTTP_EXECD)) && !authorized(req))
    return;
  size_t limit = (r->flags & SF_HTTP_BIG_BODY) ? req->srv->upload_limit : SMALL_BODY;
  if (req->too_large || req->len > limit) {
    sf_http_reply_error(req, 413, "PAYLOAD_TOO_LARGE", "request body exceeds %zu bytes", limit);
    return;
  }
  r->fn(req, r->ud);
  if (req->resp == NULL)
    sf_http_reply_error(req, 500, "GENERAL::UNKNOWN_ERROR", "handler produced no reply");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
  sf_http_server *srv = cls;
  sf_http_req *req = *con_cls;
  if (req == NULL) {
    req = calloc(1, sizeof(*req));
    if (req == NULL)
      return MHD_NO;
    req->srv = srv;
    req->conn = conn;
    req->method = xstrdup(method);
    req->path = xstrdup(url);
    req->started_us = sf_mono_us();
    const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-ID");
    if (rid && *rid && strlen(rid) < sizeof(req->request_id))
      snprintf(req->request_id, sizeof(req->request_id), "%s", rid);
    else {
      cleanup_free char *hex = sf_random_hex(16);
      snprintf(req->request_id, sizeof(req->request_id), "%s", hex ? hex : "0");
    }
    *con_cls = req;
    return MHD_YES;
  }
  if (*upload_size > 0) {
    /* Keep draining an oversize body so the client gets our 413, not a reset. */
    if (!req->too_large) {
      if (req->len + *upload_size > srv->upload_limit) {
        req->too_large = true;
      } else {
        if (req->len + *upload_size + 1 > req->cap) {
          size_t nc = (req->len + *upload_size + 1) * 2;
          char *nb = realloc(req->body, nc);
          if (nb == NULL)
            return MHD_NO;
          req->body = nb;
          req->cap = nc;
        }
        memcpy(req->body + req->len, upload_data, *upload_size);
        req->len += *upload_size;
        req->body[req->len] = '\0';
      }
    }
    *upload_size = 0;
    return MHD_YES;
  }
  dispatch(req);
  enum MHD_Result r = MHD_queue_response(conn, req->status, req->resp);
  MHD_destroy_response(req->resp);
  return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
  sf_http_req *req = *con_cls;
  if (req == NULL)
    return;
  if (req->status >= 500)
    sf_log_fields(SF_LOG_WARN, "http request failed",
                  json_pack("{s:s,s:s,s:i,s:s}", "method", req->method, "path", req->path, "status",
                            (int)req->status, "request_id", req->request_id));
  for (int i = 0; i < req->nparams; i++) {
    free(req->pnames[i]);
    free(req->pvals[i]);
  }
  free(req->qvals);
  free(req->method);
  free(req->path);
  free(req->body);
  free(req);
  *con_cls = NULL;
}

int sf_http_server_new(const char *listen_addr, char *const *api_keys, size_t upload_limit,
                       sf_http_server **out, sf_error_t *err)
{
  char host[128];
  const char *colon = strrchr(listen_addr, ':');
  if (colon == NULL || colon == listen_addr)
    return sf_error_make(err, EINVAL, "listen address '%s' must be HOST:PORT", listen_addr);
  snprintf(host, sizeof(host), "%.*s", (int)(colon - listen_addr), listen_addr);
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end || port < 0 || port > 65535)
    return sf_error_make(err, EINVAL, "invalid port in listen address '%s'", listen_addr);
  sf_http_server *srv = calloc(1, sizeof(*srv));
  if (srv == NULL)
    return sf_error_make(err, ENOMEM, "out of memory");
  if (host[0] == '[') {
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&srv->addr;
    host[strlen(host) - 1] = '\0';
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
      goto bad;
  } else {
    struct sockaddr_in *a4 = (struct sockaddr_in *)&srv->addr;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0)
      snprintf(host, sizeof(host), "127.0.0.1");
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
      goto bad;
  }
  srv->api_keys = sf_strv_dup(api_keys);
  srv->upload_limit = upload_limit ? upload_limit : (256u << 20);
  snprintf(srv->listen, sizeof(srv->listen), "%s", listen_addr);
  *out = srv;
  return 0;
bad:
  free(srv);
  return sf_error_make(err, EINVAL, "invalid listen host in '%s'", listen_addr);
}

int sf_http_server_start(sf_http_server *srv, sf_error_t *err)
{
  unsigned flags =
      MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
  if (srv->addr.ss_family == AF_INET6)
    flags |= MHD_USE_IPv6;
  srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR,
                                 &srv->addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)300, MHD_OPTION_END);
  if (srv->daemon == NULL)
    return sf_error_make(err, EADDRINUSE, "cannot listen on %s (in use, or not a local address)",
                         srv->listen);
  return 0;
}

int sf_http_server_port(sf_http_server *srv)
{
  const union MHD_DaemonInfo *i = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
  return i ? i->port : -1;
}

void sf_http_server_free(sf_http_server *srv)
{
  if (srv == NULL)
    return;
  if (srv->daemon)
    MHD_stop_daemon(srv->daemon);
  for (int i = 0; i < srv->nroutes; i++)
    free(srv->routes[i].buf);
  sf_strv_free(srv->api_keys);
  free(srv);
}
