# cmake -DBUILD=<reckon's build tree> -DPREFIX=<prefix> -P install.cmake: installs into an emptied
# prefix, so that no file of an earlier install (a component since lost) is found by the consumers.
file(REMOVE_RECURSE "${PREFIX}")
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD}" --prefix "${PREFIX}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install ${BUILD} failed: ${rc}")
endif()
