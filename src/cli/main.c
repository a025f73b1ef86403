/* `sandforge`: one binary, two faces — the supervisor daemon and the CLI
 * client of its HTTP API (plus `run`, a one-shot local sandbox). */
#include "cli/cli.h"

#include <stdio.h>
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
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
    if (strcmp(argv[1], commands[i].name) == 0)
      return commands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "sandforge: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
