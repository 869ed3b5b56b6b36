//===- FoldProfileFeatures.cpp - A target profile's features as a constant
//-===//
//
// Where a target profile replaces the known-weight row and only overrides
// under the same guard follow it, the row at generated positions is a
// constant whenever that guard fires, and so are the known features it
// gives. They are computed here with the runtime's own dense sum, so the
// runtime can copy them instead of summing the row at every position.
//
//===----------------------------------------------------------------------===//
#include "CompileTimeModel.h"
#include "steer/Dialect/Steer/IR/SteerOps.h"
#include "steer/Passes/Passes.h"

#include "mlir/IR/Builders.h"

#define DEBUG_TYPE "steer-fold-profile-features"

namespace mlir::steer {
#define GEN_PASS_DEF_FOLDPROFILEFEATURES
#include "steer/Passes/Passes.h.inc"
} // namespace mlir::steer

using namespace mlir;
using namespace mlir::steer;

namespace {

/// The weight row a features op reads when its profile's guard fires:
/// the profile with the overrides after it applied, or nullopt when the
/// chain is not constant (no extracted profile, or an intervention under
/// another guard anywhere on it).
struct ConstantRow {
  TargetProfileOp profile;
  SmallVector<float> row;
};

std::optional<ConstantRow> constantRow(ConceptFeaturesOp features) {
  SmallVector<OverrideWeightsOp> after; // nearest first
  TargetProfileOp profile;
  SmallVector<Operation *> chain = weightInterventions(features.getWeights());
  for (Operation *def : chain) {
    if (auto p = dyn_cast<TargetProfileOp>(def)) {
      if (profile)
        return std::nullopt; // a profile over a profile: leave it explicit
      profile = p;
    } else if (!profile) {
      after.push_back(cast<OverrideWeightsOp>(def));
    }
  }
  if (!profile || !profile.getProfile())
    return std::nullopt;
  for (Operation *def : chain)
    if (interventionGuard(def) != profile.getGuard())
      return std::nullopt;
  ConstantRow out{profile, {}};
  for (APFloat v : profile.getProfile()->getValues<APFloat>())
    out.row.push_back(v.convertToFloat());
  for (OverrideWeightsOp over : llvm::reverse(after))
    for (auto [id, v] : llvm::zip(over.getConcepts(), over.getValues()))
      if (id >= 0 && id < static_cast<int64_t>(out.row.size()))
        out.row[id] = v;
  return out;
}

struct FoldProfileFeaturesPass
    : mlir::steer::impl::FoldProfileFeaturesBase<FoldProfileFeaturesPass> {
  using FoldProfileFeaturesBase::FoldProfileFeaturesBase;

  void runOnOperation() override {
    SmallVector<std::pair<ConceptFeaturesOp, ConstantRow>> work;
    getOperation().walk([&](ConceptFeaturesOp op) {
      bool folded = llvm::any_of(op->getUsers(), [](Operation *user) {
        return isa<FixedFeaturesOp>(user);
      });
      if (folded)
        return;
      if (std::optional<ConstantRow> row = constantRow(op))
        work.emplace_back(op, std::move(*row));
    });
    if (work.empty())
      return;
    FailureOr<CompileTimeModel> model =
        openCompileTimeModel(work.front().first, modelPath, "folding");
    if (failed(model))
      return signalPassFailure();
    OpBuilder b(&getContext());
    for (auto &[op, row] : work) {
      if (static_cast<int64_t>(row.row.size()) !=
          model->engine->config().concepts->nConcepts) {
        row.profile.emitOpError()
            << "has " << row.row.size() << " weights but the checkpoint has "
            << model->engine->config().concepts->nConcepts << " concepts";
        return signalPassFailure();
      }
      auto features = model->engine->denseKnownFeatures(row.row);
      if (!features.ok()) {
        row.profile.emitOpError() << features.status().toString();
        return signalPassFailure();
      }
      b.setInsertionPointAfter(op);
      auto fixed = b.create<FixedFeaturesOp>(
          row.profile.getLoc(), op.getType(), op.getResult(),
          row.profile.getGuard(),
          f32Blob(&getContext(), "profile_features", *features));
      op.getResult().replaceAllUsesExcept(fixed.getResult(), fixed);
    }
  }
};

} // namespace
