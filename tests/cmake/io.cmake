# Embedding files (src/io): CSV, .npy and JSON Lines. See docs/FORMATS.md.
#
#   test_io            numbers, the CSV parser, the three readers and writers,
#                      limits, corrupted/truncated input, atomic writes
#   test_csv_spectrum  the csv-spectrum acid test (skips without ../shared)
#   io_python          round trips with pandas and numpy (/usr/bin/python3;
#                      skips without python3-numpy / python3-pandas)
sembed_add_unit_test(test_io ${CMAKE_SOURCE_DIR}/tests/unit/test_io.c)
set_tests_properties(test_io PROPERTIES LABELS io TIMEOUT 60)

sembed_add_unit_test(test_csv_spectrum ${CMAKE_SOURCE_DIR}/tests/unit/test_csv_spectrum.c)
set_tests_properties(test_csv_spectrum PROPERTIES LABELS io TIMEOUT 30)

# The converter the Python round trips drive (not a test itself).
add_executable(io_convert ${CMAKE_SOURCE_DIR}/tests/tools/io_convert.c)
target_link_libraries(io_convert PRIVATE sembed)

sembed_add_script_test(io_python tests/scripts/io_python.sh $<TARGET_FILE:io_convert>)
set_tests_properties(io_python PROPERTIES LABELS io TIMEOUT 120)
