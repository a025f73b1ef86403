/* `sandforge`: one binary, two faces — the supervisor daemon and the CLI
 * client of its HTTP API (plus `run`, a one-shot local sandbox). */
#include "cli/cli.h"

#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <string.h>

#ifndef SANDFORGE_VERSION
#define SANDFORGE_VERSION "0.1.0"
#endif

static const struct {
  const char *name;
  int (*fn)(int, char **);
  const char *help;
} commands[] = {
    {"run", cli_run, "run a command in a one-shot sandbox"},
    {"supervisor", cli_supervisor, "start the supervisor daemon (HTTP API)"},
    {"sandbox", cli_sandbox, "create|ls|get|pause|resume|renew|rm sandboxes"},
    {"exec", cli_exec, "run a command in a sandbox: exec ID -- CMD..."},
    {"files", cli_files, "put|get|ls files in a sandbox"},
    {"template", cli_template, "ls|add|rm templates"},
    {"webhook", cli_webhook, "add|ls|show|rm|test|rotate|deliveries|redeliver|recover"},
    {"events", cli_events, "list the event log (--follow to stream)"},
};

/* A sandforge process starts from whatever its parent left: ignored signals
 * survive execve and would reach every sandboxed workload (seen in CI: a
 * runner that ignores signal 32).  Reset inherited SIG_IGN once here, with the
 * raw syscall because glibc refuses its reserved signals 32 and 33; sandboxed
 * children then only undo what sandforge itself changes (mask, SIGPIPE). */
static void reset_inherited_ignores(void)
{
  struct {
    void *handler;
    unsigned long flags;
    void *restorer;
    unsigned long long mask;
  } old, dfl = {0};
  for (int sig = 1; sig <= 64; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP)
      continue;
    if (syscall(SYS_rt_sigaction, sig, NULL, &old, 8) == 0 && old.handler == (void *)SIG_IGN)
      syscall(SYS_rt_sigaction, sig, &dfl, NULL, 8);
  }
}

static void usage(FILE *out)
{
  fprintf(out, "usage: sandforge COMMAND [ARGS...]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
    fprintf(out, "  %-11s %s\n", commands[i].name, commands[i].help);
  fprintf(out, "\nRun 'sandforge COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
    printf("sandforge %s\n", SANDFORGE_VERSION);
    return 0;
  }
  reset_inherited_ignores();
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
    if (strcmp(argv[1], commands[i].name) == 0)
      return commands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "sandforge: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
