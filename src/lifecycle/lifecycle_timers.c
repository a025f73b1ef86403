/* The lifecycle's background work: restart recovery, TTL expiry, idle
 * auto-pause, and runtime incidents turned into state changes and events.
 * Incidents arrive on the runtime's monitor thread, which must not call back
 * into the runtime, so they are queued and handled here. */
#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "lifecycle/lifecycle_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

sf_entry *sf_lc_find(sf_lifecycle *lc, const char *id)
{
  for (sf_entry *e = lc->entries; e; e = e->next)
    if (strcmp(e->id, id) == 0)
      return e;
  return NULL;
}

void sf_lc_remove_entry(sf_lifecycle *lc, sf_entry *e)
{
  while (e->refs > 0)
    pthread_cond_wait(&lc->cond, &lc->lock);
  for (sf_entry **pp = &lc->entries; *pp; pp = &(*pp)->next)
    if (*pp == e) {
      *pp = e->next;
      break;
    }
  pthread_mutex_destroy(&e->op);
  free(e);
}

/* Kill, wait for execd users to let go, destroy; then the row goes with
 * `event` and sandbox.destroyed.  Called with e->op held and e->deleting set. */
int sf_lc_teardown(sf_lifecycle *lc, sf_entry *e, const char *event, json_t *extra, sf_error_t *err)
{
  sf_store *st = lc->cfg.store;
  if (sf_lc_commit_state(lc, e, "Stopping", NULL, event, extra, err) < 0)
    return -1;
  if (e->sb) {
    sf_error_t e2 = NULL;
    /* Killing first ends every exec stream, so their refs drop quickly. */
    if (sf_sandbox_kill(e->sb, &e2) < 0) {
      sf_log_warn("sandbox %s: kill: %s", e->id, sf_error_msg(&e2));
      sf_error_release(&e2);
    }
    pthread_mutex_lock(&lc->lock);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    while (e->refs > 0 && pthread_cond_timedwait(&lc->cond, &lc->lock, &ts) == 0)
      ;
    pthread_mutex_unlock(&lc->lock);
    sf_exec_free(e->entrypoint);
    e->entrypoint = NULL;
    if (sf_sandbox_destroy(e->sb, &e2) < 0) {
      sf_log_warn("sandbox %s: destroy: %s", e->id, sf_error_msg(&e2));
      sf_error_release(&e2);
    }
    e->sb = NULL;
  }
  if (sf_store_begin(st, err) < 0)
    return -1;
  if (sf_db_event(st, "sandbox.destroyed", e->id, NULL, err) < 0 ||
      sf_db_delete_sandbox(st, e->id, err) < 0) {
    sf_store_rollback(st);
    return -1;
  }
  return sf_store_commit(st, err);
}

void sf_lc_record_destroyed(sf_lifecycle *lc, const char *id)
{
  sf_store *st = lc->cfg.store;
  sf_error_t err = NULL;
  if (sf_store_begin(st, &err) == 0) {
    if (sf_db_event(st, "sandbox.destroyed", id, NULL, &err) < 0)
      sf_store_rollback(st);
    else
      sf_store_commit(st, &err);
  }
  if (err) {
    sf_log_warn("sandbox %s: recording sandbox.destroyed: %s", id, sf_error_msg(&err));
    sf_error_release(&err);
  }
}

void sf_lifecycle_on_incident(const sf_incident *inc, void *ud)
{
  sf_lifecycle *lc = ud;
  sf_pending_incident *p = calloc(1, sizeof(*p));
  if (p == NULL)
    return;
  p->inc = *inc;
  snprintf(p->id, sizeof(p->id), "%s", inc->sandbox_id);
  if (inc->syscall_name)
    snprintf(p->syscall, sizeof(p->syscall), "%s", inc->syscall_name);
  if (inc->command)
    snprintf(p->command, sizeof(p->command), "%s", inc->command);
  pthread_mutex_lock(&lc->lock);
  sf_pending_incident **pp = &lc->incidents;
  while (*pp)
    pp = &(*pp)->next;
  *pp = p;
  pthread_cond_broadcast(&lc->cond);
  pthread_mutex_unlock(&lc->lock);
}

static void handle_incident(sf_lifecycle *lc, sf_pending_incident *p)
{
  sf_error_t err = NULL;
  const sf_incident *inc = &p->inc;
  json_t *extra = NULL;
  const char *type = NULL;
  switch (inc->kind) {
  case SF_INCIDENT_OOM_KILL:
    type = "resource.exhausted";
    extra = json_pack("{s:s,s:I,s:I}", "resource", "memory", "limit", (json_int_t)inc->limit,
                      "count", (json_int_t)inc->count);
    break;
  case SF_INCIDENT_PIDS_LIMIT:
    type = "resource.exhausted";
    extra = json_pack("{s:s,s:I,s:I}", "resource", "pids", "limit", (json_int_t)inc->limit, "count",
                      (json_int_t)inc->count);
    break;
  case SF_INCIDENT_BLOCKED_SYSCALL:
    type = "security.violation";
    extra = json_pack("{s:s,s:s,s:s,s:s}", "violation_type", "blocked_syscall", "syscall",
                      p->syscall, "attempted_command", p->command, "action", "denied");
    break;
  case SF_INCIDENT_INIT_EXITED: {
    /* init died without us asking: the sandbox failed */
    pthread_mutex_lock(&lc->lock);
    sf_entry *e = sf_lc_find(lc, p->id);
    if (e == NULL || e->deleting) {
      pthread_mutex_unlock(&lc->lock);
      return;
    }
    e->deleting = true;
    pthread_mutex_unlock(&lc->lock);
    pthread_mutex_lock(&e->op);
    extra = json_pack("{s:s,s:i}", "reason", "init_exited", "exit_status", inc->exit_status);
    if (sf_lc_commit_state(lc, e, "Failed", "INIT_EXITED", "sandbox.failed", extra, &err) == 0 &&
        e->sb) {
      sf_error_t e2 = NULL;
      sf_exec_free(e->entrypoint);
      e->entrypoint = NULL;
      if (sf_sandbox_destroy(e->sb, &e2) < 0)
        sf_log_warn("sandbox %s: cleanup after failure: %s", e->id, sf_error_msg(&e2));
      sf_error_release(&e2);
      e->sb = NULL;
      sf_lc_record_destroyed(lc, e->id);
    }
    pthread_mutex_unlock(&e->op);
    pthread_mutex_lock(&lc->lock);
    sf_lc_remove_entry(lc, e); /* the Failed row stays until deleted */
    pthread_mutex_unlock(&lc->lock);
    json_decref(extra);
    if (err)
      sf_log_warn("sandbox %s: %s", p->id, sf_error_msg(&err));
    sf_error_release(&err);
    return;
  }
  }
  if (type && sf_lifecycle_emit(lc, type, p->id, extra, &err) < 0) {
    sf_log_warn("sandbox %s: recording %s: %s", p->id, type, sf_error_msg(&err));
    sf_error_release(&err);
  }
  json_decref(extra);
}

static void check_timers(sf_lifecycle *lc)
{
  int64_t now = sf_now_ms();
  char expire[64][65], idle[64][65];
  bool pause_on[64];
  int ne = 0, ni = 0;
  pthread_mutex_lock(&lc->lock);
  for (sf_entry *e = lc->entries; e; e = e->next) {
    if (e->deleting)
      continue;
    bool live = strcmp(e->state, "Running") == 0 || strcmp(e->state, "Paused") == 0;
    if (live && e->expires_ms > 0 && now >= e->expires_ms && ne < 64) {
      pause_on[ne] = e->pause_on_timeout;
      snprintf(expire[ne++], 65, "%s", e->id);
    } else if (strcmp(e->state, "Running") == 0 && e->idle_ms > 0 && e->refs == 0 &&
               now - e->last_active_ms >= e->idle_ms && ni < 64) {
      snprintf(idle[ni++], 65, "%s", e->id);
    }
  }
  pthread_mutex_unlock(&lc->lock);
  for (int i = 0; i < ne; i++) {
    sf_error_t err = NULL;
    pthread_mutex_lock(&lc->lock);
    sf_entry *e = sf_lc_find(lc, expire[i]);
    if (e == NULL || e->deleting) {
      pthread_mutex_unlock(&lc->lock);
      continue;
    }
    if (pause_on[i]) {
      e->expires_ms = 0; /* expired once; paused until renewed or deleted */
      pthread_mutex_unlock(&lc->lock);
      if (sf_lifecycle_emit(lc, "sandbox.expired", expire[i], NULL, &err) == 0)
        sf_lifecycle_pause(lc, expire[i], "timeout", &err);
    } else {
      e->deleting = true;
      pthread_mutex_unlock(&lc->lock);
      pthread_mutex_lock(&e->op);
      sf_lc_teardown(lc, e, "sandbox.expired", NULL, &err);
      pthread_mutex_unlock(&e->op);
      pthread_mutex_lock(&lc->lock);
      sf_lc_remove_entry(lc, e);
      pthread_mutex_unlock(&lc->lock);
    }
    if (err)
      sf_log_warn("sandbox %s: expiry: %s", expire[i], sf_error_msg(&err));
    sf_error_release(&err);
  }
  for (int i = 0; i < ni; i++) {
    sf_error_t err = NULL;
    if (sf_lifecycle_pause(lc, idle[i], "idle", &err) < 0 && sf_error_code(&err) != EBUSY)
      sf_log_warn("sandbox %s: idle pause: %s", idle[i], sf_error_msg(&err));
    sf_error_release(&err);
  }
}

static void *timer_main(void *arg)
{
  sf_lifecycle *lc = arg;
  pthread_mutex_lock(&lc->lock);
  while (!lc->stop) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 200 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    if (lc->incidents == NULL)
      pthread_cond_timedwait(&lc->cond, &lc->lock, &ts);
    sf_pending_incident *list = lc->incidents;
    lc->incidents = NULL;
    pthread_mutex_unlock(&lc->lock);
    while (list) {
      sf_pending_incident *p = list;
      list = p->next;
      handle_incident(lc, p);
      free(p);
    }
    check_timers(lc);
    /* Reap exec shims and orphaned inits we are subreaper of. */
    while (waitpid(-1, NULL, WNOHANG) > 0)
      ;
    pthread_mutex_lock(&lc->lock);
  }
  pthread_mutex_unlock(&lc->lock);
  return NULL;
}

int sf_lc_start_timers(sf_lifecycle *lc, sf_error_t *err)
{
  if (pthread_create(&lc->timer, NULL, timer_main, lc) != 0)
    return sf_error_make(err, EAGAIN, "cannot start the lifecycle timer thread");
  lc->timer_running = true;
  return 0;
}

void sf_lc_stop_timers(sf_lifecycle *lc)
{
  if (!lc->timer_running)
    return;
  pthread_mutex_lock(&lc->lock);
  lc->stop = true;
  pthread_cond_broadcast(&lc->cond);
  pthread_mutex_unlock(&lc->lock);
  pthread_join(lc->timer, NULL);
  lc->timer_running = false;
}

int sf_lc_recover(sf_lifecycle *lc, sf_error_t *err)
{
  json_t *rows = NULL;
  if (sf_db_recovery_rows(lc->cfg.store, &rows, err) < 0)
    return -1;
  size_t i;
  json_t *row;
  int adopted = 0, failed = 0;
  json_array_foreach(rows, i, row)
  {
    const char *id = json_string_value(json_object_get(row, "id"));
    const char *state = json_string_value(json_object_get(row, "state"));
    if (strcmp(state, "Failed") == 0 || strcmp(state, "Terminated") == 0)
      continue;
    sf_entry *e = calloc(1, sizeof(*e));
    snprintf(e->id, sizeof(e->id), "%s", id);
    snprintf(e->template_id, sizeof(e->template_id), "%s",
             json_string_value(json_object_get(row, "template")));
    snprintf(e->token, sizeof(e->token), "%s", json_string_value(json_object_get(row, "token")));
    snprintf(e->state, sizeof(e->state), "%s", state);
    pthread_mutex_init(&e->op, NULL);
    json_t *ext = json_object_get(json_object_get(row, "spec"), "extensions");
    e->expires_ms = json_integer_value(json_object_get(row, "expires_at"));
    e->idle_ms = json_integer_value(json_object_get(ext, "idleTimeout")) * 1000;
    const char *ot = json_string_value(json_object_get(ext, "onTimeout"));
    e->pause_on_timeout = ot && strcmp(ot, "pause") == 0;
    e->auto_resume = json_is_true(json_object_get(ext, "autoResume"));
    e->last_active_ms = sf_now_ms();
    sf_error_t e2 = NULL;
    bool alive = (strcmp(state, "Running") == 0 || strcmp(state, "Paused") == 0 ||
                  strcmp(state, "Pausing") == 0 || strcmp(state, "Resuming") == 0 ||
                  strcmp(state, "Stopping") == 0) &&
                 sf_sandbox_adopt(lc->cfg.runtime, id, &e->sb, &e2) == 0;
    if (alive && strcmp(state, "Stopping") != 0) {
      /* A crash mid-pause/resume: the freezer knows which side we are on. */
      sf_usage u;
      if (sf_sandbox_usage(e->sb, &u, &e2) == 0)
        snprintf(e->state, sizeof(e->state), "%s", u.frozen ? "Paused" : "Running");
      if (strcmp(e->state, state) != 0)
        sf_lc_commit_state(lc, e, e->state, NULL, NULL, NULL, &e2);
      e->next = lc->entries;
      lc->entries = e;
      adopted++;
    } else {
      /* Dead while we were down (or half-created, or half-deleted). */
      sf_error_release(&e2);
      sf_sandbox_release(e->sb);
      e->sb = NULL;
      sf_sandbox_cleanup_id(lc->cfg.runtime, id, &e2);
      sf_error_release(&e2);
      if (strcmp(state, "Stopping") == 0) {
        e->deleting = true;
        sf_lc_teardown(lc, e, NULL, NULL, &e2);
      } else {
        json_t *extra = json_pack("{s:s}", "reason", "lost_while_supervisor_down");
        if (sf_lc_commit_state(lc, e, "Failed", "LOST", "sandbox.failed", extra, &e2) == 0)
          sf_lc_record_destroyed(lc, id);
        json_decref(extra);
      }
      if (e2)
        sf_log_warn("recovery of sandbox %s: %s", id, sf_error_msg(&e2));
      sf_error_release(&e2);
      pthread_mutex_destroy(&e->op);
      free(e);
      failed++;
    }
  }
  json_decref(rows);
  /* Runtime state that no row knows about (crash between runtime create and commit). */
  char **ids = NULL;
  int orphans = 0;
  if (sf_runtime_list_ids(lc->cfg.runtime, &ids, err) < 0)
    return -1;
  for (char **p = ids; *p; p++) {
    if (sf_lc_find(lc, *p) == NULL) {
      sf_error_t e2 = NULL;
      sf_sandbox_cleanup_id(lc->cfg.runtime, *p, &e2);
      sf_error_release(&e2);
      orphans++;
    }
    free(*p);
  }
  free(ids);
  sf_log_fields(
      SF_LOG_INFO, "recovery done",
      json_pack("{s:i,s:i,s:i}", "adopted", adopted, "failed", failed, "orphans_removed", orphans));
  return 0;
}
