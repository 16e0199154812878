# Tokenizer tests: per-stage unit tests (inline vocabularies), the golden
# comparison with Hugging Face tokenizers' output, timing guards, the
# `sembed tokenize` command, and a differential run against tokenizers
# itself (skipped unless node and the npm package "tokenizers" are there).
sembed_add_unit_test(test_tokenizer unit/test_tokenizer.c)
sembed_add_unit_test(test_tokenizer_golden unit/test_tokenizer_golden.c)
sembed_add_unit_test(test_tokenizer_timing unit/test_tokenizer_timing.c)
sembed_add_script_test(tokenize_cli tests/scripts/tokenize_cli.sh)
sembed_add_script_test(tokenizer_diff tests/scripts/tokenizer_diff.sh)

# The fast model.vocab reader gives the same tokenizer as the full JSON parse.
sembed_add_unit_test(test_vocab_scan ${CMAKE_SOURCE_DIR}/tests/unit/test_vocab_scan.c)
