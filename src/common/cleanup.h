/* __attribute__((cleanup)) helpers: a variable declared with one of these is
 * released when it goes out of scope.  Steal ownership with sf_steal_ptr /
 * sf_steal_fd before returning the value to a caller. */
#ifndef SF_COMMON_CLEANUP_H
#define SF_COMMON_CLEANUP_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <dirent.h>

#include "common/error.h"

static inline void sf_cleanup_freep(void *p)
{
  void **pp = (void **)p;
  free(*pp);
}
static inline void sf_cleanup_closep(int *fd)
{
  if (*fd >= 0) {
    int saved = errno;
    close(*fd);
    errno = saved;
  }
}
static inline void sf_cleanup_fclosep(FILE **f)
{
  if (*f != NULL)
    fclose(*f);
}
static inline void sf_cleanup_closedirp(DIR **d)
{
  if (*d != NULL)
    closedir(*d);
}
static inline void sf_cleanup_errorp(sf_error_t *e)
{
  sf_error_release(e);
}
/* NULL-terminated array of heap strings (argv/envp style). */
static inline void sf_cleanup_strvp(char ***v)
{
  if (*v == NULL)
    return;
  for (char **p = *v; *p; p++)
    free(*p);
  free(*v);
}

#define cleanup_free __attribute__((cleanup(sf_cleanup_freep)))
#define cleanup_close __attribute__((cleanup(sf_cleanup_closep)))
#define cleanup_file __attribute__((cleanup(sf_cleanup_fclosep)))
#define cleanup_dir __attribute__((cleanup(sf_cleanup_closedirp)))
#define cleanup_error __attribute__((cleanup(sf_cleanup_errorp)))
#define cleanup_strv __attribute__((cleanup(sf_cleanup_strvp)))

static inline void *sf_steal_ptr_impl(void *pp)
{
  void **p = (void **)pp;
  void *v = *p;
  *p = NULL;
  return v;
}
#define sf_steal_ptr(pp) sf_steal_ptr_impl((void *)(pp))
static inline int sf_steal_fd(int *fd)
{
  int v = *fd;
  *fd = -1;
  return v;
}

#endif
