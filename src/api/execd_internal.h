/* Shared by the execd route files. */
#ifndef SF_API_EXECD_INTERNAL_H
#define SF_API_EXECD_INTERNAL_H

#include "api/api.h"

/* Token check + running sandbox, or a reply already sent and NULL. */
sf_sandbox_ref *sf_execd_acquire(sf_http_req *req, sf_api_ctx *ctx);
void sf_execd_register_file_routes(sf_http_server *srv, sf_api_ctx *ctx);

#endif
