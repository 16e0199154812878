# `sembed serve` (src/server/, docs/SERVER.md).
#
#   test_server_api     the request layer in-process with a stub backend: every
#                       route, error path, limit and the JSON writers (plus
#                       JSONTestSuite when ../shared is present)
#   server_*            the real server on 127.0.0.1 and a free port, started and
#                       stopped by PID: routes over HTTP, limits, shutdown, the
#                       seed's client code, and load with wrk
set(SEMBED_SERVER_SOURCES ${CMAKE_SOURCE_DIR}/src/server/api.c
                          ${CMAKE_SOURCE_DIR}/src/server/buf.c)

sembed_add_unit_test(test_server_api ${CMAKE_SOURCE_DIR}/tests/server/test_server_api.c
                     ${SEMBED_SERVER_SOURCES})
target_include_directories(test_server_api PRIVATE ${CMAKE_SOURCE_DIR}/src/server)
target_compile_options(test_server_api PRIVATE ${SEMBED_C_WARNINGS})

# End-to-end: the real server over HTTP (tiny model; JSONTestSuite when
# ../shared is present).
sembed_add_script_test(server_http tests/server/py.sh tests/server/test_http.py)
set_tests_properties(server_http PROPERTIES FIXTURES_REQUIRED tiny_models TIMEOUT 300)
if(SEMBED_SANITIZE)
  set_property(TEST server_http APPEND PROPERTY ENVIRONMENT "SEMBED_SANITIZE=ON")
endif()

# The seed's client code, unchanged, against the server (the synthetic MiniLM
# when ../shared is present, else the tiny model), then /search against
# `sembed search` over the CSV it wrote and over a store.
sembed_add_script_test(server_seed_client tests/server/py.sh tests/server/test_seed_client.py)
set_tests_properties(server_seed_client PROPERTIES FIXTURES_REQUIRED "tiny_models;minilm_model"
                     TIMEOUT 300)

# Load with wrk (loopback, bounded): 64 connections for SEMBED_LOAD_SECONDS
# (60 s by default; 15 s in the sanitizer build, which says so in its output),
# an overload run (only 200 and 429) and 500 slowloris connections. Run alone
# so that other tests do not skew its figures.
sembed_add_script_test(server_load tests/server/py.sh tests/server/test_load.py)
set_tests_properties(server_load PROPERTIES FIXTURES_REQUIRED "tiny_models;minilm_model"
                     TIMEOUT 600 RUN_SERIAL TRUE)
if(SEMBED_SANITIZE)
  set_property(TEST server_seed_client server_load APPEND PROPERTY ENVIRONMENT
               "SEMBED_SANITIZE=ON")
  set_property(TEST server_load APPEND PROPERTY ENVIRONMENT "SEMBED_LOAD_SECONDS_DEFAULT=15")
endif()
