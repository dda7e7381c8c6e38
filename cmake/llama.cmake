# llama.cpp / ggml as a CMake subproject, unpacked by scripts/setup.sh into .deps/llama.cpp.
set(TANDEM_LLAMA_DIR ${CMAKE_SOURCE_DIR}/.deps/llama.cpp CACHE PATH "llama.cpp source tree")
if(NOT EXISTS ${TANDEM_LLAMA_DIR}/CMakeLists.txt)
  message(FATAL_ERROR "llama.cpp source not found in ${TANDEM_LLAMA_DIR}: run scripts/setup.sh first")
endif()

# ggml's AMX kernels crash (SIGSEGV in ggml_backend_amx_mul_mat) on virtual machines that report
# AMX but do not grant the tile state; -march=native keeps every other extension.
include(CheckCCompilerFlag)
check_c_compiler_flag("-mno-amx-int8" TANDEM_HAS_NO_AMX)
if(TANDEM_HAS_NO_AMX)
  string(APPEND CMAKE_C_FLAGS " -mno-amx-tile -mno-amx-int8 -mno-amx-bf16")
  string(APPEND CMAKE_CXX_FLAGS " -mno-amx-tile -mno-amx-int8 -mno-amx-bf16")
endif()

set(BUILD_SHARED_LIBS OFF)
set(GGML_NATIVE ON)
set(GGML_CPU ON)
set(LLAMA_BUILD_COMMON ON)         # llama-server and llama-bench need it; Tandem itself links only llama
set(LLAMA_BUILD_TOOLS ${TANDEM_BUILD_BENCH})
set(LLAMA_BUILD_SERVER ${TANDEM_BUILD_BENCH})
set(LLAMA_BUILD_TESTS OFF)
set(LLAMA_BUILD_EXAMPLES OFF)
set(LLAMA_BUILD_APP OFF)
set(LLAMA_BUILD_UI OFF)
set(LLAMA_USE_PREBUILT_UI OFF)     # never download the web UI at build time
set(LLAMA_OPENSSL OFF)
set(LLAMA_CURL OFF)
set(LLAMA_ALL_WARNINGS OFF)

# Only the targets something depends on get built.
add_subdirectory(${TANDEM_LLAMA_DIR} ${CMAKE_BINARY_DIR}/llama.cpp EXCLUDE_FROM_ALL SYSTEM)

if(TANDEM_BUILD_BENCH)
  # Peers for integration tests and benchmarks, from the same source.
  add_custom_target(llama_peers ALL DEPENDS llama-server llama-bench)
endif()
