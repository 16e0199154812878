/*
 * tokenizer.h - internal interface of the BERT WordPiece tokenizer
 * (BertNormalizer + BertPreTokenizer + WordPiece + TemplateProcessing, as
 * Hugging Face tokenizers runs them). The public entry points are the
 * sembed_tokenize* functions in sembed.h; this header is for the model
 * loader, the embedding path and the tests.
 *
 * Thread rule: a loaded tokenizer is read-only. Encoding needs scratch
 * buffers; pass a tok_scratch owned by the calling thread (a context keeps
 * one), or NULL to have the call allocate and free its own.
 */
#ifndef SEMBED_TOKENIZER_H
#define SEMBED_TOKENIZER_H

#include "sembed.h"

typedef struct tok_scratch tok_scratch;

/* Loads tokenizer.json from dir, else vocab.txt + tokenizer_config.json
 * (+ special_tokens_map.json). The max length is left at 0 (unset); the
 * caller sets it with tokenizer_set_max_length() from the model config. */
sembed_status tokenizer_load(const char *dir, sembed_tokenizer **out, sembed_error *err);

/* The same from bytes in memory (any of the three may be NULL/0, but one of
 * tokenizer_json or vocab_txt must be given). Used by the fuzzers. */
sembed_status tokenizer_load_memory(const char *tokenizer_json, size_t tokenizer_json_len,
                                    const char *vocab_txt, size_t vocab_txt_len,
                                    const char *tokenizer_config_json, size_t config_len,
                                    sembed_tokenizer **out, sembed_error *err);

/* tokenizer_load_memory() plus special_tokens_map.json (token names for a
 * vocab.txt tokenizer). */
sembed_status tokenizer_load_memory2(const char *tokenizer_json, size_t tokenizer_json_len,
                                     const char *vocab_txt, size_t vocab_txt_len,
                                     const char *tokenizer_config_json, size_t config_len,
                                     const char *special_map_json, size_t special_map_len,
                                     sembed_tokenizer **out, sembed_error *err);

void tokenizer_free(sembed_tokenizer *tok);

/* Sets the number of tokens per sequence, special tokens included. */
void tokenizer_set_max_length(sembed_tokenizer *tok, int max_length);

/* Prepends a per-character Lowercase normalizer (sentence_bert_config.json
 * do_lower_case: true), as sentence-transformers 6 does. */
void tokenizer_set_force_lowercase(sembed_tokenizer *tok, int on);

tok_scratch *tok_scratch_new(void);
void tok_scratch_free(tok_scratch *s);

/* Encodes text (len bytes of UTF-8) into ids, as sembed_tokenize() does.
 * scratch may be NULL. */
sembed_status tokenizer_encode(const sembed_tokenizer *tok, tok_scratch *scratch,
                               const char *text, size_t len,
                               const sembed_tokenize_params *params, int32_t *ids, size_t cap,
                               size_t *n_ids, size_t *n_untruncated, sembed_error *err);

/* Special token ids; -1 when the vocabulary lacks them. */
int32_t tokenizer_cls_id(const sembed_tokenizer *tok);
int32_t tokenizer_sep_id(const sembed_tokenizer *tok);
int32_t tokenizer_pad_id(const sembed_tokenizer *tok);
int32_t tokenizer_unk_id(const sembed_tokenizer *tok);

/* The largest id the tokenizer can emit (vocabulary and added tokens), so
 * the model loader can check it against the embedding rows. */
int32_t tokenizer_max_id(const sembed_tokenizer *tok);

#endif /* SEMBED_TOKENIZER_H */
