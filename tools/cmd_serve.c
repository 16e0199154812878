/*
 * cmd_serve.c - `sembed serve`: the embedding server. Parses the options,
 * loads the model and the optional /search corpus, starts the batching
 * engine and runs the HTTP server (src/server/) until SIGTERM or SIGINT.
 */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "server.h"

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: sembed serve --model DIR|REPO [options]\n"
            "\n"
            "Serves embeddings over HTTP in three dialects at once: the Hugging Face\n"
            "Inference API (POST /pipeline/feature-extraction/{model}, /models/{model}),\n"
            "text-embeddings-inference (POST /embed, /embed_all, /similarity, /tokenize,\n"
            "/decode; GET /health, /info, /metrics) and OpenAI (POST /v1/embeddings), plus\n"
            "POST /search over a corpus. Concurrent requests are batched together.\n"
            "\n"
            "options:\n"
            "  -m, --model M                  model folder, or Hugging Face repo id\n"
            "      --host H                   address to listen on (default 127.0.0.1)\n"
            "  -p, --port N                   port (default 8080; 0 = any free port)\n"
            "      --port-file FILE           write the port there once listening\n"
            "      --served-model-name NAME   the {model} of the HF routes and OpenAI's\n"
            "                                 \"model\" (default: the repo id, or the\n"
            "                                 model folder's name)\n"
            "      --api-key KEY              require Authorization: Bearer KEY (also from\n"
            "                                 the SEMBED_API_KEY environment variable);\n"
            "                                 /health and /metrics stay open\n"
            "      --db FILE                  /search over this store\n"
            "      --corpus FILE              /search over these vectors (.npy, .csv, .jsonl)\n"
            "      --texts FILE               the corpus texts, one per line\n"
            "  -t, --threads N                threads per batch (default: all CPUs)\n"
            "      --workers N                batches run at the same time (default 1)\n"
            "      --http-threads N           HTTP threads (default 2)\n"
            "      --max-batch-tokens N       tokens per batch (default 16384)\n"
            "      --max-client-batch-size N  inputs per request (default 32)\n"
            "      --max-openai-batch-size N  inputs per /v1/embeddings request (default 2048)\n"
            "      --payload-limit N          request body bytes (default 2000000)\n"
            "      --max-concurrent-requests N  requests in flight before 429 (default 512)\n"
            "      --max-connections N        open connections (default 1024)\n"
            "      --max-header-bytes N       memory per connection for the request line and\n"
            "                                 headers (default 32768)\n"
            "      --request-timeout S        seconds to receive a whole request (default 30)\n"
            "      --idle-timeout S           seconds a keep-alive connection may idle (60)\n"
            "      --drain-timeout S          seconds to finish requests on SIGTERM (30)\n"
            "      --auto-truncate true|false default of `truncate` (default true)\n"
            "      --dtype T                  fp32 (default), bf16, int8\n"
            "      --kernel K                 auto (default), reference, scalar, avx2, avx512\n"
            "      --mmap-weights             read the fp32 weights in place from the file\n"
            "                                 mapping (default: copy them into huge pages,\n"
            "                                 faster for short requests; 42.5 MB for\n"
            "                                 all-MiniLM-L6-v2)\n"
            "      --quiet                    no per-request log lines\n"
            "  -h, --help                     this help\n"
            "\n"
            "Limits, error codes and formats: docs/SERVER.md.\n");
}

enum {
    OPT_HOST = 1000, OPT_PORT_FILE, OPT_SERVED, OPT_API_KEY, OPT_DB, OPT_CORPUS, OPT_TEXTS,
    OPT_WORKERS, OPT_HTTP_THREADS, OPT_BATCH_TOKENS, OPT_CLIENT_BATCH, OPT_OPENAI_BATCH,
    OPT_PAYLOAD, OPT_CONCURRENT, OPT_CONNECTIONS, OPT_HEADER_BYTES, OPT_REQ_TIMEOUT,
    OPT_IDLE_TIMEOUT, OPT_DRAIN_TIMEOUT, OPT_AUTO_TRUNCATE, OPT_DTYPE, OPT_KERNEL, OPT_QUIET,
    OPT_MMAP_WEIGHTS, OPT_DELAY
};

static int parse_bool(const char *s, int *out) {
    if (!strcmp(s, "true") || !strcmp(s, "1")) {
        *out = 1;
        return 0;
    }
    if (!strcmp(s, "false") || !strcmp(s, "0")) {
        *out = 0;
        return 0;
    }
    return -1;
}

int cmd_serve(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"host", required_argument, NULL, OPT_HOST},
        {"port", required_argument, NULL, 'p'},
        {"port-file", required_argument, NULL, OPT_PORT_FILE},
        {"served-model-name", required_argument, NULL, OPT_SERVED},
        {"api-key", required_argument, NULL, OPT_API_KEY},
        {"db", required_argument, NULL, OPT_DB},
        {"corpus", required_argument, NULL, OPT_CORPUS},
        {"texts", required_argument, NULL, OPT_TEXTS},
        {"threads", required_argument, NULL, 't'},
        {"workers", required_argument, NULL, OPT_WORKERS},
        {"http-threads", required_argument, NULL, OPT_HTTP_THREADS},
        {"max-batch-tokens", required_argument, NULL, OPT_BATCH_TOKENS},
        {"max-client-batch-size", required_argument, NULL, OPT_CLIENT_BATCH},
        {"max-openai-batch-size", required_argument, NULL, OPT_OPENAI_BATCH},
        {"payload-limit", required_argument, NULL, OPT_PAYLOAD},
        {"max-concurrent-requests", required_argument, NULL, OPT_CONCURRENT},
        {"max-connections", required_argument, NULL, OPT_CONNECTIONS},
        {"max-header-bytes", required_argument, NULL, OPT_HEADER_BYTES},
        {"request-timeout", required_argument, NULL, OPT_REQ_TIMEOUT},
        {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
        {"drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT},
        {"auto-truncate", required_argument, NULL, OPT_AUTO_TRUNCATE},
        {"dtype", required_argument, NULL, OPT_DTYPE},
        {"kernel", required_argument, NULL, OPT_KERNEL},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"mmap-weights", no_argument, NULL, OPT_MMAP_WEIGHTS},
        /* For tests of the concurrency limit: each batch waits N ms first. */
        {"debug-batch-delay-ms", required_argument, NULL, OPT_DELAY},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    srv_config cfg;
    srv_config_defaults(&cfg);
    srv_engine_params ep = {.workers = 1, .threads = 0, .max_batch_tokens = 0};
    sembed_model_params mp = sembed_model_default_params();
    /* A server lives long and answers short requests: see copy_weights. */
    mp.copy_weights = 1;
    const char *model_name = NULL, *db = NULL, *corpus = NULL, *texts = NULL;
    char served[1024];
    long v;
    int c;
    optind = 1;
    opterr = 0; /* one message of our own, naming the option */
    while ((c = getopt_long(argc, argv, ":m:p:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_name = optarg; break;
        case OPT_HOST: cfg.host = optarg; break;
        case 'p':
            if (cli_parse_int(optarg, 0, 65535, &v))
                return cli_usage_error("serve", "--port must be 0..65535, not '%s'", optarg);
            cfg.port = (int)v;
            break;
        case OPT_PORT_FILE: cfg.port_file = optarg; break;
        case OPT_SERVED: cfg.served_model_name = optarg; break;
        case OPT_API_KEY: cfg.api_key = optarg; break;
        case OPT_DB: db = optarg; break;
        case OPT_CORPUS: corpus = optarg; break;
        case OPT_TEXTS: texts = optarg; break;
#define INT_OPT(code, name, lo, hi, dst)                                                       \
    case code:                                                                                 \
        if (cli_parse_int(optarg, lo, hi, &v))                                                 \
            return cli_usage_error("serve", "--" name " must be an integer in %ld..%ld, not '%s'", \
                                   (long)(lo), (long)(hi), optarg);                            \
        dst = v;                                                                               \
        break;
        INT_OPT('t', "threads", 0, 1024, ep.threads)
        INT_OPT(OPT_WORKERS, "workers", 1, 64, ep.workers)
        INT_OPT(OPT_HTTP_THREADS, "http-threads", 1, 256, cfg.http_threads)
        INT_OPT(OPT_BATCH_TOKENS, "max-batch-tokens", 1, 1 << 24, cfg.max_batch_tokens)
        INT_OPT(OPT_CLIENT_BATCH, "max-client-batch-size", 1, 1 << 20, cfg.max_client_batch_size)
        INT_OPT(OPT_OPENAI_BATCH, "max-openai-batch-size", 1, 1 << 20, cfg.max_openai_batch_size)
        INT_OPT(OPT_PAYLOAD, "payload-limit", 1, 1L << 30, cfg.payload_limit)
        INT_OPT(OPT_CONCURRENT, "max-concurrent-requests", 1, 1 << 20,
                cfg.max_concurrent_requests)
        INT_OPT(OPT_CONNECTIONS, "max-connections", 1, 1 << 20, cfg.max_connections)
        INT_OPT(OPT_HEADER_BYTES, "max-header-bytes", 4096, 1 << 24, cfg.max_header_bytes)
        INT_OPT(OPT_REQ_TIMEOUT, "request-timeout", 1, 86400, cfg.request_timeout)
        INT_OPT(OPT_IDLE_TIMEOUT, "idle-timeout", 1, 86400, cfg.idle_timeout)
        INT_OPT(OPT_DRAIN_TIMEOUT, "drain-timeout", 0, 86400, cfg.drain_timeout)
        INT_OPT(OPT_DELAY, "debug-batch-delay-ms", 0, 600000, ep.debug_batch_delay_ms)
#undef INT_OPT
        case OPT_AUTO_TRUNCATE:
            if (parse_bool(optarg, &cfg.auto_truncate))
                return cli_usage_error("serve", "--auto-truncate takes true or false, not '%s'",
                                       optarg);
            break;
        case OPT_DTYPE:
            if (cli_parse_dtype(optarg, &mp.dtype))
                return cli_usage_error("serve", "unknown --dtype '%s'", optarg);
            break;
        case OPT_KERNEL:
            if (cli_parse_kernel(optarg, &mp.kernel))
                return cli_usage_error("serve", "unknown --kernel '%s'", optarg);
            break;
        case OPT_QUIET: cfg.log_requests = 0; break;
        case OPT_MMAP_WEIGHTS: mp.copy_weights = 0; break;
        case 'h': usage(stdout); return CLI_OK;
        default: return cli_option_error("serve", c, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
    if (!model_name)
        return cli_usage_error("serve", "--model is required");
    if (db && (corpus || texts))
        return cli_usage_error("serve", "--db and --corpus/--texts exclude each other");
    if (texts && !corpus)
        return cli_usage_error("serve", "--texts needs --corpus");
    if (!cfg.api_key) {
        const char *env = getenv("SEMBED_API_KEY");
        if (env && *env)
            cfg.api_key = env;
    }
    if (cfg.api_key && !*cfg.api_key)
        return cli_usage_error("serve", "--api-key must not be empty");
    if (!cfg.served_model_name) {
        cli_model_display_name(model_name, served, sizeof served);
        cfg.served_model_name = served;
    }

    /* Signals are taken synchronously by the HTTP loop (sigtimedwait): block
     * them before any thread starts, so every thread inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = CLI_FAIL;
    sembed_model *model = NULL;
    srv_engine *eng = NULL;
    srv_app *app = NULL;
    sembed_error err = {0};
    if (cli_load_model(model_name, &mp, &model))
        goto out;
    sembed_model_info info;
    sembed_model_get_info(model, &info);
    if (info.max_seq_length > cfg.max_batch_tokens) {
        if (!cfg.auto_truncate) {
            cli_error("--max-batch-tokens %d is below the model's max_seq_length %d and "
                      "--auto-truncate is false: an input could never fit a batch",
                      cfg.max_batch_tokens, info.max_seq_length);
            rc = CLI_USAGE;
            goto out;
        }
        /* As TEI: inputs are cut to what one batch holds. */
        sembed_model_free(model);
        model = NULL;
        mp.max_seq_length = cfg.max_batch_tokens;
        if (cli_load_model(model_name, &mp, &model))
            goto out;
        sembed_model_get_info(model, &info);
    }
    ep.max_batch_tokens = cfg.max_batch_tokens;
    ep.model_id = model_name;
    if (srv_engine_start(model, &ep, &eng, &err) != SEMBED_OK) {
        cli_fail(&err);
        goto out;
    }
    if (db || corpus) {
        srv_corpus *cp = NULL;
        sembed_status st = db ? srv_corpus_load_db(db, info.dim, &cp, &err)
                              : srv_corpus_load_files(corpus, texts, info.dim, &cp, &err);
        if (st != SEMBED_OK) {
            cli_fail(&err);
            goto out;
        }
        srv_engine_set_corpus(eng, cp);
        fprintf(stderr, "sembed serve: /search over %zu rows of %s\n", srv_corpus_size(cp),
                db ? db : corpus);
    }
    app = srv_app_new(&cfg, srv_engine_backend(eng));
    if (!app) {
        cli_error("out of memory");
        goto out;
    }
    fprintf(stderr, "sembed serve: model %s (%s, dim %d, max_seq_length %d), served as %s\n",
            model_name, info.pooling_name, info.dim, info.max_seq_length,
            cfg.served_model_name);
    rc = srv_http_run(&cfg, app);
out:
    srv_app_free(app);
    srv_engine_stop(eng);
    sembed_model_free(model);
    return rc;
}
