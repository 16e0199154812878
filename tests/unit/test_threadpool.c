/*
 * test_threadpool.c - the persistent pool: every region runs on exactly
 * the requested threads with the right (ith, nth), regions never overlap,
 * and many short regions in a row neither hang nor lose work (the pattern
 * of a forward pass), including more threads than cores.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/threadpool.h"

typedef struct region {
    atomic_int calls;
    atomic_int seen[8];
    atomic_int inside;
    atomic_int overlap;
    int nth;
} region;

static void fn(void *arg, int ith, int nth) {
    region *r = arg;
    if (nth != r->nth || ith < 0 || ith >= nth)
        atomic_fetch_add(&r->overlap, 1000);
    if (atomic_fetch_add(&r->inside, 1) >= nth)
        atomic_fetch_add(&r->overlap, 1);
    atomic_fetch_add(&r->seen[ith], 1);
    atomic_fetch_add(&r->calls, 1);
    atomic_fetch_sub(&r->inside, 1);
}

static void run_many(int threads, int regions) {
    threadpool *p = threadpool_new(threads);
    assert_non_null(p);
    assert_int_equal(threadpool_size(p), threads);
    for (int i = 0; i < regions; i++) {
        region r = {.nth = 1 + i % threads};
        threadpool_run_n(p, fn, &r, r.nth);
        assert_int_equal(atomic_load(&r.calls), r.nth);
        assert_int_equal(atomic_load(&r.overlap), 0);
        for (int t = 0; t < r.nth; t++)
            assert_int_equal(atomic_load(&r.seen[t]), 1);
    }
    region all = {.nth = threads};
    threadpool_run(p, fn, &all);
    assert_int_equal(atomic_load(&all.calls), threads);
    threadpool_free(p);
}

static void test_one_thread(void **state) { run_many(1, 1000); }
static void test_two_threads(void **state) { run_many(2, 20000); }
static void test_oversubscribed(void **state) { run_many(6, 2000); }

static void test_create_free(void **state) {
    for (int i = 0; i < 50; i++) {
        threadpool *p = threadpool_new(1 + i % 4);
        assert_non_null(p);
        threadpool_free(p);
    }
    threadpool_free(NULL);
    threadpool *p = threadpool_new(0); /* clamped to 1: runs inline */
    region r = {.nth = 1};
    threadpool_run(p, fn, &r);
    assert_int_equal(atomic_load(&r.calls), 1);
    threadpool_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_thread),
        cmocka_unit_test(test_two_threads),
        cmocka_unit_test(test_oversubscribed),
        cmocka_unit_test(test_create_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
