/*
 * topk.h - a bounded heap that keeps the best `cap` hits seen so far.
 *
 * "Best" is a total order: higher score first, and on equal scores the
 * lower corpus_id. Because the order is total, merging the heaps of several
 * threads gives the same hits whatever rows each thread saw.
 */
#ifndef SEMBED_SEARCH_TOPK_H
#define SEMBED_SEARCH_TOPK_H

#include <stddef.h>
#include <stdint.h>

#include "sembed.h"

/* 1 when a ranks before b. */
static inline int hit_before(float sa, int64_t ia, float sb, int64_t ib) {
    return sa > sb || (sa == sb && ia < ib);
}

typedef struct topk {
    sembed_hit *h;   /* a min-heap: h[0] is the worst kept hit */
    size_t n, cap;
} topk;

/* Inserts unconditionally (use topk_push). */
void topk_insert_(topk *t, float score, int64_t id);

/* Offers one hit; cheap when it does not beat the worst kept one. */
static inline void topk_push(topk *t, float score, int64_t id) {
    if (t->n < t->cap || hit_before(score, id, t->h[0].score, t->h[0].corpus_id))
        topk_insert_(t, score, id);
}

/* Sorts hits best first (in place). */
void topk_sort_hits(sembed_hit *h, size_t n);

#endif /* SEMBED_SEARCH_TOPK_H */
