/* Shared between the lifecycle's files. */
#ifndef SF_LIFECYCLE_INTERNAL_H
#define SF_LIFECYCLE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include "lifecycle/lifecycle.h"

/* One live (or recovering) sandbox. */
typedef struct sf_entry {
  struct sf_entry *next;
  char id[65];
  char template_id[65];
  char token[65];
  char state[16];
  sf_sandbox *sb;
  sf_exec *entrypoint;
  pthread_mutex_t op; /* serialises operations on this sandbox */
  int refs;           /* execd users; delete waits for 0 (guarded by lc->lock) */
  bool deleting;
  int64_t expires_ms; /* 0 = none */
  int64_t idle_ms;    /* 0 = no idle auto-pause */
  int64_t last_active_ms;
  bool pause_on_timeout;
  bool auto_resume;
} sf_entry;

typedef struct sf_pending_incident {
  struct sf_pending_incident *next;
  sf_incident inc;
  char id[65];
  char syscall[32];
  char command[256];
} sf_pending_incident;

struct sf_lifecycle {
  sf_lifecycle_config cfg;
  pthread_mutex_t lock; /* entries list, refs, incidents */
  pthread_cond_t cond;
  sf_entry *entries;
  sf_pending_incident *incidents;
  pthread_t timer;
  bool stop, timer_running;
};

struct sf_sandbox_ref {
  sf_lifecycle *lc;
  sf_entry *e;
};

/* lifecycle_db.c: rows of the sandboxes table. */
int sf_db_insert_sandbox(sf_store *st, const char *id, const char *template_id, const char *image,
                         json_t *spec, json_t *metadata, const char *token, int64_t created_ms,
                         int64_t expires_ms, sf_error_t *err);
/* Inside a transaction: set state (+reason) and append events, each with
 * data {sandbox_id, template_id, state, metadata, resources} + extra. */
int sf_db_set_state(sf_store *st, const char *id, const char *state, const char *reason,
                    sf_error_t *err);
int sf_db_event(sf_store *st, const char *type, const char *id, json_t *extra, sf_error_t *err);
/* A failed sandbox's runtime is gone (its Failed row stays until deleted):
 * record sandbox.destroyed so receivers see the resources returned. */
void sf_lc_record_destroyed(sf_lifecycle *lc, const char *id);
int sf_db_delete_sandbox(sf_store *st, const char *id, sf_error_t *err);
/* Sandbox JSON in the OpenSandbox shape (NULL + ENOENT when unknown). */
int sf_db_sandbox_json(sf_store *st, const char *id, json_t **out, sf_error_t *err);
/* Every row as an array of Sandbox JSON, newest first. */
int sf_db_all_sandboxes(sf_store *st, json_t **out, sf_error_t *err);
/* Raw columns needed for recovery: array of {id,state,template,token,spec,expires_at}. */
int sf_db_recovery_rows(sf_store *st, json_t **out, sf_error_t *err);
int sf_db_set_expiry(sf_store *st, const char *id, int64_t expires_ms, sf_error_t *err);
int sf_db_set_metadata(sf_store *st, const char *id, json_t *metadata, sf_error_t *err);

/* One transition with its events, committed atomically. */
int sf_lc_commit_state(sf_lifecycle *lc, sf_entry *e, const char *state, const char *reason,
                       const char *event, json_t *extra, sf_error_t *err);

/* lifecycle_timers.c */
int sf_lc_recover(sf_lifecycle *lc, sf_error_t *err);
int sf_lc_start_timers(sf_lifecycle *lc, sf_error_t *err);
void sf_lc_stop_timers(sf_lifecycle *lc);
sf_entry *sf_lc_find(sf_lifecycle *lc, const char *id); /* lc->lock held */
void sf_lc_remove_entry(sf_lifecycle *lc, sf_entry *e); /* lc->lock held; frees */
int sf_lc_teardown(sf_lifecycle *lc, sf_entry *e, const char *event, json_t *extra,
                   sf_error_t *err);

#endif
