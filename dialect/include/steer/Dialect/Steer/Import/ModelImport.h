//===- ModelImport.h - Build the steer graph of a checkpoint ----*- C++ -*-===//
//
// Turns a loaded Steerling checkpoint into a steer.model: one steer.weight per
// tensor (its key as symbol, its stored shape and dtype) and a func.func
// @forward from token ids to logits through the blocks and, for
// interpretable checkpoints, the concept heads and composition.
//
//===----------------------------------------------------------------------===//
#ifndef STEER_DIALECT_STEER_IMPORT_MODELIMPORT_H
#define STEER_DIALECT_STEER_IMPORT_MODELIMPORT_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

namespace steer {
class Checkpoint;
} // namespace steer

namespace mlir::steer {

/// Builds the module; the caller verifies it. `name` becomes the model's
/// symbol.
OwningOpRef<ModuleOp> importCheckpoint(MLIRContext *context,
                                       const ::steer::Checkpoint &checkpoint,
                                       StringRef name);

} // namespace mlir::steer

#endif // STEER_DIALECT_STEER_IMPORT_MODELIMPORT_H
