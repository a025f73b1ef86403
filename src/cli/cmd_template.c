/* `sandforge template ls | add NAME DIR | rm NAME`. */
#include "cli/cli.h"
#include "cli/client.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_template(int argc, char **argv)
{
  bool as_json = sf_client_take_flag(&argc, argv, "--json");
  if (argc >= 2 && strcmp(argv[1], "ls") == 0) {
    json_t *j = sf_client_json("GET", "/v1/templates", NULL);
    if (j == NULL)
      return 1;
    size_t i;
    json_t *t;
    if (as_json) {
      char *s = json_dumps(j, JSON_INDENT(2));
      printf("%s\n", s);
      free(s);
    } else {
      printf("%-24s %s\n", "NAME", "SOURCE");
      json_array_foreach(json_object_get(j, "items"), i, t)
          printf("%-24s %s\n", json_string_value(json_object_get(t, "name")),
                 json_string_value(json_object_get(t, "source")));
    }
    json_decref(j);
    return 0;
  }
  if (argc >= 4 && strcmp(argv[1], "add") == 0) {
    char abs[PATH_MAX];
    if (realpath(argv[3], abs) == NULL) {
      perror("sandforge template add");
      return 1;
    }
    json_t *body = json_pack("{s:s,s:s}", "name", argv[2], "path", abs);
    json_t *r = sf_client_json("POST", "/v1/templates", body);
    json_decref(body);
    json_decref(r);
    return r ? 0 : 1;
  }
  if (argc >= 3 && strcmp(argv[1], "rm") == 0) {
    char path[300];
    snprintf(path, sizeof(path), "/v1/templates/%s", argv[2]);
    json_t *r = sf_client_json("DELETE", path, NULL);
    json_decref(r);
    return r ? 0 : 1;
  }
  fprintf(stderr, "usage: sandforge template ls [--json] | add NAME ROOTFS_DIR | rm NAME\n");
  return 2;
}
