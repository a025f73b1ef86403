/* `sandforge supervisor`: the daemon.  Thin: config → store → runtime →
 * lifecycle (recovery) → HTTP API, then wait for SIGTERM/SIGINT. */
#include "api/api.h"
#include "webhook/webhook.h"
#include "cli/cli.h"
#include "common/cleanup.h"
#include "common/config.h"
#include "common/log.h"
#include "common/util.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static sf_lifecycle *volatile incident_target;

/* The runtime starts before the lifecycle exists; incidents before that are
 * about sandboxes the lifecycle will re-examine during recovery anyway. */
static void incident_trampoline(const sf_incident *inc, void *ud)
{
  sf_lifecycle *lc = incident_target;
  if (lc)
    sf_lifecycle_on_incident(inc, lc);
}

static int webhook_section(void *ud, const char *section, const char *sub, const char *key,
                           const char *value, sf_error_t *err)
{
  return sf_webhook_settings_ini(ud, section, sub, key, value, err);
}

static void usage(FILE *out)
{
  fprintf(
      out,
      "usage: sandforge supervisor [--config FILE] [--listen ADDR] [--data-dir DIR] "
      "[--api-key KEY] [--webhook-url URL --webhook-secret S --webhook-events LIST]\n\n"
      "  --config FILE    INI file ([supervisor], [sandbox], [images] sections)\n"
      "  --listen ADDR    HOST:PORT to serve the API on (default 127.0.0.1:8080)\n"
      "  --data-dir DIR   where the store lives (default ./.sandforge-data)\n"
      "  --api-key KEY    require this API key (repeatable; also SANDFORGE_API_KEY)\n"
      "  --webhook-url URL --webhook-secret SECRET --webhook-events LIST\n"
      "                   deliver events to URL (also SANDFORGE_WEBHOOK_*, [webhook \"name\"])\n"
      "Precedence: flags > environment (SANDFORGE_LISTEN, SANDFORGE_DATA_DIR, "
      "SANDFORGE_API_KEY) > file.\n");
}

static int fail(const char *what, sf_error_t *err)
{
  fprintf(stderr, "sandforge supervisor: %s%s%s\n", what, err && *err ? ": " : "",
          err ? sf_error_msg(err) : "");
  sf_error_release(err);
  return 2;
}

/* Runtime state lives on /run (tmpfs, traversable by the sandboxes' mapped
 * root, gone at reboot like the sandboxes themselves), keyed by data dir so
 * a restarted supervisor finds its sandboxes again. */
static void runtime_dir_for(const char *data_dir, char *out, size_t len)
{
  unsigned char h[SHA256_DIGEST_LENGTH];
  SHA256((const unsigned char *)data_dir, strlen(data_dir), h);
  snprintf(out, len, "/run/sandforge/sv-%02x%02x%02x%02x%02x%02x", h[0], h[1], h[2], h[3], h[4],
           h[5]);
}

int cli_supervisor(int argc, char **argv)
{
  static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                       {"listen", required_argument, NULL, 'l'},
                                       {"data-dir", required_argument, NULL, 'd'},
                                       {"api-key", required_argument, NULL, 'k'},
                                       {"webhook-url", required_argument, NULL, 'U'},
                                       {"webhook-secret", required_argument, NULL, 'S'},
                                       {"webhook-events", required_argument, NULL, 'E'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *config_file = NULL, *listen = NULL, *data_dir = NULL;
  const char *wh_url = NULL, *wh_secret = NULL, *wh_events = NULL;
  char *flag_keys[16] = {0};
  int nkeys = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 'c':
      config_file = optarg;
      break;
    case 'l':
      listen = optarg;
      break;
    case 'd':
      data_dir = optarg;
      break;
    case 'k':
      if (nkeys < 15)
        flag_keys[nkeys++] = optarg;
      break;
    case 'U':
      wh_url = optarg;
      break;
    case 'S':
      wh_secret = optarg;
      break;
    case 'E':
      wh_events = optarg;
      break;
    case 'h':
      usage(stdout);
      return 0;
    default:
      usage(stderr);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "sandforge supervisor: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  sf_config cfg;
  sf_config_init(&cfg);
  sf_webhook_settings *whs = sf_webhook_settings_new();
  cfg.section_hook = webhook_section;
  cfg.section_hook_ud = whs;
  sf_error_t err = NULL;
  extern char **environ;
  if ((config_file && sf_config_load_file(&cfg, config_file, &err) < 0) ||
      sf_webhook_settings_env(whs, environ, &err) < 0 ||
      ((wh_secret || wh_events) && !wh_url &&
       (sf_error_make(&err, EINVAL, "--webhook-secret/--webhook-events need --webhook-url"), 1)) ||
      (wh_url &&
       sf_webhook_settings_add_flag_endpoint(whs, wh_url, wh_secret, wh_events, &err) < 0)) {
    sf_config_free(&cfg);
    sf_webhook_settings_free(whs);
    return fail("bad configuration", &err);
  }
  sf_config_load_env(&cfg);
  if (listen)
    sf_config_set(&cfg.listen, listen);
  if (data_dir)
    sf_config_set(&cfg.data_dir, data_dir);
  for (int i = 0; i < nkeys; i++)
    sf_config_add_api_key(&cfg, flag_keys[i]);
  static const char *const levels[] = {"debug", "info", "warn", "error"};
  for (int i = 0; i < 4; i++)
    if (strcasecmp(cfg.log_level, levels[i]) == 0)
      sf_log_set_level((sf_log_level)i);

  /* Signals are taken synchronously by this thread; every other thread
   * (and, until they reset it, every child) inherits the blocked mask. */
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  signal(SIGPIPE, SIG_IGN);
  /* Before any thread exists: libcurl's global init is not thread-safe. */
  curl_global_init(CURL_GLOBAL_DEFAULT);

  int code = 0;
  sf_store *store = NULL;
  sf_runtime *rt = NULL;
  sf_lifecycle *lc = NULL;
  sf_http_server *http = NULL;
  sf_webhooks *wh = NULL;
  char dd[PATH_MAX], db[PATH_MAX + 32], tpl[PATH_MAX + 32], rundir[96];
  if (mkdir(cfg.data_dir, 0700) < 0 && errno != EEXIST) {
    code = fail("cannot create the data dir", (sf_error_sys(&err, "%s", cfg.data_dir), &err));
    goto out;
  }
  if (realpath(cfg.data_dir, dd) == NULL) {
    code = fail("data dir", (sf_error_sys(&err, "%s", cfg.data_dir), &err));
    goto out;
  }
  snprintf(db, sizeof(db), "%s/sandforge.db", dd);
  snprintf(tpl, sizeof(tpl), "%s/templates", dd);
  mkdir(tpl, 0755);
  runtime_dir_for(dd, rundir, sizeof(rundir));
  if (sf_store_open(db, &store, &err) < 0) {
    code = fail("cannot open the store", &err);
    goto out;
  }
  /* Before the lifecycle: recovery's events must already reach the outbox. */
  if (sf_webhooks_start(store, whs, &wh, &err) < 0) {
    code = fail("cannot start webhook delivery", &err);
    goto out;
  }
  sf_runtime_config rc = {
      .state_dir = rundir, .templates_dir = tpl, .on_incident = incident_trampoline};
  if (sf_runtime_new(&rt, &rc, &err) < 0) {
    code = fail("cannot start the runtime", &err);
    goto out;
  }
  sf_lifecycle_config lcfg = {.store = store,
                              .runtime = rt,
                              .image_aliases = cfg.image_aliases,
                              .min_timeout_s = cfg.min_timeout_s,
                              .default_memory = cfg.default_memory,
                              .default_cpu_millis = cfg.default_cpu_millis,
                              .default_pids = cfg.default_pids};
  if (sf_lifecycle_new(&lcfg, &lc, &err) < 0) {
    code = fail("cannot start the lifecycle", &err);
    goto out;
  }
  incident_target = lc;
  static sf_api_ctx ctx;
  ctx = (sf_api_ctx){
      .lifecycle = lc, .store = store, .runtime = rt, .templates_dir = tpl, .webhooks = wh};
  if (sf_http_server_new(cfg.listen, cfg.api_keys, (size_t)cfg.upload_limit, &http, &err) < 0) {
    code = fail("bad listen address", &err);
    goto out;
  }
  sf_api_register_sandbox_routes(http, &ctx);
  sf_api_register_execd_routes(http, &ctx);
  sf_api_register_system_routes(http, &ctx);
  if (sf_webhooks_register_routes(wh, http, &err) < 0) {
    code = fail("cannot add the webhook routes", &err);
    goto out;
  }
  if (sf_http_server_start(http, &err) < 0) {
    code = fail("cannot start the API", &err);
    goto out;
  }
  sf_log_fields(SF_LOG_INFO, "supervisor listening",
                json_pack("{s:s,s:i,s:s,s:s,s:b}", "listen", cfg.listen, "port",
                          sf_http_server_port(http), "data_dir", dd, "cgroup",
                          sf_runtime_cgroup_mode(rt), "auth", cfg.api_keys && cfg.api_keys[0]));
  int sig = 0;
  sigwait(&sigs, &sig);
  sf_log_fields(SF_LOG_INFO, "supervisor stopping", json_pack("{s:i}", "signal", sig));
out:
  if (store) /* event-stream followers end their streams so the server can stop */
    sf_store_events_close_waiters(store);
  sf_http_server_free(http);
  incident_target = NULL;
  sf_lifecycle_free(lc);
  if (rt && code == 0) { /* nothing left to re-adopt: leave nothing on the host */
    sf_error_t e2 = NULL;
    if (sf_runtime_remove_state_if_empty(rt, &e2) < 0)
      sf_error_release(&e2);
  }
  sf_runtime_free(rt);
  sf_webhooks_stop(wh);
  sf_store_close(store);
  sf_config_free(&cfg);
  sf_webhook_settings_free(whs);
  curl_global_cleanup();
  return code;
}
