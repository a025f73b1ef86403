/* Cgroup driver: v1 (one hierarchy per controller) and v2 (unified). */
#include "runtime/cgroup.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* v1 hierarchies we use; "cpuacct" may be co-mounted with cpu or separate. */
enum { H_MEMORY, H_CPU, H_CPUACCT, H_PIDS, H_FREEZER, H_COUNT };
static const char *const v1_names[H_COUNT] = {"memory", "cpu", "cpuacct", "pids", "freezer"};

struct sf_cgroup {
  sf_cgroup_mode mode;
  char *path[H_COUNT]; /* v1: per hierarchy (NULL when absent); v2: path[0] only */
  int dirfd;           /* v2 directory fd */
  sf_cgroup_limits limits;
};

static int path_is_dir(const char *p)
{
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int sf_cgroup_detect(const char *root, sf_cgroup_mode *mode, sf_error_t *err)
{
  if (root == NULL)
    root = "/sys/fs/cgroup";
  struct statfs sfs;
  if (statfs(root, &sfs) < 0)
    return sf_error_sys(err, "cgroup root '%s'", root);
  if ((unsigned long)sfs.f_type == CGROUP2_SUPER_MAGIC) {
    *mode = SF_CGROUP_V2;
    return 0;
  }
  /* A fake v2 tree (tests) or a v2 root with controllers. */
  char p[PATH_MAX];
  snprintf(p, sizeof(p), "%s/cgroup.controllers", root);
  cleanup_free char *ctrl = NULL;
  sf_error_t ignored = NULL;
  if (sf_read_file(p, &ctrl, NULL, &ignored) == 0 && strstr(ctrl, "memory") &&
      strstr(ctrl, "pids") && strstr(ctrl, "cpu")) {
    *mode = SF_CGROUP_V2;
    return 0;
  }
  sf_error_release(&ignored);
  static const char *const need[] = {"memory", "cpu", "pids", "freezer"};
  for (size_t i = 0; i < 4; i++) {
    snprintf(p, sizeof(p), "%s/%s", root, need[i]);
    if (!path_is_dir(p))
      return sf_error_make(
          err, ENOTSUP,
          "no usable cgroup hierarchy under '%s': neither cgroup2 with memory/cpu/pids "
          "controllers nor v1 hierarchy '%s'",
          root, need[i]);
  }
  *mode = SF_CGROUP_V1;
  return 0;
}

static int write_at(const char *dir, const char *file, const char *val, sf_error_t *err)
{
  char p[PATH_MAX];
  snprintf(p, sizeof(p), "%s/%s", dir, file);
  return sf_write_file(p, val, err);
}

static int read_at(const char *dir, const char *file, char **out, sf_error_t *err)
{
  char p[PATH_MAX];
  snprintf(p, sizeof(p), "%s/%s", dir, file);
  return sf_read_file(p, out, NULL, err);
}

/* Value of "key N" in a flat-keyed file (memory.events, pids.events, cpu.stat, oom_control). */
static int64_t keyed_value(const char *text, const char *key)
{
  size_t kl = strlen(key);
  for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
    if (strncmp(l, key, kl) == 0 && l[kl] == ' ')
      return strtoll(l + kl + 1, NULL, 10);
  }
  return 0;
}

static int64_t read_int(const char *dir, const char *file)
{
  cleanup_free char *s = NULL;
  sf_error_t e = NULL;
  if (read_at(dir, file, &s, &e) < 0) {
    sf_error_release(&e);
    return 0;
  }
  return strtoll(s, NULL, 10);
}

static int apply_limits_v1(sf_cgroup *cg, sf_error_t *err)
{
  char buf[64];
  const sf_cgroup_limits *l = &cg->limits;
  if (l->memory_bytes > 0) {
    snprintf(buf, sizeof(buf), "%lld", (long long)l->memory_bytes);
    if (write_at(cg->path[H_MEMORY], "memory.limit_in_bytes", buf, err) < 0)
      return -1;
    /* Swap off: memsw only exists with swap accounting; swappiness=0 otherwise. */
    sf_error_t e = NULL;
    if (write_at(cg->path[H_MEMORY], "memory.memsw.limit_in_bytes", buf, &e) < 0) {
      sf_error_release(&e);
      write_at(cg->path[H_MEMORY], "memory.swappiness", "0", &e);
      sf_error_release(&e);
    }
  }
  if (l->cpu_millis > 0) {
    if (write_at(cg->path[H_CPU], "cpu.cfs_period_us", "100000", err) < 0)
      return -1;
    snprintf(buf, sizeof(buf), "%lld", (long long)l->cpu_millis * 100);
    if (write_at(cg->path[H_CPU], "cpu.cfs_quota_us", buf, err) < 0)
      return -1;
  }
  if (l->pids_max > 0) {
    snprintf(buf, sizeof(buf), "%lld", (long long)l->pids_max);
    if (write_at(cg->path[H_PIDS], "pids.max", buf, err) < 0)
      return -1;
  }
  return 0;
}

static int apply_limits_v2(sf_cgroup *cg, sf_error_t *err)
{
  char buf[64];
  const sf_cgroup_limits *l = &cg->limits;
  const char *d = cg->path[0];
  if (l->memory_bytes > 0) {
    snprintf(buf, sizeof(buf), "%lld", (long long)l->memory_bytes);
    if (write_at(d, "memory.max", buf, err) < 0)
      return -1;
    sf_error_t e = NULL; /* memory.swap.max is absent without swap accounting */
    write_at(d, "memory.swap.max", "0", &e);
    sf_error_release(&e);
  }
  if (l->cpu_millis > 0) {
    snprintf(buf, sizeof(buf), "%lld 100000", (long long)l->cpu_millis * 100);
    if (write_at(d, "cpu.max", buf, err) < 0)
      return -1;
  }
  if (l->pids_max > 0) {
    snprintf(buf, sizeof(buf), "%lld", (long long)l->pids_max);
    if (write_at(d, "pids.max", buf, err) < 0)
      return -1;
  }
  return 0;
}

/* v2 needs the controllers enabled in every ancestor's subtree_control. */
static int enable_controllers_v2(const char *dir, sf_error_t *err)
{
  cleanup_free char *have = NULL;
  sf_error_t e = NULL;
  if (read_at(dir, "cgroup.subtree_control", &have, &e) < 0) {
    sf_error_release(&e);
    have = strdup("");
  }
  static const char *const ctrls[] = {"memory", "cpu", "pids"};
  char want[64] = "";
  for (size_t i = 0; i < 3; i++) {
    if (have && strstr(have, ctrls[i]))
      continue;
    strcat(want, want[0] ? " +" : "+");
    strcat(want, ctrls[i]);
  }
  /* One write enables all missing controllers (the kernel takes a list). */
  if (want[0] && write_at(dir, "cgroup.subtree_control", want, err) < 0)
    return sf_error_wrap(err, "enabling controllers '%s' in '%s'", want, dir);
  return 0;
}

void sf_cgroup_free(sf_cgroup *cg)
{
  if (cg == NULL)
    return;
  for (int i = 0; i < H_COUNT; i++)
    free(cg->path[i]);
  if (cg->dirfd >= 0)
    close(cg->dirfd);
  free(cg);
}

int sf_cgroup_create(const char *root, sf_cgroup_mode mode, const char *parent, const char *name,
                     const sf_cgroup_limits *limits, bool adopt, sf_cgroup **out, sf_error_t *err)
{
  if (root == NULL)
    root = "/sys/fs/cgroup";
  if (parent == NULL)
    parent = "sandforge";
  if (name == NULL || *name == '\0' || strchr(name, '/') || strcmp(name, "..") == 0)
    return sf_error_make(err, EINVAL, "invalid cgroup name '%s'", name ? name : "");
  sf_cgroup *cg = calloc(1, sizeof(*cg));
  if (cg == NULL)
    return sf_error_make(err, ENOMEM, "out of memory");
  cg->mode = mode;
  cg->dirfd = -1;
  if (limits)
    cg->limits = *limits;
  char p[PATH_MAX];
  if (mode == SF_CGROUP_V2) {
    snprintf(p, sizeof(p), "%s/%s", root, parent);
    if (!adopt) {
      if (enable_controllers_v2(root, err) < 0 || sf_mkdir_p(p, 0755, err) < 0 ||
          enable_controllers_v2(p, err) < 0)
        goto fail;
    }
    snprintf(p, sizeof(p), "%s/%s/%s", root, parent, name);
    if (!adopt && mkdir(p, 0755) < 0 && errno != EEXIST) {
      sf_error_sys(err, "mkdir '%s'", p);
      goto fail;
    }
    cg->path[0] = strdup(p);
    cg->dirfd = open(p, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (cg->dirfd < 0) {
      sf_error_sys(err, "open cgroup '%s'", p);
      goto fail;
    }
    if (!adopt && apply_limits_v2(cg, err) < 0)
      goto fail_rm;
  } else {
    for (int h = 0; h < H_COUNT; h++) {
      snprintf(p, sizeof(p), "%s/%s", root, v1_names[h]);
      if (!path_is_dir(p)) {
        if (h == H_CPUACCT)
          continue; /* cpuacct missing: usage is read as 0 */
        sf_error_make(err, ENOTSUP, "cgroup v1 hierarchy '%s' missing", p);
        goto fail_rm;
      }
      /* cpu,cpuacct co-mounted: both names point at one directory. */
      snprintf(p, sizeof(p), "%s/%s/%s/%s", root, v1_names[h], parent, name);
      if (!adopt) {
        if (sf_mkdir_p(p, 0755, err) < 0)
          goto fail_rm;
      } else if (!path_is_dir(p)) {
        sf_error_make(err, ENOENT, "cgroup '%s' does not exist", p);
        goto fail;
      }
      cg->path[h] = strdup(p);
    }
    if (!adopt && apply_limits_v1(cg, err) < 0)
      goto fail_rm;
  }
  if (adopt) {
    /* Re-read limits so stats can report them. */
    if (mode == SF_CGROUP_V2) {
      cg->limits.pids_max = read_int(cg->path[0], "pids.max");
      cg->limits.memory_bytes = read_int(cg->path[0], "memory.max");
    } else {
      cg->limits.pids_max = read_int(cg->path[H_PIDS], "pids.max");
      int64_t m = read_int(cg->path[H_MEMORY], "memory.limit_in_bytes");
      cg->limits.memory_bytes = m >= (INT64_MAX / 2) ? 0 : m;
    }
  }
  *out = cg;
  return 0;
fail_rm:
  if (!adopt) {
    sf_error_t e = NULL;
    sf_cgroup_destroy(cg, &e);
    sf_error_release(&e);
    return -1;
  }
fail:
  sf_cgroup_free(cg);
  return -1;
}

int sf_cgroup_enter(sf_cgroup *cg, pid_t pid, sf_error_t *err)
{
  char buf[32];
  snprintf(buf, sizeof(buf), "%d", (int)pid);
  for (int h = 0; h < H_COUNT; h++) {
    if (cg->path[h] == NULL)
      continue;
    if (h == H_CPUACCT && cg->path[H_CPU] && strcmp(cg->path[H_CPU], cg->path[H_CPUACCT]) == 0)
      continue;
    if (write_at(cg->path[h], "cgroup.procs", buf, err) < 0)
      return sf_error_wrap(err, "moving pid %d into cgroup", (int)pid);
  }
  return 0;
}

int sf_cgroup_dirfd(sf_cgroup *cg)
{
  return cg->mode == SF_CGROUP_V2 ? cg->dirfd : -1;
}

static void sleep_us(long us)
{
  struct timespec ts = {0, us * 1000};
  nanosleep(&ts, NULL);
}

/* Wait until `pred` holds, polling with growing sleeps (10 µs → 1 ms) so a
 * freeze that completes in ~100 µs is seen at once, for at most timeout_ms. */
static int wait_state(sf_cgroup *cg, bool want_frozen, int64_t timeout_ms, sf_error_t *err)
{
  int64_t deadline = sf_mono_us() + timeout_ms * 1000;
  long delay = 10;
  for (;;) {
    cleanup_free char *s = NULL;
    bool frozen;
    if (cg->mode == SF_CGROUP_V2) {
      if (read_at(cg->path[0], "cgroup.events", &s, err) < 0)
        return -1;
      frozen = keyed_value(s, "frozen") == 1;
    } else {
      if (read_at(cg->path[H_FREEZER], "freezer.state", &s, err) < 0)
        return -1;
      frozen = strncmp(s, "FROZEN", 6) == 0;
      if (!want_frozen)
        frozen = strncmp(s, "THAWED", 6) != 0;
    }
    if (frozen == want_frozen)
      return 0;
    if (sf_mono_us() > deadline)
      return sf_error_make(err, ETIMEDOUT, "cgroup did not %s within %lld ms",
                           want_frozen ? "freeze" : "thaw", (long long)timeout_ms);
    sleep_us(delay);
    if (delay < 1000)
      delay *= 2;
  }
}

int sf_cgroup_freeze(sf_cgroup *cg, sf_error_t *err)
{
  if (cg->mode == SF_CGROUP_V2) {
    if (write_at(cg->path[0], "cgroup.freeze", "1", err) < 0)
      return -1;
  } else if (write_at(cg->path[H_FREEZER], "freezer.state", "FROZEN", err) < 0) {
    return -1;
  }
  return wait_state(cg, true, 5000, err);
}

int sf_cgroup_thaw(sf_cgroup *cg, sf_error_t *err)
{
  if (cg->mode == SF_CGROUP_V2) {
    if (write_at(cg->path[0], "cgroup.freeze", "0", err) < 0)
      return -1;
  } else if (write_at(cg->path[H_FREEZER], "freezer.state", "THAWED", err) < 0) {
    return -1;
  }
  return wait_state(cg, false, 5000, err);
}

static const char *procs_dir(sf_cgroup *cg)
{
  return cg->mode == SF_CGROUP_V2 ? cg->path[0] : cg->path[H_PIDS];
}

int sf_cgroup_count_procs(sf_cgroup *cg, sf_error_t *err)
{
  cleanup_free char *s = NULL;
  if (read_at(procs_dir(cg), "cgroup.procs", &s, err) < 0)
    return -1;
  int n = 0;
  for (char *p = s; *p; p++)
    if (*p == '\n')
      n++;
  return n;
}

static int kill_listed(const char *dir)
{
  cleanup_free char *s = NULL;
  sf_error_t e = NULL;
  if (read_at(dir, "cgroup.procs", &s, &e) < 0) {
    sf_error_release(&e);
    return 0;
  }
  int n = 0;
  for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
    pid_t pid = (pid_t)atoi(line);
    if (pid > 0 && kill(pid, SIGKILL) == 0)
      n++;
  }
  return n;
}

int sf_cgroup_kill_all(sf_cgroup *cg, sf_error_t *err)
{
  if (cg->mode == SF_CGROUP_V2) {
    sf_error_t e = NULL;
    if (write_at(cg->path[0], "cgroup.kill", "1", &e) < 0)
      sf_error_release(&e);
  }
  /* Freeze so nothing can fork between reading cgroup.procs and the kill,
   * SIGKILL everyone, thaw so the kills are delivered; repeat until empty. */
  int64_t deadline = sf_mono_ms() + 10000;
  for (int round = 0;; round++) {
    int n = sf_cgroup_count_procs(cg, err);
    if (n < 0)
      return -1;
    if (n == 0)
      return 0;
    if (sf_mono_ms() > deadline)
      return sf_error_make(err, EBUSY, "%d processes survived kill-all for 10 s", n);
    sf_error_t e = NULL;
    bool frozen = sf_cgroup_freeze(cg, &e) == 0;
    sf_error_release(&e);
    kill_listed(procs_dir(cg));
    if (frozen || round > 0) {
      sf_cgroup_thaw(cg, &e);
      sf_error_release(&e);
    }
    sleep_us(round < 10 ? 200 : 5000);
  }
}

int sf_cgroup_stats_read(sf_cgroup *cg, sf_cgroup_stats *out, sf_error_t *err)
{
  memset(out, 0, sizeof(*out));
  cleanup_free char *s = NULL;
  sf_error_t e = NULL;
  if (cg->mode == SF_CGROUP_V2) {
    const char *d = cg->path[0];
    if (read_at(d, "cpu.stat", &s, &e) == 0)
      out->cpu_usec = keyed_value(s, "usage_usec");
    sf_error_release(&e);
    free(s);
    s = NULL;
    out->memory_bytes = read_int(d, "memory.current");
    out->pids_current = read_int(d, "pids.current");
    if (read_at(d, "memory.events", &s, &e) == 0)
      out->oom_kills = keyed_value(s, "oom_kill");
    sf_error_release(&e);
    free(s);
    s = NULL;
    if (read_at(d, "pids.events", &s, &e) == 0)
      out->pids_max_hits = keyed_value(s, "max");
    sf_error_release(&e);
    free(s);
    s = NULL;
    if (read_at(d, "cgroup.events", &s, &e) == 0)
      out->frozen = keyed_value(s, "frozen") == 1;
    sf_error_release(&e);
    return 0;
  }
  if (cg->path[H_CPUACCT])
    out->cpu_usec = read_int(cg->path[H_CPUACCT], "cpuacct.usage") / 1000;
  out->memory_bytes = read_int(cg->path[H_MEMORY], "memory.usage_in_bytes");
  out->pids_current = read_int(cg->path[H_PIDS], "pids.current");
  if (read_at(cg->path[H_MEMORY], "memory.oom_control", &s, &e) == 0)
    out->oom_kills = keyed_value(s, "oom_kill");
  sf_error_release(&e);
  free(s);
  s = NULL;
  if (read_at(cg->path[H_PIDS], "pids.events", &s, &e) == 0)
    out->pids_max_hits = keyed_value(s, "max");
  sf_error_release(&e);
  free(s);
  s = NULL;
  if (read_at(cg->path[H_FREEZER], "freezer.state", &s, err) < 0)
    return -1;
  out->frozen = strncmp(s, "FROZEN", 6) == 0;
  return 0;
}

const sf_cgroup_limits *sf_cgroup_get_limits(const sf_cgroup *cg)
{
  return &cg->limits;
}

int sf_cgroup_destroy(sf_cgroup *cg, sf_error_t *err)
{
  int ret = 0;
  for (int h = 0; h < H_COUNT; h++) {
    if (cg->path[h] == NULL)
      continue;
    /* EBUSY right after the last process exits: the kernel releases the
     * css asynchronously, so retry for a short while. */
    for (int tries = 0;; tries++) {
      if (rmdir(cg->path[h]) == 0 || errno == ENOENT)
        break;
      if (errno != EBUSY || tries > 2000) {
        if (ret == 0)
          ret = sf_error_sys(err, "rmdir '%s'", cg->path[h]);
        break;
      }
      sleep_us(tries < 100 ? 50 : 1000);
    }
  }
  sf_cgroup_free(cg);
  return ret;
}

void sf_cgroup_remove_parent(const char *root, sf_cgroup_mode mode, const char *parent)
{
  char p[PATH_MAX];
  if (root == NULL)
    root = "/sys/fs/cgroup";
  if (mode == SF_CGROUP_V2) {
    snprintf(p, sizeof(p), "%s/%s", root, parent);
    rmdir(p);
    return;
  }
  for (int h = 0; h < H_COUNT; h++) {
    snprintf(p, sizeof(p), "%s/%s/%s", root, v1_names[h], parent);
    rmdir(p);
  }
}
