/*
 * cmd_search.c - `sembed search`: semantic search over embedding files, the
 * command-line twin of sentence_transformers.util.semantic_search.
 *
 *   sembed search --corpus emb.npy --queries q.npy -k 5 --json
 *   sembed search --model M --corpus faqs.csv --texts faqs.txt --query "..."
 *
 * Corpus and queries are .npy, pandas-style .csv or .jsonl files (any mix).
 * With --model the query texts are embedded first. --json prints exactly
 * the structure semantic_search returns, as json.dumps writes it. A search
 * of a store (--db, or no --corpus at all) belongs to tools/search_db.c.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Until the store commands are linked in, a store search is reported as
 * missing rather than failing the link. */
#pragma weak cmd_search_db

/* Most --query options on one command line. */
#define SEARCH_MAX_QUERY_ARGS 1024
/* Bytes of a text shown in the table (the JSON output has it whole). */
#define SEARCH_TABLE_TEXT_BYTES 100

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: sembed search --corpus FILE --queries FILE [options]\n"
            "       sembed search --model M --corpus FILE (--query TEXT | --queries-text FILE)\n"
            "                     [--texts FILE] [options]\n"
            "       sembed search --db STORE ...   (a store: see 'sembed search --db X --help';\n"
            "                                       no --corpus searches the default store)\n"
            "\n"
            "Finds the top-k corpus rows for each query, as\n"
            "sentence_transformers.util.semantic_search does (cosine by default; ties\n"
            "go to the lower corpus_id). Embedding files are .npy, .csv (as\n"
            "pandas.DataFrame(emb).to_csv(index=False) writes them) or .jsonl.\n"
            "\n"
            "options:\n"
            "      --corpus FILE        corpus embeddings, one row per document\n"
            "      --queries FILE       query embeddings\n"
            "  -m, --model M          embed query texts with this model (a folder or a Hub\n"
            "                           repo id); its dim must match the corpus\n"
            "  -q, --query TEXT         a query text (repeatable; needs --model)\n"
            "      --queries-text FILE  query texts, one per line (needs --model)\n"
            "      --texts FILE         the corpus texts, line i for row i (text lines, or\n"
            "                           .jsonl with \"text\"); default: the corpus file's own\n"
            "                           \"text\" column when it has one\n"
            "  -k, --top-k N            hits per query (default 10)\n"
            "      --score S            cos (default) or dot\n"
            "      --precision P        float32 (default, exact), int8, uint8, binary or\n"
            "                           ubinary: a quantized candidate pass, then exact\n"
            "                           float32 rescoring\n"
            "      --oversample N       candidates rescored per hit (default 2, as\n"
            "                           sentence-transformers' rescore_multiplier)\n"
            "      --no-rescore         report the quantized pass's own scores\n"
            "  -t, --threads N          threads (default: all CPUs)\n"
            "      --json               print the hits as JSON: one list per query of\n"
            "                           {\"corpus_id\": int, \"score\": float} (plus \"text\"\n"
            "                           when the corpus texts are known)\n"
            "  -h, --help               this help\n"
            "\n"
            "Exit status: 0 success, 1 failure, 2 usage error.\n");
}

enum { OPT_CORPUS = 1000, OPT_QUERIES, OPT_QUERIES_TEXT, OPT_TEXTS, OPT_SCORE, OPT_PRECISION,
       OPT_OVERSAMPLE, OPT_NO_RESCORE, OPT_JSON, OPT_DB };


/* Prints one line of a text for the table: control characters as spaces,
 * cut after SEARCH_TABLE_TEXT_BYTES without splitting a UTF-8 sequence. */
static void put_table_text(FILE *fp, const char *s) {
    size_t n = strlen(s), cut = n;
    if (n > SEARCH_TABLE_TEXT_BYTES) {
        cut = SEARCH_TABLE_TEXT_BYTES;
        while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
            cut--;
    }
    for (size_t i = 0; i < cut; i++)
        fputc((unsigned char)s[i] < 0x20 ? ' ' : s[i], fp);
    if (cut < n)
        fputs("...", fp);
}

/* Reads the corpus texts: text lines, or JSONL ("text" objects or strings)
 * when the name ends in .jsonl / .ndjson. */
static int read_corpus_texts(const char *path, cli_texts *out) {
    size_t n = strlen(path);
    int jsonl = (n > 6 && !strcmp(path + n - 6, ".jsonl")) ||
                (n > 7 && !strcmp(path + n - 7, ".ndjson"));
    return cli_read_texts(path, jsonl ? CLI_INPUT_JSONL : CLI_INPUT_TEXT, out);
}

static int load_matrix(const char *path, const char *what, sembed_matrix *m) {
    sembed_error err;
    if (sembed_matrix_read(path, NULL, m, &err) != SEMBED_OK) {
        cli_error("%s: %s", what, err.message);
        return CLI_FAIL;
    }
    return CLI_OK;
}

/* Embeds the query texts with the model. */
static int embed_queries(const char *model_name, int n_threads, const char *const *texts,
                         size_t n, float **out, int *dim) {
    sembed_model *model = NULL;
    sembed_context *ctx = NULL;
    sembed_error err;
    int rc = cli_load_model(model_name, NULL, &model);
    if (rc)
        return rc;
    sembed_context_params cp = sembed_context_default_params();
    cp.n_threads = n_threads;
    if (sembed_context_init(model, &cp, &ctx, &err) != SEMBED_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    *dim = sembed_model_dim(model);
    *out = malloc(n * (size_t)*dim * sizeof(float));
    if (!*out) {
        cli_error("out of memory");
        rc = CLI_FAIL;
        goto done;
    }
    sembed_embed_params ep = sembed_embed_default_params();
    if (sembed_embed(ctx, texts, NULL, n, &ep, *out, n * (size_t)*dim, &err) != SEMBED_OK) {
        free(*out);
        *out = NULL;
        rc = cli_fail(&err);
    }
done:
    sembed_context_free(ctx);
    sembed_model_free(model);
    return rc;
}

static int has_arg(int argc, char **argv, const char *name) {
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            break;
        if (!strncmp(argv[i], name, n) && (argv[i][n] == 0 || argv[i][n] == '='))
            return 1;
    }
    return 0;
}

int cmd_search(int argc, char **argv) {
    static const struct option opts[] = {
        {"corpus", required_argument, NULL, OPT_CORPUS},
        {"queries", required_argument, NULL, OPT_QUERIES},
        {"model", required_argument, NULL, 'm'},
        {"query", required_argument, NULL, 'q'},
        {"queries-text", required_argument, NULL, OPT_QUERIES_TEXT},
        {"texts", required_argument, NULL, OPT_TEXTS},
        {"top-k", required_argument, NULL, 'k'},
        {"score", required_argument, NULL, OPT_SCORE},
        {"precision", required_argument, NULL, OPT_PRECISION},
        {"oversample", required_argument, NULL, OPT_OVERSAMPLE},
        {"no-rescore", no_argument, NULL, OPT_NO_RESCORE},
        {"threads", required_argument, NULL, 't'},
        {"json", no_argument, NULL, OPT_JSON},
        {"db", required_argument, NULL, OPT_DB},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    /* A store search: the store commands own their options (and --help). */
    if (has_arg(argc, argv, "--db")) {
        if (cmd_search_db)
            return cmd_search_db(argc, argv);
        cli_error("searching a store (--db) is not built into this binary");
        return CLI_FAIL;
    }
    if (has_arg(argc, argv, "--help") || has_arg(argc, argv, "-h")) {
        usage(stdout);
        return CLI_OK;
    }
    /* No embedding file: the default store. */
    if (!has_arg(argc, argv, "--corpus")) {
        if (cmd_search_db)
            return cmd_search_db(argc, argv);
        return cli_usage_error("search", "--corpus FILE (or --db STORE) is required");
    }

    const char *corpus_path = NULL, *queries_path = NULL, *model_name = NULL;
    const char *queries_text_path = NULL, *texts_path = NULL;
    const char *query_args[SEARCH_MAX_QUERY_ARGS];
    size_t n_query_args = 0;
    int json = 0;
    long top_k = 10, threads = 0, oversample = -1;
    sembed_search_params sp = sembed_search_default_params();

    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":m:q:k:t:h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_CORPUS:
            corpus_path = optarg;
            break;
        case OPT_QUERIES:
            queries_path = optarg;
            break;
        case 'm':
            model_name = optarg;
            break;
        case 'q':
            if (n_query_args == SEARCH_MAX_QUERY_ARGS)
                return cli_usage_error("search", "more than %d --query options; use "
                                       "--queries-text FILE", SEARCH_MAX_QUERY_ARGS);
            query_args[n_query_args++] = optarg;
            break;
        case OPT_QUERIES_TEXT:
            queries_text_path = optarg;
            break;
        case OPT_TEXTS:
            texts_path = optarg;
            break;
        case 'k':
            if (cli_parse_int(optarg, 1, 1000000000, &top_k))
                return cli_usage_error("search", "-k must be an integer >= 1, got '%s'", optarg);
            break;
        case OPT_SCORE:
            if (cli_parse_score(optarg, &sp.score))
                return cli_usage_error("search", "--score must be cos or dot, got '%s'", optarg);
            break;
        case OPT_PRECISION: {
            int p = sembed_precision_from_name(optarg);
            if (p < 0)
                return cli_usage_error("search",
                                       "--precision must be float32, int8, uint8, binary or "
                                       "ubinary, got '%s'",
                                       optarg);
            sp.precision = (sembed_precision)p;
            break;
        }
        case OPT_OVERSAMPLE:
            if (cli_parse_int(optarg, 1, 1000, &oversample))
                return cli_usage_error("search", "--oversample must be 1 to 1000, got '%s'",
                                       optarg);
            break;
        case OPT_NO_RESCORE:
            sp.rescore = 0;
            break;
        case 't':
            if (cli_parse_int(optarg, 1, 256, &threads))
                return cli_usage_error("search", "--threads must be 1 .. 256, got '%s'", optarg);
            break;
        case OPT_JSON:
            json = 1;
            break;
        default:
            return cli_option_error("search", c, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error("search", "unexpected argument '%s'", argv[optind]);
    int text_mode = n_query_args > 0 || queries_text_path;
    if (queries_path && text_mode)
        return cli_usage_error("search", "give query vectors (--queries) or query texts "
                               "(--query/--queries-text), not both");
    if (!queries_path && !text_mode)
        return cli_usage_error("search", "no queries: use --queries FILE, or --model M with "
                               "--query TEXT or --queries-text FILE");
    if (text_mode && !model_name)
        return cli_usage_error("search", "query texts need --model to embed them");
    if (n_query_args && queries_text_path)
        return cli_usage_error("search", "use --query or --queries-text, not both");
    if (sp.precision == SEMBED_PRECISION_FLOAT32 && (oversample > 0 || !sp.rescore))
        return cli_usage_error("search", "--oversample and --no-rescore need --precision");
    if (oversample > 0)
        sp.rescore_multiplier = (int)oversample;
    sp.n_threads = (int)threads;

    int rc = CLI_OK;
    sembed_matrix corpus = {0}, queries = {0};
    cli_texts qtexts = {0}, ctexts = {0};
    float *qvecs = NULL;
    sembed_hit *hits = NULL;
    size_t *n_hits = NULL, nq = 0;
    int qdim = 0;
    char **texts = NULL;

    if ((rc = load_matrix(corpus_path, "corpus", &corpus)))
        goto done;
    if (texts_path) {
        if (read_corpus_texts(texts_path, &ctexts)) {
            rc = CLI_FAIL;
            goto done;
        }
        if (ctexts.n != corpus.rows) {
            cli_error("--texts %s has %zu lines but the corpus has %zu rows", texts_path,
                      ctexts.n, corpus.rows);
            rc = CLI_FAIL;
            goto done;
        }
        texts = ctexts.texts;
    } else if (corpus.texts) {
        texts = corpus.texts;
    }

    if (queries_path) {
        if ((rc = load_matrix(queries_path, "queries", &queries)))
            goto done;
        qvecs = queries.data;
        nq = queries.rows;
        qdim = (int)queries.cols;
    } else {
        const char *const *qt;
        if (queries_text_path) {
            if (cli_read_texts(queries_text_path, CLI_INPUT_TEXT, &qtexts)) {
                rc = CLI_FAIL;
                goto done;
            }
            qt = (const char *const *)qtexts.texts;
            nq = qtexts.n;
        } else {
            qt = query_args;
            nq = n_query_args;
        }
        if ((rc = embed_queries(model_name, (int)threads, qt, nq, &qvecs, &qdim)))
            goto done;
    }
    if ((size_t)qdim != corpus.cols) {
        cli_error("the queries have %d dimensions but the corpus %s has %zu", qdim, corpus_path,
                  corpus.cols);
        rc = CLI_FAIL;
        goto done;
    }

    /* More hits than rows cannot come back: size the buffers for what can. */
    size_t k = (size_t)top_k;
    if (k > corpus.rows)
        k = corpus.rows > 0 ? corpus.rows : 1;
    sp.top_k = (int)k;
    hits = calloc(nq > 0 ? nq * k : 1, sizeof *hits);
    n_hits = calloc(nq ? nq : 1, sizeof *n_hits);
    if (!hits || !n_hits) {
        cli_error("out of memory for %zu x %zu hits", nq, k);
        rc = CLI_FAIL;
        goto done;
    }
    sembed_error err;
    if (sembed_search(qvecs, nq, corpus.data, corpus.rows, qdim, &sp, hits, nq * k, n_hits,
                      &err) != SEMBED_OK) {
        rc = cli_fail(&err);
        goto done;
    }

    if (json) {
        fputc('[', stdout);
        for (size_t q = 0; q < nq; q++) {
            fputs(q ? ", [" : "[", stdout);
            for (size_t i = 0; i < n_hits[q]; i++) {
                const sembed_hit *h = &hits[q * k + i];
                printf("%s{\"corpus_id\": %lld, \"score\": ", i ? ", " : "",
                       (long long)h->corpus_id);
                cli_json_float(stdout, h->score);
                if (texts && texts[h->corpus_id]) {
                    fputs(", \"text\": ", stdout);
                    cli_json_string(stdout, texts[h->corpus_id], strlen(texts[h->corpus_id]));
                }
                fputc('}', stdout);
            }
            fputc(']', stdout);
        }
        fputs("]\n", stdout);
    } else {
        for (size_t q = 0; q < nq; q++) {
            if (q)
                fputc('\n', stdout);
            if (text_mode) {
                fputs("query: ", stdout);
                put_table_text(stdout, queries_text_path ? qtexts.texts[q] : query_args[q]);
                fputc('\n', stdout);
            } else {
                printf("query %zu\n", q);
            }
            printf("  %4s  %9s  %-10s%s\n", "rank", "corpus_id", "score", texts ? "  text" : "");
            for (size_t i = 0; i < n_hits[q]; i++) {
                const sembed_hit *h = &hits[q * k + i];
                printf("  %4zu  %9lld  %-10.6f", i + 1, (long long)h->corpus_id, h->score);
                if (texts && texts[h->corpus_id]) {
                    fputs("  ", stdout);
                    put_table_text(stdout, texts[h->corpus_id]);
                }
                fputc('\n', stdout);
            }
            if (n_hits[q] == 0)
                printf("  (the corpus is empty)\n");
        }
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("error writing standard output");
        rc = CLI_FAIL;
    }

done:
    if (qvecs != queries.data)
        free(qvecs);
    free(hits);
    free(n_hits);
    sembed_matrix_free(&corpus);
    sembed_matrix_free(&queries);
    cli_texts_free(&qtexts);
    cli_texts_free(&ctexts);
    return rc;
}
