/*
 * cmd_bench.c - `sembed bench`: embedding speed on a fixed input, measured
 * the way the peer harness measures ONNX Runtime and PyTorch (model loaded
 * once, warm-up, then the median of whole timed passes), printed as one
 * JSON object whose fields match the harness's results.jsonl rows.
 */
#include <getopt.h>
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: sembed bench --model DIR|REPO --input FILE [options]\n"
            "\n"
            "Times embedding passes over the input: consecutive lines form batches of\n"
            "--batch-size texts; each pass embeds every batch. Prints one JSON object\n"
            "with sentences/s, tokens/s, GFLOP/s and %% of the measured fp32 peak\n"
            "(median, min, max over the timed passes).\n"
            "\n"
            "options:\n"
            "  -m, --model M          model folder or Hub repo id\n"
            "  -i, --input FILE       input (ids input excludes tokenization from timing)\n"
            "      --input-format F   ids (default), jsonl or text\n"
            "  -b, --batch-size N     texts per call (default 32)\n"
            "  -t, --threads N        threads (default: all CPUs)\n"
            "      --dtype T          fp32 (default)\n"
            "      --kernel K         auto (default), reference, scalar, avx2, avx512\n"
            "      --reps N           timed passes (default 5)\n"
            "      --warmup N         untimed passes first (default 1)\n"
            "      --min-calls N      repeat passes until at least N batch calls were\n"
            "                         timed (default 0)\n"
            "      --peak GFLOPS      fp32 peak to report %% of (default: measured now)\n"
            "      --workload NAME    label for the JSON row (default: the input's name)\n"
            "      --mmap-weights     read the fp32 weights in place from the file mapping\n"
            "                         (default: copy them into huge pages, as `sembed\n"
            "                         serve` does; one-shot commands such as `embed` map)\n"
            "      --json             print only the JSON object (default prints it too)\n"
            "  -h, --help             this help\n");
}

/* ==== Peak measurement ==================================================== */

/* In-register FMA throughput: 8 independent accumulator chains per
 * thread, long enough to hide the FMA latency. The chains are named
 * variables rather than an array so that no compiler keeps them in memory
 * (a store-to-load round trip per FMA would measure the wrong thing). */
#define PEAK_FMA8(FMA)                                                                             \
    do {                                                                                           \
        a0 = FMA(a0, b, c);                                                                        \
        a1 = FMA(a1, b, c);                                                                        \
        a2 = FMA(a2, b, c);                                                                        \
        a3 = FMA(a3, b, c);                                                                        \
        a4 = FMA(a4, b, c);                                                                        \
        a5 = FMA(a5, b, c);                                                                        \
        a6 = FMA(a6, b, c);                                                                        \
        a7 = FMA(a7, b, c);                                                                        \
    } while (0)

__attribute__((target("avx512f"))) static double fma_loop_avx512(long iters) {
    __m512 b = _mm512_set1_ps(1.0000001f), c = _mm512_set1_ps(1e-7f);
    __m512 a0 = _mm512_set1_ps(0), a1 = _mm512_set1_ps(1), a2 = _mm512_set1_ps(2),
           a3 = _mm512_set1_ps(3), a4 = _mm512_set1_ps(4), a5 = _mm512_set1_ps(5),
           a6 = _mm512_set1_ps(6), a7 = _mm512_set1_ps(7);
    for (long n = 0; n < iters; n++)
        PEAK_FMA8(_mm512_fmadd_ps);
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    return (double)_mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static double fma_loop_avx2(long iters) {
    __m256 b = _mm256_set1_ps(1.0000001f), c = _mm256_set1_ps(1e-7f);
    __m256 a0 = _mm256_set1_ps(0), a1 = _mm256_set1_ps(1), a2 = _mm256_set1_ps(2),
           a3 = _mm256_set1_ps(3), a4 = _mm256_set1_ps(4), a5 = _mm256_set1_ps(5),
           a6 = _mm256_set1_ps(6), a7 = _mm256_set1_ps(7);
    for (long n = 0; n < iters; n++)
        PEAK_FMA8(_mm256_fmadd_ps);
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    float buf[8], t = 0;
    _mm256_storeu_ps(buf, s);
    for (int k = 0; k < 8; k++)
        t += buf[k];
    return (double)t;
}

typedef struct peak_arg {
    int wide;
    long iters;
    double sink;
} peak_arg;

static void *peak_thread(void *p) {
    peak_arg *a = p;
    a->sink = a->wide == 16 ? fma_loop_avx512(a->iters) : fma_loop_avx2(a->iters);
    return NULL;
}

/* GFLOP/s of `threads` threads running FMAs flat out (best of 3). */
static double measure_peak(int threads) {
    __builtin_cpu_init();
    int wide = __builtin_cpu_supports("avx512f") ? 16 : (__builtin_cpu_supports("fma") ? 8 : 0);
    if (!wide)
        return 0;
    long iters = 20000000;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        pthread_t th[64];
        peak_arg args[64];
        int n = threads > 64 ? 64 : threads;
        double t0 = cli_now();
        for (int i = 0; i < n; i++) {
            args[i].wide = wide;
            args[i].iters = iters;
            pthread_create(&th[i], NULL, peak_thread, &args[i]);
        }
        for (int i = 0; i < n; i++)
            pthread_join(th[i], NULL);
        double el = cli_now() - t0;
        double flops = (double)n * (double)iters * 8 * wide * 2;
        double g = flops / el / 1e9;
        if (g > best)
            best = g;
    }
    return best;
}

/* ==== Machine load ========================================================= */

/* Busy and total jiffies of the whole machine (/proc/stat "cpu" line), so
 * that the share of the CPU other processes used during the timed passes
 * can be reported beside the figures, as the peer harness does. */
static int machine_jiffies(double *busy, double *total) {
    FILE *fp = fopen("/proc/stat", "r");
    if (!fp)
        return -1;
    unsigned long long v[10] = {0};
    int n = fscanf(fp, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
                   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
    fclose(fp);
    if (n < 8)
        return -1;
    double idle = (double)v[3] + (double)v[4];
    double sum = 0;
    for (int i = 0; i < 8; i++)
        sum += (double)v[i];
    *busy = sum - idle;
    *total = sum;
    return 0;
}

static double process_cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void loadavg(char *buf, size_t cap) {
    FILE *fp = fopen("/proc/loadavg", "r");
    buf[0] = 0;
    if (fp) {
        if (fscanf(fp, "%15s", buf) != 1)
            buf[0] = 0;
        fclose(fp);
    }
    (void)cap;
}

/* ==== Timing ============================================================== */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int cmd_bench(int argc, char **argv) {
    enum { OPT_FMT = 1000, OPT_DTYPE, OPT_KERNEL, OPT_REPS, OPT_WARMUP, OPT_MIN_CALLS, OPT_PEAK,
           OPT_WORKLOAD, OPT_JSON, OPT_MMAP_WEIGHTS };
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"input", required_argument, NULL, 'i'},
        {"input-format", required_argument, NULL, OPT_FMT},
        {"batch-size", required_argument, NULL, 'b'},
        {"threads", required_argument, NULL, 't'},
        {"dtype", required_argument, NULL, OPT_DTYPE},
        {"kernel", required_argument, NULL, OPT_KERNEL},
        {"reps", required_argument, NULL, OPT_REPS},
        {"warmup", required_argument, NULL, OPT_WARMUP},
        {"min-calls", required_argument, NULL, OPT_MIN_CALLS},
        {"peak", required_argument, NULL, OPT_PEAK},
        {"workload", required_argument, NULL, OPT_WORKLOAD},
        {"json", no_argument, NULL, OPT_JSON},
        {"mmap-weights", no_argument, NULL, OPT_MMAP_WEIGHTS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *model_name = NULL, *input = NULL, *workload = NULL;
    int fmt = CLI_INPUT_IDS, json_only = 0;
    long batch = 32, threads = 0, reps = 5, warmup = 1, min_calls = 0;
    double peak = 0;
    sembed_model_params mp = sembed_model_default_params();
    /* Timed passes over a loaded model are what a server runs. */
    mp.copy_weights = 1;
    int c;
    optind = 1;
    opterr = 0; /* one message of our own, naming the option */
    while ((c = getopt_long(argc, argv, ":m:i:b:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_name = optarg; break;
        case 'i': input = optarg; break;
        case OPT_FMT:
            if ((fmt = cli_input_format_from_name(optarg)) < 0)
                return cli_usage_error("bench", "unknown --input-format '%s'", optarg);
            break;
        case 'b':
            if (cli_parse_int(optarg, 1, 1 << 20, &batch))
                return cli_usage_error("bench", "--batch-size must be 1 to %d", 1 << 20);
            break;
        case 't':
            if (cli_parse_int(optarg, 1, 1024, &threads))
                return cli_usage_error("bench", "--threads must be 1 to 1024");
            break;
        case OPT_DTYPE:
            if (cli_parse_dtype(optarg, &mp.dtype))
                return cli_usage_error("bench", "unknown --dtype '%s'", optarg);
            break;
        case OPT_KERNEL:
            if (cli_parse_kernel(optarg, &mp.kernel))
                return cli_usage_error("bench", "unknown --kernel '%s'", optarg);
            break;
        case OPT_REPS:
            if (cli_parse_int(optarg, 1, 1000000, &reps))
                return cli_usage_error("bench", "--reps must be 1 or more");
            break;
        case OPT_WARMUP:
            if (cli_parse_int(optarg, 0, 1000000, &warmup))
                return cli_usage_error("bench", "--warmup must be 0 or more");
            break;
        case OPT_MIN_CALLS:
            if (cli_parse_int(optarg, 0, 100000000, &min_calls))
                return cli_usage_error("bench", "--min-calls must be 0 or more");
            break;
        case OPT_PEAK:
            if (cli_parse_double(optarg, &peak) || peak <= 0)
                return cli_usage_error("bench", "--peak must be a positive number");
            break;
        case OPT_WORKLOAD: workload = optarg; break;
        case OPT_JSON: json_only = 1; break;
        case OPT_MMAP_WEIGHTS: mp.copy_weights = 0; break;
        case 'h': usage(stdout); return CLI_OK;
        default: return cli_option_error("bench", c, argv);
        }
    }
    if (!model_name || !input)
        return cli_usage_error("bench", "--model and --input are required");
    char wl_buf[256];
    if (!workload) {
        /* The harness's workload name: the file name without .ids.jsonl etc. */
        const char *slash = strrchr(input, '/');
        snprintf(wl_buf, sizeof wl_buf, "%s", slash ? slash + 1 : input);
        char *dot = strchr(wl_buf, '.');
        if (dot && dot != wl_buf)
            *dot = 0;
        workload = wl_buf;
    }
    cli_texts in;
    if (cli_read_texts(input, (cli_input_format)fmt, &in))
        return CLI_FAIL;
    sembed_model *model = NULL;
    sembed_context *ctx = NULL;
    float *out = NULL;
    double *times = NULL;
    int rc = CLI_FAIL;
    sembed_error err;
    if (cli_load_model(model_name, &mp, &model))
        goto done;
    sembed_context_params cp = sembed_context_default_params();
    cp.n_threads = (int)threads;
    if (sembed_context_init(model, &cp, &ctx, &err) != SEMBED_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    sembed_model_info info;
    sembed_model_get_info(model, &info);
    int n_threads = threads ? (int)threads : 0;
    if (!n_threads) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = cpus > 0 ? (int)cpus : 1;
    }
    int dim = sembed_model_dim(model);
    out = malloc((size_t)batch * dim * sizeof *out);
    /* Real tokens and model FLOPs of one pass (multiply-add = 2): the
     * linear layers plus attention's two L x L products per layer. */
    uint64_t tokens = 0;
    double flops = 0;
    const sembed_tokenizer *tok = sembed_model_tokenizer(model);
    for (size_t i = 0; i < in.n; i++) {
        size_t L;
        if (fmt == CLI_INPUT_IDS) {
            L = in.n_tok_ids[i] > (size_t)info.max_seq_length ? (size_t)info.max_seq_length
                                                               : in.n_tok_ids[i];
        } else {
            int32_t ids[8192];
            if (sembed_tokenize(tok, in.texts[i], in.lens[i], NULL, ids, 8192, &L, NULL, &err) !=
                SEMBED_OK) {
                rc = cli_fail(&err);
                goto done;
            }
        }
        double H = info.hidden_size, F = info.intermediate_size;
        tokens += L;
        flops += (double)L * info.n_layers * (2.0 * (4 * H * H + 2 * H * F) + 4.0 * (double)L * H);
    }
    size_t n_batches = (in.n + (size_t)batch - 1) / (size_t)batch;
    long passes = reps;
    if (min_calls > 0 && (long)n_batches * passes < min_calls)
        passes = (min_calls + (long)n_batches - 1) / (long)n_batches;
    times = malloc((size_t)(passes + warmup) * sizeof *times);
    char load_before[16], load_after[16];
    loadavg(load_before, sizeof load_before);
    double busy0 = 0, total0 = 0, busy1 = 0, total1 = 0, own0 = 0, wall0 = 0;
    for (long p = 0; p < warmup + passes; p++) {
        if (p == warmup) {
            machine_jiffies(&busy0, &total0);
            own0 = process_cpu_seconds();
            wall0 = cli_now();
        }
        double t0 = cli_now();
        for (size_t i = 0; i < in.n; i += (size_t)batch) {
            size_t n = in.n - i < (size_t)batch ? in.n - i : (size_t)batch;
            sembed_status st =
                fmt == CLI_INPUT_IDS
                    ? sembed_embed_ids(ctx, (const int32_t *const *)in.tok_ids + i,
                                       in.n_tok_ids + i, n, NULL, out, n * dim, &err)
                    : sembed_embed(ctx, (const char *const *)in.texts + i, in.lens + i, n, NULL,
                                   out, n * dim, &err);
            if (st != SEMBED_OK) {
                rc = cli_fail(&err);
                goto done;
            }
        }
        times[p] = cli_now() - t0;
    }
    machine_jiffies(&busy1, &total1);
    double own = process_cpu_seconds() - own0, wall = cli_now() - wall0;
    loadavg(load_after, sizeof load_after);
    long hz = sysconf(_SC_CLK_TCK);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    double machine_busy = total1 > total0 ? (busy1 - busy0) / (double)hz : 0;
    double foreign = wall > 0 && cpus > 0 ? (machine_busy - own) / (wall * (double)cpus) : 0;
    if (foreign < 0)
        foreign = 0;
    double *t = times + warmup;
    qsort(t, (size_t)passes, sizeof *t, cmp_double);
    double med = passes % 2 ? t[passes / 2] : 0.5 * (t[passes / 2 - 1] + t[passes / 2]);
    double tmin = t[0], tmax = t[passes - 1];
    int peak_given = peak > 0;
    if (!peak_given)
        peak = measure_peak(n_threads);
    double gf = flops / med / 1e9;
    const char *dt = mp.dtype == SEMBED_DTYPE_FP32 ? "fp32"
                     : (mp.dtype == SEMBED_DTYPE_BF16 ? "bf16" : "int8");
    printf("{\"peer\": \"sembed-%s\", \"variant\": \"%s-%s\", \"threads\": %d, \"workload\": \"%s\", "
           "\"n_sent\": %zu, \"tokens\": %llu, \"batch\": %ld, \"n_batches\": %zu, \"reps\": %ld, "
           "\"sec_median\": %.6f, \"sec_min\": %.6f, \"sec_max\": %.6f, "
           "\"sent_per_s\": %.2f, \"sent_per_s_min\": %.2f, \"sent_per_s_max\": %.2f, "
           "\"tok_per_s\": %.1f, \"latency_ms\": %.4f, \"gflops_per_s\": %.1f, "
           "\"peak_gflops\": %.1f, \"pct_peak\": %.1f, \"peak_source\": \"%s\", "
           "\"flops_note\": \"model FLOPs of the real (unpadded) tokens: sembed pads nothing\", "
           "\"foreign_cpu\": %.3f, \"own_cpus\": %.2f, \"loadavg_before\": \"%s\", "
           "\"loadavg_after\": \"%s\", \"env\": {\"sembed\": \"%s\", \"kernel\": \"%s\", \"weights\": \"%s\"}}\n",
           dt, dt, info.kernel, n_threads, workload, in.n, (unsigned long long)tokens, batch,
           n_batches, passes, med, tmin, tmax, in.n / med, in.n / tmax, in.n / tmin, tokens / med,
           med / n_batches * 1e3, gf, peak, peak > 0 ? 100.0 * gf / peak : 0.0,
           peak_given ? "given (--peak)" : "measured in-register now", foreign,
           wall > 0 ? own / wall : 0.0, load_before, load_after, sembed_version(), info.kernel,
           info.weights_copied ? "copied" : "mapped");
    if (!json_only)
        fprintf(stderr, "sembed bench: %s: %.1f sentences/s, %.0f tokens/s, %.1f GFLOP/s "
                        "(%.0f%% of %.0f), %.3f ms per batch\n",
                workload, in.n / med, tokens / med, gf, peak > 0 ? 100.0 * gf / peak : 0.0,
                peak, med / n_batches * 1e3);
    rc = CLI_OK;
done:
    free(times);
    free(out);
    sembed_context_free(ctx);
    sembed_model_free(model);
    cli_texts_free(&in);
    return rc;
}
