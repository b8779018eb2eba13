# haveri_add_plugin(<name> SOURCES ...): builds libhaveri_<name>.so into the plugin
# directory. A plugin links only the SDK (C ABI header and C++ helper): never core,
# never Boost. Only the entry symbol is exported.
function(haveri_add_plugin name)
  cmake_parse_arguments(ARG "" "OUTPUT_DIRECTORY" "SOURCES;LIBRARIES" ${ARGN})
  set(target haveri_${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  if(NOT ARG_OUTPUT_DIRECTORY)
    set(ARG_OUTPUT_DIRECTORY "${HAVERI_PLUGIN_OUTPUT_DIR}")
  endif()
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    OUTPUT_NAME "haveri_${name}"
    LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIRECTORY}"
    CXX_VISIBILITY_PRESET hidden
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  target_link_libraries(${target} PRIVATE haveri_plugin_sdk ${ARG_LIBRARIES})
  haveri_set_warnings(${target})
endfunction()
