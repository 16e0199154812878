/*
 * flat.c - picks the flat-search kernel set for this CPU.
 */
#include "search/flat.h"

#include <stdlib.h>
#include <string.h>

static int cpu_has(const char *set) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (!strcmp(set, "avx2"))
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (!strcmp(set, "avx512"))
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    (void)set;
#endif
    return 0;
}

const flat_kernels *flat_kernels_by_name(const char *name) {
    if (!name)
        return NULL;
    if (!strcmp(name, "generic"))
        return &flat_kernels_generic;
    if (!strcmp(name, "avx2") && cpu_has("avx2"))
        return &flat_kernels_avx2;
    if (!strcmp(name, "avx512") && cpu_has("avx512"))
        return &flat_kernels_avx512;
    return NULL;
}

const flat_kernels *flat_kernels_pick(void) {
    const char *forced = getenv("SEMBED_SEARCH_KERNEL");
    const flat_kernels *k = forced && *forced ? flat_kernels_by_name(forced) : NULL;
    if (k)
        return k;
    if (cpu_has("avx512"))
        return &flat_kernels_avx512;
    if (cpu_has("avx2"))
        return &flat_kernels_avx2;
    return &flat_kernels_generic;
}
