/* Seccomp policy: default allow, Docker-profile parity denials (EPERM), and
 * a watch list reported through a SECCOMP_RET_USER_NOTIF listener. */
#include "runtime/seccomp.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <unistd.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

/* Denied with EPERM, or — when a listener is wanted — sent to the supervisor,
 * which answers EPERM and reports a security.violation. */
static const char *const watch_list[] = {"mount",
                                         "umount2",
                                         "pivot_root",
                                         "chroot",
                                         "unshare",
                                         "setns",
                                         "ptrace",
                                         "init_module",
                                         "finit_module",
                                         "delete_module",
                                         "kexec_load",
                                         "kexec_file_load",
                                         "reboot",
                                         "bpf",
                                         "perf_event_open",
                                         "keyctl",
                                         "add_key",
                                         "request_key",
                                         "swapon",
                                         "swapoff",
                                         "open_by_handle_at",
                                         NULL};

/* Always plain EPERM (too noisy, or not worth an event). */
static const char *const deny_list[] = {"umount",
                                        "move_mount",
                                        "open_tree",
                                        "fsopen",
                                        "fsmount",
                                        "fsconfig",
                                        "fspick",
                                        "mount_setattr",
                                        "userfaultfd",
                                        "process_vm_readv",
                                        "process_vm_writev",
                                        "kcmp",
                                        "acct",
                                        "settimeofday",
                                        "clock_settime",
                                        "clock_adjtime",
                                        "adjtimex",
                                        "stime",
                                        "iopl",
                                        "ioperm",
                                        "lookup_dcookie",
                                        "quotactl",
                                        "quotactl_fd",
                                        "nfsservctl",
                                        "vhangup",
                                        "syslog",
                                        "name_to_handle_at",
                                        "create_module",
                                        "get_kernel_syms",
                                        "query_module",
                                        "uselib",
                                        "ustat",
                                        "sysfs",
                                        "_sysctl",
                                        "fanotify_init",
                                        "pidfd_getfd",
                                        "io_uring_setup",
                                        "io_uring_enter",
                                        "io_uring_register",
                                        "lsm_set_self_attr",
                                        NULL};

const char *const *sf_seccomp_watch_list(void)
{
  return watch_list;
}

static int add_rule(scmp_filter_ctx ctx, uint32_t action, const char *name, sf_error_t *err)
{
  int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR)
    return 0; /* not on this architecture */
  int r = seccomp_rule_add(ctx, action, nr, 0);
  if (r < 0 && r != -EEXIST)
    return sf_error_make(err, -r, "seccomp rule for %s: %s", name, strerror(-r));
  return 0;
}

static scmp_filter_ctx build_filter(bool want_listener, sf_error_t *err)
{
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == NULL) {
    sf_error_make(err, ENOMEM, "seccomp_init failed");
    return NULL;
  }
  int r;
  /* Syscalls of a foreign ABI (x32, i386 on x86_64) bypass native rules: kill. */
  seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
  uint32_t watch = want_listener ? SCMP_ACT_NOTIFY : eperm;
  for (size_t i = 0; watch_list[i]; i++)
    if (add_rule(ctx, watch, watch_list[i], err) < 0)
      goto fail;
  for (size_t i = 0; deny_list[i]; i++)
    if (add_rule(ctx, eperm, deny_list[i], err) < 0)
      goto fail;

  /* clone with any namespace flag → EPERM (one rule per flag: libseccomp ORs rules). */
  static const unsigned long ns_flags[] = {CLONE_NEWNS,    CLONE_NEWUTS, CLONE_NEWIPC,
                                           CLONE_NEWUSER,  CLONE_NEWPID, CLONE_NEWNET,
                                           CLONE_NEWCGROUP};
  for (size_t i = 0; i < sizeof(ns_flags) / sizeof(ns_flags[0]); i++) {
    r = seccomp_rule_add(ctx, eperm, SCMP_SYS(clone), 1,
                         SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
    if (r < 0) {
      sf_error_make(err, -r, "seccomp clone rule: %s", strerror(-r));
      goto fail;
    }
  }
  /* clone3 passes flags in memory seccomp cannot inspect: ENOSYS makes libc
   * fall back to clone(2), which the rules above can check (Docker does the same). */
  r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
  if (r < 0 && r != -EEXIST) {
    sf_error_make(err, -r, "seccomp clone3 rule: %s", strerror(-r));
    goto fail;
  }
  /* personality: Docker allows only 0, 0x8, 0x20000, 0x20008 and the query
   * 0xffffffff; libseccomp cannot put several comparisons on one argument,
   * so deny the dangerous flag bits instead (ADDR_NO_RANDOMIZE,
   * MMAP_PAGE_ZERO, READ_IMPLIES_EXEC, ADDR_LIMIT_3GB, SHORT_INODE, WHOLE_SECONDS,
   * STICKY_TIMEOUTS) — which also refuses the query value; glibc never issues it. */
  static const unsigned long bad_bits[] = {0x0040000, 0x0100000, 0x0400000, 0x8000000,
                                           0x1000000, 0x2000000, 0x4000000};
  for (size_t i = 0; i < sizeof(bad_bits) / sizeof(bad_bits[0]); i++) {
    r = seccomp_rule_add(ctx, eperm, SCMP_SYS(personality), 1,
                         SCMP_A0(SCMP_CMP_MASKED_EQ, bad_bits[i], bad_bits[i]));
    if (r < 0) {
      sf_error_make(err, -r, "seccomp personality rule: %s", strerror(-r));
      goto fail;
    }
  }
  /* TIOCSTI would let a sandboxed process type into a shared terminal. */
  r = seccomp_rule_add(ctx, eperm, SCMP_SYS(ioctl), 1,
                       SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffff, TIOCSTI));
  if (r < 0) {
    sf_error_make(err, -r, "seccomp ioctl rule: %s", strerror(-r));
    goto fail;
  }
  return ctx;
fail:
  seccomp_release(ctx);
  return NULL;
}

int sf_seccomp_compile(bool want_listener, sf_seccomp_prog *out, sf_error_t *err)
{
  memset(out, 0, sizeof(*out));
  scmp_filter_ctx ctx = build_filter(want_listener, err);
  if (ctx == NULL)
    return -1;
  /* libseccomp 2.5 exports BPF only to an fd: go through a memfd. */
  int fd = memfd_create("sandforge-seccomp", MFD_CLOEXEC);
  int r = fd < 0 ? -errno : seccomp_export_bpf(ctx, fd);
  seccomp_release(ctx);
  if (r < 0) {
    if (fd >= 0)
      close(fd);
    return sf_error_make(err, -r, "exporting the seccomp filter: %s", strerror(-r));
  }
  off_t size = lseek(fd, 0, SEEK_END);
  if (size <= 0 || size % (off_t)sizeof(struct sock_filter) != 0 ||
      size / (off_t)sizeof(struct sock_filter) > 65535) {
    close(fd);
    return sf_error_make(err, EIO, "unexpected seccomp program size %lld", (long long)size);
  }
  out->insns = malloc((size_t)size);
  if (out->insns == NULL || pread(fd, out->insns, (size_t)size, 0) != size) {
    close(fd);
    sf_seccomp_prog_free(out);
    return sf_error_make(err, EIO, "reading the seccomp program");
  }
  close(fd);
  out->len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
  return 0;
}

void sf_seccomp_prog_free(sf_seccomp_prog *p)
{
  free(p->insns);
  p->insns = NULL;
  p->len = 0;
}

int sf_seccomp_install(const sf_seccomp_prog *p, bool want_listener, int *listener_fd)
{
  struct sock_fprog prog = {.len = p->len, .filter = p->insns};
  long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                   want_listener ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0, &prog);
  if (r < 0)
    return -1;
  if (listener_fd)
    *listener_fd = want_listener ? (int)r : -1;
  return 0;
}

int sf_seccomp_load(bool want_listener, int *listener_fd, sf_error_t *err)
{
  sf_seccomp_prog p;
  if (sf_seccomp_compile(want_listener, &p, err) < 0)
    return -1;
  int r = sf_seccomp_install(&p, want_listener, listener_fd);
  sf_seccomp_prog_free(&p);
  return r < 0 ? sf_error_sys(err, "installing the seccomp filter") : 0;
}

int sf_seccomp_handle_one(int listener_fd, sf_seccomp_notice *notice, sf_error_t *err)
{
  struct pollfd pfd = {.fd = listener_fd, .events = POLLIN};
  int pr = poll(&pfd, 1, 0);
  if (pr < 0)
    return errno == EINTR ? 0 : sf_error_sys(err, "poll seccomp listener");
  if (pr == 0)
    return 0;
  if (!(pfd.revents & POLLIN)) {
    if (pfd.revents & (POLLHUP | POLLERR | POLLNVAL))
      return sf_error_make(err, EPIPE, "seccomp listener closed (no filtered process left)");
    return 0;
  }
  struct seccomp_notif *req = NULL;
  struct seccomp_notif_resp *resp = NULL;
  if (seccomp_notify_alloc(&req, &resp) < 0)
    return sf_error_make(err, ENOMEM, "seccomp_notify_alloc");
  int ret = 0;
  int r = seccomp_notify_receive(listener_fd, req);
  if (r < 0) {
    /* ENOENT: the target was killed between poll and receive. */
    ret = (r == -ENOENT || r == -EINTR)
              ? 0
              : sf_error_make(err, -r, "seccomp_notify_receive: %s", strerror(-r));
    goto out;
  }
  memset(notice, 0, sizeof(*notice));
  notice->pid = (pid_t)req->pid;
  notice->syscall_nr = req->data.nr;
  char *name = seccomp_syscall_resolve_num_arch(req->data.arch, req->data.nr);
  snprintf(notice->syscall_name, sizeof(notice->syscall_name), "%s", name ? name : "unknown");
  free(name);
  /* Read the offender's cmdline while it is still blocked in the syscall,
   * then check the notification is still valid (the pid was not reused). */
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)req->pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = read(fd, notice->command, sizeof(notice->command) - 1);
    close(fd);
    for (ssize_t i = 0; i < n; i++)
      if (notice->command[i] == '\0')
        notice->command[i] = ' ';
    while (n > 0 && notice->command[n - 1] == ' ')
      n--;
    notice->command[n > 0 ? n : 0] = '\0';
  }
  if (seccomp_notify_id_valid(listener_fd, req->id) != 0)
    notice->command[0] = '\0';
  resp->id = req->id;
  resp->val = 0;
  resp->error = -EPERM;
  resp->flags = 0;
  r = seccomp_notify_respond(listener_fd, resp);
  ret = 1; /* reported even if the target died before the answer */
  (void)r;
out:
  seccomp_notify_free(req, resp);
  return ret;
}

bool sf_rate_limiter_allow(sf_rate_limiter *rl, int64_t now_ms)
{
  const double burst = 10.0, per_ms = 1.0 / 1000.0;
  if (rl->last_ms == 0) {
    rl->tokens = burst;
    rl->last_ms = now_ms;
  }
  rl->tokens += (double)(now_ms - rl->last_ms) * per_ms;
  if (rl->tokens > burst)
    rl->tokens = burst;
  rl->last_ms = now_ms;
  if (rl->tokens >= 1.0) {
    rl->tokens -= 1.0;
    return true;
  }
  return false;
}
