/* Supervisor configuration: embedded defaults, then an INI file, then
 * environment variables, then command-line flags (each overrides the one
 * before).  A bad line in the file fails start-up with "FILE:LINE: message". */
#ifndef SF_COMMON_CONFIG_H
#define SF_COMMON_CONFIG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct {
  char *listen;    /* "127.0.0.1:8080" */
  char *data_dir;  /* "./.sandforge-data" */
  char **api_keys; /* NULL-terminated; empty = no auth */
  char *log_level;
  json_t *image_aliases; /* [images] alias = template */
  int64_t min_timeout_s; /* [sandbox] min_timeout (OpenSandbox: 60) */
  int64_t default_memory, default_cpu_millis, default_pids;
  int64_t upload_limit;
  /* Sections the loader does not know ([webhooks], [webhook "name"]) go here:
   * return 0 = taken, 1 = not ours (unknown section), -1 + err = bad line. */
  int (*section_hook)(void *ud, const char *section, const char *subsection, const char *key,
                      const char *value, sf_error_t *err);
  void *section_hook_ud;
} sf_config;

void sf_config_init(sf_config *c);
void sf_config_free(sf_config *c);
int sf_config_load_file(sf_config *c, const char *path, sf_error_t *err);
/* SANDFORGE_LISTEN, SANDFORGE_DATA_DIR, SANDFORGE_API_KEY. */
void sf_config_load_env(sf_config *c);
void sf_config_add_api_key(sf_config *c, const char *key);
void sf_config_set(char **field, const char *value);

#endif
