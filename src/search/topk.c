/*
 * topk.c - the bounded heap of best hits (see topk.h).
 */
#include "search/topk.h"

#include <stdlib.h>

/* In the heap, a parent ranks after (is worse than) its children. */
static int worse(const sembed_hit *a, const sembed_hit *b) {
    return hit_before(b->score, b->corpus_id, a->score, a->corpus_id);
}

static void sift_down(sembed_hit *h, size_t n, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(&h[l], &h[m]))
            m = l;
        if (r < n && worse(&h[r], &h[m]))
            m = r;
        if (m == i)
            return;
        sembed_hit t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

void topk_insert_(topk *t, float score, int64_t id) {
    sembed_hit x = {id, score};
    if (t->n < t->cap) {
        size_t i = t->n++;
        while (i > 0) {
            size_t p = (i - 1) / 2;
            if (!worse(&x, &t->h[p]))
                break;
            t->h[i] = t->h[p];
            i = p;
        }
        t->h[i] = x;
        return;
    }
    t->h[0] = x;
    sift_down(t->h, t->n, 0);
}

static int cmp_hits(const void *a, const void *b) {
    const sembed_hit *x = a, *y = b;
    if (hit_before(x->score, x->corpus_id, y->score, y->corpus_id))
        return -1;
    if (hit_before(y->score, y->corpus_id, x->score, x->corpus_id))
        return 1;
    return 0;
}

void topk_sort_hits(sembed_hit *h, size_t n) { qsort(h, n, sizeof *h, cmp_hits); }
