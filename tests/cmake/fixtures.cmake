# Model folders that many tests read (docs/MODEL.md, "Test models").
#
#   tiny_models   the project's own generator (tests/fixtures/make_tiny_model.c)
#                 writes tiny, tiny-f16, tiny-st6, ... into ${SEMBED_FIXTURES};
#                 no reference material needed.
#   minilm_model  ${SEMBED_FIXTURES}/minilm, the synthetic all-MiniLM-L6-v2 behind
#                 ../shared/reference (made once; skipped without ../shared).
#
# A test that reads them declares FIXTURES_REQUIRED tiny_models (or
# minilm_model); tests needing minilm must still skip (exit 77) when the
# folder is absent, since its setup is skipped without ../shared.
add_executable(make_tiny_model ${CMAKE_SOURCE_DIR}/tests/fixtures/make_tiny_model.c)
target_compile_options(make_tiny_model PRIVATE ${SEMBED_C_WARNINGS})
target_link_libraries(make_tiny_model PRIVATE ${MATH_LIBRARY})

sembed_add_script_test(fixture_tiny_models tests/scripts/make_tiny_fixtures.sh
                       $<TARGET_FILE:make_tiny_model>)
set_tests_properties(fixture_tiny_models PROPERTIES FIXTURES_SETUP tiny_models)

sembed_add_script_test(fixture_minilm_model tests/scripts/make_minilm_fixture.sh)
set_tests_properties(fixture_minilm_model PROPERTIES FIXTURES_SETUP minilm_model TIMEOUT 300)

# The generated folders, checked with the project's own readers.
sembed_add_unit_test(test_tiny_models ${CMAKE_SOURCE_DIR}/tests/unit/test_tiny_models.c)
set_tests_properties(test_tiny_models PROPERTIES FIXTURES_REQUIRED tiny_models)
