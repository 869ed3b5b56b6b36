//===- ExtractTargetProfiles.cpp - Response profiles as constants ---------===//
//
// Steering to a response means overriding known weights with the mean
// weights the model gives the response itself. That needs a forward pass
// over the response: done once here, at compile time, with the policy
// front end's own function, instead of once per request.
//
//===----------------------------------------------------------------------===//
#include "CompileTimeModel.h"
#include "steer/Dialect/Steer/IR/SteerOps.h"
#include "steer/Passes/Passes.h"
#include "steer/Policy/PolicyFrontend.h"

#define DEBUG_TYPE "steer-extract-target-profiles"

namespace mlir::steer {
#define GEN_PASS_DEF_EXTRACTTARGETPROFILES
#include "steer/Passes/Passes.h.inc"
} // namespace mlir::steer

using namespace mlir;
using namespace mlir::steer;

namespace {

struct ExtractTargetProfilesPass
    : mlir::steer::impl::ExtractTargetProfilesBase<ExtractTargetProfilesPass> {
  using ExtractTargetProfilesBase::ExtractTargetProfilesBase;

  void runOnOperation() override {
    SmallVector<TargetProfileOp> pending;
    getOperation().walk([&](TargetProfileOp op) {
      if (!op.getProfile())
        pending.push_back(op);
    });
    if (pending.empty())
      return;
    FailureOr<CompileTimeModel> model = openCompileTimeModel(
        pending.front(), modelPath, "extracting a target profile",
        /*withTokenizer=*/true);
    if (failed(model))
      return signalPassFailure();
    for (TargetProfileOp op : pending) {
      auto profile = ::steer::policy::responseProfile(
          *model->engine, *model->tokenizer, op.getResponse().str());
      if (!profile.ok()) {
        op.emitOpError() << "response \"" << op.getResponse()
                         << "\": " << profile.status().toString();
        return signalPassFailure();
      }
      auto type =
          RankedTensorType::get({static_cast<int64_t>(profile->weights.size())},
                                Float32Type::get(&getContext()));
      op.setProfileAttr(DenseElementsAttr::get(
          type, llvm::ArrayRef<float>(profile->weights)));
      op.setTokensAttr(IntegerAttr::get(IntegerType::get(&getContext(), 64),
                                        profile->tokens));
    }
  }
};

} // namespace
