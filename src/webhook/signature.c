#include "webhook/signature.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <pthread.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* HMAC key bytes for the Standard Webhooks scheme. */
static unsigned char *standard_key(const char *secret, size_t *klen, sf_error_t *err)
{
  if (strncmp(secret, "whsec_", 6) != 0) {
    *klen = strlen(secret);
    unsigned char *k = malloc(*klen + 1);
    memcpy(k, secret, *klen + 1);
    return k;
  }
  const char *b64 = secret + 6;
  size_t n = strlen(b64);
  unsigned char *k = malloc(n + 3);
  int out = EVP_DecodeBlock(k, (const unsigned char *)b64, (int)n);
  if (out < 0 || n % 4 != 0) {
    free(k);
    sf_error_make(err, EINVAL, "webhook secret after 'whsec_' is not valid base64");
    return NULL;
  }
  /* EVP_DecodeBlock counts padding bytes as output: drop them. */
  while (n > 0 && b64[n - 1] == '=') {
    n--;
    out--;
  }
  *klen = (size_t)out;
  return k;
}

/* OpenSSL 3 looks an algorithm up in its provider tables (with locks) on
 * every fetch; every delivery signs twice per secret, so fetch HMAC once.
 * The fetched object is immutable and safe to share between threads; it
 * lives until exit on purpose. */
static EVP_MAC *hmac_alg;
static void hmac_fetch(void)
{
  hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

static EVP_MAC *hmac_algorithm(void)
{
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, hmac_fetch);
  return hmac_alg;
}

static int hmac(const unsigned char *key, size_t klen, const char *const *parts, const size_t *lens,
                int nparts, unsigned char mac[32])
{
  /* The message is the parts joined by '.': hashing incrementally avoids a copy of the body. */
  EVP_MAC *m = hmac_algorithm();
  EVP_MAC_CTX *ctx = m ? EVP_MAC_CTX_new(m) : NULL;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
                         OSSL_PARAM_construct_end()};
  size_t mlen = 0;
  int ok = ctx && EVP_MAC_init(ctx, key, klen, params);
  for (int i = 0; ok && i < nparts; i++) {
    if (i > 0)
      ok = EVP_MAC_update(ctx, (const unsigned char *)".", 1);
    ok = ok && EVP_MAC_update(ctx, (const unsigned char *)parts[i], lens[i]);
  }
  ok = ok && EVP_MAC_final(ctx, mac, &mlen, 32);
  EVP_MAC_CTX_free(ctx);
  return ok && mlen == 32 ? 0 : -1;
}

char *sf_sig_standard(const char *secret, const char *msg_id, int64_t ts, const char *body,
                      size_t len, sf_error_t *err)
{
  size_t klen;
  unsigned char *key = standard_key(secret, &klen, err);
  if (key == NULL)
    return NULL;
  char tsb[24];
  snprintf(tsb, sizeof(tsb), "%lld", (long long)ts);
  const char *parts[] = {msg_id, tsb, body};
  size_t lens[] = {strlen(msg_id), strlen(tsb), len};
  unsigned char mac[32];
  int r = hmac(key, klen, parts, lens, 3, mac);
  OPENSSL_cleanse(key, klen);
  free(key);
  if (r < 0) {
    sf_error_make(err, EIO, "HMAC failure");
    return NULL;
  }
  char *out = malloc(3 + 45);
  memcpy(out, "v1,", 3);
  EVP_EncodeBlock((unsigned char *)out + 3, mac, 32);
  return out;
}

char *sf_sig_stripe(const char *secret, int64_t ts, const char *body, size_t len, sf_error_t *err)
{
  char tsb[24];
  snprintf(tsb, sizeof(tsb), "%lld", (long long)ts);
  const char *parts[] = {tsb, body};
  size_t lens[] = {strlen(tsb), len};
  unsigned char mac[32];
  if (hmac((const unsigned char *)secret, strlen(secret), parts, lens, 2, mac) < 0) {
    sf_error_make(err, EIO, "HMAC failure");
    return NULL;
  }
  char *out = malloc(65);
  for (int i = 0; i < 32; i++)
    snprintf(out + 2 * i, 3, "%02x", mac[i]);
  return out;
}

int sf_sig_headers(char *const *secrets, const char *msg_id, int64_t ts, const char *body,
                   size_t len, char **standard, char **stripe, sf_error_t *err)
{
  char *std_buf = NULL, *str_buf = NULL;
  size_t std_len = 0, str_len = 0;
  FILE *a = open_memstream(&std_buf, &std_len), *b = open_memstream(&str_buf, &str_len);
  fprintf(b, "t=%lld", (long long)ts);
  int r = 0;
  for (char *const *s = secrets; s && *s && r == 0; s++) {
    cleanup_free char *v1 = sf_sig_standard(*s, msg_id, ts, body, len, err);
    cleanup_free char *hex = v1 ? sf_sig_stripe(*s, ts, body, len, err) : NULL;
    if (hex == NULL) {
      r = -1;
      break;
    }
    fprintf(a, "%s%s", s == secrets ? "" : " ", v1);
    fprintf(b, ",v1=%s", hex);
  }
  fclose(a);
  fclose(b);
  if (r < 0) {
    free(std_buf);
    free(str_buf);
    return -1;
  }
  *standard = std_buf;
  *stripe = str_buf;
  return 0;
}

char *sf_sig_generate_secret(sf_error_t *err)
{
  unsigned char raw[32];
  if (sf_random_bytes(raw, sizeof(raw), err) < 0)
    return NULL;
  char *out = malloc(6 + 45);
  memcpy(out, "whsec_", 6);
  EVP_EncodeBlock((unsigned char *)out + 6, raw, sizeof(raw));
  OPENSSL_cleanse(raw, sizeof(raw));
  return out;
}
