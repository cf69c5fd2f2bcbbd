# Install rules, the exported package (reckon::reckon) and a build-tree export.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(RECKON_CMAKE_DIR "${CMAKE_INSTALL_DATADIR}/cmake/reckon")

install(TARGETS reckon EXPORT reckonTargets FILE_SET HEADERS)
install(EXPORT reckonTargets NAMESPACE reckon:: DESTINATION "${RECKON_CMAKE_DIR}")
export(EXPORT reckonTargets NAMESPACE reckon:: FILE "${PROJECT_BINARY_DIR}/reckonTargets.cmake")

configure_package_config_file("${CMAKE_CURRENT_LIST_DIR}/reckonConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/reckonConfig.cmake"
  INSTALL_DESTINATION "${RECKON_CMAKE_DIR}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/reckonConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion
  ARCH_INDEPENDENT)
install(FILES "${PROJECT_BINARY_DIR}/reckonConfig.cmake" "${PROJECT_BINARY_DIR}/reckonConfigVersion.cmake"
  DESTINATION "${RECKON_CMAKE_DIR}")
install(FILES "${PROJECT_SOURCE_DIR}/LICENSE" DESTINATION "${CMAKE_INSTALL_DATADIR}/doc/reckon")
