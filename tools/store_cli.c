/*
 * store_cli.c - helpers of the store commands (see store_cli.h): model
 * loading with identity, batched embedding, search with row lookup and
 * the two output forms.
 */
#include "store_cli.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *store_cli_default_db(void) {
    const char *env = getenv("SEMBED_DB");
    return env && *env ? env : "sembed.db";
}

/* ==== Models ================================================================ */

void store_cli_model_free(store_cli_model *m) {
    if (!m)
        return;
    sembed_context_free(m->ctx);
    sembed_model_free(m->model);
    memset(m, 0, sizeof *m);
}

int store_cli_model_load(const char *name, int n_threads, store_cli_model *m) {
    memset(m, 0, sizeof *m);
    char dir[4096];
    sembed_hub_info hub;
    memset(&hub, 0, sizeof hub);
    int rc = cli_resolve_model_info(name, dir, sizeof dir, &hub);
    if (rc)
        return rc;
    return store_cli_model_load_dir(dir, &hub, n_threads, m);
}

int store_cli_model_load_dir(const char *dir, const sembed_hub_info *hub, int n_threads,
                             store_cli_model *m) {
    memset(m, 0, sizeof *m);
    sembed_error err;
    sembed_model_params mp = sembed_model_default_params();
    if (sembed_model_load(dir, &mp, &m->model, &err) != SEMBED_OK)
        return cli_fail(&err);
    /* A Hub model is recorded by repo id and commit, a plain folder by its
     * absolute path; the weights hash decides sameness either way. */
    const char *id_name = hub && hub->repo_id[0] ? hub->repo_id : dir;
    const char *revision = !hub ? NULL
                           : hub->commit[0] ? hub->commit
                           : hub->revision[0] ? hub->revision : NULL;
    if (sembed_store_model_from(m->model, id_name, revision, &m->id, &err) != SEMBED_OK) {
        store_cli_model_free(m);
        return cli_fail(&err);
    }
    m->dim = sembed_model_dim(m->model);
    sembed_context_params cp = sembed_context_default_params();
    cp.n_threads = n_threads;
    if (sembed_context_init(m->model, &cp, &m->ctx, &err) != SEMBED_OK) {
        store_cli_model_free(m);
        return cli_fail(&err);
    }
    return 0;
}

int store_cli_model_for_store(sembed_store *store, const char *name, int n_threads,
                              store_cli_model *m) {
    sembed_store_info info;
    sembed_error err;
    memset(m, 0, sizeof *m);
    if (sembed_store_get_info(store, &info, &err) != SEMBED_OK)
        return cli_fail(&err);
    if (!name) {
        if (!info.has_model) {
            cli_error("%s records no model (its vectors were added without one): pass --model, "
                      "or search with --queries FILE of vectors",
                      info.path);
            return CLI_FAIL;
        }
        name = info.model.name;
    }
    int rc = store_cli_model_load(name, n_threads, m);
    if (rc)
        return rc;
    if (sembed_store_check_model(store, &m->id, &err) != SEMBED_OK) {
        store_cli_model_free(m);
        return cli_fail(&err);
    }
    if (info.dim && m->dim != info.dim) {
        cli_error("model %s embeds %d dimensions, %s holds %d", m->id.name, m->dim, info.path,
                  info.dim);
        store_cli_model_free(m);
        return CLI_FAIL;
    }
    return 0;
}

int store_cli_embed(store_cli_model *m, const char *const *texts, const size_t *lens, size_t n,
                    size_t batch, float *out, cli_progress *progress) {
    sembed_embed_params ep = sembed_embed_default_params();
    sembed_error err;
    size_t d = (size_t)m->dim;
    for (size_t i = 0; i < n; i += batch) {
        size_t k = n - i < batch ? n - i : batch;
        if (sembed_embed(m->ctx, texts + i, lens ? lens + i : NULL, k, &ep, out + i * d, k * d,
                         &err) != SEMBED_OK) {
            if (progress)
                cli_progress_finish(progress);
            cli_error("text %zu: %s", i + 1, err.message);
            return CLI_FAIL;
        }
        if (progress)
            cli_progress_update(progress, i + k);
    }
    return 0;
}

/* ==== Searching ============================================================= */

void store_cli_results_free(store_cli_results *r) {
    if (!r)
        return;
    if (r->rows)
        for (size_t i = 0; i < r->nq * (size_t)r->top_k; i++)
            sembed_store_row_clear(&r->rows[i]);
    free(r->rows);
    free(r->hits);
    free(r->n_hits);
    memset(r, 0, sizeof *r);
}

int store_cli_search(sembed_store *store, const float *queries, size_t nq, int dim,
                     const sembed_store_search_params *params, store_cli_results *out) {
    memset(out, 0, sizeof *out);
    size_t k = (size_t)params->top_k;
    if (nq && k > SIZE_MAX / sizeof(sembed_store_row) / nq) {
        cli_error("too many results asked for (%zu queries x top_k %zu)", nq, k);
        return CLI_FAIL;
    }
    out->nq = nq;
    out->top_k = params->top_k;
    size_t total = nq * k > 0 ? nq * k : 1;
    out->hits = calloc(total, sizeof *out->hits);
    out->n_hits = calloc(nq ? nq : 1, sizeof *out->n_hits);
    out->rows = calloc(total, sizeof *out->rows);
    if (!out->hits || !out->n_hits || !out->rows) {
        store_cli_results_free(out);
        cli_error("out of memory for %zu x %zu results", nq, k);
        return CLI_FAIL;
    }
    sembed_error err;
    if (sembed_store_search(store, queries, nq, dim, params, out->hits, nq * k, out->n_hits,
                            &err) != SEMBED_OK) {
        store_cli_results_free(out);
        return cli_fail(&err);
    }
    for (size_t q = 0; q < nq; q++)
        for (size_t j = 0; j < out->n_hits[q]; j++)
            if (sembed_store_get_row(store, out->hits[q * k + j].corpus_id, &out->rows[q * k + j],
                                     &err) != SEMBED_OK) {
                store_cli_results_free(out);
                return cli_fail(&err);
            }
    return 0;
}

/* ==== Output ================================================================ */


void store_cli_print_json(FILE *fp, const store_cli_results *r) {
    size_t k = (size_t)r->top_k;
    fputc('[', fp);
    for (size_t q = 0; q < r->nq; q++) {
        fputs(q ? ", [" : "[", fp);
        for (size_t j = 0; j < r->n_hits[q]; j++) {
            const sembed_hit *h = &r->hits[q * k + j];
            const sembed_store_row *row = &r->rows[q * k + j];
            fprintf(fp, "%s{\"corpus_id\": %lld, \"score\": ", j ? ", " : "",
                    (long long)h->corpus_id);
            cli_json_float(fp, h->score);
            fputs(", \"text\": ", fp);
            if (row->text)
                cli_json_string(fp, row->text, row->text_len);
            else
                fputs("null", fp);
            if (row->id) {
                fputs(", \"id\": ", fp);
                cli_json_string(fp, row->id, strlen(row->id));
            }
            if (row->metadata)
                fprintf(fp, ", \"metadata\": %s", row->metadata);
            fputc('}', fp);
        }
        fputc(']', fp);
    }
    fputs("]\n", fp);
}

/* Writes at most max bytes of a text on one line: control characters
 * become spaces, and a cut never splits a UTF-8 sequence. */
static void put_line_text(FILE *fp, const char *s, size_t len, size_t max) {
    size_t n = len;
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    for (size_t i = 0; i < n; i++)
        fputc((unsigned char)s[i] < 0x20 ? ' ' : s[i], fp);
    if (n < len)
        fputs("...", fp);
}

void store_cli_print_table(FILE *fp, const store_cli_results *r, const char *const *query_texts) {
    size_t k = (size_t)r->top_k;
    for (size_t q = 0; q < r->nq; q++) {
        if (q)
            fputc('\n', fp);
        if (query_texts && query_texts[q]) {
            fputs("Query: ", fp);
            put_line_text(fp, query_texts[q], strlen(query_texts[q]), 200);
            fputc('\n', fp);
        } else {
            fprintf(fp, "Query %zu\n", q);
        }
        if (r->n_hits[q] == 0) {
            fputs("  (no results: the store is empty)\n", fp);
            continue;
        }
        fprintf(fp, "  %-4s %-9s %-7s %s\n", "rank", "corpus_id", "score", "text");
        for (size_t j = 0; j < r->n_hits[q]; j++) {
            const sembed_hit *h = &r->hits[q * k + j];
            const sembed_store_row *row = &r->rows[q * k + j];
            fprintf(fp, "  %-4zu %-9lld %-7.4f ", j + 1, (long long)h->corpus_id, h->score);
            if (row->text)
                put_line_text(fp, row->text, row->text_len, 120);
            else if (row->id)
                fprintf(fp, "(id %s)", row->id);
            else
                fputs("(no text)", fp);
            fputc('\n', fp);
        }
    }
}
