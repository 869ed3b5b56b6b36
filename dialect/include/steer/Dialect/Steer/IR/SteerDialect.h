//===- SteerDialect.h - The steer dialect -----------------------*- C++ -*-===//
#ifndef STEER_DIALECT_STEER_IR_STEERDIALECT_H
#define STEER_DIALECT_STEER_IR_STEERDIALECT_H

#include "mlir/IR/Dialect.h"

#include "steer/Dialect/Steer/IR/SteerDialect.h.inc"

#endif // STEER_DIALECT_STEER_IR_STEERDIALECT_H
