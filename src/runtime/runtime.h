/* The sandbox runtime: creates, enters, freezes, thaws and destroys isolated
 * sandboxes (namespaces + overlayfs root + cgroups + seccomp).  This is the
 * only interface the lifecycle layer and `sandforge run` use; a microVM
 * backend would implement the same functions.
 *
 * Threading: every function is safe to call from any thread; calls on the
 * same sandbox are serialised by the caller (the lifecycle layer holds a
 * per-sandbox lock).  Incidents are reported from the runtime's own monitor
 * thread through the callback in sf_runtime_config. */
#ifndef SF_RUNTIME_RUNTIME_H
#define SF_RUNTIME_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

typedef struct sf_runtime sf_runtime;
typedef struct sf_sandbox sf_sandbox;
typedef struct sf_exec sf_exec;

/* ---- asynchronous incidents ------------------------------------------- */

typedef enum {
  SF_INCIDENT_INIT_EXITED,     /* the sandbox's init died (sandbox is dead) */
  SF_INCIDENT_OOM_KILL,        /* the kernel OOM-killed a process in the sandbox */
  SF_INCIDENT_PIDS_LIMIT,      /* a fork/clone failed because of the pids limit */
  SF_INCIDENT_BLOCKED_SYSCALL, /* the seccomp notify listener denied a watched syscall */
} sf_incident_kind;

typedef struct {
  sf_incident_kind kind;
  const char *sandbox_id;
  int64_t timestamp_ms; /* wall clock, when observed */
  /* INIT_EXITED */
  int exit_status; /* raw wait status */
  /* OOM_KILL / PIDS_LIMIT */
  int64_t count; /* how many new occurrences since the last report */
  int64_t limit; /* memory bytes or pids max */
  /* BLOCKED_SYSCALL */
  int syscall_nr;
  const char *syscall_name; /* e.g. "mount" */
  pid_t pid;                /* host pid of the offender */
  const char *command;      /* its cmdline (spaces for NULs), best effort */
} sf_incident;

typedef void (*sf_incident_cb)(const sf_incident *incident, void *userdata);

/* ---- runtime ------------------------------------------------------------ */

typedef struct {
  const char *state_dir;      /* where per-sandbox state lives, e.g. <data-dir>/runtime */
  const char *templates_dir;  /* directory templates are registered in (may be NULL) */
  const char *init_path;      /* path of sandforge-init; NULL = next to /proc/self/exe */
  const char *cgroup_root;    /* NULL = /sys/fs/cgroup (tests pass a fake tree) */
  const char *cgroup_parent;  /* name of our parent group, default "sandforge" */
  uid_t host_uid_base;        /* first host uid of the mapped range, default 100000 */
  uint32_t uid_range;         /* ids mapped per sandbox, default 65536 */
  sf_incident_cb on_incident; /* may be NULL */
  void *incident_userdata;
} sf_runtime_config;

/* Probe the host (cgroup version, seccomp, overlayfs, user namespaces), prepare
 * the parent cgroup and start the monitor thread. */
int sf_runtime_new(sf_runtime **out, const sf_runtime_config *cfg, sf_error_t *err);
/* Stop the monitor thread and free.  Sandboxes keep running (they are adopted
 * by the next runtime); use sf_sandbox_destroy to remove them. */
void sf_runtime_free(sf_runtime *rt);
/* Remove the state dir (and the host template skeleton in it) when no
 * sandbox state is left in it; returns 1 when removed, 0 when sandboxes
 * remain.  For a supervisor shutting down with nothing to re-adopt. */
int sf_runtime_remove_state_if_empty(sf_runtime *rt, sf_error_t *err);

/* "v1" / "v2": which cgroup layout the runtime drives. */
const char *sf_runtime_cgroup_mode(const sf_runtime *rt);

/* ---- sandboxes ---------------------------------------------------------- */

typedef struct {
  const char *id;            /* required; [A-Za-z0-9_-]{1,64}; names cgroups and state */
  const char *template_name; /* "host" (default when NULL) or a registered template */
  const char *rootfs_dir;    /* explicit rootfs directory (overrides template_name) */
  const char *hostname;      /* default: "sandbox" */
  char *const *env;          /* NULL-terminated "K=V"; default env for every exec */
  int64_t memory_bytes;      /* 0 = no limit */
  int64_t cpu_millis;        /* 0 = no limit; 1000 = one CPU */
  int64_t pids_max;          /* 0 = default (1024) */
  int64_t disk_bytes;        /* size of the writable layer, 0 = default (1 GiB) */
  int64_t nofile;            /* RLIMIT_NOFILE, 0 = default (1024) */
  int64_t fsize_bytes;       /* RLIMIT_FSIZE, 0 = unlimited (the tmpfs size still applies) */
} sf_sandbox_spec;

/* 0 when `template_name` ("host" or a registered template) can be used;
 * ENOENT + a message listing the known templates otherwise. */
int sf_runtime_check_template(sf_runtime *rt, const char *template_name, sf_error_t *err);

/* Create the sandbox and start its init; returns once init runs inside all
 * namespaces with its root, cgroups and seccomp in place.  On failure
 * nothing is left behind. */
int sf_sandbox_create(sf_runtime *rt, const sf_sandbox_spec *spec, sf_sandbox **out,
                      sf_error_t *err);

/* Re-attach to a sandbox created by an earlier runtime (after a supervisor
 * restart, also after kill -9).  Fails with ESRCH if its init is gone (the
 * caller then calls sf_sandbox_cleanup_id). */
int sf_sandbox_adopt(sf_runtime *rt, const char *id, sf_sandbox **out, sf_error_t *err);

/* Remove whatever is left of sandbox `id` (processes, cgroups, state) without
 * a handle; idempotent. */
int sf_sandbox_cleanup_id(sf_runtime *rt, const char *id, sf_error_t *err);

/* Ids of sandboxes that have runtime state on disk (for recovery).  NULL-terminated. */
int sf_runtime_list_ids(sf_runtime *rt, char ***ids_out, sf_error_t *err);

const char *sf_sandbox_id(const sf_sandbox *sb);
pid_t sf_sandbox_init_pid(const sf_sandbox *sb);
/* Host uid/gid that uid/gid 0 inside the sandbox maps to. */
uid_t sf_sandbox_host_uid(const sf_sandbox *sb, uid_t inner);
gid_t sf_sandbox_host_gid(const sf_sandbox *sb, gid_t inner);
/* A directory fd of the sandbox's root as its processes see it (O_PATH not
 * used: usable with openat2(RESOLVE_IN_ROOT)).  Caller closes it. */
int sf_sandbox_open_root(sf_sandbox *sb, sf_error_t *err);

/* Freeze / thaw every process (cgroup freezer); return once the state took effect. */
int sf_sandbox_freeze(sf_sandbox *sb, sf_error_t *err);
int sf_sandbox_thaw(sf_sandbox *sb, sf_error_t *err);
/* Kill every process in the sandbox (cgroup.kill or a freeze+kill loop on v1);
 * returns when none is left. */
int sf_sandbox_kill(sf_sandbox *sb, sf_error_t *err);
/* Kill, then remove cgroups, state and (for the sandbox's own mount namespace)
 * everything mounted; frees sb.  Nothing is left on the host. */
int sf_sandbox_destroy(sf_sandbox *sb, sf_error_t *err);
/* Free the handle only (sandbox keeps running). */
void sf_sandbox_release(sf_sandbox *sb);

typedef struct {
  int64_t cpu_usec;     /* total CPU time used by the sandbox */
  int64_t memory_bytes; /* current memory usage */
  int64_t memory_limit; /* 0 = none */
  int64_t pids_current;
  int64_t pids_max;
  bool frozen;
} sf_usage;

int sf_sandbox_usage(sf_sandbox *sb, sf_usage *out, sf_error_t *err);

/* ---- exec ---------------------------------------------------------------- */

typedef struct {
  char *const *argv;     /* argv to execvp inside the sandbox, or NULL when shell_cmd */
  const char *shell_cmd; /* run as `bash -c CMD` (sh when bash is missing) */
  char *const *env;      /* extra "K=V" on top of the sandbox env (may be NULL) */
  const char *cwd;       /* default "/home/user" (or "/" if missing) */
  int64_t uid, gid;      /* inner ids; -1 = default workload user (1000) */
  int stdin_fd;          /* fd to dup as stdin; -1 = /dev/null */
  int stdout_fd;         /* fd to dup as stdout; -1 = a pipe returned by sf_exec_stdout_fd */
  int stderr_fd;         /* likewise */
  int64_t timeout_ms;    /* 0 = none; on expiry the whole process group is SIGKILLed */
} sf_exec_spec;

typedef struct {
  bool exited; /* true: exit_code valid; false: killed by signal */
  int exit_code;
  int signal;
  bool timed_out;   /* the timeout fired and killed it */
  int64_t cpu_usec; /* user+system CPU of the command and its waited-for children */
  int64_t wall_ms;
} sf_exec_result;

/* Start a command in the sandbox (setns from the supervisor side; no daemon
 * inside).  The command runs in its own session, with the sandbox's seccomp
 * profile, capabilities, rlimits and cgroups. */
int sf_exec_start(sf_sandbox *sb, const sf_exec_spec *spec, sf_exec **out, sf_error_t *err);
/* Read ends of the output pipes (-1 when the spec gave an fd). Non-blocking, CLOEXEC. */
int sf_exec_stdout_fd(sf_exec *ex);
int sf_exec_stderr_fd(sf_exec *ex);
/* Host pid of the command (the process group leader). */
pid_t sf_exec_pid(sf_exec *ex);
/* An fd that becomes readable when the command has finished (for poll loops). */
int sf_exec_wait_fd(sf_exec *ex);
/* Non-blocking: 1 = finished (*res filled), 0 = still running.  Enforces the
 * timeout when called after it elapsed. */
int sf_exec_poll(sf_exec *ex, sf_exec_result *res, sf_error_t *err);
/* Blocking wait (enforces the timeout). */
int sf_exec_wait(sf_exec *ex, sf_exec_result *res, sf_error_t *err);
/* SIGKILL the command's process group (interrupt). */
int sf_exec_kill(sf_exec *ex, sf_error_t *err);
/* Free the handle; kills the command if still running. */
void sf_exec_free(sf_exec *ex);

#endif
