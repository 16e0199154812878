# Hugging Face Hub downloads (src/hub, sembed pull, --model resolution).
# test_hub: names, URL encoding, cache layout, the file plan, headers and the
# calls that need no network. hub_*: the sembed tool against a fake Hub on
# 127.0.0.1 (tests/scripts/fake_hub.py, Python standard library only) with a
# temporary HF_HUB_CACHE; they serve ${SEMBED_FIXTURES}/tiny when the
# tiny_models fixture made it, else a small folder of their own.
sembed_add_unit_test(test_hub ${CMAKE_SOURCE_DIR}/tests/unit/test_hub.c)
set_tests_properties(test_hub PROPERTIES LABELS hub TIMEOUT 30)

foreach(case pull offline resume badsha errors pycache names layouts)
  sembed_add_script_test(hub_${case} tests/scripts/hub_${case}.sh)
  set_tests_properties(hub_${case} PROPERTIES LABELS hub TIMEOUT 60
                       FIXTURES_REQUIRED tiny_models)
endforeach()
