# Model-folder files: the safetensors reader and the config parsers
# (src/model/safetensors.c, src/model/config.c). See docs/MODEL.md.
sembed_add_unit_test(test_safetensors ${CMAKE_SOURCE_DIR}/tests/unit/test_safetensors.c)
sembed_add_unit_test(test_config ${CMAKE_SOURCE_DIR}/tests/unit/test_config.c)

# The PyTorch oracle (tests/scripts/torch_reference.py) checked against the
# reference outputs; skipped without ../shared, torch or the minilm fixture.
sembed_add_script_test(torch_oracle_vs_reference tests/scripts/torch_oracle_vs_reference.sh)
set_tests_properties(torch_oracle_vs_reference PROPERTIES FIXTURES_REQUIRED minilm_model
                     TIMEOUT 300)

# The oracle over the tiny variants (no reference material needed).
sembed_add_script_test(torch_oracle_tiny tests/scripts/torch_oracle_tiny.sh)
set_tests_properties(torch_oracle_tiny PROPERTIES FIXTURES_REQUIRED tiny_models TIMEOUT 120)
