/*
 * threadpool.c - persistent workers released by a generation counter.
 *
 * The caller bumps `generation` to start a region and takes part as thread
 * 0. Both sides spin only briefly before blocking: a forward pass runs its
 * regions back to back, so a short spin catches the next region without a
 * system call, while on a busy machine (more runnable threads than cores)
 * a long spin would steal the very core the other thread needs. Workers
 * sleep on `cond`; the caller sleeps on `done` until the last worker of the
 * region signals it.
 */
#include "common/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* Pause iterations before blocking (a few tens of microseconds). */
#define SPIN_LIMIT 4000

struct threadpool {
    int n_threads;
    pthread_t *workers;
    pthread_mutex_t mutex;
    pthread_cond_t cond;       /* workers wait here for a new generation */
    pthread_cond_t done;       /* the caller waits here for pending == 0 */
    atomic_uint generation;
    atomic_int pending;        /* workers that have not finished the region */
    atomic_int caller_sleeping;
    atomic_int stop;
    threadpool_fn fn;
    void *arg;
    int active;                /* threads taking part in the region */
};

typedef struct worker_arg {
    threadpool *pool;
    int ith;
} worker_arg;

static void finish_one(threadpool *pool) {
    /* seq_cst on both sides of the caller_sleeping / pending handshake, so
     * that the last worker either sees the caller asleep or the caller sees
     * pending reach 0 (never neither). */
    if (atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_seq_cst) == 1 &&
        atomic_load_explicit(&pool->caller_sleeping, memory_order_seq_cst)) {
        pthread_mutex_lock(&pool->mutex);
        pthread_cond_signal(&pool->done);
        pthread_mutex_unlock(&pool->mutex);
    }
}

static void *worker_main(void *p) {
    worker_arg *wa = p;
    threadpool *pool = wa->pool;
    int ith = wa->ith;
    free(wa);
    /* Generation 0 is the pool's initial value: reading the counter here
     * instead could skip a region started before this thread ran. */
    unsigned seen = 0;
    for (;;) {
        unsigned gen;
        int spins = 0;
        while ((gen = atomic_load_explicit(&pool->generation, memory_order_acquire)) == seen &&
               !atomic_load_explicit(&pool->stop, memory_order_acquire)) {
            if (++spins < SPIN_LIMIT) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&pool->mutex);
            while (atomic_load_explicit(&pool->generation, memory_order_acquire) == seen &&
                   !atomic_load_explicit(&pool->stop, memory_order_acquire))
                pthread_cond_wait(&pool->cond, &pool->mutex);
            pthread_mutex_unlock(&pool->mutex);
            spins = 0;
        }
        if (atomic_load_explicit(&pool->stop, memory_order_acquire))
            return NULL;
        seen = gen;
        if (ith < pool->active)
            pool->fn(pool->arg, ith, pool->active);
        finish_one(pool);
    }
}

threadpool *threadpool_new(int n_threads) {
    if (n_threads < 1)
        n_threads = 1;
    threadpool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return NULL;
    pool->n_threads = 1;
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->cond, NULL);
    pthread_cond_init(&pool->done, NULL);
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->pending, 0);
    atomic_init(&pool->caller_sleeping, 0);
    atomic_init(&pool->stop, 0);
    if (n_threads > 1) {
        pool->workers = calloc((size_t)n_threads - 1, sizeof *pool->workers);
        if (!pool->workers) {
            threadpool_free(pool);
            return NULL;
        }
        for (int i = 1; i < n_threads; i++) {
            worker_arg *wa = malloc(sizeof *wa);
            if (!wa || (wa->pool = pool, wa->ith = i,
                        pthread_create(&pool->workers[i - 1], NULL, worker_main, wa) != 0)) {
                /* Stop the workers started so far, then give up. */
                free(wa);
                threadpool_free(pool);
                return NULL;
            }
            pool->n_threads = i + 1;
        }
    }
    return pool;
}

void threadpool_free(threadpool *pool) {
    if (!pool)
        return;
    pthread_mutex_lock(&pool->mutex);
    atomic_store_explicit(&pool->stop, 1, memory_order_release);
    pthread_cond_broadcast(&pool->cond);
    pthread_mutex_unlock(&pool->mutex);
    for (int i = 1; i < pool->n_threads; i++)
        pthread_join(pool->workers[i - 1], NULL);
    free(pool->workers);
    pthread_mutex_destroy(&pool->mutex);
    pthread_cond_destroy(&pool->cond);
    pthread_cond_destroy(&pool->done);
    free(pool);
}

int threadpool_size(const threadpool *pool) { return pool ? pool->n_threads : 1; }

void threadpool_run_n(threadpool *pool, threadpool_fn fn, void *arg, int nth) {
    if (!pool || pool->n_threads <= 1 || nth <= 1) {
        fn(arg, 0, 1);
        return;
    }
    if (nth > pool->n_threads)
        nth = pool->n_threads;
    pool->fn = fn;
    pool->arg = arg;
    pool->active = nth;
    atomic_store_explicit(&pool->pending, pool->n_threads - 1, memory_order_release);
    pthread_mutex_lock(&pool->mutex);
    atomic_fetch_add_explicit(&pool->generation, 1, memory_order_acq_rel);
    pthread_cond_broadcast(&pool->cond);
    pthread_mutex_unlock(&pool->mutex);
    fn(arg, 0, nth);
    for (int spins = 0; atomic_load_explicit(&pool->pending, memory_order_acquire) != 0; spins++) {
        if (spins < SPIN_LIMIT) {
            cpu_relax();
            continue;
        }
        pthread_mutex_lock(&pool->mutex);
        atomic_store_explicit(&pool->caller_sleeping, 1, memory_order_seq_cst);
        while (atomic_load_explicit(&pool->pending, memory_order_seq_cst) != 0)
            pthread_cond_wait(&pool->done, &pool->mutex);
        atomic_store_explicit(&pool->caller_sleeping, 0, memory_order_release);
        pthread_mutex_unlock(&pool->mutex);
        break;
    }
}

void threadpool_run(threadpool *pool, threadpool_fn fn, void *arg) {
    threadpool_run_n(pool, fn, arg, threadpool_size(pool));
}
