# Every dependency comes from the system (Debian packages); nothing is downloaded at configure time.
find_package(Threads REQUIRED)
find_package(TBB REQUIRED)
find_package(spdlog REQUIRED)
find_package(ZLIB REQUIRED)            # IDX .gz files
find_package(nlohmann_json REQUIRED)    # safetensors headers, the MNIST JSON converter
find_package(PkgConfig REQUIRED)
pkg_check_modules(OPENBLAS REQUIRED IMPORTED_TARGET openblas)

# OpenBLAS through one small interface target, so only core links it.
if(NOT TARGET tapegrad_openblas)
  add_library(tapegrad_openblas INTERFACE)
  target_link_libraries(tapegrad_openblas INTERFACE PkgConfig::OPENBLAS)
endif()
