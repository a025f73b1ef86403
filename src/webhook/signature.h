/* Webhook signatures (webhooks.md §4), both schemes on every signed delivery:
 *  - Standard Webhooks: webhook-signature: v1,<base64(HMAC-SHA256(key, id.ts.body))>
 *    key = base64-decoded remainder when the secret starts with "whsec_", else the raw bytes;
 *  - Stripe style: X-Sandforge-Signature: t=<ts>,v1=<hex(HMAC-SHA256(secret bytes, ts.body))>. */
#ifndef SF_WEBHOOK_SIGNATURE_H
#define SF_WEBHOOK_SIGNATURE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* "v1,<base64>" for one secret.  Caller frees. */
char *sf_sig_standard(const char *secret, const char *msg_id, int64_t ts, const char *body,
                      size_t len, sf_error_t *err);
/* "<hex>" (64 chars) for one secret.  Caller frees. */
char *sf_sig_stripe(const char *secret, int64_t ts, const char *body, size_t len, sf_error_t *err);

/* Both header values for every active secret (NULL-terminated list; during a
 * rotation the old secret signs beside the new one, one entry each):
 * *standard = "v1,AAA v1,BBB", *stripe = "t=TS,v1=aaa,v1=bbb".  Caller frees. */
int sf_sig_headers(char *const *secrets, const char *msg_id, int64_t ts, const char *body,
                   size_t len, char **standard, char **stripe, sf_error_t *err);

/* "whsec_" + base64 of 32 CSPRNG bytes.  Caller frees. */
char *sf_sig_generate_secret(sf_error_t *err);

#endif
