/*
 * cli.c - helpers shared by the sembed subcommands: messages, strict number
 * parsing, line readers for text / JSONL / id input, atomic output files,
 * float formatting and a terminal progress bar.
 */
#include "cli.h"

#include <errno.h>
#include <float.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ==== Messages ============================================================ */

void cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("sembed: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sembed %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'sembed %s --help')\n", cmd);
    va_end(ap);
    return CLI_USAGE;
}

int cli_option_error(const char *cmd, int c, char *const argv[]) {
    if (c == ':')
        return cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
    /* An unknown short option may sit inside a group ("-hx"): name it. */
    if (optopt)
        return cli_usage_error(cmd, "unknown option '-%c'", optopt);
    return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
}

int cli_fail(const sembed_error *err) {
    if (err && err->message[0])
        cli_error("%s", err->message);
    else if (err)
        cli_error("%s", sembed_strerror(err->status));
    else
        cli_error("failed");
    return CLI_FAIL;
}

/* ==== Numbers ============================================================= */

int cli_parse_int(const char *s, long min, long max, long *out) {
    if (!s || !*s)
        return -1;
    const char *p = s;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (!*p)
        return -1;
    long v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        int d = *p - '0';
        if (v > (LONG_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (neg)
        v = -v;
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_double(const char *s, double *out) {
    if (!s || !*s || *s == ' ' || *s == '\t')
        return -1;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || !end || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int cli_input_format_from_name(const char *name) {
    if (!strcmp(name, "text") || !strcmp(name, "txt"))
        return CLI_INPUT_TEXT;
    if (!strcmp(name, "jsonl"))
        return CLI_INPUT_JSONL;
    if (!strcmp(name, "ids"))
        return CLI_INPUT_IDS;
    return -1;
}

/* ==== Engine options ===================================================== */

int cli_parse_kernel(const char *s, sembed_kernel *out) {
    static const struct { const char *name; sembed_kernel k; } names[] = {
        {"auto", SEMBED_KERNEL_AUTO},     {"reference", SEMBED_KERNEL_REFERENCE},
        {"scalar", SEMBED_KERNEL_SCALAR}, {"avx2", SEMBED_KERNEL_AVX2},
        {"avx512", SEMBED_KERNEL_AVX512},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(s, names[i].name)) {
            *out = names[i].k;
            return 0;
        }
    return -1;
}

int cli_parse_dtype(const char *s, sembed_dtype *out) {
    if (!strcmp(s, "fp32") || !strcmp(s, "float32"))
        *out = SEMBED_DTYPE_FP32;
    else if (!strcmp(s, "bf16") || !strcmp(s, "bfloat16"))
        *out = SEMBED_DTYPE_BF16;
    else if (!strcmp(s, "int8"))
        *out = SEMBED_DTYPE_INT8;
    else
        return -1;
    return 0;
}

int cli_parse_score(const char *s, sembed_score *out) {
    if (!strcmp(s, "cos") || !strcmp(s, "cosine"))
        *out = SEMBED_SCORE_COSINE;
    else if (!strcmp(s, "dot"))
        *out = SEMBED_SCORE_DOT;
    else
        return -1;
    return 0;
}

/* ==== Input =============================================================== */

/* Appends one entry, growing the arrays geometrically. */
static int texts_push(cli_texts *t, size_t *cap) {
    if (t->n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 64;
    char **texts = realloc(t->texts, nc * sizeof *texts);
    if (!texts)
        return -1;
    t->texts = texts;
    size_t *lens = realloc(t->lens, nc * sizeof *lens);
    if (!lens)
        return -1;
    t->lens = lens;
    char **ids = realloc(t->ids, nc * sizeof *ids);
    if (!ids)
        return -1;
    t->ids = ids;
    char **meta = realloc(t->metadata, nc * sizeof *meta);
    if (!meta)
        return -1;
    t->metadata = meta;
    int32_t **tok = realloc(t->tok_ids, nc * sizeof *tok);
    if (!tok)
        return -1;
    t->tok_ids = tok;
    size_t *ntok = realloc(t->n_tok_ids, nc * sizeof *ntok);
    if (!ntok)
        return -1;
    t->n_tok_ids = ntok;
    *cap = nc;
    return 0;
}

static char *dup_bytes(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

/* Parses one JSONL line: a string, or an object with "text" and optional
 * "id" (string or integer) and "metadata" (any JSON). */
static int parse_jsonl_line(const char *line, size_t len, size_t lineno, cli_texts *t) {
    json_error_t jerr;
    json_t *v = json_loadb(line, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!v) {
        cli_error("line %zu: invalid JSON: %s", lineno, jerr.text);
        return -1;
    }
    size_t i = t->n;
    t->ids[i] = NULL;
    t->metadata[i] = NULL;
    json_t *text = v;
    if (json_is_object(v)) {
        text = json_object_get(v, "text");
        if (!text)
            text = json_object_get(v, "input");
        json_t *id = json_object_get(v, "id");
        if (json_is_string(id)) {
            t->ids[i] = dup_bytes(json_string_value(id), json_string_length(id));
        } else if (json_is_integer(id)) {
            char buf[32];
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(id));
            t->ids[i] = dup_bytes(buf, strlen(buf));
        } else if (id && !json_is_null(id)) {
            cli_error("line %zu: \"id\" must be a string or an integer", lineno);
            json_decref(v);
            return -1;
        }
        json_t *meta = json_object_get(v, "metadata");
        if (meta && !json_is_null(meta))
            t->metadata[i] = json_dumps(meta, JSON_COMPACT | JSON_ENCODE_ANY);
    }
    if (!json_is_string(text)) {
        cli_error("line %zu: expected a JSON string or an object with a \"text\" string", lineno);
        json_decref(v);
        free(t->ids[i]);
        free(t->metadata[i]);
        return -1;
    }
    t->lens[i] = json_string_length(text);
    t->texts[i] = dup_bytes(json_string_value(text), t->lens[i]);
    json_decref(v);
    return t->texts[i] ? 0 : -1;
}

/* Parses one line of token ids: a JSON array of integers in int32 range. */
static int parse_ids_line(const char *line, size_t len, size_t lineno, cli_texts *t) {
    json_error_t jerr;
    json_t *v = json_loadb(line, len, 0, &jerr);
    if (!v || !json_is_array(v)) {
        cli_error("line %zu: expected a JSON array of token ids%s%s", lineno, v ? "" : ": ",
                  v ? "" : jerr.text);
        json_decref(v);
        return -1;
    }
    size_t n = json_array_size(v);
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids) {
        json_decref(v);
        return -1;
    }
    for (size_t k = 0; k < n; k++) {
        json_t *e = json_array_get(v, k);
        if (!json_is_integer(e) || json_integer_value(e) < 0 ||
            json_integer_value(e) > INT32_MAX) {
            cli_error("line %zu: element %zu is not a non-negative integer id", lineno, k);
            free(ids);
            json_decref(v);
            return -1;
        }
        ids[k] = (int32_t)json_integer_value(e);
    }
    json_decref(v);
    size_t i = t->n;
    t->tok_ids[i] = ids;
    t->n_tok_ids[i] = n;
    t->texts[i] = NULL;
    t->lens[i] = 0;
    return 0;
}

int cli_read_texts(const char *path, cli_input_format format, cli_texts *out) {
    memset(out, 0, sizeof *out);
    int use_stdin = !path || !strcmp(path, "-");
    FILE *fp = use_stdin ? stdin : fopen(path, "rb");
    if (!fp) {
        cli_error("cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (!use_stdin) {
        struct stat st;
        if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
            cli_error("%s is a directory, not an input file", path);
            fclose(fp);
            return -1;
        }
    }
    const char *name = use_stdin ? "standard input" : path;
    size_t cap = 0, lineno = 0;
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t got;
    int rc = 0, saw_bytes = 0;
    while ((got = getline(&line, &line_cap, fp)) >= 0) {
        saw_bytes = 1;
        lineno++;
        size_t len = (size_t)got;
        if (len > CLI_MAX_LINE_BYTES) {
            cli_error("%s: line %zu is longer than %u bytes", name, lineno, CLI_MAX_LINE_BYTES);
            rc = -1;
            break;
        }
        if (len && line[len - 1] == '\n')
            len--;
        if (len && line[len - 1] == '\r')
            len--;
        if (format != CLI_INPUT_TEXT && len == 0)
            continue; /* blank lines separate nothing in JSONL */
        if (texts_push(out, &cap)) {
            cli_error("out of memory reading %s", name);
            rc = -1;
            break;
        }
        size_t i = out->n;
        out->ids[i] = NULL;
        out->metadata[i] = NULL;
        out->tok_ids[i] = NULL;
        out->n_tok_ids[i] = 0;
        if (format == CLI_INPUT_TEXT) {
            out->texts[i] = dup_bytes(line, len);
            out->lens[i] = len;
            if (!out->texts[i]) {
                rc = -1;
                break;
            }
        } else if (format == CLI_INPUT_JSONL) {
            if (parse_jsonl_line(line, len, lineno, out)) {
                rc = -1;
                break;
            }
        } else {
            if (parse_ids_line(line, len, lineno, out)) {
                rc = -1;
                break;
            }
        }
        out->n++;
    }
    if (rc == 0 && ferror(fp)) {
        cli_error("error reading %s: %s", name, strerror(errno));
        rc = -1;
    }
    free(line);
    if (!use_stdin)
        fclose(fp);
    if (rc == 0 && (!saw_bytes || out->n == 0)) {
        cli_error("%s: empty input (no texts to process)", name);
        rc = -1;
    }
    if (rc)
        cli_texts_free(out);
    return rc;
}

void cli_texts_free(cli_texts *t) {
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->texts[i]);
        free(t->ids[i]);
        free(t->metadata[i]);
        free(t->tok_ids[i]);
    }
    free(t->texts);
    free(t->lens);
    free(t->ids);
    free(t->metadata);
    free(t->tok_ids);
    free(t->n_tok_ids);
    memset(t, 0, sizeof *t);
}

/* ==== Models ============================================================== */

/* Sizes as the Hub shows them (decimal units). */
static void format_bytes(char *buf, size_t cap, uint64_t n) {
    if (n < 1000)
        snprintf(buf, cap, "%u B", (unsigned)n);
    else if (n < 1000000)
        snprintf(buf, cap, "%.1f kB", (double)n / 1e3);
    else if (n < 1000000000)
        snprintf(buf, cap, "%.1f MB", (double)n / 1e6);
    else
        snprintf(buf, cap, "%.2f GB", (double)n / 1e9);
}

void cli_hub_bar_init(cli_hub_bar *bar) {
    memset(bar, 0, sizeof *bar);
    const char *off = getenv("HF_HUB_DISABLE_PROGRESS_BARS");
    int disabled = off && (!strcasecmp(off, "1") || !strcasecmp(off, "on") ||
                           !strcasecmp(off, "yes") || !strcasecmp(off, "true"));
    const char *term = getenv("TERM");
    bar->enabled = !disabled && isatty(STDERR_FILENO) && !(term && !strcmp(term, "dumb"));
}

static void hub_bar_draw(cli_hub_bar *bar, uint64_t done, uint64_t total, double now) {
    char d[32], t[32], r[32];
    format_bytes(d, sizeof d, done);
    format_bytes(t, sizeof t, total);
    double el = now - bar->t_start;
    format_bytes(r, sizeof r, el > 0 ? (uint64_t)((double)(done - bar->start_bytes) / el) : 0);
    int width = 24, fill = total ? (int)((double)done / (double)total * width) : 0;
    char line[32];
    for (int i = 0; i < width; i++)
        line[i] = i < fill ? '#' : '.';
    line[width] = 0;
    fprintf(stderr, "\r%-28.28s [%s] %s / %s  %s/s ", bar->file, line, d, t, r);
    fflush(stderr);
    bar->drawn = 1;
}

void cli_hub_bar_update(void *user, const char *file, uint64_t done, uint64_t total) {
    cli_hub_bar *bar = user;
    if (!bar->enabled)
        return;
    double now = cli_now();
    if (strncmp(bar->file, file, sizeof bar->file - 1) != 0) {
        cli_hub_bar_finish(bar);
        snprintf(bar->file, sizeof bar->file, "%s", file);
        bar->t_start = bar->t_last = now;
        bar->start_bytes = done;
    }
    /* Small files finish before a bar helps; redraw at most 10 times a second. */
    int last = total && done >= total;
    if (now - bar->t_start < 0.3 || (!last && now - bar->t_last < 0.1) ||
        (bar->drawn && done == bar->drawn_bytes))
        return;
    bar->drawn_bytes = done;
    bar->t_last = now;
    hub_bar_draw(bar, done, total, now);
}

void cli_hub_bar_finish(cli_hub_bar *bar) {
    if (bar->drawn)
        fputc('\n', stderr);
    bar->drawn = 0;
    bar->file[0] = 0;
}

/* Says on stderr where a Hub model came from. */
static void report_source(const sembed_hub_info *info, const char *dir) {
    char commit[16];
    snprintf(commit, sizeof commit, "%.12s", info->commit);
    if (info->source == SEMBED_HUB_CACHED) {
        cli_error("using %s (commit %s) from the cache: %s", info->repo_id, commit, dir);
    } else if (info->files_downloaded == 0) {
        cli_error("%s (commit %s) is up to date in the cache: %s", info->repo_id, commit, dir);
    } else {
        char size[32];
        format_bytes(size, sizeof size, info->bytes_downloaded);
        cli_error("downloaded %s (commit %s) from %s: %d file%s, %s, into %s", info->repo_id,
                  commit, info->endpoint, info->files_downloaded,
                  info->files_downloaded == 1 ? "" : "s", size, dir);
    }
}

int cli_resolve_model_info(const char *name, char *dir, size_t cap, sembed_hub_info *info) {
    sembed_hub_info local;
    if (!info)
        info = &local;
    if (!name || !*name) {
        cli_error("no model given (use --model with a folder or a Hub repo id)");
        return CLI_FAIL;
    }
    cli_hub_bar bar;
    cli_hub_bar_init(&bar);
    sembed_hub_params hp = sembed_hub_default_params();
    hp.progress = cli_hub_bar_update;
    hp.progress_user = &bar;
    sembed_error err;
    sembed_status st = sembed_hub_resolve(name, &hp, dir, cap, info, &err);
    cli_hub_bar_finish(&bar);
    if (st != SEMBED_OK)
        return cli_fail(&err);
    if (info->source != SEMBED_HUB_FOLDER)
        report_source(info, dir);
    return 0;
}

int cli_resolve_model(const char *name, char *dir, size_t cap) {
    return cli_resolve_model_info(name, dir, cap, NULL);
}

int cli_load_model(const char *name, const sembed_model_params *params, sembed_model **out) {
    char dir[4096];
    int rc = cli_resolve_model(name, dir, sizeof dir);
    if (rc)
        return rc;
    sembed_error err;
    sembed_model_params p = params ? *params : sembed_model_default_params();
    if (sembed_model_load(dir, &p, out, &err) != SEMBED_OK)
        return cli_fail(&err);
    return 0;
}

void cli_model_display_name(const char *name, char *out, size_t cap) {
    if (!cap)
        return;
    struct stat st;
    char repo[128], rev[256];
    if (stat(name, &st) == 0 && S_ISDIR(st.st_mode)) {
        /* A snapshot folder of the Hub cache is shown as its repo id. */
        char dir[4096];
        sembed_hub_info info;
        if (sembed_hub_resolve(name, NULL, dir, sizeof dir, &info, NULL) == SEMBED_OK &&
            info.repo_id[0]) {
            snprintf(out, cap, "%s", info.repo_id);
            return;
        }
        /* Else the folder's base name, ignoring trailing slashes. */
        size_t n = strlen(name);
        while (n > 1 && name[n - 1] == '/')
            n--;
        size_t b = n;
        while (b > 0 && name[b - 1] != '/')
            b--;
        snprintf(out, cap, "%.*s", (int)(n - b), name + b);
        return;
    }
    if (sembed_hub_parse_name(name, repo, sizeof repo, rev, sizeof rev, NULL) == SEMBED_OK) {
        snprintf(out, cap, "%s", repo);
        return;
    }
    snprintf(out, cap, "%s", name);
}

/* ==== Output ============================================================== */

int cli_output_open(cli_output *o, const char *path) {
    memset(o, 0, sizeof *o);
    if (!path || !strcmp(path, "-")) {
        o->fp = stdout;
        o->is_stdout = 1;
        return 0;
    }
    if (snprintf(o->path, sizeof o->path, "%s", path) >= (int)sizeof o->path) {
        cli_error("output path too long");
        return -1;
    }
    snprintf(o->tmp, sizeof o->tmp, "%s.tmpXXXXXX", path);
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        cli_error("cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    o->fp = fdopen(fd, "wb");
    if (!o->fp) {
        close(fd);
        unlink(o->tmp);
        cli_error("cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int cli_output_close(cli_output *o, int commit) {
    if (!o->fp)
        return 0;
    if (o->is_stdout) {
        int bad = fflush(stdout) != 0 || ferror(stdout);
        o->fp = NULL;
        if (bad && commit) {
            cli_error("error writing standard output: %s", strerror(errno));
            return -1;
        }
        return 0;
    }
    int bad = fflush(o->fp) != 0 || ferror(o->fp);
    if (!bad && commit)
        bad = fsync(fileno(o->fp)) != 0;
    if (fclose(o->fp) != 0)
        bad = 1;
    o->fp = NULL;
    if (!commit || bad) {
        unlink(o->tmp);
        if (commit) {
            cli_error("error writing %s: %s", o->path, strerror(errno));
            return -1;
        }
        return 0;
    }
    /* mkstemp creates 0600; give the file the usual permissions. */
    mode_t mask = umask(0);
    umask(mask);
    chmod(o->tmp, 0666 & ~mask);
    if (rename(o->tmp, o->path) != 0) {
        cli_error("cannot write %s: %s", o->path, strerror(errno));
        unlink(o->tmp);
        return -1;
    }
    return 0;
}

int cli_format_float(char *buf, size_t cap, float v) {
    if (!isfinite(v))
        return snprintf(buf, cap, "%s", isnan(v) ? "NaN" : (v > 0 ? "inf" : "-inf"));
    /* The shortest %.Ng that parses back to the same float32. */
    for (int prec = 6; prec <= 9; prec++) {
        int n = snprintf(buf, cap, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v)
            return n;
    }
    return snprintf(buf, cap, "%.9g", (double)v);
}

/* ==== JSON output ======================================================== */

void cli_json_string(FILE *fp, const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    fputc('"', fp);
    while (p < end) {
        unsigned c = *p;
        if (c == '"' || c == '\\') {
            fputc('\\', fp);
            fputc((int)c, fp);
            p++;
        } else if (c < 0x20) {
            if (c == '\n')
                fputs("\\n", fp);
            else if (c == '\r')
                fputs("\\r", fp);
            else if (c == '\t')
                fputs("\\t", fp);
            else
                fprintf(fp, "\\u%04x", c);
            p++;
        } else if (c < 0x80) {
            fputc((int)c, fp);
            p++;
        } else {
            /* A well-formed UTF-8 sequence is copied; anything else is one
             * U+FFFD per bad byte, so the output is always valid JSON. */
            size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 && c <= 0xEF ? 3
                     : c >= 0xC2 && c <= 0xDF ? 2 : 0;
            int ok = n > 0 && (size_t)(end - p) >= n;
            for (size_t i = 1; ok && i < n; i++)
                ok = (p[i] & 0xC0) == 0x80;
            if (ok && n == 3)
                ok = !(c == 0xE0 && p[1] < 0xA0) && !(c == 0xED && p[1] > 0x9F);
            if (ok && n == 4)
                ok = !(c == 0xF0 && p[1] < 0x90) && !(c == 0xF4 && p[1] > 0x8F);
            if (ok) {
                fwrite(p, 1, n, fp);
                p += n;
            } else {
                fputs("\\ufffd", fp);
                p++;
            }
        }
    }
    fputc('"', fp);
}

void cli_json_float(FILE *fp, float v) {
    double d = v;
    if (!isfinite(d)) {
        fputs(isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity", fp);
        return;
    }
    /* The fewest significant digits that read back to the same double,
     * laid out as Python's float repr: positional for exponents -4 .. 15,
     * otherwise d.ddde+XX. */
    char buf[48];
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p - 1, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    const char *s = buf;
    int neg = *s == '-';
    if (neg)
        s++;
    char digits[24];
    size_t nd = 0;
    for (; *s && *s != 'e'; s++)
        if (*s != '.' && nd < sizeof digits - 1)
            digits[nd++] = *s;
    digits[nd] = 0;
    int exp = *s == 'e' ? atoi(s + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0')
        digits[--nd] = 0;
    if (neg)
        fputc('-', fp);
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            fputs("0.", fp);
            for (int i = 0; i < -exp - 1; i++)
                fputc('0', fp);
            fputs(digits, fp);
        } else {
            for (int i = 0; i <= exp; i++)
                fputc((size_t)i < nd ? digits[i] : '0', fp);
            fputc('.', fp);
            if ((size_t)exp + 1 < nd)
                fputs(digits + exp + 1, fp);
            else
                fputc('0', fp);
        }
    } else {
        fputc(digits[0], fp);
        if (nd > 1)
            fprintf(fp, ".%s", digits + 1);
        fprintf(fp, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
}

/* ==== Progress ============================================================ */

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cli_progress_start(cli_progress *p, const char *label, size_t total) {
    memset(p, 0, sizeof *p);
    p->enabled = isatty(STDERR_FILENO) && total > 0;
    p->total = total;
    p->label = label;
    p->t_start = p->t_last = cli_now();
}

static void progress_draw(cli_progress *p, double now) {
    double frac = p->total ? (double)p->done / (double)p->total : 1.0;
    int width = 30, fill = (int)(frac * width);
    char bar[32];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    double el = now - p->t_start;
    double rate = el > 0 ? (double)p->done / el : 0;
    fprintf(stderr, "\r%s [%s] %zu/%zu %.0f/s", p->label ? p->label : "", bar, p->done, p->total,
            rate);
    fflush(stderr);
}

void cli_progress_update(cli_progress *p, size_t done) {
    if (!p->enabled)
        return;
    p->done = done;
    double now = cli_now();
    /* Only runs longer than half a second get a bar; redraw at most 10/s. */
    if (now - p->t_start < 0.5 || now - p->t_last < 0.1)
        return;
    p->t_last = now;
    progress_draw(p, now);
}

void cli_progress_finish(cli_progress *p) {
    if (!p->enabled)
        return;
    double now = cli_now();
    if (now - p->t_start >= 0.5) {
        p->done = p->total;
        progress_draw(p, now);
        fputc('\n', stderr);
    }
    p->enabled = 0;
}
