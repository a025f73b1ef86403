/* Sandbox operations: create, get/list, pause/resume, renew, metadata,
 * delete, execd access.  Each operation on one sandbox holds its entry's op
 * lock; every state change is committed with its events before returning. */
#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "lifecycle/lifecycle_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int sf_lc_commit_state(sf_lifecycle *lc, sf_entry *e, const char *state, const char *reason,
                       const char *event, json_t *extra, sf_error_t *err)
{
  sf_store *st = lc->cfg.store;
  if (sf_store_begin(st, err) < 0)
    return -1;
  if ((state && sf_db_set_state(st, e->id, state, reason, err) < 0) ||
      (event && sf_db_event(st, event, e->id, extra, err) < 0)) {
    sf_store_rollback(st);
    return -1;
  }
  if (sf_store_commit(st, err) < 0)
    return -1;
  if (state)
    snprintf(e->state, sizeof(e->state), "%s", state);
  return 0;
}

/* Look up and lock an entry's op mutex; ENOENT when unknown or being deleted. */
static sf_entry *entry_lock(sf_lifecycle *lc, const char *id, sf_error_t *err)
{
  pthread_mutex_lock(&lc->lock);
  sf_entry *e = sf_lc_find(lc, id);
  if (e == NULL || e->deleting) {
    pthread_mutex_unlock(&lc->lock);
    sf_error_make(err, ENOENT, "sandbox %s not found", id);
    return NULL;
  }
  e->refs++; /* keeps e alive while we wait for its op lock */
  pthread_mutex_unlock(&lc->lock);
  pthread_mutex_lock(&e->op);
  return e;
}

static void entry_unlock(sf_lifecycle *lc, sf_entry *e)
{
  pthread_mutex_unlock(&e->op);
  pthread_mutex_lock(&lc->lock);
  e->refs--;
  pthread_cond_broadcast(&lc->cond);
  pthread_mutex_unlock(&lc->lock);
}

static bool valid_string_map(json_t *o)
{
  const char *k;
  json_t *v;
  if (o == NULL || json_is_null(o))
    return true;
  if (!json_is_object(o))
    return false;
  json_object_foreach(o, k, v) if (!json_is_string(v)) return false;
  return true;
}

static char *uuid4(void)
{
  unsigned char b[16];
  if (sf_random_bytes(b, sizeof(b), NULL) < 0)
    return NULL;
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  char *s = malloc(37);
  snprintf(s, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
           b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
           b[15]);
  return s;
}

/* image.uri → template: alias, exact template name, or the name before ':'. */
static int resolve_image(sf_lifecycle *lc, const char *uri, char *tpl, size_t len, sf_error_t *err)
{
  json_t *alias = json_object_get(lc->cfg.image_aliases, uri);
  if (json_is_string(alias)) {
    snprintf(tpl, len, "%s", json_string_value(alias));
    return 0;
  }
  if (strcmp(uri, "host") == 0 || strcmp(uri, "host:latest") == 0) {
    snprintf(tpl, len, "host");
    return 0;
  }
  char name[128];
  snprintf(name, sizeof(name), "%s", uri);
  /* "name:tag" → the template "name" (templates are not versioned). */
  char *colon = strchr(name, ':');
  if (colon)
    *colon = '\0';
  /* A registered directory template: the runtime tells (ENOENT) at create. */
  bool ok = name[0] != '\0';
  for (char *p = name; *p; p++)
    ok &= isalnum((unsigned char)*p) || *p == '-' || *p == '_';
  if (!ok) {
    char known[512] = "host";
    const char *k;
    json_t *v;
    json_object_foreach(lc->cfg.image_aliases, k, v)
    {
      strncat(known, ", ", sizeof(known) - strlen(known) - 1);
      strncat(known, k, sizeof(known) - strlen(known) - 1);
    }
    return sf_error_make(err, EINVAL, "unknown image '%s'; known images: %s", uri, known);
  }
  snprintf(tpl, len, "%s", name);
  return 0;
}

static int parse_limits(sf_lifecycle *lc, json_t *req, sf_sandbox_spec *spec, json_t *resources,
                        sf_error_t *err)
{
  json_t *rl = json_object_get(req, "resourceLimits");
  spec->memory_bytes = lc->cfg.default_memory;
  spec->cpu_millis = lc->cfg.default_cpu_millis;
  spec->pids_max = lc->cfg.default_pids;
  if (rl && !json_is_null(rl)) {
    if (!valid_string_map(rl))
      return sf_error_make(err, EINVAL, "resourceLimits must be an object of strings");
    const char *cpu = json_string_value(json_object_get(rl, "cpu"));
    const char *mem = json_string_value(json_object_get(rl, "memory"));
    if (cpu && sf_parse_cpu_millis(cpu, &spec->cpu_millis, err) < 0)
      return sf_error_wrap(err, "resourceLimits.cpu");
    if (mem && sf_parse_size(mem, &spec->memory_bytes, err) < 0)
      return sf_error_wrap(err, "resourceLimits.memory");
    json_object_update(resources, rl);
  }
  json_t *ext = json_object_get(req, "extensions");
  const char *pids = json_string_value(json_object_get(ext, "pids"));
  if (pids) {
    char *end;
    long long v = strtoll(pids, &end, 10);
    if (*end || v <= 0)
      return sf_error_make(err, EINVAL, "extensions.pids must be a positive integer");
    spec->pids_max = v;
  }
  return 0;
}

static bool ext_bool(json_t *ext, const char *key)
{
  json_t *v = json_object_get(ext, key);
  return json_is_true(v) || (json_is_string(v) && strcmp(json_string_value(v), "true") == 0);
}

static int64_t ext_int(json_t *ext, const char *key)
{
  json_t *v = json_object_get(ext, key);
  if (json_is_integer(v))
    return json_integer_value(v);
  return json_is_string(v) ? strtoll(json_string_value(v), NULL, 10) : 0;
}

int sf_lifecycle_create(sf_lifecycle *lc, json_t *req, json_t **out, sf_error_t *err)
{
  json_t *image = json_object_get(req, "image");
  const char *uri = json_string_value(json_object_get(image, "uri"));
  if (json_object_get(req, "snapshotId") && !json_is_null(json_object_get(req, "snapshotId")))
    return sf_error_make(err, EINVAL, "snapshots are not supported yet");
  if (uri == NULL || *uri == '\0')
    return sf_error_make(err, EINVAL, "image.uri is required");
  json_t *entry = json_object_get(req, "entrypoint");
  if (entry && !json_is_null(entry)) {
    if (!json_is_array(entry) || json_array_size(entry) == 0)
      return sf_error_make(err, EINVAL, "entrypoint must be a non-empty array of strings");
    for (size_t i = 0; i < json_array_size(entry); i++)
      if (!json_is_string(json_array_get(entry, i)))
        return sf_error_make(err, EINVAL, "entrypoint must be a non-empty array of strings");
  }
  json_t *timeout = json_object_get(req, "timeout");
  int64_t timeout_s = 0;
  if (timeout && !json_is_null(timeout)) {
    if (!json_is_integer(timeout) || json_integer_value(timeout) < lc->cfg.min_timeout_s)
      return sf_error_make(err, EINVAL,
                           "timeout must be an integer >= %lld seconds, or null for no expiry",
                           (long long)lc->cfg.min_timeout_s);
    timeout_s = json_integer_value(timeout);
  }
  json_t *env = json_object_get(req, "env"), *metadata = json_object_get(req, "metadata");
  json_t *ext = json_object_get(req, "extensions");
  if (!valid_string_map(env) || !valid_string_map(metadata))
    return sf_error_make(err, EINVAL, "env and metadata must be objects of strings");
  if (ext && !json_is_null(ext) && !json_is_object(ext))
    return sf_error_make(err, EINVAL, "extensions must be an object");
  const char *on_timeout = json_string_value(json_object_get(ext, "onTimeout"));
  if (on_timeout && strcmp(on_timeout, "kill") != 0 && strcmp(on_timeout, "pause") != 0)
    return sf_error_make(err, EINVAL, "extensions.onTimeout must be 'kill' or 'pause'");
  char tpl[65];
  if (resolve_image(lc, uri, tpl, sizeof(tpl), err) < 0 ||
      sf_runtime_check_template(lc->cfg.runtime, tpl, err) < 0)
    return -1;
  sf_sandbox_spec spec = {.template_name = tpl};
  json_t *resources = json_object();
  if (parse_limits(lc, req, &spec, resources, err) < 0) {
    json_decref(resources);
    return -1;
  }
  cleanup_free char *id = uuid4();
  cleanup_free char *token = sf_random_hex(16);
  int64_t now = sf_now_ms();
  json_t *spec_json = json_pack(
      "{s:O,s:o,s:O,s:O}", "entrypoint",
      entry && !json_is_null(entry) ? entry : json_pack("[s,s,s]", "tail", "-f", "/dev/null"),
      "resourceLimits", resources, "env", env && !json_is_null(env) ? env : json_object(),
      "extensions", ext && !json_is_null(ext) ? ext : json_object());
  /* json_pack "O" increfs: drop the temporaries we created ourselves. */
  if (!entry || json_is_null(entry))
    json_decref(json_object_get(spec_json, "entrypoint"));
  if (!env || json_is_null(env))
    json_decref(json_object_get(spec_json, "env"));
  if (!ext || json_is_null(ext))
    json_decref(json_object_get(spec_json, "extensions"));
  sf_entry *e = calloc(1, sizeof(*e));
  snprintf(e->id, sizeof(e->id), "%s", id);
  snprintf(e->template_id, sizeof(e->template_id), "%s", tpl);
  snprintf(e->token, sizeof(e->token), "%s", token);
  snprintf(e->state, sizeof(e->state), "Pending");
  pthread_mutex_init(&e->op, NULL);
  e->expires_ms = timeout_s > 0 ? now + timeout_s * 1000 : 0;
  e->idle_ms = ext_int(ext, "idleTimeout") * 1000;
  e->pause_on_timeout = on_timeout && strcmp(on_timeout, "pause") == 0;
  e->auto_resume = ext_bool(ext, "autoResume");
  e->last_active_ms = now;
  sf_store *st = lc->cfg.store;
  /* 1. the record and sandbox.created, durable before anything runs */
  if (sf_store_begin(st, err) < 0)
    goto fail_free;
  if (sf_db_insert_sandbox(st, id, tpl, uri, spec_json,
                           metadata && !json_is_null(metadata) ? metadata : NULL, token, now,
                           e->expires_ms, err) < 0 ||
      sf_db_event(st, "sandbox.created", id, NULL, err) < 0) {
    sf_store_rollback(st);
    goto fail_free;
  }
  if (sf_store_commit(st, err) < 0)
    goto fail_free;
  pthread_mutex_lock(&lc->lock);
  e->next = lc->entries;
  lc->entries = e;
  e->refs++;
  pthread_mutex_unlock(&lc->lock);
  pthread_mutex_lock(&e->op);
  /* 2. the runtime */
  size_t nenv = json_object_size(env);
  char **envv = calloc(nenv + 1, sizeof(char *));
  const char *k;
  json_t *v;
  size_t i = 0;
  json_object_foreach(env, k, v)
  {
    if (asprintf(&envv[i], "%s=%s", k, json_string_value(v)) >= 0)
      i++;
  }
  spec.id = id;
  spec.env = envv;
  int r = sf_sandbox_create(lc->cfg.runtime, &spec, &e->sb, err);
  if (r == 0) {
    json_t *ep = json_object_get(spec_json, "entrypoint");
    size_t n = json_array_size(ep);
    char **argv = calloc(n + 1, sizeof(char *));
    for (size_t j = 0; j < n; j++)
      argv[j] = (char *)json_string_value(json_array_get(ep, j));
    sf_exec_spec xs = {
        .argv = argv, .uid = -1, .gid = -1, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1};
    sf_error_t e2 = NULL;
    if (sf_exec_start(e->sb, &xs, &e->entrypoint, &e2) < 0) {
      sf_log_warn("sandbox %s: entrypoint did not start: %s", id, sf_error_msg(&e2));
      sf_error_release(&e2);
    }
    free(argv);
  }
  sf_strv_free(envv);
  json_decref(spec_json);
  spec_json = NULL;
  if (r < 0) {
    /* 3a. failed: record it, keep the row so the client can see why */
    sf_error_t e2 = NULL;
    json_t *extra = json_pack("{s:s,s:s}", "reason", "start_failed", "error", sf_error_msg(err));
    if (sf_lc_commit_state(lc, e, "Failed", "START_FAILED", "sandbox.failed", extra, &e2) == 0)
      sf_lc_record_destroyed(lc, e->id); /* the runtime cleaned up the half-made sandbox */
    json_decref(extra);
    sf_error_release(&e2);
    pthread_mutex_unlock(&e->op);
    pthread_mutex_lock(&lc->lock);
    e->refs--;
    sf_lc_remove_entry(lc, e);
    pthread_mutex_unlock(&lc->lock);
    return -1;
  }
  /* 3b. running */
  r = sf_lc_commit_state(lc, e, "Running", NULL, "sandbox.started", NULL, err);
  pthread_mutex_unlock(&e->op);
  pthread_mutex_lock(&lc->lock);
  e->refs--;
  pthread_mutex_unlock(&lc->lock);
  if (r < 0)
    return -1;
  return sf_db_sandbox_json(st, id, out, err);
fail_free:
  json_decref(spec_json);
  pthread_mutex_destroy(&e->op);
  free(e);
  return -1;
}

int sf_lifecycle_get(sf_lifecycle *lc, const char *id, json_t **out, sf_error_t *err)
{
  return sf_db_sandbox_json(lc->cfg.store, id, out, err);
}

int sf_lifecycle_list(sf_lifecycle *lc, const char *const *states, json_t *metadata, int page,
                      int page_size, json_t **out, sf_error_t *err)
{
  json_t *all = NULL;
  if (sf_db_all_sandboxes(lc->cfg.store, &all, err) < 0)
    return -1;
  json_t *items = json_array();
  size_t idx;
  json_t *sb;
  json_array_foreach(all, idx, sb)
  {
    const char *state = json_string_value(json_object_get(json_object_get(sb, "status"), "state"));
    bool ok = states == NULL || states[0] == NULL;
    for (const char *const *s = states; s && *s && !ok; s++)
      ok = strcasecmp(*s, state) == 0;
    const char *k;
    json_t *v;
    json_t *m = json_object_get(sb, "metadata");
    json_object_foreach(metadata, k, v) ok &= json_equal(json_object_get(m, k), v);
    if (ok)
      json_array_append(items, sb);
  }
  json_decref(all);
  if (page < 1)
    page = 1;
  if (page_size < 1)
    page_size = 20;
  if (page_size > 200)
    page_size = 200;
  size_t total = json_array_size(items);
  size_t start = (size_t)(page - 1) * (size_t)page_size;
  json_t *slice = json_array();
  for (size_t i = start; i < total && i < start + (size_t)page_size; i++)
    json_array_append(slice, json_array_get(items, i));
  json_decref(items);
  int pages = (int)((total + (size_t)page_size - 1) / (size_t)page_size);
  *out = json_pack("{s:o,s:{s:i,s:i,s:I,s:i,s:b}}", "items", slice, "pagination", "page", page,
                   "pageSize", page_size, "totalItems", (json_int_t)total, "totalPages", pages,
                   "hasNextPage", page < pages);
  return 0;
}

int sf_lifecycle_pause(sf_lifecycle *lc, const char *id, const char *reason, sf_error_t *err)
{
  sf_entry *e = entry_lock(lc, id, err);
  if (e == NULL)
    return -1;
  int r = -1;
  if (strcmp(e->state, "Running") != 0 || e->sb == NULL) {
    sf_error_make(err, EBUSY, "sandbox %s is %s, not Running", id, e->state);
  } else if (sf_sandbox_freeze(e->sb, err) == 0) {
    json_t *extra = json_pack("{s:s}", "reason", reason);
    r = sf_lc_commit_state(lc, e, "Paused", NULL, "sandbox.paused", extra, err);
    json_decref(extra);
  }
  entry_unlock(lc, e);
  return r;
}

int sf_lifecycle_resume(sf_lifecycle *lc, const char *id, const char *reason, sf_error_t *err)
{
  sf_entry *e = entry_lock(lc, id, err);
  if (e == NULL)
    return -1;
  int r = -1;
  if (strcmp(e->state, "Paused") != 0 || e->sb == NULL) {
    sf_error_make(err, EBUSY, "sandbox %s is %s, not Paused", id, e->state);
  } else if (sf_sandbox_thaw(e->sb, err) == 0) {
    e->last_active_ms = sf_now_ms();
    json_t *extra = json_pack("{s:s}", "reason", reason);
    r = sf_lc_commit_state(lc, e, "Running", NULL, "sandbox.resumed", extra, err);
    json_decref(extra);
  }
  entry_unlock(lc, e);
  return r;
}

int sf_lifecycle_renew(sf_lifecycle *lc, const char *id, int64_t expires_ms, json_t **out,
                       sf_error_t *err)
{
  if (expires_ms <= sf_now_ms())
    return sf_error_make(err, EINVAL, "expiresAt must be in the future");
  sf_entry *e = entry_lock(lc, id, err);
  if (e == NULL)
    return -1;
  int r = -1;
  if (e->expires_ms == 0) {
    sf_error_make(err, EBUSY, "sandbox %s has no expiry (created without timeout)", id);
  } else if (sf_store_begin(lc->cfg.store, err) == 0) {
    if (sf_db_set_expiry(lc->cfg.store, id, expires_ms, err) < 0) {
      sf_store_rollback(lc->cfg.store);
    } else if (sf_store_commit(lc->cfg.store, err) == 0) {
      e->expires_ms = expires_ms;
      char ts[40];
      sf_format_rfc3339_ms(expires_ms, ts, sizeof(ts));
      *out = json_pack("{s:s}", "expiresAt", ts);
      r = 0;
    }
  }
  entry_unlock(lc, e);
  return r;
}

int sf_lifecycle_patch_metadata(sf_lifecycle *lc, const char *id, json_t *patch, json_t **out,
                                sf_error_t *err)
{
  const char *k;
  json_t *v;
  json_object_foreach(patch, k, v) if (!json_is_string(v) && !json_is_null(v)) return sf_error_make(
      err, EINVAL, "metadata values must be strings (or null to remove)");
  sf_entry *e = entry_lock(lc, id, err);
  if (e == NULL)
    return -1;
  json_t *cur = NULL;
  int r = sf_db_sandbox_json(lc->cfg.store, id, &cur, err);
  if (r == 0) {
    json_t *m = json_deep_copy(json_object_get(cur, "metadata"));
    json_object_foreach(patch, k, v)
    {
      if (json_is_null(v))
        json_object_del(m, k);
      else
        json_object_set(m, k, v);
    }
    r = -1;
    if (sf_store_begin(lc->cfg.store, err) == 0) {
      if (sf_db_set_metadata(lc->cfg.store, id, m, err) < 0)
        sf_store_rollback(lc->cfg.store);
      else
        r = sf_store_commit(lc->cfg.store, err);
    }
    json_decref(m);
    json_decref(cur);
  }
  entry_unlock(lc, e);
  return r < 0 ? -1 : sf_db_sandbox_json(lc->cfg.store, id, out, err);
}

int sf_lifecycle_token(sf_lifecycle *lc, const char *id, char **token, sf_error_t *err)
{
  pthread_mutex_lock(&lc->lock);
  sf_entry *e = sf_lc_find(lc, id);
  *token = e && !e->deleting ? strdup(e->token) : NULL;
  pthread_mutex_unlock(&lc->lock);
  return *token ? 0 : sf_error_make(err, ENOENT, "sandbox %s not found", id);
}

int sf_lifecycle_delete(sf_lifecycle *lc, const char *id, sf_error_t *err)
{
  pthread_mutex_lock(&lc->lock);
  sf_entry *e = sf_lc_find(lc, id);
  if (e == NULL || e->deleting) {
    pthread_mutex_unlock(&lc->lock);
    /* A Failed sandbox has a row but no entry: deleting it removes the row. */
    json_t *row = NULL;
    if (sf_db_sandbox_json(lc->cfg.store, id, &row, err) < 0)
      return -1;
    json_decref(row);
    if (sf_store_begin(lc->cfg.store, err) < 0)
      return -1;
    if (sf_db_event(lc->cfg.store, "sandbox.deleted", id, NULL, err) < 0 ||
        sf_db_delete_sandbox(lc->cfg.store, id, err) < 0) {
      sf_store_rollback(lc->cfg.store);
      return -1;
    }
    return sf_store_commit(lc->cfg.store, err);
  }
  e->deleting = true;
  pthread_mutex_unlock(&lc->lock);
  pthread_mutex_lock(&e->op);
  int r = sf_lc_teardown(lc, e, "sandbox.deleted", NULL, err);
  pthread_mutex_unlock(&e->op);
  pthread_mutex_lock(&lc->lock);
  sf_lc_remove_entry(lc, e);
  pthread_mutex_unlock(&lc->lock);
  return r;
}

int sf_lifecycle_acquire(sf_lifecycle *lc, const char *id, const char *token, sf_sandbox_ref **ref,
                         sf_error_t *err)
{
  pthread_mutex_lock(&lc->lock);
  sf_entry *e = sf_lc_find(lc, id);
  if (e == NULL || e->deleting) {
    pthread_mutex_unlock(&lc->lock);
    return sf_error_make(err, ENOENT, "sandbox %s not found", id);
  }
  if (token == NULL || !sf_consttime_eq(token, strlen(token), e->token, strlen(e->token))) {
    pthread_mutex_unlock(&lc->lock);
    return sf_error_make(err, EACCES, "invalid or missing X-EXECD-ACCESS-TOKEN for sandbox %s", id);
  }
  bool paused = strcmp(e->state, "Paused") == 0, auto_resume = e->auto_resume;
  e->last_active_ms = sf_now_ms();
  pthread_mutex_unlock(&lc->lock);
  if (paused) {
    if (!auto_resume)
      return sf_error_make(err, EBUSY,
                           "sandbox %s is Paused (resume it, or create it with autoResume)", id);
    if (sf_lifecycle_resume(lc, id, "auto_resume", err) < 0 && sf_error_code(err) != EBUSY)
      return -1;
    sf_error_release(err);
  }
  pthread_mutex_lock(&lc->lock);
  if (e->deleting || strcmp(e->state, "Running") != 0 || e->sb == NULL) {
    pthread_mutex_unlock(&lc->lock);
    return sf_error_make(err, EBUSY, "sandbox %s is %s, not Running", id, e->state);
  }
  e->refs++;
  pthread_mutex_unlock(&lc->lock);
  sf_sandbox_ref *r = calloc(1, sizeof(*r));
  r->lc = lc;
  r->e = e;
  *ref = r;
  return 0;
}

sf_sandbox *sf_sandbox_ref_get(sf_sandbox_ref *ref)
{
  return ref->e->sb;
}

const char *sf_sandbox_ref_id(sf_sandbox_ref *ref)
{
  return ref->e->id;
}

void sf_lifecycle_release(sf_sandbox_ref *ref)
{
  if (ref == NULL)
    return;
  pthread_mutex_lock(&ref->lc->lock);
  ref->e->refs--;
  ref->e->last_active_ms = sf_now_ms();
  pthread_cond_broadcast(&ref->lc->cond);
  pthread_mutex_unlock(&ref->lc->lock);
  free(ref);
}

int sf_lifecycle_emit(sf_lifecycle *lc, const char *type, const char *sandbox_id, json_t *data,
                      sf_error_t *err)
{
  sf_store *st = lc->cfg.store;
  if (sf_store_begin(st, err) < 0)
    return -1;
  if (sf_db_event(st, type, sandbox_id, data, err) < 0) {
    sf_store_rollback(st);
    return -1;
  }
  return sf_store_commit(st, err);
}

json_t *sf_lifecycle_state_counts(sf_lifecycle *lc)
{
  json_t *all = NULL, *counts = json_object();
  if (sf_db_all_sandboxes(lc->cfg.store, &all, NULL) < 0)
    return counts;
  size_t i;
  json_t *sb;
  json_array_foreach(all, i, sb)
  {
    const char *s = json_string_value(json_object_get(json_object_get(sb, "status"), "state"));
    json_object_set_new(counts, s,
                        json_integer(json_integer_value(json_object_get(counts, s)) + 1));
  }
  json_decref(all);
  return counts;
}

int sf_lifecycle_new(const sf_lifecycle_config *cfg, sf_lifecycle **out, sf_error_t *err)
{
  sf_lifecycle *lc = calloc(1, sizeof(*lc));
  if (lc == NULL)
    return sf_error_make(err, ENOMEM, "out of memory");
  lc->cfg = *cfg;
  pthread_mutex_init(&lc->lock, NULL);
  pthread_cond_init(&lc->cond, NULL);
  if (sf_lc_recover(lc, err) < 0 || sf_lc_start_timers(lc, err) < 0) {
    sf_lifecycle_free(lc);
    return -1;
  }
  *out = lc;
  return 0;
}

void sf_lifecycle_free(sf_lifecycle *lc)
{
  if (lc == NULL)
    return;
  sf_lc_stop_timers(lc);
  while (lc->entries) {
    sf_entry *e = lc->entries;
    lc->entries = e->next;
    if (e->entrypoint) /* leave the command running: only drop our handle */
      e->entrypoint = NULL;
    sf_sandbox_release(e->sb);
    pthread_mutex_destroy(&e->op);
    free(e);
  }
  while (lc->incidents) {
    sf_pending_incident *p = lc->incidents;
    lc->incidents = p->next;
    free(p);
  }
  pthread_mutex_destroy(&lc->lock);
  pthread_cond_destroy(&lc->cond);
  free(lc);
}
