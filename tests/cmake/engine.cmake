# The encoder: kernels (SIMD against scalar twins), forward pass, pooling,
# the public embedding API and the golden checks against sentence-transformers.
sembed_add_unit_test(test_kernels ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_kernels.c)

# Golden check against sentence-transformers' outputs (skips without ../shared).
sembed_add_unit_test(test_golden_embed ${CMAKE_CURRENT_SOURCE_DIR}/golden/test_golden_embed.c)
set_tests_properties(test_golden_embed PROPERTIES FIXTURES_REQUIRED minilm_model TIMEOUT 600)
