/*
 * load_dir.c - loading a tokenizer from a model folder: the files are read
 * here (bounded) and parsed by tokenizer_load_memory2(). tokenizer.json is
 * preferred; without it, vocab.txt with tokenizer_config.json and
 * special_tokens_map.json when present.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "tokenizer/tokenizer_impl.h"

/* Reads dir/name when it exists; *data stays NULL when it does not. */
static sembed_status read_optional(const char *dir, const char *name, size_t max, char **data,
                                   size_t *len, sembed_error *err) {
    char path[4096];
    sembed_status st = path_join(path, sizeof path, dir, name, err);
    *data = NULL;
    *len = 0;
    if (st != SEMBED_OK)
        return st;
    if (!file_exists(path))
        return SEMBED_OK;
    return read_file(path, max, data, len, err);
}

sembed_status tokenizer_load(const char *dir, sembed_tokenizer **out, sembed_error *err) {
    char *tj = NULL, *vt = NULL, *cfg = NULL, *map = NULL;
    size_t tj_len = 0, vt_len = 0, cfg_len = 0, map_len = 0;
    sembed_status st;
    if (out)
        *out = NULL;
    if (!dir || !out)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "tokenizer_load: NULL argument");
    if (!dir_exists(dir))
        return set_error(err, SEMBED_ERR_NOT_FOUND, "%s: not a folder", dir);
    if ((st = read_optional(dir, "tokenizer.json", TOK_MAX_FILE_BYTES, &tj, &tj_len, err)) ||
        (st = read_optional(dir, "tokenizer_config.json", TOK_MAX_CONFIG_BYTES, &cfg, &cfg_len,
                            err)))
        goto fail;
    if (!tj) {
        if ((st = read_optional(dir, "vocab.txt", TOK_MAX_FILE_BYTES, &vt, &vt_len, err)) ||
            (st = read_optional(dir, "special_tokens_map.json", TOK_MAX_CONFIG_BYTES, &map,
                                &map_len, err)))
            goto fail;
        if (!vt) {
            st = set_error(err, SEMBED_ERR_NOT_FOUND,
                           "%s: no tokenizer.json or vocab.txt in the folder", dir);
            goto fail;
        }
    }
    st = tokenizer_load_memory2(tj, tj_len, vt, vt_len, cfg, cfg_len, map, map_len, out, err);
    if (st != SEMBED_OK && err) {
        /* Name the folder too: the parser only knows the file names. */
        char msg[sizeof err->message];
        snprintf(msg, sizeof msg, "%s", err->message);
        set_error(err, st, "%s: %s", dir, msg);
    }
fail:
    free(tj);
    free(vt);
    free(cfg);
    free(map);
    return st;
}
