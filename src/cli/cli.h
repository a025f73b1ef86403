/* Subcommands of the `sandforge` binary.  Each takes the arguments after its
 * own name (argv[0] is the subcommand name) and returns the process exit code. */
#ifndef SF_CLI_CLI_H
#define SF_CLI_CLI_H

int cli_run(int argc, char **argv);        /* cmd_run.c: one-shot sandbox */
int cli_supervisor(int argc, char **argv); /* cmd_supervisor.c: the daemon */
int cli_sandbox(int argc, char **argv);    /* cmd_sandbox.c */
int cli_exec(int argc, char **argv);       /* cmd_exec.c */
int cli_files(int argc, char **argv);      /* cmd_files.c */
int cli_template(int argc, char **argv);   /* cmd_template.c */
int cli_webhook(int argc, char **argv);    /* cmd_webhook.c */
int cli_events(int argc, char **argv);     /* cmd_events.c */

#endif
