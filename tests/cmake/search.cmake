# Semantic search (src/search except the HNSW files) and `sembed search`.
# See docs/SEARCH.md.
#
#   test_search          synthetic data against a double-precision oracle,
#                        bad inputs, ties, thread/chunk invariance, kernels,
#                        quantization semantics (no reference material)
#   test_search_golden   util.semantic_search and quantize_embeddings
#                        outputs of ../shared/reference (skips without it)
#   search_cli           sembed search --json against the same reference,
#                        through .npy and pandas CSV files, and its errors
#   search_text          sembed search --model ... --query (tiny model)
sembed_add_unit_test(test_search ${CMAKE_SOURCE_DIR}/tests/unit/test_search.c)
set_tests_properties(test_search PROPERTIES LABELS search TIMEOUT 60)

sembed_add_unit_test(test_search_golden ${CMAKE_SOURCE_DIR}/tests/unit/test_search_golden.c)
set_tests_properties(test_search_golden PROPERTIES LABELS search TIMEOUT 60)

sembed_add_script_test(search_cli tests/scripts/search_cli.sh)
set_tests_properties(search_cli PROPERTIES LABELS search TIMEOUT 120)

sembed_add_script_test(search_text tests/scripts/search_text.sh)
set_tests_properties(search_text PROPERTIES LABELS search TIMEOUT 120
                     FIXTURES_REQUIRED tiny_models)
