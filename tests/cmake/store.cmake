# The store (src/store/), the HNSW index (src/search/hnsw*) and the store
# commands (sembed index, sembed search --db, sembed faq). See docs/STORE.md.
sembed_add_unit_test(test_hnsw ${CMAKE_SOURCE_DIR}/tests/unit/test_hnsw.c)
sembed_add_unit_test(test_store ${CMAKE_SOURCE_DIR}/tests/unit/test_store.c)
target_link_libraries(test_store PRIVATE PkgConfig::SQLITE3)

# A program the script tests drive (adds in a loop, checks, HNSW files).
add_executable(store_helper ${CMAKE_SOURCE_DIR}/tests/unit/store_helper.c)
target_compile_options(store_helper PRIVATE ${SEMBED_C_WARNINGS})
target_link_libraries(store_helper PRIVATE sembed)

sembed_add_script_test(store_durability tests/scripts/store_durability.sh
                       $<TARGET_FILE:store_helper>)
set_tests_properties(store_durability PROPERTIES TIMEOUT 120)

sembed_add_script_test(store_hnsw_interop tests/scripts/store_hnsw_interop.sh
                       $<TARGET_FILE:store_helper>)

# End to end with models: the tiny test model, and the synthetic MiniLM
# against the sentence-transformers reference (skipped without it).
sembed_add_script_test(store_cli tests/scripts/store_cli.sh)
set_tests_properties(store_cli PROPERTIES FIXTURES_REQUIRED tiny_models TIMEOUT 120)
sembed_add_script_test(store_minilm tests/scripts/store_minilm.sh)
set_tests_properties(store_minilm PROPERTIES FIXTURES_REQUIRED minilm_model TIMEOUT 120)
