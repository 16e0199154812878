/*
 * cmd_tokenize.c - `sembed tokenize`: the token ids the model would see for
 * each input line, as one JSON array per line ([CLS] ... [SEP] included,
 * truncated to the model's max_seq_length). Handy to compare with
 * `tokenizer(text)["input_ids"]` in Python and to debug surprising vectors.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: sembed tokenize --model DIR [options]\n"
            "\n"
            "Prints the token ids of each input text as a JSON array, one line per text,\n"
            "special tokens included and truncated as the model truncates.\n"
            "\n"
            "options:\n"
            "  -m, --model M            model folder (tokenizer.json, or vocab.txt +\n"
            "                           tokenizer_config.json), or Hugging Face repo id\n"
            "  -i, --input FILE         input file, '-' for standard input (default)\n"
            "      --input-format F     text (one text per line, default) or jsonl (one JSON\n"
            "                           string per line, or {\"text\": ...})\n"
            "      --max-length N       tokens per text, special tokens included (default:\n"
            "                           the model's max_seq_length)\n"
            "  -h, --help               this help\n");
}

enum { OPT_INPUT_FORMAT = 1000, OPT_MAX_LENGTH };

int cmd_tokenize(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"input", required_argument, NULL, 'i'},
        {"input-format", required_argument, NULL, OPT_INPUT_FORMAT},
        {"max-length", required_argument, NULL, OPT_MAX_LENGTH},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *model = NULL, *input = "-";
    int format = CLI_INPUT_TEXT;
    long max_length = 0;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "m:i:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            model = optarg;
            break;
        case 'i':
            input = optarg;
            break;
        case OPT_INPUT_FORMAT:
            format = cli_input_format_from_name(optarg);
            if (format != CLI_INPUT_TEXT && format != CLI_INPUT_JSONL)
                return cli_usage_error("tokenize", "--input-format must be text or jsonl, not "
                                       "'%s'", optarg);
            break;
        case OPT_MAX_LENGTH:
            if (cli_parse_int(optarg, 1, INT_MAX, &max_length) != 0)
                return cli_usage_error("tokenize", "--max-length must be a whole number from "
                                       "1 to %d, not '%s'", INT_MAX, optarg);
            break;
        case 'h':
            usage(stdout);
            return CLI_OK;
        default:
            return cli_usage_error("tokenize", "unknown or incomplete option '%s'",
                                   argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("tokenize", "unexpected argument '%s'", argv[optind]);
    if (!model)
        return cli_usage_error("tokenize", "--model is required");

    char dir[4096];
    if (cli_resolve_model(model, dir, sizeof dir) != 0)
        return CLI_FAIL;
    sembed_error err;
    sembed_tokenizer *tok = NULL;
    if (sembed_tokenizer_load(dir, &tok, &err) != SEMBED_OK)
        return cli_fail(&err);

    int rc = CLI_OK;
    int32_t *ids = NULL;
    cli_texts texts;
    memset(&texts, 0, sizeof texts);
    if (cli_read_texts(input, (cli_input_format)format, &texts) != 0) {
        rc = CLI_FAIL;
        goto done;
    }
    sembed_tokenize_params p = sembed_tokenize_default_params();
    p.max_length = (int)max_length;
    size_t cap = 512;
    ids = malloc(cap * sizeof *ids);
    if (!ids) {
        cli_error("out of memory");
        rc = CLI_FAIL;
        goto done;
    }
    for (size_t i = 0; i < texts.n; i++) {
        size_t n = 0, full = 0;
        sembed_status st = sembed_tokenize(tok, texts.texts[i], texts.lens[i], &p, ids, cap, &n,
                                           &full, &err);
        if (st == SEMBED_ERR_LIMIT && full > cap) {
            /* No max length: the buffer grows to the whole sequence. */
            int32_t *bigger = realloc(ids, full * sizeof *ids);
            if (!bigger) {
                cli_error("out of memory for %zu ids", full);
                rc = CLI_FAIL;
                goto done;
            }
            ids = bigger;
            cap = full;
            st = sembed_tokenize(tok, texts.texts[i], texts.lens[i], &p, ids, cap, &n, &full,
                                 &err);
        }
        if (st != SEMBED_OK) {
            cli_error("text %zu: %s", i + 1, err.message);
            rc = CLI_FAIL;
            goto done;
        }
        putchar('[');
        for (size_t k = 0; k < n; k++)
            printf(k ? ",%d" : "%d", ids[k]);
        fputs("]\n", stdout);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("error writing the output");
        rc = CLI_FAIL;
    }
done:
    free(ids);
    cli_texts_free(&texts);
    sembed_tokenizer_free(tok);
    return rc;
}
