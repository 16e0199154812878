/*
 * corpus.c - the corpus behind POST /search: either an embedding file (any
 * format sembed_matrix_read() takes: .npy, pandas CSV, JSON Lines) with a
 * text file of the same number of lines, or a store (--db). Searches go
 * through the library (sembed_search, sembed_store_search), so the server
 * returns exactly what `sembed search` prints for the same corpus.
 */
#include "server.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct srv_corpus {
    /* Files: the vectors and texts in memory. */
    sembed_matrix m;
    cli_texts texts;
    int has_texts;
    /* Store: one handle, used by one thread at a time. */
    sembed_store *store;
    pthread_mutex_t mu;
    int has_mu;
    /* Row texts fetched from the store, cached per corpus_id. */
    char **row_text;
    size_t *row_len;
    size_t rows;
};

static sembed_status fail_msg(sembed_error *err, sembed_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static sembed_status fail_msg(sembed_error *err, sembed_status st, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        err->status = st;
    }
    return st;
}

sembed_status srv_corpus_load_files(const char *vectors_path, const char *texts_path, int dim,
                                    srv_corpus **out, sembed_error *err) {
    *out = NULL;
    srv_corpus *c = calloc(1, sizeof *c);
    if (!c)
        return fail_msg(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
    sembed_status st = sembed_matrix_read(vectors_path, NULL, &c->m, err);
    if (st != SEMBED_OK)
        goto fail;
    if (c->m.cols != (size_t)dim) {
        st = fail_msg(err, SEMBED_ERR_MISMATCH,
                      "%s: vectors have %zu values but the model's embeddings have %d",
                      vectors_path, c->m.cols, dim);
        goto fail;
    }
    c->rows = c->m.rows;
    if (texts_path) {
        /* cli_read_texts prints its own message on failure. */
        if (cli_read_texts(texts_path, CLI_INPUT_TEXT, &c->texts) != 0) {
            st = fail_msg(err, SEMBED_ERR_IO, "cannot read the texts in %s", texts_path);
            goto fail;
        }
        if (c->texts.n != c->m.rows) {
            st = fail_msg(err, SEMBED_ERR_MISMATCH,
                          "%s has %zu lines but %s has %zu vectors: they must match", texts_path,
                          c->texts.n, vectors_path, c->m.rows);
            goto fail;
        }
        c->has_texts = 1;
    }
    *out = c;
    return SEMBED_OK;
fail:
    srv_corpus_free(c);
    return st;
}

sembed_status srv_corpus_load_db(const char *db_path, int dim, srv_corpus **out,
                                 sembed_error *err) {
    *out = NULL;
    srv_corpus *c = calloc(1, sizeof *c);
    if (!c)
        return fail_msg(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
    sembed_status st = sembed_store_open(db_path, SEMBED_STORE_READONLY, &c->store, err);
    if (st != SEMBED_OK)
        goto fail;
    sembed_store_info info;
    st = sembed_store_get_info(c->store, &info, err);
    if (st != SEMBED_OK)
        goto fail;
    if (info.rows > 0 && info.dim != dim) {
        st = fail_msg(err, SEMBED_ERR_MISMATCH,
                      "%s: the store's vectors have %d values but the model's embeddings have %d",
                      db_path, info.dim, dim);
        goto fail;
    }
    c->rows = info.rows > 0 ? (size_t)info.rows : 0;
    c->row_text = calloc(c->rows ? c->rows : 1, sizeof *c->row_text);
    c->row_len = calloc(c->rows ? c->rows : 1, sizeof *c->row_len);
    if (!c->row_text || !c->row_len) {
        st = fail_msg(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
        goto fail;
    }
    /* Texts are read once, at start, so /search answers without touching
     * the database for them. */
    for (size_t i = 0; i < c->rows; i++) {
        sembed_store_row row;
        memset(&row, 0, sizeof row);
        st = sembed_store_get_row(c->store, (int64_t)i, &row, err);
        if (st != SEMBED_OK)
            goto fail;
        int lost = 0;
        if (row.text) {
            c->row_text[i] = malloc(row.text_len + 1);
            lost = !c->row_text[i];
            if (c->row_text[i]) {
                memcpy(c->row_text[i], row.text, row.text_len);
                c->row_text[i][row.text_len] = 0;
                c->row_len[i] = row.text_len;
            }
        }
        sembed_store_row_clear(&row);
        if (lost) {
            st = fail_msg(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
            goto fail;
        }
    }
    pthread_mutex_init(&c->mu, NULL);
    c->has_mu = 1;
    *out = c;
    return SEMBED_OK;
fail:
    srv_corpus_free(c);
    return st;
}

size_t srv_corpus_size(const srv_corpus *c) { return c ? c->rows : 0; }

sembed_status srv_corpus_search(const srv_corpus *c_, const float *queries, size_t n_queries,
                                int dim, int top_k, sembed_hit *hits, size_t *n_hits,
                                sembed_error *err) {
    srv_corpus *c = (srv_corpus *)c_;
    if (!c)
        return fail_msg(err, SEMBED_ERR_NOT_FOUND, "no corpus is loaded");
    size_t cap = n_queries * (size_t)top_k;
    if (c->store) {
        sembed_store_search_params sp = sembed_store_search_default_params();
        sp.top_k = top_k;
        sp.n_threads = 1;
        pthread_mutex_lock(&c->mu);
        sembed_status st =
            sembed_store_search(c->store, queries, n_queries, dim, &sp, hits, cap, n_hits, err);
        pthread_mutex_unlock(&c->mu);
        return st;
    }
    sembed_search_params sp = sembed_search_default_params();
    sp.top_k = top_k;
    sp.n_threads = 1; /* the HTTP threads already run in parallel */
    return sembed_search(queries, n_queries, c->m.data, c->m.rows, dim, &sp, hits, cap, n_hits,
                         err);
}

const char *srv_corpus_text(const srv_corpus *c, int64_t id, size_t *len) {
    if (!c || id < 0 || (size_t)id >= c->rows)
        return NULL;
    if (c->store) {
        *len = c->row_len[id];
        return c->row_text[id];
    }
    if (c->has_texts) {
        *len = c->texts.lens[id];
        return c->texts.texts[id];
    }
    if (c->m.texts && c->m.texts[id]) {
        *len = strlen(c->m.texts[id]);
        return c->m.texts[id];
    }
    return NULL;
}

void srv_corpus_free(srv_corpus *c) {
    if (!c)
        return;
    sembed_matrix_free(&c->m);
    cli_texts_free(&c->texts);
    if (c->row_text)
        for (size_t i = 0; i < c->rows; i++)
            free(c->row_text[i]);
    free(c->row_text);
    free(c->row_len);
    sembed_store_close(c->store);
    if (c->has_mu)
        pthread_mutex_destroy(&c->mu);
    free(c);
}
