/*
 * test_encoder_split.c - the per-sequence path of the encoder
 * (run_by_sequence) hands sequences between threads mid-batch: a thread
 * that finishes early takes half of the run of one still working, at its
 * next step boundary. When that happens depends on timing, so this test
 * forces handoffs at fixed step counts (encoder_state_set_handoff) and
 * checks that every schedule gives the same bits as the per-product path
 * on one thread, and that both kinds of handoff (the later part of a run,
 * and the earlier part already a step ahead) were taken.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "sembed.h"

/* Lengths chosen so that runs exceed the FFN step's 256 tokens, mix short
 * and long sequences, and reach the tiny models' 128 positions. */
static const int mixed_len[] = {90, 20, 33, 7, 64, 41, 120, 12, 55, 3, 77, 28, 16, 100, 128, 9};
enum { N_MIXED = sizeof mixed_len / sizeof mixed_len[0], N_EVEN = 32, EVEN_LEN = 16 };

typedef struct batch_data {
    int n;
    int len[64];
    int32_t *ids[64];
} batch_data;

static void make_batch(batch_data *b, const int *len, int n, int vocab) {
    b->n = n;
    for (int i = 0; i < n; i++) {
        b->len[i] = len[i];
        b->ids[i] = malloc((size_t)len[i] * sizeof(int32_t));
        for (int t = 0; t < len[i]; t++)
            b->ids[i][t] = (int32_t)((i * 131 + t * 17 + 5) % vocab);
    }
}

static void free_batch(batch_data *b) {
    for (int i = 0; i < b->n; i++)
        free(b->ids[i]);
}

static void forward(const sembed_model *m, const batch_data *b, int threads, int every, float *out,
                    long *later, long *earlier) {
    encoder_state *s = encoder_state_new(m, 4096, threads);
    assert_non_null(s);
    encoder_state_set_handoff(s, every);
    encoder_batch eb = {.n = b->n, .ids = (const int32_t *const *)b->ids, .len = b->len};
    sembed_error err;
    assert_int_equal(encoder_forward(s, &eb, out, (size_t)m->dim, NULL, &err), SEMBED_OK);
    encoder_state_handoffs(s, later, earlier);
    encoder_state_free(s);
}

static void check_model(const char *name) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", getenv("SEMBED_FIXTURES"), name);
    sembed_model *m = NULL;
    sembed_error err;
    if (sembed_model_load(dir, NULL, &m, &err) != SEMBED_OK)
        fail_msg("cannot load %s: %s", dir, err.message);
    int even_len[N_EVEN];
    for (int i = 0; i < N_EVEN; i++)
        even_len[i] = EVEN_LEN;
    batch_data batches[2];
    make_batch(&batches[0], mixed_len, N_MIXED, m->cfg.bert.vocab_size);
    make_batch(&batches[1], even_len, N_EVEN, m->cfg.bert.vocab_size);
    long later = 0, earlier = 0;
    for (int bi = 0; bi < 2; bi++) {
        size_t bytes = (size_t)batches[bi].n * m->dim * sizeof(float);
        float *ref = malloc(bytes), *out = malloc(bytes);
        long l0, e0;
        /* One thread, normal rule: the per-product path, no handoffs. */
        forward(m, &batches[bi], 1, 0, ref, &l0, &e0);
        assert_int_equal(l0 + e0, 0);
        const int every[] = {1, 2, 3, 5, 7};
        for (int threads = 1; threads <= 3; threads++)
            for (size_t k = 0; k < sizeof every / sizeof every[0]; k++) {
                memset(out, 0xff, bytes);
                /* One thread's schedule is fixed, so the counts of the
                 * kinds of handoff come from it alone. */
                long l, e;
                forward(m, &batches[bi], threads, every[k], out, &l, &e);
                if (threads == 1) {
                    later += l;
                    earlier += e;
                }
                if (memcmp(ref, out, bytes) != 0)
                    fail_msg("%s, batch %d: %d threads with a handoff every %d steps differ "
                             "from the per-product path",
                             name, bi, threads, every[k]);
            }
        free(ref);
        free(out);
    }
    printf("%s, one thread: %ld handoffs of a later part, %ld of an earlier part\n", name, later,
           earlier);
    assert_true(later > 0);
    assert_true(earlier > 0);
    free_batch(&batches[0]);
    free_batch(&batches[1]);
    sembed_model_free(m);
}

/* Fused GELU in the FFN product. */
static void test_handoff_tiny(void **state) {
    (void)state;
    check_model("tiny");
}

/* gelu_new: the separate activation pass. */
static void test_handoff_gelu_new(void **state) {
    (void)state;
    check_model("tiny-gelu-new");
}

int main(void) {
    if (!getenv("SEMBED_FIXTURES")) {
        printf("skipped: SEMBED_FIXTURES is not set\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handoff_tiny),
        cmocka_unit_test(test_handoff_gelu_new),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
