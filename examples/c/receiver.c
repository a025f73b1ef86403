/* A Sandforge webhook receiver in C: libmicrohttpd for HTTP, OpenSSL libcrypto
 * for HMAC-SHA256 and base64, jansson to read the event.
 *
 * With WEBHOOK_SECRET set, every delivery must pass BOTH signature schemes of
 * docs/webhooks.md (Standard Webhooks `webhook-signature` and the Stripe-style
 * `X-Sandforge-Signature`) and carry timestamps within 300 s of our clock, or it
 * is answered 401.  Verified events are de-duplicated on `webhook-id` (retries
 * reuse it), printed as one line each, and answered 204 at once: do slow work
 * after answering, or the sender's timeout turns it into a retry.
 *
 *     make -C examples/c && WEBHOOK_SECRET=whsec_... PORT=9000 examples/c/receiver
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define TOLERANCE_SECONDS 300  /* replay window for webhook-timestamp and t= */
#define MAX_BODY (1024 * 1024) /* Sandforge payloads are a few KiB; refuse more */
#define SEEN_CAPACITY 10000    /* remember this many recent webhook-ids */
#define SHA256_LEN 32
#define B64_SHA256_LEN 44 /* base64 of 32 bytes, with padding */
#define HEX_SHA256_LEN 64

/* Keys, fixed at start-up.  Standard Webhooks uses the base64-decoded part
 * after "whsec_" (or the raw secret without that prefix); the Stripe-style
 * scheme uses the secret's bytes exactly as configured. */
static const char *g_secret;
static size_t g_secret_len;
static unsigned char *g_std_key;
static size_t g_std_key_len;
static EVP_MAC *g_hmac;

/* Ring of recently seen webhook-ids.  A linear scan of 10,000 short strings
 * costs microseconds, far below one HTTP round trip; a real receiver keeps the
 * ids in its database under a unique index instead, so they survive restarts.
 * Only the daemon's single polling thread touches it, so it needs no lock. */
static char *g_seen[SEEN_CAPACITY];
static size_t g_seen_next;

/* One request's body, collected across libmicrohttpd's upload callbacks. */
struct request {
  char *body;
  size_t len, cap;
  bool too_large;
};

static int base64_decode(const char *in, unsigned char **out, size_t *out_len)
{
  size_t n = strlen(in);
  if (n == 0 || n % 4 != 0)
    return -1;
  unsigned char *buf = malloc(n / 4 * 3 + 1);
  if (buf == NULL)
    return -1;
  int len = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)n);
  if (len < 0) {
    free(buf);
    return -1;
  }
  /* EVP_DecodeBlock counts the zero bytes that padding stands for. */
  for (size_t i = n; i > 0 && in[i - 1] == '='; i--)
    len--;
  *out = buf;
  *out_len = (size_t)len;
  return 0;
}

/* A piece of the signed message: the signature covers "<id>.<ts>.<body>",
 * fed to the HMAC piece by piece instead of being copied into one buffer. */
struct part {
  const void *data;
  size_t len;
};

/* HMAC-SHA256 over the concatenation of `parts`. */
static int hmac_sha256(const unsigned char *key, size_t key_len, const struct part *parts,
                       size_t n_parts, unsigned char out[SHA256_LEN])
{
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(g_hmac);
  size_t out_len = 0;
  int ok = ctx != NULL && EVP_MAC_init(ctx, key, key_len, params);
  for (size_t i = 0; ok && i < n_parts; i++)
    ok = EVP_MAC_update(ctx, parts[i].data, parts[i].len);
  ok = ok && EVP_MAC_final(ctx, out, &out_len, SHA256_LEN) && out_len == SHA256_LEN;
  EVP_MAC_CTX_free(ctx);
  return ok ? 0 : -1;
}

/* Unix seconds from a header value: digits only, within the replay window. */
static bool timestamp_fresh(const char *s, size_t len)
{
  if (len == 0 || len > 18)
    return false;
  int64_t t = 0;
  for (size_t i = 0; i < len; i++) {
    if (!isdigit((unsigned char)s[i]))
      return false;
    t = t * 10 + (s[i] - '0');
  }
  int64_t now = (int64_t)time(NULL);
  return t >= now - TOLERANCE_SECONDS && t <= now + TOLERANCE_SECONDS;
}

/* Standard Webhooks: "v1,<base64>" entries separated by spaces (one per
 * active secret while a secret is being rotated); any match is enough. */
static bool standard_signature_ok(const char *id, const char *ts, const struct request *req,
                                  const char *header)
{
  unsigned char mac[SHA256_LEN];
  struct part parts[] = {
      {id, strlen(id)}, {".", 1}, {ts, strlen(ts)}, {".", 1}, {req->body, req->len}};
  if (hmac_sha256(g_std_key, g_std_key_len, parts, 5, mac) < 0)
    return false;
  char want[B64_SHA256_LEN + 1];
  EVP_EncodeBlock((unsigned char *)want, mac, SHA256_LEN);

  bool ok = false;
  for (const char *p = header; *p;) {
    size_t n = strcspn(p, " ");
    /* Check every entry (no early exit) so timing does not reveal which one matched. */
    if (n == 3 + B64_SHA256_LEN && strncmp(p, "v1,", 3) == 0)
      ok |= CRYPTO_memcmp(p + 3, want, B64_SHA256_LEN) == 0;
    p += n;
    p += strspn(p, " ");
  }
  return ok;
}

/* Sandforge / Stripe style: "t=<unix seconds>,v1=<hex>[,v1=<hex>...]" over
 * "<t>.<body>", keyed with the secret exactly as configured. */
static const char *sandforge_signature_error(const char *header, const struct request *req)
{
  const char *t = NULL;
  size_t t_len = 0;
  for (const char *p = header; *p; p += *p == ',') {
    size_t n = strcspn(p, ",");
    if (t == NULL && n > 2 && strncmp(p, "t=", 2) == 0) {
      t = p + 2;
      t_len = n - 2;
    }
    p += n;
  }
  if (t == NULL)
    return "X-Sandforge-Signature has no t=";
  if (!timestamp_fresh(t, t_len))
    return "X-Sandforge-Signature t= is outside the 300 s window";

  unsigned char mac[SHA256_LEN];
  struct part parts[] = {{t, t_len}, {".", 1}, {req->body, req->len}};
  if (hmac_sha256((const unsigned char *)g_secret, g_secret_len, parts, 3, mac) < 0)
    return "HMAC failed";
  char want[HEX_SHA256_LEN + 1];
  for (size_t i = 0; i < SHA256_LEN; i++)
    snprintf(want + 2 * i, 3, "%02x", mac[i]);

  bool ok = false;
  for (const char *p = header; *p; p += *p == ',') {
    size_t n = strcspn(p, ",");
    if (n == 3 + HEX_SHA256_LEN && strncmp(p, "v1=", 3) == 0)
      ok |= CRYPTO_memcmp(p + 3, want, HEX_SHA256_LEN) == 0;
    p += n;
  }
  return ok ? NULL : "bad X-Sandforge-Signature";
}

static const char *header(struct MHD_Connection *conn, const char *name)
{
  return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name); /* case-insensitive */
}

/* NULL when the delivery is authentic and fresh, else why it is not. */
static const char *verify(struct MHD_Connection *conn, const struct request *req)
{
  const char *id = header(conn, "webhook-id");
  const char *ts = header(conn, "webhook-timestamp");
  const char *std_sig = header(conn, "webhook-signature");
  const char *sf_sig = header(conn, "X-Sandforge-Signature");
  if (id == NULL || ts == NULL || std_sig == NULL || sf_sig == NULL)
    return "missing webhook-id, webhook-timestamp or a signature header";
  if (!timestamp_fresh(ts, strlen(ts)))
    return "webhook-timestamp is outside the 300 s window";
  if (!standard_signature_ok(id, ts, req, std_sig))
    return "bad webhook-signature";
  return sandforge_signature_error(sf_sig, req);
}

/* true if `id` was not seen before (and remembers it). */
static bool seen_add(const char *id)
{
  for (size_t i = 0; i < SEEN_CAPACITY; i++)
    if (g_seen[i] != NULL && strcmp(g_seen[i], id) == 0)
      return false;
  char *copy = strdup(id);
  if (copy == NULL)
    return true; /* cannot remember it: treating it as new is the at-least-once choice */
  free(g_seen[g_seen_next]);
  g_seen[g_seen_next] = copy;
  g_seen_next = (g_seen_next + 1) % SEEN_CAPACITY;
  return true;
}

/* Print untrusted text without control characters, so a payload cannot
 * forge extra log lines. */
static void print_clean(const char *s)
{
  for (; s && *s; s++)
    putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
}

static void print_str_field(const char *label, json_t *obj, const char *key)
{
  const char *v = json_string_value(json_object_get(obj, key));
  fputs(label, stdout);
  print_clean(v ? v : "-");
}

static void print_event(json_t *ev, const char *id, const char *attempt)
{
  const char *name = json_string_value(json_object_get(ev, "event"));
  print_str_field("", ev, "timestamp");
  putchar(' ');
  print_clean(name ? name : "-");
  for (size_t n = name ? strlen(name) : 1; n < 20; n++) /* pad the name to a column */
    putchar(' ');
  fputs(" id=", stdout);
  print_clean(id);
  print_str_field(" sandbox=", ev, "sandbox_id");
  fputs(" attempt=", stdout);
  print_clean(attempt ? attempt : "-");
  printf(" verified=%s", g_secret ? "yes" : "no secret");
  /* A few event-specific fields, JSON-encoded so strings stay on one line. */
  static const char *const extras[] = {"reason", "resource", "syscall", "command"};
  json_t *data = json_object_get(ev, "data");
  for (size_t i = 0; i < sizeof(extras) / sizeof(extras[0]); i++) {
    json_t *v = json_object_get(data, extras[i]);
    char *text = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    if (text)
      printf(" %s=%s", extras[i], text);
    free(text);
  }
  putchar('\n');
  fflush(stdout); /* one line per event, visible at once even when piped */
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status)
{
  struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
  if (r == NULL)
    return MHD_NO;
  if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
    MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "POST");
  enum MHD_Result ret = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return ret;
}

static void reject(struct MHD_Connection *conn, const char *why)
{
  fputs("REJECTED delivery ", stdout);
  const char *delivery = header(conn, "X-Sandforge-Delivery");
  print_clean(delivery ? delivery : "-");
  printf(": %s\n", why);
  fflush(stdout);
}

/* The whole body has arrived: verify, answer, then print. */
static enum MHD_Result handle_delivery(struct MHD_Connection *conn, const struct request *req)
{
  if (g_secret != NULL) {
    const char *why = verify(conn, req);
    if (why != NULL) {
      reject(conn, why);
      return reply(conn, MHD_HTTP_UNAUTHORIZED);
    }
  }
  json_error_t jerr;
  json_t *ev = json_loadb(req->body ? req->body : "", req->len, 0, &jerr);
  if (!json_is_object(ev)) {
    json_decref(ev);
    reject(conn, "body is not a JSON object");
    return reply(conn, MHD_HTTP_BAD_REQUEST);
  }
  /* Without a secret the header may be absent; fall back to the payload's id. */
  const char *id = header(conn, "webhook-id");
  if (id == NULL)
    id = json_string_value(json_object_get(ev, "id"));
  bool fresh = id == NULL || seen_add(id);
  enum MHD_Result ret = reply(conn, MHD_HTTP_NO_CONTENT);
  if (fresh) /* a duplicate is a retry of something already handled: acknowledge only */
    print_event(ev, id ? id : "-", header(conn, "X-Sandforge-Attempt"));
  json_decref(ev);
  return ret;
}

static int append(struct request *req, const char *data, size_t n)
{
  if (n > MAX_BODY - req->len)
    return -1;
  if (req->len + n > req->cap) {
    size_t cap = req->cap ? req->cap : 4096;
    while (cap < req->len + n)
      cap *= 2;
    char *body = realloc(req->body, cap);
    if (body == NULL)
      return -1;
    req->body = body;
    req->cap = cap;
  }
  memcpy(req->body + req->len, data, n);
  req->len += n;
  return 0;
}

/* libmicrohttpd calls this once with the headers, then once per chunk of
 * body, then once more with *upload_data_size == 0 when the body is complete. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
  (void)cls, (void)url, (void)version;
  struct request *req = *req_cls;
  if (req == NULL) {
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
      return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED);
    const char *cl = header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl != NULL && strtoull(cl, NULL, 10) > MAX_BODY)
      return reply(conn, MHD_HTTP_CONTENT_TOO_LARGE); /* do not even read it */
    req = calloc(1, sizeof(*req));
    if (req == NULL)
      return MHD_NO;
    *req_cls = req;
    return MHD_YES;
  }
  if (*upload_data_size > 0) {
    /* A chunked body has no Content-Length: keep counting, answer 413 at the end. */
    if (!req->too_large && append(req, upload_data, *upload_data_size) < 0)
      req->too_large = true;
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (req->too_large)
    return reply(conn, MHD_HTTP_CONTENT_TOO_LARGE);
  return handle_delivery(conn, req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
  (void)cls, (void)conn, (void)toe;
  struct request *req = *req_cls;
  if (req != NULL)
    free(req->body);
  free(req);
  *req_cls = NULL;
}

static int parse_port(const char *s)
{
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  return errno == 0 && *s && *end == '\0' && v > 0 && v < 65536 ? (int)v : -1;
}

int main(void)
{
  const char *secret = getenv("WEBHOOK_SECRET");
  const char *port_env = getenv("PORT");
  int port = parse_port(port_env && *port_env ? port_env : "9000");
  if (port < 0) {
    fprintf(stderr, "PORT must be a number between 1 and 65535\n");
    return 2;
  }
  g_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  if (g_hmac == NULL) {
    fprintf(stderr, "OpenSSL has no HMAC\n");
    return 1;
  }
  if (secret != NULL && *secret) {
    g_secret = secret;
    g_secret_len = strlen(secret);
    if (strncmp(secret, "whsec_", 6) == 0) {
      if (base64_decode(secret + 6, &g_std_key, &g_std_key_len) < 0 || g_std_key_len == 0) {
        fprintf(stderr, "WEBHOOK_SECRET: the part after whsec_ must be base64\n");
        EVP_MAC_free(g_hmac);
        return 2;
      }
    } else {
      g_std_key = (unsigned char *)strdup(secret);
      g_std_key_len = g_secret_len;
      if (g_std_key == NULL)
        return 1;
    }
  } else {
    fprintf(stderr, "warning: WEBHOOK_SECRET is not set; signatures are not checked\n");
  }

  /* Block the stop signals before the daemon's thread exists (it inherits the
   * mask), so sigwait() below is the only place they are taken. */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);

  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  /* One internal polling thread: requests are handled one at a time, which
   * is plenty for a receiver that answers in microseconds, and keeps the
   * de-duplication ring free of locks. */
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port, NULL, NULL, on_request,
      NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED,
      on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
  int rc = 0;
  if (d == NULL) {
    fprintf(stderr, "cannot listen on 127.0.0.1:%d\n", port); /* MHD logged why above */
    rc = 1;
  } else {
    printf("receiver listening on http://127.0.0.1:%d/\n", port);
    fflush(stdout);
    int sig;
    sigwait(&stop, &sig);
    MHD_stop_daemon(d);
  }

  for (size_t i = 0; i < SEEN_CAPACITY; i++)
    free(g_seen[i]);
  free(g_std_key);
  EVP_MAC_free(g_hmac);
  return rc;
}
