#include "webhook/filter.h"
#include "common/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const catalog[] = {"sandbox.created",    "sandbox.started",
                                      "sandbox.paused",     "sandbox.resumed",
                                      "sandbox.deleted",    "sandbox.expired",
                                      "sandbox.destroyed",  "sandbox.failed",
                                      "task.timeout",       "resource.exhausted",
                                      "security.violation", "snapshot.created",
                                      "webhook.test",       NULL};

const char *const *sf_event_catalog(void)
{
  return catalog;
}

bool sf_event_known(const char *name)
{
  for (const char *const *c = catalog; *c; c++)
    if (strcmp(*c, name) == 0)
      return true;
  return false;
}

static bool pattern_match(const char *pat, const char *event)
{
  if (strcmp(pat, "*") == 0)
    return true;
  size_t n = strlen(pat);
  if (n >= 2 && strcmp(pat + n - 2, ".*") == 0)
    return strncmp(event, pat, n - 1) == 0; /* "sandbox.*" matches "sandbox." + anything */
  return strcmp(pat, event) == 0;
}

bool sf_filter_match(char *const *patterns, const char *event)
{
  if (patterns == NULL || patterns[0] == NULL)
    return true;
  for (char *const *p = patterns; *p; p++)
    if (pattern_match(*p, event))
      return true;
  return false;
}

int sf_filter_parse(const char *spec, char ***out, sf_error_t *err)
{
  size_t cap = 4, n = 0;
  char **list = calloc(cap + 1, sizeof(char *));
  char *copy = strdup(spec ? spec : "");
  char *save = NULL;
  for (char *tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
    bool ok = strcmp(tok, "*") == 0 || sf_event_known(tok);
    size_t l = strlen(tok);
    if (!ok && l > 2 && strcmp(tok + l - 2, ".*") == 0)
      for (const char *const *c = catalog; *c && !ok; c++)
        ok = pattern_match(tok, *c);
    if (!ok) {
      sf_error_make(err, EINVAL,
                    "unknown event '%s' in filter (known: sandbox.*, task.timeout, "
                    "resource.exhausted, security.violation, snapshot.created, webhook.test, *)",
                    tok);
      free(copy);
      sf_strv_free(list);
      return -1;
    }
    if (n == cap) {
      cap *= 2;
      list = realloc(list, (cap + 1) * sizeof(char *));
    }
    list[n++] = strdup(tok);
    list[n] = NULL;
  }
  free(copy);
  *out = list;
  return 0;
}
