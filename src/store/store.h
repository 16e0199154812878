/*
 * store.h - what the store's files share: the handle, the SQLite error
 * mapping and the metadata table helpers. store.c keeps the database
 * (schema, rows, model identity), store_search.c the searches and the HNSW
 * index beside the database, store_model.c the identity of a loaded model.
 */
#ifndef SEMBED_STORE_H
#define SEMBED_STORE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "sembed.h"

/* The schema this code writes and reads (PRAGMA user_version). */
#define STORE_SCHEMA_VERSION 1
/* PRAGMA application_id: "SMBD", so that another program's SQLite file is
 * recognised as not being a store. */
#define STORE_APPLICATION_ID 0x534d4244

struct sembed_store {
    sqlite3 *db;
    char *path;
    char *hnsw_path;
    int writable;
    int in_txn;          /* between sembed_store_begin() and commit/rollback */
    int dim;             /* the store's vector length; 0 while empty */

    /* Search caches: rows only ever get appended, so the vectors loaded so
     * far stay valid and a refresh reads only the new rows. */
    float *vec;
    size_t vec_rows, vec_cap;
    sembed_qcorpus *qc;  /* quantized rows for INT8 / BINARY searches */
    size_t qc_rows;
    int qc_precision;
    sembed_hnsw *hnsw;
    int64_t hnsw_rows;
    char hnsw_sha[65];
};

/* Maps a SQLite result code to a status and a message naming the file;
 * `what` says what was being done. Returns the status. */
sembed_status store_db_error(const sembed_store *s, int rc, const char *what, sembed_error *err);

/* The meta table (key -> text value). get copies the value into out (cap
 * bytes) and returns SEMBED_ERR_NOT_FOUND when the key is absent. */
sembed_status store_meta_get(sembed_store *s, const char *key, char *out, size_t cap,
                             sembed_error *err);
sembed_status store_meta_set(sembed_store *s, const char *key, const char *value,
                             sembed_error *err);
sembed_status store_meta_get_int(sembed_store *s, const char *key, int64_t *out,
                                 sembed_error *err);

/* Number of rows (the next corpus_id). */
sembed_status store_rows(sembed_store *s, int64_t *rows, sembed_error *err);

/* Brings s->vec up to the rows now in the database; *rows gets the count. */
sembed_status store_refresh_vectors(sembed_store *s, int64_t *rows, sembed_error *err);

/* Drops the search caches (after a failed read, or when the index file
 * changes). */
void store_drop_caches(sembed_store *s);

/* Runs one statement without results. */
sembed_status store_exec(sembed_store *s, const char *sql, sembed_error *err);

/* Checks that a vector is finite and not zero; `what` names it. */
sembed_status store_check_vector(const float *v, size_t dim, const char *what, size_t index,
                                 sembed_error *err);

/* Loads (or reloads) the HNSW index when the recorded one differs from the
 * cached one; SEMBED_ERR_NOT_FOUND when the store has none. */
sembed_status store_load_hnsw(sembed_store *s, sembed_error *err);

#endif /* SEMBED_STORE_H */
