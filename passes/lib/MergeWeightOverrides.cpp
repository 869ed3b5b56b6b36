//===- MergeWeightOverrides.cpp - One override table per weight chain -----===//
//
// Policies lower to one steer.override_weights per suppress/clamp rule. The
// runtime applies an override table in one pass over the dense known
// weights, so a chain of overrides is folded into a single table here.
//
//===----------------------------------------------------------------------===//
#include "steer/Dialect/Steer/IR/SteerOps.h"
#include "steer/Passes/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <map>

#define DEBUG_TYPE "steer-merge-weight-overrides"

namespace mlir::steer {
#define GEN_PASS_DEF_MERGEWEIGHTOVERRIDES
#include "steer/Passes/Passes.h.inc"
} // namespace mlir::steer

using namespace mlir;
using namespace mlir::steer;

namespace {

/// override(override(x, A), B) -> override(x, A then B), sorted by id.
struct MergeOverrideChain : OpRewritePattern<OverrideWeightsOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(OverrideWeightsOp op,
                                PatternRewriter &rewriter) const override {
    auto inner = op.getInput().getDefiningOp<OverrideWeightsOp>();
    if (!inner)
      return rewriter.notifyMatchFailure(op, "input is not an override");
    // Overrides under different guards apply to different requests.
    if (inner.getGuard() != op.getGuard())
      return rewriter.notifyMatchFailure(op, "guarded differently");
    std::map<int64_t, float> table;
    for (auto [id, v] : llvm::zip(inner.getConcepts(), inner.getValues()))
      table[id] = v;
    for (auto [id, v] : llvm::zip(op.getConcepts(), op.getValues()))
      table[id] = v; // The later override wins.
    SmallVector<int64_t> ids;
    SmallVector<float> values;
    for (auto [id, v] : table) {
      ids.push_back(id);
      values.push_back(v);
    }
    // Located at both: diagnostics and the artifact's program name every
    // policy item the merged table implements.
    auto merged = rewriter.create<OverrideWeightsOp>(
        rewriter.getFusedLoc({inner.getLoc(), op.getLoc()}), op.getType(),
        inner.getInput(), op.getGuard(), rewriter.getDenseI64ArrayAttr(ids),
        rewriter.getDenseF32ArrayAttr(values));
    rewriter.replaceOp(op, merged.getResult());
    return success();
  }
};

/// A lone override with unsorted ids is put in id order (canonical form).
struct SortOverrideTable : OpRewritePattern<OverrideWeightsOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(OverrideWeightsOp op,
                                PatternRewriter &rewriter) const override {
    if (llvm::is_sorted(op.getConcepts()))
      return rewriter.notifyMatchFailure(op, "already sorted");
    std::map<int64_t, float> table;
    for (auto [id, v] : llvm::zip(op.getConcepts(), op.getValues()))
      table[id] = v;
    SmallVector<int64_t> ids;
    SmallVector<float> values;
    for (auto [id, v] : table) {
      ids.push_back(id);
      values.push_back(v);
    }
    rewriter.modifyOpInPlace(op, [&] {
      op.setConcepts(ids);
      op.setValues(values);
    });
    return success();
  }
};

struct MergeWeightOverridesPass
    : mlir::steer::impl::MergeWeightOverridesBase<MergeWeightOverridesPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMergeWeightOverridesPatterns(patterns);
    if (failed(
            applyPatternsAndFoldGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::steer::populateMergeWeightOverridesPatterns(
    RewritePatternSet &patterns) {
  patterns.add<MergeOverrideChain, SortOverrideTable>(patterns.getContext());
}
