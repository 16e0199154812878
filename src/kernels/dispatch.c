/*
 * dispatch.c - picks the kernel set for this CPU at run time, so one binary
 * runs everywhere and uses AVX-512 where it exists. GCC's CPU probe also
 * checks that the OS saves the wide registers (XGETBV).
 */
#include "kernels/kernels.h"

int kern_cpu_has_avx2(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

int kern_cpu_has_avx512(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return kern_cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq");
#else
    return 0;
#endif
}

int kern_cpu_has_avx512_bf16(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return kern_cpu_has_avx512() && __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}

int kern_cpu_has_avx512_vnni(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return kern_cpu_has_avx512() && __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}

const kern_ops *kern_ops_best(void) {
    if (kern_cpu_has_avx512())
        return &kern_ops_avx512;
    if (kern_cpu_has_avx2())
        return &kern_ops_avx2;
    return &kern_ops_scalar;
}
