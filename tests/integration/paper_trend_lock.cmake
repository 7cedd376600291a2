# Read by CTest after the tests discovered in integration_test (tests/integration/CMakeLists.txt):
# pipelines/paper_trend.yaml serves its exchange simulator on a fixed port (9464), so the tests
# that run it must not run at the same time under ctest -j: those whose names say
# "paper_trend.yaml", and the one that runs every shipped pipeline.
foreach(test IN LISTS integration_test_TESTS)
  if(test MATCHES "paper_trend\\.yaml" OR test STREQUAL "every pipeline in pipelines/ runs")
    set_tests_properties("${test}" PROPERTIES RESOURCE_LOCK paper_trend_simulator_port)
  endif()
endforeach()
