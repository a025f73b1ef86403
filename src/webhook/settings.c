/* Webhook settings from the INI file, the environment and flags (they merge:
 * every endpoint configured any of these ways is delivered to). */
#include "common/cleanup.h"
#include "common/util.h"
#include "webhook/webhook_internal.h"

#include <ctype.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

sf_webhook_settings *sf_webhook_settings_new(void)
{
  sf_webhook_settings *s = calloc(1, sizeof(*s));
  sf_backoff_default(&s->backoff);
  s->timeout_ms = 10000;
  s->connect_timeout_ms = 5000;
  s->max_in_flight = 16;
  s->max_connections = 256;
  s->retention_ms = 7LL * 86400000;
  s->disable_after_ms = 5LL * 86400000;
  s->rotation_overlap_ms = 86400000;
  return s;
}

void sf_wh_endpoint_clear(sf_wh_endpoint *e)
{
  free(e->id);
  free(e->name);
  free(e->url);
  for (size_t i = 0; i < e->n_secrets; i++) {
    OPENSSL_cleanse(e->secrets[i].value, strlen(e->secrets[i].value));
    free(e->secrets[i].value);
  }
  free(e->secrets);
  sf_strv_free(e->events);
  sf_strv_free(e->headers);
  free(e->format);
  free(e->description);
  free(e->disabled_reason);
  memset(e, 0, sizeof(*e));
}

void sf_webhook_settings_free(sf_webhook_settings *s)
{
  if (s == NULL)
    return;
  for (size_t i = 0; i < s->n; i++)
    sf_wh_endpoint_clear(&s->eps[i]);
  free(s->eps);
  free(s->ca_bundle);
  free(s);
}

static char *dup_or_null(const char *s)
{
  return s ? strdup(s) : NULL;
}

sf_wh_endpoint *sf_wh_endpoint_dup(const sf_wh_endpoint *a)
{
  sf_wh_endpoint *b = calloc(1, sizeof(*b));
  if (b == NULL)
    return NULL;
  *b = *a;
  b->id = dup_or_null(a->id);
  b->name = dup_or_null(a->name);
  b->url = dup_or_null(a->url);
  b->secrets = calloc(a->n_secrets + 1, sizeof(sf_wh_secret));
  for (size_t i = 0; i < a->n_secrets; i++)
    b->secrets[i] = (sf_wh_secret){strdup(a->secrets[i].value), a->secrets[i].expires_ms};
  b->events = sf_strv_dup(a->events);
  b->headers = sf_strv_dup(a->headers);
  b->format = dup_or_null(a->format);
  b->description = dup_or_null(a->description);
  b->disabled_reason = dup_or_null(a->disabled_reason);
  return b;
}

static sf_wh_endpoint *endpoint_named(sf_webhook_settings *s, const char *name)
{
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->eps[i].name, name) == 0)
      return &s->eps[i];
  sf_wh_endpoint *n = realloc(s->eps, (s->n + 1) * sizeof(*n));
  if (n == NULL)
    return NULL;
  s->eps = n;
  sf_wh_endpoint *e = &s->eps[s->n++];
  memset(e, 0, sizeof(*e));
  e->name = strdup(name);
  e->format = strdup("json");
  e->events = calloc(1, sizeof(char *));
  if (asprintf(&e->id, "wh_op_%s", name) < 0)
    e->id = NULL;
  return e;
}

char *sf_wh_url_host(const char *url)
{
  CURLU *u = curl_url();
  char *host = NULL;
  if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
    host = NULL;
  curl_url_cleanup(u);
  return host;
}

int sf_wh_check_url(const char *url, sf_error_t *err)
{
  if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
    return sf_error_make(err, EINVAL, "webhook url must be http:// or https://, got '%s'", url);
  char *host = sf_wh_url_host(url);
  bool parses = host != NULL;
  curl_free(host);
  if (!parses || strpbrk(url, " \t\r\n"))
    return sf_error_make(err, EINVAL, "webhook url '%s' is not a valid URL", url);
  return 0;
}

bool sf_wh_format_known(const char *f)
{
  return strcmp(f, "json") == 0 || strcmp(f, "wecom") == 0 || strcmp(f, "slack") == 0 ||
         strcmp(f, "feishu") == 0;
}

int sf_wh_check_header(const char *line, sf_error_t *err)
{
  static const char *const reserved[] = {"content-type", "content-length",    "user-agent", "host",
                                         "expect",       "transfer-encoding", "connection", NULL};
  const char *colon = strchr(line, ':');
  if (colon == NULL || colon == line || strpbrk(line, "\r\n"))
    return sf_error_make(err, EINVAL, "header must be 'Name: value', got '%s'", line);
  size_t n = (size_t)(colon - line);
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)line[i]) && !strchr("!#$%&'*+-.^_`|~", line[i]))
      return sf_error_make(err, EINVAL, "header name '%.*s' has invalid characters", (int)n, line);
  bool ours = (n >= 8 && strncasecmp(line, "webhook-", 8) == 0) ||
              (n >= 12 && strncasecmp(line, "x-sandforge-", 12) == 0);
  for (const char *const *r = reserved; *r && !ours; r++)
    ours = strlen(*r) == n && strncasecmp(line, *r, n) == 0;
  if (ours)
    return sf_error_make(err, EINVAL, "header '%.*s' is set by Sandforge and cannot be overridden",
                         (int)n, line);
  return 0;
}

int sf_wh_endpoint_set(sf_wh_endpoint *e, const char *key, const char *value, sf_error_t *err)
{
  if (strcmp(key, "url") == 0) {
    if (sf_wh_check_url(value, err) < 0)
      return -1;
    free(e->url);
    e->url = strdup(value);
  } else if (strcmp(key, "secret") == 0) {
    for (size_t i = 0; i < e->n_secrets; i++)
      free(e->secrets[i].value);
    free(e->secrets);
    e->secrets = NULL;
    e->n_secrets = 0;
    if (*value) {
      /* A whsec_ secret that does not decode could never sign: refuse it now
       * rather than leave every delivery unsendable. */
      char *probe = sf_sig_standard(value, "id", 0, "", 0, err);
      if (probe == NULL)
        return sf_error_wrap(err, "secret");
      free(probe);
      e->secrets = calloc(2, sizeof(sf_wh_secret));
      e->secrets[0].value = strdup(value);
      e->n_secrets = 1;
    }
  } else if (strcmp(key, "events") == 0) {
    char **f = NULL;
    if (sf_filter_parse(value, &f, err) < 0)
      return -1;
    sf_strv_free(e->events);
    e->events = f;
  } else if (strcmp(key, "format") == 0) {
    if (!sf_wh_format_known(value))
      return sf_error_make(err, EINVAL,
                           "webhook format '%s' is unknown (json, wecom, slack or feishu)", value);
    free(e->format);
    e->format = strdup(value);
  } else if (strcmp(key, "ordering") == 0) {
    if (strcmp(value, "per-sandbox") != 0 && strcmp(value, "none") != 0)
      return sf_error_make(err, EINVAL, "ordering must be 'none' or 'per-sandbox', got '%s'",
                           value);
    e->per_sandbox = strcmp(value, "per-sandbox") == 0;
  } else if (strcmp(key, "description") == 0) {
    free(e->description);
    e->description = strdup(value);
  } else if (strcmp(key, "timeout") == 0) {
    if (sf_parse_duration_ms(value, &e->timeout_ms, err) < 0)
      return -1;
  } else if (strcmp(key, "header") == 0) {
    if (sf_wh_check_header(value, err) < 0)
      return -1;
    sf_strv_push(&e->headers, value);
  } else {
    return sf_error_make(err, EINVAL, "unknown webhook key '%s'", key);
  }
  return 0;
}

static int global_key(sf_webhook_settings *s, const char *key, const char *value, sf_error_t *err)
{
  char *end;
  if (strcmp(key, "retry_schedule") == 0)
    return sf_backoff_parse(value, &s->backoff, err);
  if (strcmp(key, "timeout") == 0)
    return sf_parse_duration_ms(value, &s->timeout_ms, err);
  if (strcmp(key, "connect_timeout") == 0)
    return sf_parse_duration_ms(value, &s->connect_timeout_ms, err);
  if (strcmp(key, "disable_after") == 0)
    return sf_parse_duration_ms(value, &s->disable_after_ms, err);
  if (strcmp(key, "retention") == 0)
    return sf_parse_duration_ms(value, &s->retention_ms, err);
  if (strcmp(key, "rotation_overlap") == 0)
    return sf_parse_duration_ms(value, &s->rotation_overlap_ms, err);
  if (strcmp(key, "max_in_flight") == 0 || strcmp(key, "max_connections") == 0) {
    long v = strtol(value, &end, 10);
    if (*end || v < 1 || v > 100000)
      return sf_error_make(err, EINVAL, "%s must be a positive integer, got '%s'", key, value);
    *(key[4] == 'i' ? &s->max_in_flight : &s->max_connections) = (int)v;
    return 0;
  }
  if (strcmp(key, "ca_bundle") == 0) {
    free(s->ca_bundle);
    s->ca_bundle = strdup(value);
    return 0;
  }
  if (strcmp(key, "allow_private_targets") == 0) {
    if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0)
      return sf_error_make(err, EINVAL, "allow_private_targets must be true or false");
    s->allow_private_targets = strcmp(value, "true") == 0;
    return 0;
  }
  return sf_error_make(err, EINVAL, "unknown key '%s' in [webhooks]", key);
}

int sf_webhook_settings_ini(sf_webhook_settings *s, const char *section, const char *subsection,
                            const char *key, const char *value, sf_error_t *err)
{
  if (strcmp(section, "webhooks") == 0)
    return global_key(s, key, value, err);
  if (strcmp(section, "webhook") != 0)
    return 1;
  if (subsection == NULL || *subsection == '\0')
    return sf_error_make(err, EINVAL, "webhook sections need a name: [webhook \"ops\"]");
  sf_wh_endpoint *e = endpoint_named(s, subsection);
  return e ? sf_wh_endpoint_set(e, key, value, err) : sf_error_make(err, ENOMEM, "out of memory");
}

int sf_webhook_settings_add_flag_endpoint(sf_webhook_settings *s, const char *url,
                                          const char *secret, const char *events, sf_error_t *err)
{
  sf_wh_endpoint *e = endpoint_named(s, "flags");
  if (e == NULL || sf_wh_endpoint_set(e, "url", url, err) < 0 ||
      (secret && sf_wh_endpoint_set(e, "secret", secret, err) < 0) ||
      (events && sf_wh_endpoint_set(e, "events", events, err) < 0))
    return sf_error_wrap(err, "--webhook-url");
  return 0;
}

int sf_webhook_settings_env(sf_webhook_settings *s, char **envp, sf_error_t *err)
{
  for (char **e = envp; e && *e; e++) {
    const char *v = strchr(*e, '=');
    if (v == NULL || strncmp(*e, "SANDFORGE_WEBHOOK", 17) != 0)
      continue;
    char key[128];
    snprintf(key, sizeof(key), "%.*s", (int)(v - *e), *e);
    v++;
    if (strncmp(key, "SANDFORGE_WEBHOOKS_", 19) == 0) {
      char k[64];
      snprintf(k, sizeof(k), "%s", key + 19);
      for (char *p = k; *p; p++)
        *p = (char)tolower((unsigned char)*p);
      if (global_key(s, k, v, err) < 0)
        return sf_error_wrap(err, "%s", key);
      continue;
    }
    /* SANDFORGE_WEBHOOK_URL / SANDFORGE_WEBHOOK_<N>_URL */
    const char *rest = key + 17;
    char name[32] = "env";
    if (rest[0] == '_' && isdigit((unsigned char)rest[1])) {
      int n = atoi(rest + 1);
      snprintf(name, sizeof(name), "env%d", n);
      rest = strchr(rest + 1, '_');
      if (rest == NULL)
        continue;
    }
    const char *field = rest[0] == '_' ? rest + 1 : rest;
    char k[16];
    snprintf(k, sizeof(k), "%s", field);
    for (char *p = k; *p; p++)
      *p = (char)tolower((unsigned char)*p);
    if (strcmp(k, "url") && strcmp(k, "secret") && strcmp(k, "events") && strcmp(k, "format"))
      return sf_error_make(err, EINVAL, "unknown webhook variable %s", key);
    sf_wh_endpoint *ep = endpoint_named(s, name);
    if (ep == NULL || sf_wh_endpoint_set(ep, k, v, err) < 0)
      return sf_error_wrap(err, "%s", key);
  }
  return 0;
}
