/*
 * cmd_pull.c - `sembed pull`: download a model from the Hugging Face Hub
 * into the shared huggingface_hub cache and print its snapshot folder, so
 * that `sembed embed --model "$(sembed pull ORG/NAME)"` works and later
 * runs of any command find the model without the network.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: sembed pull [options] MODEL[@REVISION]...\n"
            "\n"
            "Downloads sentence-transformers models from the Hugging Face Hub into the\n"
            "cache that huggingface_hub uses (only the files sembed needs: configs,\n"
            "tokenizer and safetensors weights) and prints each snapshot folder.\n"
            "MODEL is ORG/NAME, or NAME for sentence-transformers/NAME. A revision already\n"
            "complete in the cache is used without any request; --refresh asks the Hub\n"
            "which commit the revision names now and fetches only what changed.\n"
            "\n"
            "options:\n"
            "  -r, --revision REV     branch, tag, refs/pr/N or commit id (default: main)\n"
            "      --cache-dir DIR    cache folder (default: $HF_HUB_CACHE, else\n"
            "                         $HF_HOME/hub, else ~/.cache/huggingface/hub)\n"
            "      --endpoint URL     Hub address (default: $HF_ENDPOINT, else\n"
            "                         https://huggingface.co)\n"
            "      --refresh          ask the Hub for the revision's latest commit even when\n"
            "                         the cache has a complete snapshot\n"
            "      --offline          use no network: check that the model is complete in the\n"
            "                         cache (the same as HF_HUB_OFFLINE=1)\n"
            "      --max-file-size N  refuse files larger than N bytes; K, M, G suffixes are\n"
            "                         powers of 1024 (default 32G)\n"
            "  -q, --quiet            no progress bar and no summary on stderr\n"
            "  -h, --help             show this help\n"
            "\n"
            "environment: HF_TOKEN (or the file $HF_TOKEN_PATH, $HF_HOME/token) for private\n"
            "and gated models, HF_HUB_OFFLINE, HF_HUB_ETAG_TIMEOUT and\n"
            "HF_HUB_DOWNLOAD_TIMEOUT (seconds, default 10), HF_HUB_DISABLE_PROGRESS_BARS.\n"
            "An interrupted download resumes when the command is run again.\n");
}

/* Digits with an optional K, M or G (powers of 1024) suffix. */
static int parse_size(const char *s, uint64_t *out) {
    uint64_t v = 0;
    const char *p = s;
    if (!*p)
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (p == s)
        return -1;
    unsigned shift = 0;
    if (*p == 'K' || *p == 'k')
        shift = 10;
    else if (*p == 'M' || *p == 'm')
        shift = 20;
    else if (*p == 'G' || *p == 'g')
        shift = 30;
    else if (*p)
        return -1;
    if (shift && p[1])
        return -1;
    if (v == 0 || v > (UINT64_MAX >> shift))
        return -1;
    *out = v << shift;
    return 0;
}

int cmd_pull(int argc, char **argv) {
    static const struct option opts[] = {
        {"revision", required_argument, NULL, 'r'},
        {"cache-dir", required_argument, NULL, 'c'},
        {"endpoint", required_argument, NULL, 'e'},
        {"offline", no_argument, NULL, 'o'},
        {"refresh", no_argument, NULL, 'f'},
        {"max-file-size", required_argument, NULL, 'm'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    sembed_hub_params hp = sembed_hub_default_params();
    const char *revision = NULL;
    int quiet = 0;
    optind = 1;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, ":r:qh", opts, NULL);
        if (c == -1)
            break;
        switch (c) {
        case 'r':
            revision = optarg;
            break;
        case 'c':
            hp.cache_dir = optarg;
            break;
        case 'e':
            hp.endpoint = optarg;
            break;
        case 'o':
            hp.offline = 1;
            break;
        case 'f':
            hp.refresh = 1;
            break;
        case 'm':
            if (parse_size(optarg, &hp.max_file_bytes))
                return cli_usage_error("pull", "--max-file-size: expected a positive size "
                                               "such as 500M or 4G, not '%s'", optarg);
            break;
        case 'q':
            quiet = 1;
            break;
        case 'h':
            usage(stdout);
            return CLI_OK;
        default:
            return cli_option_error("pull", c, argv);
        }
    }
    if (optind >= argc)
        return cli_usage_error("pull", "no model named");
    if (revision && argc - optind > 1)
        return cli_usage_error("pull", "--revision applies to one model; use MODEL@REVISION");

    cli_hub_bar bar;
    cli_hub_bar_init(&bar);
    if (quiet)
        bar.enabled = 0;
    hp.progress = cli_hub_bar_update;
    hp.progress_user = &bar;

    int rc = CLI_OK;
    for (int i = optind; i < argc; i++) {
        const char *name = argv[i];
        char repo[128], rev[256], dir[4096];
        sembed_error err;
        sembed_hub_info info;
        if (sembed_hub_parse_name(name, repo, sizeof repo, rev, sizeof rev, &err) != SEMBED_OK) {
            rc = cli_fail(&err);
            continue;
        }
        if (revision && strchr(name, '@'))
            return cli_usage_error("pull", "give the revision either as MODEL@REV or with "
                                           "--revision, not both");
        sembed_status st = sembed_hub_download(repo, revision ? revision : rev, &hp, dir,
                                               sizeof dir, &info, &err);
        cli_hub_bar_finish(&bar);
        if (st != SEMBED_OK) {
            rc = cli_fail(&err);
            continue;
        }
        if (!quiet) {
            char commit[16];
            snprintf(commit, sizeof commit, "%.12s", info.commit);
            if (info.source == SEMBED_HUB_CACHED)
                cli_error("%s (commit %s) is already complete in the cache", info.repo_id,
                          commit);
            else if (info.files_downloaded == 0)
                cli_error("%s (commit %s) is up to date in the cache", info.repo_id, commit);
            else
                cli_error("downloaded %s (commit %s) from %s: %d file%s, %.1f MB",
                          info.repo_id, commit, info.endpoint, info.files_downloaded,
                          info.files_downloaded == 1 ? "" : "s",
                          (double)info.bytes_downloaded / 1e6);
        }
        printf("%s\n", dir);
        fflush(stdout);
    }
    return rc;
}
