/* Route registration of the supervisor's API (lifecycle, execd, system). */
#ifndef SF_API_API_H
#define SF_API_API_H

#include "api/http.h"
#include "lifecycle/lifecycle.h"
#include "runtime/runtime.h"
#include "store/store.h"

typedef struct {
  sf_lifecycle *lifecycle;
  sf_store *store;
  sf_runtime *runtime;
  const char *templates_dir;
  struct sf_webhooks *webhooks; /* may be NULL */
} sf_api_ctx;

void sf_api_register_sandbox_routes(sf_http_server *srv, sf_api_ctx *ctx);
void sf_api_register_system_routes(sf_http_server *srv, sf_api_ctx *ctx);
void sf_api_register_execd_routes(sf_http_server *srv, sf_api_ctx *ctx);

#endif
