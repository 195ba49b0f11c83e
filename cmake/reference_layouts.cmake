# Built-in reference layouts (lorakit::model::ModelIndex::reference): the structural descriptions in
# data/layouts/*.layout are expanded at build time into C++ tables by a small host tool, so the key
# lists are never typed by hand. Included by the top-level CMakeLists.txt after lorakit_model exists.
add_executable(lorakit_gen_layouts ${CMAKE_SOURCE_DIR}/scripts/gen_reference_layouts.cpp)
target_compile_options(lorakit_gen_layouts PRIVATE ${LORAKIT_WARNINGS})

file(GLOB LORAKIT_LAYOUT_FILES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/data/layouts/*.layout)
set(LORAKIT_LAYOUT_CPP ${CMAKE_BINARY_DIR}/generated/reference_layouts_data.cpp)
add_custom_command(
  OUTPUT ${LORAKIT_LAYOUT_CPP}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/generated
  COMMAND lorakit_gen_layouts -o ${LORAKIT_LAYOUT_CPP} ${CMAKE_SOURCE_DIR}/data/layouts/references.layout
  DEPENDS lorakit_gen_layouts ${LORAKIT_LAYOUT_FILES}
  COMMENT "Generating reference layouts from data/layouts"
  VERBATIM)
target_sources(lorakit_model PRIVATE ${LORAKIT_LAYOUT_CPP})
