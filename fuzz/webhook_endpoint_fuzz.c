/* libFuzzer target: what an API caller controls about a webhook endpoint —
 * the JSON body of POST/PATCH /v1/webhooks (url, events, headers, format,
 * ordering, secret) through validation, the SSRF URL check, and the chat
 * formatters over the payload built for it.  Nothing may crash or leak, and
 * a header line that passed validation must never carry CR/LF. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "webhook/webhook_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  json_t *body = json_loadb((const char *)data, size, 0, NULL);
  sf_webhooks wh = {0};
  wh.s.allow_private_targets = size % 2;
  sf_wh_endpoint e = {.api = true};
  e.format = strdup("json");
  sf_error_t err = NULL;
  if (json_is_object(body) && sf_wh_endpoint_apply_json(&wh, &e, body, true, &err) == 0) {
    for (char **h = e.headers; h && *h; h++)
      if (strpbrk(*h, "\r\n"))
        abort();
    if (e.url == NULL || (strncasecmp(e.url, "http://", 7) && strncasecmp(e.url, "https://", 8)))
      abort();
  }
  sf_error_release(&err);
  /* the raw bytes as a URL and as an event payload for every format */
  char *text = strndup((const char *)data, size);
  if (sf_ssrf_check_url(text, &err) < 0)
    sf_error_release(&err);
  static const char *const formats[] = {"json", "wecom", "slack", "feishu"};
  for (int i = 0; i < 4; i++) {
    char *out = sf_wh_format_body(formats[i], text, &err);
    sf_error_release(&err);
    free(out);
  }
  char why[128];
  sf_wh_response_reports_error("wecom", text, why, sizeof(why));
  sf_wh_response_reports_error("feishu", text, why, sizeof(why));
  free(text);
  sf_wh_endpoint_clear(&e);
  json_decref(body);
  return 0;
}
