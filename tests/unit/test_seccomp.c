/* Seccomp profile: denials with EPERM, clone3 → ENOSYS, the notify listener
 * path, and the violation rate limiter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "runtime/runtime_internal.h"
#include "runtime/seccomp.h"

/* Runs fn in a forked child under the filter; the child's exit code is the
 * number of failed expectations. */
static int in_filtered_child(int (*fn)(void))
{
  pid_t pid = fork();
  if (pid == 0) {
    sf_error_t err = NULL;
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (sf_seccomp_load(false, NULL, &err) < 0)
      _exit(100);
    _exit(fn());
  }
  int st;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 200;
}

static int expect_eperm(long r)
{
  return (r == -1 && errno == EPERM) ? 0 : 1;
}

static int denials(void)
{
  int bad = 0;
  bad += expect_eperm(mount("none", "/mnt", "tmpfs", 0, NULL));
  bad += expect_eperm(unshare(CLONE_NEWUSER));
  bad += expect_eperm(syscall(SYS_keyctl, 0, -3, 0));
  char attr[128] = {0};
  bad += expect_eperm(syscall(SYS_bpf, 0, attr, sizeof(attr)));
  bad += expect_eperm(syscall(SYS_kexec_load, 0, 0, 0, 0));
  bad += expect_eperm(syscall(SYS_ptrace, 0 /* TRACEME */, 0, 0, 0));
  bad += expect_eperm(syscall(SYS_personality, 0x0040000 /* ADDR_NO_RANDOMIZE */));
  bad += expect_eperm(syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0));
  bad += (syscall(SYS_clone3, NULL, 0) == -1 && errno == ENOSYS) ? 0 : 1;
  /* ordinary work still allowed */
  pid_t p = fork();
  if (p == 0)
    _exit(0);
  bad += p > 0 ? 0 : 1;
  waitpid(p, NULL, 0);
  bad += getpid() > 0 ? 0 : 1;
  return bad;
}

static void test_docker_parity_denials(void **state)
{
  assert_int_equal(in_filtered_child(denials), 0);
}

static void test_listener_reports_and_denies(void **state)
{
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(sv[0]);
    sf_error_t err = NULL;
    int fd = -1;
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (sf_seccomp_load(true, &fd, &err) < 0 || sf_send_fd(sv[1], fd) < 0)
      _exit(100);
    close(fd);
    long r = mount("none", "/mnt", "tmpfs", 0, NULL);
    _exit((r == -1 && errno == EPERM) ? 0 : 1);
  }
  close(sv[1]);
  int listener = sf_recv_fd(sv[0], 5000);
  assert_true(listener >= 0);
  sf_seccomp_notice n;
  sf_error_t err = NULL;
  int got = 0;
  for (int i = 0; i < 2000 && got == 0; i++) {
    got = sf_seccomp_handle_one(listener, &n, &err);
    if (got == 0)
      usleep(1000);
  }
  assert_int_equal(got, 1);
  assert_string_equal(n.syscall_name, "mount");
  assert_int_equal(n.pid, pid);
  int st;
  waitpid(pid, &st, 0);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  /* The only filtered process is gone: the listener reports it is closed. */
  assert_int_equal(sf_seccomp_handle_one(listener, &n, &err), -1);
  sf_error_release(&err);
  close(listener);
  close(sv[0]);
}

static void test_watch_list_names(void **state)
{
  const char *const *w = sf_seccomp_watch_list();
  int found = 0;
  for (; *w; w++)
    found += strcmp(*w, "mount") == 0 || strcmp(*w, "ptrace") == 0 || strcmp(*w, "bpf") == 0;
  assert_int_equal(found, 3);
}

static void test_rate_limiter(void **state)
{
  sf_rate_limiter rl = {0};
  int allowed = 0;
  for (int i = 0; i < 100; i++)
    allowed += sf_rate_limiter_allow(&rl, 1000);
  assert_int_equal(allowed, 10);
  assert_false(sf_rate_limiter_allow(&rl, 1500));
  assert_true(sf_rate_limiter_allow(&rl, 2100));
  assert_false(sf_rate_limiter_allow(&rl, 2100));
  assert_true(sf_rate_limiter_allow(&rl, 60000));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_docker_parity_denials),
      cmocka_unit_test(test_listener_reports_and_denies),
      cmocka_unit_test(test_watch_list_names),
      cmocka_unit_test(test_rate_limiter),
  };
  return cmocka_run_group_tests_name("seccomp", tests, NULL, NULL);
}
