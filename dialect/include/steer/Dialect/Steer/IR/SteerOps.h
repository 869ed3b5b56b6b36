//===- SteerOps.h - steer dialect operations --------------------*- C++ -*-===//
#ifndef STEER_DIALECT_STEER_IR_STEEROPS_H
#define STEER_DIALECT_STEER_IR_STEEROPS_H

#include "steer/Dialect/Steer/IR/SteerDialect.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "steer/Dialect/Steer/IR/SteerEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "steer/Dialect/Steer/IR/SteerAttrs.h.inc"

#define GET_OP_CLASSES
#include "steer/Dialect/Steer/IR/SteerOps.h.inc"

#endif // STEER_DIALECT_STEER_IR_STEEROPS_H
