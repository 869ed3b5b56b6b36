//===- FoldLogitMasks.cpp - ReLU logit masks become one vocabulary bias ---===//
//
// A ReLU logit mask depends only on weights, so its vocabulary vector is a
// compile-time constant. The values come from the runtime's own
// resolveSteering, so a folded mask subtracts exactly what the runtime
// would have computed for the unfolded one.
//
//===----------------------------------------------------------------------===//
#include "CompileTimeModel.h"
#include "steer/Dialect/Steer/IR/SteerOps.h"
#include "steer/Passes/Passes.h"
#include "steer/exec/generate.h"

#include "mlir/IR/Builders.h"

#define DEBUG_TYPE "steer-fold-logit-masks"

namespace mlir::steer {
#define GEN_PASS_DEF_FOLDLOGITMASKS
#include "steer/Passes/Passes.h.inc"
} // namespace mlir::steer

using namespace mlir;
using namespace mlir::steer;

namespace {

struct FoldLogitMasksPass
    : mlir::steer::impl::FoldLogitMasksBase<FoldLogitMasksPass> {
  using FoldLogitMasksBase::FoldLogitMasksBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<ReluLogitMaskOp> masks;
    module.walk([&](ReluLogitMaskOp op) { masks.push_back(op); });
    if (masks.empty())
      return;
    FailureOr<CompileTimeModel> model =
        openCompileTimeModel(masks.front(), modelPath, "folding");
    if (failed(model))
      return signalPassFailure();
    OpBuilder b(&getContext());
    for (ReluLogitMaskOp mask : masks) {
      ::steer::SteeringOptions so;
      for (auto [id, strength] :
           llvm::zip(mask.getConcepts(), mask.getStrengths()))
        so.reluMask.push_back({id, strength});
      auto resolved = ::steer::resolveSteering(*model->engine, so);
      if (!resolved.ok()) {
        mask.emitOpError() << resolved.status().toString();
        return signalPassFailure();
      }
      std::vector<float> bias = std::move(resolved->vocabBias);
      // A bias under the same guard just before: one vector for both (the
      // runtime sums masks in this order too).
      Value input = mask.getLogits();
      Location loc = mask.getLoc();
      if (auto prev = input.getDefiningOp<LogitBiasOp>();
          prev && prev.getGuard() == mask.getGuard() && prev->hasOneUse()) {
        std::optional<SmallVector<float>> before = prev.getBiasValues();
        if (before && before->size() == bias.size()) {
          for (size_t t = 0; t < bias.size(); ++t)
            bias[t] = (*before)[t] + bias[t];
          input = prev.getLogits();
          loc = b.getFusedLoc({prev.getLoc(), loc});
        }
      }
      b.setInsertionPoint(mask);
      auto folded =
          b.create<LogitBiasOp>(loc, mask.getType(), input, mask.getGuard(),
                                f32Blob(&getContext(), "vocab_bias", bias));
      mask.getResult().replaceAllUsesWith(folded.getResult());
      mask.erase();
    }
    // Merged biases left without users.
    module.walk([](LogitBiasOp op) {
      if (op->use_empty())
        op.erase();
    });
  }
};

} // namespace
