//===- DropConceptHeads.cpp - Skip heads that cannot change the logits ----===//
//
// The runtime skips the concept heads when no weight intervention and no
// attribution is asked for; this is the same decision made on the graph,
// so the artifact's plan can record it.
//
//===----------------------------------------------------------------------===//
#include "steer/Dialect/Steer/IR/SteerOps.h"
#include "steer/Passes/Passes.h"

#define DEBUG_TYPE "steer-drop-concept-heads"

namespace mlir::steer {
#define GEN_PASS_DEF_DROPCONCEPTHEADS
#include "steer/Passes/Passes.h.inc"
} // namespace mlir::steer

using namespace mlir;
using namespace mlir::steer;

namespace {

/// A policy (as written or lowered) that guards on concepts or sets known
/// weights needs the heads.
bool policyNeedsHeads(ModuleOp module) {
  bool needs = false;
  module.walk([&](Operation *op) {
    if (isa<WhenOp, SuppressOp, ClampOp, SteerToResponseOp, GuardOp,
            DetectOp, OverrideWeightsOp, TargetProfileOp>(op))
      needs = true;
  });
  return needs;
}

struct DropConceptHeadsPass
    : mlir::steer::impl::DropConceptHeadsBase<DropConceptHeadsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (policyNeedsHeads(module))
      return;
    SmallVector<ComposeOp> composes;
    module.walk([&](ComposeOp op) {
      if (op.getEpsilon() && op.getUnless().empty())
        composes.push_back(op);
    });
    for (ComposeOp op : composes) {
      op.getResult().replaceAllUsesWith(op.getHidden());
      op.erase();
    }
    // The heads (and overrides of their weights) left without users.
    for (bool erased = true; erased;) {
      SmallVector<Operation *> dead;
      module.walk([&](Operation *op) {
        if (isa<KnownWeightsOp, ConceptFeaturesOp, UnknownFeaturesOp,
                OverrideWeightsOp>(op) &&
            op->use_empty())
          dead.push_back(op);
      });
      for (Operation *op : dead)
        op->erase();
      erased = !dead.empty();
    }
  }
};

} // namespace
