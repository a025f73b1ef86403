/* Seccomp policy of every sandboxed process: a Docker-profile-parity deny
 * list (EPERM), with a watch list of those syscalls routed through
 * SECCOMP_RET_USER_NOTIF to a listener in the supervisor, which answers EPERM
 * and reports a security violation. */
#ifndef SF_RUNTIME_SECCOMP_H
#define SF_RUNTIME_SECCOMP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

/* Build and load the filter into the calling thread (call after
 * PR_SET_NO_NEW_PRIVS, right before execve).  When `want_listener` is true
 * the watch list uses USER_NOTIF and the listener fd is returned in
 * *listener_fd (the caller passes it to the supervisor over SCM_RIGHTS);
 * otherwise watched syscalls fail with EPERM directly.
 * Must be async-signal-safe enough to run in a forked child of a threaded
 * process: it allocates (libseccomp) but takes no locks of ours. */
int sf_seccomp_load(bool want_listener, int *listener_fd, sf_error_t *err);

/* A compiled filter.  Compiling allocates (libseccomp), so it happens once in
 * the supervisor; installing is a single raw syscall with no allocation, safe
 * in a child forked from the threaded supervisor (a malloc there can deadlock
 * on a lock another thread held at fork time). */
typedef struct {
  void *insns; /* struct sock_filter[] */
  unsigned short len;
} sf_seccomp_prog;

int sf_seccomp_compile(bool want_listener, sf_seccomp_prog *out, sf_error_t *err);
void sf_seccomp_prog_free(sf_seccomp_prog *p);
/* Install into the calling thread (no_new_privs must be set).  With
 * `want_listener` the notify listener fd is returned in *listener_fd.
 * Returns -1 with errno on failure; does not allocate. */
int sf_seccomp_install(const sf_seccomp_prog *p, bool want_listener, int *listener_fd);

/* Names of the syscalls on the watch list (NULL-terminated), for docs/tests. */
const char *const *sf_seccomp_watch_list(void);

typedef struct {
  pid_t pid;
  int syscall_nr;
  char syscall_name[32];
  char command[256]; /* the offender's cmdline (NULs as spaces), read before it is answered */
} sf_seccomp_notice;

/* Handle one pending notification on `listener_fd`: answer EPERM and fill
 * *notice.  Returns 1 when a notice was handled, 0 when none was pending
 * (or the target died: ENOENT), -1 + err when the fd is broken/closed. */
int sf_seccomp_handle_one(int listener_fd, sf_seccomp_notice *notice, sf_error_t *err);

/* Token bucket so a loop of blocked syscalls cannot flood the event queue:
 * returns true when a report is allowed now (burst 10, then 1 per second per key). */
typedef struct {
  double tokens;
  int64_t last_ms;
} sf_rate_limiter;
bool sf_rate_limiter_allow(sf_rate_limiter *rl, int64_t now_ms);

#endif
