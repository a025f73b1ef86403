/* Runtime benchmarks (figures, not assertions):
 *   1. spawn /bin/true: `sandforge run` vs `bwrap` with an equivalent mount
 *      set, alternating, plus create+exec+destroy through the library API
 *      (what the supervisor pays per sandbox);
 *   2. freeze and thaw of a running sandbox;
 *   3. host memory per idle sandbox with N idle sandboxes. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/runtime.h"

static int cmp_i64(const void *a, const void *b)
{
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static int64_t pct(int64_t *v, int n, double p)
{
  qsort(v, (size_t)n, sizeof(*v), cmp_i64);
  int i = (int)(p * (n - 1) + 0.5);
  return v[i];
}

static int64_t run_cmd_us(char *const argv[])
{
  int64_t t0 = sf_mono_us();
  pid_t pid = fork();
  if (pid == 0) {
    execvp(argv[0], argv);
    _exit(127);
  }
  int st;
  waitpid(pid, &st, 0);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    fprintf(stderr, "command %s failed\n", argv[0]);
    exit(1);
  }
  return sf_mono_us() - t0;
}

static void die(const char *what, sf_error_t *err)
{
  fprintf(stderr, "%s: %s\n", what, sf_error_msg(err));
  exit(1);
}

static int64_t meminfo_kb(const char *key)
{
  FILE *f = fopen("/proc/meminfo", "r");
  char line[256];
  int64_t v = -1;
  while (f && fgets(line, sizeof(line), f))
    if (strncmp(line, key, strlen(key)) == 0)
      v = strtoll(line + strlen(key) + 1, NULL, 10);
  if (f)
    fclose(f);
  return v;
}

static int64_t rss_kb(pid_t pid)
{
  char p[64], line[256];
  snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
  FILE *f = fopen(p, "r");
  int64_t v = 0;
  while (f && fgets(line, sizeof(line), f))
    if (strncmp(line, "VmRSS:", 6) == 0)
      v = strtoll(line + 6, NULL, 10);
  if (f)
    fclose(f);
  return v;
}

int main(int argc, char **argv)
{
  const char *sandforge = argc > 1 ? argv[1] : "build/bin/sandforge";
  int n = argc > 2 ? atoi(argv[2]) : 100;
  int idle = argc > 3 ? atoi(argv[3]) : 200;
  char init[PATH_MAX];
  snprintf(init, sizeof(init), "%s-init", sandforge);

  /* 1a. whole-command spawn, alternating so drift hits both equally */
  char *const ours[] = {(char *)sandforge, "run", "--", "/bin/true", NULL};
  char *const bwrap[] = {"bwrap",
                         "--unshare-all",
                         "--die-with-parent",
                         "--ro-bind",
                         "/usr",
                         "/usr",
                         "--symlink",
                         "usr/bin",
                         "/bin",
                         "--symlink",
                         "usr/lib",
                         "/lib",
                         "--symlink",
                         "usr/lib64",
                         "/lib64",
                         "--symlink",
                         "usr/sbin",
                         "/sbin",
                         "--ro-bind",
                         "/etc/ld.so.cache",
                         "/etc/ld.so.cache",
                         "--proc",
                         "/proc",
                         "--dev",
                         "/dev",
                         "--tmpfs",
                         "/tmp",
                         "--tmpfs",
                         "/home",
                         "/bin/true",
                         NULL};
  int64_t *a = calloc((size_t)n, sizeof(int64_t)), *b = calloc((size_t)n, sizeof(int64_t));
  for (int i = 0; i < n; i++) {
    a[i] = run_cmd_us(ours);
    b[i] = run_cmd_us(bwrap);
  }
  int64_t a50 = pct(a, n, .5), a99 = pct(a, n, .99), b50 = pct(b, n, .5), b99 = pct(b, n, .99);
  printf("spawn /bin/true, whole command (n=%d each, alternating)\n", n);
  printf("  sandforge run : p50 %7.2f ms  p99 %7.2f ms\n", a50 / 1e3, a99 / 1e3);
  printf("  bwrap         : p50 %7.2f ms  p99 %7.2f ms\n", b50 / 1e3, b99 / 1e3);
  printf("  ratio sandforge/bwrap: p50 %.2f  p99 %.2f  (goal <= 0.70)\n", (double)a50 / b50,
         (double)a99 / b99);

  /* 1b. library: create + exec /bin/true + destroy with a warm runtime */
  sf_runtime *rt = NULL;
  sf_error_t err = NULL;
  sf_runtime_config cfg = {
      .state_dir = "/run/sandforge/bench", .init_path = init, .cgroup_parent = "sandforge-bench"};
  if (sf_runtime_new(&rt, &cfg, &err) < 0)
    die("runtime", &err);
  int64_t *c = calloc((size_t)n, sizeof(int64_t)), *cc = calloc((size_t)n, sizeof(int64_t));
  int64_t *ce = calloc((size_t)n, sizeof(int64_t));
  for (int i = 0; i < n; i++) {
    char id[32];
    snprintf(id, sizeof(id), "bench-%d", i);
    sf_sandbox_spec spec = {.id = id, .memory_bytes = 256 << 20, .pids_max = 256};
    int64_t t0 = sf_mono_us();
    sf_sandbox *sb;
    if (sf_sandbox_create(rt, &spec, &sb, &err) < 0)
      die("create", &err);
    int64_t t1 = sf_mono_us();
    char *const targv[] = {"/bin/true", NULL};
    sf_exec_spec xs = {
        .argv = targv, .uid = -1, .gid = -1, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1};
    sf_exec *ex;
    sf_exec_result res;
    if (sf_exec_start(sb, &xs, &ex, &err) < 0 || sf_exec_wait(ex, &res, &err) < 0)
      die("exec", &err);
    sf_exec_free(ex);
    int64_t t2 = sf_mono_us();
    if (sf_sandbox_destroy(sb, &err) < 0)
      die("destroy", &err);
    c[i] = sf_mono_us() - t0;
    cc[i] = t1 - t0;
    ce[i] = t2 - t1;
  }
  printf("library: create + exec /bin/true + destroy (warm runtime, n=%d)\n", n);
  printf("  total  : p50 %7.2f ms  p99 %7.2f ms\n", pct(c, n, .5) / 1e3, pct(c, n, .99) / 1e3);
  printf("  create : p50 %7.2f ms  p99 %7.2f ms\n", pct(cc, n, .5) / 1e3, pct(cc, n, .99) / 1e3);
  printf("  exec   : p50 %7.2f ms  p99 %7.2f ms\n", pct(ce, n, .5) / 1e3, pct(ce, n, .99) / 1e3);

  /* 2. freeze / thaw of a sandbox running a busy process */
  sf_sandbox_spec spec = {.id = "bench-freeze"};
  sf_sandbox *sb;
  if (sf_sandbox_create(rt, &spec, &sb, &err) < 0)
    die("create", &err);
  sf_exec_spec busy = {.shell_cmd = "while :; do :; done & sleep 1000",
                       .uid = -1,
                       .gid = -1,
                       .stdin_fd = -1,
                       .stdout_fd = -1,
                       .stderr_fd = -1};
  sf_exec *bex;
  if (sf_exec_start(sb, &busy, &bex, &err) < 0)
    die("exec", &err);
  usleep(100000);
  int m = 200;
  int64_t *fz = calloc((size_t)m, sizeof(int64_t)), *th = calloc((size_t)m, sizeof(int64_t));
  for (int i = 0; i < m; i++) {
    int64_t t0 = sf_mono_us();
    if (sf_sandbox_freeze(sb, &err) < 0)
      die("freeze", &err);
    int64_t t1 = sf_mono_us();
    if (sf_sandbox_thaw(sb, &err) < 0)
      die("thaw", &err);
    fz[i] = t1 - t0;
    th[i] = sf_mono_us() - t1;
  }
  printf("freeze/thaw of a sandbox with a busy loop (n=%d, cgroup %s)\n", m,
         sf_runtime_cgroup_mode(rt));
  printf("  freeze : p50 %7.3f ms  p99 %7.3f ms  (goal <= 2 ms)\n", pct(fz, m, .5) / 1e3,
         pct(fz, m, .99) / 1e3);
  printf("  thaw   : p50 %7.3f ms  p99 %7.3f ms  (goal <= 2 ms)\n", pct(th, m, .5) / 1e3,
         pct(th, m, .99) / 1e3);
  sf_exec_free(bex);
  sf_sandbox_destroy(sb, &err);

  /* 3. memory per idle sandbox */
  int64_t avail0 = meminfo_kb("MemAvailable:");
  sf_sandbox **sbs = calloc((size_t)idle, sizeof(*sbs));
  int64_t t0 = sf_mono_us();
  for (int i = 0; i < idle; i++) {
    char id[32];
    snprintf(id, sizeof(id), "bench-idle-%d", i);
    sf_sandbox_spec s = {.id = id};
    if (sf_sandbox_create(rt, &s, &sbs[i], &err) < 0)
      die("create idle", &err);
  }
  int64_t t_create = sf_mono_us() - t0;
  usleep(500000);
  int64_t rss = 0, cg = 0;
  for (int i = 0; i < idle; i++) {
    sf_usage u;
    rss += rss_kb(sf_sandbox_init_pid(sbs[i]));
    if (sf_sandbox_usage(sbs[i], &u, &err) == 0)
      cg += u.memory_bytes / 1024;
    sf_error_release(&err);
  }
  int64_t avail1 = meminfo_kb("MemAvailable:");
  printf("%d idle sandboxes (created in %.2f s)\n", idle, t_create / 1e6);
  printf("  init RSS per sandbox          : %6.1f KiB\n", (double)rss / idle);
  printf("  memory cgroup usage / sandbox : %6.1f KiB (page cache of the writable layer, kernel "
         "objects)\n",
         (double)cg / idle);
  printf("  host MemAvailable drop / sbx  : %6.1f KiB (all kernel accounting: namespaces, mounts, "
         "tmpfs)\n",
         (double)(avail0 - avail1) / idle);
  for (int i = 0; i < idle; i++)
    if (sf_sandbox_destroy(sbs[i], &err) < 0)
      die("destroy idle", &err);
  if (sf_runtime_remove_state_if_empty(rt, &err) < 0)
    die("cleanup", &err);
  sf_runtime_free(rt);
  return 0;
}
