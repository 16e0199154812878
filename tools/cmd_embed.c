/*
 * cmd_embed.c - `sembed embed`: texts (or token ids) in, vectors out as
 * .npy, pandas-style CSV or JSON Lines.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: sembed embed --model DIR|REPO [--input FILE|-] [--output FILE|-] [options]\n"
            "\n"
            "Embeds one text per input line, exactly as sentence-transformers'\n"
            "SentenceTransformer(model).encode(texts) does.\n"
            "\n"
            "options:\n"
            "  -m, --model M            model folder, or Hugging Face repo id [@revision]\n"
            "  -i, --input FILE         input file, '-' for standard input (default)\n"
            "      --input-format F     text (one text per line, default), jsonl (one JSON\n"
            "                           string per line, or {\"text\": ...}), or ids (one JSON\n"
            "                           array of token ids per line, special tokens included)\n"
            "  -o, --output FILE        output file, '-' for standard output (default)\n"
            "      --output-format F    npy (float32, shape (n, dim)), csv (as\n"
            "                           pandas.DataFrame(emb).to_csv(index=False)) or jsonl;\n"
            "                           default: from the output file's extension, else npy\n"
            "                           for files and jsonl for standard output\n"
            "  -b, --batch-size N       texts per call into the engine (default 64; results\n"
            "                           do not depend on it)\n"
            "  -t, --threads N          worker threads (default: all CPUs)\n"
            "      --max-batch-tokens N tokens per forward pass (default 4096)\n"
            "      --no-normalize       skip the model's Normalize module\n"
            "      --normalize          L2-normalize the output (after --dimensions)\n"
            "      --dimensions N       keep the first N values (truncate_dim)\n"
            "      --prompt TEXT        prepend TEXT to every input text\n"
            "      --no-truncate        fail on texts longer than the model's max_seq_length\n"
            "                           instead of cutting them\n"
            "      --max-seq-length N   override the model's max_seq_length\n"
            "      --dtype T            fp32 (default, exact)\n"
            "      --kernel K           auto (default), reference, scalar, avx2, avx512\n"
            "  -h, --help               this help\n");
}

enum { OPT_INPUT_FORMAT = 1000, OPT_OUTPUT_FORMAT, OPT_MAX_BATCH_TOKENS, OPT_NO_NORMALIZE,
       OPT_NORMALIZE, OPT_DIMENSIONS, OPT_PROMPT, OPT_NO_TRUNCATE, OPT_MAX_SEQ, OPT_DTYPE,
       OPT_KERNEL };

/* Writes the matrix to path, or through a temporary file to stdout. */
static int write_output(const char *path, sembed_file_format fmt, const sembed_matrix *mat) {
    sembed_error err;
    sembed_matrix_write_params wp = sembed_matrix_write_default_params();
    wp.format = fmt;
    if (path && strcmp(path, "-") != 0) {
        if (sembed_matrix_write(path, mat, &wp, &err) != SEMBED_OK)
            return cli_fail(&err);
        return CLI_OK;
    }
    const char *tmpdir = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/sembed-embed-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    int fd = mkstemp(tmpl);
    if (fd < 0) {
        cli_error("cannot create a temporary file: %s", strerror(errno));
        return CLI_FAIL;
    }
    close(fd);
    int rc = CLI_OK;
    if (sembed_matrix_write(tmpl, mat, &wp, &err) != SEMBED_OK) {
        rc = cli_fail(&err);
    } else {
        FILE *fp = fopen(tmpl, "rb");
        char buf[1 << 16];
        size_t got;
        while (fp && (got = fread(buf, 1, sizeof buf, fp)) > 0)
            if (fwrite(buf, 1, got, stdout) != got)
                break;
        if (!fp || ferror(fp) || fflush(stdout) != 0 || ferror(stdout)) {
            cli_error("error writing standard output");
            rc = CLI_FAIL;
        }
        if (fp)
            fclose(fp);
    }
    unlink(tmpl);
    return rc;
}

int cmd_embed(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"input", required_argument, NULL, 'i'},
        {"input-format", required_argument, NULL, OPT_INPUT_FORMAT},
        {"output", required_argument, NULL, 'o'},
        {"output-format", required_argument, NULL, OPT_OUTPUT_FORMAT},
        {"batch-size", required_argument, NULL, 'b'},
        {"threads", required_argument, NULL, 't'},
        {"max-batch-tokens", required_argument, NULL, OPT_MAX_BATCH_TOKENS},
        {"no-normalize", no_argument, NULL, OPT_NO_NORMALIZE},
        {"normalize", no_argument, NULL, OPT_NORMALIZE},
        {"dimensions", required_argument, NULL, OPT_DIMENSIONS},
        {"prompt", required_argument, NULL, OPT_PROMPT},
        {"no-truncate", no_argument, NULL, OPT_NO_TRUNCATE},
        {"max-seq-length", required_argument, NULL, OPT_MAX_SEQ},
        {"dtype", required_argument, NULL, OPT_DTYPE},
        {"kernel", required_argument, NULL, OPT_KERNEL},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *model_name = NULL, *input = "-", *output = "-";
    int in_fmt = CLI_INPUT_TEXT;
    sembed_file_format out_fmt = SEMBED_FORMAT_AUTO;
    long batch = 64, threads = 0, max_tokens = 0, dimensions = 0, max_seq = 0;
    sembed_embed_params ep = sembed_embed_default_params();
    sembed_model_params mp = sembed_model_default_params();
    int c;
    optind = 1;
    opterr = 0; /* one message of our own, naming the option */
    while ((c = getopt_long(argc, argv, ":m:i:o:b:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_name = optarg; break;
        case 'i': input = optarg; break;
        case 'o': output = optarg; break;
        case OPT_INPUT_FORMAT:
            if ((in_fmt = cli_input_format_from_name(optarg)) < 0)
                return cli_usage_error("embed", "unknown --input-format '%s'", optarg);
            break;
        case OPT_OUTPUT_FORMAT:
            if (!strcmp(optarg, "npy"))
                out_fmt = SEMBED_FORMAT_NPY;
            else if (!strcmp(optarg, "csv"))
                out_fmt = SEMBED_FORMAT_CSV;
            else if (!strcmp(optarg, "jsonl"))
                out_fmt = SEMBED_FORMAT_JSONL;
            else
                return cli_usage_error("embed", "unknown --output-format '%s'", optarg);
            break;
        case 'b':
            if (cli_parse_int(optarg, 1, 1 << 20, &batch))
                return cli_usage_error("embed", "--batch-size must be 1 to %d", 1 << 20);
            break;
        case 't':
            if (cli_parse_int(optarg, 1, 1024, &threads))
                return cli_usage_error("embed", "--threads must be 1 to 1024");
            break;
        case OPT_MAX_BATCH_TOKENS:
            if (cli_parse_int(optarg, 1, 1 << 20, &max_tokens))
                return cli_usage_error("embed", "--max-batch-tokens must be 1 to %d", 1 << 20);
            break;
        case OPT_NO_NORMALIZE: ep.normalize = 0; break;
        case OPT_NORMALIZE: ep.normalize = 1; break;
        case OPT_DIMENSIONS:
            if (cli_parse_int(optarg, 1, 1 << 20, &dimensions))
                return cli_usage_error("embed", "--dimensions must be a positive integer");
            ep.dimensions = (int)dimensions;
            break;
        case OPT_PROMPT: ep.prompt = optarg; break;
        case OPT_NO_TRUNCATE: ep.truncate = 0; break;
        case OPT_MAX_SEQ:
            if (cli_parse_int(optarg, 2, 1 << 20, &max_seq))
                return cli_usage_error("embed", "--max-seq-length must be 2 or more");
            mp.max_seq_length = (int)max_seq;
            break;
        case OPT_DTYPE:
            if (cli_parse_dtype(optarg, &mp.dtype))
                return cli_usage_error("embed", "unknown --dtype '%s'", optarg);
            break;
        case OPT_KERNEL:
            if (cli_parse_kernel(optarg, &mp.kernel))
                return cli_usage_error("embed", "unknown --kernel '%s'", optarg);
            break;
        case 'h': usage(stdout); return CLI_OK;
        default: return cli_option_error("embed", c, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error("embed", "unexpected argument '%s'", argv[optind]);
    if (!model_name)
        return cli_usage_error("embed", "--model is required");
    if (out_fmt == SEMBED_FORMAT_AUTO) {
        out_fmt = strcmp(output, "-") ? sembed_file_format_from_path(output) : SEMBED_FORMAT_JSONL;
        if (out_fmt == SEMBED_FORMAT_AUTO)
            out_fmt = SEMBED_FORMAT_NPY;
    }

    cli_texts in;
    if (cli_read_texts(input, (cli_input_format)in_fmt, &in))
        return CLI_FAIL;
    sembed_model *model = NULL;
    sembed_context *ctx = NULL;
    float *vecs = NULL;
    int rc = CLI_FAIL;
    sembed_error err;
    if (cli_load_model(model_name, &mp, &model))
        goto done;
    sembed_context_params cp = sembed_context_default_params();
    cp.n_threads = (int)threads;
    if (max_tokens)
        cp.max_batch_tokens = (int)max_tokens;
    if (sembed_context_init(model, &cp, &ctx, &err) != SEMBED_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    int dim = ep.dimensions ? ep.dimensions : sembed_model_dim(model);
    if (ep.dimensions > sembed_model_dim(model)) {
        cli_error("--dimensions %d is larger than the model's %d", ep.dimensions,
                  sembed_model_dim(model));
        goto done;
    }
    vecs = malloc(in.n * (size_t)dim * sizeof *vecs);
    if (!vecs) {
        cli_error("out of memory for %zu vectors", in.n);
        goto done;
    }
    cli_progress bar;
    cli_progress_start(&bar, "embed", in.n);
    for (size_t i = 0; i < in.n; i += (size_t)batch) {
        size_t n = in.n - i < (size_t)batch ? in.n - i : (size_t)batch;
        sembed_status st;
        float *o = vecs + i * (size_t)dim;
        if (in_fmt == CLI_INPUT_IDS)
            st = sembed_embed_ids(ctx, (const int32_t *const *)in.tok_ids + i, in.n_tok_ids + i, n,
                                  &ep, o, n * (size_t)dim, &err);
        else
            st = sembed_embed(ctx, (const char *const *)in.texts + i, in.lens + i, n, &ep, o,
                              n * (size_t)dim, &err);
        if (st != SEMBED_OK) {
            cli_progress_finish(&bar);
            if (in_fmt != CLI_INPUT_IDS && n > 1)
                cli_error("while embedding lines %zu-%zu:", i + 1, i + n);
            rc = cli_fail(&err);
            goto done;
        }
        cli_progress_update(&bar, i + n);
    }
    cli_progress_finish(&bar);
    sembed_matrix mat = {.rows = in.n, .cols = (size_t)dim, .data = vecs};
    rc = write_output(output, out_fmt, &mat);
done:
    free(vecs);
    sembed_context_free(ctx);
    sembed_model_free(model);
    cli_texts_free(&in);
    return rc;
}
