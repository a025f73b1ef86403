/* The durable store: one SQLite database in WAL mode under the data dir.
 *
 * Writers serialise on the store's writer lock: sf_store_begin() takes it and
 * opens a BEGIN IMMEDIATE transaction, sf_store_commit()/rollback() end it.
 * Every state change and the events it causes are written in one such
 * transaction (transactional outbox): sf_store_event_append() inserts the
 * event row and runs the registered event hooks (the webhook module inserts
 * one delivery row per matching endpoint there), all before COMMIT.  After a
 * commit that appended events, the commit hooks run (outside the lock) to
 * wake the dispatcher and event-stream followers. */
#ifndef SF_STORE_STORE_H
#define SF_STORE_STORE_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct sf_store sf_store;

/* Open (creating) `path`, enable WAL, foreign keys, busy timeout, and run
 * the core migrations. */
int sf_store_open(const char *path, sf_store **out, sf_error_t *err);
void sf_store_close(sf_store *st);

/* The connection, for modules that keep their own tables (webhook store).
 * Use only between begin/commit, or under sf_store_lock for reads. */
sqlite3 *sf_store_db(sf_store *st);
/* Plain mutual exclusion on the connection for read-only statements. */
void sf_store_lock(sf_store *st);
void sf_store_unlock(sf_store *st);

int sf_store_begin(sf_store *st, sf_error_t *err);
int sf_store_commit(sf_store *st, sf_error_t *err);
void sf_store_rollback(sf_store *st);

/* Apply schema steps of one component in order, remembering how many ran in
 * a `schema_versions(component, version)` table; each step is one SQL script
 * run in its own transaction. */
int sf_store_migrate(sf_store *st, const char *component, const char *const *steps, size_t n,
                     sf_error_t *err);

/* Run a statement with a message that names it on failure (no results). */
int sf_store_exec(sf_store *st, const char *sql, sf_error_t *err);

/* ---- events (the outbox) ---------------------------------------------- */

typedef struct {
  char id[40];             /* "evt_" + 16 hex; generated when empty */
  const char *type;        /* catalog name, e.g. "sandbox.created" */
  int64_t timestamp_ms;    /* when it happened; now when 0 */
  const char *sandbox_id;  /* NULL for non-sandbox events */
  const char *template_id; /* NULL for non-sandbox events */
  json_t *data;            /* borrowed; the `data` object of the payload */
  int64_t seq;             /* filled by append: monotonically increasing row id */
} sf_event;

/* Called inside the appending transaction with the exact payload bytes
 * (webhooks.md §2).  A hook failure rolls the caller's transaction back. */
typedef int (*sf_event_hook)(sf_store *st, const sf_event *ev, const char *payload, void *userdata,
                             sf_error_t *err);
/* Called after a commit that appended at least one event. */
typedef void (*sf_commit_hook)(void *userdata);

void sf_store_add_event_hook(sf_store *st, sf_event_hook hook, void *userdata);
void sf_store_add_commit_hook(sf_store *st, sf_commit_hook hook, void *userdata);

/* Must be called inside sf_store_begin/commit.  Builds the payload
 * {id, event, timestamp, sandbox_id, template_id, data}, stores it in the
 * `events` table and runs the event hooks. */
int sf_store_event_append(sf_store *st, sf_event *ev, sf_error_t *err);

/* Build the payload text for an event (used by append and by tests). */
char *sf_event_payload(const sf_event *ev);

typedef struct {
  int64_t since_ms;  /* 0 = all */
  int64_t after_seq; /* 0 = from the start (for follow/pagination) */
  const char *type;  /* exact name, "prefix.*", "*", a comma-separated list of those, or NULL */
  const char *sandbox_id;
  int limit; /* default 100, max 1000 */
} sf_event_query;

/* Events as a JSON array of payload objects, each with an extra "seq"
 * member stripped unless `with_seq`.  Caller owns the result. */
int sf_store_events_list(sf_store *st, const sf_event_query *q, json_t **out, sf_error_t *err);

/* Delete events older than `before_ms` (and rows that hang off them). */
int sf_store_events_prune(sf_store *st, int64_t before_ms, int64_t *deleted, sf_error_t *err);

/* Event followers: read the generation, query, and if nothing new wait for a
 * commit that appends events.  sf_store_events_wait returns 1 when the
 * generation moved, 0 on timeout, -1 once sf_store_events_close_waiters ran
 * (shutdown: followers end their streams). */
uint64_t sf_store_events_generation(sf_store *st);
int sf_store_events_wait(sf_store *st, uint64_t generation, int timeout_ms);
void sf_store_events_close_waiters(sf_store *st);

#endif
