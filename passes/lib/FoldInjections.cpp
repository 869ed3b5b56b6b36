//===- FoldInjections.cpp - Injection directions and alphas as constants --===//
//
// The runtime resolves an injection (direction from concept embeddings,
// alpha from the peak lm_head alignment) once per request; folded, the
// artifact carries the result and the request only adds it. The values
// come from the runtime's resolveSteering, so they are the ones the
// runtime would compute.
//
//===----------------------------------------------------------------------===//
#include "CompileTimeModel.h"
#include "steer/Dialect/Steer/IR/SteerOps.h"
#include "steer/Passes/Passes.h"
#include "steer/exec/generate.h"

#define DEBUG_TYPE "steer-fold-injections"

namespace mlir::steer {
#define GEN_PASS_DEF_FOLDINJECTIONS
#include "steer/Passes/Passes.h.inc"
} // namespace mlir::steer

using namespace mlir;
using namespace mlir::steer;

namespace {

struct FoldInjectionsPass
    : mlir::steer::impl::FoldInjectionsBase<FoldInjectionsPass> {
  using FoldInjectionsBase::FoldInjectionsBase;

  void runOnOperation() override {
    SmallVector<InjectOp> injections;
    getOperation().walk([&](InjectOp op) {
      if (!op.getDirection())
        injections.push_back(op);
    });
    if (injections.empty())
      return;
    FailureOr<CompileTimeModel> model =
        openCompileTimeModel(injections.front(), modelPath, "folding");
    if (failed(model))
      return signalPassFailure();
    for (InjectOp op : injections) {
      ::steer::SteeringOptions so;
      so.injectConcepts.assign(op.getConcepts().begin(),
                               op.getConcepts().end());
      so.target = op.getAlphaAttr().getValueAsDouble();
      so.normalizeTarget = op.getNormalize();
      so.injectLayer = op.getLayer();
      auto resolved = ::steer::resolveSteering(*model->engine, so);
      if (!resolved.ok()) {
        op.emitOpError() << resolved.status().toString();
        return signalPassFailure();
      }
      const ::steer::ResolvedInjection &in = resolved->injections.front();
      op.setDirectionAttr(
          f32Blob(&getContext(), "inject_direction", in.direction));
      op.setAlphaAttr(
          FloatAttr::get(Float32Type::get(&getContext()), in.baseAlpha));
      op.setNormalize(false);
    }
  }
};

} // namespace
