/*
 * cmd_index.c - `sembed index`: build and inspect a store.
 *
 *   sembed index add --db faq.db --model M --input faqs.txt
 *   sembed index add --db faq.db --vectors emb.npy [--input faqs.txt]
 *   sembed index info --db faq.db [--json] [--check]
 *   sembed index build-hnsw --db faq.db [--M 16] [--ef-construction 200]
 *
 * An add is one transaction: it lands whole or not at all, even when the
 * process is killed halfway. Texts are embedded in batches inside that
 * transaction, so memory stays bounded by the batch.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli.h"
#include "store_cli.h"

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: sembed index add --db STORE (--input FILE | --vectors FILE) [options]\n"
            "       sembed index info --db STORE [--json] [--check]\n"
            "       sembed index build-hnsw --db STORE [--M N] [--ef-construction N]\n"
            "\n"
            "A store is one SQLite file with texts, ids, metadata, vectors and the identity\n"
            "of the model that made them; 'sembed search --db STORE' searches it. Without\n"
            "--db the store is $SEMBED_DB, else sembed.db in the working directory.\n"
            "\n"
            "add: embeds the texts of --input and adds them (one transaction).\n"
            "  -m, --model M            a model folder or Hub repo id (default: the model\n"
            "                           the store records); it must be the store's model\n"
            "  -i, --input FILE         texts: one per line, or JSON Lines with \"text\" and\n"
            "                           optional \"id\" and \"metadata\" (\"-\" = stdin)\n"
            "      --input-format F     text or jsonl (default: jsonl for .jsonl/.ndjson)\n"
            "      --vectors FILE       add these vectors (.npy, .csv or .jsonl) instead of\n"
            "                           embedding; texts come from --input (same row count)\n"
            "                           or the file's own text column, and are optional\n"
            "  -b, --batch-size N       texts per call into the engine (default %d)\n"
            "      --hnsw               also build (or extend) the HNSW index\n"
            "  -t, --threads N          threads (default: all CPUs)\n"
            "\n"
            "info: rows, dim, schema, model identity and index files.\n"
            "      --json               as one JSON object\n"
            "      --check              also check every row and the HNSW file\n"
            "\n"
            "build-hnsw: builds the HNSW index STORE.hnsw for '--mode hnsw' searches, or\n"
            "extends it with the rows added since.\n"
            "      --M N                links per node (default 16, 2..%d)\n"
            "      --ef-construction N  candidates while building (default 200)\n"
            "      --score S            cos (default) or dot\n"
            "      --rebuild            build from scratch\n"
            "  -t, --threads N          threads (default: all CPUs)\n"
            "\n"
            "Exit status: 0 success, 1 failure, 2 usage error.\n",
            STORE_CLI_DEFAULT_BATCH, SEMBED_HNSW_MAX_M);
}

enum { OPT_DB = 1000, OPT_INPUT_FORMAT, OPT_VECTORS, OPT_HNSW, OPT_JSON, OPT_CHECK, OPT_M,
       OPT_EFC, OPT_SCORE, OPT_REBUILD };

typedef struct index_opts {
    const char *db, *model, *input, *vectors;
    int input_format;        /* -1: from the name */
    long batch, threads, M, efc;
    int hnsw, json, check, rebuild;
    sembed_score score;
    int hnsw_params_set;     /* --M, --ef-construction or --score given */
} index_opts;

static int parse_opts(const char *sub, int argc, char **argv, index_opts *o) {
    static const struct option opts[] = {
        {"db", required_argument, NULL, OPT_DB},
        {"model", required_argument, NULL, 'm'},
        {"input", required_argument, NULL, 'i'},
        {"input-format", required_argument, NULL, OPT_INPUT_FORMAT},
        {"vectors", required_argument, NULL, OPT_VECTORS},
        {"batch-size", required_argument, NULL, 'b'},
        {"hnsw", no_argument, NULL, OPT_HNSW},
        {"threads", required_argument, NULL, 't'},
        {"json", no_argument, NULL, OPT_JSON},
        {"check", no_argument, NULL, OPT_CHECK},
        {"M", required_argument, NULL, OPT_M},
        {"ef-construction", required_argument, NULL, OPT_EFC},
        {"score", required_argument, NULL, OPT_SCORE},
        {"rebuild", no_argument, NULL, OPT_REBUILD},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->input_format = -1;
    o->batch = STORE_CLI_DEFAULT_BATCH;
    o->M = 16;
    o->efc = 200;
    o->score = SEMBED_SCORE_COSINE;
    char cmd[32];
    snprintf(cmd, sizeof cmd, "index %s", sub);
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":m:i:b:t:h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_DB:
            o->db = optarg;
            break;
        case 'm':
            o->model = optarg;
            break;
        case 'i':
            o->input = optarg;
            break;
        case OPT_INPUT_FORMAT:
            o->input_format = cli_input_format_from_name(optarg);
            if (o->input_format != CLI_INPUT_TEXT && o->input_format != CLI_INPUT_JSONL)
                return cli_usage_error(cmd, "--input-format must be text or jsonl, got '%s'",
                                       optarg);
            break;
        case OPT_VECTORS:
            o->vectors = optarg;
            break;
        case 'b':
            if (cli_parse_int(optarg, 1, 1 << 20, &o->batch))
                return cli_usage_error(cmd, "--batch-size must be 1 to %d, got '%s'", 1 << 20,
                                       optarg);
            break;
        case OPT_HNSW:
            o->hnsw = 1;
            break;
        case 't':
            if (cli_parse_int(optarg, 0, 256, &o->threads))
                return cli_usage_error(cmd, "--threads must be 0 to 256, got '%s'", optarg);
            break;
        case OPT_JSON:
            o->json = 1;
            break;
        case OPT_CHECK:
            o->check = 1;
            break;
        case OPT_M:
            if (cli_parse_int(optarg, 2, SEMBED_HNSW_MAX_M, &o->M))
                return cli_usage_error(cmd, "--M must be 2 to %d, got '%s'", SEMBED_HNSW_MAX_M,
                                       optarg);
            o->hnsw_params_set = 1;
            break;
        case OPT_EFC:
            if (cli_parse_int(optarg, 1, SEMBED_HNSW_MAX_EF, &o->efc))
                return cli_usage_error(cmd, "--ef-construction must be 1 to %d, got '%s'",
                                       SEMBED_HNSW_MAX_EF, optarg);
            o->hnsw_params_set = 1;
            break;
        case OPT_SCORE:
            if (cli_parse_score(optarg, &o->score))
                return cli_usage_error(cmd, "--score must be cos or dot, got '%s'", optarg);
            o->hnsw_params_set = 1;
            break;
        case 'h':
            usage(stdout);
            return -1;
        case ':':
            return cli_usage_error(cmd, "%s needs a value", argv[optind - 1]);
        default:
            return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!o->db)
        o->db = store_cli_default_db();
    return 0;
}

/* ==== add ==================================================================== */

static int has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcasecmp(s + n - m, suffix);
}

static int index_add(const index_opts *o) {
    if (!o->input && !o->vectors)
        return cli_usage_error("index add", "--input FILE or --vectors FILE is required");
    int rc = CLI_FAIL;
    sembed_error err;
    cli_texts in;
    memset(&in, 0, sizeof in);
    sembed_matrix mat;
    memset(&mat, 0, sizeof mat);
    sembed_store *store = NULL;
    store_cli_model m;
    memset(&m, 0, sizeof m);
    float *buf = NULL;
    cli_progress progress;
    memset(&progress, 0, sizeof progress);

    /* Inputs first, so that a bad file fails before the store is touched. */
    if (o->input) {
        int fmt = o->input_format;
        if (fmt < 0)
            fmt = has_suffix(o->input, ".jsonl") || has_suffix(o->input, ".ndjson")
                      ? CLI_INPUT_JSONL
                      : CLI_INPUT_TEXT;
        if (cli_read_texts(o->input, (cli_input_format)fmt, &in))
            goto done;
    }
    if (o->vectors) {
        if (sembed_matrix_read(o->vectors, NULL, &mat, &err) != SEMBED_OK) {
            rc = cli_fail(&err);
            goto done;
        }
        if (mat.rows == 0) {
            cli_error("%s: no vectors", o->vectors);
            goto done;
        }
        if (o->input && mat.rows != in.n) {
            cli_error("%s has %zu vectors but %s has %zu texts", o->vectors, mat.rows, o->input,
                      in.n);
            goto done;
        }
        if (mat.cols > SEMBED_STORE_MAX_DIM) {
            cli_error("%s: vectors of %zu values are longer than %d", o->vectors, mat.cols,
                      SEMBED_STORE_MAX_DIM);
            goto done;
        }
    }

    if (sembed_store_open(o->db, SEMBED_STORE_READWRITE | SEMBED_STORE_CREATE, &store, &err) !=
        SEMBED_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    sembed_store_info info;
    if (sembed_store_get_info(store, &info, &err) != SEMBED_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    /* The model: --model, else (texts to embed) the one the store records. */
    const char *model_name = o->model;
    if (!model_name && !o->vectors) {
        if (!info.has_model) {
            cli_usage_error("index add", "--model M is required (the store records no model yet)");
            rc = CLI_USAGE;
            goto done;
        }
        model_name = info.model.name;
    }
    if (model_name) {
        if ((rc = store_cli_model_load(model_name, (int)o->threads, &m)) != 0)
            goto done;
        rc = CLI_FAIL;
        if (o->vectors && (size_t)m.dim != mat.cols) {
            cli_error("%s holds vectors of %zu values; model %s embeds %d", o->vectors, mat.cols,
                      m.id.name, m.dim);
            goto done;
        }
        if (sembed_store_set_model(store, &m.id, &err) != SEMBED_OK) {
            rc = cli_fail(&err);
            goto done;
        }
    }

    size_t n = o->vectors ? mat.rows : in.n;
    int dim = o->vectors ? (int)mat.cols : m.dim;
    /* Precomputed vectors go in one call, so that error messages give the
     * file's own row numbers; texts go in batches through the model. */
    size_t batch = o->vectors ? n : (size_t)o->batch;
    const char *const *texts = NULL;
    const size_t *lens = NULL;
    if (o->input) {
        texts = (const char *const *)in.texts;
        lens = in.lens;
    } else if (mat.texts) {
        texts = (const char *const *)mat.texts;
    }
    const char *const *ids = o->input ? (const char *const *)in.ids
                                      : (const char *const *)mat.ids;
    const char *const *meta = o->input ? (const char *const *)in.metadata : NULL;
    if (!o->vectors) {
        buf = malloc(batch * (size_t)dim * sizeof *buf);
        if (!buf) {
            cli_error("out of memory for a batch of %zu vectors", batch);
            goto done;
        }
    }
    if (sembed_store_begin(store, &err) != SEMBED_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    cli_progress_start(&progress, o->vectors ? "adding" : "embedding", n);
    int64_t first = -1;
    for (size_t i = 0; i < n; i += batch) {
        size_t k = n - i < batch ? n - i : batch;
        const float *vec;
        if (o->vectors) {
            vec = mat.data + i * mat.cols;
        } else {
            if (store_cli_embed(&m, texts + i, lens ? lens + i : NULL, k, k, buf, NULL))
                goto rollback;
            vec = buf;
        }
        int64_t row;
        if (sembed_store_add(store, k, texts ? texts + i : NULL, lens ? lens + i : NULL,
                             ids ? ids + i : NULL, meta ? meta + i : NULL, vec, dim, &row,
                             &err) != SEMBED_OK) {
            cli_progress_finish(&progress);
            /* The library numbers rows from 0 within the batch. */
            if (n > k)
                cli_error("input texts %zu..%zu: %s", i + 1, i + k, err.message);
            else
                cli_fail(&err);
            goto rollback;
        }
        if (first < 0)
            first = row;
        cli_progress_update(&progress, i + k);
    }
    cli_progress_finish(&progress);
    if (sembed_store_commit(store, &err) != SEMBED_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    int64_t rows = sembed_store_count(store, &err);
    printf("added %zu rows to %s (rows %lld..%lld; %lld in all, dim %d)\n", n, o->db,
           (long long)first, (long long)first + (long long)n - 1, (long long)rows, dim);

    /* An HNSW index, when asked for or already there, follows the rows. */
    if (o->hnsw || info.has_hnsw) {
        double t0 = cli_now();
        sembed_hnsw_params hp = sembed_hnsw_default_params();
        hp.n_threads = (int)o->threads;
        if (sembed_store_build_hnsw(store, info.has_hnsw ? NULL : &hp, 0, &err) != SEMBED_OK) {
            cli_error("the rows were added, but the HNSW index was not updated: %s",
                      err.message);
            goto done;
        }
        printf("HNSW index %s: %lld rows (%.1f s)\n", info.hnsw_path, (long long)rows,
               cli_now() - t0);
    }
    rc = CLI_OK;
    goto done;
rollback:
    /* Nothing of this add stays (the message above said why). */
    sembed_store_rollback(store);
done:
    free(buf);
    store_cli_model_free(&m);
    sembed_store_close(store);
    sembed_matrix_free(&mat);
    cli_texts_free(&in);
    return rc;
}

/* ==== info =================================================================== */

static long long file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

static void json_str(const char *s) {
    cli_json_string(stdout, s, strlen(s));
}

static int index_info(const index_opts *o) {
    sembed_store *store = NULL;
    sembed_error err;
    if (sembed_store_open(o->db, SEMBED_STORE_READONLY, &store, &err) != SEMBED_OK)
        return cli_fail(&err);
    int rc = CLI_FAIL;
    sembed_store_info info;
    if (sembed_store_get_info(store, &info, &err) != SEMBED_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    const char *check = NULL;
    if (o->check) {
        if (sembed_store_verify(store, &err) != SEMBED_OK) {
            rc = cli_fail(&err);
            goto done;
        }
        check = "ok";
        if (info.has_hnsw && info.rows > 0) {
            /* Loading the index checks its checksum, layout and labels. */
            sembed_store_search_params sp = sembed_store_search_default_params();
            sp.mode = SEMBED_STORE_HNSW;
            sp.top_k = 1;
            sp.score = info.hnsw_score;
            float *q = calloc((size_t)info.dim, sizeof *q);
            sembed_hit hit;
            size_t nh;
            if (!q) {
                cli_error("out of memory");
                goto done;
            }
            q[0] = 1;
            sembed_status st = sembed_store_search(store, q, 1, info.dim, &sp, &hit, 1, &nh, &err);
            free(q);
            if (st != SEMBED_OK && st != SEMBED_ERR_MISMATCH) {
                rc = cli_fail(&err);
                goto done;
            }
        }
    }
    char wal[4200];
    snprintf(wal, sizeof wal, "%s-wal", info.path);
    int stale = info.has_hnsw && info.hnsw_rows < info.rows;
    if (o->json) {
        printf("{\"path\": ");
        json_str(info.path);
        printf(", \"schema_version\": %d, \"rows\": %lld, \"dim\": %d, \"model\": ",
               info.schema_version, (long long)info.rows, info.dim);
        if (info.has_model) {
            printf("{\"name\": ");
            json_str(info.model.name);
            printf(", \"revision\": ");
            json_str(info.model.revision);
            printf(", \"weights_sha256\": ");
            json_str(info.model.weights_sha256);
            printf(", \"dim\": %d, \"pooling\": ", info.model.dim);
            json_str(info.model.pooling);
            printf(", \"normalize\": %s, \"max_seq_length\": %d}",
                   info.model.normalize > 0 ? "true" : "false", info.model.max_seq_length);
        } else {
            printf("null");
        }
        printf(", \"hnsw\": ");
        if (info.has_hnsw) {
            printf("{\"path\": ");
            json_str(info.hnsw_path);
            printf(", \"rows\": %lld, \"M\": %d, \"ef_construction\": %d, \"score\": \"%s\", "
                   "\"stale\": %s, \"bytes\": %lld}",
                   (long long)info.hnsw_rows, info.hnsw_M, info.hnsw_ef_construction,
                   info.hnsw_score == SEMBED_SCORE_DOT ? "dot" : "cos", stale ? "true" : "false",
                   file_size(info.hnsw_path));
        } else {
            printf("null");
        }
        printf(", \"bytes\": %lld, \"wal_bytes\": %lld", file_size(info.path), file_size(wal));
        if (check)
            printf(", \"check\": \"%s\"", check);
        printf("}\n");
    } else {
        printf("store:    %s (%lld bytes", info.path, file_size(info.path));
        if (file_size(wal) > 0)
            printf(", WAL %lld bytes", file_size(wal));
        printf(")\nschema:   %d\nrows:     %lld\ndim:      %d\n", info.schema_version,
               (long long)info.rows, info.dim);
        if (info.has_model) {
            printf("model:    %s\n", info.model.name);
            if (info.model.revision[0])
                printf("revision: %s\n", info.model.revision);
            printf("weights:  sha256 %s\n", info.model.weights_sha256[0]
                                                ? info.model.weights_sha256 : "(unknown)");
            printf("pooling:  %s, normalize %s, max_seq_length %d\n", info.model.pooling,
                   info.model.normalize > 0 ? "yes" : "no", info.model.max_seq_length);
        } else {
            printf("model:    (none recorded)\n");
        }
        if (info.has_hnsw) {
            printf("hnsw:     %s (%lld bytes): %lld rows, M %d, ef_construction %d, %s",
                   info.hnsw_path, file_size(info.hnsw_path), (long long)info.hnsw_rows,
                   info.hnsw_M, info.hnsw_ef_construction,
                   info.hnsw_score == SEMBED_SCORE_DOT ? "dot" : "cos");
            if (stale)
                printf(" (stale: run 'sembed index build-hnsw')");
            printf("\n");
        } else {
            printf("hnsw:     (none; 'sembed index build-hnsw' makes one)\n");
        }
        if (check)
            printf("check:    %s\n", check);
    }
    rc = CLI_OK;
done:
    sembed_store_close(store);
    return rc;
}

/* ==== build-hnsw ============================================================== */

static int index_build_hnsw(const index_opts *o) {
    sembed_store *store = NULL;
    sembed_error err;
    if (sembed_store_open(o->db, SEMBED_STORE_READWRITE, &store, &err) != SEMBED_OK)
        return cli_fail(&err);
    sembed_hnsw_params hp = sembed_hnsw_default_params();
    hp.M = (int)o->M;
    hp.ef_construction = (int)o->efc;
    hp.score = o->score;
    hp.n_threads = (int)o->threads;
    /* Without parameters an existing index is extended with its own. */
    double t0 = cli_now();
    int rc = CLI_OK;
    if (sembed_store_build_hnsw(store, o->hnsw_params_set || o->rebuild ? &hp : NULL, o->rebuild,
                                &err) != SEMBED_OK) {
        rc = cli_fail(&err);
    } else {
        sembed_store_info info;
        if (sembed_store_get_info(store, &info, &err) != SEMBED_OK) {
            rc = cli_fail(&err);
        } else {
            printf("HNSW index %s: %lld rows, M %d, ef_construction %d (%.1f s)\n",
                   info.hnsw_path, (long long)info.hnsw_rows, info.hnsw_M,
                   info.hnsw_ef_construction, cli_now() - t0);
        }
    }
    sembed_store_close(store);
    return rc;
}

int cmd_index(int argc, char **argv) {
    if (argc < 2)
        return cli_usage_error("index", "a subcommand is required: add, info or build-hnsw");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return CLI_OK;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "add") && strcmp(sub, "info") && strcmp(sub, "build-hnsw"))
        return cli_usage_error("index", "unknown subcommand '%s' (add, info or build-hnsw)", sub);
    index_opts o;
    int rc = parse_opts(sub, argc - 1, argv + 1, &o);
    if (rc < 0)
        return CLI_OK; /* --help */
    if (rc)
        return rc;
    if (!strcmp(sub, "add"))
        return index_add(&o);
    if (o.input || o.vectors || o.model)
        return cli_usage_error(sub[0] == 'i' ? "index info" : "index build-hnsw",
                               "--input, --vectors and --model belong to 'index add'");
    if (!strcmp(sub, "info"))
        return index_info(&o);
    return index_build_hnsw(&o);
}
