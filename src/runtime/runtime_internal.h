/* Internal state shared by the runtime's files (not part of the public API). */
#ifndef SF_RUNTIME_INTERNAL_H
#define SF_RUNTIME_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime/cgroup.h"
#include "runtime/runtime.h"
#include "runtime/seccomp.h"

#define SF_WORKLOAD_UID 1000
#define SF_ID_MAX 64

struct sf_runtime {
  char *state_dir;
  char *templates_dir;
  char *init_path;
  char *cgroup_root;
  char *cgroup_parent;
  char *host_skeleton; /* lower dir of the `host` template */
  uid_t uid_base;
  uint32_t uid_range;
  sf_cgroup_mode cg_mode;
  sf_incident_cb on_incident;
  void *incident_userdata;
  /* seccomp programs compiled once: children only install them (no malloc after fork) */
  sf_seccomp_prog prog_plain, prog_notify;
  /* monitor thread */
  int epoll_fd;
  int wake_fd; /* eventfd: stop request */
  pthread_t monitor;
  bool monitor_running;
  pthread_mutex_t lock; /* guards watches */
  struct sf_watch *watches;
};

/* What the monitor thread watches for one sandbox: its init's pidfd, the
 * seccomp listeners of its processes and its cgroup counters. */
struct sf_watch {
  struct sf_watch *next;
  char id[SF_ID_MAX + 1];
  int pidfd;
  sf_cgroup *cg; /* own handle (adopted) for stats */
  int64_t last_oom, last_pids_hits;
  sf_rate_limiter violations;
  int *listeners;
  size_t n_listeners;
  bool init_exit_reported;
};

struct sf_sandbox {
  sf_runtime *rt;
  char id[SF_ID_MAX + 1];
  pid_t init_pid;
  int pidfd;
  sf_cgroup *cg;
  char **env;
  int64_t memory_bytes, pids_max, nofile, fsize_bytes;
};

/* harden.c: applied in every sandboxed process right before execve. */
typedef struct {
  int64_t nofile, nproc, fsize;
  int64_t uid, gid; /* inner ids to switch to; -1 = stay */
} sf_harden_opts;
/* rlimits, bounding set, uid/gid switch, capabilities (uid 0 keeps only
 * AUDIT_WRITE, KILL, NET_BIND_SERVICE; others keep none), no_new_privs.
 * Seccomp is separate: it must be the last step before execve. */
int sf_harden_process(const sf_harden_opts *o, sf_error_t *err);

/* rootfs.c */
int sf_rootfs_prepare_host_skeleton(sf_runtime *rt, sf_error_t *err);
typedef struct {
  const char *lower;   /* read-only lower dir */
  bool host_template;  /* bind host /usr etc. over the skeleton */
  const char *mnt_dir; /* empty host dir used as mount point for the work tmpfs */
  int64_t disk_bytes;
  const char *hostname;
} sf_rootfs_spec;
/* Runs in the sandbox's init before exec: builds and enters the root. */
int sf_rootfs_setup(const sf_rootfs_spec *spec, sf_error_t *err);

/* runtime.c: monitor registration. */
int sf_runtime_watch_add(sf_runtime *rt, sf_sandbox *sb, sf_error_t *err);
void sf_runtime_watch_remove(sf_runtime *rt, const char *id);
/* Hand a seccomp listener fd (ownership taken) to the monitor for sandbox `id`. */
void sf_runtime_watch_add_listener(sf_runtime *rt, const char *id, int fd);

/* Records a forked child sends its parent over a pipe: tag + length + data.
 * sf_child_fail sends an 'E' record with the error and _exits. */
void sf_child_send(int fd, char tag, const void *data, size_t len);
__attribute__((noreturn)) void sf_child_fail(int fd, sf_error_t *err);
/* One record: its tag, 0 on EOF, -1 + err for an 'E' record or a broken pipe. */
int sf_parent_recv(int fd, char *payload, size_t cap, size_t *len, int timeout_ms, sf_error_t *err);
/* How long the supervisor waits for a child's setup step before giving up. */
#define SF_CHILD_TIMEOUT_MS 15000

/* Send / receive one fd over a unix socket (SCM_RIGHTS). */
int sf_send_fd(int sock, int fd);
int sf_recv_fd(int sock, int timeout_ms);

#endif
