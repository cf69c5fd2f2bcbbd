# reckon's dependencies: a target the parent project already has wins; then find_package;
# then, only for users with the network, FetchContent (FIND_PACKAGE_ARGS tries find_package first).
include(FetchContent)

# The headers that make up the `reckon` target: everything under include/ but the opt-in parts,
# which get targets of their own when their dependency is found: the engine adapters
# (ReckonAdapters.cmake) and RECKON_EVAL_HEADERS, the headers that read and write JSON with
# nlohmann_json (reckon::eval: replay, reckon-eval's harness, registry and reports, the
# compute-optimal table's I/O).
file(GLOB_RECURSE RECKON_CORE_HEADERS CONFIGURE_DEPENDS
  "${CMAKE_CURRENT_SOURCE_DIR}/include/reckon/*.hpp")
# The engine adapters' headers are their targets' (ReckonAdapters.cmake); prompted_reviser.hpp,
# which needs only the core, stays reckon::reckon's.
list(FILTER RECKON_CORE_HEADERS EXCLUDE REGEX "/include/reckon/adapters/(openai|llama|cbc|detail/)")
set(_reckon_eval_regex "/include/reckon/(eval/.*|testing/replay_model\\.hpp|strategy/compute_optimal_io\\.hpp)$")
set(RECKON_EVAL_HEADERS ${RECKON_CORE_HEADERS})
list(FILTER RECKON_EVAL_HEADERS INCLUDE REGEX "${_reckon_eval_regex}")
list(FILTER RECKON_CORE_HEADERS EXCLUDE REGEX "${_reckon_eval_regex}")

# Says, before a FetchContent clone that fails offline, which package would have avoided it.
function(reckon_hint_fetch package debian_package)
  message(STATUS "reckon: ${package} not found installed; fetching its sources (needs the network). "
                 "Offline, install it instead: apt-get install ${debian_package}")
endfunction()

if(NOT TARGET Eigen3::Eigen)
  find_package(Eigen3 3.4 QUIET NO_MODULE)
  if(NOT Eigen3_FOUND)
    reckon_hint_fetch(Eigen3 libeigen3-dev)
  endif()
  FetchContent_Declare(Eigen3
    GIT_REPOSITORY https://gitlab.com/libeigen/eigen.git
    GIT_TAG 3.4.0
    GIT_SHALLOW TRUE
    FIND_PACKAGE_ARGS 3.4 NO_MODULE)
  set(EIGEN_BUILD_TESTING OFF CACHE BOOL "" FORCE)
  set(EIGEN_BUILD_DOC OFF CACHE BOOL "" FORCE)
  FetchContent_MakeAvailable(Eigen3)
endif()

if(NOT TARGET xtensor)
  find_package(xtensor QUIET)
  if(NOT xtensor_FOUND)
    reckon_hint_fetch(xtensor xtensor-dev)
  endif()
  FetchContent_Declare(xtl
    GIT_REPOSITORY https://github.com/xtensor-stack/xtl.git
    GIT_TAG 0.7.7
    GIT_SHALLOW TRUE
    FIND_PACKAGE_ARGS)
  FetchContent_Declare(xtensor
    GIT_REPOSITORY https://github.com/xtensor-stack/xtensor.git
    GIT_TAG 0.26.0
    GIT_SHALLOW TRUE
    FIND_PACKAGE_ARGS)
  FetchContent_MakeAvailable(xtl xtensor)
endif()

if(NOT TARGET fmt::fmt)
  find_package(fmt 9 QUIET)
  if(NOT fmt_FOUND)
    reckon_hint_fetch(fmt libfmt-dev)
  endif()
  FetchContent_Declare(fmt
    GIT_REPOSITORY https://github.com/fmtlib/fmt.git
    GIT_TAG 11.1.4
    GIT_SHALLOW TRUE
    FIND_PACKAGE_ARGS 9)
  FetchContent_MakeAvailable(fmt)
endif()

# nlohmann_json, for reckon::eval (and reckon::openai): used when installed. reckon's own tests and
# examples need it, so for them alone it is fetched when missing (RECKON_JSON_FETCHED says so: a
# fetched copy is not installed, so reckon::eval is then left out of the install).
set(RECKON_JSON_FETCHED OFF)
if(NOT TARGET nlohmann_json::nlohmann_json)
  find_package(nlohmann_json 3.9 QUIET CONFIG)
  if(NOT nlohmann_json_FOUND AND (RECKON_BUILD_TESTS OR RECKON_BUILD_EXAMPLES))
    reckon_hint_fetch(nlohmann_json nlohmann-json3-dev)
    FetchContent_Declare(nlohmann_json
      GIT_REPOSITORY https://github.com/nlohmann/json.git
      GIT_TAG v3.11.3
      GIT_SHALLOW TRUE)
    set(JSON_BuildTests OFF CACHE BOOL "" FORCE)
    FetchContent_MakeAvailable(nlohmann_json)
    set(RECKON_JSON_FETCHED ON)
  endif()
endif()
