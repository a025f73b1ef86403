/* Sandbox creation, adoption after a restart, freeze/thaw/kill/destroy.
 *
 * Creation is a two-stage fork: stage 1 unshares the user, mount, net, uts,
 * ipc and pid namespaces (fork() first: unshare(CLONE_NEWUSER) needs a
 * single-threaded caller and the supervisor has threads), waits for the
 * supervisor to write its uid/gid maps and move it into the cgroups, then
 * unshares the cgroup namespace (so its root is the sandbox's own cgroup) and
 * forks stage 2, PID 1 of the new pid namespace.  Stage 2 builds the root
 * filesystem, hardens itself and execs sandforge-init.  Errors travel back
 * over a CLOEXEC pipe; EOF without an error record means init is running. */
#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "runtime/runtime_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/close_range.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_PIDS 1024
#define DEFAULT_DISK (1LL << 30)
#define DEFAULT_NOFILE 1024

static bool valid_id(const char *id)
{
  size_t n = id ? strlen(id) : 0;
  if (n == 0 || n > SF_ID_MAX)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)id[i]) && id[i] != '-' && id[i] != '_')
      return false;
  return true;
}

/* ---- child → parent records on the info pipe ---------------------------- */

void sf_child_send(int fd, char tag, const void *data, size_t len)
{
  char buf[1 + 4 + 512];
  uint32_t l = (uint32_t)(len > 512 ? 512 : len);
  buf[0] = tag;
  memcpy(buf + 1, &l, 4);
  memcpy(buf + 5, data, l);
  if (sf_write_all(fd, buf, 5 + l) < 0)
    _exit(126);
}

__attribute__((noreturn)) void sf_child_fail(int fd, sf_error_t *err)
{
  char msg[512];
  int code = sf_error_code(err);
  snprintf(msg, sizeof(msg), "%d:%s", code, sf_error_msg(err));
  sf_child_send(fd, 'E', msg, strlen(msg));
  _exit(1);
}

static int read_full(int fd, void *buf, size_t len)
{
  char *p = buf;
  while (len > 0) {
    ssize_t r = read(fd, p, len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return -1;
    p += r;
    len -= (size_t)r;
  }
  return 0;
}

/* Read one record; returns the tag, 0 on EOF, or -1 with *err on an error
 * record / broken pipe. */
int sf_parent_recv(int fd, char *payload, size_t cap, size_t *len, int timeout_ms, sf_error_t *err)
{
  char hdr[5];
  ssize_t r;
  if (timeout_ms >= 0) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int pr;
    do {
      pr = poll(&pfd, 1, timeout_ms);
    } while (pr < 0 && errno == EINTR);
    if (pr == 0)
      return sf_error_make(err, ETIMEDOUT, "sandbox setup step did not answer within %d ms",
                           timeout_ms);
  }
  do {
    r = read(fd, hdr, 1);
  } while (r < 0 && errno == EINTR);
  if (r == 0)
    return 0;
  if (r < 0)
    return sf_error_sys(err, "reading from sandbox child");
  uint32_t l;
  if (read_full(fd, &l, 4) < 0 || l >= cap || read_full(fd, payload, l) < 0)
    return sf_error_make(err, EPROTO, "sandbox child closed its pipe mid-record");
  payload[l] = '\0';
  if (len)
    *len = l;
  if (hdr[0] == 'E') {
    char *colon = strchr(payload, ':');
    int code = atoi(payload);
    return sf_error_make(err, code ? code : EIO, "%s", colon ? colon + 1 : payload);
  }
  return hdr[0];
}

/* ---- stage 2: PID 1 of the sandbox ------------------------------------- */

typedef struct {
  sf_rootfs_spec rootfs;
  int info_fd;
  int init_fd;
  int64_t nofile, pids;
  const sf_seccomp_prog *seccomp;
} child_args;

static __attribute__((noreturn)) void stage2(const child_args *a)
{
  sf_error_t err = NULL;
  setsid();
  if (sf_rootfs_setup(&a->rootfs, &err) < 0)
    sf_child_fail(a->info_fd, &err);
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) {
    sf_error_sys(&err, "open /dev/null inside the sandbox");
    sf_child_fail(a->info_fd, &err);
  }
  dup2(devnull, 0);
  dup2(devnull, 1);
  dup2(devnull, 2);
  sf_harden_opts ho = {.nofile = a->nofile, .nproc = 0, .fsize = 0, .uid = -1, .gid = -1};
  if (sf_harden_process(&ho, &err) < 0)
    sf_child_fail(a->info_fd, &err);
  if (sf_seccomp_install(a->seccomp, false, NULL) < 0) {
    sf_error_sys(&err, "installing the seccomp filter");
    sf_child_fail(a->info_fd, &err);
  }
  /* Nothing of the supervisor's (listening socket, store) may reach init:
   * everything is close-on-exec from here (init_fd too: execveat still works). */
  syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
  char *const argv[] = {"sandforge-init", NULL};
  char *const envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
  syscall(SYS_execveat, a->init_fd, "", argv, envp, AT_EMPTY_PATH);
  sf_error_sys(&err, "exec sandforge-init");
  sf_child_fail(a->info_fd, &err);
}

/* ---- stage 1: namespace creator ----------------------------------------- */

static __attribute__((noreturn)) void stage1(const child_args *a, int sync_fd)
{
  sf_error_t err = NULL;
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC |
              CLONE_NEWPID) < 0) {
    sf_error_sys(&err, "unshare namespaces");
    sf_child_fail(a->info_fd, &err);
  }
  sf_child_send(a->info_fd, 'U', "", 0);
  char b;
  if (read_full(sync_fd, &b, 1) < 0)
    _exit(1); /* parent gave up */
  /* Our kuid (host root) is not mapped; become the namespace's root. */
  if (setresgid(0, 0, 0) < 0 || setgroups(0, NULL) < 0 || setresuid(0, 0, 0) < 0) {
    sf_error_sys(&err, "becoming root of the user namespace");
    sf_child_fail(a->info_fd, &err);
  }
  if (unshare(CLONE_NEWCGROUP) < 0) {
    sf_error_sys(&err, "unshare cgroup namespace");
    sf_child_fail(a->info_fd, &err);
  }
  pid_t pid = fork();
  if (pid < 0) {
    sf_error_sys(&err, "fork init");
    sf_child_fail(a->info_fd, &err);
  }
  if (pid == 0)
    stage2(a);
  int32_t p = pid;
  sf_child_send(a->info_fd, 'P', &p, sizeof(p));
  _exit(0);
}

/* ---- state file ------------------------------------------------------- */

static int64_t proc_start_time(pid_t pid)
{
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  cleanup_free char *s = NULL;
  sf_error_t e = NULL;
  if (sf_read_file(path, &s, NULL, &e) < 0) {
    sf_error_release(&e);
    return -1;
  }
  char *p = strrchr(s, ')');
  if (p == NULL)
    return -1;
  /* A zombie init (reparented to a host init that does not reap) is dead. */
  if (p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
    return -1;
  /* fields after ')' start at field 3 (state); flags is field 9, starttime 22.
   * An init with PF_EXITING is dying (waiting for its namespace to empty). */
  int field = 2;
  char *save = NULL;
  for (char *tok = strtok_r(p + 1, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
    ++field;
    if (field == 9 && (strtoull(tok, NULL, 10) & 0x4 /* PF_EXITING */))
      return -1;
    if (field == 22)
      return strtoll(tok, NULL, 10);
  }
  return -1;
}

static void state_path(sf_runtime *rt, const char *id, const char *leaf, char *out, size_t len)
{
  snprintf(out, len, "%s/%s%s%s", rt->state_dir, id, leaf ? "/" : "", leaf ? leaf : "");
}

static int state_save(sf_sandbox *sb, sf_error_t *err)
{
  char path[PATH_MAX], tmp[PATH_MAX];
  state_path(sb->rt, sb->id, "state.json", path, sizeof(path));
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  json_t *env = json_array();
  for (char **e = sb->env; e && *e; e++)
    json_array_append_new(env, json_string(*e));
  json_t *j =
      json_pack("{s:s,s:i,s:I,s:I,s:I,s:I,s:I,s:o}", "id", sb->id, "init_pid", (int)sb->init_pid,
                "init_start", (json_int_t)proc_start_time(sb->init_pid), "memory_bytes",
                (json_int_t)sb->memory_bytes, "pids_max", (json_int_t)sb->pids_max, "nofile",
                (json_int_t)sb->nofile, "fsize_bytes", (json_int_t)sb->fsize_bytes, "env", env);
  int r = json_dump_file(j, tmp, JSON_COMPACT);
  json_decref(j);
  if (r < 0 || rename(tmp, path) < 0)
    return sf_error_sys(err, "writing sandbox state '%s'", path);
  return 0;
}

static void remove_state(sf_runtime *rt, const char *id)
{
  char p[PATH_MAX];
  state_path(rt, id, "state.json", p, sizeof(p));
  unlink(p);
  state_path(rt, id, "state.json.tmp", p, sizeof(p));
  unlink(p);
  state_path(rt, id, "mnt", p, sizeof(p));
  rmdir(p);
  state_path(rt, id, NULL, p, sizeof(p));
  rmdir(p);
}

static sf_sandbox *sandbox_alloc(sf_runtime *rt, const char *id)
{
  sf_sandbox *sb = calloc(1, sizeof(*sb));
  if (sb == NULL)
    return NULL;
  sb->rt = rt;
  snprintf(sb->id, sizeof(sb->id), "%s", id);
  sb->pidfd = -1;
  return sb;
}

void sf_sandbox_release(sf_sandbox *sb)
{
  if (sb == NULL)
    return;
  sf_runtime_watch_remove(sb->rt, sb->id);
  if (sb->pidfd >= 0)
    close(sb->pidfd);
  sf_cgroup_free(sb->cg);
  sf_strv_free(sb->env);
  free(sb);
}

static int resolve_lower(sf_runtime *rt, const sf_sandbox_spec *spec, char **lower, bool *host,
                         sf_error_t *err)
{
  *host = false;
  if (spec->rootfs_dir != NULL) {
    struct stat st;
    if (stat(spec->rootfs_dir, &st) < 0 || !S_ISDIR(st.st_mode))
      return sf_error_make(err, ENOENT, "rootfs '%s' is not a directory", spec->rootfs_dir);
    *lower = realpath(spec->rootfs_dir, NULL);
    return *lower ? 0 : sf_error_sys(err, "realpath '%s'", spec->rootfs_dir);
  }
  const char *name = spec->template_name ? spec->template_name : "host";
  if (strcmp(name, "host") == 0) {
    *host = true;
    *lower = strdup(rt->host_skeleton);
    return 0;
  }
  if (!valid_id(name) || rt->templates_dir == NULL)
    return sf_error_make(err, ENOENT, "unknown template '%s' (known: host)", name);
  char p[PATH_MAX];
  snprintf(p, sizeof(p), "%s/%s", rt->templates_dir, name);
  struct stat st;
  if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode)) {
    char known[1024] = "host";
    cleanup_dir DIR *d = opendir(rt->templates_dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
      if (de->d_name[0] != '.' && strlen(known) + strlen(de->d_name) + 3 < sizeof(known)) {
        strcat(known, ", ");
        strcat(known, de->d_name);
      }
    return sf_error_make(err, ENOENT, "unknown template '%s' (known: %s)", name, known);
  }
  /* Registered templates are symlinks; the overlay must get the real path
   * (the sandbox's mapped root needs to traverse it, not our data dir). */
  *lower = realpath(p, NULL);
  return *lower ? 0 : sf_error_sys(err, "template '%s'", name);
}

int sf_runtime_check_template(sf_runtime *rt, const char *template_name, sf_error_t *err)
{
  sf_sandbox_spec spec = {.template_name = template_name};
  char *lower = NULL;
  bool host;
  int r = resolve_lower(rt, &spec, &lower, &host, err);
  free(lower);
  return r;
}

static int write_id_map(pid_t pid, const char *file, uid_t base, uint32_t range, sf_error_t *err)
{
  char path[64], map[64];
  snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
  snprintf(map, sizeof(map), "0 %u %u\n", (unsigned)base, range);
  return sf_write_file(path, map, err);
}

int sf_sandbox_create(sf_runtime *rt, const sf_sandbox_spec *spec, sf_sandbox **out,
                      sf_error_t *err)
{
  if (!valid_id(spec->id))
    return sf_error_make(err, EINVAL, "invalid sandbox id '%s' (1-64 of [A-Za-z0-9_-])",
                         spec->id ? spec->id : "");
  cleanup_free char *lower = NULL;
  bool host = false;
  if (resolve_lower(rt, spec, &lower, &host, err) < 0)
    return -1;
  char dir[PATH_MAX], mnt[PATH_MAX];
  state_path(rt, spec->id, NULL, dir, sizeof(dir));
  state_path(rt, spec->id, "mnt", mnt, sizeof(mnt));
  if (mkdir(dir, 0711) < 0)
    return errno == EEXIST ? sf_error_make(err, EEXIST, "sandbox '%s' already exists", spec->id)
                           : sf_error_sys(err, "mkdir '%s'", dir);
  sf_sandbox *sb = sandbox_alloc(rt, spec->id);
  cleanup_close int init_fd = -1, info_r = -1, info_w = -1, sync_r = -1, sync_w = -1;
  pid_t child = -1;
  if (sb == NULL) {
    sf_error_make(err, ENOMEM, "out of memory");
    goto fail;
  }
  sb->memory_bytes = spec->memory_bytes;
  sb->pids_max = spec->pids_max > 0 ? spec->pids_max : DEFAULT_PIDS;
  sb->nofile = spec->nofile > 0 ? spec->nofile : DEFAULT_NOFILE;
  sb->fsize_bytes = spec->fsize_bytes;
  sb->env = sf_strv_dup(spec->env);
  if (mkdir(mnt, 0755) < 0) {
    sf_error_sys(err, "mkdir '%s'", mnt);
    goto fail;
  }
  sf_cgroup_limits lim = {
      .memory_bytes = spec->memory_bytes, .cpu_millis = spec->cpu_millis, .pids_max = sb->pids_max};
  if (sf_cgroup_create(rt->cgroup_root, rt->cg_mode, rt->cgroup_parent, spec->id, &lim, false,
                       &sb->cg, err) < 0)
    goto fail;
  init_fd = open(rt->init_path, O_PATH | O_CLOEXEC);
  if (init_fd < 0) {
    sf_error_sys(err, "open init '%s'", rt->init_path);
    goto fail;
  }
  int p1[2], p2[2];
  if (pipe2(p1, O_CLOEXEC) < 0 || pipe2(p2, O_CLOEXEC) < 0) {
    sf_error_sys(err, "pipe");
    goto fail;
  }
  info_r = p1[0], info_w = p1[1], sync_r = p2[0], sync_w = p2[1];
  child_args a = {.rootfs = {.lower = lower,
                             .host_template = host,
                             .mnt_dir = mnt,
                             .disk_bytes = spec->disk_bytes > 0 ? spec->disk_bytes : DEFAULT_DISK,
                             .hostname = spec->hostname},
                  .info_fd = info_w,
                  .init_fd = init_fd,
                  .nofile = sb->nofile,
                  .pids = sb->pids_max,
                  .seccomp = &rt->prog_plain};
  child = fork();
  if (child < 0) {
    sf_error_sys(err, "fork");
    goto fail;
  }
  if (child == 0) {
    close(info_r);
    close(sync_w);
    stage1(&a, sync_r);
  }
  close(sf_steal_fd(&info_w));
  close(sf_steal_fd(&sync_r));
  char payload[600];
  int tag = sf_parent_recv(info_r, payload, sizeof(payload), NULL, SF_CHILD_TIMEOUT_MS, err);
  if (tag != 'U') {
    if (tag >= 0)
      sf_error_make(err, EPROTO, "sandbox child exited before creating namespaces");
    goto fail;
  }
  if (write_id_map(child, "uid_map", rt->uid_base, rt->uid_range, err) < 0 ||
      write_id_map(child, "gid_map", rt->uid_base, rt->uid_range, err) < 0 ||
      sf_cgroup_enter(sb->cg, child, err) < 0)
    goto fail;
  if (sf_write_all(sync_w, "G", 1) < 0) {
    sf_error_sys(err, "signal sandbox child");
    goto fail;
  }
  tag = sf_parent_recv(info_r, payload, sizeof(payload), NULL, SF_CHILD_TIMEOUT_MS, err);
  if (tag != 'P') {
    if (tag >= 0)
      sf_error_make(err, EPROTO, "sandbox child exited before starting init");
    goto fail;
  }
  int32_t init_pid;
  memcpy(&init_pid, payload, sizeof(init_pid));
  sb->init_pid = init_pid;
  waitpid(child, NULL, 0);
  child = -1;
  /* EOF = init exec'd (the pipe is CLOEXEC); an error record = setup failed. */
  tag = sf_parent_recv(info_r, payload, sizeof(payload), NULL, SF_CHILD_TIMEOUT_MS, err);
  if (tag != 0) {
    if (tag > 0)
      sf_error_make(err, EPROTO, "unexpected record from sandbox init");
    goto fail;
  }
  sb->pidfd = (int)syscall(SYS_pidfd_open, sb->init_pid, 0);
  if (sb->pidfd < 0) {
    sf_error_sys(err, "pidfd_open init");
    goto fail;
  }
  /* EOF also comes from a child that crashed before it could report: only a
   * live init means the exec happened. */
  struct pollfd dead = {.fd = sb->pidfd, .events = POLLIN};
  if (poll(&dead, 1, 0) > 0) {
    sf_error_make(err, ECHILD, "sandbox init died during setup");
    goto fail;
  }
  if (state_save(sb, err) < 0 || sf_runtime_watch_add(rt, sb, err) < 0)
    goto fail;
  *out = sb;
  return 0;
fail:
  if (child > 0) {
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
  }
  if (sb != NULL) {
    sf_error_wrap(err, "creating sandbox %s", spec->id);
    if (sb->cg) {
      sf_error_t e = NULL;
      if (sf_cgroup_kill_all(sb->cg, &e) < 0 || sf_cgroup_destroy(sb->cg, &e) < 0)
        sf_log_warn("cleanup of failed sandbox %s: %s", spec->id, sf_error_msg(&e));
      else
        sb->cg = NULL;
      sf_error_release(&e);
      if (sb->init_pid > 0)
        waitpid(sb->init_pid, NULL, WNOHANG);
    }
    sf_sandbox_release(sb);
  }
  remove_state(rt, spec->id);
  return -1;
}

int sf_sandbox_adopt(sf_runtime *rt, const char *id, sf_sandbox **out, sf_error_t *err)
{
  if (!valid_id(id))
    return sf_error_make(err, EINVAL, "invalid sandbox id '%s'", id ? id : "");
  char path[PATH_MAX];
  state_path(rt, id, "state.json", path, sizeof(path));
  json_error_t jerr;
  json_t *j = json_load_file(path, 0, &jerr);
  if (j == NULL)
    return sf_error_make(err, ENOENT, "no runtime state for sandbox %s (%s)", id, jerr.text);
  sf_sandbox *sb = sandbox_alloc(rt, id);
  json_int_t start = -1, mem = 0, pids = 0, nofile = 0, fsize = 0;
  int pid = 0;
  json_t *env = NULL;
  if (sb == NULL || json_unpack(j, "{s:i,s:I,s?I,s?I,s?I,s?I,s?o}", "init_pid", &pid, "init_start",
                                &start, "memory_bytes", &mem, "pids_max", &pids, "nofile", &nofile,
                                "fsize_bytes", &fsize, "env", &env) < 0) {
    json_decref(j);
    sf_sandbox_release(sb);
    return sf_error_make(err, EINVAL, "corrupt runtime state for sandbox %s", id);
  }
  sb->init_pid = pid;
  sb->memory_bytes = mem;
  sb->pids_max = pids;
  sb->nofile = nofile;
  sb->fsize_bytes = fsize;
  size_t n = json_array_size(env);
  sb->env = calloc(n + 1, sizeof(char *));
  for (size_t i = 0; sb->env && i < n; i++)
    sb->env[i] = strdup(json_string_value(json_array_get(env, i)) ?: "");
  json_decref(j);
  /* Pid reuse: the pid must still belong to the same process (start time). */
  if (proc_start_time(pid) != start) {
    sf_sandbox_release(sb);
    return sf_error_make(err, ESRCH, "init of sandbox %s is gone", id);
  }
  sb->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (sb->pidfd < 0 ||
      sf_cgroup_create(rt->cgroup_root, rt->cg_mode, rt->cgroup_parent, id, NULL, true, &sb->cg,
                       err) < 0 ||
      sf_runtime_watch_add(rt, sb, err) < 0) {
    if (sb->pidfd < 0)
      sf_error_make(err, ESRCH, "init of sandbox %s is gone", id);
    sf_sandbox_release(sb);
    return -1;
  }
  *out = sb;
  return 0;
}

int sf_sandbox_cleanup_id(sf_runtime *rt, const char *id, sf_error_t *err)
{
  if (!valid_id(id))
    return sf_error_make(err, EINVAL, "invalid sandbox id '%s'", id ? id : "");
  sf_runtime_watch_remove(rt, id);
  sf_cgroup *cg = NULL;
  sf_error_t e = NULL;
  if (sf_cgroup_create(rt->cgroup_root, rt->cg_mode, rt->cgroup_parent, id, NULL, true, &cg, &e) ==
      0) {
    if (sf_cgroup_kill_all(cg, err) < 0) {
      sf_cgroup_free(cg);
      return -1;
    }
    if (sf_cgroup_destroy(cg, err) < 0)
      return -1;
  }
  sf_error_release(&e);
  remove_state(rt, id);
  return 0;
}

int sf_runtime_list_ids(sf_runtime *rt, char ***ids_out, sf_error_t *err)
{
  cleanup_dir DIR *d = opendir(rt->state_dir);
  if (d == NULL)
    return sf_error_sys(err, "opendir '%s'", rt->state_dir);
  size_t n = 0, cap = 16;
  char **ids = calloc(cap + 1, sizeof(char *));
  struct dirent *de;
  while (ids && (de = readdir(d)) != NULL) {
    if (!valid_id(de->d_name) || strcmp(de->d_name, "host-template") == 0)
      continue;
    char p[PATH_MAX];
    state_path(rt, de->d_name, "state.json", p, sizeof(p));
    char mp[PATH_MAX];
    state_path(rt, de->d_name, "mnt", mp, sizeof(mp));
    if (access(p, F_OK) < 0 && access(mp, F_OK) < 0)
      continue;
    if (n == cap) {
      char **nid = realloc(ids, (cap * 2 + 1) * sizeof(char *));
      if (nid == NULL)
        break;
      ids = nid;
      cap *= 2;
    }
    ids[n++] = strdup(de->d_name);
    ids[n] = NULL;
  }
  if (ids == NULL)
    return sf_error_make(err, ENOMEM, "out of memory");
  *ids_out = ids;
  return 0;
}

const char *sf_sandbox_id(const sf_sandbox *sb)
{
  return sb->id;
}

pid_t sf_sandbox_init_pid(const sf_sandbox *sb)
{
  return sb->init_pid;
}

uid_t sf_sandbox_host_uid(const sf_sandbox *sb, uid_t inner)
{
  return sb->rt->uid_base + inner;
}

gid_t sf_sandbox_host_gid(const sf_sandbox *sb, gid_t inner)
{
  return sb->rt->uid_base + inner;
}

int sf_sandbox_open_root(sf_sandbox *sb, sf_error_t *err)
{
  char p[64];
  snprintf(p, sizeof(p), "/proc/%d/root", (int)sb->init_pid);
  int fd = open(p, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return sf_error_sys(err, "open root of sandbox %s", sb->id);
  /* The pid could have been reused between our checks: confirm via pidfd. */
  if (syscall(SYS_pidfd_send_signal, sb->pidfd, 0, NULL, 0) < 0) {
    close(fd);
    return sf_error_make(err, ESRCH, "sandbox %s is not running", sb->id);
  }
  return fd;
}

int sf_sandbox_freeze(sf_sandbox *sb, sf_error_t *err)
{
  return sf_cgroup_freeze(sb->cg, err) < 0 ? sf_error_wrap(err, "freezing sandbox %s", sb->id) : 0;
}

int sf_sandbox_thaw(sf_sandbox *sb, sf_error_t *err)
{
  return sf_cgroup_thaw(sb->cg, err) < 0 ? sf_error_wrap(err, "thawing sandbox %s", sb->id) : 0;
}

int sf_sandbox_kill(sf_sandbox *sb, sf_error_t *err)
{
  /* Stop the monitor reporting the init death we are about to cause. */
  sf_runtime_watch_remove(sb->rt, sb->id);
  /* Killing PID 1 makes the kernel kill the whole pid namespace; processes
   * that joined the cgroup without being in it (exec shims) and anything
   * still exiting are then handled by the cgroup kill loop. */
  /* A frozen task cannot act on SIGKILL until thawed: kill, then thaw
   * (the other order would let a paused workload run for a moment). */
  syscall(SYS_pidfd_send_signal, sb->pidfd, SIGKILL, NULL, 0);
  sf_error_t thaw_err = NULL;
  if (sf_cgroup_thaw(sb->cg, &thaw_err) < 0)
    sf_error_release(&thaw_err);
  struct pollfd pfd = {.fd = sb->pidfd, .events = POLLIN};
  poll(&pfd, 1, 2000);
  for (int i = 0; i < 50; i++) {
    sf_error_t e = NULL;
    int n = sf_cgroup_count_procs(sb->cg, &e);
    sf_error_release(&e);
    if (n <= 0)
      break;
    usleep(100);
  }
  if (sf_cgroup_kill_all(sb->cg, err) < 0)
    return sf_error_wrap(err, "killing sandbox %s", sb->id);
  /* Reap init when it is our child (subreaper); harmless otherwise. */
  siginfo_t si;
  waitid(P_PIDFD, (id_t)sb->pidfd, &si, WEXITED | WNOHANG);
  return 0;
}

int sf_sandbox_destroy(sf_sandbox *sb, sf_error_t *err)
{
  if (sf_sandbox_kill(sb, err) < 0)
    return -1;
  int r = sf_cgroup_destroy(sb->cg, err);
  sb->cg = NULL;
  remove_state(sb->rt, sb->id);
  sf_sandbox_release(sb);
  return r < 0 ? -1 : 0;
}

int sf_sandbox_usage(sf_sandbox *sb, sf_usage *out, sf_error_t *err)
{
  sf_cgroup_stats st;
  if (sf_cgroup_stats_read(sb->cg, &st, err) < 0)
    return -1;
  out->cpu_usec = st.cpu_usec;
  out->memory_bytes = st.memory_bytes;
  out->memory_limit = sb->memory_bytes;
  out->pids_current = st.pids_current;
  out->pids_max = sb->pids_max;
  out->frozen = st.frozen;
  return 0;
}
