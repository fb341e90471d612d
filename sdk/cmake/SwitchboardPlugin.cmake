# switchboard_add_plugin(<name> SOURCES <files...> [SCHEMAS <json files...>]
#                        [LIBRARIES <targets...>])
#
# Builds a Switchboard plugin as a MODULE library named <name>.so. Every file
# listed in SCHEMAS is embedded in a generated header <name>_schemas.h as a
# std::string_view constant in namespace <name>_schemas, named after the file
# path with every non-alphanumeric character replaced by '_' (schema.json ->
# schema_json): the JSON file stays the single source of the schema.
function(switchboard_add_plugin name)
  cmake_parse_arguments(ARG "" "" "SOURCES;SCHEMAS;LIBRARIES" ${ARGN})
  add_library(${name} MODULE ${ARG_SOURCES})
  set_target_properties(${name} PROPERTIES PREFIX "" OUTPUT_NAME ${name}
                        CXX_VISIBILITY_PRESET hidden C_VISIBILITY_PRESET hidden)
  if(DEFINED SB_PLUGIN_OUTPUT_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${SB_PLUGIN_OUTPUT_DIR})
  endif()
  target_link_libraries(${name} PRIVATE Switchboard::sdk ${ARG_LIBRARIES})
  if(ARG_SCHEMAS)
    switchboard_embed_json(${name} ${name}_schemas ${ARG_SCHEMAS})
  endif()
endfunction()

# switchboard_embed_json(<target> <namespace> <json files...>)
# Generates <namespace>.h with one std::string_view per file (see above) and
# adds its folder to <target>'s include path.
function(switchboard_embed_json target namespace)
  set(header ${CMAKE_CURRENT_BINARY_DIR}/generated/${namespace}.h)
  set(content "// Generated from ${ARGN}; edit those files instead.\n#pragma once\n#include <string_view>\nnamespace ${namespace} {\n")
  foreach(file IN LISTS ARGN)
    file(READ ${CMAKE_CURRENT_SOURCE_DIR}/${file} json)
    string(MAKE_C_IDENTIFIER "${file}" ident)
    string(APPEND content "inline constexpr std::string_view ${ident} = R\"sbjson(${json})sbjson\";\n")
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${file})
  endforeach()
  string(APPEND content "}  // namespace ${namespace}\n")
  file(CONFIGURE OUTPUT ${header} CONTENT "${content}" @ONLY)
  target_include_directories(${target} PRIVATE ${CMAKE_CURRENT_BINARY_DIR}/generated)
endfunction()
