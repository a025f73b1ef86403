/* `sandforge files put ID LOCAL REMOTE | get ID REMOTE [LOCAL|-] | ls ID DIR`. */
#include "cli/cli.h"
#include "cli/client.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
  fprintf(out, "usage: sandforge files put ID LOCAL REMOTE\n"
               "       sandforge files get ID REMOTE [LOCAL|-]\n"
               "       sandforge files ls ID DIR [--json]\n");
}

static char *url_escape(const char *s)
{
  char *o = malloc(strlen(s) * 3 + 1), *p = o;
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
        strchr("-_.~/", ch))
      *p++ = (char)ch;
    else
      p += sprintf(p, "%%%02X", ch);
  }
  *p = '\0';
  return o;
}

static int put(const char *id, const char *local, const char *remote)
{
  cleanup_free char *data = NULL;
  size_t len = 0;
  sf_error_t err = NULL;
  if (sf_read_file(local, &data, &len, &err) < 0) {
    fprintf(stderr, "sandforge: %s\n", sf_error_msg(&err));
    sf_error_release(&err);
    return 1;
  }
  cleanup_free char *base = NULL, *token = NULL;
  if (sf_client_execd(id, &base, &token) < 0)
    return 1;
  const char *b = "sandforge-cli-boundary-7f3a";
  json_t *meta = json_pack("{s:s,s:i}", "path", remote, "mode", 644);
  cleanup_free char *m = json_dumps(meta, JSON_COMPACT);
  json_decref(meta);
  char *body = NULL;
  size_t blen = 0;
  FILE *f = open_memstream(&body, &blen);
  fprintf(f,
          "--%s\r\nContent-Disposition: form-data; name=\"metadata\"; filename=\"metadata\"\r\n"
          "Content-Type: application/json\r\n\r\n%s\r\n--%s\r\nContent-Disposition: form-data; "
          "name=\"file\"; "
          "filename=\"file\"\r\nContent-Type: application/octet-stream\r\n\r\n",
          b, m, b);
  fwrite(data, 1, len, f);
  fprintf(f, "\r\n--%s--\r\n", b);
  fclose(f);
  char url[1024], ct[128];
  snprintf(url, sizeof(url), "%s/files/upload", base);
  snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%s", b);
  char *headers[] = {token, NULL};
  sf_resp r;
  int rc = sf_client_request("POST", url, body, blen, ct, headers, &r);
  free(body);
  if (rc == 0 && (r.status < 200 || r.status >= 300))
    sf_client_print_error(&r), rc = -1;
  sf_resp_free(&r);
  return rc < 0 ? 1 : 0;
}

static int get(const char *id, const char *remote, const char *local)
{
  cleanup_free char *base = NULL, *token = NULL, *esc = url_escape(remote);
  if (sf_client_execd(id, &base, &token) < 0)
    return 1;
  char url[4200];
  snprintf(url, sizeof(url), "%s/files/download?path=%s", base, esc);
  char *headers[] = {token, NULL};
  sf_resp r;
  if (sf_client_request("GET", url, NULL, 0, NULL, headers, &r) < 0)
    return 1;
  int code = 0;
  if (r.status != 200) {
    sf_client_print_error(&r);
    code = 1;
  } else {
    FILE *f = (local == NULL || strcmp(local, "-") == 0) ? stdout : fopen(local, "wb");
    if (f == NULL || fwrite(r.body, 1, r.len, f) != r.len) {
      perror("sandforge: writing output");
      code = 1;
    }
    if (f && f != stdout)
      fclose(f);
  }
  sf_resp_free(&r);
  return code;
}

static int ls(const char *id, const char *dir, bool as_json)
{
  cleanup_free char *base = NULL, *token = NULL, *esc = url_escape(dir);
  if (sf_client_execd(id, &base, &token) < 0)
    return 1;
  char url[4200];
  snprintf(url, sizeof(url), "%s/directories/list?path=%s", base, esc);
  char *headers[] = {token, NULL};
  sf_resp r;
  if (sf_client_request("GET", url, NULL, 0, NULL, headers, &r) < 0)
    return 1;
  if (r.status != 200) {
    sf_client_print_error(&r);
    sf_resp_free(&r);
    return 1;
  }
  json_t *arr = json_loads(r.body, 0, NULL);
  sf_resp_free(&r);
  if (as_json) {
    char *s = json_dumps(arr, JSON_INDENT(2));
    printf("%s\n", s);
    free(s);
  } else {
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
        printf("%-9s %4lld %10lld  %s\n", json_string_value(json_object_get(e, "type")),
               (long long)json_integer_value(json_object_get(e, "mode")),
               (long long)json_integer_value(json_object_get(e, "size")),
               json_string_value(json_object_get(e, "path")));
  }
  json_decref(arr);
  return 0;
}

int cli_files(int argc, char **argv)
{
  bool as_json = sf_client_take_flag(&argc, argv, "--json");
  if (argc >= 5 && strcmp(argv[1], "put") == 0)
    return put(argv[2], argv[3], argv[4]);
  if (argc >= 4 && strcmp(argv[1], "get") == 0)
    return get(argv[2], argv[3], argc >= 5 ? argv[4] : NULL);
  if (argc >= 4 && strcmp(argv[1], "ls") == 0)
    return ls(argv[2], argv[3], as_json);
  usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
  return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
}
