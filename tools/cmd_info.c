/*
 * cmd_info.c - `sembed info`: what a model folder holds and which kernels
 * this CPU runs.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: sembed info [--model DIR|REPO] [--json]\n"
            "\n"
            "Prints the model's shape, pooling and limits, and the kernel set this\n"
            "CPU uses. Without --model, prints only the version and the CPU part.\n"
            "\n"
            "options:\n"
            "  -m, --model M   model folder or Hugging Face repo id\n"
            "      --json      one JSON object\n"
            "  -h, --help      this help\n");
}

int cmd_info(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *model_name = NULL;
    int json = 0, c;
    optind = 1;
    opterr = 0; /* one message of our own, naming the option */
    while ((c = getopt_long(argc, argv, ":m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_name = optarg; break;
        case 'j': json = 1; break;
        case 'h': usage(stdout); return CLI_OK;
        default: return cli_option_error("info", c, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error("info", "unexpected argument '%s'", argv[optind]);
    __builtin_cpu_init();
    const char *best = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
                           ? "avx512"
                           : (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
                                  ? "avx2"
                                  : "scalar");
    int bf16 = __builtin_cpu_supports("avx512bf16"), vnni = __builtin_cpu_supports("avx512vnni");
    if (!model_name) {
        if (json)
            printf("{\"version\": \"%s\", \"kernel\": \"%s\", \"avx512_bf16\": %s, "
                   "\"avx512_vnni\": %s}\n",
                   sembed_version(), best, bf16 ? "true" : "false", vnni ? "true" : "false");
        else
            printf("sembed %s\nkernels: %s (AVX512_BF16 %s, AVX512_VNNI %s)\n", sembed_version(),
                   best, bf16 ? "yes" : "no", vnni ? "yes" : "no");
        return CLI_OK;
    }
    sembed_model *model = NULL;
    if (cli_load_model(model_name, NULL, &model))
        return CLI_FAIL;
    sembed_model_info in;
    sembed_model_get_info(model, &in);
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:s, s:b, s:i, "
                              "s:s, s:s}",
                              "version", sembed_version(), "path", in.path, "dim", in.dim,
                              "hidden_size", in.hidden_size, "layers", in.n_layers, "heads",
                              in.n_heads, "intermediate_size", in.intermediate_size,
                              "vocab_size", in.vocab_size, "max_position_embeddings",
                              in.max_position_embeddings, "max_seq_length", in.max_seq_length,
                              "pooling", in.pooling_name, "normalize", in.normalize,
                              "dense_modules", in.n_dense, "hidden_act", in.hidden_act, "kernel",
                              in.kernel);
        char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (text)
            printf("%s\n", text);
        free(text);
        json_decref(o);
    } else {
        printf("model:            %s\n", in.path);
        printf("embedding dim:    %d\n", in.dim);
        printf("encoder:          BERT, %d layers, hidden %d, %d heads, FFN %d, %s\n",
               in.n_layers, in.hidden_size, in.n_heads, in.intermediate_size, in.hidden_act);
        printf("vocabulary:       %d tokens\n", in.vocab_size);
        printf("max_seq_length:   %d tokens (positions: %d)\n", in.max_seq_length,
               in.max_position_embeddings);
        printf("pooling:          %s%s%s\n", in.pooling_name,
               in.n_dense ? ", Dense" : "", in.normalize ? ", Normalize" : "");
        printf("kernels:          %s (AVX512_BF16 %s, AVX512_VNNI %s)\n", in.kernel,
               bf16 ? "yes" : "no", vnni ? "yes" : "no");
    }
    sembed_model_free(model);
    return CLI_OK;
}
