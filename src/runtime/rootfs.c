/* The sandbox's root filesystem: an overlay (read-only template lower,
 * writable upper on a size-limited tmpfs), masked /proc and /sys, a minimal
 * /dev, all mounted inside the sandbox's own mount namespace and entered with
 * pivot_root.  Nothing is mounted in the host's namespace, so everything
 * disappears with the sandbox's last process. */
#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/runtime_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <ftw.h>

/* Host directories the `host` template binds read-only (when they are real
 * directories; merged-/usr symlinks like /bin -> usr/bin are recreated). */
static const char *const host_top[] = {"/usr",   "/bin",   "/sbin",   "/lib",
                                       "/lib32", "/lib64", "/libx32", NULL};
static const char *const host_etc_dirs[] = {
    "/etc/alternatives", "/etc/ssl",        "/etc/ld.so.conf.d", "/etc/ca-certificates",
    "/etc/python3",      "/etc/python3.11", "/etc/perl",         NULL};
static const char *const host_etc_files[] = {"/etc/resolv.conf",
                                             "/etc/nsswitch.conf",
                                             "/etc/ld.so.cache",
                                             "/etc/ld.so.conf",
                                             "/etc/bash.bashrc",
                                             "/etc/profile",
                                             "/etc/inputrc",
                                             "/etc/mime.types",
                                             "/etc/localtime",
                                             "/etc/timezone",
                                             "/etc/protocols",
                                             "/etc/services",
                                             NULL};

static bool is_real_dir(const char *p)
{
  struct stat st;
  return lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int mkdir_at(const char *base, const char *rel, mode_t mode, sf_error_t *err)
{
  char p[PATH_MAX];
  snprintf(p, sizeof(p), "%s%s", base, rel);
  if (mkdir(p, mode) < 0 && errno != EEXIST)
    return sf_error_sys(err, "mkdir '%s'", p);
  if (chmod(p, mode) < 0)
    return sf_error_sys(err, "chmod '%s'", p);
  return 0;
}

static int write_text(const char *base, const char *rel, const char *text, sf_error_t *err)
{
  char p[PATH_MAX];
  snprintf(p, sizeof(p), "%s%s", base, rel);
  cleanup_close int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0 || sf_write_all(fd, text, strlen(text)) < 0)
    return sf_error_sys(err, "write '%s'", p);
  return 0;
}

static int copy_file(const char *src, const char *dst, sf_error_t *err)
{
  cleanup_free char *data = NULL;
  size_t len = 0;
  sf_error_t e = NULL;
  if (sf_read_file(src, &data, &len, &e) < 0) { /* optional files */
    sf_error_release(&e);
    return 0;
  }
  cleanup_close int fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0 || sf_write_all(fd, data, len) < 0)
    return sf_error_sys(err, "write '%s'", dst);
  return 0;
}

/* Overlayfs copy-up preserves ownership, and a host uid that is not mapped
 * into the sandbox's user namespace cannot be preserved (EOVERFLOW): every
 * entry of the skeleton belongs to the sandbox's root (or its user). */
static uid_t skeleton_owner;
static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st;
  (void)ftw;
  return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void remove_tree(const char *dir)
{
  nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int sf_runtime_remove_state_if_empty(sf_runtime *rt, sf_error_t *err)
{
  char **ids = NULL;
  if (sf_runtime_list_ids(rt, &ids, err) < 0)
    return -1;
  bool empty = ids[0] == NULL;
  sf_strv_free(ids);
  if (!empty)
    return 0;
  remove_tree(rt->state_dir);
  /* Not done on every shutdown: a v1 cgroup rmdir waits for RCU grace
   * periods (~3 ms per hierarchy), too slow for each `sandforge run`. */
  sf_cgroup_remove_parent(rt->cgroup_root, rt->cg_mode, rt->cgroup_parent);
  return 1;
}

static int chown_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)flag;
  (void)ftw;
  if (st->st_uid == 0 && lchown(path, skeleton_owner, skeleton_owner) < 0)
    return -1;
  return 0;
}

static int build_host_skeleton(sf_runtime *rt, const char *b, sf_error_t *err);

/* The skeleton is built once per state dir (into a temporary directory that
 * is renamed into place, so concurrent runtimes sharing the state dir never
 * see a half-built tree, and a lower layer in use is never rewritten). */
int sf_rootfs_prepare_host_skeleton(sf_runtime *rt, sf_error_t *err)
{
  char stamp[PATH_MAX], tmp[PATH_MAX];
  snprintf(stamp, sizeof(stamp), "%s/.sandforge-skeleton-v1", rt->host_skeleton);
  if (access(stamp, F_OK) == 0)
    return 0;
  snprintf(tmp, sizeof(tmp), "%s.tmp-%d", rt->host_skeleton, (int)getpid());
  if (build_host_skeleton(rt, tmp, err) < 0 ||
      write_text(tmp, "/.sandforge-skeleton-v1", "", err) < 0)
    return -1;
  if (rename(tmp, rt->host_skeleton) < 0) {
    if (errno != ENOTEMPTY && errno != EEXIST)
      return sf_error_sys(err, "rename '%s'", tmp);
    /* Another runtime won the race, or an old incomplete skeleton is in the
     * way: keep a complete one, move an incomplete one aside. */
    if (access(stamp, F_OK) != 0) {
      char old[PATH_MAX];
      snprintf(old, sizeof(old), "%s.old-%d", rt->host_skeleton, (int)getpid());
      if (rename(rt->host_skeleton, old) < 0 || rename(tmp, rt->host_skeleton) < 0)
        return sf_error_sys(err, "replace '%s'", rt->host_skeleton);
      remove_tree(old);
    } else {
      remove_tree(tmp);
    }
  }
  return 0;
}

static int build_host_skeleton(sf_runtime *rt, const char *b, sf_error_t *err)
{
  if (mkdir(b, 0755) < 0 && errno != EEXIST)
    return sf_error_sys(err, "mkdir '%s'", b);
  static const struct {
    const char *path;
    mode_t mode;
  } dirs[] = {{"/etc", 0755},  {"/tmp", 01777}, {"/home", 0755},     {"/home/user", 0755},
              {"/root", 0700}, {"/proc", 0555}, {"/sys", 0555},      {"/dev", 0755},
              {"/run", 0755},  {"/var", 0755},  {"/var/tmp", 01777}, {"/mnt", 0755},
              {"/opt", 0755},  {"/srv", 0755}};
  for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
    if (mkdir_at(b, dirs[i].path, dirs[i].mode, err) < 0)
      return -1;
  char p[PATH_MAX];
  snprintf(p, sizeof(p), "%s/home/user", b);
  if (chown(p, rt->uid_base + SF_WORKLOAD_UID, rt->uid_base + SF_WORKLOAD_UID) < 0)
    return sf_error_sys(err, "chown '%s'", p);
  snprintf(p, sizeof(p), "%s/root", b);
  if (chown(p, rt->uid_base, rt->uid_base) < 0)
    return sf_error_sys(err, "chown '%s'", p);
  for (size_t i = 0; host_top[i]; i++) {
    char dst[PATH_MAX], target[PATH_MAX];
    snprintf(dst, sizeof(dst), "%s%s", b, host_top[i]);
    ssize_t n = readlink(host_top[i], target, sizeof(target) - 1);
    if (n > 0) {
      target[n] = '\0';
      unlink(dst);
      rmdir(dst);
      if (symlink(target, dst) < 0 && errno != EEXIST)
        return sf_error_sys(err, "symlink '%s'", dst);
    } else if (is_real_dir(host_top[i]) && mkdir_at(b, host_top[i], 0755, err) < 0) {
      return -1;
    }
  }
  for (size_t i = 0; host_etc_dirs[i]; i++)
    if (is_real_dir(host_etc_dirs[i]) && mkdir_at(b, host_etc_dirs[i], 0755, err) < 0)
      return -1;
  for (size_t i = 0; host_etc_files[i]; i++) {
    snprintf(p, sizeof(p), "%s%s", b, host_etc_files[i]);
    if (copy_file(host_etc_files[i], p, err) < 0)
      return -1;
  }
  if (write_text(b, "/etc/passwd",
                 "root:x:0:0:root:/root:/bin/bash\n"
                 "user:x:1000:1000:Sandbox user:/home/user:/bin/bash\n"
                 "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
                 err) < 0 ||
      write_text(b, "/etc/group", "root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n", err) < 0 ||
      write_text(b, "/etc/hosts", "127.0.0.1 localhost sandbox\n::1 localhost ip6-localhost\n",
                 err) < 0 ||
      write_text(b, "/etc/hostname", "sandbox\n", err) < 0 ||
      write_text(b, "/etc/os-release", "NAME=\"Sandforge host template\"\nID=sandforge\n", err) < 0)
    return -1;
  skeleton_owner = rt->uid_base; /* nftw has no user pointer; only set at start-up */
  if (nftw(b, chown_entry, 16, FTW_PHYS) < 0)
    return sf_error_sys(err, "chown host template '%s'", b);
  return 0;
}

/* ---- inside the sandbox (child process, new user + mount namespaces) ---- */

static int do_mount(const char *src, const char *dst, const char *type, unsigned long flags,
                    const char *data, sf_error_t *err)
{
  if (mount(src, dst, type, flags, data) < 0)
    return sf_error_sys(err, "mount %s on '%s'", type ? type : (src ? src : "(bind)"), dst);
  return 0;
}

/* Remount a bind read-only, keeping the flags the kernel locked on it (a
 * user namespace may add restrictions but never clear inherited ones). */
static int remount_ro(const char *dst, unsigned long extra, sf_error_t *err)
{
  struct statvfs sv;
  unsigned long locked = 0;
  if (statvfs(dst, &sv) == 0) {
    if (sv.f_flag & ST_NOSUID)
      locked |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV)
      locked |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC)
      locked |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME)
      locked |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME)
      locked |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME)
      locked |= MS_RELATIME;
  }
  return do_mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | locked | extra, NULL, err);
}

static int bind_ro(const char *src, const char *dst, sf_error_t *err)
{
  if (do_mount(src, dst, NULL, MS_BIND | MS_REC, NULL, err) < 0)
    return -1;
  return remount_ro(dst, MS_NOSUID | MS_NODEV, err);
}

static int touch(const char *p, sf_error_t *err)
{
  int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
  if (fd < 0)
    return sf_error_sys(err, "create '%s'", p);
  close(fd);
  return 0;
}

static int setup_proc(const char *root, sf_error_t *err)
{
  char p[PATH_MAX], devnull[PATH_MAX];
  snprintf(p, sizeof(p), "%s/proc", root);
  if (do_mount("proc", p, "proc", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL, err) < 0)
    return -1;
  static const char *const masked[] = {"acpi",       "asound",        "interrupts",  "kcore",
                                       "keys",       "latency_stats", "sched_debug", "scsi",
                                       "timer_list", "timer_stats",   NULL};
  snprintf(devnull, sizeof(devnull), "%s/dev/null", root);
  for (size_t i = 0; masked[i]; i++) {
    snprintf(p, sizeof(p), "%s/proc/%s", root, masked[i]);
    struct stat st;
    if (lstat(p, &st) < 0)
      continue;
    if (S_ISDIR(st.st_mode)) {
      if (do_mount("tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0",
                   err) < 0)
        return -1;
    } else if (do_mount(devnull, p, NULL, MS_BIND, NULL, err) < 0) {
      return -1;
    }
  }
  static const char *const ro[] = {"bus", "fs", "irq", "sys", "sysrq-trigger", NULL};
  for (size_t i = 0; ro[i]; i++) {
    snprintf(p, sizeof(p), "%s/proc/%s", root, ro[i]);
    if (access(p, F_OK) < 0)
      continue;
    if (do_mount(p, p, NULL, MS_BIND | MS_REC, NULL, err) < 0 ||
        remount_ro(p, MS_NOSUID | MS_NODEV | MS_NOEXEC, err) < 0)
      return -1;
  }
  return 0;
}

static int setup_sys(const char *root, sf_error_t *err)
{
  char p[PATH_MAX];
  snprintf(p, sizeof(p), "%s/sys", root);
  sf_error_t e = NULL;
  /* sysfs may be refused in a user namespace when the host's /sys has
   * overmounts; a read-only recursive bind of the host's /sys is the fallback. */
  if (do_mount("sysfs", p, "sysfs", MS_RDONLY | MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL, &e) < 0) {
    sf_error_release(&e);
    if (do_mount("/sys", p, NULL, MS_BIND | MS_REC, NULL, err) < 0 ||
        remount_ro(p, MS_NOSUID | MS_NODEV | MS_NOEXEC, err) < 0)
      return -1;
  }
  static const char *const masked[] = {"firmware", "devices/virtual/powercap", "fs/cgroup", NULL};
  for (size_t i = 0; masked[i]; i++) {
    snprintf(p, sizeof(p), "%s/sys/%s", root, masked[i]);
    if (access(p, F_OK) < 0)
      continue;
    if (do_mount("tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0", err) <
        0)
      return -1;
  }
  return 0;
}

static int setup_dev(const char *root, sf_error_t *err)
{
  char p[PATH_MAX], src[PATH_MAX];
  snprintf(p, sizeof(p), "%s/dev", root);
  if (do_mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=755", err) < 0)
    return -1;
  /* mknod is not allowed in a user namespace: bind the host's nodes. */
  static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty", NULL};
  for (size_t i = 0; nodes[i]; i++) {
    snprintf(p, sizeof(p), "%s/dev/%s", root, nodes[i]);
    snprintf(src, sizeof(src), "/dev/%s", nodes[i]);
    if (touch(p, err) < 0 || do_mount(src, p, NULL, MS_BIND, NULL, err) < 0)
      return -1;
  }
  snprintf(p, sizeof(p), "%s/dev/pts", root);
  if (mkdir(p, 0755) < 0)
    return sf_error_sys(err, "mkdir '%s'", p);
  if (do_mount("devpts", p, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620",
               err) < 0)
    return -1;
  snprintf(p, sizeof(p), "%s/dev/shm", root);
  if (mkdir(p, 01777) < 0)
    return sf_error_sys(err, "mkdir '%s'", p);
  if (do_mount("shm", p, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=64m", err) < 0)
    return -1;
  static const char *const links[][2] = {{"pts/ptmx", "ptmx"},
                                         {"/proc/self/fd", "fd"},
                                         {"/proc/self/fd/0", "stdin"},
                                         {"/proc/self/fd/1", "stdout"},
                                         {"/proc/self/fd/2", "stderr"}};
  for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
    snprintf(p, sizeof(p), "%s/dev/%s", root, links[i][1]);
    if (symlink(links[i][0], p) < 0)
      return sf_error_sys(err, "symlink '%s'", p);
  }
  snprintf(p, sizeof(p), "%s/dev", root);
  return remount_ro(p, MS_NOSUID | MS_NOEXEC, err) < 0 ? -1 : 0;
}

static int loopback_up(sf_error_t *err)
{
  cleanup_close int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0)
    return sf_error_sys(err, "socket for loopback");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  snprintf(ifr.ifr_name, IFNAMSIZ, "lo");
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
    return sf_error_sys(err, "SIOCGIFFLAGS lo");
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
    return sf_error_sys(err, "bring loopback up");
  return 0;
}

int sf_rootfs_setup(const sf_rootfs_spec *spec, sf_error_t *err)
{
  char root[PATH_MAX], upper[PATH_MAX], work[PATH_MAX], opts[PATH_MAX * 3 + 64], p[PATH_MAX];
  if (do_mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL, err) < 0)
    return -1;
  char size_opt[64];
  snprintf(size_opt, sizeof(size_opt), "size=%lld,mode=0755", (long long)spec->disk_bytes);
  if (do_mount("sandforge", spec->mnt_dir, "tmpfs", MS_NOSUID | MS_NODEV, size_opt, err) < 0)
    return -1;
  snprintf(root, sizeof(root), "%s/root", spec->mnt_dir);
  snprintf(upper, sizeof(upper), "%s/upper", spec->mnt_dir);
  snprintf(work, sizeof(work), "%s/work", spec->mnt_dir);
  if (mkdir(root, 0755) < 0 || mkdir(upper, 0755) < 0 || mkdir(work, 0755) < 0)
    return sf_error_sys(err, "creating overlay directories");
  snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s,userxattr", spec->lower, upper,
           work);
  if (do_mount("overlay", root, "overlay", MS_NOSUID | MS_NODEV, opts, err) < 0)
    return sf_error_wrap(err, "overlay root over '%s'", spec->lower);
  if (spec->host_template) {
    for (size_t i = 0; host_top[i]; i++) {
      if (!is_real_dir(host_top[i]))
        continue;
      snprintf(p, sizeof(p), "%s%s", root, host_top[i]);
      if (bind_ro(host_top[i], p, err) < 0)
        return -1;
    }
    for (size_t i = 0; host_etc_dirs[i]; i++) {
      if (!is_real_dir(host_etc_dirs[i]))
        continue;
      snprintf(p, sizeof(p), "%s%s", root, host_etc_dirs[i]);
      if (bind_ro(host_etc_dirs[i], p, err) < 0)
        return -1;
    }
  }
  if (setup_dev(root, err) < 0 || setup_proc(root, err) < 0 || setup_sys(root, err) < 0)
    return -1;
  if (chdir(root) < 0)
    return sf_error_sys(err, "chdir '%s'", root);
  /* pivot_root(".", ".") stacks the old root under the new one; detaching
   * it afterwards leaves no path to the host's tree. */
  if (syscall(SYS_pivot_root, ".", ".") < 0)
    return sf_error_sys(err, "pivot_root");
  if (umount2(".", MNT_DETACH) < 0)
    return sf_error_sys(err, "detach old root");
  if (chdir("/") < 0)
    return sf_error_sys(err, "chdir /");
  const char *hn = spec->hostname ? spec->hostname : "sandbox";
  if (sethostname(hn, strlen(hn)) < 0)
    return sf_error_sys(err, "sethostname");
  return loopback_up(err);
}
