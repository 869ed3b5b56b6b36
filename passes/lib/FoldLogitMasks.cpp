//===- FoldLogitMasks.cpp - ReLU logit masks become one vocabulary bias ---===//
//
// A ReLU logit mask depends only on weights, so its vocabulary vector is a
// compile-time constant. The values come from the runtime's own
// resolveSteering, so a folded mask subtracts exactly what the runtime
// would have computed for the unfolded one.
//
//===----------------------------------------------------------------------===//
#include "steer/Dialect/Steer/IR/SteerOps.h"
#include "steer/Passes/Passes.h"
#include "steer/exec/engine.h"
#include "steer/exec/generate.h"
#include "steer/model/checkpoint.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#define DEBUG_TYPE "steer-fold-logit-masks"

namespace mlir::steer {
#define GEN_PASS_DEF_FOLDLOGITMASKS
#include "steer/Passes/Passes.h.inc"
} // namespace mlir::steer

using namespace mlir;
using namespace mlir::steer;

namespace {

ElementsAttr biasAttr(Type elementType, ArrayRef<float> values) {
  auto type =
      RankedTensorType::get({static_cast<int64_t>(values.size())}, elementType);
  DenseResourceElementsAttr attr = DenseF32ResourceElementsAttr::get(
      type, "vocab_bias",
      HeapAsmResourceBlob::allocateAndCopyInferAlign(values));
  return llvm::cast<ElementsAttr>(attr);
}

struct FoldLogitMasksPass
    : mlir::steer::impl::FoldLogitMasksBase<FoldLogitMasksPass> {
  using FoldLogitMasksBase::FoldLogitMasksBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<ReluLogitMaskOp> masks;
    module.walk([&](ReluLogitMaskOp op) { masks.push_back(op); });
    if (masks.empty())
      return;
    if (modelPath.empty()) {
      masks.front().emitError()
          << "folding needs the checkpoint's weights: pass "
             "model=DIR (steerc passes its --model)";
      return signalPassFailure();
    }
    auto checkpoint = ::steer::Checkpoint::open(modelPath);
    if (!checkpoint.ok()) {
      module.emitError() << checkpoint.status().toString();
      return signalPassFailure();
    }
    auto engine = ::steer::Engine::create(**checkpoint);
    if (!engine.ok()) {
      module.emitError() << engine.status().toString();
      return signalPassFailure();
    }
    Type f32 = Float32Type::get(&getContext());
    OpBuilder b(&getContext());
    for (ReluLogitMaskOp mask : masks) {
      ::steer::SteeringOptions so;
      for (auto [id, strength] :
           llvm::zip(mask.getConcepts(), mask.getStrengths()))
        so.reluMask.push_back({id, strength});
      auto resolved = ::steer::resolveSteering(**engine, so);
      if (!resolved.ok()) {
        mask.emitOpError() << resolved.status().toString();
        return signalPassFailure();
      }
      std::vector<float> bias = std::move(resolved->vocabBias);
      // A bias under the same guard just before: one vector for both (the
      // runtime sums masks in this order too).
      Value input = mask.getLogits();
      if (auto prev = input.getDefiningOp<LogitBiasOp>();
          prev && prev.getGuard() == mask.getGuard() && prev->hasOneUse()) {
        std::optional<SmallVector<float>> before = prev.getBiasValues();
        if (before && before->size() == bias.size()) {
          for (size_t t = 0; t < bias.size(); ++t)
            bias[t] = (*before)[t] + bias[t];
          input = prev.getLogits();
        }
      }
      b.setInsertionPoint(mask);
      auto folded = b.create<LogitBiasOp>(mask.getLoc(), mask.getType(), input,
                                          mask.getGuard(), biasAttr(f32, bias));
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
