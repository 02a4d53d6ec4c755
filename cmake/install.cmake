# cmake --install: headers under include/tapegrad/, the libraries, and a package config so that
# another project does find_package(tapegrad) and links tapegrad::tapegrad.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

foreach(dir core autograd layers optim)
  install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/${dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tapegrad/${dir}
          FILES_MATCHING PATTERN "*.hpp")
endforeach()
install(FILES ${TAPEGRAD_INCLUDE_ROOT}/tapegrad/tapegrad.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tapegrad)

install(TARGETS tapegrad tapegrad_core tapegrad_autograd tapegrad_layers tapegrad_optim tapegrad_openblas
        EXPORT tapegradTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT tapegradTargets NAMESPACE tapegrad:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tapegrad)
configure_package_config_file(${CMAKE_CURRENT_SOURCE_DIR}/cmake/tapegradConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/tapegradConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tapegrad)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/tapegradConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/tapegradConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/tapegradConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tapegrad)
