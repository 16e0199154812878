/*
 * search_db.c - `sembed search --db STORE`: semantic search over a store.
 * `sembed search` hands its whole argv here when --db is given or when no
 * --corpus file is named (then the default store is searched).
 *
 *   sembed search --db faq.db --query "How can Medicare help me?" -k 5
 *
 * Query texts are embedded with the store's model (the one it records, or
 * --model, which must be that model); --queries FILE searches with
 * precomputed query vectors instead and needs no model.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "store_cli.h"

/* Most --query options on one command line. */
#define SEARCH_DB_MAX_QUERIES 1024

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: sembed search --db STORE (--query TEXT | --queries-text FILE |\n"
            "                     --queries FILE) [options]\n"
            "\n"
            "Searches a store made by 'sembed index add'. Query texts are embedded with\n"
            "the model the store records (or --model, which must be that model). Without\n"
            "--db the store is $SEMBED_DB, else sembed.db in the working directory.\n"
            "\n"
            "options:\n"
            "      --db STORE           the store (SQLite file)\n"
            "  -q, --query TEXT         a query text (repeatable)\n"
            "      --queries-text FILE  query texts, one per line\n"
            "      --queries FILE       query vectors (.npy, .csv, .jsonl); no model needed\n"
            "  -m, --model M            the store's model from another place (a folder or\n"
            "                           a Hub repo id); refused when it is another model\n"
            "  -k, --top-k N            hits per query (default 10)\n"
            "      --mode M             exact (default), int8, binary (quantized candidates,\n"
            "                           exact rescoring) or hnsw (the store's HNSW index)\n"
            "      --ef N               hnsw: candidate list (default 64; raised to k)\n"
            "      --oversample N       int8/binary: candidates rescored per hit\n"
            "      --score S            cos (default) or dot (exact, int8, binary)\n"
            "  -t, --threads N          threads (default: all CPUs)\n"
            "      --json               semantic_search's JSON: one list per query of\n"
            "                           {\"corpus_id\", \"score\", \"text\"} (plus \"id\" and\n"
            "                           \"metadata\" when a row has them)\n"
            "  -h, --help               this help\n"
            "\n"
            "Exit status: 0 success, 1 failure, 2 usage error.\n");
}

enum { OPT_DB = 1000, OPT_QUERIES, OPT_QUERIES_TEXT, OPT_MODE, OPT_EF, OPT_OVERSAMPLE,
       OPT_SCORE, OPT_JSON };

int cmd_search_db(int argc, char **argv) {
    static const struct option opts[] = {
        {"db", required_argument, NULL, OPT_DB},
        {"query", required_argument, NULL, 'q'},
        {"queries-text", required_argument, NULL, OPT_QUERIES_TEXT},
        {"queries", required_argument, NULL, OPT_QUERIES},
        {"model", required_argument, NULL, 'm'},
        {"top-k", required_argument, NULL, 'k'},
        {"mode", required_argument, NULL, OPT_MODE},
        {"ef", required_argument, NULL, OPT_EF},
        {"oversample", required_argument, NULL, OPT_OVERSAMPLE},
        {"score", required_argument, NULL, OPT_SCORE},
        {"threads", required_argument, NULL, 't'},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *model_name = NULL, *queries_path = NULL, *queries_text_path = NULL;
    const char *query_args[SEARCH_DB_MAX_QUERIES];
    size_t n_query_args = 0;
    long top_k = 10, ef = 0, oversample = 0, threads = 0;
    int json = 0;
    sembed_store_search_params sp = sembed_store_search_default_params();

    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":q:m:k:t:h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_DB:
            db = optarg;
            break;
        case 'q':
            if (n_query_args == SEARCH_DB_MAX_QUERIES)
                return cli_usage_error("search", "more than %d --query options; use "
                                       "--queries-text FILE", SEARCH_DB_MAX_QUERIES);
            query_args[n_query_args++] = optarg;
            break;
        case OPT_QUERIES_TEXT:
            queries_text_path = optarg;
            break;
        case OPT_QUERIES:
            queries_path = optarg;
            break;
        case 'm':
            model_name = optarg;
            break;
        case 'k':
            if (cli_parse_int(optarg, 1, SEMBED_HNSW_MAX_EF, &top_k))
                return cli_usage_error("search", "-k must be 1 to %d, got '%s'",
                                       SEMBED_HNSW_MAX_EF, optarg);
            break;
        case OPT_MODE:
            if (!strcmp(optarg, "exact"))
                sp.mode = SEMBED_STORE_EXACT;
            else if (!strcmp(optarg, "int8"))
                sp.mode = SEMBED_STORE_INT8;
            else if (!strcmp(optarg, "binary"))
                sp.mode = SEMBED_STORE_BINARY;
            else if (!strcmp(optarg, "hnsw"))
                sp.mode = SEMBED_STORE_HNSW;
            else
                return cli_usage_error("search", "--mode must be exact, int8, binary or hnsw, "
                                       "got '%s'", optarg);
            break;
        case OPT_EF:
            if (cli_parse_int(optarg, 1, SEMBED_HNSW_MAX_EF, &ef))
                return cli_usage_error("search", "--ef must be 1 to %d, got '%s'",
                                       SEMBED_HNSW_MAX_EF, optarg);
            break;
        case OPT_OVERSAMPLE:
            if (cli_parse_int(optarg, 1, 1000, &oversample))
                return cli_usage_error("search", "--oversample must be 1 to 1000, got '%s'",
                                       optarg);
            break;
        case OPT_SCORE:
            if (cli_parse_score(optarg, &sp.score))
                return cli_usage_error("search", "--score must be cos or dot, got '%s'", optarg);
            break;
        case 't':
            if (cli_parse_int(optarg, 0, 256, &threads))
                return cli_usage_error("search", "--threads must be 0 to 256, got '%s'", optarg);
            break;
        case OPT_JSON:
            json = 1;
            break;
        case 'h':
            usage(stdout);
            return CLI_OK;
        case ':':
            return cli_usage_error("search", "%s needs a value", argv[optind - 1]);
        default:
            return cli_usage_error("search", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("search", "unexpected argument '%s'", argv[optind]);
    int sources = (n_query_args > 0) + (queries_text_path != NULL) + (queries_path != NULL);
    if (sources == 0)
        return cli_usage_error("search", "give --query TEXT, --queries-text FILE or "
                               "--queries FILE");
    if (sources > 1)
        return cli_usage_error("search", "use one of --query, --queries-text and --queries");
    if (ef && sp.mode != SEMBED_STORE_HNSW)
        return cli_usage_error("search", "--ef applies to --mode hnsw");
    if (oversample && sp.mode != SEMBED_STORE_INT8 && sp.mode != SEMBED_STORE_BINARY)
        return cli_usage_error("search", "--oversample applies to --mode int8 or binary");
    if (queries_path && model_name)
        return cli_usage_error("search", "--queries gives vectors: --model is not used");
    if (!db)
        db = store_cli_default_db();
    sp.top_k = (int)top_k;
    sp.ef = (int)ef;
    sp.rescore_multiplier = (int)oversample;
    sp.n_threads = (int)threads;

    int rc = CLI_FAIL;
    sembed_error err;
    sembed_store *store = NULL;
    store_cli_model m;
    memset(&m, 0, sizeof m);
    cli_texts qt;
    memset(&qt, 0, sizeof qt);
    sembed_matrix qm;
    memset(&qm, 0, sizeof qm);
    float *qv = NULL;
    store_cli_results res;
    memset(&res, 0, sizeof res);
    const char **query_texts = NULL;
    size_t nq = 0;
    int dim = 0;

    if (queries_text_path && cli_read_texts(queries_text_path, CLI_INPUT_TEXT, &qt))
        goto done;
    if (queries_path && sembed_matrix_read(queries_path, NULL, &qm, &err) != SEMBED_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    if (sembed_store_open(db, SEMBED_STORE_READONLY, &store, &err) != SEMBED_OK) {
        if (err.status == SEMBED_ERR_NOT_FOUND)
            cli_error("%s (make a store with 'sembed index add --db %s ...')", err.message, db);
        else
            cli_fail(&err);
        goto done;
    }
    if (queries_path) {
        nq = qm.rows;
        dim = (int)qm.cols;
        qv = qm.data;
    } else {
        if (queries_text_path) {
            nq = qt.n;
            query_texts = calloc(nq, sizeof *query_texts);
            if (!query_texts) {
                cli_error("out of memory");
                goto done;
            }
            for (size_t i = 0; i < nq; i++)
                query_texts[i] = qt.texts[i];
        } else {
            nq = n_query_args;
            query_texts = calloc(nq, sizeof *query_texts);
            if (!query_texts) {
                cli_error("out of memory");
                goto done;
            }
            for (size_t i = 0; i < nq; i++)
                query_texts[i] = query_args[i];
        }
        if ((rc = store_cli_model_for_store(store, model_name, (int)threads, &m)) != 0)
            goto done;
        rc = CLI_FAIL;
        dim = m.dim;
        qv = malloc(nq * (size_t)dim * sizeof *qv);
        if (!qv) {
            cli_error("out of memory for %zu query vectors", nq);
            goto done;
        }
        if (store_cli_embed(&m, query_texts, queries_text_path ? qt.lens : NULL, nq,
                            STORE_CLI_DEFAULT_BATCH, qv, NULL))
            goto done;
    }
    if (store_cli_search(store, qv, nq, dim, &sp, &res))
        goto done;
    if (json)
        store_cli_print_json(stdout, &res);
    else
        store_cli_print_table(stdout, &res, query_texts);
    rc = fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
done:
    store_cli_results_free(&res);
    if (qv != qm.data)
        free(qv);
    free(query_texts);
    store_cli_model_free(&m);
    sembed_store_close(store);
    sembed_matrix_free(&qm);
    cli_texts_free(&qt);
    return rc;
}
