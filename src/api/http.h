/* A small HTTP framework over libmicrohttpd: routes with {params}, whole
 * request bodies with per-route limits, API-key auth, JSON/empty/error/bytes
 * and streaming replies.  One thread per connection, so handlers and stream
 * producers may block (a streaming command is a thread waiting on a pipe).
 *
 * Errors are always a non-empty JSON body {"code","message"} (an empty error
 * body makes the OpenSandbox SDK treat the call as a success), and empty 2xx
 * replies carry Content-Length: 0. */
#ifndef SF_API_HTTP_H
#define SF_API_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/error.h"

typedef struct sf_http_server sf_http_server;
typedef struct sf_http_req sf_http_req;

enum {
  SF_HTTP_NOAUTH = 1 << 0,   /* no API key (health) */
  SF_HTTP_EXECD = 1 << 1,    /* no API key: the handler checks the per-sandbox token */
  SF_HTTP_BIG_BODY = 1 << 2, /* body limit = upload limit instead of 1 MiB */
};

typedef void (*sf_http_handler)(sf_http_req *req, void *userdata);

/* Listen on "host:port" (IPv4 or [IPv6]).  api_keys: NULL-terminated, may be
 * NULL/empty (no auth). */
int sf_http_server_new(const char *listen_addr, char *const *api_keys, size_t upload_limit,
                       sf_http_server **out, sf_error_t *err);
int sf_http_server_start(sf_http_server *srv, sf_error_t *err);
/* Stop accepting and wait for in-flight requests; then free. */
void sf_http_server_free(sf_http_server *srv);
/* Port actually bound (useful with port 0). */
int sf_http_server_port(sf_http_server *srv);

/* Register `pattern` ("/sandboxes/{id}/pause", trailing "/{rest*}" matches the
 * remaining path) for `method`, under both "/" and "/v1" (the reference
 * server mounts both). */
void sf_http_route(sf_http_server *srv, const char *method, const char *pattern, sf_http_handler fn,
                   void *userdata, int flags);

const char *sf_http_method(sf_http_req *req);
const char *sf_http_path(sf_http_req *req);
/* Request header (case-insensitive), NULL when absent. */
const char *sf_http_header(sf_http_req *req, const char *name);
/* First query value, NULL when absent. */
const char *sf_http_query(sf_http_req *req, const char *key);
/* All query values for key (NULL-terminated array owned by req). */
const char *const *sf_http_query_all(sf_http_req *req, const char *key);
/* Path parameter captured by {name}. */
const char *sf_http_param(sf_http_req *req, const char *name);
const char *sf_http_body(sf_http_req *req, size_t *len);
/* The body parsed as a JSON object; on failure replies 400 INVALID_REQUEST_BODY
 * itself and returns NULL.  `allow_empty`: an empty body is {} (new reference). */
json_t *sf_http_json_body(sf_http_req *req, bool allow_empty);
/* "host:port" the client used to reach us (Host header, or our listen address). */
const char *sf_http_host(sf_http_req *req);

/* Replies (exactly one per request). */
void sf_http_reply_json(sf_http_req *req, int status, json_t *body); /* steals body */
void sf_http_reply_error(sf_http_req *req, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* errno of err → status: ENOENT 404, EINVAL 400, EBUSY 409, E2BIG/EFBIG 413,
 * EACCES 401, EPERM 403, EAGAIN 503, EEXIST 409, else 500.  `code` may be NULL
 * (then a generic code per status).  Releases err. */
void sf_http_reply_sf_error(sf_http_req *req, const char *code, sf_error_t *err);
void sf_http_reply_empty(sf_http_req *req, int status);
void sf_http_reply_bytes(sf_http_req *req, int status, const char *content_type, const void *data,
                         size_t len);
/* Reply with `len` bytes of `fd` from `offset` (the fd is owned and closed by the reply). */
void sf_http_reply_fd(sf_http_req *req, int status, const char *content_type, int fd, off_t offset,
                      size_t len);
void sf_http_reply_add_header(sf_http_req *req, const char *name, const char *value);

/* Streaming reply: `produce` is called from the connection's thread with a
 * buffer to fill; it may block, returns bytes written (>0), 0 to end the
 * stream, or -1 on error.  `done` runs when the stream ends or the client
 * goes away (closed = true), so the producer can kill what it streams. */
typedef ssize_t (*sf_http_produce_fn)(void *ctx, char *buf, size_t max);
typedef void (*sf_http_done_fn)(void *ctx, bool client_gone);
void sf_http_reply_stream(sf_http_req *req, int status, const char *content_type,
                          sf_http_produce_fn produce, sf_http_done_fn done, void *ctx);

#endif
