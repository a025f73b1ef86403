/* OpenSandbox lifecycle routes. */
#include "api/api.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void create(sf_http_req *req, void *ud)
{
  sf_api_ctx *ctx = ud;
  json_t *body = sf_http_json_body(req, false);
  if (body == NULL)
    return;
  json_t *sb = NULL;
  sf_error_t err = NULL;
  int r = sf_lifecycle_create(ctx->lifecycle, body, &sb, &err);
  json_decref(body);
  if (r < 0) {
    sf_http_reply_sf_error(req,
                           sf_error_code(&err) == EINVAL || sf_error_code(&err) == ENOENT
                               ? "SANDBOX::INVALID_PARAMETER"
                               : NULL,
                           &err);
    return;
  }
  char loc[128];
  snprintf(loc, sizeof(loc), "/v1/sandboxes/%s", json_string_value(json_object_get(sb, "id")));
  sf_http_reply_json(req, 202, sb);
  sf_http_reply_add_header(req, "Location", loc);
}

static void get(sf_http_req *req, void *ud)
{
  sf_api_ctx *ctx = ud;
  json_t *sb = NULL;
  sf_error_t err = NULL;
  if (sf_lifecycle_get(ctx->lifecycle, sf_http_param(req, "id"), &sb, &err) < 0)
    sf_http_reply_sf_error(req, "SANDBOX_NOT_FOUND", &err);
  else
    sf_http_reply_json(req, 200, sb);
}

/* The SDK sends metadata as one URL-encoded query string ("a%3D1%26b%3D2"),
 * which MHD has decoded once: parse "a=1&b=2" and percent-decode again. */
static void pct_decode(char *s)
{
  char *o = s;
  for (char *p = s; *p; p++) {
    if (*p == '%' && p[1] && p[2]) {
      char hex[3] = {p[1], p[2], 0};
      *o++ = (char)strtol(hex, NULL, 16);
      p += 2;
    } else {
      *o++ = *p == '+' ? ' ' : *p;
    }
  }
  *o = '\0';
}

static int parse_int_param(sf_http_req *req, const char *name, int dflt, int *out)
{
  const char *v = sf_http_query(req, name);
  if (v == NULL || *v == '\0') {
    *out = dflt;
    return 0;
  }
  char *end;
  long x = strtol(v, &end, 10);
  if (*end || x < 1 || x > 1000000) {
    sf_http_reply_error(req, 400, "SANDBOX::INVALID_PARAMETER", "%s must be a positive integer",
                        name);
    return -1;
  }
  *out = (int)x;
  return 0;
}

static void list(sf_http_req *req, void *ud)
{
  sf_api_ctx *ctx = ud;
  int page, size;
  if (parse_int_param(req, "page", 1, &page) < 0 || parse_int_param(req, "pageSize", 20, &size) < 0)
    return;
  json_t *meta = json_object();
  const char *m = sf_http_query(req, "metadata");
  if (m && *m) {
    cleanup_free char *copy = strdup(m);
    char *save = NULL;
    for (char *kv = strtok_r(copy, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
      char *eq = strchr(kv, '=');
      if (eq == NULL) {
        json_decref(meta);
        sf_http_reply_error(req, 400, "INVALID_METADATA_FORMAT",
                            "metadata filter must be k=v pairs joined by &");
        return;
      }
      *eq = '\0';
      pct_decode(kv);
      pct_decode(eq + 1);
      json_object_set_new(meta, kv, json_string(eq + 1));
    }
  }
  json_t *out = NULL;
  sf_error_t err = NULL;
  int r = sf_lifecycle_list(ctx->lifecycle, sf_http_query_all(req, "state"), meta, page, size, &out,
                            &err);
  json_decref(meta);
  if (r < 0)
    sf_http_reply_sf_error(req, NULL, &err);
  else
    sf_http_reply_json(req, 200, out);
}

static void del(sf_http_req *req, void *ud)
{
  sf_api_ctx *ctx = ud;
  sf_error_t err = NULL;
  if (sf_lifecycle_delete(ctx->lifecycle, sf_http_param(req, "id"), &err) < 0)
    sf_http_reply_sf_error(req, sf_error_code(&err) == ENOENT ? "SANDBOX_NOT_FOUND" : NULL, &err);
  else
    sf_http_reply_empty(req, 204);
}

static void pause_(sf_http_req *req, void *ud)
{
  sf_api_ctx *ctx = ud;
  sf_error_t err = NULL;
  if (sf_lifecycle_pause(ctx->lifecycle, sf_http_param(req, "id"), "api", &err) < 0)
    sf_http_reply_sf_error(
        req, sf_error_code(&err) == EBUSY ? "SANDBOX_NOT_RUNNING" : "SANDBOX_NOT_FOUND", &err);
  else
    sf_http_reply_empty(req, 202);
}

static void resume(sf_http_req *req, void *ud)
{
  sf_api_ctx *ctx = ud;
  sf_error_t err = NULL;
  if (sf_lifecycle_resume(ctx->lifecycle, sf_http_param(req, "id"), "api", &err) < 0)
    sf_http_reply_sf_error(
        req, sf_error_code(&err) == EBUSY ? "SANDBOX_NOT_PAUSED" : "SANDBOX_NOT_FOUND", &err);
  else
    sf_http_reply_empty(req, 202);
}

static void renew(sf_http_req *req, void *ud)
{
  sf_api_ctx *ctx = ud;
  json_t *body = sf_http_json_body(req, false);
  if (body == NULL)
    return;
  int64_t ms;
  const char *ts = json_string_value(json_object_get(body, "expiresAt"));
  if (ts == NULL || sf_parse_rfc3339(ts, &ms) < 0) {
    json_decref(body);
    sf_http_reply_error(req, 400, "INVALID_EXPIRATION", "expiresAt must be an RFC 3339 timestamp");
    return;
  }
  json_decref(body);
  json_t *out = NULL;
  sf_error_t err = NULL;
  if (sf_lifecycle_renew(ctx->lifecycle, sf_http_param(req, "id"), ms, &out, &err) < 0)
    sf_http_reply_sf_error(
        req, sf_error_code(&err) == ENOENT ? "SANDBOX_NOT_FOUND" : "INVALID_EXPIRATION", &err);
  else
    sf_http_reply_json(req, 200, out);
}

static void patch_metadata(sf_http_req *req, void *ud)
{
  sf_api_ctx *ctx = ud;
  json_t *body = sf_http_json_body(req, false);
  if (body == NULL)
    return;
  json_t *out = NULL;
  sf_error_t err = NULL;
  int r = sf_lifecycle_patch_metadata(ctx->lifecycle, sf_http_param(req, "id"), body, &out, &err);
  json_decref(body);
  if (r < 0)
    sf_http_reply_sf_error(
        req, sf_error_code(&err) == EINVAL ? "INVALID_METADATA_FORMAT" : "SANDBOX_NOT_FOUND", &err);
  else
    sf_http_reply_json(req, 200, out);
}

static void endpoint(sf_http_req *req, void *ud)
{
  sf_api_ctx *ctx = ud;
  const char *id = sf_http_param(req, "id"), *port = sf_http_param(req, "port");
  char *end;
  long p = strtol(port, &end, 10);
  if (*end || p < 1 || p > 65535) {
    sf_http_reply_error(req, 400, "SANDBOX::INVALID_PARAMETER", "invalid port '%s'", port);
    return;
  }
  cleanup_free char *token = NULL;
  sf_error_t err = NULL;
  if (sf_lifecycle_token(ctx->lifecycle, id, &token, &err) < 0) {
    sf_http_reply_sf_error(req, "SANDBOX_NOT_FOUND", &err);
    return;
  }
  /* Every port answers (the SDK also asks for 18080, the egress sidecar);
   * execd is served by the supervisor itself, under a per-sandbox prefix. */
  char ep[512];
  if (p == 44772)
    snprintf(ep, sizeof(ep), "%s/sandboxes/%s/execd", sf_http_host(req), id);
  else
    snprintf(ep, sizeof(ep), "%s/sandboxes/%s/proxy/%ld", sf_http_host(req), id, p);
  sf_http_reply_json(
      req, 200,
      json_pack("{s:s,s:{s:s}}", "endpoint", ep, "headers", "X-EXECD-ACCESS-TOKEN", token));
}

void sf_api_register_sandbox_routes(sf_http_server *srv, sf_api_ctx *ctx)
{
  sf_http_route(srv, "POST", "/sandboxes", create, ctx, 0);
  sf_http_route(srv, "GET", "/sandboxes", list, ctx, 0);
  sf_http_route(srv, "GET", "/sandboxes/{id}", get, ctx, 0);
  sf_http_route(srv, "DELETE", "/sandboxes/{id}", del, ctx, 0);
  sf_http_route(srv, "POST", "/sandboxes/{id}/pause", pause_, ctx, 0);
  sf_http_route(srv, "POST", "/sandboxes/{id}/resume", resume, ctx, 0);
  sf_http_route(srv, "POST", "/sandboxes/{id}/renew-expiration", renew, ctx, 0);
  sf_http_route(srv, "PATCH", "/sandboxes/{id}/metadata", patch_metadata, ctx, 0);
  sf_http_route(srv, "GET", "/sandboxes/{id}/endpoints/{port}", endpoint, ctx, 0);
}
