/*
 * store_model.c - the identity of a loaded model as a store records it. Kept
 * apart from store.c so that programs using the store without a model (the
 * tests, tools adding precomputed vectors) do not link the model code.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/common.h"
#include "sembed.h"

sembed_status sembed_store_model_from(const sembed_model *model, const char *name,
                                      const char *revision, sembed_store_model *out,
                                      sembed_error *err) {
    if (!model || !out)
        return set_error(err, SEMBED_ERR_INVALID_ARGUMENT, "sembed_store_model_from: NULL");
    memset(out, 0, sizeof *out);
    sembed_model_info info;
    sembed_model_get_info(model, &info);
    const char *n = name && *name ? name : info.path;
    /* A folder is recorded by its absolute path, so that the store finds
     * its model again from any working directory. */
    char abs[PATH_MAX];
    struct stat sb;
    if (n && stat(n, &sb) == 0 && S_ISDIR(sb.st_mode) && realpath(n, abs))
        n = abs;
    if (!n || snprintf(out->name, sizeof out->name, "%s", n) >= (int)sizeof out->name)
        return set_error(err, SEMBED_ERR_LIMIT, "model name is longer than %zu bytes",
                         sizeof out->name - 1);
    if (revision &&
        snprintf(out->revision, sizeof out->revision, "%s", revision) >= (int)sizeof out->revision)
        return set_error(err, SEMBED_ERR_LIMIT, "model revision is longer than %zu bytes",
                         sizeof out->revision - 1);
    sembed_status st = sembed_model_weights_sha256(model, out->weights_sha256, err);
    if (st != SEMBED_OK)
        return st;
    out->dim = info.dim;
    snprintf(out->pooling, sizeof out->pooling, "%s", info.pooling_name);
    out->normalize = info.normalize ? 1 : 0;
    out->max_seq_length = info.max_seq_length;
    return SEMBED_OK;
}
