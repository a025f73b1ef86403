/* SSRF guard for endpoints registered through the REST API (webhooks.md §6).
 *
 * Whoever can call the API must not be able to make the supervisor POST into
 * the operator's network: loopback, private, link-local (cloud metadata at
 * 169.254.169.254), CGNAT, multicast, reserved and documentation ranges are
 * refused.  The decisive check runs on the address libcurl is about to connect
 * to (request.c's opensocket callback), so DNS tricks (a name that resolves
 * to 127.0.0.1, rebinding between a check and the connect) cannot slip past.
 * The URL check here only rejects obvious cases early with a clear 400. */
#include "common/util.h"
#include "webhook/webhook_internal.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct {
  uint32_t net;
  int bits;
  const char *why;
} v4_range;

static const v4_range v4_blocked[] = {
    {0x00000000, 8, "a 'this network' address"},  /* 0.0.0.0/8 */
    {0x0a000000, 8, "a private address"},         /* 10/8 */
    {0x64400000, 10, "a CGNAT address"},          /* 100.64/10 */
    {0x7f000000, 8, "a loopback address"},        /* 127/8 */
    {0xa9fe0000, 16, "a link-local address"},     /* 169.254/16 (cloud metadata) */
    {0xac100000, 12, "a private address"},        /* 172.16/12 */
    {0xc0000000, 24, "an IETF protocol address"}, /* 192.0.0/24 */
    {0xc0000200, 24, "a documentation address"},  /* 192.0.2/24 */
    {0xc0586300, 24, "a relay address"},          /* 192.88.99/24 (6to4 relay) */
    {0xc0a80000, 16, "a private address"},        /* 192.168/16 */
    {0xc6120000, 15, "a benchmarking address"},   /* 198.18/15 */
    {0xc6336400, 24, "a documentation address"},  /* 198.51.100/24 */
    {0xcb007100, 24, "a documentation address"},  /* 203.0.113/24 */
    {0xe0000000, 4, "a multicast address"},       /* 224/4 */
    {0xf0000000, 4, "a reserved address"},        /* 240/4 incl. broadcast */
};

static bool v4_is_blocked(uint32_t a, const char **why)
{
  for (size_t i = 0; i < sizeof(v4_blocked) / sizeof(v4_blocked[0]); i++) {
    uint32_t mask = v4_blocked[i].bits ? ~0u << (32 - v4_blocked[i].bits) : 0;
    if ((a & mask) == v4_blocked[i].net) {
      *why = v4_blocked[i].why;
      return true;
    }
  }
  return false;
}

static bool v6_is_blocked(const unsigned char *b, const char **why)
{
  static const unsigned char zero[16];
  uint32_t embedded = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
  if (memcmp(b, zero, 15) == 0 && (b[15] == 0 || b[15] == 1)) {
    *why = b[15] ? "a loopback address" : "the unspecified address";
    return true;
  }
  /* ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible): judge the IPv4 inside. */
  if (memcmp(b, zero, 10) == 0 && ((b[10] == 0xff && b[11] == 0xff) || (b[10] == 0 && b[11] == 0)))
    return v4_is_blocked(embedded, why);
  /* NAT64 64:ff9b::/96 reaches the embedded IPv4 address. */
  static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};
  if (memcmp(b, nat64, 12) == 0)
    return v4_is_blocked(embedded, why);
  if (b[0] == 0x20 && b[1] == 0x02) /* 6to4 2002:AABB:CCDD::/48 */
    return v4_is_blocked((uint32_t)b[2] << 24 | (uint32_t)b[3] << 16 | (uint32_t)b[4] << 8 | b[5],
                         why);
  if ((b[0] & 0xfe) == 0xfc)
    *why = "a unique-local (private) address";
  else if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
    *why = "a link-local address";
  else if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
    *why = "a site-local address";
  else if (b[0] == 0xff)
    *why = "a multicast address";
  else if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8)
    *why = "a documentation address";
  else if (b[0] == 0x01 && b[1] == 0x00 && memcmp(b + 2, zero, 6) == 0)
    *why = "a discard address";
  else if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0)
    *why = "a Teredo address";
  else if ((b[0] & 0xe0) != 0x20) /* outside 2000::/3, the global unicast space */
    *why = "a reserved address";
  else
    return false;
  return true;
}

bool sf_ssrf_addr_blocked(const struct sockaddr *sa, const char **why)
{
  const char *dummy;
  if (why == NULL)
    why = &dummy;
  if (sa->sa_family == AF_INET)
    return v4_is_blocked(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr), why);
  if (sa->sa_family == AF_INET6)
    return v6_is_blocked(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, why);
  *why = "not an internet address";
  return true;
}

int sf_ssrf_check_url(const char *url, sf_error_t *err)
{
  char *host = sf_wh_url_host(url);
  if (host == NULL)
    return sf_error_make(err, EINVAL, "webhook url '%s' is not a valid URL", url);
  size_t n = strlen(host);
  char lit[64] = "";
  if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof(lit))
    snprintf(lit, sizeof(lit), "%.*s", (int)(n - 2), host + 1);
  else if (n < sizeof(lit))
    snprintf(lit, sizeof(lit), "%s", host);
  char *pct = strchr(lit, '%'); /* fe80::1%eth0 */
  if (pct)
    *pct = '\0';
  struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
  struct sockaddr_in s4 = {.sin_family = AF_INET};
  const char *why = NULL;
  bool blocked = false;
  if (inet_pton(AF_INET6, lit, &s6.sin6_addr) == 1)
    blocked = sf_ssrf_addr_blocked((struct sockaddr *)&s6, &why);
  else if (inet_pton(AF_INET, lit, &s4.sin_addr) == 1)
    blocked = sf_ssrf_addr_blocked((struct sockaddr *)&s4, &why);
  else {
    /* Names that are loopback by definition (RFC 6761); everything else is
     * judged on its resolved address at connect time. */
    char *dot = host[n ? n - 1 : 0] == '.' ? &host[n - 1] : NULL;
    if (dot)
      *dot = '\0';
    size_t m = strlen(host);
    if (strcasecmp(host, "localhost") == 0 ||
        (m > 10 && strcasecmp(host + m - 10, ".localhost") == 0)) {
      blocked = true;
      why = "a loopback name";
    }
  }
  int r = 0;
  if (blocked)
    r = sf_error_make(err, EINVAL,
                      "webhook url host '%s' is %s; the SSRF guard refuses private targets for "
                      "endpoints created through the API (operator setting "
                      "[webhooks] allow_private_targets)",
                      host, why);
  curl_free(host);
  return r;
}
