/* Placeholder until the webhook CLI lands. */
#include "cli/cli.h"

#include <stdio.h>

int cli_webhook(int argc, char **argv)
{
  (void)argc;
  fprintf(stderr, "sandforge %s: not implemented yet\n", argv[0]);
  return 2;
}

int cli_events(int argc, char **argv)
{
  (void)argc;
  fprintf(stderr, "sandforge %s: not implemented yet\n", argv[0]);
  return 2;
}
