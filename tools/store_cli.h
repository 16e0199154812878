/*
 * store_cli.h - what the store commands share (sembed index, sembed search
 * --db, sembed faq): the default store path, model loading with the
 * identity a store records, batched embedding, and printing hits as a
 * table or as semantic_search's JSON.
 */
#ifndef SEMBED_STORE_CLI_H
#define SEMBED_STORE_CLI_H

#include <stdio.h>

#include "cli.h"

/* The store used when no --db is given: $SEMBED_DB, else "sembed.db" in
 * the working directory. */
const char *store_cli_default_db(void);

/* Texts per call into the engine when --batch-size is not given. */
#define STORE_CLI_DEFAULT_BATCH 64

/* A model loaded for a store: the model, a context and its identity. */
typedef struct store_cli_model {
    sembed_model *model;
    sembed_context *ctx;
    sembed_store_model id;
    int dim;
} store_cli_model;

/* Resolves and loads `name` (a folder or a Hub repo id), creates a context
 * of n_threads (0 = all CPUs) and computes the identity (repo id and
 * commit for a Hub model, the absolute folder otherwise; the weights hash).
 * Prints errors; returns 0 or CLI_FAIL. */
int store_cli_model_load(const char *name, int n_threads, store_cli_model *m);
/* The same for a folder already resolved; hub (may be NULL) says where it
 * came from. */
int store_cli_model_load_dir(const char *dir, const sembed_hub_info *hub, int n_threads,
                             store_cli_model *m);
void store_cli_model_free(store_cli_model *m);

/* Loads the model for searching `store`: `name` when given (it must be the
 * store's model), else the model the store recorded. Prints errors. */
int store_cli_model_for_store(sembed_store *store, const char *name, int n_threads,
                              store_cli_model *m);

/* Embeds n texts in batches of `batch` into out (n * m->dim floats). */
int store_cli_embed(store_cli_model *m, const char *const *texts, const size_t *lens, size_t n,
                    size_t batch, float *out, cli_progress *progress);

/* A search result with its rows' text, id and metadata. */
typedef struct store_cli_results {
    size_t nq;
    int top_k;
    sembed_hit *hits;          /* nq * top_k */
    size_t *n_hits;            /* nq */
    sembed_store_row *rows;    /* nq * top_k, filled for valid hits */
} store_cli_results;

/* Runs the search and fetches the rows of the hits. Prints errors. */
int store_cli_search(sembed_store *store, const float *queries, size_t nq, int dim,
                     const sembed_store_search_params *params, store_cli_results *out);
void store_cli_results_free(store_cli_results *r);

/* Prints the results: JSON as semantic_search returns them plus "text"
 * (and "id", "metadata" when a row has them), or a readable table under
 * each query (query_texts may be NULL). */
void store_cli_print_json(FILE *fp, const store_cli_results *r);
void store_cli_print_table(FILE *fp, const store_cli_results *r, const char *const *query_texts);

/* JSON output helpers: a string (invalid UTF-8 bytes become U+FFFD) and a
 * float32 written as Python's json.dumps writes float(x). */

#endif /* SEMBED_STORE_CLI_H */
