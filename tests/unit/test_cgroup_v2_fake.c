/* The cgroup v2 code paths against a fake cgroupfs tree (this host is v1):
 * detection, controller enabling, limits, entering, stats parsing, the
 * freeze wait (and its timeout), kill and destroy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/cgroup.h"

static char root[256];

static void put(const char *rel, const char *text)
{
  char p[512];
  snprintf(p, sizeof(p), "%s/%s", root, rel);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static char *get(const char *rel)
{
  char p[512];
  snprintf(p, sizeof(p), "%s/%s", root, rel);
  char *s = NULL;
  sf_error_t err = NULL;
  if (sf_read_file(p, &s, NULL, &err) < 0) {
    sf_error_release(&err);
    return NULL;
  }
  return s;
}

/* A cgroup dir as the kernel would populate it. */
static void fake_group(const char *rel)
{
  char p[512];
  snprintf(p, sizeof(p), "%s/%s", root, rel);
  mkdir(p, 0755);
  static const char *const files[] = {
      "cgroup.procs", "cgroup.subtree_control", "memory.max", "memory.swap.max", "cpu.max",
      "pids.max",     "cgroup.freeze",          "cgroup.kill"};
  for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
    char f[600];
    snprintf(f, sizeof(f), "%s/%s", rel, files[i]);
    put(f, "");
  }
}

static int setup(void **state)
{
  snprintf(root, sizeof(root), "/tmp/sf-fake-cg-XXXXXX");
  assert_non_null(mkdtemp(root));
  put("cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
  put("cgroup.subtree_control", "");
  put("cgroup.procs", "");
  /* The kernel creates the control files on mkdir; a fake tree cannot, so
   * the test pre-creates the parent and the leaf. */
  fake_group("sandforge");
  fake_group("sandforge/sb1");
  return 0;
}

static int teardown(void **state)
{
  char cmd[300];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
  return system(cmd);
}

static void test_detect_fake_v2(void **state)
{
  sf_cgroup_mode mode = 0;
  sf_error_t err = NULL;
  assert_int_equal(sf_cgroup_detect(root, &mode, &err), 0);
  assert_int_equal(mode, SF_CGROUP_V2);
  assert_int_equal(sf_cgroup_detect("/nonexistent-cgroup-root", &mode, &err), -1);
  assert_non_null(strstr(sf_error_msg(&err), "nonexistent"));
  sf_error_release(&err);
}

static void test_create_writes_limits_and_controllers(void **state)
{
  sf_cgroup_limits lim = {.memory_bytes = 256 << 20, .cpu_millis = 500, .pids_max = 64};
  sf_cgroup *cg = NULL;
  sf_error_t err = NULL;
  assert_int_equal(sf_cgroup_create(root, SF_CGROUP_V2, "sandforge", "sb1", &lim, false, &cg, &err),
                   0);
  cleanup_free char *mem = get("sandforge/sb1/memory.max");
  cleanup_free char *swap = get("sandforge/sb1/memory.swap.max");
  cleanup_free char *cpu = get("sandforge/sb1/cpu.max");
  cleanup_free char *pids = get("sandforge/sb1/pids.max");
  cleanup_free char *sub = get("sandforge/cgroup.subtree_control");
  assert_string_equal(mem, "268435456");
  assert_string_equal(swap, "0");
  assert_string_equal(cpu, "50000 100000");
  assert_string_equal(pids, "64");
  assert_string_equal(sub, "+memory +cpu +pids");
  assert_int_equal(sf_cgroup_enter(cg, 4242, &err), 0);
  cleanup_free char *procs = get("sandforge/sb1/cgroup.procs");
  assert_string_equal(procs, "4242");
  assert_true(sf_cgroup_dirfd(cg) >= 0);
  sf_cgroup_free(cg);
}

static void test_stats_parsing(void **state)
{
  put("sandforge/sb1/cpu.stat", "usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n");
  put("sandforge/sb1/memory.current", "8388608\n");
  put("sandforge/sb1/pids.current", "7\n");
  put("sandforge/sb1/memory.events", "low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\noom_group_kill 0\n");
  put("sandforge/sb1/pids.events", "max 5\n");
  put("sandforge/sb1/cgroup.events", "populated 1\nfrozen 0\n");
  sf_cgroup *cg = NULL;
  sf_error_t err = NULL;
  assert_int_equal(sf_cgroup_create(root, SF_CGROUP_V2, "sandforge", "sb1", NULL, true, &cg, &err),
                   0);
  sf_cgroup_stats st;
  assert_int_equal(sf_cgroup_stats_read(cg, &st, &err), 0);
  assert_int_equal(st.cpu_usec, 123456);
  assert_int_equal(st.memory_bytes, 8388608);
  assert_int_equal(st.pids_current, 7);
  assert_int_equal(st.oom_kills, 2);
  assert_int_equal(st.pids_max_hits, 5);
  assert_false(st.frozen);
  sf_cgroup_free(cg);
}

static void test_freeze_waits_for_kernel_and_times_out(void **state)
{
  sf_cgroup *cg = NULL;
  sf_error_t err = NULL;
  assert_int_equal(sf_cgroup_create(root, SF_CGROUP_V2, "sandforge", "sb1", NULL, true, &cg, &err),
                   0);
  put("sandforge/sb1/cgroup.events", "populated 1\nfrozen 1\n");
  assert_int_equal(sf_cgroup_freeze(cg, &err), 0);
  cleanup_free char *fz = get("sandforge/sb1/cgroup.freeze");
  assert_string_equal(fz, "1");
  /* The fake never reports thawed: the wait must give up with a clear error. */
  int64_t t0 = sf_mono_ms();
  assert_int_equal(sf_cgroup_thaw(cg, &err), -1);
  assert_true(sf_mono_ms() - t0 >= 4900);
  assert_non_null(strstr(sf_error_msg(&err), "did not thaw"));
  sf_error_release(&err);
  sf_cgroup_free(cg);
}

static void test_kill_uses_cgroup_kill_and_destroy_removes(void **state)
{
  sf_cgroup *cg = NULL;
  sf_error_t err = NULL;
  put("sandforge/sb1/cgroup.procs", "");
  assert_int_equal(sf_cgroup_create(root, SF_CGROUP_V2, "sandforge", "sb1", NULL, true, &cg, &err),
                   0);
  assert_int_equal(sf_cgroup_kill_all(cg, &err), 0);
  cleanup_free char *k = get("sandforge/sb1/cgroup.kill");
  assert_string_equal(k, "1");
  assert_int_equal(sf_cgroup_count_procs(cg, &err), 0);
  /* A real cgroupfs removes its control files with the dir; a fake tree has
   * to be emptied first for rmdir to succeed. */
  char cmd[400];
  snprintf(cmd, sizeof(cmd), "find %s/sandforge/sb1 -type f -delete", root);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(sf_cgroup_destroy(cg, &err), 0);
  char p[300];
  snprintf(p, sizeof(p), "%s/sandforge/sb1", root);
  assert_int_equal(access(p, F_OK), -1);
}

static void test_bad_names_rejected(void **state)
{
  sf_cgroup *cg = NULL;
  sf_error_t err = NULL;
  assert_int_equal(
      sf_cgroup_create(root, SF_CGROUP_V2, "sandforge", "../escape", NULL, false, &cg, &err), -1);
  sf_error_release(&err);
  assert_int_equal(sf_cgroup_create(root, SF_CGROUP_V2, "sandforge", "", NULL, false, &cg, &err),
                   -1);
  sf_error_release(&err);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_detect_fake_v2, setup, teardown),
      cmocka_unit_test_setup_teardown(test_create_writes_limits_and_controllers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stats_parsing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_freeze_waits_for_kernel_and_times_out, setup, teardown),
      cmocka_unit_test_setup_teardown(test_kill_uses_cgroup_kill_and_destroy_removes, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_bad_names_rejected, setup, teardown),
  };
  return cmocka_run_group_tests_name("cgroup v2 (fake tree)", tests, NULL, NULL);
}
