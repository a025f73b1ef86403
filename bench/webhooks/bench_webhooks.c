/* Webhook delivery benchmarks (figures, not assertions).
 *
 * Everything runs in this process against a fresh store in a temp dir and an
 * in-process receiver (libmicrohttpd, pool of 2 threads, 204 to every POST,
 * arrival time per webhook-id on CLOCK_MONOTONIC):
 *   1. throughput: N sandbox.paused events appended in batches while the
 *      dispatcher runs; deliveries/s from the first commit until the receiver
 *      has seen all N.  Baseline: `wrk` POSTing a body of the same size with
 *      the same headers to the same receiver over max_in_flight connections.
 *   2. latency: one event per transaction at RATE/s (absolute deadlines);
 *      receiver arrival - return of sf_store_commit.  Baseline: a plain
 *      libcurl POST per event at the same rate to the same receiver.
 * Deliveries are signed (whsec_ secret), as real ones are.
 *
 * Usage: bench_webhooks [EVENTS=20000] [RATE=1000] [SECONDS=5] [ROUNDS=2]
 * Environment: WRK=/path/to/wrk, or WRK=none to skip the wrk baseline. */
#include <curl/curl.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "store/store.h"
#include "webhook/signature.h"
#include "webhook/webhook.h"

/* The Standard Webhooks test-vector secret: any whsec_ secret signs the same way. */
#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define MAX_IN_FLIGHT 16
#define BATCH 100
#define EVENT_TYPE "sandbox.paused"
/* A slow dispatcher is measured over what it delivered in this long. */
#define TPUT_WAIT_S 30

static void die(const char *what, sf_error_t *err)
{
  fprintf(stderr, "bench_webhooks: %s: %s\n", what, err ? sf_error_msg(err) : strerror(errno));
  exit(1);
}

static int cmp_i64(const void *a, const void *b)
{
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* v must be sorted. */
static int64_t pct(const int64_t *v, size_t n, double p)
{
  return v[(size_t)(p * (double)(n - 1) + 0.5)];
}

/* ---- the receiver ------------------------------------------------------- */

static struct {
  struct MHD_Daemon *daemon;
  struct MHD_Response *empty;
  int port;
  int64_t *arrival; /* by event index; 0 = not seen yet */
  size_t cap, alloc;
  int64_t distinct, total, dups; /* __atomic */
} rx;

/* Allocated once (rx_start): a late request of the previous phase never
 * touches freed memory. */
static void rx_reset(size_t cap)
{
  if (cap > rx.alloc)
    cap = rx.alloc;
  memset(rx.arrival, 0, rx.alloc * sizeof(int64_t));
  rx.cap = cap;
  __atomic_store_n(&rx.distinct, 0, __ATOMIC_SEQ_CST);
  __atomic_store_n(&rx.total, 0, __ATOMIC_SEQ_CST);
  __atomic_store_n(&rx.dups, 0, __ATOMIC_SEQ_CST);
}

/* Event ids of this benchmark are "evt_" + the index as 16 hex digits. */
static void rx_record(const char *id, int64_t now)
{
  __atomic_add_fetch(&rx.total, 1, __ATOMIC_RELAXED);
  if (id == NULL || strncmp(id, "evt_", 4) != 0)
    return;
  char *end;
  errno = 0;
  unsigned long long i = strtoull(id + 4, &end, 16);
  if (errno || *end || end == id + 4 || i >= rx.cap)
    return;
  int64_t zero = 0;
  if (__atomic_compare_exchange_n(&rx.arrival[i], &zero, now, false, __ATOMIC_SEQ_CST,
                                  __ATOMIC_SEQ_CST))
    __atomic_add_fetch(&rx.distinct, 1, __ATOMIC_SEQ_CST);
  else
    __atomic_add_fetch(&rx.dups, 1, __ATOMIC_RELAXED);
}

static enum MHD_Result rx_handle(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **req)
{
  (void)cls, (void)url, (void)version, (void)upload;
  if (*req == NULL) { /* headers only so far */
    *req = &rx;
    return MHD_YES;
  }
  if (*upload_size) { /* the body: read and dropped */
    *upload_size = 0;
    return MHD_YES;
  }
  /* the whole request is in: that is the arrival */
  if (strcmp(method, "POST") == 0)
    rx_record(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-id"), sf_mono_us());
  return MHD_queue_response(c, MHD_HTTP_NO_CONTENT, rx.empty);
}

static void rx_start(size_t max_events)
{
  rx.alloc = max_events;
  rx.arrival = calloc(max_events, sizeof(int64_t));
  if (rx.arrival == NULL)
    die("calloc", NULL);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof(a);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1024) < 0 ||
      getsockname(fd, (struct sockaddr *)&a, &alen) < 0)
    die("receiver socket", NULL);
  rx.port = ntohs(a.sin_port);
  rx.empty = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  rx.daemon =
      MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, rx_handle,
                       NULL, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, 2u,
                       MHD_OPTION_CONNECTION_LIMIT, 4096u, MHD_OPTION_END);
  if (rx.daemon == NULL || rx.empty == NULL)
    die("MHD_start_daemon", NULL);
}

static void rx_stop(void)
{
  MHD_stop_daemon(rx.daemon);
  MHD_destroy_response(rx.empty);
  free(rx.arrival);
  rx.arrival = NULL;
}

/* Wait until the receiver has `n` distinct ids or `timeout_s` passed. */
static void rx_wait(size_t n, int timeout_s)
{
  int64_t deadline = sf_mono_us() + (int64_t)timeout_s * 1000000;
  while ((size_t)__atomic_load_n(&rx.distinct, __ATOMIC_SEQ_CST) < n && sf_mono_us() < deadline)
    usleep(500);
}

/* ---- a store + dispatcher in a fresh directory ------------------------- */

typedef struct {
  char dir[PATH_MAX];
  sf_store *st;
  sf_webhooks *wh;
} rig;

static void rig_open(rig *r, const char *base, const char *name)
{
  sf_error_t err = NULL;
  char path[PATH_MAX + 16], url[64];
  snprintf(r->dir, sizeof(r->dir), "%s/%s", base, name);
  if (sf_mkdir_p(r->dir, 0700, &err) < 0)
    die("mkdir", &err);
  snprintf(path, sizeof(path), "%s/sandforge.db", r->dir);
  if (sf_store_open(path, &r->st, &err) < 0)
    die("sf_store_open", &err);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", rx.port);
  char mif[16];
  snprintf(mif, sizeof(mif), "%d", MAX_IN_FLIGHT);
  sf_webhook_settings *s = sf_webhook_settings_new();
  if (sf_webhook_settings_ini(s, "webhook", "bench", "url", url, &err) < 0 ||
      sf_webhook_settings_ini(s, "webhook", "bench", "secret", SECRET, &err) < 0 ||
      sf_webhook_settings_ini(s, "webhooks", NULL, "max_in_flight", mif, &err) < 0)
    die("webhook settings", &err);
  if (sf_webhooks_start(r->st, s, &r->wh, &err) < 0)
    die("sf_webhooks_start", &err);
  sf_webhook_settings_free(s);
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
  (void)sb, (void)flag, (void)ftw;
  return remove(p);
}

static void rm_tree(const char *dir)
{
  if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
    fprintf(stderr, "bench_webhooks: cannot remove %s: %s\n", dir, strerror(errno));
}

static void rig_close(rig *r)
{
  sf_webhooks_stop(r->wh);
  sf_store_close(r->st);
  rm_tree(r->dir);
}

static json_t *event_data(void)
{
  return json_pack("{s:s,s:s,s:s,s:s}", "sandbox_id", "sb_bench0001", "template_id", "host",
                   "state", "Paused", "reason", "api");
}

static void fill_event(sf_event *ev, uint64_t idx, json_t *data)
{
  memset(ev, 0, sizeof(*ev));
  snprintf(ev->id, sizeof(ev->id), "evt_%016" PRIx64, idx);
  ev->type = EVENT_TYPE;
  ev->sandbox_id = "sb_bench0001";
  ev->template_id = "host";
  ev->data = data;
}

/* The headers a delivery of `body` carries (webhooks.md §3), signed as the
 * dispatcher signs, for the baselines.  Caller frees with curl_slist_free_all. */
static struct curl_slist *delivery_headers(const char *id, const char *body)
{
  int64_t ts = sf_now_ms() / 1000;
  char h[512];
  char *std = NULL, *str = NULL;
  char *secrets[] = {SECRET, NULL};
  sf_error_t err = NULL;
  if (sf_sig_headers(secrets, id, ts, body, strlen(body), &std, &str, &err) < 0)
    die("sign", &err);
  struct curl_slist *l = curl_slist_append(NULL, "Content-Type: application/json");
  l = curl_slist_append(l, "User-Agent: Sandforge-Webhooks/0.1.0");
  snprintf(h, sizeof(h), "webhook-id: %s", id);
  l = curl_slist_append(l, h);
  snprintf(h, sizeof(h), "webhook-timestamp: %lld", (long long)ts);
  l = curl_slist_append(l, h);
  l = curl_slist_append(l, "X-Sandforge-Event: " EVENT_TYPE);
  l = curl_slist_append(l, "X-Sandforge-Delivery: dlv_0123456789abcdef");
  l = curl_slist_append(l, "X-Sandforge-Attempt: 1");
  snprintf(h, sizeof(h), "webhook-signature: %s", std);
  l = curl_slist_append(l, h);
  snprintf(h, sizeof(h), "X-Sandforge-Signature: %s", str);
  l = curl_slist_append(l, h);
  l = curl_slist_append(l, "Expect:");
  free(std);
  free(str);
  return l;
}

/* ---- 1. throughput ------------------------------------------------------ */

/* Deliveries/s of the dispatcher; *commit_s = time spent appending. */
static double dispatcher_throughput(const char *base, int round, int n, double *commit_s)
{
  rig r;
  char name[32];
  snprintf(name, sizeof(name), "tput%d", round);
  rx_reset((size_t)n);
  rig_open(&r, base, name);
  json_t *data = event_data();
  sf_error_t err = NULL;
  int64_t t0 = 0, tc = 0;
  for (int i = 0; i < n; i += BATCH) {
    if (sf_store_begin(r.st, &err) < 0)
      die("begin", &err);
    for (int j = i; j < n && j < i + BATCH; j++) {
      sf_event ev;
      fill_event(&ev, (uint64_t)j, data);
      if (sf_store_event_append(r.st, &ev, &err) < 0)
        die("append", &err);
    }
    if (sf_store_commit(r.st, &err) < 0)
      die("commit", &err);
    if (i == 0)
      t0 = sf_mono_us();
  }
  tc = sf_mono_us();
  rx_wait((size_t)n, TPUT_WAIT_S);
  int64_t last = 0;
  size_t got = 0;
  for (int i = 0; i < n; i++)
    if (rx.arrival[i]) {
      got++;
      if (rx.arrival[i] > last)
        last = rx.arrival[i];
    }
  rig_close(&r);
  json_decref(data);
  *commit_s = (double)(tc - t0) / 1e6;
  if (got < (size_t)n)
    printf("  WARNING: only %zu of %d events arrived within %d s (rate over those)\n", got, n,
           TPUT_WAIT_S);
  if (rx.dups)
    printf("  note: %" PRId64 " duplicate deliveries (at least once)\n", rx.dups);
  return last > t0 ? (double)got / ((double)(last - t0) / 1e6) : 0;
}

static int find_in_path(const char *prog, char *out, size_t len)
{
  const char *path = getenv("PATH");
  char *copy = strdup(path ? path : "/usr/bin:/bin");
  int found = -1;
  for (char *save = NULL, *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
    snprintf(out, len, "%s/%s", d, prog);
    if (access(out, X_OK) == 0) {
      found = 0;
      break;
    }
  }
  free(copy);
  return found;
}

/* Requests/s of wrk (-t1: one client thread, like the dispatcher) with
 * MAX_IN_FLIGHT connections posting `body` with delivery headers; 0 on failure. */
static double wrk_throughput(const char *wrk, const char *base, const char *body, int seconds)
{
  char script[PATH_MAX + 16], cmd[2 * PATH_MAX + 128], line[512];
  snprintf(script, sizeof(script), "%s/post.lua", base);
  FILE *f = fopen(script, "w");
  if (f == NULL)
    die("write wrk script", NULL);
  /* The body is JSON without "]==]", so a level-2 long bracket holds it verbatim. */
  fprintf(f, "wrk.method = \"POST\"\nwrk.body = [==[%s]==]\n", body);
  struct curl_slist *hs = delivery_headers("evt_wrk_baseline", body);
  for (struct curl_slist *h = hs; h; h = h->next) {
    const char *colon = strchr(h->data, ':');
    if (colon == NULL || colon[1] == '\0') /* "Expect:" means "none" to curl */
      continue;
    fprintf(f, "wrk.headers[\"%.*s\"] = \"%s\"\n", (int)(colon - h->data), h->data, colon + 2);
  }
  curl_slist_free_all(hs);
  fclose(f);
  snprintf(cmd, sizeof(cmd), "'%s' -t1 -c%d -d%ds -s '%s' http://127.0.0.1:%d/hook 2>&1", wrk,
           MAX_IN_FLIGHT, seconds, script, rx.port);
  rx_reset(0);
  FILE *p = popen(cmd, "r");
  double rps = 0;
  long non2xx = 0;
  while (p && fgets(line, sizeof(line), p)) {
    if (strncmp(line, "Requests/sec:", 13) == 0)
      rps = strtod(line + 13, NULL);
    if (strstr(line, "Non-2xx"))
      non2xx = strtol(strchr(line, ':') + 1, NULL, 10);
  }
  int st = p ? pclose(p) : -1;
  unlink(script);
  if (st != 0 || non2xx) {
    printf("  wrk failed (status %d, %ld non-2xx)\n", st, non2xx);
    return 0;
  }
  return rps;
}

static void bench_throughput(const char *base, int n, int rounds)
{
  json_t *data = event_data();
  sf_event ev;
  fill_event(&ev, 0, data);
  ev.timestamp_ms = sf_now_ms();
  char *body = sf_event_payload(&ev);
  json_decref(data);
  /* WRK=path picks the binary, WRK=none skips the baseline (e.g. under perf) */
  char wrk[PATH_MAX];
  const char *wrk_env = getenv("WRK");
  bool have_wrk;
  if (wrk_env && *wrk_env) {
    snprintf(wrk, sizeof(wrk), "%s", wrk_env);
    have_wrk = access(wrk, X_OK) == 0;
  } else {
    have_wrk = find_in_path("wrk", wrk, sizeof(wrk)) == 0;
  }
  printf("delivery throughput: %d events (%s, %zu-byte body) committed in batches of %d, "
         "max_in_flight %d, signed\n",
         n, EVENT_TYPE, strlen(body), BATCH, MAX_IN_FLIGHT);
  double sum_d = 0, sum_w = 0;
  for (int r = 0; r < rounds; r++) {
    double commit_s = 0;
    double d = dispatcher_throughput(base, r, n, &commit_s);
    sum_d += d;
    printf("  round %d: dispatcher %8.0f deliveries/s  (events committed in %.2f s = %.0f/s)\n",
           r + 1, d, commit_s, n / commit_s);
    if (have_wrk) {
      double w = wrk_throughput(wrk, base, body, 3);
      sum_w += w;
      printf("           wrk -t1 -c%d %8.0f requests/s    ratio %.3f\n", MAX_IN_FLIGHT, w,
             w > 0 ? d / w : 0);
    }
  }
  if (!have_wrk)
    printf("  wrk not installed: no baseline, no ratio (apt-get install wrk)\n");
  else if (sum_w > 0)
    printf("  ratio dispatcher/wrk: %.3f  (mean of %d rounds; goal >= 0.70)\n", sum_d / sum_w,
           rounds);
  free(body);
}

/* ---- 2. latency --------------------------------------------------------- */

static void add_ns(struct timespec *t, long ns)
{
  t->tv_nsec += ns;
  while (t->tv_nsec >= 1000000000L) {
    t->tv_nsec -= 1000000000L;
    t->tv_sec++;
  }
}

static void print_lat(const char *name, int64_t *v, size_t n, size_t want)
{
  if (n == 0) {
    printf("  %-26s no samples\n", name);
    return;
  }
  qsort(v, n, sizeof(*v), cmp_i64);
  printf("  %-26s p50 %6.2f ms  p90 %6.2f ms  p99 %6.2f ms  max %7.2f ms  (n=%zu", name,
         pct(v, n, .5) / 1e3, pct(v, n, .9) / 1e3, pct(v, n, .99) / 1e3, v[n - 1] / 1e3, n);
  if (n < want)
    printf(", %zu missing", want - n);
  printf(")\n");
}

/* Latencies (us) of `count` events at `rate`/s through the dispatcher; the
 * caller frees *lat.  *achieved = events/s actually committed. */
static size_t dispatcher_latency(const char *base, int count, int rate, int64_t **lat,
                                 int64_t *commit_cost, double *achieved)
{
  rig r;
  rx_reset((size_t)count);
  rig_open(&r, base, "latency");
  json_t *data = event_data();
  int64_t *done = calloc((size_t)count, sizeof(int64_t));
  sf_error_t err = NULL;
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  int64_t t0 = sf_mono_us();
  for (int i = 0; i < count; i++) {
    sf_event ev;
    fill_event(&ev, (uint64_t)i, data);
    int64_t b = sf_mono_us();
    if (sf_store_begin(r.st, &err) < 0 || sf_store_event_append(r.st, &ev, &err) < 0 ||
        sf_store_commit(r.st, &err) < 0)
      die("append", &err);
    done[i] = sf_mono_us();
    commit_cost[i] = done[i] - b;
    add_ns(&next, 1000000000L / rate);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
      ;
  }
  /* events 0..count-1 are due at t0 + i/rate: count-1 intervals */
  *achieved = count > 1 ? (count - 1) / ((double)(done[count - 1] - t0) / 1e6) : count;
  rx_wait((size_t)count, 30);
  *lat = calloc((size_t)count, sizeof(int64_t));
  size_t n = 0;
  for (int i = 0; i < count; i++)
    if (rx.arrival[i]) /* an arrival before commit returned counts as 0 */
      (*lat)[n++] = rx.arrival[i] > done[i] ? rx.arrival[i] - done[i] : 0;
  rig_close(&r);
  json_decref(data);
  free(done);
  return n;
}

/* The floor: one plain libcurl POST (kept-alive connection) per event. */
static size_t curl_latency(int count, int rate, int64_t **lat, const char *body)
{
  rx_reset((size_t)count);
  char url[64];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", rx.port);
  CURL *c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
  int64_t *sent = calloc((size_t)count, sizeof(int64_t));
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  size_t failed = 0;
  for (int i = 0; i < count; i++) {
    char id[40];
    snprintf(id, sizeof(id), "evt_%016x", (unsigned)i);
    struct curl_slist *hs = delivery_headers(id, body); /* signed here too, like a delivery */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    sent[i] = sf_mono_us();
    failed += curl_easy_perform(c) != CURLE_OK;
    curl_slist_free_all(hs);
    add_ns(&next, 1000000000L / rate);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
      ;
  }
  curl_easy_cleanup(c);
  if (failed)
    printf("  WARNING: %zu baseline POSTs failed\n", failed);
  rx_wait((size_t)count, 5);
  *lat = calloc((size_t)count, sizeof(int64_t));
  size_t n = 0;
  for (int i = 0; i < count; i++)
    if (rx.arrival[i])
      (*lat)[n++] = rx.arrival[i] - sent[i];
  free(sent);
  return n;
}

static void bench_latency(const char *base, int rate, int seconds)
{
  int count = rate * seconds;
  json_t *data = event_data();
  sf_event ev;
  fill_event(&ev, 0, data);
  ev.timestamp_ms = sf_now_ms();
  char *body = sf_event_payload(&ev);
  json_decref(data);
  printf("event -> receiver latency: %d events at %d/s, one per transaction, signed\n", count,
         rate);
  int64_t *lat = NULL, *base_lat = NULL;
  int64_t *cost = calloc((size_t)count, sizeof(int64_t));
  double achieved = 0;
  size_t n = dispatcher_latency(base, count, rate, &lat, cost, &achieved);
  print_lat("dispatcher (from commit)", lat, n, (size_t)count);
  size_t nb = curl_latency(count, rate, &base_lat, body);
  print_lat("plain libcurl POST", base_lat, nb, (size_t)count);
  qsort(cost, (size_t)count, sizeof(*cost), cmp_i64);
  printf("  (append+commit per event: p50 %.2f ms, p99 %.2f ms; achieved %.0f events/s)\n",
         pct(cost, (size_t)count, .5) / 1e3, pct(cost, (size_t)count, .99) / 1e3, achieved);
  if (n && nb)
    printf("  ratio dispatcher/plain: p50 %.1f  p99 %.1f   (goal: dispatcher p99 <= 10 ms: %s)\n",
           (double)pct(lat, n, .5) / (double)pct(base_lat, nb, .5),
           (double)pct(lat, n, .99) / (double)pct(base_lat, nb, .99),
           pct(lat, n, .99) <= 10000 ? "met" : "NOT met");
  free(lat);
  free(base_lat);
  free(cost);
  free(body);
}

int main(int argc, char **argv)
{
  int n = argc > 1 ? atoi(argv[1]) : 20000;
  int rate = argc > 2 ? atoi(argv[2]) : 1000;
  int seconds = argc > 3 ? atoi(argv[3]) : 5;
  int rounds = argc > 4 ? atoi(argv[4]) : 2;
  if (n < 1 || rate < 1 || rate > 100000 || seconds < 1 || seconds > 3600 || rounds < 1) {
    fprintf(stderr, "usage: bench_webhooks [EVENTS] [RATE] [SECONDS] [ROUNDS]\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  /* A disk-backed dir by default: every commit and every attempt record fsyncs. */
  const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
  char base[PATH_MAX];
  snprintf(base, sizeof(base), "%s/sf-bench-webhooks-XXXXXX", tmp);
  if (mkdtemp(base) == NULL)
    die("mkdtemp", NULL);
  struct statfs fs;
  if (statfs(base, &fs) == 0 && fs.f_type == 0x01021994 /* TMPFS_MAGIC */)
    printf("note: %s is tmpfs, so fsync costs nothing here\n", tmp);
  rx_start((size_t)(n > rate * seconds ? n : rate * seconds));
  bench_throughput(base, n, rounds);
  bench_latency(base, rate, seconds);
  rx_stop();
  rm_tree(base);
  curl_global_cleanup();
  return 0;
}
