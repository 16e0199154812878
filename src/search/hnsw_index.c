/*
 * hnsw_index.c - the public HNSW API (sembed_hnsw_*): parameter checks,
 * cosine normalization, multi-threaded insertion, exact rescoring of the
 * neighbours found, and crash-safe files (temporary file, fsync, rename,
 * fsync of the folder) with a SHA-256 of what was written or read.
 * The graph itself is hnswlib's, behind the shim in hnsw.cpp.
 */
#include "search/hnsw.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "sembed.h"

struct sembed_hnsw {
    hnsw_graph *g;
    int dim;
    sembed_hnsw_params params;
};

sembed_hnsw_params sembed_hnsw_default_params(void) {
    sembed_hnsw_params p;
    memset(&p, 0, sizeof p);
    p.M = 16;
    p.ef_construction = 200;
    p.ef = 64;
    p.score = SEMBED_SCORE_COSINE;
    p.seed = 100;
    p.n_threads = 0;
    return p;
}

static sembed_status check_params(const sembed_hnsw_params *p, int need_build,
                                  sembed_error *err) {
    if (need_build && (p->M < 2 || p->M > SEMBED_HNSW_MAX_M))
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "HNSW M %d is outside 2..%d", p->M,
                         SEMBED_HNSW_MAX_M);
    if (need_build && (p->ef_construction < 1 || p->ef_construction > SEMBED_HNSW_MAX_EF))
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "HNSW ef_construction %d is outside 1..%d", p->ef_construction,
                         SEMBED_HNSW_MAX_EF);
    if (p->ef < 1 || p->ef > SEMBED_HNSW_MAX_EF)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "HNSW ef %d is outside 1..%d", p->ef,
                         SEMBED_HNSW_MAX_EF);
    if (p->score != SEMBED_SCORE_COSINE && p->score != SEMBED_SCORE_DOT)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "unknown HNSW score %d",
                         (int)p->score);
    if (p->n_threads < 0)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "HNSW n_threads %d is negative",
                         p->n_threads);
    return SEMBED_OK;
}

static sembed_status check_dim(int dim, sembed_error *err) {
    if (dim < 1 || dim > SEMBED_STORE_MAX_DIM)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "vector length %d is outside 1..%d",
                         dim, SEMBED_STORE_MAX_DIM);
    return SEMBED_OK;
}

sembed_status sembed_hnsw_init(int dim, const sembed_hnsw_params *params, sembed_hnsw **out,
                               sembed_error *err) {
    if (!out)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_hnsw_init: out is NULL");
    *out = NULL;
    sembed_hnsw_params p = params ? *params : sembed_hnsw_default_params();
    sembed_status st = check_dim(dim, err);
    if (st == SEMBED_OK)
        st = check_params(&p, 1, err);
    if (st != SEMBED_OK)
        return st;
    sembed_hnsw *h = calloc(1, sizeof *h);
    if (!h)
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
    char msg[256] = "";
    h->g = hnsw_graph_new((size_t)dim, 0, (size_t)p.M, (size_t)p.ef_construction, p.seed,
                          hnsw_distance_pick(NULL), msg, sizeof msg);
    if (!h->g) {
        free(h);
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "%s", msg);
    }
    h->dim = dim;
    h->params = p;
    *out = h;
    return SEMBED_OK;
}

void sembed_hnsw_free(sembed_hnsw *index) {
    if (!index)
        return;
    hnsw_graph_free(index->g);
    free(index);
}

size_t sembed_hnsw_count(const sembed_hnsw *index) {
    return index ? hnsw_graph_count(index->g) : 0;
}

int sembed_hnsw_dim(const sembed_hnsw *index) {
    return index ? index->dim : 0;
}

/* ==== Adding ================================================================ */

/* x / max(||x||, 1e-12), as torch.nn.functional.normalize. */
static void normalize_into(const float *x, size_t dim, float *out) {
    double ss = 0;
    for (size_t i = 0; i < dim; i++)
        ss += (double)x[i] * x[i];
    float norm = (float)sqrt(ss);
    if (norm < 1e-12f)
        norm = 1e-12f;
    for (size_t i = 0; i < dim; i++)
        out[i] = x[i] / norm;
}

typedef struct add_job {
    sembed_hnsw *h;
    const float *vectors;
    size_t n;
    uint64_t first_label;
    atomic_size_t next;
    atomic_int failed;
    pthread_mutex_t lock;
    char msg[256];
} add_job;

static void *add_worker(void *arg) {
    add_job *job = arg;
    size_t dim = (size_t)job->h->dim;
    int cosine = job->h->params.score == SEMBED_SCORE_COSINE;
    float *scratch = cosine ? malloc(dim * sizeof *scratch) : NULL;
    char msg[256];
    if (cosine && !scratch) {
        pthread_mutex_lock(&job->lock);
        if (!atomic_exchange(&job->failed, 1))
            snprintf(job->msg, sizeof job->msg, "out of memory adding to the HNSW index");
        pthread_mutex_unlock(&job->lock);
        return NULL;
    }
    for (;;) {
        if (atomic_load(&job->failed))
            break;
        size_t i = atomic_fetch_add(&job->next, 1);
        if (i >= job->n)
            break;
        const float *v = job->vectors + i * dim;
        if (cosine) {
            normalize_into(v, dim, scratch);
            v = scratch;
        }
        if (hnsw_graph_add(job->h->g, v, job->first_label + i, msg, sizeof msg)) {
            pthread_mutex_lock(&job->lock);
            if (!atomic_exchange(&job->failed, 1))
                snprintf(job->msg, sizeof job->msg, "%s", msg);
            pthread_mutex_unlock(&job->lock);
            break;
        }
    }
    free(scratch);
    return NULL;
}

static int thread_count(int requested, size_t work) {
    int t = requested > 0 ? requested : cpu_count();
    if (t > 256)
        t = 256;
    if ((size_t)t > work)
        t = (int)(work ? work : 1);
    return t < 1 ? 1 : t;
}

sembed_status sembed_hnsw_add(sembed_hnsw *index, const float *vectors, size_t n, int dim,
                              int64_t first_label, sembed_error *err) {
    if (!index || (!vectors && n))
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_hnsw_add: NULL argument");
    if (dim != index->dim)
        return set_error(err, SEMBED_ERR_MISMATCH,
                         "vectors have %d dimensions, the HNSW index holds %d", dim, index->dim);
    if (n == 0)
        return SEMBED_OK;
    if (first_label < 0 || (uint64_t)first_label > UINT64_MAX - n)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "bad first label %lld",
                         (long long)first_label);
    size_t count = hnsw_graph_count(index->g), total;
    if (add_overflow_size(count, n, &total) || total > SEMBED_HNSW_MAX_ELEMENTS)
        return set_error(err, SEMBED_ERR_LIMIT, "an HNSW index holds at most %u vectors",
                         SEMBED_HNSW_MAX_ELEMENTS);
    size_t d = (size_t)dim;
    for (size_t i = 0; i < n; i++) {
        const float *v = vectors + i * d;
        double ss = 0;
        for (size_t j = 0; j < d; j++) {
            if (!isfinite(v[j]))
                return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                                 "vector %zu has a non-finite value at %zu", i, j);
            ss += (double)v[j] * v[j];
        }
        if (index->params.score == SEMBED_SCORE_COSINE && ss == 0)
            return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                             "vector %zu is the zero vector (no direction for cosine)", i);
        if (hnsw_graph_has_label(index->g, (uint64_t)first_label + i))
            return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "label %llu is already indexed",
                             (unsigned long long)first_label + i);
    }
    char msg[256] = "";
    if (hnsw_graph_reserve(index->g, total, msg, sizeof msg))
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "%s", msg);

    add_job job;
    memset(&job, 0, sizeof job);
    job.h = index;
    job.vectors = vectors;
    job.n = n;
    job.first_label = (uint64_t)first_label;
    atomic_init(&job.next, 0);
    atomic_init(&job.failed, 0);
    pthread_mutex_init(&job.lock, NULL);
    int nt = thread_count(index->params.n_threads, n);
    pthread_t tids[256];
    int started = 0;
    for (int t = 1; t < nt; t++) {
        if (pthread_create(&tids[started], NULL, add_worker, &job) != 0)
            break; /* fewer threads is slower, not wrong */
        started++;
    }
    add_worker(&job);
    for (int t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
    pthread_mutex_destroy(&job.lock);
    if (atomic_load(&job.failed))
        return set_error(err, SEMBED_ERR_INTERNAL, "%s", job.msg);
    return SEMBED_OK;
}

/* ==== Searching ============================================================= */

static int hit_cmp(const void *pa, const void *pb) {
    const sembed_hit *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return (a->corpus_id > b->corpus_id) - (a->corpus_id < b->corpus_id);
}

typedef struct search_job {
    const sembed_hnsw *h;
    const float *queries;
    size_t nq;
    int top_k;
    size_t ef;
    sembed_hit *hits;
    size_t *n_hits;
    atomic_size_t next;
    atomic_int failed;
    pthread_mutex_t lock;
    char msg[256];
} search_job;

static void *search_worker(void *arg) {
    search_job *job = arg;
    size_t dim = (size_t)job->h->dim, k = (size_t)job->top_k;
    int cosine = job->h->params.score == SEMBED_SCORE_COSINE;
    float *q = malloc(dim * sizeof *q);
    uint64_t *labels = malloc(k * sizeof *labels);
    float *dists = malloc(k * sizeof *dists);
    const float **vecs = malloc(k * sizeof *vecs);
    char msg[256] = "out of memory searching the HNSW index";
    if (!q || !labels || !dists || !vecs)
        goto fail;
    for (;;) {
        if (atomic_load(&job->failed))
            break;
        size_t i = atomic_fetch_add(&job->next, 1);
        if (i >= job->nq)
            break;
        const float *src = job->queries + i * dim;
        if (cosine)
            normalize_into(src, dim, q);
        else
            memcpy(q, src, dim * sizeof *q);
        size_t n = 0;
        if (hnsw_graph_search(job->h->g, q, k, job->ef, labels, dists, vecs, &n, msg,
                              sizeof msg))
            goto fail;
        /* The graph's float distances order the candidates; the score is
         * recomputed in double so that it matches an exact search. */
        sembed_hit *out = job->hits + i * k;
        for (size_t j = 0; j < n; j++) {
            double dot = 0;
            for (size_t d = 0; d < dim; d++)
                dot += (double)q[d] * vecs[j][d];
            out[j].corpus_id = (int64_t)labels[j];
            out[j].score = (float)dot;
        }
        qsort(out, n, sizeof *out, hit_cmp);
        job->n_hits[i] = n;
    }
    free(q);
    free(labels);
    free(dists);
    free(vecs);
    return NULL;
fail:
    pthread_mutex_lock(&job->lock);
    if (!atomic_exchange(&job->failed, 1))
        snprintf(job->msg, sizeof job->msg, "%s", msg);
    pthread_mutex_unlock(&job->lock);
    free(q);
    free(labels);
    free(dists);
    free(vecs);
    return NULL;
}

sembed_status sembed_hnsw_search(const sembed_hnsw *index, const float *queries, size_t nq,
                                 int dim, int top_k, int ef, sembed_hit *hits, size_t hits_cap,
                                 size_t *n_hits, sembed_error *err) {
    if (!index || (nq && (!queries || !hits || !n_hits)))
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_hnsw_search: NULL argument");
    if (dim != index->dim)
        return set_error(err, SEMBED_ERR_MISMATCH,
                         "the query has %d dimensions, the HNSW index holds %d", dim,
                         index->dim);
    if (top_k < 1 || top_k > SEMBED_HNSW_MAX_EF)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "top_k %d is outside 1..%d", top_k,
                         SEMBED_HNSW_MAX_EF);
    if (ef < 0 || ef > SEMBED_HNSW_MAX_EF)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "ef %d is outside 1..%d", ef,
                         SEMBED_HNSW_MAX_EF);
    size_t need;
    if (mul_overflow_size(nq, (size_t)top_k, &need) || need > hits_cap)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                         "hits holds %zu entries, %zu queries x top_k %d need more", hits_cap,
                         nq, top_k);
    size_t d = (size_t)dim;
    for (size_t i = 0; i < nq; i++) {
        double ss = 0;
        for (size_t j = 0; j < d; j++) {
            float v = queries[i * d + j];
            if (!isfinite(v))
                return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                                 "query %zu has a non-finite value at %zu", i, j);
            ss += (double)v * v;
        }
        if (ss == 0 && index->params.score == SEMBED_SCORE_COSINE)
            return set_error(err, SEMBED_ERR_INVALID_ARGUMENT,
                             "query %zu is the zero vector (no direction for cosine)", i);
    }
    for (size_t i = 0; i < nq; i++)
        n_hits[i] = 0;
    if (nq == 0)
        return SEMBED_OK;

    search_job job;
    memset(&job, 0, sizeof job);
    job.h = index;
    job.queries = queries;
    job.nq = nq;
    job.top_k = top_k;
    job.ef = (size_t)(ef ? ef : index->params.ef);
    job.hits = hits;
    job.n_hits = n_hits;
    atomic_init(&job.next, 0);
    atomic_init(&job.failed, 0);
    pthread_mutex_init(&job.lock, NULL);
    /* Threads pay off only for batches; one query stays on this thread. */
    int nt = nq >= 16 ? thread_count(index->params.n_threads, nq / 8) : 1;
    pthread_t tids[256];
    int started = 0;
    for (int t = 1; t < nt; t++) {
        if (pthread_create(&tids[started], NULL, search_worker, &job) != 0)
            break;
        started++;
    }
    search_worker(&job);
    for (int t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
    pthread_mutex_destroy(&job.lock);
    if (atomic_load(&job.failed))
        return set_error(err, SEMBED_ERR_INTERNAL, "%s", job.msg);
    return SEMBED_OK;
}

/* ==== Files ================================================================= */

typedef struct file_io {
    FILE *fp;
    EVP_MD_CTX *md;
} file_io;

static int io_write(void *ctx, void *buf, size_t n) {
    file_io *io = ctx;
    if (n && fwrite(buf, 1, n, io->fp) != n)
        return -1;
    return EVP_DigestUpdate(io->md, buf, n) == 1 ? 0 : -1;
}

static int io_read(void *ctx, void *buf, size_t n) {
    file_io *io = ctx;
    if (n && fread(buf, 1, n, io->fp) != n)
        return -1;
    return EVP_DigestUpdate(io->md, buf, n) == 1 ? 0 : -1;
}

static void digest_hex(EVP_MD_CTX *md, char out[65]) {
    unsigned char d[32];
    unsigned int len = 0;
    EVP_DigestFinal_ex(md, d, &len);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
    out[64] = 0;
}

/* fsync of the folder that holds path, so that a rename survives a crash. */
static int sync_parent(const char *path) {
    char *copy = strdup(path);
    if (!copy)
        return -1;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

sembed_status sembed_hnsw_save(const sembed_hnsw *index, const char *path, char sha256[65],
                               sembed_error *err) {
    if (!index || !path)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_hnsw_save: NULL argument");
    sembed_status st = SEMBED_OK;
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    file_io io = {NULL, NULL};
    int fd = -1;
    if (!tmp)
        return set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
    snprintf(tmp, plen + 16, "%s.tmpXXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0) {
        st = set_error(err, SEMBED_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    io.fp = fdopen(fd, "wb");
    io.md = EVP_MD_CTX_new();
    if (!io.fp || !io.md || EVP_DigestInit_ex(io.md, EVP_sha256(), NULL) != 1) {
        st = set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "cannot start writing %s", path);
        goto fail;
    }
    char msg[256] = "";
    errno = 0;
    if (hnsw_graph_write(index->g, io_write, &io, msg, sizeof msg) || fflush(io.fp) != 0 ||
        fsync(fileno(io.fp)) != 0) {
        st = set_error(err, SEMBED_ERR_IO, "cannot write %s: %s", path,
                       errno ? strerror(errno) : msg);
        goto fail;
    }
    if (fclose(io.fp) != 0) {
        io.fp = NULL;
        st = set_error(err, SEMBED_ERR_IO, "cannot write %s: %s", path, strerror(errno));
        goto fail;
    }
    io.fp = NULL;
    fd = -1;
    if (rename(tmp, path) != 0) {
        st = set_error(err, SEMBED_ERR_IO, "cannot rename %s to %s: %s", tmp, path,
                       strerror(errno));
        goto fail;
    }
    if (sync_parent(path) != 0) {
        /* The file is complete under its name; only its durability across
         * a power loss is in doubt, which the caller should hear about. */
        st = set_error(err, SEMBED_ERR_IO, "cannot sync the folder of %s: %s", path,
                       strerror(errno));
        EVP_MD_CTX_free(io.md);
        free(tmp);
        return st;
    }
    if (sha256)
        digest_hex(io.md, sha256);
    EVP_MD_CTX_free(io.md);
    free(tmp);
    return SEMBED_OK;
fail:
    if (io.fp)
        fclose(io.fp);
    else if (fd >= 0)
        close(fd);
    unlink(tmp);
    EVP_MD_CTX_free(io.md);
    free(tmp);
    return st;
}

sembed_status sembed_hnsw_load(const char *path, int dim, const sembed_hnsw_params *params,
                               const char *expect_sha256, sembed_hnsw **out, sembed_error *err) {
    if (!path || !out)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_hnsw_load: NULL argument");
    *out = NULL;
    sembed_hnsw_params p = params ? *params : sembed_hnsw_default_params();
    sembed_status st = check_dim(dim, err);
    if (st == SEMBED_OK)
        st = check_params(&p, 0, err);
    if (st != SEMBED_OK)
        return st;
    file_io io = {NULL, NULL};
    sembed_hnsw *h = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat sb;
    if (fd < 0)
        return set_error(err, errno == ENOENT ? SEMBED_ERR_NOT_FOUND : SEMBED_ERR_IO,
                         "cannot open HNSW index %s: %s", path, strerror(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return set_error(err, SEMBED_ERR_IO, "HNSW index %s is not a regular file", path);
    }
    io.fp = fdopen(fd, "rb");
    io.md = EVP_MD_CTX_new();
    if (!io.fp || !io.md || EVP_DigestInit_ex(io.md, EVP_sha256(), NULL) != 1) {
        st = set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "cannot start reading %s", path);
        goto fail;
    }
    h = calloc(1, sizeof *h);
    if (!h) {
        st = set_error(err, SEMBED_ERR_OUT_OF_MEMORY, "out of memory");
        goto fail;
    }
    char msg[256] = "";
    h->g = hnsw_graph_read(io_read, &io, (uint64_t)sb.st_size, (size_t)dim, SEMBED_HNSW_MAX_M,
                           hnsw_distance_pick(NULL), msg, sizeof msg);
    if (!h->g) {
        st = set_error(err, SEMBED_ERR_FORMAT, "HNSW index %s: %s", path, msg);
        goto fail;
    }
    char got[65];
    digest_hex(io.md, got);
    if (expect_sha256 && *expect_sha256 && strcmp(got, expect_sha256) != 0) {
        st = set_error(err, SEMBED_ERR_FORMAT,
                       "HNSW index %s is damaged or was replaced: its SHA-256 is %.12s..., the "
                       "store recorded %.12s...",
                       path, got, expect_sha256);
        goto fail;
    }
    h->dim = dim;
    h->params = p;
    h->params.M = (int)hnsw_graph_M(h->g);
    h->params.ef_construction = (int)hnsw_graph_ef_construction(h->g);
    fclose(io.fp);
    EVP_MD_CTX_free(io.md);
    *out = h;
    return SEMBED_OK;
fail:
    if (io.fp)
        fclose(io.fp);
    else
        close(fd);
    EVP_MD_CTX_free(io.md);
    if (h)
        hnsw_graph_free(h->g);
    free(h);
    return st;
}

int hnsw_index_labels_dense(const sembed_hnsw *index, uint64_t n) {
    return hnsw_graph_labels_dense(index->g, n);
}
