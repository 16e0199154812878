# The encoder: kernels (SIMD against scalar twins), forward pass, pooling,
# the public embedding API and the golden checks against sentence-transformers.
sembed_add_unit_test(test_kernels ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_kernels.c)

# Golden check against sentence-transformers' outputs (skips without ../shared).
sembed_add_unit_test(test_golden_embed ${CMAKE_CURRENT_SOURCE_DIR}/golden/test_golden_embed.c)
set_tests_properties(test_golden_embed PROPERTIES FIXTURES_REQUIRED minilm_model TIMEOUT 600)

# The engine against the PyTorch oracle on every tiny model variant
# (self-contained: no reference material needed).
sembed_add_script_test(engine_vs_oracle tests/scripts/engine_vs_oracle.sh)
set_tests_properties(engine_vs_oracle PROPERTIES FIXTURES_REQUIRED tiny_models TIMEOUT 300)

# The public embedding API on the tiny model (self-contained).
sembed_add_unit_test(test_embed_api ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_embed_api.c)
set_tests_properties(test_embed_api PROPERTIES FIXTURES_REQUIRED tiny_models)

# The per-sequence path's handoffs between threads, forced at fixed step
# counts, give the per-product path's bits (self-contained).
sembed_add_unit_test(test_encoder_split ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_encoder_split.c)
set_tests_properties(test_encoder_split PROPERTIES FIXTURES_REQUIRED tiny_models)

# `sembed embed` formats and bad inputs (self-contained).
sembed_add_script_test(embed_cli tests/scripts/embed_cli.sh)
set_tests_properties(embed_cli PROPERTIES FIXTURES_REQUIRED tiny_models TIMEOUT 300)
sembed_add_script_test(bench_cli tests/scripts/bench_cli.sh)
set_tests_properties(bench_cli PROPERTIES FIXTURES_REQUIRED tiny_models TIMEOUT 300)

# The seed's FAQs through the CLI against the reference vectors.
sembed_add_script_test(faq_golden_cli tests/scripts/faq_golden_cli.sh)
set_tests_properties(faq_golden_cli PROPERTIES FIXTURES_REQUIRED minilm_model TIMEOUT 120)

# The worker pool the encoder runs on.
sembed_add_unit_test(test_threadpool ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_threadpool.c)
set_tests_properties(test_threadpool PROPERTIES TIMEOUT 120)

# Run-time dispatch on CPUs without AVX-512 and without AVX, under QEMU's
# user-mode emulation (self-contained; skips without qemu-user).
sembed_add_script_test(dispatch_qemu tests/scripts/dispatch_qemu.sh)
set_tests_properties(dispatch_qemu PROPERTIES FIXTURES_REQUIRED tiny_models TIMEOUT 600)
