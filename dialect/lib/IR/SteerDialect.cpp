//===- SteerDialect.cpp - The steer dialect -------------------------------===//
#include "steer/Dialect/Steer/IR/SteerDialect.h"
#include "steer/Dialect/Steer/IR/SteerOps.h"

#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::steer;

#include "steer/Dialect/Steer/IR/SteerDialect.cpp.inc"
#include "steer/Dialect/Steer/IR/SteerEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "steer/Dialect/Steer/IR/SteerAttrs.cpp.inc"

void SteerDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "steer/Dialect/Steer/IR/SteerAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "steer/Dialect/Steer/IR/SteerOps.cpp.inc"
      >();
}
