/* sandforge-init: PID 1 of every sandbox.
 *
 * Static and tiny: it runs inside the sandbox root, where the host's
 * libraries may not exist.  It reaps every orphan (commands are started from
 * outside with setns, so their orphans reparent here), and forwards
 * SIGTERM/SIGINT/SIGHUP to every process in the sandbox; on SIGTERM it then
 * exits, and the kernel kills whatever is left in the pid namespace. */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
  sigset_t set;
  sigfillset(&set);
  sigprocmask(SIG_BLOCK, &set, NULL);
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&set, &si);
    if (sig < 0) {
      if (errno == EINTR)
        continue;
      return 1;
    }
    if (sig == SIGCHLD) {
      while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    } else if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
      kill(-1, sig);
      if (sig == SIGTERM)
        return 0;
    }
  }
}
