//===- CompileTimeModel.h - Weights for folds that need them ----*- C++ -*-===//
//
// Folding passes compute constants (vocabulary biases, injection
// directions, target profiles) with the runtime itself, on the checkpoint
// steerc compiles against, so that a folded constant is exactly what the
// runtime would have computed for the unfolded op.
//
//===----------------------------------------------------------------------===//
#ifndef STEER_PASSES_LIB_COMPILETIMEMODEL_H
#define STEER_PASSES_LIB_COMPILETIMEMODEL_H

#include "steer/exec/engine.h"
#include "steer/model/checkpoint.h"
#include "steer/text/tokenizer.h"

#include "mlir/IR/BuiltinAttributeInterfaces.h"
#include "mlir/IR/Operation.h"

#include <memory>

namespace mlir::steer {

/// A checkpoint opened for a pass, with an engine over it and the
/// tokenizer of its layout.
struct CompileTimeModel {
  std::unique_ptr<::steer::Checkpoint> checkpoint;
  std::unique_ptr<::steer::Engine> engine;
  std::unique_ptr<::steer::Tokenizer> tokenizer;
};

/// Opens `path` for the folds of `pass` (with the tokenizer only when
/// `withTokenizer`: building it costs about 0.1 s); an empty path or a bad
/// checkpoint is an error at `at` that says how to fix it.
FailureOr<CompileTimeModel> openCompileTimeModel(Operation *at,
                                                 llvm::StringRef path,
                                                 llvm::StringRef pass,
                                                 bool withTokenizer = false);

/// A 1-D float32 constant held as a resource blob (named after `hint`), so
/// vocabulary-sized vectors stay out of the attribute's printed text.
ElementsAttr f32Blob(MLIRContext *context, llvm::StringRef hint,
                     llvm::ArrayRef<float> values);

} // namespace mlir::steer

#endif // STEER_PASSES_LIB_COMPILETIMEMODEL_H
