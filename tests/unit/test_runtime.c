/* The runtime API against real sandboxes: exec with pipes and timeouts,
 * freeze/thaw, adopt after release, incidents from the monitor thread
 * (blocked syscall, OOM kill, init exit), destroy leaving nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/util.h"
#include "runtime/runtime.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int seen[8];
static char last_syscall[32], last_command[256];

static void on_incident(const sf_incident *inc, void *ud)
{
  pthread_mutex_lock(&mu);
  seen[inc->kind]++;
  if (inc->kind == SF_INCIDENT_BLOCKED_SYSCALL) {
    snprintf(last_syscall, sizeof(last_syscall), "%s", inc->syscall_name);
    snprintf(last_command, sizeof(last_command), "%s", inc->command);
  }
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

static bool wait_seen(sf_incident_kind k, int n, int ms)
{
  int64_t deadline = sf_mono_ms() + ms;
  pthread_mutex_lock(&mu);
  while (seen[k] < n && sf_mono_ms() < deadline) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 50 * 1000000;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&cv, &mu, &ts);
  }
  bool ok = seen[k] >= n;
  pthread_mutex_unlock(&mu);
  return ok;
}

static sf_runtime *rt;
static char state_dir[64];

static int setup(void **state)
{
  char self[PATH_MAX], init[PATH_MAX + 32];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  self[n > 0 ? n : 0] = '\0';
  *strrchr(self, '/') = '\0';
  snprintf(init, sizeof(init), "%s/../bin/sandforge-init", self);
  snprintf(state_dir, sizeof(state_dir), "/run/sandforge/unit-%d", (int)getpid());
  sf_runtime_config cfg = {.state_dir = state_dir,
                           .init_path = init,
                           .cgroup_parent = "sandforge-unit",
                           .on_incident = on_incident};
  sf_error_t err = NULL;
  if (sf_runtime_new(&rt, &cfg, &err) < 0) {
    fprintf(stderr, "runtime: %s\n", sf_error_msg(&err));
    return -1;
  }
  return 0;
}

static int teardown(void **state)
{
  sf_error_t err = NULL;
  assert_int_equal(sf_runtime_remove_state_if_empty(rt, &err), 1); /* every sandbox was destroyed */
  assert_int_equal(access("/sys/fs/cgroup/pids/sandforge-unit", F_OK), -1);
  sf_runtime_free(rt);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", state_dir);
  return system(cmd);
}

/* Run a shell command, collect stdout. */
static sf_exec_result run_sh(sf_sandbox *sb, const char *cmd, int64_t uid, int64_t timeout_ms,
                             char *out, size_t cap)
{
  sf_exec_spec xs = {.shell_cmd = cmd,
                     .uid = uid,
                     .gid = uid,
                     .stdin_fd = -1,
                     .stdout_fd = -1,
                     .stderr_fd = 2,
                     .timeout_ms = timeout_ms};
  sf_exec *ex = NULL;
  sf_error_t err = NULL;
  if (sf_exec_start(sb, &xs, &ex, &err) < 0)
    fail_msg("exec: %s", sf_error_msg(&err));
  size_t len = 0;
  sf_exec_result res;
  for (;;) {
    struct pollfd p[2] = {{sf_exec_stdout_fd(ex), POLLIN, 0}, {sf_exec_wait_fd(ex), POLLIN, 0}};
    poll(p, 2, 50);
    ssize_t r;
    while (len + 1 < cap && (r = read(sf_exec_stdout_fd(ex), out + len, cap - len - 1)) > 0)
      len += (size_t)r;
    int done = sf_exec_poll(ex, &res, &err);
    assert_true(done >= 0);
    if (done == 1)
      break;
  }
  ssize_t r;
  while (len + 1 < cap && (r = read(sf_exec_stdout_fd(ex), out + len, cap - len - 1)) > 0)
    len += (size_t)r;
  out[len] = '\0';
  sf_exec_free(ex);
  return res;
}

static void test_lifecycle_exec_freeze_adopt(void **state)
{
  char id[32], out[4096];
  snprintf(id, sizeof(id), "ut-%d", (int)getpid());
  sf_sandbox_spec spec = {.id = id, .memory_bytes = 128 << 20, .pids_max = 64};
  char *env[] = {"GREETING=hi", NULL};
  spec.env = env;
  sf_sandbox *sb = NULL;
  sf_error_t err = NULL;
  assert_int_equal(sf_sandbox_create(rt, &spec, &sb, &err), 0);

  sf_exec_result res = run_sh(sb, "echo $GREETING from $(id -u)", -1, 0, out, sizeof(out));
  assert_true(res.exited);
  assert_int_equal(res.exit_code, 0);
  assert_string_equal(out, "hi from 1000\n");

  res = run_sh(sb, "exit 3", -1, 0, out, sizeof(out));
  assert_int_equal(res.exit_code, 3);

  res = run_sh(sb, "sleep 10", -1, 300, out, sizeof(out));
  assert_true(res.timed_out);
  assert_false(res.exited);
  assert_int_equal(res.signal, SIGKILL);
  assert_true(res.wall_ms < 3000);

  /* Busy loop so cpu time is measurable. */
  res = run_sh(sb, "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done", -1, 0, out, sizeof(out));
  assert_true(res.cpu_usec > 10000);

  /* freeze / thaw */
  assert_int_equal(sf_sandbox_freeze(sb, &err), 0);
  sf_usage u;
  assert_int_equal(sf_sandbox_usage(sb, &u, &err), 0);
  assert_true(u.frozen);
  assert_int_equal(u.pids_max, 64);
  assert_int_equal(sf_sandbox_thaw(sb, &err), 0);
  assert_int_equal(sf_sandbox_usage(sb, &u, &err), 0);
  assert_false(u.frozen);
  assert_true(u.memory_bytes > 0);

  /* files written by a command are visible through the root fd */
  res = run_sh(sb, "echo data > /home/user/f.txt", -1, 0, out, sizeof(out));
  int rootfd = sf_sandbox_open_root(sb, &err);
  assert_true(rootfd >= 0);
  char *content = NULL;
  assert_int_equal(sf_read_file_at(rootfd, "home/user/f.txt", &content, NULL, &err), 0);
  assert_string_equal(content, "data\n");
  free(content);
  close(rootfd);

  /* release + adopt (what a supervisor restart does) */
  sf_sandbox_release(sb);
  char **ids = NULL;
  assert_int_equal(sf_runtime_list_ids(rt, &ids, &err), 0);
  assert_non_null(ids[0]);
  assert_string_equal(ids[0], id);
  assert_null(ids[1]);
  for (char **p = ids; *p; p++)
    free(*p);
  free(ids);
  assert_int_equal(sf_sandbox_adopt(rt, id, &sb, &err), 0);
  res = run_sh(sb, "cat /home/user/f.txt", -1, 0, out, sizeof(out));
  assert_string_equal(out, "data\n");

  /* a blocked syscall is reported by the monitor, and still denied */
  res = run_sh(sb, "mount -t tmpfs none /mnt 2>/dev/null; echo rc=$?", 0, 0, out, sizeof(out));
  assert_string_not_equal(out, "rc=0\n");
  assert_true(wait_seen(SF_INCIDENT_BLOCKED_SYSCALL, 1, 3000));
  assert_string_equal(last_syscall, "mount");
  assert_non_null(strstr(last_command, "mount"));

  /* OOM kill inside the memory limit is reported */
  res = run_sh(sb, "python3 -c 'x = bytearray(400 << 20)'", -1, 0, out, sizeof(out));
  assert_int_equal(res.signal, SIGKILL);
  assert_true(wait_seen(SF_INCIDENT_OOM_KILL, 1, 3000));

  assert_int_equal(sf_sandbox_destroy(sb, &err), 0);
  char p[128];
  snprintf(p, sizeof(p), "/sys/fs/cgroup/pids/sandforge-unit/%s", id);
  assert_int_equal(access(p, F_OK), -1);
  assert_int_equal(sf_sandbox_adopt(rt, id, &sb, &err), -1);
  sf_error_release(&err);
}

static void test_init_death_is_reported(void **state)
{
  char id[32];
  snprintf(id, sizeof(id), "ut2-%d", (int)getpid());
  sf_sandbox_spec spec = {.id = id};
  sf_sandbox *sb = NULL;
  sf_error_t err = NULL;
  assert_int_equal(sf_sandbox_create(rt, &spec, &sb, &err), 0);
  int before = seen[SF_INCIDENT_INIT_EXITED];
  kill(sf_sandbox_init_pid(sb), SIGKILL);
  assert_true(wait_seen(SF_INCIDENT_INIT_EXITED, before + 1, 3000));
  sf_sandbox_release(sb);
  assert_int_equal(sf_sandbox_adopt(rt, id, &sb, &err), -1);
  assert_int_equal(sf_error_code(&err), ESRCH);
  sf_error_release(&err);
  assert_int_equal(sf_sandbox_cleanup_id(rt, id, &err), 0);
}

static void test_bad_specs(void **state)
{
  sf_sandbox *sb = NULL;
  sf_error_t err = NULL;
  sf_sandbox_spec bad_id = {.id = "../x"};
  assert_int_equal(sf_sandbox_create(rt, &bad_id, &sb, &err), -1);
  assert_int_equal(sf_error_code(&err), EINVAL);
  sf_error_release(&err);
  sf_sandbox_spec bad_tpl = {.id = "ok", .template_name = "nope"};
  assert_int_equal(sf_sandbox_create(rt, &bad_tpl, &sb, &err), -1);
  assert_int_equal(sf_error_code(&err), ENOENT);
  assert_non_null(strstr(sf_error_msg(&err), "unknown template 'nope'"));
  sf_error_release(&err);
}

int main(void)
{
  if (geteuid() != 0) {
    fprintf(stderr, "test_runtime needs root\n");
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lifecycle_exec_freeze_adopt),
      cmocka_unit_test(test_init_death_is_reported),
      cmocka_unit_test(test_bad_specs),
  };
  return cmocka_run_group_tests_name("runtime", tests, setup, teardown);
}
