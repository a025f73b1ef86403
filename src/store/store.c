/* SQLite store: connection, writer lock, transactions, migrations, hooks. */
#include "store/store.h"
#include "common/cleanup.h"
#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_HOOKS 8

struct sf_store {
  sqlite3 *db;
  pthread_mutex_t lock; /* recursive: readers may nest inside a transaction */
  struct {
    sf_event_hook fn;
    void *ud;
  } event_hooks[MAX_HOOKS];
  int n_event_hooks;
  struct {
    sf_commit_hook fn;
    void *ud;
  } commit_hooks[MAX_HOOKS];
  int n_commit_hooks;
  bool tx_appended; /* the open transaction appended events */
  /* Event followers (SSE) wait here; separate from `lock` so a waiter never
   * holds up writers. */
  pthread_mutex_t wait_lock;
  pthread_cond_t wait_cond;
  uint64_t generation; /* commits that appended events */
  bool closing;
};

static const char *const core_schema[] = {
    "CREATE TABLE sandboxes ("
    "  id TEXT PRIMARY KEY,"
    "  state TEXT NOT NULL,"
    "  reason TEXT, message TEXT,"
    "  template TEXT NOT NULL,"
    "  image TEXT,"
    "  spec TEXT NOT NULL," /* JSON: entrypoint, env, resources, extensions */
    "  metadata TEXT NOT NULL DEFAULT '{}',"
    "  token TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER," /* ms; NULL = no expiry */
    "  transition_at INTEGER NOT NULL,"
    "  last_active_at INTEGER NOT NULL);"
    "CREATE INDEX sandboxes_created ON sandboxes(created_at);"
    "CREATE TABLE events ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  id TEXT NOT NULL UNIQUE,"
    "  type TEXT NOT NULL,"
    "  ts INTEGER NOT NULL,"
    "  sandbox_id TEXT,"
    "  payload TEXT NOT NULL);"
    "CREATE INDEX events_ts ON events(ts);"
    "CREATE INDEX events_sandbox ON events(sandbox_id, seq);",
};

sqlite3 *sf_store_db(sf_store *st)
{
  return st->db;
}

void sf_store_lock(sf_store *st)
{
  pthread_mutex_lock(&st->lock);
}

void sf_store_unlock(sf_store *st)
{
  pthread_mutex_unlock(&st->lock);
}

static int db_error(sf_store *st, sf_error_t *err, const char *what)
{
  return sf_error_make(err, EIO, "%s: %s", what, sqlite3_errmsg(st->db));
}

int sf_store_exec(sf_store *st, const char *sql, sf_error_t *err)
{
  char *msg = NULL;
  if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    sf_error_make(err, EIO, "store: %s", msg ? msg : sqlite3_errmsg(st->db));
    sqlite3_free(msg);
    return -1;
  }
  return 0;
}

int sf_store_begin(sf_store *st, sf_error_t *err)
{
  pthread_mutex_lock(&st->lock);
  st->tx_appended = false;
  if (sf_store_exec(st, "BEGIN IMMEDIATE", err) < 0) {
    pthread_mutex_unlock(&st->lock);
    return -1;
  }
  return 0;
}

int sf_store_commit(sf_store *st, sf_error_t *err)
{
  if (sf_store_exec(st, "COMMIT", err) < 0) {
    sf_store_exec(st, "ROLLBACK", NULL);
    pthread_mutex_unlock(&st->lock);
    return -1;
  }
  bool appended = st->tx_appended;
  st->tx_appended = false;
  pthread_mutex_unlock(&st->lock);
  if (appended) {
    pthread_mutex_lock(&st->wait_lock);
    st->generation++;
    pthread_cond_broadcast(&st->wait_cond);
    pthread_mutex_unlock(&st->wait_lock);
  }
  if (appended)
    for (int i = 0; i < st->n_commit_hooks; i++)
      st->commit_hooks[i].fn(st->commit_hooks[i].ud);
  return 0;
}

void sf_store_rollback(sf_store *st)
{
  sf_store_exec(st, "ROLLBACK", NULL);
  st->tx_appended = false;
  pthread_mutex_unlock(&st->lock);
}

int sf_store_migrate(sf_store *st, const char *component, const char *const *steps, size_t n,
                     sf_error_t *err)
{
  if (sf_store_exec(st,
                    "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, "
                    "version INTEGER NOT NULL)",
                    err) < 0)
    return -1;
  sqlite3_stmt *q = NULL;
  int have = 0;
  sqlite3_prepare_v2(st->db, "SELECT version FROM schema_versions WHERE component = ?", -1, &q,
                     NULL);
  sqlite3_bind_text(q, 1, component, -1, SQLITE_STATIC);
  if (sqlite3_step(q) == SQLITE_ROW)
    have = sqlite3_column_int(q, 0);
  sqlite3_finalize(q);
  if ((size_t)have > n)
    return sf_error_make(err, EPROTO,
                         "store schema of '%s' is version %d, newer than this binary (%zu)",
                         component, have, n);
  for (size_t v = (size_t)have; v < n; v++) {
    if (sf_store_begin(st, err) < 0)
      return -1;
    char *sql = sqlite3_mprintf("INSERT INTO schema_versions VALUES(%Q, %d) ON CONFLICT(component) "
                                "DO UPDATE SET version = excluded.version",
                                component, (int)v + 1);
    int r = sf_store_exec(st, steps[v], err) < 0 || sf_store_exec(st, sql, err) < 0 ? -1 : 0;
    sqlite3_free(sql);
    if (r < 0) {
      sf_store_rollback(st);
      return sf_error_wrap(err, "migrating '%s' to version %zu", component, v + 1);
    }
    if (sf_store_commit(st, err) < 0)
      return -1;
  }
  return 0;
}

int sf_store_open(const char *path, sf_store **out, sf_error_t *err)
{
  sf_store *st = calloc(1, sizeof(*st));
  if (st == NULL)
    return sf_error_make(err, ENOMEM, "out of memory");
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_init(&st->lock, &a);
  pthread_mutexattr_destroy(&a);
  pthread_mutex_init(&st->wait_lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&st->wait_cond, &ca);
  pthread_condattr_destroy(&ca);
  if (sqlite3_open_v2(path, &st->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      NULL) != SQLITE_OK) {
    sf_error_make(err, EIO, "open store '%s': %s", path,
                  st->db ? sqlite3_errmsg(st->db) : "no memory");
    sf_store_close(st);
    return -1;
  }
  sqlite3_busy_timeout(st->db, 5000);
  /* WAL + synchronous=FULL: a commit the API acknowledged survives kill -9
   * and power loss; WAL keeps readers off the writer's path. */
  if (sf_store_exec(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
                    err) < 0 ||
      sf_store_migrate(st, "core", core_schema, sizeof(core_schema) / sizeof(core_schema[0]), err) <
          0) {
    sf_error_wrap(err, "store '%s'", path);
    sf_store_close(st);
    return -1;
  }
  *out = st;
  return 0;
}

void sf_store_close(sf_store *st)
{
  if (st == NULL)
    return;
  if (st->db)
    sqlite3_close(st->db);
  pthread_mutex_destroy(&st->lock);
  pthread_mutex_destroy(&st->wait_lock);
  pthread_cond_destroy(&st->wait_cond);
  free(st);
}

void sf_store_add_event_hook(sf_store *st, sf_event_hook hook, void *userdata)
{
  if (st->n_event_hooks < MAX_HOOKS) {
    st->event_hooks[st->n_event_hooks].fn = hook;
    st->event_hooks[st->n_event_hooks++].ud = userdata;
  }
}

void sf_store_add_commit_hook(sf_store *st, sf_commit_hook hook, void *userdata)
{
  if (st->n_commit_hooks < MAX_HOOKS) {
    st->commit_hooks[st->n_commit_hooks].fn = hook;
    st->commit_hooks[st->n_commit_hooks++].ud = userdata;
  }
}

/* Used by event_store.c: run the event hooks and mark the transaction. */
int sf_store_run_event_hooks(sf_store *st, const sf_event *ev, const char *payload, sf_error_t *err)
{
  st->tx_appended = true;
  for (int i = 0; i < st->n_event_hooks; i++)
    if (st->event_hooks[i].fn(st, ev, payload, st->event_hooks[i].ud, err) < 0)
      return -1;
  return 0;
}

int sf_store_db_error(sf_store *st, sf_error_t *err, const char *what)
{
  return db_error(st, err, what);
}

uint64_t sf_store_events_generation(sf_store *st)
{
  pthread_mutex_lock(&st->wait_lock);
  uint64_t g = st->generation;
  pthread_mutex_unlock(&st->wait_lock);
  return g;
}

int sf_store_events_wait(sf_store *st, uint64_t generation, int timeout_ms)
{
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += timeout_ms / 1000;
  deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }
  int r = 0;
  pthread_mutex_lock(&st->wait_lock);
  while (!st->closing && st->generation == generation)
    if (pthread_cond_timedwait(&st->wait_cond, &st->wait_lock, &deadline) == ETIMEDOUT)
      break;
  r = st->closing ? -1 : st->generation != generation;
  pthread_mutex_unlock(&st->wait_lock);
  return r;
}

void sf_store_events_close_waiters(sf_store *st)
{
  pthread_mutex_lock(&st->wait_lock);
  st->closing = true;
  pthread_cond_broadcast(&st->wait_cond);
  pthread_mutex_unlock(&st->wait_lock);
}
