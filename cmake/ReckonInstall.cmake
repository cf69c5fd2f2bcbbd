# Install rules, the exported package and a build-tree export. Include after ReckonAdapters.
#
# The package: reckon::reckon always; the components eval, openai, llama_cpp and cbc, each in an export
# file of its own (reckon<Name>Targets.cmake) that reckonConfig.cmake loads only where the
# component's dependencies are found at the consumer:
#   find_package(reckon REQUIRED)                            reckon::reckon, plus every installed
#                                                            component whose dependencies are found
#   find_package(reckon REQUIRED COMPONENTS openai eval)     those, or reckon_FOUND false with a
#                                                            message naming what is missing
# A component is installed only where its dependencies are imported targets a consumer can find
# again (an installed nlohmann_json, cpp-httplib, llama.cpp): a fetched nlohmann_json, a
# cpp-httplib or llama.cpp added as a subdirectory, or a llama.cpp build tree cannot be.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(RECKON_CMAKE_DIR "${CMAKE_INSTALL_DATADIR}/cmake/reckon")

# TRUE when `target` (or what an alias names) is an imported target, which a consumer's
# find_package can define again; a target built in this tree cannot be named by reckon's export.
function(_reckon_imported out target)
  set(_imported FALSE)
  if(TARGET ${target})
    get_target_property(_aliased ${target} ALIASED_TARGET)
    if(_aliased)
      set(target ${_aliased})
    endif()
    get_target_property(_imported ${target} IMPORTED)
  endif()
  set(${out} ${_imported} PARENT_SCOPE)
endfunction()

install(TARGETS reckon EXPORT reckonTargets FILE_SET HEADERS)
install(EXPORT reckonTargets NAMESPACE reckon:: DESTINATION "${RECKON_CMAKE_DIR}")
export(EXPORT reckonTargets NAMESPACE reckon:: FILE "${PROJECT_BINARY_DIR}/reckonTargets.cmake")

# An installed component: its target in an export file of its own, in the install and the build tree.
set(RECKON_INSTALLED_COMPONENTS "")
function(_reckon_install_component target file_stem component)
  install(TARGETS ${target} EXPORT ${file_stem} FILE_SET HEADERS)
  install(EXPORT ${file_stem} NAMESPACE reckon:: DESTINATION "${RECKON_CMAKE_DIR}")
  export(EXPORT ${file_stem} NAMESPACE reckon:: FILE "${PROJECT_BINARY_DIR}/${file_stem}.cmake")
  set(RECKON_INSTALLED_COMPONENTS ${RECKON_INSTALLED_COMPONENTS} ${component} PARENT_SCOPE)
endfunction()

_reckon_imported(_json_imported nlohmann_json::nlohmann_json)
if(TARGET reckon_eval_headers AND _json_imported AND NOT RECKON_JSON_FETCHED)
  _reckon_install_component(reckon_eval_headers reckonEvalTargets eval)
elseif(TARGET reckon_eval_headers)
  message(STATUS "reckon: reckon::eval is not installed: its nlohmann_json is not an installed package")
endif()

# cpp-httplib is found at the consumer the way it was found here: its own CMake package
# (httplib::httplib) or Debian's pkg-config file (PkgConfig::RECKON_CPP_HTTPLIB).
set(RECKON_INSTALLED_HTTPLIB "")
if(TARGET reckon_openai)
  _reckon_imported(_httplib_imported ${_reckon_httplib_target})
  if(_json_imported AND NOT RECKON_JSON_FETCHED AND _httplib_imported)
    _reckon_install_component(reckon_openai reckonOpenaiTargets openai)
    set(RECKON_INSTALLED_HTTPLIB "${_reckon_httplib_target}")
  else()
    message(STATUS "reckon: reckon::openai is not installed: its cpp-httplib or nlohmann_json is not an installed package")
  endif()
endif()

# CBC comes from its pkg-config file, which a consumer's pkg-config finds again.
if(TARGET reckon_cbc)
  _reckon_install_component(reckon_cbc reckonCbcTargets cbc)
endif()

# llama.cpp's package defines an imported `llama`; a build tree (reckon_llama_imported, absolute
# paths into it) or a llama.cpp added as a subdirectory cannot be found again by a consumer.
if(TARGET reckon_llama_cpp)
  _reckon_imported(_llama_imported ${_reckon_llama_target})
  if(_llama_imported AND _reckon_llama_target STREQUAL "llama" AND llama_DIR)
    _reckon_install_component(reckon_llama_cpp reckonLlamaCppTargets llama_cpp)
  else()
    message(STATUS "reckon: reckon::llama_cpp is not installed: it needs llama.cpp found as an installed "
                   "package (find_package(llama), or RECKON_LLAMA_CPP_DIR = llama.cpp's install prefix), "
                   "not a build tree or a subdirectory")
  endif()
endif()
list(JOIN RECKON_INSTALLED_COMPONENTS ", " _reckon_list)
if(NOT _reckon_list)
  set(_reckon_list "none")
endif()
message(STATUS "reckon: components installed besides reckon::reckon: ${_reckon_list}")

configure_package_config_file("${CMAKE_CURRENT_LIST_DIR}/reckonConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/reckonConfig.cmake"
  INSTALL_DESTINATION "${RECKON_CMAKE_DIR}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/reckonConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion
  ARCH_INDEPENDENT)
install(FILES "${PROJECT_BINARY_DIR}/reckonConfig.cmake" "${PROJECT_BINARY_DIR}/reckonConfigVersion.cmake"
  DESTINATION "${RECKON_CMAKE_DIR}")
install(FILES "${PROJECT_SOURCE_DIR}/LICENSE" DESTINATION "${CMAKE_INSTALL_DATADIR}/doc/reckon")
