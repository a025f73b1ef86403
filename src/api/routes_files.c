/* execd file routes: upload (multipart), download (Range), info, delete,
 * directory list/create/delete.  Every path resolves inside the sandbox's
 * root (fs_safe.c). */
#include "api/execd_internal.h"
#include "api/fs_safe.h"
#include "api/multipart.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_PARTS 64

typedef struct {
  sf_sandbox_ref *ref;
  int rootfd;
} root_handle;

/* The `path` query parameter, or a 400 reply and NULL. */
static const char *required_path(sf_http_req *req)
{
  const char *path = sf_http_query(req, "path");
  if (path == NULL)
    sf_http_reply_error(req, 400, "MISSING_QUERY", "query parameter 'path' is required");
  return path;
}

static int open_root(sf_http_req *req, sf_api_ctx *ctx, root_handle *h)
{
  h->ref = sf_execd_acquire(req, ctx);
  if (h->ref == NULL)
    return -1;
  sf_error_t err = NULL;
  sf_sandbox *sb = sf_sandbox_ref_get(h->ref);
  h->rootfd = sf_sandbox_open_root(sb, &err);
  if (h->rootfd < 0) {
    sf_lifecycle_release(h->ref);
    sf_http_reply_sf_error(req, "RUNTIME_ERROR", &err);
    return -1;
  }
  /* Act as the sandbox's user for everything below: permission checks are
   * the user's, new files are the user's, and the overlay (mounted in the
   * sandbox's user namespace) can represent the owner.  fsuid/fsgid are
   * per-thread, and each request has its own thread (http.c). */
  syscall(SYS_setfsgid, sf_sandbox_host_gid(sb, 1000));
  syscall(SYS_setfsuid, sf_sandbox_host_uid(sb, 1000));
  return 0;
}

static void close_root(root_handle *h)
{
  syscall(SYS_setfsuid, 0);
  syscall(SYS_setfsgid, 0);
  close(h->rootfd);
  sf_lifecycle_release(h->ref);
}

static void file_error(sf_http_req *req, sf_error_t *err);

/* The common end of a file operation: release the root, then reply with the
 * error or an empty 200.  `body` (may be NULL) is freed. */
static void finish_op(sf_http_req *req, root_handle *h, json_t *body, sf_error_t *err)
{
  close_root(h);
  json_decref(body);
  if (*err)
    file_error(req, err);
  else
    sf_http_reply_empty(req, 200);
}

static void file_error(sf_http_req *req, sf_error_t *err)
{
  int e = sf_error_code(err);
  sf_http_reply_sf_error(req,
                         e == ENOENT                                 ? "FILE_NOT_FOUND"
                         : (e == EINVAL || e == ELOOP || e == EXDEV) ? "INVALID_FILE"
                                                                     : "RUNTIME_ERROR",
                         err);
}

/* execd writes modes as octal digits in a decimal integer (644 = rw-r--r--). */
static mode_t mode_from_json(json_t *m, mode_t dflt)
{
  if (!json_is_integer(m) || json_integer_value(m) <= 0)
    return dflt;
  char buf[32];
  snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(m));
  return (mode_t)strtol(buf, NULL, 8) & 07777;
}

static json_t *file_info(const char *path, const struct stat *st)
{
  char mt[40], ct[40], mode[16];
  sf_format_rfc3339_ms((int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000, mt,
                       sizeof(mt));
  sf_format_rfc3339_ms((int64_t)st->st_ctim.tv_sec * 1000 + st->st_ctim.tv_nsec / 1000000, ct,
                       sizeof(ct));
  snprintf(mode, sizeof(mode), "%o", st->st_mode & 07777);
  const char *type = S_ISREG(st->st_mode)   ? "file"
                     : S_ISDIR(st->st_mode) ? "directory"
                     : S_ISLNK(st->st_mode) ? "symlink"
                                            : "other";
  return json_pack("{s:s,s:s,s:I,s:s,s:s,s:I,s:I,s:I}", "path", path, "type", type, "size",
                   (json_int_t)st->st_size, "modified_at", mt, "created_at", ct, "owner",
                   (json_int_t)(st->st_uid % 100000), "group", (json_int_t)(st->st_gid % 100000),
                   "mode", (json_int_t)strtoll(mode, NULL, 10));
}

static void upload(sf_http_req *req, void *ud)
{
  size_t len;
  const char *body = sf_http_body(req, &len);
  sf_mp_part parts[MAX_PARTS];
  sf_error_t err = NULL;
  int n =
      sf_multipart_parse(sf_http_header(req, "Content-Type"), body, len, parts, MAX_PARTS, &err);
  if (n < 0) {
    sf_http_reply_sf_error(req, "INVALID_FILE", &err);
    return;
  }
  root_handle h;
  if (open_root(req, ud, &h) < 0)
    return;
  json_t *meta = NULL;
  int files = 0;
  for (int i = 0; i < n; i++) {
    if (strcmp(parts[i].name, "metadata") == 0) {
      json_decref(meta);
      meta = json_loadb(parts[i].data, parts[i].len, 0, NULL);
      if (!json_is_object(meta) || !json_is_string(json_object_get(meta, "path"))) {
        sf_error_make(&err, EINVAL, "metadata part must be JSON {\"path\": ..., \"mode\"?: 644}");
        break;
      }
      continue;
    }
    if (strcmp(parts[i].name, "file") != 0)
      continue;
    if (meta == NULL) {
      sf_error_make(&err, EINVAL, "file part without a preceding metadata part");
      break;
    }
    const char *path = json_string_value(json_object_get(meta, "path"));
    const char *leaf;
    char parent[4096];
    const char *slash = strrchr(path, '/');
    snprintf(parent, sizeof(parent), "%.*s", slash ? (int)(slash - path) : 0, path);
    if (path[0] != '/') {
      sf_error_make(&err, EINVAL, "path must be absolute: '%s'", path);
      break;
    }
    if (parent[0] && sf_fs_mkdir_p(h.rootfd, parent, 0755, &err) < 0)
      break;
    cleanup_close int dfd = sf_fs_open_parent(h.rootfd, path, &leaf, &err);
    if (dfd < 0)
      break;
    mode_t mode = mode_from_json(json_object_get(meta, "mode"), 0644);
    /* O_NOFOLLOW: a symlink planted at the target must not redirect the write. */
    cleanup_close int fd =
        openat(dfd, leaf, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
      sf_error_sys(&err, "open '%s' for writing", path);
      break;
    }
    if (sf_write_all(fd, parts[i].data, parts[i].len) < 0) {
      sf_error_sys(&err, "write '%s'", path);
      break;
    }
    json_t *jm = json_object_get(meta, "mode");
    if (json_is_integer(jm) && json_integer_value(jm) > 0 && fchmod(fd, mode) < 0) {
      sf_error_sys(&err, "set mode of '%s'", path);
      break;
    }
    files++;
    json_decref(meta);
    meta = NULL;
  }
  json_decref(meta);
  close_root(&h);
  if (err)
    file_error(req, &err);
  else if (files == 0)
    sf_http_reply_error(req, 400, "INVALID_FILE", "no file part in the upload");
  else
    sf_http_reply_empty(req, 200);
}

static void download(sf_http_req *req, void *ud)
{
  const char *path = required_path(req);
  if (path == NULL)
    return;
  root_handle h;
  if (open_root(req, ud, &h) < 0)
    return;
  sf_error_t err = NULL;
  int fd = sf_fs_open(h.rootfd, path, O_RDONLY, 0, &err);
  close_root(&h);
  if (fd < 0) {
    file_error(req, &err);
    return;
  }
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    sf_http_reply_error(req, 400, "INVALID_FILE", "'%s' is not a regular file", path);
    return;
  }
  off_t size = st.st_size, start = 0, stop = size - 1;
  const char *range = sf_http_header(req, "Range");
  if (range && strncmp(range, "bytes=", 6) == 0) {
    char *dash;
    long long a = strtoll(range + 6, &dash, 10), b = -1;
    if (*dash == '-' && dash[1])
      b = strtoll(dash + 1, NULL, 10);
    if (range[6] == '-') { /* suffix: last N bytes */
      a = size - strtoll(range + 7, NULL, 10);
      b = size - 1;
      if (a < 0)
        a = 0;
    }
    if (*dash != '-' || a >= size || (b >= 0 && b < a)) {
      close(fd);
      char cr[64];
      snprintf(cr, sizeof(cr), "bytes */%lld", (long long)size);
      sf_http_reply_error(req, 416, "RANGE_NOT_SATISFIABLE", "range '%s' outside 0-%lld", range,
                          (long long)size);
      sf_http_reply_add_header(req, "Content-Range", cr);
      return;
    }
    start = a;
    stop = (b < 0 || b >= size) ? size - 1 : b;
    char cr[96];
    snprintf(cr, sizeof(cr), "bytes %lld-%lld/%lld", (long long)start, (long long)stop,
             (long long)size);
    sf_http_reply_fd(req, 206, "application/octet-stream", fd, start, (size_t)(stop - start + 1));
    sf_http_reply_add_header(req, "Content-Range", cr);
    return;
  }
  sf_http_reply_fd(req, 200, "application/octet-stream", fd, 0, (size_t)size);
  sf_http_reply_add_header(req, "Accept-Ranges", "bytes");
}

static int stat_path(int rootfd, const char *path, struct stat *st, sf_error_t *err)
{
  const char *leaf;
  if (path[strspn(path, "/")] == '\0') {
    return fstat(rootfd, st) < 0 ? sf_error_sys(err, "stat /") : 0;
  }
  cleanup_close int dfd = sf_fs_open_parent(rootfd, path, &leaf, err);
  if (dfd < 0)
    return -1;
  if (fstatat(dfd, leaf, st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? sf_error_make(err, ENOENT, "no such file or directory: '%s'", path)
                           : sf_error_sys(err, "stat '%s'", path);
  return 0;
}

static void info(sf_http_req *req, void *ud)
{
  if (required_path(req) == NULL)
    return;
  const char *const *paths = sf_http_query_all(req, "path");
  root_handle h;
  if (open_root(req, ud, &h) < 0)
    return;
  json_t *out = json_object();
  sf_error_t err = NULL;
  for (const char *const *p = paths; *p && !err; p++) {
    struct stat st;
    if (stat_path(h.rootfd, *p, &st, &err) == 0)
      json_object_set_new(out, *p, file_info(*p, &st));
  }
  close_root(&h);
  if (err) {
    json_decref(out);
    file_error(req, &err);
  } else {
    sf_http_reply_json(req, 200, out);
  }
}

static void delete_file(sf_http_req *req, void *ud)
{
  if (required_path(req) == NULL)
    return;
  const char *const *paths = sf_http_query_all(req, "path");
  root_handle h;
  if (open_root(req, ud, &h) < 0)
    return;
  sf_error_t err = NULL;
  for (const char *const *p = paths; *p && !err; p++) {
    const char *leaf;
    cleanup_close int dfd = sf_fs_open_parent(h.rootfd, *p, &leaf, &err);
    if (dfd >= 0 && unlinkat(dfd, leaf, 0) < 0)
      errno == ENOENT ? sf_error_make(&err, ENOENT, "no such file: '%s'", *p)
                      : sf_error_sys(&err, "delete '%s'", *p);
  }
  finish_op(req, &h, NULL, &err);
}

static void list_dir(sf_http_req *req, void *ud)
{
  const char *path = required_path(req);
  if (path == NULL)
    return;
  root_handle h;
  if (open_root(req, ud, &h) < 0)
    return;
  sf_error_t err = NULL;
  struct stat st;
  int fd = -1;
  if (stat_path(h.rootfd, path, &st, &err) == 0) {
    if (S_ISLNK(st.st_mode))
      sf_error_make(&err, EINVAL, "'%s' is a symlink", path);
    else
      fd = sf_fs_open(h.rootfd, path, O_RDONLY | O_DIRECTORY, 0, &err);
  }
  close_root(&h);
  if (fd < 0) {
    file_error(req, &err);
    return;
  }
  DIR *d = fdopendir(fd);
  json_t *arr = json_array();
  struct dirent *de;
  while (d && (de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    struct stat est;
    if (fstatat(dirfd(d), de->d_name, &est, AT_SYMLINK_NOFOLLOW) < 0)
      continue;
    char full[4400];
    snprintf(full, sizeof(full), "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/",
             de->d_name);
    json_array_append_new(arr, file_info(full, &est));
  }
  if (d)
    closedir(d);
  sf_http_reply_json(req, 200, arr);
}

static void make_dirs(sf_http_req *req, void *ud)
{
  json_t *body = sf_http_json_body(req, false);
  if (body == NULL)
    return;
  root_handle h;
  if (open_root(req, ud, &h) < 0) {
    json_decref(body);
    return;
  }
  sf_error_t err = NULL;
  const char *path;
  json_t *perm;
  json_object_foreach(body, path, perm)
  {
    if (sf_fs_mkdir_p(h.rootfd, path, mode_from_json(json_object_get(perm, "mode"), 0755), &err) <
        0)
      break;
  }
  finish_op(req, &h, body, &err);
}

static int remove_tree_at(int dfd, const char *name, int depth, sf_error_t *err)
{
  if (depth > 256)
    return sf_error_make(err, ELOOP, "directory tree too deep");
  if (unlinkat(dfd, name, 0) == 0)
    return 0;
  if (errno != EISDIR && errno != EPERM)
    return errno == ENOENT ? 0 : sf_error_sys(err, "remove '%s'", name);
  int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return sf_error_sys(err, "open '%s'", name);
  DIR *d = fdopendir(fd);
  struct dirent *de;
  int r = 0;
  while (d && r == 0 && (de = readdir(d)) != NULL)
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
      r = remove_tree_at(dirfd(d), de->d_name, depth + 1, err);
  if (d)
    closedir(d);
  if (r == 0 && unlinkat(dfd, name, AT_REMOVEDIR) < 0)
    return sf_error_sys(err, "rmdir '%s'", name);
  return r;
}

static void delete_dirs(sf_http_req *req, void *ud)
{
  if (required_path(req) == NULL)
    return;
  const char *const *paths = sf_http_query_all(req, "path");
  root_handle h;
  if (open_root(req, ud, &h) < 0)
    return;
  sf_error_t err = NULL;
  for (const char *const *p = paths; *p && !err; p++) {
    const char *leaf;
    cleanup_close int dfd = sf_fs_open_parent(h.rootfd, *p, &leaf, &err);
    if (dfd >= 0)
      remove_tree_at(dfd, leaf, 0, &err);
  }
  finish_op(req, &h, NULL, &err);
}

/* POST /files/mv [{src, dest}]: rename inside the root (parents of dest created). */
static void move_files(sf_http_req *req, void *ud)
{
  json_error_t je;
  size_t len;
  const char *b = sf_http_body(req, &len);
  json_t *arr = json_loadb(b, len, 0, &je);
  if (!json_is_array(arr)) {
    json_decref(arr);
    sf_http_reply_error(req, 400, "INVALID_REQUEST_BODY",
                        "expected [{\"src\": ..., \"dest\": ...}]");
    return;
  }
  root_handle h;
  if (open_root(req, ud, &h) < 0) {
    json_decref(arr);
    return;
  }
  sf_error_t err = NULL;
  size_t i;
  json_t *m;
  json_array_foreach(arr, i, m)
  {
    const char *src = json_string_value(json_object_get(m, "src"));
    const char *dst = json_string_value(json_object_get(m, "dest"));
    const char *sl, *dl;
    if (src == NULL || dst == NULL) {
      sf_error_make(&err, EINVAL, "each move needs src and dest");
      break;
    }
    char parent[4096];
    const char *slash = strrchr(dst, '/');
    snprintf(parent, sizeof(parent), "%.*s", slash ? (int)(slash - dst) : 0, dst);
    if (parent[0] && sf_fs_mkdir_p(h.rootfd, parent, 0755, &err) < 0)
      break;
    cleanup_close int sfd = sf_fs_open_parent(h.rootfd, src, &sl, &err);
    if (sfd < 0)
      break;
    cleanup_close int dfd = sf_fs_open_parent(h.rootfd, dst, &dl, &err);
    if (dfd < 0)
      break;
    if (renameat(sfd, sl, dfd, dl) < 0) {
      errno == ENOENT ? sf_error_make(&err, ENOENT, "no such file: '%s'", src)
                      : sf_error_sys(&err, "move '%s'", src);
      break;
    }
  }
  finish_op(req, &h, arr, &err);
}

/* POST /files/permissions {path: {mode, owner?, group?}} (owner/group: inner numeric ids). */
static void set_permissions(sf_http_req *req, void *ud)
{
  json_t *body = sf_http_json_body(req, false);
  if (body == NULL)
    return;
  root_handle h;
  if (open_root(req, ud, &h) < 0) {
    json_decref(body);
    return;
  }
  sf_error_t err = NULL;
  const char *path;
  json_t *p;
  json_object_foreach(body, path, p)
  {
    cleanup_close int fd = sf_fs_open(h.rootfd, path, O_PATH | O_NOFOLLOW, 0, &err);
    if (fd < 0)
      break;
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    json_t *mode = json_object_get(p, "mode");
    if (json_is_integer(mode) && chmod(proc, mode_from_json(mode, 0644)) < 0) {
      sf_error_sys(&err, "chmod '%s'", path);
      break;
    }
    json_t *owner = json_object_get(p, "owner"), *group = json_object_get(p, "group");
    if (json_is_integer(owner) || json_is_integer(group)) {
      sf_sandbox *sb = sf_sandbox_ref_get(h.ref);
      uid_t u = json_is_integer(owner) ? sf_sandbox_host_uid(sb, (uid_t)json_integer_value(owner))
                                       : (uid_t)-1;
      gid_t g = json_is_integer(group) ? sf_sandbox_host_gid(sb, (gid_t)json_integer_value(group))
                                       : (gid_t)-1;
      if (chown(proc, u, g) < 0) { /* as the sandbox user: only what that user may do */
        sf_error_sys(&err, "chown '%s'", path);
        break;
      }
    }
  }
  finish_op(req, &h, body, &err);
}

/* POST /files/replace[?verbose=true] {path: {old, new}}: replace every occurrence. */
static void replace_contents(sf_http_req *req, void *ud)
{
  json_t *body = sf_http_json_body(req, false);
  if (body == NULL)
    return;
  root_handle h;
  if (open_root(req, ud, &h) < 0) {
    json_decref(body);
    return;
  }
  sf_error_t err = NULL;
  json_t *counts = json_object();
  const char *path;
  json_t *r;
  json_object_foreach(body, path, r)
  {
    const char *old = json_string_value(json_object_get(r, "old"));
    const char *new_ = json_string_value(json_object_get(r, "new"));
    if (old == NULL || new_ == NULL || *old == '\0') {
      sf_error_make(&err, EINVAL, "replace needs non-empty 'old' and a 'new' string for '%s'",
                    path);
      break;
    }
    cleanup_close int fd = sf_fs_open(h.rootfd, path, O_RDWR, 0, &err);
    if (fd < 0)
      break;
    cleanup_free char *data = NULL;
    size_t len = 0;
    char proc[64]; /* re-open the resolved file for reading, by its fd */
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    if (sf_read_file(proc, &data, &len, &err) < 0)
      break;
    char *out = NULL;
    size_t olen = 0, n = 0, ol = strlen(old), nl = strlen(new_);
    FILE *f = open_memstream(&out, &olen);
    for (const char *p = data, *q; p < data + len; p = q + ol) {
      q = memmem(p, (size_t)(data + len - p), old, ol);
      if (q == NULL) {
        fwrite(p, 1, (size_t)(data + len - p), f);
        break;
      }
      fwrite(p, 1, (size_t)(q - p), f);
      fwrite(new_, 1, nl, f);
      n++;
    }
    fclose(f);
    if (ftruncate(fd, 0) < 0 || pwrite(fd, out, olen, 0) != (ssize_t)olen)
      sf_error_sys(&err, "write '%s'", path);
    free(out);
    json_object_set_new(counts, path, json_pack("{s:I}", "replacedCount", (json_int_t)n));
    if (err)
      break;
  }
  close_root(&h);
  json_decref(body);
  const char *verbose = sf_http_query(req, "verbose");
  if (err) {
    json_decref(counts);
    file_error(req, &err);
  } else if (verbose && strcmp(verbose, "true") == 0) {
    sf_http_reply_json(req, 200, counts);
  } else {
    json_decref(counts);
    sf_http_reply_empty(req, 200);
  }
}

/* GET /files/search?path=D&pattern=GLOB: FileInfo of every match below D
 * (glob on the path relative to D; "**" matches across directories). */
static void search_walk(int dfd, const char *rel, const char *abs, const char *pattern, json_t *out,
                        int depth)
{
  if (depth > 64 || json_array_size(out) >= 10000)
    return;
  DIR *d = fdopendir(dfd);
  if (d == NULL) {
    close(dfd);
    return;
  }
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    char r[4096], a[4096];
    snprintf(r, sizeof(r), "%s%s%s", rel, *rel ? "/" : "", de->d_name);
    snprintf(a, sizeof(a), "%s%s%s", abs, abs[strlen(abs) - 1] == '/' ? "" : "/", de->d_name);
    struct stat st;
    if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
      continue;
    if (fnmatch(pattern, r, 0) == 0 || fnmatch(pattern, de->d_name, 0) == 0)
      json_array_append_new(out, file_info(a, &st));
    if (S_ISDIR(st.st_mode)) {
      int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0)
        search_walk(sub, r, a, pattern, out, depth + 1);
    }
  }
  closedir(d);
}

static void search(sf_http_req *req, void *ud)
{
  const char *path = required_path(req);
  if (path == NULL)
    return;
  const char *pattern = sf_http_query(req, "pattern");
  if (pattern == NULL || *pattern == '\0' || strcmp(pattern, "**") == 0)
    pattern = "*";
  root_handle h;
  if (open_root(req, ud, &h) < 0)
    return;
  sf_error_t err = NULL;
  int fd = sf_fs_open(h.rootfd, path, O_RDONLY | O_DIRECTORY, 0, &err);
  json_t *out = json_array();
  if (fd >= 0)
    search_walk(fd, "", path, pattern, out, 0);
  close_root(&h);
  if (err) {
    json_decref(out);
    file_error(req, &err);
  } else {
    sf_http_reply_json(req, 200, out);
  }
}

void sf_execd_register_file_routes(sf_http_server *srv, sf_api_ctx *ctx)
{
  sf_http_route(srv, "POST", "/sandboxes/{id}/execd/files/upload", upload, ctx,
                SF_HTTP_EXECD | SF_HTTP_BIG_BODY);
  sf_http_route(srv, "GET", "/sandboxes/{id}/execd/files/download", download, ctx, SF_HTTP_EXECD);
  sf_http_route(srv, "GET", "/sandboxes/{id}/execd/files/info", info, ctx, SF_HTTP_EXECD);
  sf_http_route(srv, "DELETE", "/sandboxes/{id}/execd/files", delete_file, ctx, SF_HTTP_EXECD);
  sf_http_route(srv, "POST", "/sandboxes/{id}/execd/files/mv", move_files, ctx, SF_HTTP_EXECD);
  sf_http_route(srv, "POST", "/sandboxes/{id}/execd/files/permissions", set_permissions, ctx,
                SF_HTTP_EXECD);
  sf_http_route(srv, "POST", "/sandboxes/{id}/execd/files/replace", replace_contents, ctx,
                SF_HTTP_EXECD);
  sf_http_route(srv, "GET", "/sandboxes/{id}/execd/files/search", search, ctx, SF_HTTP_EXECD);
  sf_http_route(srv, "GET", "/sandboxes/{id}/execd/directories/list", list_dir, ctx, SF_HTTP_EXECD);
  sf_http_route(srv, "POST", "/sandboxes/{id}/execd/directories", make_dirs, ctx, SF_HTTP_EXECD);
  sf_http_route(srv, "DELETE", "/sandboxes/{id}/execd/directories", delete_dirs, ctx,
                SF_HTTP_EXECD);
}
