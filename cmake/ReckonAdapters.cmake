# Opt-in engine adapters. Each target exists only when its dependency is found; reckon never
# downloads or builds an engine. Include after the `reckon` target exists.
#
#   reckon::llama_cpp  <reckon/adapters/llama*.hpp>  needs llama.cpp: find_package(llama), or
#                      RECKON_LLAMA_CPP_DIR = an installed prefix or a build tree of llama.cpp
#   reckon::openai     <reckon/adapters/openai*.hpp>: needs cpp-httplib and nlohmann_json; https
#                      where cpp-httplib was built with OpenSSL (Debian's is)
#   reckon::cbc        <reckon/adapters/cbc*.hpp>: ETS's program on COIN-OR CBC, found through
#                      pkg-config (cbc.pc; Debian: coinor-libcbc-dev)
#
# RECKON_HAS_LLAMA_CPP / RECKON_HAS_OPENAI / RECKON_HAS_CBC say which were created. Both install as components of
# the reckon package where their dependencies are installed packages (ReckonInstall.cmake).

set(RECKON_LLAMA_CPP_DIR "" CACHE PATH
  "llama.cpp for reckon::llama_cpp: an install prefix (with lib/cmake/llama) or a build tree (with its source tree next to it or in RECKON_LLAMA_CPP_SOURCE_DIR)")
set(RECKON_LLAMA_CPP_SOURCE_DIR "" CACHE PATH "llama.cpp's source tree, when RECKON_LLAMA_CPP_DIR is a build tree")

cmake_path(SET _reckon_include_dir NORMALIZE "${CMAKE_CURRENT_LIST_DIR}/../include")
set(_reckon_adapter_dir "${_reckon_include_dir}/reckon/adapters")

# Each adapter's headers, by name, so that a new adapter header is installed without a list to
# keep: openai*.hpp and detail/openai*.hpp are reckon::openai's, llama*.hpp and detail/llama*.hpp
# reckon::llama_cpp's, cbc*.hpp reckon::cbc's, any other detail/*.hpp goes with the first two
# (detail/stats.hpp); prompted_reviser.hpp needs only the core and is reckon::reckon's.
file(GLOB _reckon_adapter_top CONFIGURE_DEPENDS "${_reckon_adapter_dir}/*.hpp")
file(GLOB _reckon_adapter_detail CONFIGURE_DEPENDS "${_reckon_adapter_dir}/detail/*.hpp")
set(_reckon_openai_headers "")
set(_reckon_llama_headers "")
set(_reckon_cbc_headers "")
foreach(_h IN LISTS _reckon_adapter_top _reckon_adapter_detail)
  get_filename_component(_n "${_h}" NAME)
  if(_n MATCHES "^openai")
    list(APPEND _reckon_openai_headers "${_h}")
  elseif(_n MATCHES "^llama")
    list(APPEND _reckon_llama_headers "${_h}")
  elseif(_n MATCHES "^cbc" AND NOT _h IN_LIST _reckon_adapter_detail)
    list(APPEND _reckon_cbc_headers "${_h}")
  elseif(_h IN_LIST _reckon_adapter_detail)
    list(APPEND _reckon_openai_headers "${_h}")
    list(APPEND _reckon_llama_headers "${_h}")
  elseif(_n STREQUAL "prompted_reviser.hpp")
    # Core only (any sampling model becomes a reviser): reckon::reckon's, see ReckonDependencies.cmake.
  else()
    message(WARNING "reckon: ${_h} belongs to no adapter target (name it openai*.hpp, llama*.hpp or cbc*.hpp): "
                    "it is neither verified nor installed")
  endif()
endforeach()
# reckon::<export_name> as INTERFACE target reckon_<export_name>: the core plus its dependencies,
# its headers as a header set (installed and verified like the core's).
function(reckon_add_adapter export_name headers)
  add_library(reckon_${export_name} INTERFACE)
  add_library(reckon::${export_name} ALIAS reckon_${export_name})
  set_target_properties(reckon_${export_name} PROPERTIES EXPORT_NAME ${export_name})
  target_link_libraries(reckon_${export_name} INTERFACE reckon::reckon ${ARGN})
  target_sources(reckon_${export_name} INTERFACE
    FILE_SET HEADERS
    BASE_DIRS "${_reckon_include_dir}"
    FILES ${headers})
endfunction()

set(RECKON_HAS_LLAMA_CPP OFF)
set(RECKON_HAS_OPENAI OFF)
set(RECKON_HAS_CBC OFF)

# ---- llama.cpp ----------------------------------------------------------------------------------
set(_reckon_llama_target "")
if(TARGET llama)
  set(_reckon_llama_target llama) # the parent added llama.cpp itself
else()
  # A build tree's llama-config.cmake describes the install, not the tree: import trees by hand.
  set(_reckon_llama_build_tree OFF)
  if(RECKON_LLAMA_CPP_DIR AND EXISTS "${RECKON_LLAMA_CPP_DIR}/CMakeCache.txt")
    set(_reckon_llama_build_tree ON)
  elseif(RECKON_LLAMA_CPP_DIR)
    # An install prefix: llama-config.cmake looks for ggml the same way, so search the prefix first.
    set(_reckon_saved_prefix_path "${CMAKE_PREFIX_PATH}")
    list(PREPEND CMAKE_PREFIX_PATH "${RECKON_LLAMA_CPP_DIR}")
    find_package(llama QUIET CONFIG)
    set(CMAKE_PREFIX_PATH "${_reckon_saved_prefix_path}")
  else()
    find_package(llama QUIET CONFIG)
  endif()
  if(TARGET llama)
    set(_reckon_llama_target llama)
  elseif(_reckon_llama_build_tree)
    # A build tree: libllama and libggml* under bin/ or src/, headers in the source tree.
    set(_src "${RECKON_LLAMA_CPP_SOURCE_DIR}")
    if(NOT _src AND EXISTS "${RECKON_LLAMA_CPP_DIR}/CMakeCache.txt")
      file(STRINGS "${RECKON_LLAMA_CPP_DIR}/CMakeCache.txt" _home REGEX "^CMAKE_HOME_DIRECTORY:INTERNAL=")
      string(REGEX REPLACE "^CMAKE_HOME_DIRECTORY:INTERNAL=" "" _src "${_home}")
    endif()
    find_path(_reckon_llama_h llama.h HINTS "${RECKON_LLAMA_CPP_DIR}/include" "${_src}/include" NO_DEFAULT_PATH)
    find_path(_reckon_ggml_h ggml.h HINTS "${RECKON_LLAMA_CPP_DIR}/include" "${_src}/ggml/include" NO_DEFAULT_PATH)
    find_library(_reckon_llama_lib llama HINTS "${RECKON_LLAMA_CPP_DIR}/bin" "${RECKON_LLAMA_CPP_DIR}/src"
      "${RECKON_LLAMA_CPP_DIR}/lib" NO_DEFAULT_PATH)
    set(_ggml_libs "")
    foreach(_g ggml ggml-base ggml-cpu)
      find_library(_reckon_${_g}_lib ${_g} HINTS "${RECKON_LLAMA_CPP_DIR}/bin" "${RECKON_LLAMA_CPP_DIR}/ggml/src"
        "${RECKON_LLAMA_CPP_DIR}/lib" NO_DEFAULT_PATH)
      if(_reckon_${_g}_lib)
        list(APPEND _ggml_libs "${_reckon_${_g}_lib}")
      endif()
    endforeach()
    if(_reckon_llama_h AND _reckon_ggml_h AND _reckon_llama_lib)
      add_library(reckon_llama_imported UNKNOWN IMPORTED)
      set_target_properties(reckon_llama_imported PROPERTIES
        IMPORTED_LOCATION "${_reckon_llama_lib}"
        INTERFACE_INCLUDE_DIRECTORIES "${_reckon_llama_h};${_reckon_ggml_h}"
        INTERFACE_LINK_LIBRARIES "${_ggml_libs}")
      set(_reckon_llama_target reckon_llama_imported)
    endif()
  endif()
endif()

# The adapter needs the llama_memory_* API (August 2025 on) and llama_context_params::kv_unified:
# an older llama.cpp gets a clear configure-time error instead of a wall of compile errors.
if(_reckon_llama_target)
  set(_reckon_llama_h_file "")
  if(_reckon_llama_h)
    set(_reckon_llama_h_file "${_reckon_llama_h}/llama.h")
  else()
    get_target_property(_reckon_llama_incs ${_reckon_llama_target} INTERFACE_INCLUDE_DIRECTORIES)
    if(_reckon_llama_incs)
      foreach(_inc IN LISTS _reckon_llama_incs)
        string(REGEX REPLACE "^\\$<(BUILD|INSTALL)_INTERFACE:(.*)>$" "\\2" _inc "${_inc}")
        if(NOT _reckon_llama_h_file AND EXISTS "${_inc}/llama.h")
          set(_reckon_llama_h_file "${_inc}/llama.h")
        endif()
      endforeach()
    endif()
  endif()
  if(_reckon_llama_h_file)
    file(READ "${_reckon_llama_h_file}" _reckon_llama_h_text)
    foreach(_needed llama_memory_seq_cp llama_memory_seq_rm kv_unified)
      string(FIND "${_reckon_llama_h_text}" "${_needed}" _at)
      if(_at EQUAL -1)
        message(FATAL_ERROR "reckon: the llama.cpp at ${_reckon_llama_h_file} is too old for reckon::llama_cpp: "
                            "its llama.h has no ${_needed} (reckon needs the llama_memory_* API and kv_unified, "
                            "llama.cpp from August 2025 on; tested with b10108). Update llama.cpp, or configure "
                            "without it.")
      endif()
    endforeach()
  endif()
endif()

if(_reckon_llama_target)
  reckon_add_adapter(llama_cpp "${_reckon_llama_headers}" ${_reckon_llama_target})
  set(RECKON_HAS_LLAMA_CPP ON)
  message(STATUS "reckon: llama.cpp found; reckon::llama_cpp created")
elseif(RECKON_LLAMA_CPP_DIR)
  message(WARNING "reckon: no llama.cpp at RECKON_LLAMA_CPP_DIR=${RECKON_LLAMA_CPP_DIR}; reckon::llama_cpp is not created")
else()
  message(STATUS "reckon: llama.cpp not found (find_package(llama) or RECKON_LLAMA_CPP_DIR); no reckon::llama_cpp")
endif()

# ---- OpenAI-compatible servers --------------------------------------------------------------------
# cpp-httplib: its own CMake package where upstream-installed; Debian ships a compiled library with
# only a pkg-config file (whose Cflags carry the feature macros the library was built with).
set(_reckon_httplib_target "")
if(TARGET httplib::httplib)
  set(_reckon_httplib_target httplib::httplib)
else()
  find_package(httplib QUIET CONFIG)
  if(TARGET httplib::httplib)
    set(_reckon_httplib_target httplib::httplib)
  else()
    find_package(PkgConfig QUIET)
    if(PKG_CONFIG_FOUND)
      pkg_check_modules(RECKON_CPP_HTTPLIB QUIET IMPORTED_TARGET cpp-httplib)
      if(RECKON_CPP_HTTPLIB_FOUND)
        set(_reckon_httplib_target PkgConfig::RECKON_CPP_HTTPLIB)
      endif()
    endif()
  endif()
endif()
if(NOT TARGET nlohmann_json::nlohmann_json)
  find_package(nlohmann_json 3.9 QUIET CONFIG)
endif()

if(_reckon_httplib_target AND TARGET nlohmann_json::nlohmann_json)
  find_package(Threads REQUIRED)
  reckon_add_adapter(openai "${_reckon_openai_headers}" ${_reckon_httplib_target} nlohmann_json::nlohmann_json
    Threads::Threads)
  set(RECKON_HAS_OPENAI ON)
  # https needs a cpp-httplib built with OpenSSL; its target carries the macro that says so.
  set(_reckon_tls "no (cpp-httplib without OpenSSL: https URLs are refused)")
  foreach(_prop INTERFACE_COMPILE_DEFINITIONS INTERFACE_COMPILE_OPTIONS)
    get_target_property(_v ${_reckon_httplib_target} ${_prop})
    if(_v MATCHES "CPPHTTPLIB_OPENSSL_SUPPORT")
      set(_reckon_tls "yes")
    endif()
  endforeach()
  message(STATUS "reckon: cpp-httplib and nlohmann_json found; reckon::openai created (https: ${_reckon_tls})")
else()
  message(STATUS "reckon: cpp-httplib or nlohmann_json not found; no reckon::openai")
endif()

# ---- COIN-OR CBC (ETS's program) ------------------------------------------------------------------
# CBC's C interface (Cbc_C_Interface.h) through its pkg-config file, whose Cflags put include/coin
# on the path and whose Libs bring Cbc's dependencies (Clp, Cgl, Osi, CoinUtils).
set(_reckon_cbc_target "")
if(TARGET PkgConfig::RECKON_CBC)
  set(_reckon_cbc_target PkgConfig::RECKON_CBC)
else()
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    pkg_check_modules(RECKON_CBC QUIET IMPORTED_TARGET cbc)
    if(RECKON_CBC_FOUND)
      set(_reckon_cbc_target PkgConfig::RECKON_CBC)
    endif()
  endif()
endif()
if(_reckon_cbc_target)
  reckon_add_adapter(cbc "${_reckon_cbc_headers}" ${_reckon_cbc_target})
  set(RECKON_HAS_CBC ON)
  message(STATUS "reckon: CBC ${RECKON_CBC_VERSION} found; reckon::cbc created")
else()
  message(STATUS "reckon: CBC not found (pkg-config cbc; Debian: coinor-libcbc-dev); no reckon::cbc")
endif()

if(PROJECT_IS_TOP_LEVEL)
  foreach(_t reckon_llama_cpp reckon_openai reckon_cbc)
    if(TARGET ${_t})
      set_target_properties(${_t} PROPERTIES VERIFY_INTERFACE_HEADER_SETS ON)
    endif()
  endforeach()
endif()
