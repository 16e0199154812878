/*
 * cmd_faq.c - `sembed faq`: the FAQ engine of the blog post "Getting
 * Started With Embeddings" in one command. It embeds the 13 US Social
 * Security Medicare FAQs of the post, stores them, and answers "How can
 * Medicare help me?" (or --query) with the five closest FAQs and their
 * cosine scores, as util.semantic_search(query, faqs, top_k=5) does there.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "store_cli.h"

#define FAQ_DEFAULT_MODEL "sentence-transformers/all-MiniLM-L6-v2"
#define FAQ_DEFAULT_QUERY "How can Medicare help me?"

/* The FAQs, in the post's order (their corpus_id is the index here). */
static const char *const faqs[] = {
    "How do I get a replacement Medicare card?",
    "What is the monthly premium for Medicare Part B?",
    "How do I terminate my Medicare Part B (medical insurance)?",
    "How do I sign up for Medicare?",
    ("Can I sign up for Medicare Part B if I am working and have health insurance through an "
     "employer?"),
    "How do I sign up for Medicare Part B if I already have Part A?",
    "What are Medicare late enrollment penalties?",
    "What is Medicare and who can get it?",
    "How can I get help with my Medicare Part A and Part B premiums?",
    "What are the different parts of Medicare?",
    "Will my Medicare premiums be higher because of my higher income?",
    "What is TRICARE ?",
    "Should I sign up for Medicare Part B if I have Veterans' Benefits?",
};
#define N_FAQS (sizeof faqs / sizeof faqs[0])

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: sembed faq [--model M] [--query TEXT] [--db STORE] [-k N] [--json]\n"
            "\n"
            "The FAQ engine of 'Getting Started With Embeddings': embeds the 13 Medicare\n"
            "FAQs of the post, stores them and prints the FAQs closest to the query with\n"
            "their cosine scores.\n"
            "\n"
            "options:\n"
            "  -m, --model M      a model folder or Hub repo id (default %s)\n"
            "  -q, --query TEXT   the question (default \"%s\")\n"
            "      --db STORE     keep the FAQs in this store (made on the first run, reused\n"
            "                     after); default: a temporary store, removed at the end\n"
            "  -k, --top-k N      FAQs to show (default 5)\n"
            "  -t, --threads N    threads (default: all CPUs)\n"
            "      --json         semantic_search's JSON plus \"text\"\n"
            "  -h, --help         this help\n"
            "\n"
            "Exit status: 0 success, 1 failure, 2 usage error.\n",
            FAQ_DEFAULT_MODEL, FAQ_DEFAULT_QUERY);
}

enum { OPT_DB = 1000, OPT_JSON };

/* A store that holds exactly the FAQs, in order, can be reused. */
static int store_has_faqs(sembed_store *s, int64_t rows) {
    if (rows != (int64_t)N_FAQS)
        return 0;
    for (size_t i = 0; i < N_FAQS; i++) {
        sembed_store_row row;
        if (sembed_store_get_row(s, (int64_t)i, &row, NULL) != SEMBED_OK)
            return 0;
        int same = row.text && row.text_len == strlen(faqs[i]) && !strcmp(row.text, faqs[i]);
        sembed_store_row_clear(&row);
        if (!same)
            return 0;
    }
    return 1;
}

static void remove_temp_store(const char *dir, const char *db) {
    char p[4200];
    unlink(db);
    snprintf(p, sizeof p, "%s-wal", db);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", db);
    unlink(p);
    snprintf(p, sizeof p, "%s-journal", db);
    unlink(p);
    rmdir(dir);
}

int cmd_faq(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"query", required_argument, NULL, 'q'},
        {"db", required_argument, NULL, OPT_DB},
        {"top-k", required_argument, NULL, 'k'},
        {"threads", required_argument, NULL, 't'},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *model_name = FAQ_DEFAULT_MODEL, *query = FAQ_DEFAULT_QUERY, *db = NULL;
    long top_k = 5, threads = 0;
    int json = 0;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":m:q:k:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            model_name = optarg;
            break;
        case 'q':
            query = optarg;
            break;
        case OPT_DB:
            db = optarg;
            break;
        case 'k':
            if (cli_parse_int(optarg, 1, (long)N_FAQS, &top_k))
                return cli_usage_error("faq", "-k must be 1 to %zu, got '%s'", N_FAQS, optarg);
            break;
        case 't':
            if (cli_parse_int(optarg, 0, 256, &threads))
                return cli_usage_error("faq", "--threads must be 0 to 256, got '%s'", optarg);
            break;
        case OPT_JSON:
            json = 1;
            break;
        case 'h':
            usage(stdout);
            return CLI_OK;
        case ':':
            return cli_usage_error("faq", "%s needs a value", argv[optind - 1]);
        default:
            return cli_usage_error("faq", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("faq", "unexpected argument '%s'", argv[optind]);

    int rc = CLI_FAIL;
    sembed_error err;
    store_cli_model m;
    memset(&m, 0, sizeof m);
    sembed_store *store = NULL;
    float *vec = NULL;
    store_cli_results res;
    memset(&res, 0, sizeof res);
    char tmp_dir[4096] = "", tmp_db[4200] = "";

    /* Resolved here rather than by cli_resolve_model(), so that a missing
     * model gives one line that also says how to get one. */
    char dir[4096];
    sembed_hub_info hub;
    memset(&hub, 0, sizeof hub);
    cli_hub_bar bar;
    cli_hub_bar_init(&bar);
    sembed_hub_params hp = sembed_hub_default_params();
    hp.progress = cli_hub_bar_update;
    hp.progress_user = &bar;
    sembed_status rs = sembed_hub_resolve(model_name, &hp, dir, sizeof dir, &hub, &err);
    cli_hub_bar_finish(&bar);
    if (rs != SEMBED_OK) {
        cli_error("no model for the FAQ demo (%s): get one with 'sembed pull %s', or pass "
                  "--model DIR (a sentence-transformers model folder)",
                  err.message, FAQ_DEFAULT_MODEL);
        goto done;
    }
    if (store_cli_model_load_dir(dir, &hub, (int)threads, &m))
        goto done;
    if (!db) {
        const char *base = getenv("TMPDIR");
        snprintf(tmp_dir, sizeof tmp_dir, "%s/sembed-faq-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmp_dir)) {
            cli_error("cannot create a temporary folder in %s: %s", base && *base ? base : "/tmp",
                      strerror(errno));
            tmp_dir[0] = 0;
            goto done;
        }
        snprintf(tmp_db, sizeof tmp_db, "%s/faq.db", tmp_dir);
        db = tmp_db;
    }
    if (sembed_store_open(db, SEMBED_STORE_READWRITE | SEMBED_STORE_CREATE, &store, &err) !=
        SEMBED_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    if (sembed_store_set_model(store, &m.id, &err) != SEMBED_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    int64_t rows = sembed_store_count(store, &err);
    if (rows < 0) {
        rc = cli_fail(&err);
        goto done;
    }
    vec = malloc(N_FAQS * (size_t)m.dim * sizeof *vec);
    if (!vec) {
        cli_error("out of memory");
        goto done;
    }
    if (rows == 0) {
        if (store_cli_embed(&m, faqs, NULL, N_FAQS, N_FAQS, vec, NULL))
            goto done;
        if (sembed_store_add(store, N_FAQS, faqs, NULL, NULL, NULL, vec, m.dim, NULL, &err) !=
            SEMBED_OK) {
            rc = cli_fail(&err);
            goto done;
        }
    } else if (!store_has_faqs(store, rows)) {
        cli_error("%s holds %lld rows that are not the %zu FAQs; give another --db", db,
                  (long long)rows, N_FAQS);
        goto done;
    }
    const char *queries[1] = {query};
    if (store_cli_embed(&m, queries, NULL, 1, 1, vec, NULL))
        goto done;
    sembed_store_search_params sp = sembed_store_search_default_params();
    sp.top_k = (int)top_k;
    sp.n_threads = (int)threads;
    if (store_cli_search(store, vec, 1, m.dim, &sp, &res))
        goto done;
    if (json) {
        store_cli_print_json(stdout, &res);
    } else {
        printf("%zu FAQs embedded with %s (dim %d)%s%s\n\n", N_FAQS, m.id.name, m.dim,
               tmp_db[0] ? "" : ", stored in ", tmp_db[0] ? "" : db);
        store_cli_print_table(stdout, &res, queries);
    }
    rc = fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
done:
    store_cli_results_free(&res);
    free(vec);
    sembed_store_close(store);
    store_cli_model_free(&m);
    if (tmp_dir[0])
        remove_temp_store(tmp_dir, tmp_db);
    return rc;
}
