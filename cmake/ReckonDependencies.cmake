# reckon's dependencies: a target the parent project already has wins; then find_package;
# then, only for users with the network, FetchContent (FIND_PACKAGE_ARGS tries find_package first).
include(FetchContent)

# The headers that make up the `reckon` target (everything under include/ but the opt-in adapters,
# which get targets of their own when their dependency is found).
file(GLOB_RECURSE RECKON_CORE_HEADERS CONFIGURE_DEPENDS
  "${CMAKE_CURRENT_SOURCE_DIR}/include/reckon/*.hpp")
list(FILTER RECKON_CORE_HEADERS EXCLUDE REGEX "/include/reckon/adapters/")

if(NOT TARGET Eigen3::Eigen)
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
  FetchContent_Declare(fmt
    GIT_REPOSITORY https://github.com/fmtlib/fmt.git
    GIT_TAG 11.1.4
    GIT_SHALLOW TRUE
    FIND_PACKAGE_ARGS 9)
  FetchContent_MakeAvailable(fmt)
endif()
