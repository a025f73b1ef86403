/* The CLI's HTTP client (libcurl): SANDFORGE_URL (default
 * http://127.0.0.1:8080), SANDFORGE_API_KEY or OPEN_SANDBOX_API_KEY. */
#ifndef SF_CLI_CLIENT_H
#define SF_CLI_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct {
  long status;
  char *body; /* NUL-terminated */
  size_t len;
} sf_resp;

/* Request `path` (relative to the API base, e.g. "/v1/sandboxes") or an
 * absolute URL.  extra_headers: NULL-terminated "Name: value".  Returns 0
 * when a response arrived (any status), -1 on transport error (printed). */
int sf_client_request(const char *method, const char *path, const char *body, size_t body_len,
                      const char *content_type, char *const *extra_headers, sf_resp *out);
/* As above, but writes the response body to `sink` as it arrives (streams). */
int sf_client_stream(const char *method, const char *path, const char *body,
                     char *const *extra_headers,
                     size_t (*sink)(char *data, size_t size, size_t n, void *ud), void *ud,
                     long *status);
void sf_resp_free(sf_resp *r);

/* JSON helpers: parse a 2xx body, or print the API's error and return NULL. */
json_t *sf_client_json(const char *method, const char *path, json_t *body);
/* Print the error message of a non-2xx response ("sandforge: CODE: message"). */
void sf_client_print_error(const sf_resp *r);

/* execd base URL ("http://host:port/sandboxes/ID/execd") and the token header
 * ("X-EXECD-ACCESS-TOKEN: ...") for a sandbox.  Caller frees both. */
int sf_client_execd(const char *sandbox_id, char **base, char **token_header);

/* `--json` flag handling shared by subcommands: removes it from argv. */
bool sf_client_take_flag(int *argc, char **argv, const char *flag);

#endif
