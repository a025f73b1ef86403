/* `sandforge run`: a one-shot sandbox, like bwrap or nsjail.  The terminal's
 * stdin/stdout/stderr are passed through; the exit status is the command's
 * (128+N when killed by signal N, 124 on timeout, 125 when the sandbox could
 * not be set up). */
#include "cli/cli.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/runtime.h"

#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#define EXIT_SETUP 125
#define EXIT_TIMEOUT 124

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
  got_signal = sig;
}

static void usage(FILE *out)
{
  fprintf(out, "usage: sandforge run [OPTIONS] -- CMD [ARGS...]\n\n"
               "Run CMD in a fresh, fully isolated sandbox that is destroyed afterwards.\n\n"
               "  --template NAME   template (default: host)\n"
               "  --rootfs DIR      use DIR as the read-only root instead of a template\n"
               "  --memory SIZE     memory limit, e.g. 256Mi, 1Gi (default: none)\n"
               "  --cpus N          CPU limit, e.g. 1, 0.5, 500m (default: none)\n"
               "  --pids N          process limit (default: 1024)\n"
               "  --disk SIZE       size of the writable layer (default: 1Gi)\n"
               "  --timeout DUR     kill the command after DUR, e.g. 10s, 2m\n"
               "  --env K=V         set an environment variable (repeatable)\n"
               "  --hostname NAME   hostname inside (default: sandbox)\n"
               "  --cwd DIR         working directory inside (default: /home/user)\n"
               "  --uid N           run as inner uid N (default: 1000)\n\n"
               "Exit status: the command's; 128+N if killed by signal N; 124 on timeout;\n"
               "125 if the sandbox could not be created (bad option, missing template, ...).\n");
}

static int fail(const char *what, sf_error_t *err)
{
  fprintf(stderr, "sandforge run: %s%s%s\n", what, err && *err ? ": " : "",
          err ? sf_error_msg(err) : "");
  sf_error_release(err);
  return EXIT_SETUP;
}

int cli_run(int argc, char **argv)
{
  static const struct option opts[] = {{"template", required_argument, NULL, 't'},
                                       {"rootfs", required_argument, NULL, 'r'},
                                       {"memory", required_argument, NULL, 'm'},
                                       {"cpus", required_argument, NULL, 'c'},
                                       {"pids", required_argument, NULL, 'p'},
                                       {"disk", required_argument, NULL, 'd'},
                                       {"timeout", required_argument, NULL, 'T'},
                                       {"env", required_argument, NULL, 'e'},
                                       {"hostname", required_argument, NULL, 'H'},
                                       {"cwd", required_argument, NULL, 'C'},
                                       {"uid", required_argument, NULL, 'u'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  sf_sandbox_spec spec = {0};
  sf_exec_spec xs = {.uid = -1, .gid = -1, .stdin_fd = 0, .stdout_fd = 1, .stderr_fd = 2};
  cleanup_free char **env = calloc((size_t)argc + 1, sizeof(char *));
  size_t nenv = 0;
  sf_error_t err = NULL;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
    switch (c) {
    case 't':
      spec.template_name = optarg;
      break;
    case 'r':
      spec.rootfs_dir = optarg;
      break;
    case 'm':
      if (sf_parse_size(optarg, &spec.memory_bytes, &err) < 0)
        return fail("--memory", &err);
      break;
    case 'c':
      if (sf_parse_cpu_millis(optarg, &spec.cpu_millis, &err) < 0)
        return fail("--cpus", &err);
      break;
    case 'p': {
      char *end;
      long long v = strtoll(optarg, &end, 10);
      if (*end || v <= 0)
        return fail("--pids: expected a positive integer", NULL);
      spec.pids_max = v;
      break;
    }
    case 'd':
      if (sf_parse_size(optarg, &spec.disk_bytes, &err) < 0)
        return fail("--disk", &err);
      break;
    case 'T':
      if (sf_parse_duration_ms(optarg, &xs.timeout_ms, &err) < 0)
        return fail("--timeout", &err);
      break;
    case 'e':
      if (strchr(optarg, '=') == NULL)
        return fail("--env: expected K=V", NULL);
      env[nenv++] = optarg;
      break;
    case 'H':
      spec.hostname = optarg;
      break;
    case 'C':
      xs.cwd = optarg;
      break;
    case 'u': {
      char *end;
      long v = strtol(optarg, &end, 10);
      if (*end || v < 0 || v > 65535)
        return fail("--uid: expected 0..65535", NULL);
      xs.uid = xs.gid = v;
      break;
    }
    case 'h':
      usage(stdout);
      return 0;
    default:
      usage(stderr);
      return EXIT_SETUP;
    }
  }
  if (optind >= argc)
    return fail("no command given (usage: sandforge run [OPTIONS] -- CMD [ARGS...])", NULL);
  xs.argv = argv + optind;
  spec.env = env;

  /* One state dir for every one-shot run: the host template skeleton in it
   * is built once; each sandbox's own state is removed by destroy. */
  const char *state_dir = "/run/sandforge/run";
  char id[40];
  cleanup_free char *hex = sf_random_hex(6);
  snprintf(id, sizeof(id), "run-%s", hex ? hex : "x");
  spec.id = id;
  sf_runtime_config rc = {.state_dir = state_dir, .cgroup_parent = "sandforge-run"};
  sf_runtime *rt = NULL;
  if (sf_runtime_new(&rt, &rc, &err) < 0)
    return fail("cannot start the runtime", &err);
  sf_sandbox *sb = NULL;
  if (sf_sandbox_create(rt, &spec, &sb, &err) < 0) {
    sf_runtime_free(rt);
    return fail("cannot create the sandbox", &err);
  }
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  int code = EXIT_SETUP;
  sf_exec *ex = NULL;
  if (sf_exec_start(sb, &xs, &ex, &err) < 0) {
    fail("cannot start the command", &err);
  } else {
    sf_exec_result res;
    int r;
    while ((r = sf_exec_poll(ex, &res, &err)) == 0) {
      if (got_signal) {
        sf_exec_kill(ex, &err);
        sf_error_release(&err);
      }
      struct pollfd pfd = {.fd = sf_exec_wait_fd(ex), .events = POLLIN};
      poll(&pfd, 1, 50);
    }
    if (r < 0)
      fail("waiting for the command", &err);
    else if (res.timed_out)
      code = EXIT_TIMEOUT;
    else if (got_signal)
      code = 128 + got_signal;
    else
      code = res.exited ? res.exit_code : 128 + res.signal;
    if (r > 0 && res.timed_out)
      fprintf(stderr, "sandforge run: command timed out after %lld ms (cpu %lld ms)\n",
              (long long)xs.timeout_ms, (long long)(res.cpu_usec / 1000));
    sf_exec_free(ex);
  }
  if (sf_sandbox_destroy(sb, &err) < 0) {
    fprintf(stderr, "sandforge run: cleanup: %s\n", sf_error_msg(&err));
    sf_error_release(&err);
  }
  sf_runtime_free(rt);
  return code;
}
