/*
 * store.c - the embedded store: one SQLite database (Debian libsqlite3)
 * with the texts, external ids, JSON metadata and float32 vectors of a
 * corpus plus the identity of the model that embedded it.
 *
 * Durability comes from SQLite: WAL journal with synchronous=FULL, and
 * every add in one transaction, so a crash at any point leaves either the
 * old rows or the new ones. Readers in other processes keep working while
 * one writer adds. Schema and formats are in docs/STORE.md.
 */
#include "store/store.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the store keeps vectors as little-endian float32 and is written for little-endian hosts"
#endif

static const char schema_sql[] =
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE items ("
    "  corpus_id INTEGER PRIMARY KEY,"
    "  ext_id TEXT UNIQUE,"
    "  text TEXT,"
    "  metadata TEXT,"
    "  check_value INTEGER NOT NULL);"
    "CREATE TABLE vectors ("
    "  corpus_id INTEGER PRIMARY KEY,"
    "  vector BLOB NOT NULL,"
    "  check_value INTEGER NOT NULL);";

/* ==== Row check values ====================================================== */

/* SQLite keeps no checksums of its own, so damage inside a value (a bit
 * flip, a file cut inside its last page) would read back as a wrong vector
 * or text. Each row therefore carries a 64-bit check value over its fields,
 * verified on every read. It is not cryptographic: every step below is a
 * bijection of the state, so a change in any one 8-byte word always changes
 * the result, and wider damage goes unnoticed with probability 2^-64. */
static uint64_t mix_bytes(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    h = (h ^ ((uint64_t)n * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
        b += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, b, n);
    h = (h ^ w ^ ((uint64_t)n << 56)) * 0x100000001b3ull;
    h ^= h >> 29;
    return h;
}

static uint64_t mix_field(uint64_t h, const void *p, size_t n) {
    unsigned char present = p != NULL;
    h = mix_bytes(h, &present, 1);
    return p ? mix_bytes(h, p, n) : h;
}

static int64_t finish(uint64_t h) {
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return (int64_t)h;
}

static int64_t item_check(int64_t row, const void *id, size_t id_len, const void *text,
                          size_t text_len, const void *meta, size_t meta_len) {
    uint64_t h = mix_bytes(0x736d6264u, &row, sizeof row);
    h = mix_field(h, id, id_len);
    h = mix_field(h, text, text_len);
    return finish(mix_field(h, meta, meta_len));
}

static int64_t vector_check(int64_t row, const void *vec, size_t bytes) {
    return finish(mix_bytes(mix_bytes(0x76656373u, &row, sizeof row), vec, bytes));
}

/* ==== Errors ================================================================ */

sembed_status store_db_error(const sembed_store *s, int rc, const char *what, sembed_error *err) {
    const char *path = s && s->path ? s->path : "store";
    const char *detail = s && s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
    switch (rc & 0xff) {
    case SQLITE_NOTADB:
        return set_error(err, SEMBED_ERR_FORMAT,
                         "%s is not a sembed store (not a SQLite database, or damaged)", path);
    case SQLITE_CORRUPT:
        return set_error(err, SEMBED_ERR_FORMAT, "%s is damaged (%s while %s)", path, detail,
                         what);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return set_error(err, SEMBED_ERR_BUSY,
                         "%s is busy: another process is writing to it (waited %d ms while %s)",
                         path, SEMBED_STORE_BUSY_TIMEOUT_MS, what);
    case SQLITE_FULL:
        return set_error(err, SEMBED_ERR_IO, "%s: disk full while %s", path, what);
    case SQLITE_IOERR:
        return set_error(err, SEMBED_ERR_IO, "%s: I/O error while %s (%s)", path, what, detail);
    case SQLITE_READONLY:
        return set_error(err, SEMBED_ERR_IO, "%s is read-only (%s while %s)", path, detail, what);
    case SQLITE_CANTOPEN:
        return set_error(err, SEMBED_ERR_IO, "cannot open %s (%s)", path, detail);
    case SQLITE_NOMEM:
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory while %s (%s)", what,
                         path);
    case SQLITE_TOOBIG:
        return set_error(err, SEMBED_ERR_LIMIT, "%s: a value is too large while %s", path, what);
    case SQLITE_CONSTRAINT:
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "%s: %s while %s", path, detail, what);
    default:
        return set_error(err, SEMBED_ERR_INTERNAL, "%s: SQLite error while %s: %s", path, what,
                         detail);
    }
}

sembed_status store_exec(sembed_store *s, const char *sql, sembed_error *err) {
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return store_db_error(s, rc, sql, err);
    return SEMBED_OK;
}

/* ==== Meta table ============================================================ */

sembed_status store_meta_get(sembed_store *s, const char *key, char *out, size_t cap,
                             sembed_error *err) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_db_error(s, rc, "reading the store metadata", err);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sembed_status res = SEMBED_OK;
    if (rc == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        int n = sqlite3_column_bytes(st, 0);
        if (!v || (size_t)n >= cap)
            res = set_error(err, SEMBED_ERR_FORMAT, "%s is damaged: metadata \"%s\" is %s",
                            s->path, key, v ? "too long" : "unreadable");
        else
            memcpy(out, v, (size_t)n + 1);
    } else if (rc == SQLITE_DONE) {
        res = set_error(err, SEMBED_ERR_NOT_FOUND, "%s: no metadata \"%s\"", s->path, key);
    } else {
        res = store_db_error(s, rc, "reading the store metadata", err);
    }
    sqlite3_finalize(st);
    return res;
}

sembed_status store_meta_set(sembed_store *s, const char *key, const char *value,
                             sembed_error *err) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_OK)
        return store_db_error(s, rc, "writing the store metadata", err);
    return SEMBED_OK;
}

sembed_status store_meta_get_int(sembed_store *s, const char *key, int64_t *out,
                                 sembed_error *err) {
    char buf[32];
    sembed_status st = store_meta_get(s, key, buf, sizeof buf, err);
    if (st != SEMBED_OK)
        return st;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || end == buf || *end)
        return set_error(err, SEMBED_ERR_FORMAT, "%s is damaged: metadata \"%s\" = \"%s\"",
                         s->path, key, buf);
    *out = v;
    return SEMBED_OK;
}

static sembed_status meta_set_int(sembed_store *s, const char *key, int64_t v,
                                  sembed_error *err) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    return store_meta_set(s, key, buf, err);
}

/* ==== Opening =============================================================== */

static sembed_status pragma_int(sembed_store *s, const char *sql, int64_t *out,
                                sembed_error *err) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        return store_db_error(s, rc, "reading the database header", err);
    return SEMBED_OK;
}

static sembed_status create_schema(sembed_store *s, sembed_error *err) {
    sembed_status st = store_exec(s, "BEGIN IMMEDIATE", err);
    if (st != SEMBED_OK)
        return st;
    /* Another process may have created it while we waited for the lock. */
    int64_t n_tables = 0;
    st = pragma_int(s, "SELECT count(*) FROM sqlite_master", &n_tables, err);
    if (st == SEMBED_OK && n_tables == 0) {
        char sql[128];
        st = store_exec(s, schema_sql, err);
        if (st == SEMBED_OK) {
            snprintf(sql, sizeof sql, "PRAGMA application_id = %d", STORE_APPLICATION_ID);
            st = store_exec(s, sql, err);
        }
        if (st == SEMBED_OK) {
            snprintf(sql, sizeof sql, "PRAGMA user_version = %d", STORE_SCHEMA_VERSION);
            st = store_exec(s, sql, err);
        }
        if (st == SEMBED_OK)
            st = store_meta_set(s, "created_by", "sembed " SEMBED_VERSION_STRING, err);
    }
    if (st != SEMBED_OK) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return st;
    }
    return store_exec(s, "COMMIT", err);
}

/* Checks that the file is a store of a schema we read, creating the
 * schema in a new (empty) database. */
static sembed_status check_schema(sembed_store *s, int create, sembed_error *err) {
    int64_t app = 0, version = 0, n_tables = 0;
    sembed_status st = pragma_int(s, "PRAGMA application_id", &app, err);
    if (st == SEMBED_OK)
        st = pragma_int(s, "PRAGMA user_version", &version, err);
    if (st == SEMBED_OK)
        st = pragma_int(s, "SELECT count(*) FROM sqlite_master", &n_tables, err);
    if (st != SEMBED_OK)
        return st;
    if (app == 0 && version == 0 && n_tables == 0) {
        /* An empty file becomes a store only when the caller asked to
         * create one; otherwise it is more likely a store that lost its
         * contents, which deserves a message. */
        if (!create)
            return set_error(err, SEMBED_ERR_FORMAT, "%s is empty, not a sembed store", s->path);
        st = create_schema(s, err);
        if (st != SEMBED_OK)
            return st;
        st = pragma_int(s, "PRAGMA application_id", &app, err);
        if (st == SEMBED_OK)
            st = pragma_int(s, "PRAGMA user_version", &version, err);
        if (st != SEMBED_OK)
            return st;
    }
    if (app != STORE_APPLICATION_ID)
        return set_error(err, SEMBED_ERR_FORMAT,
                         "%s is a SQLite database of another program, not a sembed store",
                         s->path);
    if (version > STORE_SCHEMA_VERSION)
        return set_error(err, SEMBED_ERR_UNSUPPORTED,
                         "%s has store schema %lld; this sembed reads schema %d (upgrade sembed)",
                         s->path, (long long)version, STORE_SCHEMA_VERSION);
    if (version < 1)
        return set_error(err, SEMBED_ERR_FORMAT, "%s has no store schema version", s->path);
    int64_t have = 0;
    st = pragma_int(s,
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                    "name IN ('meta', 'items', 'vectors')",
                    &have, err);
    if (st != SEMBED_OK)
        return st;
    if (have != 3)
        return set_error(err, SEMBED_ERR_FORMAT, "%s is damaged: store tables are missing",
                         s->path);
    int64_t dim = 0;
    st = store_meta_get_int(s, "dim", &dim, err);
    if (st == SEMBED_ERR_NOT_FOUND) {
        dim = 0;
        st = SEMBED_OK;
    }
    if (st != SEMBED_OK)
        return st;
    if (dim < 0 || dim > SEMBED_STORE_MAX_DIM)
        return set_error(err, SEMBED_ERR_FORMAT, "%s is damaged: dim %lld", s->path,
                         (long long)dim);
    s->dim = (int)dim;
    return SEMBED_OK;
}

sembed_status sembed_store_open(const char *path, unsigned flags, sembed_store **out,
                                sembed_error *err) {
    if (!path || !*path || !out)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_store_open: no path");
    *out = NULL;
    if (flags & ~(unsigned)(SEMBED_STORE_READWRITE | SEMBED_STORE_CREATE))
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_store_open: unknown flags %#x",
                         flags);
    int writable = (flags & SEMBED_STORE_READWRITE) != 0;
    int create = writable && (flags & SEMBED_STORE_CREATE);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (errno != ENOENT || !create)
            return set_error(err, errno == ENOENT ? SEMBED_ERR_NOT_FOUND : SEMBED_ERR_IO,
                             "store %s: %s", path, strerror(errno));
    } else if (!S_ISREG(sb.st_mode)) {
        return set_error(err, SEMBED_ERR_IO, "store %s is not a regular file", path);
    }

    sembed_status st = SEMBED_OK;
    sembed_store *s = calloc(1, sizeof *s);
    if (!s)
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
    s->writable = writable;
    size_t plen = strlen(path);
    s->path = strdup(path);
    s->hnsw_path = malloc(plen + 6);
    if (!s->path || !s->hnsw_path) {
        st = set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
        goto fail;
    }
    snprintf(s->hnsw_path, plen + 6, "%s.hnsw", path);

    int oflags = writable ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY;
    if (create)
        oflags |= SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(path, &s->db, oflags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        st = store_db_error(s, rc, "opening", err);
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, SEMBED_STORE_BUSY_TIMEOUT_MS);
    /* Foreign content never runs code: no extensions, no triggers from a
     * file we did not write, no views. */
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL);
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_ENABLE_VIEW, 0, NULL);
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);

    st = store_exec(s, "PRAGMA synchronous = FULL", err);
    if (st != SEMBED_OK)
        goto fail;
    /* The schema is checked before anything is written, so that opening a
     * file that is not a store never changes it. */
    st = check_schema(s, create, err);
    if (st != SEMBED_OK)
        goto fail;
    if (writable) {
        /* WAL is a property of the file: set once, it stays. */
        st = store_exec(s, "PRAGMA journal_mode = WAL", err);
        if (st != SEMBED_OK)
            goto fail;
    }
    *out = s;
    return SEMBED_OK;
fail:
    sembed_store_close(s);
    return st;
}

void store_drop_caches(sembed_store *s) {
    free(s->vec);
    s->vec = NULL;
    s->vec_rows = s->vec_cap = 0;
    sembed_qcorpus_free(s->qc);
    s->qc = NULL;
    s->qc_rows = 0;
    sembed_hnsw_free(s->hnsw);
    s->hnsw = NULL;
    s->hnsw_rows = 0;
    s->hnsw_sha[0] = 0;
}

void sembed_store_close(sembed_store *store) {
    if (!store)
        return;
    if (store->db) {
        if (store->in_txn)
            sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close_v2(store->db);
    }
    store_drop_caches(store);
    free(store->path);
    free(store->hnsw_path);
    free(store);
}

/* ==== Transactions ========================================================== */

sembed_status sembed_store_begin(sembed_store *store, sembed_error *err) {
    if (!store)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_store_begin: NULL store");
    if (!store->writable)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "%s was opened read-only",
                         store->path);
    if (store->in_txn)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "%s: a transaction is already open",
                         store->path);
    /* IMMEDIATE takes the write lock now, so that a second writer waits
     * here (busy timeout) rather than failing halfway through. */
    sembed_status st = store_exec(store, "BEGIN IMMEDIATE", err);
    if (st == SEMBED_OK)
        store->in_txn = 1;
    return st;
}

sembed_status sembed_store_commit(sembed_store *store, sembed_error *err) {
    if (!store || !store->in_txn)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_store_commit: no transaction");
    sembed_status st = store_exec(store, "COMMIT", err);
    if (st != SEMBED_OK) {
        sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
        store_drop_caches(store);
    }
    store->in_txn = 0;
    return st;
}

void sembed_store_rollback(sembed_store *store) {
    if (!store || !store->in_txn)
        return;
    sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
    store->in_txn = 0;
    /* Cached rows or dim may have come from the rolled-back transaction. */
    store_drop_caches(store);
    int64_t dim = 0;
    if (store_meta_get_int(store, "dim", &dim, NULL) != SEMBED_OK)
        dim = 0;
    store->dim = (int)dim;
}

/* ==== Model identity ======================================================== */

static sembed_status get_model(sembed_store *s, sembed_store_model *m, int *has,
                               sembed_error *err) {
    memset(m, 0, sizeof *m);
    m->normalize = -1;
    *has = 0;
    sembed_status st = store_meta_get(s, "model_name", m->name, sizeof m->name, err);
    if (st == SEMBED_ERR_NOT_FOUND) {
        m->dim = s->dim;
        return SEMBED_OK;
    }
    if (st != SEMBED_OK)
        return st;
    *has = 1;
    char buf[32];
    int64_t v;
    if ((st = store_meta_get(s, "model_revision", m->revision, sizeof m->revision, err)) ||
        (st = store_meta_get(s, "model_sha256", m->weights_sha256, sizeof m->weights_sha256,
                             err)) ||
        (st = store_meta_get(s, "model_pooling", m->pooling, sizeof m->pooling, err)) ||
        (st = store_meta_get(s, "model_normalize", buf, sizeof buf, err)))
        return st == SEMBED_ERR_NOT_FOUND ? set_error(err, SEMBED_ERR_FORMAT,
                                                      "%s is damaged: model identity incomplete",
                                                      s->path)
                                          : st;
    m->normalize = atoi(buf);
    if ((st = store_meta_get_int(s, "model_max_seq_length", &v, err)) != SEMBED_OK)
        return st;
    m->max_seq_length = (int)v;
    if ((st = store_meta_get_int(s, "model_dim", &v, err)) != SEMBED_OK)
        return st;
    m->dim = (int)v;
    return SEMBED_OK;
}

/* The first field in which a and b differ, described in msg; 0 when the
 * same model. Unknown fields ("" or -1 or 0) match anything. */
static int model_differs(const sembed_store_model *st, const sembed_store_model *m, char *msg,
                         size_t cap) {
    if (st->weights_sha256[0] && m->weights_sha256[0] &&
        strcmp(st->weights_sha256, m->weights_sha256) != 0) {
        snprintf(msg, cap, "its weights differ (sha256 %.12s... in the store, %.12s... here)",
                 st->weights_sha256, m->weights_sha256);
        return 1;
    }
    if ((!st->weights_sha256[0] || !m->weights_sha256[0]) && strcmp(st->name, m->name) != 0) {
        snprintf(msg, cap, "its name differs and no weights hash can tell them apart");
        return 1;
    }
    if (st->dim && m->dim && st->dim != m->dim) {
        snprintf(msg, cap, "it embeds %d dimensions, the store holds %d", m->dim, st->dim);
        return 1;
    }
    if (st->pooling[0] && m->pooling[0] && strcmp(st->pooling, m->pooling) != 0) {
        snprintf(msg, cap, "its pooling is %s, the store's is %s", m->pooling, st->pooling);
        return 1;
    }
    if (st->normalize >= 0 && m->normalize >= 0 && st->normalize != m->normalize) {
        snprintf(msg, cap, "it %s its vectors, the store's model %s",
                 m->normalize ? "normalizes" : "does not normalize",
                 st->normalize ? "does" : "does not");
        return 1;
    }
    if (st->max_seq_length && m->max_seq_length && st->max_seq_length != m->max_seq_length) {
        snprintf(msg, cap, "its max_seq_length is %d, the store's is %d", m->max_seq_length,
                 st->max_seq_length);
        return 1;
    }
    return 0;
}

static sembed_status check_model_locked(sembed_store *s, const sembed_store_model *model,
                                        int *has, sembed_error *err) {
    sembed_store_model cur;
    sembed_status st = get_model(s, &cur, has, err);
    if (st != SEMBED_OK)
        return st;
    if (!*has) {
        if (s->dim && model->dim && s->dim != model->dim)
            return set_error(err, SEMBED_ERR_MISMATCH,
                             "%s holds vectors of %d dimensions; model %s embeds %d", s->path,
                             s->dim, model->name, model->dim);
        return SEMBED_OK;
    }
    char why[256];
    if (model_differs(&cur, model, why, sizeof why))
        return set_error(err, SEMBED_ERR_MISMATCH,
                         "%s was built with model %s, not %s: %s (use the store's model or a "
                         "new store)",
                         s->path, cur.name, model->name, why);
    return SEMBED_OK;
}

sembed_status sembed_store_check_model(sembed_store *store, const sembed_store_model *model,
                                       sembed_error *err) {
    if (!store || !model)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_store_check_model: NULL");
    int has;
    return check_model_locked(store, model, &has, err);
}

sembed_status sembed_store_set_model(sembed_store *store, const sembed_store_model *model,
                                     sembed_error *err) {
    if (!store || !model)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_store_set_model: NULL");
    if (!store->writable)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "%s was opened read-only",
                         store->path);
    if (model->dim < 1 || model->dim > SEMBED_STORE_MAX_DIM || !model->name[0])
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "model identity needs a name and a dim in 1..%d", SEMBED_STORE_MAX_DIM);
    if (memchr(model->name, 0, sizeof model->name) == NULL ||
        memchr(model->revision, 0, sizeof model->revision) == NULL ||
        memchr(model->weights_sha256, 0, sizeof model->weights_sha256) == NULL ||
        memchr(model->pooling, 0, sizeof model->pooling) == NULL)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "model identity strings are not "
                         "terminated");
    int outer = store->in_txn;
    sembed_status st = outer ? SEMBED_OK : store_exec(store, "BEGIN IMMEDIATE", err);
    if (st != SEMBED_OK)
        return st;
    int64_t dim = 0;
    st = store_meta_get_int(store, "dim", &dim, err);
    if (st == SEMBED_ERR_NOT_FOUND)
        st = SEMBED_OK, dim = 0;
    if (st == SEMBED_OK) {
        store->dim = (int)dim;
        int has = 0;
        st = check_model_locked(store, model, &has, err);
        if (st == SEMBED_OK && !has) {
            char buf[32];
            if ((st = store_meta_set(store, "model_name", model->name, err)) == SEMBED_OK &&
                (st = store_meta_set(store, "model_revision", model->revision, err)) ==
                    SEMBED_OK &&
                (st = store_meta_set(store, "model_sha256", model->weights_sha256, err)) ==
                    SEMBED_OK &&
                (st = store_meta_set(store, "model_pooling", model->pooling, err)) ==
                    SEMBED_OK) {
                snprintf(buf, sizeof buf, "%d", model->normalize);
                st = store_meta_set(store, "model_normalize", buf, err);
            }
            if (st == SEMBED_OK)
                st = meta_set_int(store, "model_max_seq_length", model->max_seq_length, err);
            if (st == SEMBED_OK)
                st = meta_set_int(store, "model_dim", model->dim, err);
        }
    }
    if (outer)
        return st;
    if (st != SEMBED_OK) {
        sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
        return st;
    }
    return store_exec(store, "COMMIT", err);
}

/* ==== Info ================================================================== */

static sembed_status read_dim(sembed_store *s, sembed_error *err);

sembed_status store_rows(sembed_store *s, int64_t *rows, sembed_error *err) {
    /* MAX over the INTEGER PRIMARY KEY is a single b-tree seek. */
    int64_t last = -1;
    sembed_status st = pragma_int(s, "SELECT COALESCE(MAX(corpus_id), -1) FROM items", &last, err);
    if (st != SEMBED_OK)
        return st;
    *rows = 0;
    if (last < 0)
        return SEMBED_OK;
    /* A damaged file can name any row number. Every row's vector is stored
     * whole in the file, so a count the file cannot hold is refused here,
     * before anything is sized by it. */
    int64_t pages = 0, page_size = 0;
    if ((st = pragma_int(s, "PRAGMA page_count", &pages, err)) != SEMBED_OK ||
        (st = pragma_int(s, "PRAGMA page_size", &page_size, err)) != SEMBED_OK)
        return st;
    uint64_t row_bytes = s->dim > 0 ? (uint64_t)s->dim * sizeof(float) : 1;
    if ((uint64_t)last >= (uint64_t)(pages * page_size) / row_bytes)
        return set_error(err, SEMBED_ERR_FORMAT,
                         "%s is damaged: row %lld of %llu bytes cannot fit in its %lld bytes",
                         s->path, (long long)last, (unsigned long long)row_bytes,
                         (long long)(pages * page_size));
    *rows = last + 1;
    return SEMBED_OK;
}

int64_t sembed_store_count(sembed_store *store, sembed_error *err) {
    if (!store) {
        set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_store_count: NULL store");
        return -1;
    }
    int64_t rows;
    if (store_rows(store, &rows, err) != SEMBED_OK)
        return -1;
    return rows;
}

sembed_status sembed_store_get_info(sembed_store *store, sembed_store_info *info,
                                    sembed_error *err) {
    if (!store || !info)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_store_get_info: NULL");
    memset(info, 0, sizeof *info);
    info->path = store->path;
    info->hnsw_path = store->hnsw_path;
    /* One read transaction, so that the figures agree with each other. */
    int outer = store->in_txn;
    sembed_status st = outer ? SEMBED_OK : store_exec(store, "BEGIN", err);
    if (st != SEMBED_OK)
        return st;
    int64_t v = 0;
    if ((st = pragma_int(store, "PRAGMA user_version", &v, err)) != SEMBED_OK)
        goto done;
    info->schema_version = (int)v;
    if ((st = read_dim(store, err)) != SEMBED_OK ||
        (st = store_rows(store, &info->rows, err)) != SEMBED_OK)
        goto done;
    info->dim = store->dim;
    if ((st = get_model(store, &info->model, &info->has_model, err)) != SEMBED_OK)
        goto done;
    st = store_meta_get_int(store, "hnsw_rows", &info->hnsw_rows, err);
    if (st == SEMBED_ERR_NOT_FOUND) {
        st = SEMBED_OK;
        goto done;
    }
    if (st != SEMBED_OK)
        goto done;
    info->has_hnsw = 1;
    if ((st = store_meta_get_int(store, "hnsw_M", &v, err)) != SEMBED_OK)
        goto done;
    info->hnsw_M = (int)v;
    if ((st = store_meta_get_int(store, "hnsw_ef_construction", &v, err)) != SEMBED_OK)
        goto done;
    info->hnsw_ef_construction = (int)v;
    if ((st = store_meta_get_int(store, "hnsw_score", &v, err)) != SEMBED_OK)
        goto done;
    info->hnsw_score = (sembed_score)v;
done:
    if (!outer)
        sqlite3_exec(store->db, st == SEMBED_OK ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    return st;
}

/* ==== Adding ================================================================ */

sembed_status store_check_vector(const float *v, size_t dim, const char *what, size_t index,
                                 sembed_error *err) {
    double ss = 0;
    for (size_t j = 0; j < dim; j++) {
        if (!isfinite(v[j]))
            return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                             "%s %zu has a non-finite value (%s) at position %zu", what, index,
                             isnan(v[j]) ? "NaN" : "Inf", j);
        ss += (double)v[j] * v[j];
    }
    if (ss == 0)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "%s %zu is the zero vector (it has no direction to compare)", what,
                         index);
    return SEMBED_OK;
}

static sembed_status check_rows(size_t n, const char *const *texts, const size_t *text_lens,
                                const char *const *ids, const char *const *metadata,
                                const float *vectors, size_t dim, sembed_error *err) {
    for (size_t i = 0; i < n; i++) {
        if (texts && texts[i]) {
            size_t len = text_lens ? text_lens[i] : strlen(texts[i]);
            if (len > SEMBED_STORE_MAX_TEXT_BYTES)
                return set_error(err, SEMBED_ERR_LIMIT,
                                 "row %zu: text of %zu bytes is longer than the %u-byte limit", i,
                                 len, SEMBED_STORE_MAX_TEXT_BYTES);
        }
        if (ids && ids[i]) {
            size_t len = strlen(ids[i]);
            if (len == 0)
                return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "row %zu: empty id", i);
            if (len > SEMBED_STORE_MAX_ID_BYTES)
                return set_error(err, SEMBED_ERR_LIMIT,
                                 "row %zu: id of %zu bytes is longer than the %d-byte limit", i,
                                 len, SEMBED_STORE_MAX_ID_BYTES);
        }
        if (metadata && metadata[i]) {
            size_t len = strlen(metadata[i]);
            if (len > SEMBED_STORE_MAX_METADATA_BYTES)
                return set_error(err, SEMBED_ERR_LIMIT,
                                 "row %zu: metadata of %zu bytes is longer than the %u-byte limit",
                                 i, len, SEMBED_STORE_MAX_METADATA_BYTES);
            json_error_t jerr;
            json_t *j = json_loadb(metadata[i], len, JSON_DECODE_ANY, &jerr);
            if (!j)
                return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                                 "row %zu: metadata is not valid JSON (%s)", i, jerr.text);
            json_decref(j);
        }
        sembed_status st = store_check_vector(vectors + i * dim, dim, "vector", i, err);
        if (st != SEMBED_OK)
            return st;
    }
    return SEMBED_OK;
}

sembed_status sembed_store_add(sembed_store *store, size_t n, const char *const *texts,
                               const size_t *text_lens, const char *const *ids,
                               const char *const *metadata, const float *vectors, int dim,
                               int64_t *first_row, sembed_error *err) {
    if (!store || (n && !vectors))
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_store_add: NULL argument");
    if (!store->writable)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "%s was opened read-only",
                         store->path);
    if (dim < 1 || dim > SEMBED_STORE_MAX_DIM)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "vector length %d is outside 1..%d",
                         dim, SEMBED_STORE_MAX_DIM);
    size_t d = (size_t)dim, total;
    if (mul_overflow_size(n, d, &total) || total > SIZE_MAX / sizeof(float) ||
        n > (size_t)INT64_MAX / 2)
        return set_error(err, SEMBED_ERR_LIMIT, "too many rows in one add (%zu)", n);
    sembed_status st = check_rows(n, texts, text_lens, ids, metadata, vectors, d, err);
    if (st != SEMBED_OK)
        return st;

    int outer = store->in_txn;
    st = store_exec(store, outer ? "SAVEPOINT sembed_add" : "BEGIN IMMEDIATE", err);
    if (st != SEMBED_OK)
        return st;
    sqlite3_stmt *ins_item = NULL, *ins_vec = NULL;
    int64_t first = 0, store_dim = 0;
    /* The dim as committed (another process may have added since open). */
    st = store_meta_get_int(store, "dim", &store_dim, err);
    if (st == SEMBED_ERR_NOT_FOUND)
        st = SEMBED_OK, store_dim = 0;
    if (st != SEMBED_OK)
        goto fail;
    if (store_dim && store_dim != dim) {
        st = set_error(err, SEMBED_ERR_MISMATCH,
                       "%s holds vectors of %lld dimensions; these have %d", store->path,
                       (long long)store_dim, dim);
        goto fail;
    }
    int64_t model_dim = 0;
    st = store_meta_get_int(store, "model_dim", &model_dim, err);
    if (st == SEMBED_ERR_NOT_FOUND)
        st = SEMBED_OK, model_dim = 0;
    if (st != SEMBED_OK)
        goto fail;
    if (model_dim && model_dim != dim) {
        st = set_error(err, SEMBED_ERR_MISMATCH,
                       "%s's model embeds %lld dimensions; these vectors have %d", store->path,
                       (long long)model_dim, dim);
        goto fail;
    }
    if (n == 0)
        goto done;
    if (!store_dim && (st = meta_set_int(store, "dim", dim, err)) != SEMBED_OK)
        goto fail;
    if ((st = store_rows(store, &first, err)) != SEMBED_OK)
        goto fail;
    int rc = sqlite3_prepare_v2(store->db,
                                "INSERT INTO items (corpus_id, ext_id, text, metadata, "
                                "check_value) VALUES (?, ?, ?, ?, ?)",
                                -1, &ins_item, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(store->db, "INSERT INTO vectors (corpus_id, vector, check_value) "
                                "VALUES (?, ?, ?)",
                                -1, &ins_vec, NULL);
    if (rc != SQLITE_OK) {
        st = store_db_error(store, rc, "preparing the insert", err);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t row = first + (int64_t)i;
        const char *id = ids ? ids[i] : NULL, *text = texts ? texts[i] : NULL;
        const char *meta = metadata ? metadata[i] : NULL;
        size_t id_len = id ? strlen(id) : 0, meta_len = meta ? strlen(meta) : 0;
        size_t text_len = text ? (text_lens ? text_lens[i] : strlen(text)) : 0;
        sqlite3_bind_int64(ins_item, 1, row);
        if (id)
            sqlite3_bind_text64(ins_item, 2, id, id_len, SQLITE_STATIC, SQLITE_UTF8);
        else
            sqlite3_bind_null(ins_item, 2);
        if (text)
            sqlite3_bind_text64(ins_item, 3, text, text_len, SQLITE_STATIC, SQLITE_UTF8);
        else
            sqlite3_bind_null(ins_item, 3);
        if (meta)
            sqlite3_bind_text64(ins_item, 4, meta, meta_len, SQLITE_STATIC, SQLITE_UTF8);
        else
            sqlite3_bind_null(ins_item, 4);
        sqlite3_bind_int64(ins_item, 5,
                           item_check(row, id, id_len, text, text_len, meta, meta_len));
        rc = sqlite3_step(ins_item);
        if (rc != SQLITE_DONE) {
            if ((rc & 0xff) == SQLITE_CONSTRAINT && ids && ids[i])
                st = set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                               "row %zu: id \"%.200s\" is already in %s", i, ids[i], store->path);
            else
                st = store_db_error(store, rc, "adding rows", err);
            goto fail;
        }
        sqlite3_reset(ins_item);
        sqlite3_bind_int64(ins_vec, 1, row);
        sqlite3_bind_blob64(ins_vec, 2, vectors + i * d, d * sizeof(float), SQLITE_STATIC);
        sqlite3_bind_int64(ins_vec, 3, vector_check(row, vectors + i * d, d * sizeof(float)));
        rc = sqlite3_step(ins_vec);
        if (rc != SQLITE_DONE) {
            st = store_db_error(store, rc, "adding vectors", err);
            goto fail;
        }
        sqlite3_reset(ins_vec);
    }
done:
    sqlite3_finalize(ins_item);
    sqlite3_finalize(ins_vec);
    st = store_exec(store, outer ? "RELEASE sembed_add" : "COMMIT", err);
    if (st != SEMBED_OK) {
        if (!outer)
            sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
        return st;
    }
    if (n)
        store->dim = dim;
    if (first_row)
        *first_row = first;
    return SEMBED_OK;
fail:
    sqlite3_finalize(ins_item);
    sqlite3_finalize(ins_vec);
    if (outer)
        sqlite3_exec(store->db, "ROLLBACK TO sembed_add; RELEASE sembed_add", NULL, NULL, NULL);
    else
        sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
    return st;
}

/* ==== Reading =============================================================== */

static char *dup_bytes(const void *p, size_t n) {
    char *s = malloc(n + 1);
    if (s) {
        if (n)
            memcpy(s, p, n);
        s[n] = 0;
    }
    return s;
}

void sembed_store_row_clear(sembed_store_row *row) {
    if (!row)
        return;
    free(row->text);
    free(row->id);
    free(row->metadata);
    memset(row, 0, sizeof *row);
}

/* Checks the row the statement is on (columns ext_id, text, metadata,
 * check_value from `col`) against its check value. */
static sembed_status check_item(sembed_store *s, sqlite3_stmt *st, int col, int64_t row,
                                sembed_error *err) {
    const void *f[3] = {NULL, NULL, NULL};
    size_t len[3] = {0, 0, 0};
    for (int c = 0; c < 3; c++) {
        if (sqlite3_column_type(st, col + c) == SQLITE_NULL)
            continue;
        f[c] = sqlite3_column_text(st, col + c);
        len[c] = (size_t)sqlite3_column_bytes(st, col + c);
        if (!f[c])
            return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory reading row %lld",
                             (long long)row);
    }
    if (sqlite3_column_int64(st, col + 3) != item_check(row, f[0], len[0], f[1], len[1], f[2],
                                                        len[2]))
        return set_error(err, SEMBED_ERR_FORMAT,
                         "%s is damaged: row %lld does not match its check value", s->path,
                         (long long)row);
    return SEMBED_OK;
}

sembed_status sembed_store_get_row(sembed_store *store, int64_t corpus_id, sembed_store_row *row,
                                   sembed_error *err) {
    if (!store || !row)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_store_get_row: NULL");
    memset(row, 0, sizeof *row);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(store->db,
                                "SELECT ext_id, text, metadata, check_value FROM items "
                                "WHERE corpus_id = ?",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_db_error(store, rc, "reading a row", err);
    sqlite3_bind_int64(st, 1, corpus_id);
    rc = sqlite3_step(st);
    sembed_status res = SEMBED_OK;
    if (rc == SQLITE_ROW) {
        res = check_item(store, st, 0, corpus_id, err);
        row->corpus_id = corpus_id;
        /* Copies keep the stored length: a text may hold NUL bytes. */
        for (int c = 0; c < 3 && res == SEMBED_OK; c++) {
            if (sqlite3_column_type(st, c) == SQLITE_NULL)
                continue;
            size_t len = (size_t)sqlite3_column_bytes(st, c);
            char *copy = dup_bytes(sqlite3_column_text(st, c), len);
            if (!copy) {
                res = set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory reading row %lld",
                                (long long)corpus_id);
                break;
            }
            if (c == 0)
                row->id = copy;
            else if (c == 1)
                row->text = copy, row->text_len = len;
            else
                row->metadata = copy;
        }
        if (res != SEMBED_OK)
            sembed_store_row_clear(row);
    } else if (rc == SQLITE_DONE) {
        res = set_error(err, SEMBED_ERR_NOT_FOUND, "%s has no row %lld", store->path,
                        (long long)corpus_id);
    } else {
        res = store_db_error(store, rc, "reading a row", err);
    }
    sqlite3_finalize(st);
    return res;
}

/* Reads vectors [first, first + n) into out, checking each row's number
 * and size, inside the caller's transaction. */
static sembed_status read_vectors(sembed_store *s, int64_t first, size_t n, float *out,
                                  sembed_error *err) {
    if (n == 0)
        return SEMBED_OK;
    size_t d = (size_t)s->dim;
    if (d == 0)
        return set_error(err, SEMBED_ERR_FORMAT, "%s is damaged: rows without a dim", s->path);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT corpus_id, vector, check_value FROM vectors "
                                "WHERE corpus_id >= ? ORDER BY corpus_id LIMIT ?",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_db_error(s, rc, "reading vectors", err);
    sqlite3_bind_int64(st, 1, first);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)n);
    sembed_status res = SEMBED_OK;
    size_t got = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        if (id != first + (int64_t)got) {
            res = set_error(err, SEMBED_ERR_FORMAT, "%s is damaged: vector of row %lld missing",
                            s->path, (long long)(first + (int64_t)got));
            break;
        }
        const void *blob = sqlite3_column_blob(st, 1);
        size_t bytes = (size_t)sqlite3_column_bytes(st, 1);
        if (!blob || bytes != d * sizeof(float)) {
            res = set_error(err, SEMBED_ERR_FORMAT,
                            "%s is damaged: row %lld has a vector of %zu bytes, not %zu", s->path,
                            (long long)id, bytes, d * sizeof(float));
            break;
        }
        if (sqlite3_column_int64(st, 2) != vector_check(id, blob, bytes)) {
            res = set_error(err, SEMBED_ERR_FORMAT,
                            "%s is damaged: the vector of row %lld does not match its check "
                            "value",
                            s->path, (long long)id);
            break;
        }
        memcpy(out + got * d, blob, bytes);
        got++;
    }
    if (res == SEMBED_OK && rc != SQLITE_DONE)
        res = store_db_error(s, rc, "reading vectors", err);
    if (res == SEMBED_OK && got != n)
        res = set_error(err, SEMBED_ERR_FORMAT, "%s is damaged: %zu vectors missing from row %lld",
                        s->path, n - got, (long long)(first + (int64_t)got));
    sqlite3_finalize(st);
    return res;
}

static sembed_status read_dim(sembed_store *s, sembed_error *err) {
    int64_t dim = 0;
    sembed_status st = store_meta_get_int(s, "dim", &dim, err);
    if (st == SEMBED_ERR_NOT_FOUND)
        st = SEMBED_OK, dim = 0;
    if (st == SEMBED_OK && (dim < 0 || dim > SEMBED_STORE_MAX_DIM))
        st = set_error(err, SEMBED_ERR_FORMAT, "%s is damaged: dim %lld", s->path,
                       (long long)dim);
    if (st == SEMBED_OK)
        s->dim = (int)dim;
    return st;
}

sembed_status sembed_store_load_vectors(sembed_store *store, int64_t first, size_t n, float *out,
                                        size_t out_cap, sembed_error *err) {
    if (!store || (n && !out))
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_store_load_vectors: NULL");
    int outer = store->in_txn;
    sembed_status st = outer ? SEMBED_OK : store_exec(store, "BEGIN", err);
    if (st != SEMBED_OK)
        return st;
    int64_t rows = 0;
    size_t need;
    if ((st = read_dim(store, err)) != SEMBED_OK || (st = store_rows(store, &rows, err)))
        goto done;
    if (first < 0 || first > rows || n > (uint64_t)(rows - first)) {
        st = set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                       "rows %lld + %zu are outside the %lld rows of %s", (long long)first, n,
                       (long long)rows, store->path);
        goto done;
    }
    if (mul_overflow_size(n, (size_t)store->dim, &need) || need > out_cap) {
        st = set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                       "out holds %zu floats; %zu rows of %d need more", out_cap, n, store->dim);
        goto done;
    }
    st = read_vectors(store, first, n, out, err);
done:
    if (!outer)
        sqlite3_exec(store->db, "COMMIT", NULL, NULL, NULL);
    return st;
}

sembed_status store_refresh_vectors(sembed_store *s, int64_t *rows_out, sembed_error *err) {
    int outer = s->in_txn;
    sembed_status st = outer ? SEMBED_OK : store_exec(s, "BEGIN", err);
    if (st != SEMBED_OK)
        return st;
    int64_t rows = 0;
    if ((st = read_dim(s, err)) != SEMBED_OK || (st = store_rows(s, &rows, err)) != SEMBED_OK)
        goto done;
    if ((uint64_t)rows < s->vec_rows) {
        /* Fewer rows than we cached: a rolled-back transaction of ours.
         * Start over. */
        free(s->vec);
        s->vec = NULL;
        s->vec_rows = s->vec_cap = 0;
    }
    if ((uint64_t)rows > s->vec_rows) {
        size_t d = (size_t)s->dim, n_new = (size_t)rows - s->vec_rows, need;
        if (mul_overflow_size((size_t)rows, d, &need) || need > SIZE_MAX / sizeof(float)) {
            st = set_error(err, SEMBED_ERR_LIMIT, "%s: too many rows to load", s->path);
            goto done;
        }
        if (need > s->vec_cap) {
            size_t cap = s->vec_cap ? s->vec_cap : need;
            while (cap < need)
                cap = cap > SIZE_MAX / 2 / sizeof(float) ? need : cap * 2;
            float *p = realloc(s->vec, cap * sizeof *p);
            if (!p) {
                st = set_error(err, SEMBED_ERR_OUT_OF_MEMORY,
                               "out of memory loading %lld vectors of %s", (long long)rows,
                               s->path);
                goto done;
            }
            s->vec = p;
            s->vec_cap = cap;
        }
        st = read_vectors(s, (int64_t)s->vec_rows, n_new, s->vec + s->vec_rows * d, err);
        if (st != SEMBED_OK)
            goto done;
        s->vec_rows = (size_t)rows;
    }
    *rows_out = rows;
done:
    if (!outer)
        sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    return st;
}

/* ==== Verification ========================================================== */

/* Every row against its check value, and the vectors numbered 0 .. rows - 1
 * (read in bounded chunks). */
static sembed_status verify_rows(sembed_store *s, int64_t rows, sembed_error *err) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT corpus_id, ext_id, text, metadata, check_value FROM items "
                                "ORDER BY corpus_id",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_db_error(s, rc, "checking rows", err);
    sembed_status res = SEMBED_OK;
    while (res == SEMBED_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        res = check_item(s, st, 1, sqlite3_column_int64(st, 0), err);
    if (res == SEMBED_OK && rc != SQLITE_DONE)
        res = store_db_error(s, rc, "checking rows", err);
    sqlite3_finalize(st);
    if (res != SEMBED_OK || rows == 0)
        return res;
    const size_t chunk = 4096;
    float *buf = malloc(chunk * (size_t)s->dim * sizeof *buf);
    if (!buf)
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory checking %s", s->path);
    for (int64_t first = 0; res == SEMBED_OK && first < rows; first += (int64_t)chunk) {
        size_t n = (size_t)(rows - first) < chunk ? (size_t)(rows - first) : chunk;
        res = read_vectors(s, first, n, buf, err);
    }
    free(buf);
    return res;
}

sembed_status sembed_store_verify(sembed_store *store, sembed_error *err) {
    if (!store)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_store_verify: NULL store");
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(store->db, "PRAGMA integrity_check", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_db_error(store, rc, "checking integrity", err);
    sembed_status res = SEMBED_OK;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *msg = (const char *)sqlite3_column_text(st, 0);
        if (!msg || strcmp(msg, "ok") != 0)
            res = set_error(err, SEMBED_ERR_FORMAT, "%s is damaged: %s", store->path,
                            msg ? msg : "integrity check failed");
    } else {
        res = store_db_error(store, rc, "checking integrity", err);
    }
    sqlite3_finalize(st);
    if (res != SEMBED_OK)
        return res;

    int outer = store->in_txn;
    if (!outer && (res = store_exec(store, "BEGIN", err)) != SEMBED_OK)
        return res;
    int64_t n_items = 0, n_vecs = 0, rows = 0, bad = 0;
    char sql[160];
    if ((res = read_dim(store, err)) != SEMBED_OK ||
        (res = store_rows(store, &rows, err)) != SEMBED_OK ||
        (res = pragma_int(store, "SELECT count(*) FROM items", &n_items, err)) != SEMBED_OK ||
        (res = pragma_int(store, "SELECT count(*) FROM vectors", &n_vecs, err)) != SEMBED_OK)
        goto done;
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM vectors v LEFT JOIN items i USING (corpus_id) "
             "WHERE i.corpus_id IS NULL OR length(v.vector) != %d",
             store->dim * (int)sizeof(float));
    if ((res = pragma_int(store, sql, &bad, err)) != SEMBED_OK)
        goto done;
    if (n_items != rows || n_vecs != rows || bad)
        res = set_error(err, SEMBED_ERR_FORMAT,
                        "%s is damaged: %lld rows, %lld items, %lld vectors, %lld bad vectors",
                        store->path, (long long)rows, (long long)n_items, (long long)n_vecs,
                        (long long)bad);
    else if (rows && !store->dim)
        res = set_error(err, SEMBED_ERR_FORMAT, "%s is damaged: rows without a dim", store->path);
    if (res == SEMBED_OK)
        res = verify_rows(store, rows, err);
done:
    if (!outer)
        sqlite3_exec(store->db, "COMMIT", NULL, NULL, NULL);
    return res;
}
