/* Cgroup driver for one sandbox, v1 (per-controller hierarchies, as on this
 * hybrid host) and v2 (unified).  The root directory is configurable so the
 * v2 code is unit-tested against a fake cgroupfs tree. */
#ifndef SF_RUNTIME_CGROUP_H
#define SF_RUNTIME_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

typedef enum { SF_CGROUP_V1 = 1, SF_CGROUP_V2 = 2 } sf_cgroup_mode;

typedef struct sf_cgroup sf_cgroup;

typedef struct {
  int64_t memory_bytes; /* 0 = none; swap is disabled whenever a limit is set */
  int64_t cpu_millis;   /* 0 = none; period 100 ms, quota = millis * 100 */
  int64_t pids_max;     /* 0 = none */
} sf_cgroup_limits;

typedef struct {
  int64_t cpu_usec;
  int64_t memory_bytes;
  int64_t pids_current;
  int64_t oom_kills;     /* monotonically increasing counter */
  int64_t pids_max_hits; /* monotonically increasing counter ("max" in pids.events) */
  bool frozen;
} sf_cgroup_stats;

/* Detect the layout under `root` (NULL = /sys/fs/cgroup): v2 when root is a
 * cgroup2 mount (or a fake tree with cgroup.controllers listing
 * memory/cpu/pids), v1 when per-controller dirs memory/, cpu/, pids/,
 * freezer/ exist.  Fails with a clear message when neither is usable. */
int sf_cgroup_detect(const char *root, sf_cgroup_mode *mode, sf_error_t *err);

/* Create (or, with `adopt`, open an existing) cgroup <root>/<parent>/<name>
 * in every needed hierarchy, enabling controllers on the path for v2, and
 * apply limits (not when adopting). */
int sf_cgroup_create(const char *root, sf_cgroup_mode mode, const char *parent, const char *name,
                     const sf_cgroup_limits *limits, bool adopt, sf_cgroup **out, sf_error_t *err);

/* Move `pid` into the cgroup (all hierarchies). */
int sf_cgroup_enter(sf_cgroup *cg, pid_t pid, sf_error_t *err);
/* An fd of the v2 cgroup directory usable with clone3(CLONE_INTO_CGROUP), or -1 on v1. */
int sf_cgroup_dirfd(sf_cgroup *cg);

/* Freeze / thaw and wait until the kernel reports the state (v1 FREEZING → FROZEN). */
int sf_cgroup_freeze(sf_cgroup *cg, sf_error_t *err);
int sf_cgroup_thaw(sf_cgroup *cg, sf_error_t *err);
/* Kill every process: cgroup.kill on v2 when present, else freeze → SIGKILL
 * every pid in cgroup.procs → thaw, repeated until cgroup.procs is empty, so
 * a forking process cannot escape. */
int sf_cgroup_kill_all(sf_cgroup *cg, sf_error_t *err);
/* Number of processes currently in the cgroup. */
int sf_cgroup_count_procs(sf_cgroup *cg, sf_error_t *err);

int sf_cgroup_stats_read(sf_cgroup *cg, sf_cgroup_stats *out, sf_error_t *err);
const sf_cgroup_limits *sf_cgroup_get_limits(const sf_cgroup *cg);

/* Remove the cgroup directories (they must be empty of processes: call
 * kill_all first).  Retries EBUSY briefly.  Frees cg. */
int sf_cgroup_destroy(sf_cgroup *cg, sf_error_t *err);
/* Remove the parent group <root>/<parent> when no sandbox uses it any more
 * (rmdir fails harmlessly while children exist). */
void sf_cgroup_remove_parent(const char *root, sf_cgroup_mode mode, const char *parent);

/* Free the handle without touching the cgroup. */
void sf_cgroup_free(sf_cgroup *cg);

#endif
