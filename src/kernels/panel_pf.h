/*
 * panel_pf.h - weight panels of the linear kernels, shared by the AVX2 and
 * AVX-512 sets (it needs only SSE's prefetch): whether a panel is read in
 * place, and the software prefetch of a later one.
 */
#ifndef SEMBED_PANEL_PF_H
#define SEMBED_PANEL_PF_H

#include <stddef.h>
#include <xmmintrin.h>

#include "kernels/kernels.h"

/* Rows of KERN_KC elements already sit at the micro-kernels' fixed row
 * stride; with enough token columns (128) to reuse them from L1 a panel is
 * read in place. Otherwise it is copied: with few columns the product waits
 * on memory, and one sequential copy streams better than interleaved rows. */
static inline int panel_in_place(int kp, int tcols) { return kp == KERN_KC && tcols >= 128; }

/* Software prefetch (into L2) of the next panel's weight rows, spread over
 * the steps of the current micro-tile: with few token columns the product
 * is short, and the copy of the next panel would otherwise wait on memory
 * after it, with nothing to overlap (it halved the batch-1 time). Each row
 * gets `per` consecutive steps, one cache line per step. The panel fetched
 * is PF_AHEAD_* panels ahead of the one being computed. */
/* Panels ahead, measured at batch 1: fp32 panels (18 KB) do best one
 * ahead (two was 5 % slower), the smaller bf16 / int8 ones two ahead (one
 * was 3-5 % slower). */
#define PF_AHEAD_F32 1
#define PF_AHEAD_LOWP 2

typedef struct panel_pf {
    const char *row;             /* the row being fetched, or NULL when done */
    size_t ld;                   /* bytes between rows */
    int rows_left, per, lines, cnt;
} panel_pf;

static inline void panel_pf_init(panel_pf *p, const void *next, size_t ld_bytes, int rows,
                                 int steps, size_t row_bytes) {
    int lines = (int)((row_bytes + 63) / 64);
    p->row = (const char *)next;
    p->ld = ld_bytes;
    p->rows_left = rows;
    p->per = rows > 0 ? steps / rows : 0;
    if (p->per < lines)
        p->per = lines; /* whole rows first, even if the last ones are not reached */
    p->lines = lines;
    p->cnt = 0;
    if (!next || rows <= 0 || lines <= 0)
        p->row = NULL;
}

static inline __attribute__((always_inline)) void panel_pf_step(panel_pf *p) {
    if (!p->row)
        return;
    if (p->cnt < p->lines)
        _mm_prefetch(p->row + (size_t)p->cnt * 64, _MM_HINT_T1);
    if (++p->cnt == p->per) {
        p->cnt = 0;
        p->row += p->ld;
        if (--p->rows_left == 0)
            p->row = NULL;
    }
}

/* Sets *pf to prefetch, over `steps` tile steps, elements [k0, k0 + kc) of
 * the `ahead` rows that start `ahead` rows after n in the row-major W (rows
 * of kp elements of esz bytes; rows before n1 only). */
static inline void panel_pf_ahead(panel_pf *pf, const void *W, size_t esz, int kp, int n, int n1,
                                  int k0, int kc, int ahead, int steps) {
    size_t row = (size_t)kp * esz;
    int next = n + ahead, rows = next < n1 ? n1 - next : 0;
    if (rows > ahead)
        rows = ahead;
    panel_pf_init(pf, rows ? (const char *)W + (size_t)next * row + (size_t)k0 * esz : NULL, row,
                  rows, steps, (size_t)kc * esz);
}

#endif /* SEMBED_PANEL_PF_H */
