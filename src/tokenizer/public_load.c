/*
 * public_load.c - sembed_tokenizer_load(): a tokenizer on its own from a
 * model folder, with the max length and do_lower_case a model load would
 * use. Kept apart from load_dir.c because it needs the model config reader.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/common.h"
#include "model/config.h"
#include "tokenizer/tokenizer_impl.h"

/* sentence_bert_config.json do_lower_case (ST6 prepends a Lowercase
 * normalizer when it is true). Absent file or key: 0. */
static sembed_status st_do_lower_case(const char *dir, int *out, sembed_error *err) {
    char path[4096], *data = NULL;
    size_t len = 0;
    *out = 0;
    sembed_status st = path_join(path, sizeof path, dir, "sentence_bert_config.json", err);
    if (st != SEMBED_OK || !file_exists(path))
        return st;
    if ((st = read_file(path, TOK_MAX_CONFIG_BYTES, &data, &len, err)) != SEMBED_OK)
        return st;
    json_error_t je;
    json_t *root = json_loadb(data, len, 0, &je);
    free(data);
    if (!json_is_object(root)) {
        json_decref(root);
        return set_error(err, SEMBED_ERR_FORMAT, "%s: not a JSON object", path);
    }
    json_t *v = json_object_get(root, "do_lower_case");
    if (v && !json_is_boolean(v)) {
        json_decref(root);
        return set_error(err, SEMBED_ERR_FORMAT, "%s: do_lower_case must be a boolean", path);
    }
    *out = json_is_true(v);
    json_decref(root);
    return SEMBED_OK;
}

sembed_status sembed_tokenizer_load(const char *dir, sembed_tokenizer **out, sembed_error *err) {
    sembed_tokenizer *tok = NULL;
    int max_len = 0, lower = 0;
    if (out)
        *out = NULL;
    if (!dir || !out)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_tokenizer_load: NULL argument");
    sembed_status st = tokenizer_load(dir, &tok, err);
    if (st != SEMBED_OK)
        return st;
    if ((st = config_max_seq_length(dir, &max_len, err)) != SEMBED_OK ||
        (st = st_do_lower_case(dir, &lower, err)) != SEMBED_OK) {
        tokenizer_free(tok);
        return st;
    }
    tokenizer_set_max_length(tok, max_len);
    tokenizer_set_force_lowercase(tok, lower);
    *out = tok;
    return SEMBED_OK;
}
