/*
 * hnsw.cpp - the extern "C" shim over hnswlib (Debian libhnswlib-dev,
 * header-only). It owns everything that touches hnswlib's C++ types: graph
 * creation, insertion, the k-NN search, and reading and writing hnswlib's
 * saveIndex() file format.
 *
 * Two things are done here rather than by hnswlib itself:
 *   - Loading. hnswlib's loadIndex() trusts the file: a damaged or hostile
 *     index makes it read and write out of bounds. Here every header field
 *     is checked against the file size, the vector length and M before
 *     anything is allocated, and every link is checked (neighbour id in
 *     range, neighbour present on that layer) before the graph is used.
 *   - Searching. hnswlib 0.6.2 keeps the search candidate-list size in the
 *     index (setEf), which makes concurrent searches with different ef race,
 *     and its prefetching is tied to code we compile out (see below). The
 *     search here is hnswlib's algorithm with ef passed per call and the
 *     neighbours' vectors prefetched before their distances are taken.
 *
 * No C++ exception leaves this file: each entry point catches and turns
 * the failure into a message.
 */
#include "search/hnsw.h"

/* hnswlib's own SIMD is compile-time only and not needed (the distance is
 * ours, chosen at run time). Turning it off also drops its software
 * prefetches, which read one link past the end of a full upper-layer list:
 * a 4-byte heap over-read in hnswlib 0.6.2 that AddressSanitizer reports. */
#define NO_MANUAL_VECTORIZATION
#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <queue>
#include <vector>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>

#include "sembed.h"

namespace {

using graph_t = hnswlib::HierarchicalNSW<float>;

/* Inner-product space whose distance function we choose (see hnsw.h). */
class ip_space final : public hnswlib::SpaceInterface<float> {
public:
    ip_space(size_t dim, hnsw_distfunc f) : dim_(dim), f_(f) {}
    size_t get_data_size() override { return dim_ * sizeof(float); }
    hnswlib::DISTFUNC<float> get_dist_func() override { return f_; }
    void *get_dist_func_param() override { return &dim_; }

private:
    size_t dim_;
    hnsw_distfunc f_;
};

/* Header of hnswlib's file format, in file order (all native endian). */
struct file_header {
    size_t offset_level0;
    size_t max_elements;
    size_t count;
    size_t size_data_per_element;
    size_t label_offset;
    size_t offset_data;
    int max_level;
    unsigned int enter_point;
    size_t max_m;
    size_t max_m0;
    size_t m;
    double mult;
    size_t ef_construction;
};

const size_t header_bytes = 6 * sizeof(size_t) + sizeof(int) + sizeof(unsigned int) +
                            3 * sizeof(size_t) + sizeof(double) + sizeof(size_t);

/* The highest layer a graph may have. Levels are drawn as -ln(U) * mult
 * with U a double in (0, 1], so real graphs stay far below this. */
const int max_layers = 64;

void put_msg(char *msg, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void put_msg(char *msg, size_t cap, const char *fmt, ...) {
    if (!msg || !cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
}

template <typename T> int io_pod(hnsw_io_fn io, void *ctx, T *v) {
    return io(ctx, v, sizeof *v);
}

/* Cache lines of a vector fetched ahead: the hardware prefetcher follows a
 * stream once it has started. */
const size_t prefetch_lines = 2;

using dist_id = std::pair<float, hnswlib::tableint>;

/* The layer-0 search of hnswlib's searchBaseLayerST: a best-first walk
 * from ep that keeps the ef nearest found so far. Each step first marks
 * the unvisited neighbours and prefetches their vectors, then measures
 * them, so that the memory latency of one overlaps the others (the
 * vectors of a large index are far apart in memory; fetching them is most
 * of a search's time). Returns the candidates, farthest on top. */
template <bool has_deletions>
std::priority_queue<dist_id> base_search(const graph_t *a, hnswlib::tableint ep,
                                         const void *query, size_t ef) {
    hnswlib::VisitedList *vl = a->visited_list_pool_->getFreeVisitedList();
    hnswlib::vl_type *visited = vl->mass;
    hnswlib::vl_type tag = vl->curV;
    std::priority_queue<dist_id> top;        /* max-heap on distance */
    std::priority_queue<dist_id> candidates; /* max-heap on -distance */
    float lower;
    if (!has_deletions || !a->isMarkedDeleted(ep)) {
        float d = a->fstdistfunc_(query, a->getDataByInternalId(ep), a->dist_func_param_);
        lower = d;
        top.emplace(d, ep);
        candidates.emplace(-d, ep);
    } else {
        lower = std::numeric_limits<float>::max();
        candidates.emplace(-lower, ep);
    }
    visited[ep] = tag;
    /* Lists hold at most maxM0 links (checked on load, kept by inserts). */
    std::vector<hnswlib::tableint> fresh(a->maxM0_);
    while (!candidates.empty()) {
        dist_id cur = candidates.top();
        if (-cur.first > lower && (top.size() == ef || !has_deletions))
            break;
        candidates.pop();
        unsigned int *list = a->get_linklist0(cur.second);
        size_t size = a->getListCount(list);
        const hnswlib::tableint *nb = list + 1;
        size_t n_fresh = 0;
        if (size > fresh.size())
            size = fresh.size();
        for (size_t j = 0; j < size; j++) {
            hnswlib::tableint id = nb[j];
            if (visited[id] == tag)
                continue;
            visited[id] = tag;
            const char *v = a->getDataByInternalId(id);
            for (size_t l = 0; l < prefetch_lines; l++)
                __builtin_prefetch(v + 64 * l);
            fresh[n_fresh++] = id;
        }
        for (size_t j = 0; j < n_fresh; j++) {
            hnswlib::tableint id = fresh[j];
            float d = a->fstdistfunc_(query, a->getDataByInternalId(id), a->dist_func_param_);
            if (top.size() < ef || lower > d) {
                candidates.emplace(-d, id);
                if (!has_deletions || !a->isMarkedDeleted(id))
                    top.emplace(d, id);
                if (top.size() > ef)
                    top.pop();
                if (!top.empty())
                    lower = top.top().first;
            }
        }
    }
    a->visited_list_pool_->releaseVisitedList(vl);
    return top;
}

} // namespace

struct hnsw_graph {
    ip_space space;
    graph_t *alg = nullptr;
    hnsw_graph(size_t dim, hnsw_distfunc f) : space(dim, f) {}
    ~hnsw_graph() { delete alg; }
    hnsw_graph(const hnsw_graph &) = delete;
    hnsw_graph &operator=(const hnsw_graph &) = delete;
};

extern "C" {

hnsw_graph *hnsw_graph_new(size_t dim, size_t capacity, size_t M, size_t ef_construction,
                           uint32_t seed, hnsw_distfunc dist, char *msg, size_t cap) {
    hnsw_graph *g = nullptr;
    try {
        g = new hnsw_graph(dim, dist);
        g->alg = new graph_t(&g->space, std::max<size_t>(capacity, 1), M, ef_construction, seed);
        g->alg->metric_hops = 0;
        g->alg->metric_distance_computations = 0;
        return g;
    } catch (const std::bad_alloc &) {
        put_msg(msg, cap, "out of memory creating an HNSW index of %zu elements", capacity);
    } catch (const std::exception &e) {
        put_msg(msg, cap, "cannot create the HNSW index: %s", e.what());
    } catch (...) {
        put_msg(msg, cap, "cannot create the HNSW index");
    }
    delete g;
    return nullptr;
}

void hnsw_graph_free(hnsw_graph *g) {
    delete g;
}

size_t hnsw_graph_count(const hnsw_graph *g) {
    return g->alg->cur_element_count;
}

size_t hnsw_graph_M(const hnsw_graph *g) {
    return g->alg->M_;
}

size_t hnsw_graph_ef_construction(const hnsw_graph *g) {
    return g->alg->ef_construction_;
}

int hnsw_graph_reserve(hnsw_graph *g, size_t n, char *msg, size_t cap) {
    try {
        if (n > g->alg->max_elements_)
            g->alg->resizeIndex(n);
        return 0;
    } catch (const std::bad_alloc &) {
        put_msg(msg, cap, "out of memory growing the HNSW index to %zu elements", n);
    } catch (const std::exception &e) {
        put_msg(msg, cap, "cannot grow the HNSW index: %s", e.what());
    } catch (...) {
        put_msg(msg, cap, "cannot grow the HNSW index");
    }
    return -1;
}

int hnsw_graph_has_label(const hnsw_graph *g, uint64_t label) {
    return g->alg->label_lookup_.count((hnswlib::labeltype)label) != 0;
}

int hnsw_graph_add(hnsw_graph *g, const float *vec, uint64_t label, char *msg, size_t cap) {
    try {
        g->alg->addPoint(vec, (hnswlib::labeltype)label);
        return 0;
    } catch (const std::bad_alloc &) {
        put_msg(msg, cap, "out of memory adding to the HNSW index");
    } catch (const std::exception &e) {
        put_msg(msg, cap, "cannot add label %llu to the HNSW index: %s",
                (unsigned long long)label, e.what());
    } catch (...) {
        put_msg(msg, cap, "cannot add label %llu to the HNSW index", (unsigned long long)label);
    }
    return -1;
}

int hnsw_graph_search(const hnsw_graph *g, const float *query, size_t k, size_t ef,
                      uint64_t *labels, float *dists, const float **vectors, size_t *n,
                      char *msg, size_t cap) {
    *n = 0;
    try {
        const graph_t *a = g->alg;
        if (a->cur_element_count == 0 || k == 0)
            return 0;
        /* Greedy descent through the upper layers, as hnswlib's searchKnn. */
        hnswlib::tableint cur = a->enterpoint_node_;
        float cur_dist = a->fstdistfunc_(query, a->getDataByInternalId(cur), a->dist_func_param_);
        for (int level = a->maxlevel_; level > 0; level--) {
            bool changed = true;
            while (changed) {
                changed = false;
                const unsigned int *list = a->get_linklist(cur, level);
                unsigned short size = a->getListCount(const_cast<unsigned int *>(list));
                const hnswlib::tableint *nb = list + 1;
                for (unsigned short i = 0; i < size; i++) {
                    float d = a->fstdistfunc_(query, a->getDataByInternalId(nb[i]),
                                              a->dist_func_param_);
                    if (d < cur_dist) {
                        cur_dist = d;
                        cur = nb[i];
                        changed = true;
                    }
                }
            }
        }
        size_t e = std::max(ef, k);
        auto top = a->num_deleted_ ? base_search<true>(a, cur, query, e)
                                   : base_search<false>(a, cur, query, e);
        while (top.size() > k)
            top.pop();
        size_t m = top.size();
        /* The queue pops the farthest first. */
        for (size_t i = m; i-- > 0;) {
            const auto &p = top.top();
            labels[i] = a->getExternalLabel(p.second);
            dists[i] = p.first;
            vectors[i] = reinterpret_cast<const float *>(a->getDataByInternalId(p.second));
            top.pop();
        }
        *n = m;
        return 0;
    } catch (const std::bad_alloc &) {
        put_msg(msg, cap, "out of memory searching the HNSW index");
    } catch (const std::exception &e) {
        put_msg(msg, cap, "HNSW search failed: %s", e.what());
    } catch (...) {
        put_msg(msg, cap, "HNSW search failed");
    }
    return -1;
}

int hnsw_graph_labels_dense(const hnsw_graph *g, uint64_t n) {
    const graph_t *a = g->alg;
    if (a->cur_element_count != n || a->num_deleted_ != 0 || a->label_lookup_.size() != n)
        return 0;
    for (const auto &kv : a->label_lookup_)
        if (kv.first >= n)
            return 0;
    return 1;
}

int hnsw_graph_write(const hnsw_graph *g, hnsw_io_fn write, void *ctx, char *msg, size_t cap) {
    const graph_t *a = g->alg;
    file_header h;
    h.offset_level0 = a->offsetLevel0_;
    /* The capacity written is the element count: a reader allocates what
     * the file holds, not the room we happened to reserve. */
    h.max_elements = std::max<size_t>(a->cur_element_count, 1);
    h.count = a->cur_element_count;
    h.size_data_per_element = a->size_data_per_element_;
    h.label_offset = a->label_offset_;
    h.offset_data = a->offsetData_;
    h.max_level = a->maxlevel_;
    h.enter_point = a->enterpoint_node_;
    h.max_m = a->maxM_;
    h.max_m0 = a->maxM0_;
    h.m = a->M_;
    h.mult = a->mult_;
    h.ef_construction = a->ef_construction_;
    if (io_pod(write, ctx, &h.offset_level0) || io_pod(write, ctx, &h.max_elements) ||
        io_pod(write, ctx, &h.count) || io_pod(write, ctx, &h.size_data_per_element) ||
        io_pod(write, ctx, &h.label_offset) || io_pod(write, ctx, &h.offset_data) ||
        io_pod(write, ctx, &h.max_level) || io_pod(write, ctx, &h.enter_point) ||
        io_pod(write, ctx, &h.max_m) || io_pod(write, ctx, &h.max_m0) ||
        io_pod(write, ctx, &h.m) || io_pod(write, ctx, &h.mult) ||
        io_pod(write, ctx, &h.ef_construction))
        goto fail;
    if (h.count && write(ctx, a->data_level0_memory_, h.count * h.size_data_per_element))
        goto fail;
    for (size_t i = 0; i < h.count; i++) {
        int level = a->element_levels_[i];
        unsigned int size = level > 0 ? (unsigned int)(a->size_links_per_element_ * level) : 0;
        if (io_pod(write, ctx, &size))
            goto fail;
        if (size && write(ctx, a->linkLists_[i], size))
            goto fail;
    }
    return 0;
fail:
    put_msg(msg, cap, "write failed");
    return -1;
}

hnsw_graph *hnsw_graph_read(hnsw_io_fn read, void *ctx, uint64_t file_size, size_t dim,
                            size_t max_M, hnsw_distfunc dist, char *msg, size_t cap) {
    hnsw_graph *g = nullptr;
    try {
        file_header h;
        if (file_size < header_bytes) {
            put_msg(msg, cap, "too small to be an HNSW index (%llu bytes)",
                    (unsigned long long)file_size);
            return nullptr;
        }
        if (io_pod(read, ctx, &h.offset_level0) || io_pod(read, ctx, &h.max_elements) ||
            io_pod(read, ctx, &h.count) || io_pod(read, ctx, &h.size_data_per_element) ||
            io_pod(read, ctx, &h.label_offset) || io_pod(read, ctx, &h.offset_data) ||
            io_pod(read, ctx, &h.max_level) || io_pod(read, ctx, &h.enter_point) ||
            io_pod(read, ctx, &h.max_m) || io_pod(read, ctx, &h.max_m0) ||
            io_pod(read, ctx, &h.m) || io_pod(read, ctx, &h.mult) ||
            io_pod(read, ctx, &h.ef_construction)) {
            put_msg(msg, cap, "cannot read the HNSW header");
            return nullptr;
        }
        uint64_t left = file_size - header_bytes;

        /* Every derived size is recomputed from dim and M and must match
         * the file: a file made for other vectors is refused here. */
        if (h.offset_level0 != 0) {
            put_msg(msg, cap, "not an hnswlib index (level-0 offset %zu)", h.offset_level0);
            return nullptr;
        }
        if (h.m < 2 || h.m > max_M || h.max_m != h.m || h.max_m0 != 2 * h.m) {
            put_msg(msg, cap,
                    "unsupported HNSW links: M %zu, maxM %zu, maxM0 %zu (M must be 2..%zu)", h.m,
                    h.max_m, h.max_m0, max_M);
            return nullptr;
        }
        size_t links0 = h.max_m0 * sizeof(hnswlib::tableint) + sizeof(hnswlib::linklistsizeint);
        size_t links = h.max_m * sizeof(hnswlib::tableint) + sizeof(hnswlib::linklistsizeint);
        size_t data_size = dim * sizeof(float);
        size_t element = links0 + data_size + sizeof(hnswlib::labeltype);
        if (h.size_data_per_element != element || h.offset_data != links0 ||
            h.label_offset != links0 + data_size) {
            put_msg(msg, cap,
                    "HNSW element layout (%zu bytes) does not match vectors of %zu floats "
                    "with M %zu (%zu bytes): an index of other vectors",
                    h.size_data_per_element, dim, h.m, element);
            return nullptr;
        }
        if (h.count > SEMBED_HNSW_MAX_ELEMENTS || h.max_elements < h.count) {
            put_msg(msg, cap, "bad HNSW element count %zu (capacity %zu)", h.count,
                    h.max_elements);
            return nullptr;
        }
        /* Level-0 records plus one 4-byte link size per element. */
        unsigned __int128 need = (unsigned __int128)h.count * (element + sizeof(unsigned int));
        if (need > left) {
            put_msg(msg, cap, "HNSW index truncated: %zu elements need %llu bytes, %llu present",
                    h.count, (unsigned long long)(need > UINT64_MAX ? UINT64_MAX : (uint64_t)need),
                    (unsigned long long)left);
            return nullptr;
        }
        if (h.count == 0) {
            if (left != 0) {
                put_msg(msg, cap, "empty HNSW index with %llu bytes of trailing data",
                        (unsigned long long)left);
                return nullptr;
            }
        } else if (h.max_level < 0 || h.max_level > max_layers || h.enter_point >= h.count) {
            put_msg(msg, cap, "bad HNSW entry point %u or top layer %d (%zu elements)",
                    h.enter_point, h.max_level, h.count);
            return nullptr;
        }
        if (!std::isfinite(h.mult) || h.mult <= 0 || h.mult > 1.5) {
            put_msg(msg, cap, "bad HNSW level multiplier %g", h.mult);
            return nullptr;
        }
        if (h.ef_construction < 1 || h.ef_construction > SEMBED_HNSW_MAX_EF) {
            put_msg(msg, cap, "bad HNSW ef_construction %zu", h.ef_construction);
            return nullptr;
        }

        g = new hnsw_graph(dim, dist);
        g->alg = new graph_t(&g->space, std::max<size_t>(h.count, 1), h.m, h.ef_construction,
                             100);
        graph_t *a = g->alg;
        a->metric_hops = 0;
        a->metric_distance_computations = 0;
        a->mult_ = h.mult;
        a->revSize_ = 1.0 / h.mult;
        a->ef_construction_ = h.ef_construction;
        if (h.count && read(ctx, a->data_level0_memory_, h.count * element)) {
            put_msg(msg, cap, "HNSW index truncated in its vectors");
            goto fail;
        }
        left -= (uint64_t)h.count * element;

        for (size_t i = 0; i < h.count; i++) {
            unsigned int size;
            if (left < sizeof size || io_pod(read, ctx, &size)) {
                put_msg(msg, cap, "HNSW index truncated at element %zu", i);
                goto fail;
            }
            left -= sizeof size;
            if (size % links != 0 || size / links > (size_t)h.max_level || size > left) {
                put_msg(msg, cap, "bad HNSW link block of %u bytes at element %zu", size, i);
                goto fail;
            }
            char *block = nullptr;
            if (size) {
                block = static_cast<char *>(malloc(size));
                if (!block)
                    throw std::bad_alloc();
                if (read(ctx, block, size)) {
                    free(block);
                    put_msg(msg, cap, "HNSW index truncated at element %zu", i);
                    goto fail;
                }
                left -= size;
            }
            a->linkLists_[i] = block;
            a->element_levels_[i] = (int)(size / links);
            a->cur_element_count = i + 1; /* the destructor frees blocks up to here */
        }
        if (left != 0) {
            put_msg(msg, cap, "HNSW index has %llu bytes of trailing data",
                    (unsigned long long)left);
            goto fail;
        }

        /* The links: every id in range, every upper-layer neighbour present
         * on that layer, list sizes within M. Then labels and vectors. */
        size_t deleted = 0;
        for (size_t i = 0; i < h.count; i++) {
            for (int level = 0; level <= a->element_levels_[i]; level++) {
                unsigned int *list = a->get_linklist_at_level((hnswlib::tableint)i, level);
                size_t n = a->getListCount(list);
                if (n > (level ? h.max_m : h.max_m0)) {
                    put_msg(msg, cap, "HNSW element %zu has %zu links on layer %d (max %zu)", i,
                            n, level, level ? h.max_m : h.max_m0);
                    goto fail;
                }
                const hnswlib::tableint *nb = list + 1;
                for (size_t j = 0; j < n; j++) {
                    if (nb[j] >= h.count || a->element_levels_[nb[j]] < level) {
                        put_msg(msg, cap, "HNSW element %zu links to a missing element %u on "
                                "layer %d", i, nb[j], level);
                        goto fail;
                    }
                }
            }
            if (a->isMarkedDeleted((hnswlib::tableint)i))
                deleted++;
            hnswlib::labeltype label = a->getExternalLabel((hnswlib::tableint)i);
            if (!a->label_lookup_.emplace(label, (hnswlib::tableint)i).second) {
                put_msg(msg, cap, "HNSW label %llu appears twice", (unsigned long long)label);
                goto fail;
            }
            const float *v = reinterpret_cast<const float *>(
                a->getDataByInternalId((hnswlib::tableint)i));
            for (size_t d = 0; d < dim; d++) {
                if (!std::isfinite(v[d])) {
                    put_msg(msg, cap, "HNSW element %zu holds a non-finite value", i);
                    goto fail;
                }
            }
        }
        if (h.count && a->element_levels_[h.enter_point] != h.max_level) {
            put_msg(msg, cap, "HNSW entry point %u is not on the top layer %d", h.enter_point,
                    h.max_level);
            goto fail;
        }
        a->num_deleted_ = deleted;
        a->maxlevel_ = h.count ? h.max_level : -1;
        a->enterpoint_node_ = h.count ? h.enter_point : (hnswlib::tableint)-1;
        return g;
    } catch (const std::bad_alloc &) {
        put_msg(msg, cap, "out of memory loading the HNSW index");
    } catch (const std::exception &e) {
        put_msg(msg, cap, "cannot load the HNSW index: %s", e.what());
    } catch (...) {
        put_msg(msg, cap, "cannot load the HNSW index");
    }
fail:
    delete g;
    return nullptr;
}

} // extern "C"
