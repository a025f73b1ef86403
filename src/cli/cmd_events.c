/* `sandforge events [--since TIME] [--event E] [--sandbox ID] [--limit N]
 * [--follow] [--json]`: the event log (GET /v1/events) as a table or as JSON
 * lines.  --follow streams it (Accept: text/event-stream): the backlog that
 * matches the filters, then live events, one line each, flushed as they come;
 * when the connection drops it reconnects with Last-Event-ID so nothing is
 * missed or repeated. */
#include "cli/cli.h"
#include "cli/cli_util.h"
#include "cli/client.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  const char *since, *event, *sandbox;
  long limit; /* 0: no limit */
  bool as_json;
  long printed;
} options;

static int usage(FILE *out, int rc)
{
  fprintf(out, "usage: sandforge events [--since TIME] [--event E] [--sandbox ID] [--limit N] "
               "[--follow] [--json]\n"
               "  TIME: RFC 3339, or a duration such as 2h meaning that long ago\n"
               "  E: an event name or prefix wildcard (sandbox.*)\n"
               "  --follow: stream new events until interrupted (--limit N: stop after N)\n");
  return rc;
}

static void print_header(const options *o)
{
  if (!o->as_json)
    printf("%-24s  %-18s  %-36s  %-20s  %s\n", "TIMESTAMP", "EVENT", "SANDBOX", "ID", "DETAILS");
}

/* One line per event: the payload as compact JSON, or a table row whose
 * details are the event-specific fields people filter on. */
static void print_event(const options *o, json_t *ev)
{
  if (o->as_json) {
    char *s = json_dumps(ev, JSON_COMPACT);
    printf("%s\n", s ? s : "{}");
    free(s);
  } else {
    static const char *const keys[] = {"reason",       "resource", "violation_type", "syscall",
                                       "blocked_path", "command",  "state"};
    json_t *data = json_object_get(ev, "data");
    char details[256] = "";
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
      const char *v = sf_cli_str(data, keys[i], NULL);
      size_t n = strlen(details);
      if (v && n < sizeof(details))
        snprintf(details + n, sizeof(details) - n, "%s%s=%s", n ? " " : "", keys[i], v);
    }
    printf("%-24s  %-18s  %-36s  %-20s  %s\n", sf_cli_str(ev, "timestamp", "-"),
           sf_cli_str(ev, "event", "-"), sf_cli_str(ev, "sandbox_id", "-"),
           sf_cli_str(ev, "id", "-"), details);
  }
}

static int build_path(const options *o, char *path, size_t cap, const char *limit,
                      const char *cursor)
{
  snprintf(path, cap, "/v1/events");
  return sf_cli_query_add(path, cap, "since", o->since) < 0 ||
                 sf_cli_query_add(path, cap, "event", o->event) < 0 ||
                 sf_cli_query_add(path, cap, "sandboxId", o->sandbox) < 0 ||
                 sf_cli_query_add(path, cap, "limit", limit) < 0 ||
                 sf_cli_query_add(path, cap, "cursor", cursor) < 0
             ? -1
             : 0;
}

/* The paginated log: pages of up to 1000 until it is exhausted or --limit. */
static int list(options *o)
{
  char cursor[32] = "";
  print_header(o);
  for (;;) {
    long want = o->limit ? o->limit - o->printed : 1000;
    char path[2048], page[24];
    snprintf(page, sizeof(page), "%ld", want > 1000 ? 1000 : want);
    if (build_path(o, path, sizeof(path), page, *cursor ? cursor : NULL) < 0)
      return 1;
    json_t *j = sf_client_json("GET", path, NULL);
    if (j == NULL)
      return 1;
    json_t *items = json_object_get(j, "items"), *ev;
    size_t i;
    json_array_foreach(items, i, ev)
    {
      if (o->limit && o->printed >= o->limit)
        break;
      print_event(o, ev);
      o->printed++;
    }
    const char *next = sf_cli_str(j, "nextCursor", NULL);
    bool more = json_array_size(items) > 0 && next && strcmp(next, cursor) != 0 &&
                strlen(next) < sizeof(cursor) && (!o->limit || o->printed < o->limit);
    if (more)
      snprintf(cursor, sizeof(cursor), "%s", next);
    json_decref(j);
    if (!more)
      return 0;
  }
}

/* ---- --follow: an incremental text/event-stream parser ---- */

typedef struct {
  options *o;
  char *line; /* bytes after the last complete line (events span chunks) */
  size_t line_len;
  char *data; /* the "data:" lines of the event being assembled */
  size_t data_len;
  char id[32];      /* "id:" of the event being assembled */
  char last_id[32]; /* id of the last event printed: Last-Event-ID on reconnect */
  bool got_bytes;   /* anything arrived in this connection */
  bool raw;         /* the body is a JSON document (an error), not a stream */
  char *body;
  size_t body_len;
} stream;

static void dispatch(stream *s)
{
  json_t *ev = s->data_len ? json_loads(s->data, 0, NULL) : NULL;
  if (json_is_object(ev)) {
    /* Listing items carry "seq"; the stream carries it as the SSE id: add
     * it so both modes print the same objects. */
    char *end = NULL;
    long long seq = strtoll(s->id, &end, 10);
    if (json_object_get(ev, "seq") == NULL && *s->id && end && *end == '\0')
      json_object_set_new(ev, "seq", json_integer(seq));
    print_event(s->o, ev);
    fflush(stdout);
    s->o->printed++;
  }
  json_decref(ev);
  if (*s->id)
    memcpy(s->last_id, s->id, sizeof(s->last_id));
  s->data_len = 0;
  s->id[0] = '\0';
  if (s->o->limit && s->o->printed >= s->o->limit) {
    /* Done.  Aborting the transfer from here would make the client report a
     * transport error, so end the process the way an interrupt would, but
     * successfully (stdout is flushed above). */
    exit(0);
  }
}

static void field(stream *s, const char *line)
{
  if (*line == '\0') {
    dispatch(s);
    return;
  }
  if (*line == ':') /* comment: keep-alive */
    return;
  const char *colon = strchr(line, ':');
  size_t klen = colon ? (size_t)(colon - line) : strlen(line);
  const char *value = colon ? colon + 1 : "";
  if (*value == ' ')
    value++;
  if (klen == 4 && strncmp(line, "data", 4) == 0) {
    if (s->data_len)
      sf_cli_buf_append(&s->data, &s->data_len, "\n", 1);
    sf_cli_buf_append(&s->data, &s->data_len, value, strlen(value));
  } else if (klen == 2 && strncmp(line, "id", 2) == 0) {
    snprintf(s->id, sizeof(s->id), "%s", value);
  } /* "event:" repeats the payload's "event"; "retry:" does not apply to us */
}

static size_t on_stream(char *p, size_t size, size_t n, void *ud)
{
  stream *s = ud;
  size_t add = size * n;
  if (!s->got_bytes && add)
    s->raw = p[0] == '{';
  s->got_bytes = s->got_bytes || add;
  if (s->raw)
    return sf_cli_buf_append(&s->body, &s->body_len, p, add) == 0 ? add : 0;
  if (sf_cli_buf_append(&s->line, &s->line_len, p, add) < 0)
    return 0;
  char *start = s->line, *nl;
  while ((nl = memchr(start, '\n', s->line_len - (size_t)(start - s->line))) != NULL) {
    *nl = '\0';
    if (nl > start && nl[-1] == '\r')
      nl[-1] = '\0';
    field(s, start);
    start = nl + 1;
  }
  s->line_len -= (size_t)(start - s->line);
  memmove(s->line, start, s->line_len + 1);
  return add;
}

static int follow(options *o)
{
  stream s = {.o = o};
  bool ever_connected = false;
  unsigned delay = 1;
  print_header(o);
  fflush(stdout);
  for (;;) {
    char path[2048], last[64];
    if (build_path(o, path, sizeof(path), NULL, NULL) < 0)
      return 1;
    snprintf(last, sizeof(last), "Last-Event-ID: %s", s.last_id);
    char *headers[] = {"Accept: text/event-stream", *s.last_id ? last : NULL, NULL};
    long status = 0;
    s.got_bytes = s.raw = false;
    s.line_len = s.data_len = s.body_len = 0;
    s.id[0] = '\0';
    int rc = sf_client_stream("GET", path, NULL, headers, on_stream, &s, &status);
    if (rc == 0 && (status < 200 || status >= 300 || s.raw)) {
      sf_resp r = {.status = status, .body = s.body ? s.body : "", .len = s.body_len};
      if (status >= 200 && status < 300)
        fprintf(stderr, "sandforge: the supervisor answered without streaming (no "
                        "text/event-stream support?)\n");
      else
        sf_client_print_error(&r);
      break;
    }
    if (s.got_bytes) {
      ever_connected = true;
      delay = 1;
    }
    if (rc < 0 && !ever_connected)
      break; /* never reached the supervisor: the client said why */
    /* The stream ended (supervisor restarted, connection dropped): resume
     * after the last event printed, backing off while it stays down. */
    fprintf(stderr, "sandforge: the event stream ended; reconnecting in %u s\n", delay);
    sleep(delay);
    delay = delay < 8 ? delay * 2 : 10;
  }
  free(s.line);
  free(s.data);
  free(s.body);
  return 1;
}

int cli_events(int argc, char **argv)
{
  static const struct option opts[] = {
      {"since", required_argument, NULL, 's'},   {"event", required_argument, NULL, 'e'},
      {"sandbox", required_argument, NULL, 'b'}, {"limit", required_argument, NULL, 'l'},
      {"follow", no_argument, NULL, 'f'},        {"json", no_argument, NULL, 'j'},
      {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
  options o = {0};
  char since[64];
  bool follow_mode = false;
  int c;
  optind = 0;
  while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
    char *end = NULL;
    switch (c) {
    case 's':
      if (sf_cli_time_arg(optarg, since, sizeof(since)) < 0)
        return 2;
      o.since = since;
      break;
    case 'e':
      o.event = optarg;
      break;
    case 'b':
      o.sandbox = optarg;
      break;
    case 'l':
      o.limit = strtol(optarg, &end, 10);
      if (end == optarg || *end || o.limit <= 0) {
        fprintf(stderr, "sandforge events: --limit must be a positive number\n");
        return usage(stderr, 2);
      }
      break;
    case 'f':
      follow_mode = true;
      break;
    case 'j':
      o.as_json = true;
      break;
    case 'h':
      return usage(stdout, 0);
    default:
      return usage(stderr, 2);
    }
  }
  if (optind < argc) {
    fprintf(stderr, "sandforge events: unexpected argument '%s'\n", argv[optind]);
    return usage(stderr, 2);
  }
  return follow_mode ? follow(&o) : list(&o);
}
