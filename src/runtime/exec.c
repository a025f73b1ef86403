/* Running a command inside a sandbox, from the supervisor side.
 *
 * The supervisor forks a shim; the shim joins the sandbox's cgroups and
 * setns()es into all of its namespaces through the init's pidfd (a forked
 * child is single-threaded, which entering a user namespace requires), then
 * forks the command — the first process that is really inside the pid
 * namespace.  The command sets up its session, ids, capabilities, rlimits and
 * seccomp filter (handing the notify listener to the supervisor) and execs.
 * The shim waits for it and reports the wait status and CPU time on a pipe,
 * which is also what the supervisor polls for completion. */
#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/runtime_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct sf_exec {
  pid_t shim_pid;
  pid_t cmd_pid;
  int result_fd;
  int out_fd, err_fd;
  int64_t started_ms, timeout_ms;
  bool done, timed_out;
  sf_exec_result res;
};

typedef struct {
  int32_t status;
  int64_t cpu_usec;
} shim_result;

static const char *const default_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/home/user",
    "USER=user",
    "LANG=C.UTF-8",
    "TERM=xterm",
    NULL};

/* default env, then the sandbox's, then the command's; later keys win. */
static char **build_env(char *const *sandbox_env, char *const *cmd_env, int64_t uid)
{
  size_t n =
      sf_strv_len((char *const *)default_env) + sf_strv_len(sandbox_env) + sf_strv_len(cmd_env);
  char **out = calloc(n + 1, sizeof(char *));
  if (out == NULL)
    return NULL;
  size_t k = 0;
  char *const *lists[] = {(char *const *)default_env, sandbox_env, cmd_env};
  for (int l = 0; l < 3; l++) {
    for (char *const *e = lists[l]; e && *e; e++) {
      const char *eq = strchr(*e, '=');
      if (eq == NULL)
        continue;
      size_t kl = (size_t)(eq - *e) + 1;
      size_t i;
      for (i = 0; i < k; i++)
        if (strncmp(out[i], *e, kl) == 0)
          break;
      char *v = *e;
      if (uid == 0 && l == 0 && strncmp(v, "HOME=", 5) == 0)
        v = "HOME=/root";
      if (uid == 0 && l == 0 && strncmp(v, "USER=", 5) == 0)
        v = "USER=root";
      if (i == k)
        out[k++] = v;
      else
        out[i] = v;
    }
  }
  return out; /* strings borrowed: only used in the child */
}

static __attribute__((noreturn)) void command_child(sf_sandbox *sb, const sf_exec_spec *spec,
                                                    char **envp, int in_fd, int out_fd, int err_fd,
                                                    int sock)
{
  setsid();
  if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
    _exit(126);
  sf_error_t err = NULL;
  int64_t uid = spec->uid >= 0 ? spec->uid : SF_WORKLOAD_UID;
  int64_t gid = spec->gid >= 0 ? spec->gid : (spec->uid >= 0 ? spec->uid : SF_WORKLOAD_UID);
  sf_harden_opts ho = {
      .nofile = sb->nofile, .nproc = 0, .fsize = sb->fsize_bytes, .uid = uid, .gid = gid};
  const char *cwd = spec->cwd ? spec->cwd : (uid == 0 ? "/root" : "/home/user");
  if (sf_harden_process(&ho, &err) < 0)
    goto fail;
  if (chdir(cwd) < 0) {
    if (spec->cwd != NULL) {
      sf_error_sys(&err, "cwd '%s'", cwd);
      goto fail;
    }
    if (chdir("/") < 0)
      _exit(126);
  }
  int listener = -1;
  if (sf_seccomp_install(&sb->rt->prog_notify, true, &listener) < 0) {
    sf_error_sys(&err, "installing the seccomp filter");
    goto fail;
  }
  if (sf_send_fd(sock, listener) < 0)
    _exit(126);
  close(listener);
  close(sock);
  syscall(SYS_close_range, 3, ~0U, 0);
  environ = envp; /* execvp searches the PATH of `environ` */
  if (spec->shell_cmd != NULL) {
    char *const bash[] = {"bash", "-c", (char *)spec->shell_cmd, NULL};
    execvp("bash", bash);
    char *const sh[] = {"sh", "-c", (char *)spec->shell_cmd, NULL};
    execvp("sh", sh);
    sf_error_sys(&err, "exec shell");
  } else {
    execvp(spec->argv[0], spec->argv);
    sf_error_sys(&err, "exec '%s'", spec->argv[0]);
  }
  dprintf(2, "sandforge: %s\n", sf_error_msg(&err));
  _exit(errno == ENOENT ? 127 : 126);
fail:
  dprintf(2, "sandforge: %s\n", sf_error_msg(&err));
  _exit(126);
}

static int cmp_int(const void *a, const void *b)
{
  return *(const int *)a - *(const int *)b;
}

/* A forked copy of the supervisor holds every fd it had (listening socket,
 * store, other sandboxes' pipes); the shim never execs, so CLOEXEC does not
 * help: close everything but `keep`. */
static void close_all_except(int *keep, int n)
{
  qsort(keep, (size_t)n, sizeof(int), cmp_int);
  unsigned int from = 3;
  for (int i = 0; i < n; i++) {
    if (keep[i] < (int)from)
      continue;
    if ((unsigned)keep[i] > from)
      syscall(SYS_close_range, from, (unsigned)keep[i] - 1, 0);
    from = (unsigned)keep[i] + 1;
  }
  syscall(SYS_close_range, from, ~0U, 0);
}

static __attribute__((noreturn)) void shim(sf_sandbox *sb, const sf_exec_spec *spec, char **envp,
                                           int res_fd, int in_fd, int out_fd, int err_fd, int sock)
{
  sf_error_t err = NULL;
  int keep[] = {res_fd, in_fd, out_fd, err_fd, sock, sb->pidfd};
  close_all_except(keep, 6);
  if (sf_cgroup_enter(sb->cg, getpid(), &err) < 0)
    sf_child_fail(res_fd, &err);
  if (setns(sb->pidfd, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS |
                           CLONE_NEWIPC | CLONE_NEWCGROUP) < 0) {
    sf_error_sys(&err, "entering the sandbox's namespaces");
    sf_child_fail(res_fd, &err);
  }
  pid_t pid = fork();
  if (pid < 0) {
    sf_error_sys(&err, "fork command");
    sf_child_fail(res_fd, &err);
  }
  if (pid == 0) {
    close(res_fd);
    command_child(sb, spec, envp, in_fd, out_fd, err_fd, sock);
  }
  close(sock);
  close(in_fd);
  close(out_fd);
  close(err_fd);
  int32_t p = pid;
  sf_child_send(res_fd, 'P', &p, sizeof(p));
  int status = 0;
  struct rusage ru;
  memset(&ru, 0, sizeof(ru));
  while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
    ;
  shim_result r = {.status = status,
                   .cpu_usec = (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec +
                               (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec};
  sf_child_send(res_fd, 'R', &r, sizeof(r));
  _exit(0);
}

void sf_exec_free(sf_exec *ex)
{
  if (ex == NULL)
    return;
  if (!ex->done && ex->cmd_pid > 0)
    kill(-ex->cmd_pid, SIGKILL);
  if (ex->shim_pid > 0) {
    if (!ex->done)
      kill(ex->shim_pid, SIGKILL);
    waitpid(ex->shim_pid, NULL, 0);
  }
  if (ex->result_fd >= 0)
    close(ex->result_fd);
  if (ex->out_fd >= 0)
    close(ex->out_fd);
  if (ex->err_fd >= 0)
    close(ex->err_fd);
  free(ex);
}

int sf_exec_start(sf_sandbox *sb, const sf_exec_spec *spec, sf_exec **out, sf_error_t *err)
{
  if ((spec->argv == NULL || spec->argv[0] == NULL) && spec->shell_cmd == NULL)
    return sf_error_make(err, EINVAL, "no command given");
  sf_exec *ex = calloc(1, sizeof(*ex));
  if (ex == NULL)
    return sf_error_make(err, ENOMEM, "out of memory");
  ex->result_fd = ex->out_fd = ex->err_fd = -1;
  ex->timeout_ms = spec->timeout_ms;
  cleanup_close int in_fd = -1, out_w = -1, err_w = -1, res_w = -1, sock_parent = -1,
                    sock_child = -1;
  char **envp = NULL;
  int p[2], sv[2];
  if (spec->stdin_fd >= 0)
    in_fd = fcntl(spec->stdin_fd, F_DUPFD_CLOEXEC, 3);
  else
    in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (in_fd < 0)
    goto sys_fail;
  if (spec->stdout_fd >= 0) {
    out_w = fcntl(spec->stdout_fd, F_DUPFD_CLOEXEC, 3);
  } else if (pipe2(p, O_CLOEXEC) == 0) {
    ex->out_fd = p[0];
    out_w = p[1];
    fcntl(ex->out_fd, F_SETFL, O_NONBLOCK);
  }
  if (spec->stderr_fd >= 0) {
    err_w = fcntl(spec->stderr_fd, F_DUPFD_CLOEXEC, 3);
  } else if (pipe2(p, O_CLOEXEC) == 0) {
    ex->err_fd = p[0];
    err_w = p[1];
    fcntl(ex->err_fd, F_SETFL, O_NONBLOCK);
  }
  if (out_w < 0 || err_w < 0 || pipe2(p, O_CLOEXEC) < 0)
    goto sys_fail;
  ex->result_fd = p[0];
  res_w = p[1];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    goto sys_fail;
  sock_parent = sv[0];
  sock_child = sv[1];
  /* Everything the children need is prepared here: after fork they must not allocate. */
  int64_t uid = spec->uid >= 0 ? spec->uid : SF_WORKLOAD_UID;
  envp = build_env(sb->env, spec->env, uid);
  if (envp == NULL)
    goto sys_fail;
  ex->started_ms = sf_mono_ms();
  ex->shim_pid = fork();
  if (ex->shim_pid < 0)
    goto sys_fail;
  if (ex->shim_pid == 0) {
    close(ex->result_fd);
    close(sock_parent);
    if (ex->out_fd >= 0)
      close(ex->out_fd);
    if (ex->err_fd >= 0)
      close(ex->err_fd);
    shim(sb, spec, envp, res_w, in_fd, out_w, err_w, sock_child);
  }
  close(sf_steal_fd(&res_w));
  close(sf_steal_fd(&sock_child));
  close(sf_steal_fd(&out_w));
  close(sf_steal_fd(&err_w));
  free(envp);
  envp = NULL;
  char payload[600];
  int tag = sf_parent_recv(ex->result_fd, payload, sizeof(payload), NULL, SF_CHILD_TIMEOUT_MS, err);
  if (tag != 'P') {
    if (tag >= 0)
      sf_error_make(err, EPROTO, "exec shim exited early");
    goto fail;
  }
  int32_t cmd_pid;
  memcpy(&cmd_pid, payload, sizeof(cmd_pid));
  ex->cmd_pid = cmd_pid;
  /* The command sends its seccomp listener just before execve; 0 bytes means
   * it failed before (its error is on its stderr and in its exit status). */
  int listener = sf_recv_fd(sock_parent, SF_CHILD_TIMEOUT_MS);
  if (listener >= 0)
    sf_runtime_watch_add_listener(sb->rt, sb->id, listener);
  *out = ex;
  return 0;
sys_fail:
  sf_error_sys(err, "preparing exec");
fail:
  free(envp);
  sf_error_wrap(err, "exec in sandbox %s", sb->id);
  sf_exec_free(ex);
  return -1;
}

int sf_exec_stdout_fd(sf_exec *ex)
{
  return ex->out_fd;
}

int sf_exec_stderr_fd(sf_exec *ex)
{
  return ex->err_fd;
}

pid_t sf_exec_pid(sf_exec *ex)
{
  return ex->cmd_pid;
}

int sf_exec_wait_fd(sf_exec *ex)
{
  return ex->result_fd;
}

int sf_exec_kill(sf_exec *ex, sf_error_t *err)
{
  if (ex->done)
    return 0;
  /* The command leads its own session and process group. */
  if (kill(-ex->cmd_pid, SIGKILL) < 0 && errno != ESRCH)
    return sf_error_sys(err, "kill command %d", (int)ex->cmd_pid);
  return 0;
}

static int collect(sf_exec *ex, sf_exec_result *res, sf_error_t *err)
{
  char payload[600];
  size_t len = 0;
  int tag = sf_parent_recv(ex->result_fd, payload, sizeof(payload), &len, -1, err);
  if (tag != 'R' || len != sizeof(shim_result)) {
    if (tag >= 0)
      sf_error_make(err, EPROTO, "exec shim died without a result");
    return -1;
  }
  shim_result r;
  memcpy(&r, payload, sizeof(r));
  waitpid(ex->shim_pid, NULL, 0);
  ex->shim_pid = -1;
  ex->done = true;
  memset(&ex->res, 0, sizeof(ex->res));
  ex->res.exited = WIFEXITED(r.status);
  ex->res.exit_code = WIFEXITED(r.status) ? WEXITSTATUS(r.status) : 0;
  ex->res.signal = WIFSIGNALED(r.status) ? WTERMSIG(r.status) : 0;
  ex->res.timed_out = ex->timed_out;
  ex->res.cpu_usec = r.cpu_usec;
  ex->res.wall_ms = sf_mono_ms() - ex->started_ms;
  *res = ex->res;
  return 1;
}

int sf_exec_poll(sf_exec *ex, sf_exec_result *res, sf_error_t *err)
{
  if (ex->done) {
    *res = ex->res;
    return 1;
  }
  struct pollfd pfd = {.fd = ex->result_fd, .events = POLLIN};
  if (poll(&pfd, 1, 0) > 0)
    return collect(ex, res, err);
  if (ex->timeout_ms > 0 && !ex->timed_out && sf_mono_ms() - ex->started_ms >= ex->timeout_ms) {
    ex->timed_out = true;
    kill(-ex->cmd_pid, SIGKILL);
    return collect(ex, res, err); /* the shim reports right after the kill */
  }
  return 0;
}

int sf_exec_wait(sf_exec *ex, sf_exec_result *res, sf_error_t *err)
{
  for (;;) {
    int r = sf_exec_poll(ex, res, err);
    if (r != 0)
      return r < 0 ? -1 : 0;
    int wait_ms = -1;
    if (ex->timeout_ms > 0) {
      int64_t left = ex->timeout_ms - (sf_mono_ms() - ex->started_ms);
      wait_ms = left < 0 ? 0 : (int)left;
    }
    struct pollfd pfd = {.fd = ex->result_fd, .events = POLLIN};
    poll(&pfd, 1, wait_ms);
  }
}
