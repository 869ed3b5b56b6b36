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

namespace mlir::steer {
/// The values of a 1-D float32 constant held dense or as a resource blob
/// (how folded vectors are stored); nullopt when they cannot be read (a
/// blob elided when printed, another element type).
std::optional<llvm::SmallVector<float>> f32Values(ElementsAttr attr);

/// The interventions on known weights (steer.override_weights,
/// steer.target_profile) that `weights` went through, nearest first, down
/// to the value they started from.
llvm::SmallVector<Operation *> weightInterventions(Value weights);
/// The guard of a weight intervention; null when it has none.
Value interventionGuard(Operation *intervention);

/// Where one part of a policy item was written: the importer locates an
/// item at all its parts, each a NameLoc ("concepts.0", "group.1", "focal",
/// "target", "layer"). The op's own location when the part has none (an
/// item written by hand in IR, a layer left to its default).
Location policyFieldLoc(Operation *op, StringRef part);
/// The part holding entry `index` of the concept list `list` ("concepts",
/// "group").
Location policyEntryLoc(Operation *op, StringRef list, size_t index);
} // namespace mlir::steer

#endif // STEER_DIALECT_STEER_IR_STEEROPS_H
