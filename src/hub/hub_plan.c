/*
 * hub_plan.c - which files of a Hub repo make a sentence-transformers
 * model for sembed. A repo often holds the same weights several times
 * (pytorch_model.bin, ONNX, OpenVINO, TF); we fetch only the safetensors
 * weights and the small files the loader reads, chosen from modules.json.
 */
#include "hub/hub.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"

/* Adds path with need; a path listed twice keeps the stronger need. */
static sembed_status plan_add(hub_plan *plan, const char *dir, const char *name, hub_need need,
                              sembed_error *err) {
    char path[HUB_MAX_REPO_PATH + 2];
    int n = snprintf(path, sizeof path, "%s%s%s", dir, *dir ? "/" : "", name);
    if (n < 0 || (size_t)n > HUB_MAX_REPO_PATH)
        return set_error(err, SEMBED_ERR_LIMIT,
                         "modules.json: path %.64s/%s is longer than %d bytes", dir, name,
                         HUB_MAX_REPO_PATH);
    for (size_t i = 0; i < plan->n; i++) {
        if (!strcmp(plan->files[i].path, path)) {
            if (need == HUB_REQUIRED)
                plan->files[i].need = HUB_REQUIRED;
            return SEMBED_OK;
        }
    }
    if (plan->n >= HUB_MAX_PLAN_FILES)
        return set_error(err, SEMBED_ERR_LIMIT, "modules.json: a model of more than %d files",
                         HUB_MAX_PLAN_FILES);
    memcpy(plan->files[plan->n].path, path, (size_t)n + 1);
    plan->files[plan->n].need = need;
    plan->n++;
    return SEMBED_OK;
}

/* The last dotted component of a module type: "Pooling" for both
 * "sentence_transformers.models.Pooling" and the sentence-transformers 6
 * "sentence_transformers.sentence_transformer.modules.pooling.Pooling". */
static const char *type_tail(const char *type) {
    const char *dot = strrchr(type, '.');
    return dot ? dot + 1 : type;
}

typedef struct module_entry {
    const char *path;
    const char *kind;
} module_entry;

sembed_status hub_plan_build(hub_plan *plan, const char *json, size_t len, sembed_error *err) {
    plan->n = 0;
    module_entry mods[HUB_MAX_MODULES];
    size_t n_mods = 0;
    const char *root = "";
    json_t *doc = NULL;
    sembed_status st = SEMBED_OK;

    if (json) {
        if (len > HUB_MAX_MODULES_JSON) {
            st = set_error(err, SEMBED_ERR_LIMIT, "modules.json: larger than %u bytes",
                           HUB_MAX_MODULES_JSON);
            goto done;
        }
        json_error_t jerr;
        doc = json_loadb(json, len, 0, &jerr);
        if (!doc) {
            st = set_error(err, SEMBED_ERR_FORMAT, "modules.json: invalid JSON at line %d: %s",
                           jerr.line, jerr.text);
            goto done;
        }
        if (!json_is_array(doc)) {
            st = set_error(err, SEMBED_ERR_FORMAT, "modules.json: expected a list of modules");
            goto done;
        }
        if (json_array_size(doc) > HUB_MAX_MODULES) {
            st = set_error(err, SEMBED_ERR_LIMIT, "modules.json: more than %d modules",
                           HUB_MAX_MODULES);
            goto done;
        }
        for (size_t i = 0; i < json_array_size(doc); i++) {
            json_t *m = json_array_get(doc, i);
            json_t *type = json_object_get(m, "type");
            json_t *path = json_object_get(m, "path");
            if (!json_is_object(m) || !json_is_string(type) ||
                (path && !json_is_string(path) && !json_is_null(path))) {
                st = set_error(err, SEMBED_ERR_FORMAT,
                               "modules.json: module %zu needs a string \"type\" and \"path\"", i);
                goto done;
            }
            const char *p = json_is_string(path) ? json_string_value(path) : "";
            if (json_is_string(path) && strlen(p) != json_string_length(path)) {
                st = set_error(err, SEMBED_ERR_FORMAT, "modules.json: module %zu path has a NUL",
                               i);
                goto done;
            }
            if (*p && !hub_valid_repo_path(p)) {
                st = set_error(err, SEMBED_ERR_FORMAT,
                               "modules.json: module %zu has an unsafe path \"%.64s\"", i, p);
                goto done;
            }
            mods[n_mods].path = p;
            mods[n_mods].kind = type_tail(json_string_value(type));
            if (!strcmp(mods[n_mods].kind, "Transformer"))
                root = p;
            n_mods++;
        }
    }

    static const struct {
        const char *name;
        hub_need need;
        int at_root; /* lives at the repo root even when the Transformer has a folder */
    } head[] = {
        {"config.json", HUB_REQUIRED, 0},
        {"sentence_bert_config.json", HUB_OPTIONAL, 0},
        {"config_sentence_transformers.json", HUB_OPTIONAL, 1},
        {"tokenizer.json", HUB_TOKENIZER, 0},
        {"vocab.txt", HUB_TOKENIZER, 0},
        {"tokenizer_config.json", HUB_OPTIONAL, 0},
        {"special_tokens_map.json", HUB_OPTIONAL, 0},
    };
    if ((st = plan_add(plan, "", "modules.json", HUB_OPTIONAL, err)))
        goto done;
    for (size_t i = 0; i < sizeof head / sizeof head[0]; i++)
        if ((st = plan_add(plan, head[i].at_root ? "" : root, head[i].name, head[i].need, err)))
            goto done;
    for (size_t i = 0; i < n_mods; i++) {
        const char *p = mods[i].path, *kind = mods[i].kind;
        if (!*p || !strcmp(kind, "Transformer"))
            continue;
        int pooling = !strcmp(kind, "Pooling"), dense = !strcmp(kind, "Dense");
        if ((st = plan_add(plan, p, "config.json", pooling || dense ? HUB_REQUIRED : HUB_OPTIONAL,
                           err)))
            goto done;
        if (dense && (st = plan_add(plan, p, "model.safetensors", HUB_REQUIRED, err)))
            goto done;
    }
    st = plan_add(plan, root, "model.safetensors", HUB_REQUIRED, err);
done:
    json_decref(doc);
    return st;
}

int hub_plan_satisfied(const hub_plan *plan, int (*exists)(const char *path, void *user),
                       void *user, const char **missing) {
    const char *first_tok = NULL;
    int have_tok = 0;
    for (size_t i = 0; i < plan->n; i++) {
        const hub_plan_file *f = &plan->files[i];
        if (f->need == HUB_OPTIONAL)
            continue;
        int ok = exists(f->path, user);
        if (f->need == HUB_TOKENIZER) {
            if (!first_tok)
                first_tok = f->path;
            have_tok |= ok;
        } else if (!ok) {
            if (missing)
                *missing = f->path;
            return 0;
        }
    }
    if (first_tok && !have_tok) {
        if (missing)
            *missing = first_tok;
        return 0;
    }
    return 1;
}
