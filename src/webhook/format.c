/* Message formats (webhooks.md §7).  `json` sends the event payload as is;
 * `wecom`, `slack` and `feishu` turn it into the native message of that chat
 * bot so an endpoint can be a group bot's URL directly.  The formatted bytes
 * are what gets signed and sent.
 *
 * WeCom and Feishu answer HTTP 200 even when they reject a message and put
 * the error in the body (`errcode` / `code`), so for them a 2xx is only a
 * success when that code is 0. */
#include "common/cleanup.h"
#include "webhook/webhook_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* WeCom rejects markdown over 4096 bytes; Slack/Feishu allow more, but a
 * notification that long is not read anyway. */
#define MAX_TEXT 3800

/* Values come from inside the sandbox (attempted_command, metadata): one
 * line each, and in markdown inside a code span with backticks replaced, so
 * a workload cannot forge lines, links or formatting in the ops chat. */
static void put_value(FILE *f, json_t *v, bool md)
{
  cleanup_free char *dumped =
      json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  const char *s = json_is_string(v) ? json_string_value(v) : dumped ? dumped : "?";
  if (md)
    fputc('`', f);
  for (; *s; s++)
    fputc(*s == '\n' || *s == '\r' ? ' ' : (md && *s == '`') ? '\'' : *s, f);
  if (md)
    fputc('`', f);
}

/* Human-readable lines: a title, then sandbox, time and the event's own
 * fields.  `md`: WeCom markdown (bold title, quoted lines, code ids). */
static char *render_text(json_t *ev, bool md)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (f == NULL)
    return NULL;
  const char *type = json_string_value(json_object_get(ev, "event"));
  const char *sid = json_string_value(json_object_get(ev, "sandbox_id"));
  const char *tpl = json_string_value(json_object_get(ev, "template_id"));
  const char *ts = json_string_value(json_object_get(ev, "timestamp"));
  const char *q = md ? "> " : "";
  if (md)
    fprintf(f, "**Sandforge: %s**\n", type ? type : "event");
  else
    fprintf(f, "[Sandforge] %s\n", type ? type : "event");
  if (sid)
    fprintf(f, md ? "%ssandbox: `%s`%s%s%s\n" : "%ssandbox: %s%s%s%s\n", q, sid,
            tpl ? " (template " : "", tpl ? tpl : "", tpl ? ")" : "");
  if (ts)
    fprintf(f, "%stime: %s\n", q, ts);
  const char *key;
  json_t *v;
  json_object_foreach(json_object_get(ev, "data"), key, v)
  {
    if (strcmp(key, "sandbox_id") == 0 || strcmp(key, "template_id") == 0 || json_is_null(v) ||
        (json_is_object(v) && json_object_size(v) == 0))
      continue;
    fprintf(f, "%s%s: ", q, key);
    put_value(f, v, md);
    fputc('\n', f);
  }
  fprintf(f, "%sevent id: %s", q, json_string_value(json_object_get(ev, "id")));
  fclose(f);
  if (len > MAX_TEXT) { /* cut on a UTF-8 boundary */
    size_t cut = MAX_TEXT;
    while (cut > 0 && ((unsigned char)buf[cut] & 0xc0) == 0x80)
      cut--;
    memcpy(buf + cut, "…", sizeof("…"));
  }
  return buf;
}

char *sf_wh_format_body(const char *format, const char *payload, sf_error_t *err)
{
  if (format == NULL || strcmp(format, "json") == 0)
    return strdup(payload);
  json_error_t je;
  json_auto_t *ev = json_loads(payload, 0, &je);
  if (ev == NULL) {
    sf_error_make(err, EINVAL, "event payload is not JSON: %s", je.text);
    return NULL;
  }
  bool wecom = strcmp(format, "wecom") == 0;
  cleanup_free char *text = render_text(ev, wecom);
  if (text == NULL) {
    sf_error_make(err, ENOMEM, "out of memory");
    return NULL;
  }
  json_auto_t *msg = NULL;
  if (wecom)
    msg = json_pack("{s:s,s:{s:s}}", "msgtype", "markdown", "markdown", "content", text);
  else if (strcmp(format, "slack") == 0)
    msg = json_pack("{s:s}", "text", text);
  else if (strcmp(format, "feishu") == 0)
    msg = json_pack("{s:s,s:{s:s}}", "msg_type", "text", "content", "text", text);
  if (msg == NULL) {
    sf_error_make(err, EINVAL, "unknown webhook format '%s'", format);
    return NULL;
  }
  return json_dumps(msg, JSON_COMPACT);
}

bool sf_wh_response_reports_error(const char *format, const char *body, char *why, size_t len)
{
  const char *field = NULL;
  if (format && strcmp(format, "wecom") == 0)
    field = "errcode";
  else if (format && strcmp(format, "feishu") == 0)
    field = "code";
  if (field == NULL || body == NULL)
    return false;
  json_auto_t *r = json_loads(body, 0, NULL);
  json_t *code = json_object_get(r, field);
  if (code == NULL && strcmp(field, "code") == 0) /* Feishu's older bot API */
    code = json_object_get(r, "StatusCode");
  if (!json_is_integer(code) || json_integer_value(code) == 0)
    return false;
  const char *msg =
      json_string_value(json_object_get(r, strcmp(field, "errcode") == 0 ? "errmsg" : "msg"));
  snprintf(why, len, "receiver answered %s %lld: %s", field, (long long)json_integer_value(code),
           msg ? msg : "(no message)");
  return true;
}
