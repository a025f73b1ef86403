#include "common/config.h"
#include "common/util.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sf_config_set(char **field, const char *value)
{
  free(*field);
  *field = strdup(value);
}

void sf_config_add_api_key(sf_config *c, const char *key)
{
  size_t n = sf_strv_len(c->api_keys);
  char **v = realloc(c->api_keys, (n + 2) * sizeof(char *));
  if (v == NULL)
    return;
  v[n] = strdup(key);
  v[n + 1] = NULL;
  c->api_keys = v;
}

void sf_config_init(sf_config *c)
{
  memset(c, 0, sizeof(*c));
  c->listen = strdup("127.0.0.1:8080");
  c->data_dir = strdup("./.sandforge-data");
  c->log_level = strdup("info");
  c->image_aliases = json_object();
  c->min_timeout_s = 60;
  c->upload_limit = 256LL << 20;
}

void sf_config_free(sf_config *c)
{
  free(c->listen);
  free(c->data_dir);
  free(c->log_level);
  sf_strv_free(c->api_keys);
  json_decref(c->image_aliases);
}

typedef struct {
  sf_config *c;
  sf_error_t err;
} ini_ctx;

/* Record the error for this line; returning 0 makes inih report the line. */
#define bad(x, ...) (sf_error_make(&(x)->err, EINVAL, __VA_ARGS__), 0)

static int on_key(void *user, const char *section, const char *key, const char *value)
{
  ini_ctx *x = user;
  sf_config *c = x->c;
  sf_error_t e = NULL;
  if (strcmp(section, "supervisor") == 0) {
    if (strcmp(key, "listen") == 0)
      sf_config_set(&c->listen, value);
    else if (strcmp(key, "data_dir") == 0)
      sf_config_set(&c->data_dir, value);
    else if (strcmp(key, "api_key") == 0)
      sf_config_add_api_key(c, value);
    else if (strcmp(key, "log_level") == 0)
      sf_config_set(&c->log_level, value);
    else if (strcmp(key, "upload_limit") == 0) {
      if (sf_parse_size(value, &c->upload_limit, &e) < 0)
        goto value_error;
    } else
      return bad(x, "unknown key '%s' in section [%s]", key, section);
    return 1;
  }
  if (strcmp(section, "sandbox") == 0) {
    int r = 0;
    if (strcmp(key, "memory") == 0)
      r = sf_parse_size(value, &c->default_memory, &e);
    else if (strcmp(key, "cpu") == 0)
      r = sf_parse_cpu_millis(value, &c->default_cpu_millis, &e);
    else if (strcmp(key, "pids") == 0 || strcmp(key, "min_timeout") == 0) {
      char *end;
      long long v = strtoll(value, &end, 10);
      if (*end || v < 1)
        return bad(x, "invalid value for '%s': '%s' (expected a positive integer)", key, value);
      if (key[0] == 'p')
        c->default_pids = v;
      else
        c->min_timeout_s = v;
    } else
      return bad(x, "unknown key '%s' in section [%s]", key, section);
    if (r < 0)
      goto value_error;
    return 1;
  }
  if (strcmp(section, "images") == 0) {
    json_object_set_new(c->image_aliases, key, json_string(value));
    return 1;
  }
  if (c->section_hook) {
    /* [webhook "ops"] → section "webhook", subsection "ops" */
    char sec[128], sub[128] = "";
    snprintf(sec, sizeof(sec), "%s", section);
    char *sp = strchr(sec, ' ');
    if (sp) {
      *sp = '\0';
      const char *q = sp + 1;
      while (*q == ' ')
        q++;
      snprintf(sub, sizeof(sub), "%s", q);
      size_t n = strlen(sub);
      if (n >= 2 && sub[0] == '"' && sub[n - 1] == '"') {
        memmove(sub, sub + 1, n - 2);
        sub[n - 2] = '\0';
      }
    }
    int r = c->section_hook(c->section_hook_ud, sec, sub, key, value, &e);
    if (r == 0)
      return 1;
    if (r < 0) {
      sf_error_make(&x->err, EINVAL, "%s", sf_error_msg(&e));
      sf_error_release(&e);
      return 0;
    }
  }
  return bad(x, "unknown section [%s]", section);
value_error:
  sf_error_make(&x->err, EINVAL, "invalid value for '%s': %s", key, sf_error_msg(&e));
  sf_error_release(&e);
  return 0;
}

int sf_config_load_file(sf_config *c, const char *path, sf_error_t *err)
{
  ini_ctx x = {c, NULL};
  int line = ini_parse(path, on_key, &x);
  if (line == -1)
    return sf_error_sys(err, "%s: cannot open config file", path);
  if (line != 0) {
    sf_error_make(err, EINVAL, "%s:%d: %s", path, line,
                  x.err ? sf_error_msg(&x.err) : "syntax error");
    sf_error_release(&x.err);
    return -1;
  }
  return 0;
}

void sf_config_load_env(sf_config *c)
{
  const char *v;
  if ((v = getenv("SANDFORGE_LISTEN")) && *v)
    sf_config_set(&c->listen, v);
  if ((v = getenv("SANDFORGE_DATA_DIR")) && *v)
    sf_config_set(&c->data_dir, v);
  if ((v = getenv("SANDFORGE_API_KEY")) && *v)
    sf_config_add_api_key(c, v);
}
