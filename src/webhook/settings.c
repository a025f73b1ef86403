/* Webhook settings from the INI file, the environment and flags (they merge:
 * every endpoint configured any of these ways is delivered to). */
#include "common/cleanup.h"
#include "common/util.h"
#include "webhook/webhook_internal.h"

#include <ctype.h>
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

static void endpoint_free(sf_wh_endpoint *e)
{
  free(e->id);
  free(e->name);
  free(e->url);
  sf_strv_free(e->secrets);
  sf_strv_free(e->events);
  sf_strv_free(e->headers);
  free(e->format);
}

void sf_webhook_settings_free(sf_webhook_settings *s)
{
  if (s == NULL)
    return;
  for (size_t i = 0; i < s->n; i++)
    endpoint_free(&s->eps[i]);
  free(s->eps);
  free(s);
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

static void strv_push(char ***v, const char *s)
{
  size_t n = sf_strv_len(*v);
  char **nv = realloc(*v, (n + 2) * sizeof(char *));
  if (nv == NULL)
    return;
  nv[n] = strdup(s);
  nv[n + 1] = NULL;
  *v = nv;
}

static int check_url(const char *url, sf_error_t *err)
{
  if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
    return sf_error_make(err, EINVAL, "webhook url must be http:// or https://, got '%s'", url);
  return 0;
}

static int endpoint_key(sf_wh_endpoint *e, const char *key, const char *value, sf_error_t *err)
{
  if (strcmp(key, "url") == 0) {
    if (check_url(value, err) < 0)
      return -1;
    free(e->url);
    e->url = strdup(value);
  } else if (strcmp(key, "secret") == 0) {
    sf_strv_free(e->secrets);
    e->secrets = NULL;
    if (*value)
      strv_push(&e->secrets, value);
  } else if (strcmp(key, "events") == 0) {
    char **f = NULL;
    if (sf_filter_parse(value, &f, err) < 0)
      return -1;
    sf_strv_free(e->events);
    e->events = f;
  } else if (strcmp(key, "format") == 0) {
    if (strcmp(value, "json") != 0)
      return sf_error_make(
          err, EINVAL, "webhook format '%s' is not available yet (json only in this build)", value);
  } else if (strcmp(key, "timeout") == 0) {
    if (sf_parse_duration_ms(value, &e->timeout_ms, err) < 0)
      return -1;
  } else if (strcmp(key, "header") == 0) {
    const char *colon = strchr(value, ':');
    if (colon == NULL || colon == value || strpbrk(value, "\r\n"))
      return sf_error_make(err, EINVAL, "header must be 'Name: value', got '%s'", value);
    strv_push(&e->headers, value);
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
  return e ? endpoint_key(e, key, value, err) : sf_error_make(err, ENOMEM, "out of memory");
}

int sf_webhook_settings_add_flag_endpoint(sf_webhook_settings *s, const char *url,
                                          const char *secret, const char *events, sf_error_t *err)
{
  sf_wh_endpoint *e = endpoint_named(s, "flags");
  if (e == NULL || endpoint_key(e, "url", url, err) < 0 ||
      (secret && endpoint_key(e, "secret", secret, err) < 0) ||
      (events && endpoint_key(e, "events", events, err) < 0))
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
    if (ep == NULL || endpoint_key(ep, k, v, err) < 0)
      return sf_error_wrap(err, "%s", key);
  }
  return 0;
}
