#include "api/fs_safe.h"
#include "common/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int check_path(const char *path, sf_error_t *err)
{
  if (path == NULL || path[0] != '/')
    return sf_error_make(err, EINVAL, "path must be absolute: '%s'", path ? path : "");
  if (strlen(path) >= 4096)
    return sf_error_make(err, EINVAL, "path too long");
  return 0;
}

int sf_fs_open(int rootfd, const char *path, int flags, mode_t mode, sf_error_t *err)
{
  if (check_path(path, err) < 0)
    return -1;
  struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                         .mode = (flags & O_CREAT) ? mode : 0,
                         .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  const char *rel = path + strspn(path, "/");
  int fd = (int)syscall(SYS_openat2, rootfd, *rel ? rel : ".", &how, sizeof(how));
  if (fd < 0)
    return errno == ENOENT ? sf_error_make(err, ENOENT, "no such file or directory: '%s'", path)
                           : sf_error_sys(err, "open '%s'", path);
  return fd;
}

int sf_fs_open_parent(int rootfd, const char *path, const char **leaf, sf_error_t *err)
{
  if (check_path(path, err) < 0)
    return -1;
  const char *slash = strrchr(path, '/');
  if (slash[1] == '\0' || strcmp(slash + 1, "..") == 0 || strcmp(slash + 1, ".") == 0)
    return sf_error_make(err, EINVAL, "path must name a file: '%s'", path);
  char parent[4096];
  snprintf(parent, sizeof(parent), "%.*s", (int)(slash - path), path);
  *leaf = slash + 1;
  return sf_fs_open(rootfd, parent[0] ? parent : "/", O_DIRECTORY | O_RDONLY, 0, err);
}

int sf_fs_mkdir_p(int rootfd, const char *path, mode_t mode, sf_error_t *err)
{
  if (check_path(path, err) < 0)
    return -1;
  if (path[strspn(path, "/")] == '\0')
    return 0; /* the root itself */
  char buf[4096];
  snprintf(buf, sizeof(buf), "%s", path);
  size_t n = strlen(buf);
  while (n > 1 && buf[n - 1] == '/')
    buf[--n] = '\0';
  for (char *p = buf + 1;; p++) {
    if (*p != '/' && *p != '\0')
      continue;
    char saved = *p;
    *p = '\0';
    const char *leaf;
    cleanup_close int dfd = sf_fs_open_parent(rootfd, buf, &leaf, err);
    if (dfd < 0)
      return -1;
    if (mkdirat(dfd, leaf, mode) < 0 && errno != EEXIST) {
      return sf_error_sys(err, "mkdir '%s'", buf);
    }
    *p = saved;
    if (saved == '\0')
      break;
  }
  /* The final component must be a directory (a symlink resolves in-root). */
  int fd = sf_fs_open(rootfd, path, O_DIRECTORY | O_RDONLY, 0, err);
  if (fd < 0)
    return -1;
  close(fd);
  return 0;
}
