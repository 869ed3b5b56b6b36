//===- SelectKernels.cpp - The kernel variant of every site ---------------===//
//
// Records, per site of the forward graph, which kernel variant the CPU
// backend runs there, chosen from the site's static facts (weight dtype and
// shape, whether an intervention changes the row). Linear layers use the
// runtime's own rule (kernels::linearVariant), so the plan and the backend
// cannot disagree; the plan assumes a machine with a matrix unit and the
// runtime falls back to the vector variant where there is none. The plan
// goes into the artifact (and `steer-run inspect` shows it) for review.
//
//===----------------------------------------------------------------------===//
#include "steer/Dialect/Steer/IR/SteerOps.h"
#include "steer/Passes/Passes.h"
#include "steer/exec/kernels.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <map>
#include <string>

#define DEBUG_TYPE "steer-select-kernels"

namespace mlir::steer {
#define GEN_PASS_DEF_SELECTKERNELS
#include "steer/Passes/Passes.h.inc"
} // namespace mlir::steer

using namespace mlir;
using namespace mlir::steer;

namespace {

std::optional<::steer::DType> dtypeOf(Type element) {
  if (element.isF32())
    return ::steer::DType::kF32;
  if (element.isBF16())
    return ::steer::DType::kBF16;
  if (element.isF16())
    return ::steer::DType::kF16;
  return std::nullopt;
}

struct SelectKernelsPass
    : mlir::steer::impl::SelectKernelsBase<SelectKernelsPass> {
  void runOnOperation() override {
    for (ModelOp model : getOperation().getOps<ModelOp>()) {
      auto forward = model.lookupSymbol<func::FuncOp>("forward");
      if (!forward)
        continue;
      std::map<std::string, std::string> plan;
      bool failedSite = false;
      // A linear site: [n, k] weights of a stored dtype.
      auto linear = [&](Operation *user, const std::string &site,
                        FlatSymbolRefAttr weight) {
        auto decl = model.lookupSymbol<WeightOp>(weight.getValue());
        if (!decl)
          return;
        auto type = llvm::cast<RankedTensorType>(decl.getType());
        std::optional<::steer::DType> dtype = dtypeOf(type.getElementType());
        if (!dtype || type.getRank() != 2) {
          user->emitOpError() << "weight " << weight << " of type " << type
                              << " has no linear kernel";
          failedSite = true;
          return;
        }
        plan[site] = ::steer::kernels::linearVariant(*dtype, type.getDimSize(0),
                                                     type.getDimSize(1),
                                                     /*matrixUnit=*/true);
      };
      forward.walk([&](Operation *op) {
        if (auto block = dyn_cast<BlockOp>(op)) {
          std::string l = "block." + std::to_string(block.getLayer()) + ".";
          linear(op, l + "attn_qkv", block.getAttnQkvAttr());
          linear(op, l + "attn_out", block.getAttnOutAttr());
          linear(op, l + "mlp_in", block.getMlpInAttr());
          linear(op, l + "mlp_out", block.getMlpOutAttr());
          plan[l + "attention"] = "block_causal_f32";
        } else if (auto head = dyn_cast<LmHeadOp>(op)) {
          linear(op, "lm_head", head.getTableAttr());
        } else if (auto known = dyn_cast<KnownWeightsOp>(op)) {
          linear(op, "known_head.predictor", known.getPredictorAttr());
        } else if (auto features = dyn_cast<ConceptFeaturesOp>(op)) {
          // An intervened row sums densely (the reference's rule); under a
          // guard that is decided per request.
          SmallVector<Operation *> chain =
              weightInterventions(features.getWeights());
          bool intervened = !chain.empty();
          bool guarded = llvm::any_of(chain, [](Operation *def) {
            return static_cast<bool>(interventionGuard(def));
          });
          plan["known_head.features"] = !intervened ? "topk_sum_f32"
                                        : guarded   ? "topk_or_dense_sum_f32"
                                                    : "dense_sum_f32";
        } else if (isa<UnknownFeaturesOp>(op)) {
          plan["unknown_head"] = "factorized_topk_f32";
        } else if (isa<GuardOp, DetectOp>(op)) {
          plan["guards"] = "prompt_max_f32";
        } else if (isa<OverrideWeightsOp>(op)) {
          plan["known_head.override"] = "override_table_f32";
        } else if (isa<TargetProfileOp>(op)) {
          plan["known_head.profile"] = "row_copy_f32";
        } else if (isa<FixedFeaturesOp>(op)) {
          plan["known_head.features.folded"] = "fixed_copy_f32";
        } else if (auto inject = dyn_cast<InjectOp>(op)) {
          plan["residual.inject"] = inject.getDirection()
                                        ? "axpy_masked_f32"
                                        : "resolve_then_axpy_masked_f32";
        } else if (isa<LogitBiasOp>(op)) {
          plan["logits.mask"] = "vocab_bias_sub_f32";
        } else if (isa<ReluLogitMaskOp>(op)) {
          plan["logits.mask"] = "resolve_then_vocab_bias_sub_f32";
        }
      });
      if (failedSite)
        return signalPassFailure();
      // Heads the graph no longer has are skipped by the backend.
      if (!plan.count("known_head.predictor"))
        plan["concept_heads"] = "skipped";
      SmallVector<NamedAttribute> entries;
      Builder b(&getContext());
      for (auto &[site, kernel] : plan)
        entries.push_back(b.getNamedAttr(site, b.getStringAttr(kernel)));
      model->setAttr("steer.kernel_plan", b.getDictionaryAttr(entries));
    }
  }
};

} // namespace
