/*
 * cli.h - what the sembed subcommands share: messages, input readers, model
 * resolution, output helpers and the progress bar. The tool uses only the
 * public header of the library (plus this file), like any other client.
 */
#ifndef SEMBED_CLI_H
#define SEMBED_CLI_H

#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>

#include "sembed.h"

/* Each subcommand: returns the process exit status. */
int cmd_embed(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_faq(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_info(int argc, char **argv);

/* `sembed search --db ...` (and search with no embedding file named, which
 * uses the default store) lives beside the store commands in
 * tools/search_db.c; cmd_search() hands its whole argv over. */
int cmd_search_db(int argc, char **argv);

/* Exit statuses: 0 success, 1 runtime failure, 2 usage error. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* Prints "sembed: <message>" and a newline on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "sembed <cmd>: <message>" (usage problems); returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The usage error for what getopt_long returned as c when called with
 * opterr = 0 and a leading ':' in its option string: ':' for an option
 * without its value, anything else for an unknown option. Names the
 * option in one line. */
int cli_option_error(const char *cmd, int c, char *const argv[]);
/* Prints a library error as "sembed: <message>" and returns CLI_FAIL. */
int cli_fail(const sembed_error *err);

/* Strict number parsing: digits only (optional leading '-' for the signed
 * forms), the whole string, within [min, max]. Return 0 on success. */
int cli_parse_int(const char *s, long min, long max, long *out);
int cli_parse_double(const char *s, double *out);

/* --kernel auto|reference|scalar|avx2|avx512, --dtype fp32|bf16|int8 and
 * --score cos|cosine|dot; return 0, or -1 for an unknown name. */
int cli_parse_kernel(const char *s, sembed_kernel *out);
int cli_parse_dtype(const char *s, sembed_dtype *out);
int cli_parse_score(const char *s, sembed_score *out);

/* ---- input texts ------------------------------------------------------- */

/* Longest line accepted from an input file (bytes); longer lines are an
 * error, not a silent cut. Texts themselves are truncated to the model's
 * max_seq_length tokens by the tokenizer. */
#define CLI_MAX_LINE_BYTES (64u << 20)

typedef enum cli_input_format {
    CLI_INPUT_TEXT = 0,   /* one text per line; "\n" or "\r\n" ends a line */
    CLI_INPUT_JSONL = 1,  /* one JSON string per line, or an object with
                             "text" and optional "id" and "metadata" */
    CLI_INPUT_IDS = 2     /* one JSON array of token ids per line */
} cli_input_format;

/* Parses "text", "jsonl" or "ids"; -1 when unknown. */
int cli_input_format_from_name(const char *name);

typedef struct cli_texts {
    size_t n;
    char **texts;         /* NUL-terminated copies (may contain NUL bytes:
                             use lens) */
    size_t *lens;
    char **ids;           /* JSONL "id" values as strings, or NULL entries */
    char **metadata;      /* JSONL "metadata" re-serialized as JSON, or NULL */
    int32_t **tok_ids;    /* CLI_INPUT_IDS: the arrays */
    size_t *n_tok_ids;
} cli_texts;

/* Reads every line of path ("-" = stdin). An empty file is an error
 * ("empty input"); an empty line is an empty text. Errors name the line. */
int cli_read_texts(const char *path, cli_input_format format, cli_texts *out);
void cli_texts_free(cli_texts *t);

/* ---- models ------------------------------------------------------------ */

/* Resolves --model (a folder, a Hub repo id with optional @revision, or a
 * bare name tried as sentence-transformers/NAME; see docs/HUB.md) and loads
 * it. Prints where the model came from on stderr when it was not a plain
 * folder. Returns 0 or prints the error and returns CLI_FAIL. */
int cli_load_model(const char *name, const sembed_model_params *params, sembed_model **out);

/* Only the resolution step: writes the model folder path into dir. */
int cli_resolve_model(const char *name, char *dir, size_t cap);

/* The same, and fills info (may be NULL): where the model came from and,
 * for a Hub model, its repo id and commit (what a store records as the
 * identity of the vectors' model). */
int cli_resolve_model_info(const char *name, char *dir, size_t cap, sembed_hub_info *info);

/* Download progress of Hub files on stderr: one bar per file taking
 * longer than a moment, only when stderr is a terminal and
 * HF_HUB_DISABLE_PROGRESS_BARS is not set. cli_hub_bar_update is a
 * sembed_hub_progress_fn whose user pointer is the bar. */
typedef struct cli_hub_bar {
    int enabled;
    int drawn;
    double t_start;
    double t_last;
    uint64_t start_bytes;
    uint64_t drawn_bytes;
    char file[256];
} cli_hub_bar;

void cli_hub_bar_init(cli_hub_bar *bar);
void cli_hub_bar_update(void *bar, const char *file, uint64_t done, uint64_t total);
void cli_hub_bar_finish(cli_hub_bar *bar);

/* Name of the Hub repo id behind a model argument, or the folder's base
 * name (for display and for the server's served-model-name). */
void cli_model_display_name(const char *name, char *out, size_t cap);

/* ---- output -------------------------------------------------------------- */

/* Opens path for writing ("-" = stdout). Files are written to a temporary
 * name and renamed by cli_output_close(commit=1), so an error never leaves
 * a half-written file behind. */
typedef struct cli_output {
    FILE *fp;
    char path[4096];
    char tmp[4104];
    int is_stdout;
} cli_output;

int cli_output_open(cli_output *o, const char *path);
int cli_output_close(cli_output *o, int commit);

/* Writes a float so that it reads back to the same float32 (shortest of
 * %.6g .. %.9g that round-trips). Returns the number of chars written. */
int cli_format_float(char *buf, size_t cap, float v);

/* Writes s (len bytes) as a JSON string; bytes that are not UTF-8 become
 * U+FFFD, so the output is always valid JSON. */
void cli_json_string(FILE *fp, const char *s, size_t len);

/* Writes a float as Python's json.dumps writes float(v): the shortest
 * digits that read back to the same double, in repr()'s layout. */
void cli_json_float(FILE *fp, float v);

/* ---- progress bar ------------------------------------------------------ */

/* Shown on stderr only when stderr is a terminal and the run is long
 * enough; otherwise every call is a no-op. */
typedef struct cli_progress {
    int enabled;
    size_t total;
    size_t done;
    double t_start;
    double t_last;
    const char *label;
} cli_progress;

void cli_progress_start(cli_progress *p, const char *label, size_t total);
void cli_progress_update(cli_progress *p, size_t done);
void cli_progress_finish(cli_progress *p);

double cli_now(void);

#endif /* SEMBED_CLI_H */
