#include "cli/client.h"
#include "cli/cli_util.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

static const char *base_url(void)
{
  const char *u = getenv("SANDFORGE_URL");
  return u && *u ? u : "http://127.0.0.1:8080";
}

static const char *api_key(void)
{
  const char *k = getenv("SANDFORGE_API_KEY");
  if (k == NULL || *k == '\0')
    k = getenv("OPEN_SANDBOX_API_KEY");
  return k && *k ? k : NULL;
}

static size_t collect(char *data, size_t size, size_t n, void *ud)
{
  sf_resp *r = ud;
  return sf_cli_buf_append(&r->body, &r->len, data, size * n) < 0 ? 0 : size * n;
}

static CURL *prepare_once(void)
{
  /* The CLI is single-threaded: initialise libcurl on first use only, so
   * commands that never talk HTTP (run) do not pay for TLS initialisation. */
  static bool done;
  if (!done) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    done = true;
  }
  return curl_easy_init();
}

static CURL *prepare(const char *method, const char *path, const char *body, size_t body_len,
                     const char *content_type, char *const *extra, struct curl_slist **hdrs)
{
  CURL *c = prepare_once();
  if (c == NULL)
    return NULL;
  char url[4096];
  if (strncmp(path, "http://", 7) == 0 || strncmp(path, "https://", 8) == 0)
    snprintf(url, sizeof(url), "%s", path);
  else
    snprintf(url, sizeof(url), "%s%s", base_url(), path);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  if (body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
  } else if (strcmp(method, "POST") == 0) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
  }
  char h[512];
  if (api_key()) {
    snprintf(h, sizeof(h), "OPEN-SANDBOX-API-KEY: %s", api_key());
    *hdrs = curl_slist_append(*hdrs, h);
  }
  if (content_type) {
    snprintf(h, sizeof(h), "Content-Type: %s", content_type);
    *hdrs = curl_slist_append(*hdrs, h);
  }
  for (char *const *e = extra; e && *e; e++)
    *hdrs = curl_slist_append(*hdrs, *e);
  *hdrs = curl_slist_append(*hdrs, "Expect:");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
  return c;
}

static int perform(CURL *c, struct curl_slist *hdrs, long *status)
{
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    char *url = NULL;
    curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &url);
    fprintf(stderr,
            "sandforge: cannot reach %s: %s (is the supervisor running? set SANDFORGE_URL)\n",
            url ? url : base_url(), curl_easy_strerror(rc));
  } else if (status) {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
  }
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(c);
  return rc == CURLE_OK ? 0 : -1;
}

int sf_client_request(const char *method, const char *path, const char *body, size_t body_len,
                      const char *content_type, char *const *extra_headers, sf_resp *out)
{
  memset(out, 0, sizeof(*out));
  struct curl_slist *hdrs = NULL;
  CURL *c = prepare(method, path, body, body_len, content_type, extra_headers, &hdrs);
  if (c == NULL)
    return -1;
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L);
  int r = perform(c, hdrs, &out->status);
  if (out->body == NULL)
    out->body = calloc(1, 1);
  return r;
}

int sf_client_stream(const char *method, const char *path, const char *body,
                     char *const *extra_headers, size_t (*sink)(char *, size_t, size_t, void *),
                     void *ud, long *status)
{
  struct curl_slist *hdrs = NULL;
  CURL *c = prepare(method, path, body, body ? strlen(body) : 0, body ? "application/json" : NULL,
                    extra_headers, &hdrs);
  if (c == NULL)
    return -1;
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, ud);
  return perform(c, hdrs, status);
}

void sf_resp_free(sf_resp *r)
{
  free(r->body);
  r->body = NULL;
}

void sf_client_print_error(const sf_resp *r)
{
  json_t *j = json_loads(r->body ? r->body : "", 0, NULL);
  const char *code = json_string_value(json_object_get(j, "code"));
  const char *msg = json_string_value(json_object_get(j, "message"));
  if (msg == NULL)
    msg = json_string_value(json_object_get(j, "error"));
  fprintf(stderr, "sandforge: %s%s%s (HTTP %ld)\n", code ? code : "", code ? ": " : "",
          msg ? msg : (r->body && *r->body ? r->body : "request failed"), r->status);
  json_decref(j);
}

json_t *sf_client_json(const char *method, const char *path, json_t *body)
{
  char *b = body ? json_dumps(body, JSON_COMPACT) : NULL;
  sf_resp r;
  int rc = sf_client_request(method, path, b, b ? strlen(b) : 0, b ? "application/json" : NULL,
                             NULL, &r);
  free(b);
  if (rc < 0) {
    sf_resp_free(&r);
    return NULL;
  }
  if (r.status < 200 || r.status >= 300) {
    sf_client_print_error(&r);
    sf_resp_free(&r);
    return NULL;
  }
  json_t *j = r.len ? json_loads(r.body, 0, NULL) : json_object();
  sf_resp_free(&r);
  return j ? j : json_object();
}

int sf_client_execd(const char *sandbox_id, char **base, char **token_header)
{
  char path[256];
  snprintf(path, sizeof(path), "/v1/sandboxes/%s/endpoints/44772", sandbox_id);
  json_t *ep = sf_client_json("GET", path, NULL);
  if (ep == NULL)
    return -1;
  const char *e = json_string_value(json_object_get(ep, "endpoint"));
  const char *t =
      json_string_value(json_object_get(json_object_get(ep, "headers"), "X-EXECD-ACCESS-TOKEN"));
  int r = -1;
  if (e && t &&
      asprintf(base, "%s://%s", strncmp(base_url(), "https", 5) == 0 ? "https" : "http", e) >= 0 &&
      asprintf(token_header, "X-EXECD-ACCESS-TOKEN: %s", t) >= 0)
    r = 0;
  json_decref(ep);
  return r;
}

bool sf_client_take_flag(int *argc, char **argv, const char *flag)
{
  for (int i = 1; i < *argc; i++) {
    if (strcmp(argv[i], "--") == 0)
      return false;
    if (strcmp(argv[i], flag) == 0) {
      memmove(argv + i, argv + i + 1, (size_t)(*argc - i) * sizeof(char *));
      (*argc)--;
      return true;
    }
  }
  return false;
}
