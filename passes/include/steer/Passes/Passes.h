//===- Passes.h - steer dialect passes and pipelines ------------*- C++ -*-===//
#ifndef STEER_PASSES_PASSES_H
#define STEER_PASSES_PASSES_H

#include "steer/Dialect/Steer/IR/SteerDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"

#include <memory>
#include <string>

namespace steer {
class ConceptLabels;
} // namespace steer

namespace mlir {
class RewritePatternSet;
namespace steer {

#define GEN_PASS_DECL
#include "steer/Passes/Passes.h.inc"

/// steer-resolve-concepts with a label table already loaded (null: the
/// `labels` option, else ids only).
std::unique_ptr<Pass>
createResolveConceptsPass(std::shared_ptr<const ::steer::ConceptLabels> labels);

/// Patterns of steer-merge-weight-overrides, for reuse in other drivers.
void populateMergeWeightOverridesPatterns(RewritePatternSet &patterns);

/// Options of the steerc pipeline.
struct PipelineOptions {
  /// 0 keeps every intervention explicit (for debugging); 2 folds.
  unsigned optLevel = 2;
  /// The checkpoint's concept label table, for policies that name concepts.
  std::shared_ptr<const ::steer::ConceptLabels> labels;
  /// Or a path to one (steer-opt's `labels=` pipeline option).
  std::string labelsPath;
  /// The checkpoint directory, for folds that need weights (-O2).
  std::string modelPath;
  /// Fold constants (injections, logit masks, target profiles) even at
  /// -O0: an artifact stores folded tensors at every level.
  bool foldConstants = false;
};

/// The pipeline steerc runs, with verification between its phases.
void buildSteerPipeline(OpPassManager &pm, const PipelineOptions &options);

/// Registers the passes and the `steer-pipeline` pipeline with the global
/// registry (for steer-opt).
void registerSteerPassesAndPipelines();

#define GEN_PASS_REGISTRATION
#include "steer/Passes/Passes.h.inc"

} // namespace steer
} // namespace mlir

#endif // STEER_PASSES_PASSES_H
