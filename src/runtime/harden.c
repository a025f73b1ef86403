/* Hardening applied to every process we start inside a sandbox. */
#include "runtime/runtime_internal.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <grp.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static int set_rlimit(int res, int64_t v, const char *name, sf_error_t *err)
{
  struct rlimit rl = {(rlim_t)v, (rlim_t)v};
  if (setrlimit(res, &rl) < 0)
    return sf_error_sys(err, "setrlimit %s=%lld", name, (long long)v);
  return 0;
}

int sf_harden_process(const sf_harden_opts *o, sf_error_t *err)
{
  /* The supervisor blocks/ignores signals for its own threads; a workload
   * must start with a clean mask and default dispositions. */
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  /* Handlers are reset by execve anyway; only ignored signals survive it.
   * SIGPIPE is the one sandforge ignores; main() already reset any ignore
   * inherited from our own parent (a library embedding the runtime must do
   * the same). */
  signal(SIGPIPE, SIG_DFL);
  if (set_rlimit(RLIMIT_CORE, 0, "CORE", err) < 0)
    return -1;
  if (o->nofile > 0 && set_rlimit(RLIMIT_NOFILE, o->nofile, "NOFILE", err) < 0)
    return -1;
  /* RLIMIT_NPROC counts per (host) uid across sandboxes sharing the range, so
   * the pids cgroup is the real limit; keep NPROC as a generous backstop. */
  if (o->nproc > 0 && set_rlimit(RLIMIT_NPROC, o->nproc, "NPROC", err) < 0)
    return -1;
  if (o->fsize > 0 && set_rlimit(RLIMIT_FSIZE, o->fsize, "FSIZE", err) < 0)
    return -1;

  const uint64_t keep =
      (1ULL << CAP_AUDIT_WRITE) | (1ULL << CAP_KILL) | (1ULL << CAP_NET_BIND_SERVICE);
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    return sf_error_sys(err, "clear ambient capabilities");
  for (int cap = 0; cap <= 63; cap++) {
    if (keep & (1ULL << cap))
      continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
      return sf_error_sys(err, "drop capability %d from the bounding set", cap);
  }
  /* Switching to a non-zero uid clears the permitted set by itself; the
   * bounding set was reduced first because that needs CAP_SETPCAP. */
  if (o->gid >= 0 &&
      (setgroups(0, NULL) < 0 || setresgid((gid_t)o->gid, (gid_t)o->gid, (gid_t)o->gid) < 0))
    return sf_error_sys(err, "setgid %lld", (long long)o->gid);
  if (o->uid >= 0 && setresuid((uid_t)o->uid, (uid_t)o->uid, (uid_t)o->uid) < 0)
    return sf_error_sys(err, "setuid %lld", (long long)o->uid);
  bool root = getuid() == 0;
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof(data));
  if (root) {
    data[0].effective = data[0].permitted = (uint32_t)keep;
    data[1].effective = data[1].permitted = (uint32_t)(keep >> 32);
  }
  if (syscall(SYS_capset, &hdr, data) < 0)
    return sf_error_sys(err, "capset");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return sf_error_sys(err, "PR_SET_NO_NEW_PRIVS");
  return 0;
}

int sf_send_fd(int sock, int fd)
{
  char dummy = 'F';
  struct iovec iov = {&dummy, 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof(u));
  struct msghdr msg = {
      .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  return sendmsg(sock, &msg, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

int sf_recv_fd(int sock, int timeout_ms)
{
  struct pollfd pfd = {.fd = sock, .events = POLLIN};
  if (poll(&pfd, 1, timeout_ms) <= 0)
    return -1;
  char dummy;
  struct iovec iov = {&dummy, 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {
      .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n <= 0)
    return -1;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (c == NULL || c->cmsg_type != SCM_RIGHTS)
    return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return fd;
}
