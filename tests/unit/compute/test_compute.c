/* test_compute.c - the native cloud's libvirt connection, against libvirt's built-in test
 * driver (in process, no daemon). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "local_compute.h"

static void test_open_test_driver(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct local_compute_node node;
    struct local_compute *lc = local_compute_open("test:///default", &err);
    (void)state;
    assert_non_null(lc);
    assert_string_equal(local_compute_uri(lc), "test:///default");
    assert_int_equal(local_compute_health(lc, &node, &err), 0);
    assert_true(node.cpus > 0);
    assert_true(node.memory_kib > 0);
    assert_string_equal(node.hypervisor, "TEST");
    local_compute_close(lc);
}

static void test_open_bad_uri(void **state)
{
    struct nph_error err = NPH_ERROR_INIT;
    struct local_compute *lc = local_compute_open("test:///nonexistent/file.xml", &err);
    (void)state;
    assert_non_null(lc); /* connected on first use */
    assert_int_equal(local_compute_health(lc, NULL, &err), -1);
    assert_int_equal(err.code, NPH_E_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "test:///nonexistent/file.xml"));
    assert_true(err.detail[0] != '\0');
    local_compute_close(lc);
    assert_null(local_compute_open("", &err));
    assert_int_equal(err.code, NPH_E_INVALID);
}

static void test_close_null(void **state)
{
    (void)state;
    local_compute_close(NULL);
}

/* KVM is used only where the CPU has its extensions: a /dev/kvm without them (a paravirtual
 * KVM in a nested VM) does not boot a stock guest kernel, so guests there run under TCG. */
static void test_cpuinfo_virt(void **state)
{
    (void)state;
    assert_int_equal(local_compute_cpuinfo_has_virt("processor\t: 0\nflags\t\t: fpu vme svm "
                                                    "lahf_lm\nbogomips\t: 4000\n"),
                     1);
    assert_int_equal(local_compute_cpuinfo_has_virt("processor\t: 0\nflags\t\t: fpu vmx\n"), 1);
    /* the PVM host of this project's machines: hypervisor, no vmx/svm */
    assert_int_equal(
        local_compute_cpuinfo_has_virt("processor\t: 0\nflags\t\t: fpu sse4_2 "
                                       "hypervisor lahf_lm\nbugs\t\t: sysret_ss_attrs\n"),
        0);
    /* whole words only, and only the flags line */
    assert_int_equal(local_compute_cpuinfo_has_virt("flags\t\t: fpu vmxfoo xsvm\n"), 0);
    assert_int_equal(local_compute_cpuinfo_has_virt("model name\t: svm vmx\nflags\t\t: fpu\n"), 0);
    assert_int_equal(local_compute_cpuinfo_has_virt(""), 0);
    assert_int_equal(local_compute_cpuinfo_has_virt(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_test_driver),
        cmocka_unit_test(test_open_bad_uri),
        cmocka_unit_test(test_close_null),
        cmocka_unit_test(test_cpuinfo_virt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
