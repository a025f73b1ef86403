/* Placeholder until this subcommand lands. */
#include "cli/cli.h"

#include <stdio.h>

int cli_run(int argc, char **argv)
{
  (void)argc;
  fprintf(stderr, "sandforge %s: not implemented yet\n", argv[0]);
  return 2;
}
