/*
 * bench_tokenizer.c - tokenizer throughput on one core: the 13 FAQ
 * questions of the seed document (short English texts, the FAQ engine's
 * workload), then a multilingual paragraph, encoded over and over with one
 * reused scratch (as a context does) and with none (sembed_tokenize).
 *
 *   bench_tokenizer [MODEL_DIR] [SECONDS]
 *
 * MODEL_DIR defaults to $SEMBED_SHARED/models/minilm-synthetic.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "tokenizer/tokenizer.h"

static const char *faq[] = {
    "How do I get a replacement Medicare card?",
    "What is the monthly premium for Medicare Part B?",
    "How do I terminate my Medicare Part B (medical insurance)?",
    "How do I sign up for Medicare?",
    "Can I sign up for Medicare Part B if I am working and have health insurance through an "
    "employer?",
    "How do I sign up for Medicare Part B if I already have Part A?",
    "What are Medicare late enrollment penalties?",
    "What is Medicare and who can get it?",
    "How can I get help with my Medicare Part A and Part B premiums?",
    "What are the different parts of Medicare?",
    "Will my Medicare premiums be higher because of my higher income?",
    "What is TRICARE ?",
    "Should I sign up for Medicare Part B if I have Veterans' Benefits?",
};

static const char *mixed[] = {
    "Les différentes parties de Medicare : à quoi sert la partie B ? Ça dépend.",
    "Die Krankenversicherung übernimmt die Kosten für Arztbesuche und Medikamente.",
    "Как получить новую карту Medicare? Σύνταξη και ασφάλιση υγείας.",
    "医疗保险的每月保费是多少？ 日本語のテキストも少し。 한국어 문장입니다.",
};

/* Encodes the texts round after round for about `seconds`; returns
 * texts per second and fills *tokens_per_s. */
static double run(const sembed_tokenizer *tok, tok_scratch *s, const char **texts, size_t n,
                  double seconds, double *tokens_per_s) {
    size_t lens[16];
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(texts[i]);
    int32_t ids[512];
    size_t done = 0, tokens = 0, got;
    double t0 = now_seconds(), t = t0;
    while (t - t0 < seconds) {
        for (int r = 0; r < 100; r++) {
            for (size_t i = 0; i < n; i++) {
                if (tokenizer_encode(tok, s, texts[i], lens[i], NULL, ids, 512, &got, NULL,
                                     NULL) != SEMBED_OK) {
                    fprintf(stderr, "encode failed\n");
                    exit(1);
                }
                tokens += got;
            }
            done += n;
        }
        t = now_seconds();
    }
    *tokens_per_s = (double)tokens / (t - t0);
    return (double)done / (t - t0);
}

int main(int argc, char **argv) {
    char dir[4096];
    const char *shared = getenv("SEMBED_SHARED");
    if (argc > 1)
        snprintf(dir, sizeof dir, "%s", argv[1]);
    else if (shared && *shared)
        snprintf(dir, sizeof dir, "%s/models/minilm-synthetic", shared);
    else {
        fprintf(stderr, "usage: bench_tokenizer MODEL_DIR [SECONDS] (or set SEMBED_SHARED)\n");
        return 2;
    }
    double seconds = argc > 2 ? atof(argv[2]) : 2.0;
    if (seconds <= 0)
        seconds = 2.0;
    sembed_tokenizer *tok = NULL;
    sembed_error err;
    if (tokenizer_load(dir, &tok, &err) != SEMBED_OK) {
        fprintf(stderr, "bench_tokenizer: %s\n", err.message);
        return 1;
    }
    tokenizer_set_max_length(tok, 256);
    tok_scratch *s = tok_scratch_new();
    double tps, r;
    size_t nf = sizeof faq / sizeof faq[0], nm = sizeof mixed / sizeof mixed[0];
    r = run(tok, s, faq, nf, seconds, &tps);
    printf("FAQ questions, reused scratch:   %10.0f texts/s  %12.0f tokens/s\n", r, tps);
    r = run(tok, NULL, faq, nf, seconds, &tps);
    printf("FAQ questions, no scratch:       %10.0f texts/s  %12.0f tokens/s\n", r, tps);
    r = run(tok, s, mixed, nm, seconds, &tps);
    printf("multilingual, reused scratch:    %10.0f texts/s  %12.0f tokens/s\n", r, tps);
    tok_scratch_free(s);
    tokenizer_free(tok);
    return 0;
}
