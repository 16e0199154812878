/*
 * fuzz_store.c - libFuzzer harness for the two file formats the store
 * reads: HNSW index files (hnswlib's layout, checked by hnsw_graph_read
 * before use) and the store's SQLite database. The first byte picks the
 * target:
 *   even: the rest is an HNSW file for vectors of 1 + (byte 1 % 8) floats;
 *         a loaded index is searched.
 *   odd:  the rest is written to a temporary file and opened as a store;
 *         info, search, a row and the full check run on it.
 * Every outcome but a crash, a leak or a hang is fine.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "search/hnsw.h"
#include "sembed.h"

typedef struct mem_reader {
    const uint8_t *p;
    size_t left;
} mem_reader;

static int mem_read(void *ctx, void *buf, size_t n) {
    mem_reader *r = ctx;
    if (n > r->left)
        return -1;
    memcpy(buf, r->p, n);
    r->p += n;
    r->left -= n;
    return 0;
}

static void fuzz_hnsw(const uint8_t *data, size_t size) {
    if (size < 1)
        return;
    size_t dim = 1 + data[0] % 8;
    mem_reader r = {data + 1, size - 1};
    char msg[256];
    hnsw_graph *g = hnsw_graph_read(mem_read, &r, size - 1, dim, SEMBED_HNSW_MAX_M,
                                    hnsw_ip_distance_sse, msg, sizeof msg);
    if (!g)
        return;
    float q[8] = {1, -0.5f, 0.25f, 0.125f, -1, 2, 0.5f, 1};
    uint64_t labels[5];
    float dists[5];
    const float *vecs[5];
    size_t n = 0;
    hnsw_graph_search(g, q, 5, 16, labels, dists, vecs, &n, msg, sizeof msg);
    hnsw_graph_labels_dense(g, hnsw_graph_count(g));
    hnsw_graph_free(g);
}

static void fuzz_db(const uint8_t *data, size_t size) {
    char path[64] = "/tmp/fuzz-store-XXXXXX";
    const char *tmp = getenv("TMPDIR");
    if (tmp && strlen(tmp) < 40)
        snprintf(path, sizeof path, "%s/fuzz-store-XXXXXX", tmp);
    int fd = mkstemp(path);
    if (fd < 0)
        return;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        unlink(path);
        return;
    }
    close(fd);
    sembed_store *s = NULL;
    if (sembed_store_open(path, SEMBED_STORE_READONLY, &s, NULL) == SEMBED_OK) {
        sembed_store_info info;
        if (sembed_store_get_info(s, &info, NULL) == SEMBED_OK && info.dim > 0 && info.dim <= 64) {
            float q[64];
            for (int i = 0; i < 64; i++)
                q[i] = (float)(i + 1);
            sembed_hit hits[3];
            size_t nh;
            sembed_store_search_params p = sembed_store_search_default_params();
            p.top_k = 3;
            p.n_threads = 1;
            sembed_store_search(s, q, 1, info.dim, &p, hits, 3, &nh, NULL);
        }
        sembed_store_row row;
        if (sembed_store_get_row(s, 0, &row, NULL) == SEMBED_OK)
            sembed_store_row_clear(&row);
        sembed_store_verify(s, NULL);
        sembed_store_close(s);
    }
    unlink(path);
    char side[80];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > (1u << 20))
        return 0;
    if (data[0] % 2 == 0)
        fuzz_hnsw(data + 1, size - 1);
    else
        fuzz_db(data + 1, size - 1);
    return 0;
}
