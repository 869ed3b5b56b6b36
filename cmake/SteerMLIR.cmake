# Finds Debian's LLVM/MLIR 19 and brings in the out-of-tree MLIR CMake helpers.
#
# Debian's MLIR config wants a major.minor version ("19" alone is rejected),
# and its LLVM is built with RTTI on and exceptions off: the add_mlir_* helpers
# add -fno-exceptions to their targets, so code that uses exceptions (protobuf
# text parsing, JSON, CLI11) stays in plain add_library targets.
if(NOT MLIR_DIR AND EXISTS /usr/lib/llvm-19/lib/cmake/mlir)
  set(MLIR_DIR /usr/lib/llvm-19/lib/cmake/mlir)
endif()
find_package(MLIR 19.1 REQUIRED CONFIG)
message(STATUS "Using MLIR ${LLVM_PACKAGE_VERSION} from ${MLIR_DIR}")

list(APPEND CMAKE_MODULE_PATH "${MLIR_CMAKE_DIR}" "${LLVM_CMAKE_DIR}")
set(LLVM_RUNTIME_OUTPUT_INTDIR ${CMAKE_BINARY_DIR}/bin)
set(LLVM_LIBRARY_OUTPUT_INTDIR ${CMAKE_BINARY_DIR}/lib)
set(MLIR_BINARY_DIR ${CMAKE_BINARY_DIR})
include(TableGen)
include(AddLLVM)
include(AddMLIR)
include(HandleLLVMOptions)

include_directories(SYSTEM ${LLVM_INCLUDE_DIRS} ${MLIR_INCLUDE_DIRS})
link_directories(${LLVM_BUILD_LIBRARY_DIR})
add_definitions(${LLVM_DEFINITIONS})

# Where lit and its helpers live in Debian's llvm-19-tools.
find_program(STEER_FILECHECK FileCheck HINTS ${LLVM_TOOLS_BINARY_DIR} REQUIRED)
get_filename_component(STEER_LLVM_TOOLS_DIR ${STEER_FILECHECK} DIRECTORY)
find_file(STEER_LIT_PY lit.py
  HINTS ${LLVM_TOOLS_BINARY_DIR}/../build/utils/lit /usr/lib/llvm-19/build/utils/lit
  REQUIRED)
find_package(Python3 REQUIRED COMPONENTS Interpreter)
