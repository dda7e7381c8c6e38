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
# ggml's RPC backend: a device on another process or machine (`devices.rpc_servers`), and the
# `ggml-rpc-server` tool that serves one; on loopback it is the real second device CI has.
set(GGML_RPC ON)
# GPU backends, off by default (this project's CI has no GPU): TANDEM_CUDA needs nvcc, and
# CMAKE_CUDA_ARCHITECTURES defaults to 90 (H100/H200); TANDEM_VULKAN needs the Vulkan headers,
# loader and glslc.
option(TANDEM_CUDA "Build ggml's CUDA backend" OFF)
option(TANDEM_VULKAN "Build ggml's Vulkan backend" OFF)
set(GGML_CUDA ${TANDEM_CUDA})
set(GGML_VULKAN ${TANDEM_VULKAN})
if(TANDEM_CUDA AND NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES 90)
endif()
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
  # llama-embedding, the embedder's peer in bench/knowledge_bench.py, is one of llama.cpp's
  # examples: only its folder is added, not the other examples.
  add_subdirectory(${TANDEM_LLAMA_DIR}/examples/embedding ${CMAKE_BINARY_DIR}/llama.cpp/examples/embedding
                   EXCLUDE_FROM_ALL)
  # Peers for integration tests and benchmarks, from the same source.
  add_custom_target(llama_peers ALL DEPENDS llama-server llama-bench llama-embedding ggml-rpc-server)
endif()
