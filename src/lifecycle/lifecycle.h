/* Sandbox lifecycle: the OpenSandbox state machine over the runtime, with
 * every transition and its events committed to the store in one transaction
 * before the caller answers, TTL expiry and idle auto-pause timers, and
 * recovery of live sandboxes after a restart (also after kill -9).
 *
 * Errors use errno values the HTTP layer maps (http.h): ENOENT unknown id,
 * EINVAL bad input, EBUSY wrong state, EACCES bad execd token. */
#ifndef SF_LIFECYCLE_LIFECYCLE_H
#define SF_LIFECYCLE_LIFECYCLE_H

#include <jansson.h>
#include <stdint.h>

#include "common/error.h"
#include "runtime/runtime.h"
#include "store/store.h"

typedef struct sf_lifecycle sf_lifecycle;
typedef struct sf_sandbox_ref sf_sandbox_ref;

typedef struct {
  sf_store *store;
  sf_runtime *runtime;
  json_t *image_aliases;  /* object: image name → template name (borrowed) */
  int64_t min_timeout_s;  /* smallest accepted `timeout` (OpenSandbox: 60) */
  int64_t default_memory; /* bytes, 0 = none */
  int64_t default_cpu_millis;
  int64_t default_pids;
} sf_lifecycle_config;

/* Start: recover sandboxes recorded in the store (adopt the live ones, mark
 * the dead ones Failed and clean up), then start the timer thread. */
int sf_lifecycle_new(const sf_lifecycle_config *cfg, sf_lifecycle **out, sf_error_t *err);
/* Stop timers; sandboxes keep running (re-adopted on the next start). */
void sf_lifecycle_free(sf_lifecycle *lc);

/* Runtime incident callback (pass lc as userdata to the runtime).  Queues the
 * incident: it is turned into state changes and events off the monitor thread. */
void sf_lifecycle_on_incident(const sf_incident *inc, void *lc);

/* OpenSandbox CreateSandboxRequest → Sandbox JSON (state Running). */
int sf_lifecycle_create(sf_lifecycle *lc, json_t *request, json_t **sandbox, sf_error_t *err);
int sf_lifecycle_get(sf_lifecycle *lc, const char *id, json_t **sandbox, sf_error_t *err);
/* states: NULL-terminated (case-insensitive, OR); metadata: object of exact pairs (AND). */
int sf_lifecycle_list(sf_lifecycle *lc, const char *const *states, json_t *metadata, int page,
                      int page_size, json_t **out, sf_error_t *err);
int sf_lifecycle_delete(sf_lifecycle *lc, const char *id, sf_error_t *err);
/* reason: "api", "idle", "auto_resume", "timeout". */
int sf_lifecycle_pause(sf_lifecycle *lc, const char *id, const char *reason, sf_error_t *err);
int sf_lifecycle_resume(sf_lifecycle *lc, const char *id, const char *reason, sf_error_t *err);
int sf_lifecycle_renew(sf_lifecycle *lc, const char *id, int64_t expires_ms, json_t **out,
                       sf_error_t *err);
int sf_lifecycle_patch_metadata(sf_lifecycle *lc, const char *id, json_t *patch, json_t **sandbox,
                                sf_error_t *err);
/* The per-sandbox execd token (for the endpoint route).  Caller frees. */
int sf_lifecycle_token(sf_lifecycle *lc, const char *id, char **token, sf_error_t *err);

/* For execd routes: check `token` (constant time), auto-resume a paused
 * sandbox when its autoResume extension is on (else EBUSY), note activity,
 * and hold the sandbox so it cannot be destroyed while in use. */
int sf_lifecycle_acquire(sf_lifecycle *lc, const char *id, const char *token, sf_sandbox_ref **ref,
                         sf_error_t *err);
sf_sandbox *sf_sandbox_ref_get(sf_sandbox_ref *ref);
const char *sf_sandbox_ref_id(sf_sandbox_ref *ref);
void sf_lifecycle_release(sf_sandbox_ref *ref);

/* Record an event about a sandbox in its own transaction (task.timeout, …).
 * data is borrowed; sandbox_id/template_id are added to it. */
int sf_lifecycle_emit(sf_lifecycle *lc, const char *type, const char *sandbox_id, json_t *data,
                      sf_error_t *err);

/* Counts by state, for /metrics: fills a JSON object {state: n}. */
json_t *sf_lifecycle_state_counts(sf_lifecycle *lc);

#endif
