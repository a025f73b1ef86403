/* File access confined to a sandbox's root: every lookup goes through
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) relative to the root fd,
 * so "..", absolute symlinks and symlink chains resolve inside the root and
 * can never reach the host. */
#ifndef SF_API_FS_SAFE_H
#define SF_API_FS_SAFE_H

#include <sys/types.h>

#include "common/error.h"

/* Open `path` (absolute inside the sandbox) with open(2) flags. */
int sf_fs_open(int rootfd, const char *path, int flags, mode_t mode, sf_error_t *err);
/* mkdir -p of `path` inside the root (created dirs belong to the caller's fsuid). */
int sf_fs_mkdir_p(int rootfd, const char *path, mode_t mode, sf_error_t *err);
/* Open the parent directory of `path` and return it; *leaf points into path. */
int sf_fs_open_parent(int rootfd, const char *path, const char **leaf, sf_error_t *err);

#endif
