//===- steer-opt - Run steer passes on MLIR files -------------------------===//
//
// MlirOptMain with the steer dialect, its passes and pipelines registered,
// plus the upstream dialects steer graphs are written in (builtin, func).
//
//===----------------------------------------------------------------------===//
#include "steer/Dialect/Steer/IR/SteerDialect.h"
#include "steer/Passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  registry.insert<mlir::steer::SteerDialect, mlir::func::FuncDialect>();
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  mlir::registerSymbolDCEPass();
  mlir::steer::registerSteerPassesAndPipelines();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "steer optimizer driver\n", registry));
}
