# reckon's dependencies: a target the parent project already has wins; then find_package;
# then, only for users with the network, FetchContent (FIND_PACKAGE_ARGS tries find_package first).
include(FetchContent)

# The headers that make up the `reckon` target (everything under include/ but the opt-in adapters,
# which get targets of their own when their dependency is found).
file(GLOB_RECURSE RECKON_CORE_HEADERS CONFIGURE_DEPENDS
  "${CMAKE_CURRENT_SOURCE_DIR}/include/reckon/*.hpp")
list(FILTER RECKON_CORE_HEADERS EXCLUDE REGEX "/include/reckon/adapters/")

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
