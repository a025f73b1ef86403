/* Runtime object and its monitor thread, which turns kernel signals into
 * incidents: init exits (pidfd), blocked syscalls (seccomp listeners) and
 * OOM kills / pids-limit hits (cgroup counters, polled every 200 ms). */
#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "runtime/runtime_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

/* epoll data: the low 2 bits tag the kind; the rest is a watch pointer
 * (TAG_PIDFD) or a listener fd shifted left by 2 (TAG_LISTENER). */
enum { TAG_LISTENER = 0, TAG_WAKE = 1, TAG_TIMER = 2, TAG_PIDFD = 3 };

static char *default_init_path(void)
{
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0)
    return NULL;
  self[n] = '\0';
  char *slash = strrchr(self, '/');
  if (slash == NULL)
    return NULL;
  *slash = '\0';
  char *out = NULL;
  if (asprintf(&out, "%s/sandforge-init", self) < 0)
    return NULL;
  return out;
}

const char *sf_runtime_cgroup_mode(const sf_runtime *rt)
{
  return rt->cg_mode == SF_CGROUP_V2 ? "v2" : "v1";
}

static void report(sf_runtime *rt, sf_incident *inc)
{
  inc->timestamp_ms = sf_now_ms();
  if (rt->on_incident)
    rt->on_incident(inc, rt->incident_userdata);
}

static struct sf_watch *find_watch(sf_runtime *rt, const char *id)
{
  for (struct sf_watch *w = rt->watches; w; w = w->next)
    if (strcmp(w->id, id) == 0)
      return w;
  return NULL;
}

static void watch_free(sf_runtime *rt, struct sf_watch *w)
{
  if (w->pidfd >= 0) {
    epoll_ctl(rt->epoll_fd, EPOLL_CTL_DEL, w->pidfd, NULL);
    close(w->pidfd);
  }
  for (size_t i = 0; i < w->n_listeners; i++) {
    epoll_ctl(rt->epoll_fd, EPOLL_CTL_DEL, w->listeners[i], NULL);
    close(w->listeners[i]);
  }
  free(w->listeners);
  sf_cgroup_free(w->cg);
  free(w);
}

int sf_runtime_watch_add(sf_runtime *rt, sf_sandbox *sb, sf_error_t *err)
{
  struct sf_watch *w = calloc(1, sizeof(*w));
  if (w == NULL)
    return sf_error_make(err, ENOMEM, "out of memory");
  snprintf(w->id, sizeof(w->id), "%s", sb->id);
  w->pidfd = fcntl(sb->pidfd, F_DUPFD_CLOEXEC, 3);
  if (w->pidfd < 0 || sf_cgroup_create(rt->cgroup_root, rt->cg_mode, rt->cgroup_parent, sb->id,
                                       NULL, true, &w->cg, err) < 0) {
    if (w->pidfd < 0)
      sf_error_sys(err, "dup pidfd");
    if (w->pidfd >= 0)
      close(w->pidfd);
    free(w);
    return -1;
  }
  sf_cgroup_stats st;
  sf_error_t e = NULL;
  if (sf_cgroup_stats_read(w->cg, &st, &e) == 0) {
    w->last_oom = st.oom_kills;
    w->last_pids_hits = st.pids_max_hits;
  }
  sf_error_release(&e);
  pthread_mutex_lock(&rt->lock);
  struct sf_watch *old = find_watch(rt, sb->id);
  if (old != NULL) { /* re-adopted: keep one watch */
    struct sf_watch **pp = &rt->watches;
    while (*pp != old)
      pp = &(*pp)->next;
    *pp = old->next;
    watch_free(rt, old);
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = ((uint64_t)(uintptr_t)w) | TAG_PIDFD};
  epoll_ctl(rt->epoll_fd, EPOLL_CTL_ADD, w->pidfd, &ev);
  w->next = rt->watches;
  rt->watches = w;
  pthread_mutex_unlock(&rt->lock);
  return 0;
}

void sf_runtime_watch_remove(sf_runtime *rt, const char *id)
{
  pthread_mutex_lock(&rt->lock);
  for (struct sf_watch **pp = &rt->watches; *pp; pp = &(*pp)->next) {
    if (strcmp((*pp)->id, id) == 0) {
      struct sf_watch *w = *pp;
      *pp = w->next;
      watch_free(rt, w);
      break;
    }
  }
  pthread_mutex_unlock(&rt->lock);
}

void sf_runtime_watch_add_listener(sf_runtime *rt, const char *id, int fd)
{
  pthread_mutex_lock(&rt->lock);
  struct sf_watch *w = find_watch(rt, id);
  int *nl = w ? realloc(w->listeners, (w->n_listeners + 1) * sizeof(int)) : NULL;
  if (nl == NULL) {
    pthread_mutex_unlock(&rt->lock);
    close(fd); /* filtered processes then get ENOSYS for watched syscalls: still denied */
    return;
  }
  w->listeners = nl;
  w->listeners[w->n_listeners++] = fd;
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = ((uint64_t)fd << 2) | TAG_LISTENER};
  epoll_ctl(rt->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
  pthread_mutex_unlock(&rt->lock);
}

/* Called with rt->lock held. */
static void handle_listener(sf_runtime *rt, int fd, uint32_t events)
{
  struct sf_watch *w = NULL;
  size_t idx = 0;
  for (struct sf_watch *x = rt->watches; x && !w; x = x->next)
    for (size_t i = 0; i < x->n_listeners; i++)
      if (x->listeners[i] == fd) {
        w = x;
        idx = i;
        break;
      }
  if (w == NULL)
    return;
  for (int round = 0; round < 64; round++) {
    sf_seccomp_notice n;
    sf_error_t e = NULL;
    int r = sf_seccomp_handle_one(fd, &n, &e);
    if (r < 0 || (r == 0 && (events & (EPOLLHUP | EPOLLERR)))) {
      /* Every filtered process is gone: drop the listener. */
      sf_error_release(&e);
      epoll_ctl(rt->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
      close(fd);
      w->listeners[idx] = w->listeners[--w->n_listeners];
      return;
    }
    if (r == 0)
      return;
    if (!sf_rate_limiter_allow(&w->violations, sf_mono_ms()))
      continue;
    sf_incident inc = {.kind = SF_INCIDENT_BLOCKED_SYSCALL,
                       .sandbox_id = w->id,
                       .syscall_nr = n.syscall_nr,
                       .syscall_name = n.syscall_name,
                       .pid = n.pid,
                       .command = n.command};
    report(rt, &inc);
  }
}

static void poll_counters(sf_runtime *rt)
{
  for (struct sf_watch *w = rt->watches; w; w = w->next) {
    sf_cgroup_stats st;
    sf_error_t e = NULL;
    if (sf_cgroup_stats_read(w->cg, &st, &e) < 0) {
      sf_error_release(&e);
      continue;
    }
    const sf_cgroup_limits *lim = sf_cgroup_get_limits(w->cg);
    if (st.oom_kills > w->last_oom) {
      sf_incident inc = {.kind = SF_INCIDENT_OOM_KILL,
                         .sandbox_id = w->id,
                         .count = st.oom_kills - w->last_oom,
                         .limit = lim->memory_bytes};
      w->last_oom = st.oom_kills;
      report(rt, &inc);
    }
    if (st.pids_max_hits > w->last_pids_hits) {
      sf_incident inc = {.kind = SF_INCIDENT_PIDS_LIMIT,
                         .sandbox_id = w->id,
                         .count = st.pids_max_hits - w->last_pids_hits,
                         .limit = lim->pids_max};
      w->last_pids_hits = st.pids_max_hits;
      report(rt, &inc);
    }
  }
}

static void *monitor_main(void *arg)
{
  sf_runtime *rt = arg;
  cleanup_close int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  struct itimerspec its = {{0, 200000000}, {0, 200000000}};
  timerfd_settime(tfd, 0, &its, NULL);
  struct epoll_event tev = {.events = EPOLLIN, .data.u64 = TAG_TIMER};
  epoll_ctl(rt->epoll_fd, EPOLL_CTL_ADD, tfd, &tev);
  for (;;) {
    struct epoll_event evs[32];
    int n = epoll_wait(rt->epoll_fd, evs, 32, -1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      break;
    pthread_mutex_lock(&rt->lock);
    bool stop = false;
    for (int i = 0; i < n; i++) {
      uint64_t d = evs[i].data.u64;
      if (d == TAG_WAKE) {
        stop = true;
      } else if (d == TAG_TIMER) {
        uint64_t ticks;
        if (read(tfd, &ticks, sizeof(ticks)) > 0)
          poll_counters(rt);
      } else if ((d & 3) == TAG_LISTENER) {
        handle_listener(rt, (int)(d >> 2), evs[i].events);
      } else if ((d & 3) == TAG_PIDFD) {
        struct sf_watch *w = (struct sf_watch *)(uintptr_t)(d & ~3ULL);
        bool live = false;
        for (struct sf_watch *x = rt->watches; x; x = x->next)
          live |= (x == w);
        if (!live || w->init_exit_reported)
          continue;
        w->init_exit_reported = true;
        epoll_ctl(rt->epoll_fd, EPOLL_CTL_DEL, w->pidfd, NULL);
        siginfo_t si = {0};
        int status = 0;
        if (waitid(P_PIDFD, (id_t)w->pidfd, &si, WEXITED | WNOHANG) == 0 && si.si_pid != 0)
          status = si.si_code == CLD_EXITED ? W_EXITCODE(si.si_status, 0) : si.si_status;
        sf_incident inc = {
            .kind = SF_INCIDENT_INIT_EXITED, .sandbox_id = w->id, .exit_status = status};
        report(rt, &inc);
      }
    }
    pthread_mutex_unlock(&rt->lock);
    if (stop)
      break;
  }
  return NULL;
}

int sf_runtime_new(sf_runtime **out, const sf_runtime_config *cfg, sf_error_t *err)
{
  sf_runtime *rt = calloc(1, sizeof(*rt));
  if (rt == NULL)
    return sf_error_make(err, ENOMEM, "out of memory");
  rt->epoll_fd = rt->wake_fd = -1;
  pthread_mutex_init(&rt->lock, NULL);
  rt->state_dir = strdup(cfg->state_dir ? cfg->state_dir : "/run/sandforge");
  rt->templates_dir = cfg->templates_dir ? strdup(cfg->templates_dir) : NULL;
  rt->init_path = cfg->init_path ? strdup(cfg->init_path) : default_init_path();
  rt->cgroup_root = strdup(cfg->cgroup_root ? cfg->cgroup_root : "/sys/fs/cgroup");
  rt->cgroup_parent = strdup(cfg->cgroup_parent ? cfg->cgroup_parent : "sandforge");
  rt->uid_base = cfg->host_uid_base ? cfg->host_uid_base : 100000;
  rt->uid_range = cfg->uid_range ? cfg->uid_range : 65536;
  rt->on_incident = cfg->on_incident;
  rt->incident_userdata = cfg->incident_userdata;
  if (asprintf(&rt->host_skeleton, "%s/host-template", rt->state_dir) < 0)
    rt->host_skeleton = NULL;
  if (!rt->state_dir || !rt->init_path || !rt->cgroup_root || !rt->host_skeleton) {
    sf_error_make(err, ENOMEM, "out of memory");
    goto fail;
  }
  if (geteuid() != 0) {
    sf_error_make(err, EPERM, "the runtime needs root (namespaces, cgroups, uid maps)");
    goto fail;
  }
  if (access(rt->init_path, X_OK) < 0) {
    sf_error_sys(err, "sandbox init '%s' is not executable", rt->init_path);
    goto fail;
  }
  if (sf_seccomp_compile(false, &rt->prog_plain, err) < 0 ||
      sf_seccomp_compile(true, &rt->prog_notify, err) < 0 ||
      sf_cgroup_detect(rt->cgroup_root, &rt->cg_mode, err) < 0 ||
      sf_mkdir_p(rt->state_dir, 0711, err) < 0 || sf_rootfs_prepare_host_skeleton(rt, err) < 0)
    goto fail;
  /* Orphaned sandbox inits (their creator stage exits) reparent to us, so we
   * can reap them and read their exit status. */
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  rt->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  rt->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (rt->epoll_fd < 0 || rt->wake_fd < 0) {
    sf_error_sys(err, "epoll/eventfd");
    goto fail;
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_WAKE};
  epoll_ctl(rt->epoll_fd, EPOLL_CTL_ADD, rt->wake_fd, &ev);
  if (pthread_create(&rt->monitor, NULL, monitor_main, rt) != 0) {
    sf_error_make(err, EAGAIN, "cannot start the runtime monitor thread");
    goto fail;
  }
  rt->monitor_running = true;
  *out = rt;
  return 0;
fail:
  sf_error_wrap(err, "starting the sandbox runtime");
  sf_runtime_free(rt);
  return -1;
}

void sf_runtime_free(sf_runtime *rt)
{
  if (rt == NULL)
    return;
  if (rt->monitor_running) {
    uint64_t one = 1;
    if (write(rt->wake_fd, &one, sizeof(one)) < 0)
      sf_log_warn("runtime: cannot wake monitor: %s", strerror(errno));
    pthread_join(rt->monitor, NULL);
  }
  while (rt->watches) {
    struct sf_watch *w = rt->watches;
    rt->watches = w->next;
    watch_free(rt, w);
  }
  if (rt->epoll_fd >= 0)
    close(rt->epoll_fd);
  if (rt->wake_fd >= 0)
    close(rt->wake_fd);
  pthread_mutex_destroy(&rt->lock);
  sf_seccomp_prog_free(&rt->prog_plain);
  sf_seccomp_prog_free(&rt->prog_notify);
  free(rt->state_dir);
  free(rt->templates_dir);
  free(rt->init_path);
  free(rt->cgroup_root);
  free(rt->cgroup_parent);
  free(rt->host_skeleton);
  free(rt);
}
