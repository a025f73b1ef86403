/* One signed HTTP request to an endpoint (webhooks.md §3–§6): the formatted
 * body, the exact headers, both signature schemes for every active secret,
 * no redirects, http/https only, and for API-registered endpoints the SSRF
 * guard on the address libcurl is about to connect to.  Used by the
 * dispatcher (curl multi) and by the synchronous test route. */
#include "common/log.h"
#include "common/util.h"
#include "webhook/webhook_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static size_t keep_response(char *data, size_t size, size_t n, void *ud)
{
  sf_wh_request *r = ud;
  size_t len = size * n, room = SF_WH_RESPONSE_KEEP - r->response_len;
  if (room > 0) {
    size_t c = len < room ? len : room;
    memcpy(r->response + r->response_len, data, c);
    r->response_len += c;
    r->response[r->response_len] = '\0';
  }
  return len;
}

/* libcurl calls this with each resolved address right before connecting, so
 * the check sees exactly what will be connected to (no DNS rebinding gap). */
static curl_socket_t guarded_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
  sf_wh_request *r = ud;
  const char *why = NULL;
  if (purpose == CURLSOCKTYPE_IPCXN && sf_ssrf_addr_blocked(&a->addr, &why)) {
    char ip[64] = "?";
    if (a->addr.sa_family == AF_INET)
      inet_ntop(AF_INET, &((struct sockaddr_in *)&a->addr)->sin_addr, ip, sizeof(ip));
    else if (a->addr.sa_family == AF_INET6)
      inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&a->addr)->sin6_addr, ip, sizeof(ip));
    snprintf(r->blocked, sizeof(r->blocked),
             "blocked by the SSRF guard: %s is %s (allow_private_targets is off)", ip, why);
    return CURL_SOCKET_BAD;
  }
  return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static int add_header(sf_wh_request *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int add_header(sf_wh_request *r, const char *fmt, ...)
{
  char *line = NULL;
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&line, fmt, ap);
  va_end(ap);
  if (n < 0)
    return -1;
  struct curl_slist *l = curl_slist_append(r->headers, line);
  free(line);
  if (l == NULL)
    return -1;
  r->headers = l;
  return 0;
}

sf_wh_request *sf_wh_request_new(sf_webhooks *wh, const sf_wh_endpoint *e, const char *event_id,
                                 const char *event_type, const char *delivery_id, int attempt,
                                 const char *payload, sf_error_t *err)
{
  sf_wh_request *r = calloc(1, sizeof(*r));
  if (r == NULL) {
    sf_error_make(err, ENOMEM, "out of memory");
    return NULL;
  }
  r->body = sf_wh_format_body(e->format, payload, err);
  if (r->body == NULL)
    goto fail;
  snprintf(r->format, sizeof(r->format), "%s", e->format);
  int64_t now = sf_now_ms();
  int64_t ts = now / 1000; /* a fresh timestamp (and signature) per attempt */
  int bad = add_header(r, "Content-Type: application/json") |
            add_header(r, "User-Agent: %s", SF_WH_USER_AGENT) |
            add_header(r, "webhook-id: %s", event_id) |
            add_header(r, "webhook-timestamp: %lld", (long long)ts) |
            add_header(r, "X-Sandforge-Event: %s", event_type);
  if (delivery_id)
    bad |= add_header(r, "X-Sandforge-Delivery: %s", delivery_id);
  bad |= add_header(r, "X-Sandforge-Attempt: %d", attempt);
  char **secrets = sf_wh_endpoint_active_secrets(e, now);
  if (secrets && secrets[0]) {
    char *std = NULL, *str = NULL;
    int s = sf_sig_headers(secrets, event_id, ts, r->body, strlen(r->body), &std, &str, err);
    free(secrets);
    if (s < 0)
      goto fail;
    bad |= add_header(r, "webhook-signature: %s", std) |
           add_header(r, "X-Sandforge-Signature: %s", str);
    free(std);
    free(str);
  } else {
    free(secrets);
  }
  for (char **x = e->headers; x && *x; x++)
    bad |= add_header(r, "%s", *x);
  bad |= add_header(r, "Expect:"); /* no 100-continue round trip */
  CURL *c = r->easy = curl_easy_init();
  if (bad || c == NULL) {
    sf_error_make(err, ENOMEM, "out of memory building a webhook request");
    goto fail;
  }
  curl_easy_setopt(c, CURLOPT_URL, e->url);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body);
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(r->body));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->headers);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* redirects are failures, never followed */
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(e->timeout_ms ? e->timeout_ms : wh->s.timeout_ms));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)wh->s.connect_timeout_ms);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_response);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(c, CURLOPT_PRIVATE, r);
  if (wh->s.ca_bundle)
    curl_easy_setopt(c, CURLOPT_CAINFO, wh->s.ca_bundle);
  if (e->api && !wh->s.allow_private_targets) {
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, guarded_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, r);
    /* A proxy would make the guard judge the proxy's address, not the target's. */
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  }
  return r;
fail:
  sf_wh_request_free(r);
  return NULL;
}

void sf_wh_request_free(sf_wh_request *r)
{
  if (r == NULL)
    return;
  if (r->easy)
    curl_easy_cleanup(r->easy);
  curl_slist_free_all(r->headers);
  free(r->body);
  free(r);
}

const char *sf_wh_request_outcome(sf_wh_request *r, CURLcode rc, long *http, char *buf, size_t len)
{
  *http = 0;
  if (r->blocked[0]) {
    snprintf(buf, len, "%s", r->blocked);
    return buf;
  }
  if (rc != CURLE_OK) {
    snprintf(buf, len, "%s", curl_easy_strerror(rc));
    return buf;
  }
  curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, http);
  if (*http >= 200 && *http < 300 && sf_wh_response_reports_error(r->format, r->response, buf, len))
    return buf;
  return NULL;
}
