# qflow_add_plugin(<target> SOURCES <files...> [OUTPUT_DIRECTORY <dir>])
#
# Builds a node library that the qflow host can load: a MODULE library linked to qflow::sdk,
# with hidden visibility so that only the `qflow_plugin` entry point is exported and one
# plugin's internal symbols never bind to another's.
function(qflow_add_plugin target)
  cmake_parse_arguments(ARG "" "OUTPUT_DIRECTORY" "SOURCES" ${ARGN})
  add_library(${target} MODULE ${ARG_SOURCES})
  if(TARGET qflow_sdk)
    target_link_libraries(${target} PRIVATE qflow_sdk)
  else()
    target_link_libraries(${target} PRIVATE qflow::sdk)
  endif()
  set_target_properties(${target} PROPERTIES
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    CXX_STANDARD 20
    CXX_STANDARD_REQUIRED ON)
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIRECTORY})
  endif()
endfunction()
