/*
 * threadpool.h - a persistent pool of worker threads for one context.
 *
 * The encoder runs a few dozen short parallel regions per forward pass
 * (one per matrix product, attention, layer norm ...), so creating threads
 * per call or sleeping between regions would dominate batch-1 latency.
 * Workers spin briefly on a generation counter, then block on a condition
 * variable; the caller does the same while it waits for the region's end. A region hands every thread (the caller included) its
 * index ith in [0, nth); kernels split their work by (ith, nth) and never
 * create threads themselves.
 */
#ifndef SEMBED_THREADPOOL_H
#define SEMBED_THREADPOOL_H

typedef struct threadpool threadpool;

/* fn(arg, ith, nth) runs once on each of the nth threads. */
typedef void (*threadpool_fn)(void *arg, int ith, int nth);

/* n_threads counts the caller: n_threads - 1 workers are started. NULL on
 * failure. n_threads <= 1 gives a pool that runs everything inline. */
threadpool *threadpool_new(int n_threads);
void threadpool_free(threadpool *pool);

int threadpool_size(const threadpool *pool);

/* Runs fn on all threads and returns when every thread has finished. */
void threadpool_run(threadpool *pool, threadpool_fn fn, void *arg);

/* The same on the first nth threads only (nth <= 1 runs fn inline on the
 * caller without waking anyone), for regions too small to share. */
void threadpool_run_n(threadpool *pool, threadpool_fn fn, void *arg, int nth);

#endif /* SEMBED_THREADPOOL_H */
