/*
 * store_search.c - searching a store: exact and quantized search over the
 * store's vectors (through the search module's sembed_search and
 * sembed_qcorpus), and the HNSW index kept beside the database as
 * "<path>.hnsw" (built, extended, loaded and checked here).
 *
 * The HNSW file and the database are two files, so they can get out of
 * step (a crash between them, a copied database, a replaced file). The
 * database records the index's row count and SHA-256; an index is used
 * only when its checksum matches and its labels are exactly the rows
 * 0 .. hnsw_rows - 1, so it can never pair one row's text with another
 * row's vector.
 */
#include <dirent.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "search/hnsw.h"
#include "store/store.h"

sembed_store_search_params sembed_store_search_default_params(void) {
    sembed_store_search_params p;
    memset(&p, 0, sizeof p);
    p.top_k = 10;
    p.score = SEMBED_SCORE_COSINE;
    p.mode = SEMBED_STORE_EXACT;
    p.ef = 0;
    p.rescore_multiplier = 0;
    p.n_threads = 0;
    return p;
}

/* ==== HNSW ================================================================== */

typedef struct hnsw_meta {
    int64_t rows;
    int M, ef_construction;
    sembed_score score;
    char sha[65];
} hnsw_meta;

/* The index recorded in the database; SEMBED_ERR_NOT_FOUND when none. */
static sembed_status read_hnsw_meta(sembed_store *s, hnsw_meta *m, sembed_error *err) {
    memset(m, 0, sizeof *m);
    int64_t M, ef, score;
    sembed_status st = store_meta_get_int(s, "hnsw_rows", &m->rows, err);
    if (st != SEMBED_OK)
        return st;
    if ((st = store_meta_get_int(s, "hnsw_M", &M, err)) != SEMBED_OK ||
        (st = store_meta_get_int(s, "hnsw_ef_construction", &ef, err)) != SEMBED_OK ||
        (st = store_meta_get_int(s, "hnsw_score", &score, err)) != SEMBED_OK ||
        (st = store_meta_get(s, "hnsw_sha256", m->sha, sizeof m->sha, err)) != SEMBED_OK)
        goto damaged;
    /* Checked as recorded, before any narrowing: a value past int must not
     * wrap into a plausible one. */
    if (m->rows < 0 || M < 2 || M > SEMBED_HNSW_MAX_M || ef < 1 || ef > SEMBED_HNSW_MAX_EF ||
        (score != SEMBED_SCORE_COSINE && score != SEMBED_SCORE_DOT) || strlen(m->sha) != 64)
        return set_error(err, SEMBED_ERR_FORMAT, "%s is damaged: bad HNSW metadata", s->path);
    m->M = (int)M;
    m->ef_construction = (int)ef;
    m->score = (sembed_score)score;
    return SEMBED_OK;
damaged:
    return st == SEMBED_ERR_NOT_FOUND
               ? set_error(err, SEMBED_ERR_FORMAT, "%s is damaged: HNSW metadata incomplete",
                           s->path)
               : st;
}

static sembed_status write_hnsw_meta(sembed_store *s, const hnsw_meta *m, sembed_error *err) {
    char buf[32];
    sembed_status st;
    snprintf(buf, sizeof buf, "%lld", (long long)m->rows);
    if ((st = store_meta_set(s, "hnsw_rows", buf, err)) != SEMBED_OK)
        return st;
    snprintf(buf, sizeof buf, "%d", m->M);
    if ((st = store_meta_set(s, "hnsw_M", buf, err)) != SEMBED_OK)
        return st;
    snprintf(buf, sizeof buf, "%d", m->ef_construction);
    if ((st = store_meta_set(s, "hnsw_ef_construction", buf, err)) != SEMBED_OK)
        return st;
    snprintf(buf, sizeof buf, "%d", (int)m->score);
    if ((st = store_meta_set(s, "hnsw_score", buf, err)) != SEMBED_OK)
        return st;
    return store_meta_set(s, "hnsw_sha256", m->sha, err);
}

/* Loads the file of the recorded index and checks it against the record. */
static sembed_status load_recorded(sembed_store *s, const hnsw_meta *m, int n_threads,
                                   sembed_hnsw **out, sembed_error *err) {
    sembed_hnsw_params p = sembed_hnsw_default_params();
    p.score = m->score;
    p.n_threads = n_threads;
    sembed_hnsw *h = NULL;
    sembed_status st = sembed_hnsw_load(s->hnsw_path, s->dim, &p, m->sha, &h, err);
    if (st == SEMBED_ERR_NOT_FOUND)
        return set_error(err, SEMBED_ERR_NOT_FOUND,
                         "the HNSW index %s of %s is missing: rebuild it", s->hnsw_path, s->path);
    if (st != SEMBED_OK)
        return st;
    if (!hnsw_index_labels_dense(h, (uint64_t)m->rows)) {
        sembed_hnsw_free(h);
        return set_error(err, SEMBED_ERR_FORMAT,
                         "the HNSW index %s does not label exactly the %lld rows recorded in %s: "
                         "rebuild it",
                         s->hnsw_path, (long long)m->rows, s->path);
    }
    *out = h;
    return SEMBED_OK;
}

sembed_status store_load_hnsw(sembed_store *s, sembed_error *err) {
    hnsw_meta m;
    sembed_status st = read_hnsw_meta(s, &m, err);
    if (st == SEMBED_ERR_NOT_FOUND)
        return set_error(err, SEMBED_ERR_NOT_FOUND,
                         "%s has no HNSW index (build one with 'sembed index build-hnsw')",
                         s->path);
    if (st != SEMBED_OK)
        return st;
    if (s->hnsw && s->hnsw_rows == m.rows && !strcmp(s->hnsw_sha, m.sha))
        return SEMBED_OK;
    sembed_hnsw_free(s->hnsw);
    s->hnsw = NULL;
    sembed_hnsw *h = NULL;
    st = load_recorded(s, &m, 0, &h, err);
    if (st != SEMBED_OK)
        return st;
    s->hnsw = h;
    s->hnsw_rows = m.rows;
    memcpy(s->hnsw_sha, m.sha, sizeof s->hnsw_sha);
    return SEMBED_OK;
}

/* Removes "<index>.tmpXXXXXX" files that a killed build left behind. Only
 * called with the store's write lock held, so no other build is writing
 * one of them now. */
static void remove_stale_temps(const char *hnsw_path) {
    char *dcopy = strdup(hnsw_path), *bcopy = strdup(hnsw_path);
    if (!dcopy || !bcopy)
        goto done;
    const char *dir = dirname(dcopy), *base = basename(bcopy);
    size_t blen = strlen(base);
    DIR *d = opendir(dir);
    if (!d)
        goto done;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        if (strlen(n) == blen + 10 && !strncmp(n, base, blen) && !strncmp(n + blen, ".tmp", 4)) {
            char p[4096];
            if (snprintf(p, sizeof p, "%s/%s", dir, n) < (int)sizeof p)
                unlink(p);
        }
    }
    closedir(d);
done:
    free(dcopy);
    free(bcopy);
}

sembed_status sembed_store_build_hnsw(sembed_store *store, const sembed_hnsw_params *params,
                                      int rebuild, sembed_error *err) {
    if (!store)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_store_build_hnsw: NULL");
    if (!store->writable)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "%s was opened read-only",
                         store->path);
    if (store->in_txn)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "%s: commit the open transaction before building the index",
                         store->path);
    /* The write lock is held for the whole build: two builders (or a
     * builder and an adder) take turns, and the file and its record in the
     * database change together. Readers are not blocked (WAL). */
    sembed_status st = sembed_store_begin(store, err);
    if (st != SEMBED_OK)
        return st;
    sembed_hnsw *h = NULL;
    float *buf = NULL;
    int64_t rows = 0, from = 0;
    hnsw_meta old, m;
    memset(&m, 0, sizeof m);
    sembed_store_info info;
    if ((st = sembed_store_get_info(store, &info, err)) != SEMBED_OK)
        goto fail;
    rows = info.rows;
    if (rows == 0) {
        st = set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "%s is empty: nothing to index",
                       store->path);
        goto fail;
    }
    if ((uint64_t)rows > SEMBED_HNSW_MAX_ELEMENTS) {
        st = set_error(err, SEMBED_ERR_LIMIT, "%s has more rows than an HNSW index holds (%u)",
                       store->path, SEMBED_HNSW_MAX_ELEMENTS);
        goto fail;
    }
    sembed_status have = read_hnsw_meta(store, &old, err);
    if (have != SEMBED_OK && have != SEMBED_ERR_NOT_FOUND) {
        st = have;
        goto fail;
    }
    sembed_hnsw_params p = params ? *params : sembed_hnsw_default_params();
    if (have == SEMBED_OK && !rebuild && old.rows <= rows &&
        (!params || (params->M == old.M && params->ef_construction == old.ef_construction &&
                     params->score == old.score))) {
        /* Extend the recorded index with the rows it lacks; an index that
         * fails its checks is rebuilt from scratch instead. */
        if (load_recorded(store, &old, p.n_threads, &h, NULL) == SEMBED_OK)
            from = old.rows;
        p.M = old.M;
        p.ef_construction = old.ef_construction;
        p.score = old.score;
    }
    if (from == rows && h) {
        /* Already up to date. */
        sembed_hnsw_free(h);
        sembed_store_rollback(store);
        return SEMBED_OK;
    }
    if (!h && (st = sembed_hnsw_init(info.dim, &p, &h, err)) != SEMBED_OK)
        goto fail;
    /* The rows go in through a bounded buffer, not the search cache: a
     * build of a large store should not also keep every vector loaded. */
    const size_t chunk = 65536;
    size_t d = (size_t)info.dim;
    buf = malloc((size_t)(rows - from < (int64_t)chunk ? rows - from : (int64_t)chunk) * d *
                 sizeof *buf);
    if (!buf) {
        st = set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory building the HNSW index");
        goto fail;
    }
    for (int64_t r = from; r < rows; r += (int64_t)chunk) {
        size_t n = rows - r < (int64_t)chunk ? (size_t)(rows - r) : chunk;
        if ((st = sembed_store_load_vectors(store, r, n, buf, n * d, err)) != SEMBED_OK ||
            (st = sembed_hnsw_add(h, buf, n, info.dim, r, err)) != SEMBED_OK)
            goto fail;
    }
    free(buf);
    buf = NULL;
    remove_stale_temps(store->hnsw_path);
    if ((st = sembed_hnsw_save(h, store->hnsw_path, m.sha, err)) != SEMBED_OK)
        goto fail;
    m.rows = rows;
    m.M = p.M;
    m.ef_construction = p.ef_construction;
    m.score = p.score;
    if ((st = write_hnsw_meta(store, &m, err)) != SEMBED_OK)
        goto fail;
    if ((st = sembed_store_commit(store, err)) != SEMBED_OK)
        goto fail_committed;
    /* Keep what we built as the handle's index. */
    sembed_hnsw_free(store->hnsw);
    store->hnsw = h;
    store->hnsw_rows = rows;
    memcpy(store->hnsw_sha, m.sha, sizeof store->hnsw_sha);
    return SEMBED_OK;
fail:
    sembed_store_rollback(store);
fail_committed:
    /* A saved file whose record did not commit fails its checksum on the
     * next load and is rebuilt; it is never used unchecked. */
    free(buf);
    sembed_hnsw_free(h);
    return st;
}

/* ==== Searching ============================================================= */

static sembed_status search_hnsw(sembed_store *s, const float *queries, size_t nq, int dim,
                                 const sembed_store_search_params *p, sembed_hit *hits,
                                 size_t hits_cap, size_t *n_hits, int64_t rows,
                                 sembed_error *err) {
    sembed_status st = store_load_hnsw(s, err);
    if (st != SEMBED_OK)
        return st;
    hnsw_meta m;
    if ((st = read_hnsw_meta(s, &m, err)) != SEMBED_OK)
        return st;
    if (p->score != m.score)
        return set_error(err, SEMBED_ERR_MISMATCH,
                         "the HNSW index of %s was built for %s scores; search it with those",
                         s->path, m.score == SEMBED_SCORE_DOT ? "dot" : "cosine");
    if (s->hnsw_rows < rows)
        return set_error(err, SEMBED_ERR_MISMATCH,
                         "the HNSW index of %s covers %lld of its %lld rows: update it with "
                         "'sembed index build-hnsw'",
                         s->path, (long long)s->hnsw_rows, (long long)rows);
    return sembed_hnsw_search(s->hnsw, queries, nq, dim, p->top_k, p->ef, hits, hits_cap, n_hits,
                              err);
}

sembed_status sembed_store_search(sembed_store *store, const float *queries, size_t nq, int dim,
                                  const sembed_store_search_params *params, sembed_hit *hits,
                                  size_t hits_cap, size_t *n_hits, sembed_error *err) {
    if (!store || (nq && (!queries || !hits || !n_hits)))
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_store_search: NULL argument");
    sembed_store_search_params p = params ? *params : sembed_store_search_default_params();
    if (p.top_k < 1)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "top_k must be at least 1 (got %d)",
                         p.top_k);
    if (p.mode < SEMBED_STORE_EXACT || p.mode > SEMBED_STORE_HNSW)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "unknown search mode %d", (int)p.mode);
    if (p.ef < 0 || p.ef > SEMBED_HNSW_MAX_EF)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "ef %d is outside 1..%d", p.ef,
                         SEMBED_HNSW_MAX_EF);
    size_t need;
    if (mul_overflow_size(nq, (size_t)p.top_k, &need) || need > hits_cap)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "hits holds %zu entries, %zu queries x top_k %d need more", hits_cap,
                         nq, p.top_k);
    /* HNSW searches need only the row count; the others the vectors. */
    int64_t rows = 0;
    sembed_status st;
    if (p.mode == SEMBED_STORE_HNSW) {
        sembed_store_info info;
        st = sembed_store_get_info(store, &info, err);
        rows = info.rows;
    } else {
        st = store_refresh_vectors(store, &rows, err);
    }
    if (st != SEMBED_OK)
        return st;
    if (rows > 0 && dim != store->dim)
        return set_error(err, SEMBED_ERR_MISMATCH,
                         "the query has %d dimensions, %s holds %d", dim, store->path,
                         store->dim);
    if (dim < 1 || dim > SEMBED_STORE_MAX_DIM)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "query length %d is outside 1..%d",
                         dim, SEMBED_STORE_MAX_DIM);
    /* Zero queries are refused in every mode: cosine has no direction to
     * compare, and the modes would disagree about what to return. */
    for (size_t q = 0; q < nq; q++)
        if ((st = store_check_vector(queries + q * (size_t)dim, (size_t)dim, "query", q, err)))
            return st;
    for (size_t q = 0; q < nq; q++)
        n_hits[q] = 0;
    if (nq == 0 || rows == 0)
        return SEMBED_OK;

    if (p.mode == SEMBED_STORE_HNSW)
        return search_hnsw(store, queries, nq, dim, &p, hits, hits_cap, n_hits, rows, err);

    sembed_search_params sp = sembed_search_default_params();
    sp.top_k = p.top_k;
    sp.score = p.score;
    sp.n_threads = p.n_threads;
    if (p.rescore_multiplier > 0)
        sp.rescore_multiplier = p.rescore_multiplier;
    if (p.mode == SEMBED_STORE_EXACT)
        return sembed_search(queries, nq, store->vec, (size_t)rows, dim, &sp, hits, hits_cap,
                             n_hits, err);

    /* Quantized: int8 uses the store's own per-dimension ranges. The
     * quantized rows are kept in the handle until rows are added. */
    sembed_precision prec =
        p.mode == SEMBED_STORE_INT8 ? SEMBED_PRECISION_INT8 : SEMBED_PRECISION_BINARY;
    if (!store->qc || store->qc_rows != (size_t)rows || store->qc_precision != (int)prec) {
        sembed_qcorpus_free(store->qc);
        store->qc = NULL;
        st = sembed_qcorpus_init(store->vec, (size_t)rows, dim, prec, NULL, &store->qc, err);
        if (st != SEMBED_OK)
            return st;
        store->qc_rows = (size_t)rows;
        store->qc_precision = (int)prec;
    }
    return sembed_qcorpus_search(store->qc, store->vec, queries, nq, dim, &sp, hits, hits_cap,
                                 n_hits, err);
}
