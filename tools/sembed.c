/*
 * sembed.c - the command-line tool: a dispatcher over the subcommands in
 * tools/cmd_*.c. Each subcommand parses its own options and prints its own
 * --help.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* Weak so that the tool links while a subcommand is being written; a
 * missing one is reported, never silently skipped. */
#pragma weak cmd_embed
#pragma weak cmd_tokenize
#pragma weak cmd_search
#pragma weak cmd_index
#pragma weak cmd_faq
#pragma weak cmd_serve
#pragma weak cmd_pull
#pragma weak cmd_bench
#pragma weak cmd_info

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"embed", cmd_embed, "embed texts (or token ids) into vectors: npy, csv or jsonl"},
    {"tokenize", cmd_tokenize, "print the token ids of each input line"},
    {"search", cmd_search, "semantic search over embedding files or a store"},
    {"index", cmd_index, "build and inspect an embedded store (add, info)"},
    {"faq", cmd_faq, "the FAQ engine of 'Getting Started With Embeddings' in one command"},
    {"serve", cmd_serve, "HTTP server: HF Inference API, TEI and OpenAI embeddings, /search"},
    {"pull", cmd_pull, "download a model from the Hugging Face Hub into the shared cache"},
    {"bench", cmd_bench, "measure embedding speed (sentences/s, tokens/s, GFLOP/s)"},
    {"info", cmd_info, "describe a model folder and this CPU's kernels"},
};

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: sembed <command> [options]\n"
            "\n"
            "sembed %s - sentence-transformers embeddings, semantic search and an\n"
            "embedding server in C.\n"
            "\n"
            "commands:\n",
            sembed_version());
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (commands[i].run)
            fprintf(fp, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(fp, "\nRun 'sembed <command> --help' for a command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "version")) {
        printf("sembed %s\n", sembed_version());
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(name, commands[i].name) != 0)
            continue;
        if (!commands[i].run) {
            fprintf(stderr, "sembed: command '%s' is not built into this binary\n", name);
            return CLI_FAIL;
        }
        return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "sembed: unknown command '%s' (see 'sembed --help')\n", name);
    return CLI_USAGE;
}
