# Install rules, the exported package (reckon::reckon) and a build-tree export.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(RECKON_CMAKE_DIR "${CMAKE_INSTALL_DATADIR}/cmake/reckon")

install(TARGETS reckon EXPORT reckonTargets FILE_SET HEADERS)
install(EXPORT reckonTargets NAMESPACE reckon:: DESTINATION "${RECKON_CMAKE_DIR}")
export(EXPORT reckonTargets NAMESPACE reckon:: FILE "${PROJECT_BINARY_DIR}/reckonTargets.cmake")
# reckon::eval in an export of its own, which reckonConfig.cmake loads only where nlohmann_json is
# found (a fetched nlohmann_json is not installed, so then it is left out).
if(TARGET reckon_eval_headers AND NOT RECKON_JSON_FETCHED)
  install(TARGETS reckon_eval_headers EXPORT reckonEvalTargets FILE_SET HEADERS)
  install(EXPORT reckonEvalTargets NAMESPACE reckon:: DESTINATION "${RECKON_CMAKE_DIR}")
  export(EXPORT reckonEvalTargets NAMESPACE reckon:: FILE "${PROJECT_BINARY_DIR}/reckonEvalTargets.cmake")
endif()

configure_package_config_file("${CMAKE_CURRENT_LIST_DIR}/reckonConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/reckonConfig.cmake"
  INSTALL_DESTINATION "${RECKON_CMAKE_DIR}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/reckonConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion
  ARCH_INDEPENDENT)
install(FILES "${PROJECT_BINARY_DIR}/reckonConfig.cmake" "${PROJECT_BINARY_DIR}/reckonConfigVersion.cmake"
  DESTINATION "${RECKON_CMAKE_DIR}")
install(FILES "${PROJECT_SOURCE_DIR}/LICENSE" DESTINATION "${CMAKE_INSTALL_DATADIR}/doc/reckon")
