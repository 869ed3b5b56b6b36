//===- LowerPolicy.cpp - Policy rules become interventions in @forward ----===//
//
// A policy says what to do; the forward graph says where. This pass places
// each rule's guard and actions at the sites the runtime applies them: the
// known weights (guards, target profiles, overrides), the residual stream
// after a block (injections) and the logits (ReLU masks). Folding passes
// then work on these ops alone.
//
//===----------------------------------------------------------------------===//
#include "steer/Dialect/Steer/IR/SteerOps.h"
#include "steer/Passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

#include <map>

#define DEBUG_TYPE "steer-lower-policy"

namespace mlir::steer {
#define GEN_PASS_DEF_LOWERPOLICY
#include "steer/Passes/Passes.h.inc"
} // namespace mlir::steer

using namespace mlir;
using namespace mlir::steer;

namespace {

/// The sites of the forward graph interventions attach to.
struct Sites {
  func::FuncOp forward;
  std::map<int64_t, BlockOp> blocks; // by layer
  KnownWeightsOp knownWeights;
  ConceptFeaturesOp knownFeatures;
  ComposeOp compose;
  LmHeadOp lmHead;
};

/// Finds the one op of a kind in @forward; a graph with none or several is
/// not one this pass can place interventions in.
template <typename OpT> FailureOr<OpT> unique(func::FuncOp f, StringRef what) {
  OpT found;
  WalkResult r = f.walk([&](OpT op) {
    if (found) {
      op.emitError() << "@forward has more than one " << what
                     << "; steer-lower-policy expects the graph steerc imports";
      return WalkResult::interrupt();
    }
    found = op;
    return WalkResult::advance();
  });
  if (r.wasInterrupted())
    return failure();
  if (!found)
    return f.emitError() << "@forward has no " << what
                         << " to attach the policy's interventions to";
  return found;
}

FailureOr<Sites> findSites(ModelOp model) {
  Sites s;
  s.forward = model.lookupSymbol<func::FuncOp>("forward");
  if (!s.forward)
    return model.emitError()
           << "has no @forward function to lower the policy into";
  for (BlockOp b : s.forward.getOps<BlockOp>())
    s.blocks[b.getLayer()] = b;
  auto kw = unique<KnownWeightsOp>(s.forward, "steer.known_weights");
  auto kf = unique<ConceptFeaturesOp>(s.forward, "steer.concept_features");
  auto c = unique<ComposeOp>(s.forward, "steer.compose");
  auto lm = unique<LmHeadOp>(s.forward, "steer.lm_head");
  if (failed(kw) || failed(kf) || failed(c) || failed(lm))
    return failure();
  s.knownWeights = *kw;
  s.knownFeatures = *kf;
  s.compose = *c;
  s.lmHead = *lm;
  return s;
}

/// The ids of resolved concept references; an unresolved one is an error at
/// `op`.
FailureOr<SmallVector<int64_t>> ids(Operation *op, ArrayRef<Attribute> refs) {
  SmallVector<int64_t> out;
  for (Attribute a : refs) {
    auto c = llvm::cast<ConceptAttr>(a);
    if (!c.isResolved())
      return op->emitOpError()
             << "refers to " << c
             << ", which is not resolved; run steer-resolve-concepts first";
    out.push_back(c.getId());
  }
  return out;
}

/// One rule's lowering: its guard and the sites' current chain ends.
struct Lowering {
  Sites &s;
  OpBuilder &b;
  /// Ends of the chains interventions are appended to.
  Value weights;                     // known weights, after interventions
  std::map<int64_t, Value> residual; // per block, after its injections
  std::map<int64_t, Operation *> firstInject;
  Value logits; // lm_head's result, after masks
  Operation *firstMask = nullptr;
  /// Guards of weight interventions; `weightsUnguarded`: some had none.
  SmallVector<Value> weightGuards;
  bool weightsUnguarded = false;

  void noteWeightGuard(Value guard) {
    if (!guard)
      weightsUnguarded = true;
    else if (!llvm::is_contained(weightGuards, guard))
      weightGuards.push_back(guard);
  }

  LogicalResult profile(SteerToResponseOp op, Value guard);
  LogicalResult override(Operation *op, Value guard);
  LogicalResult inject(Operation *op, Value guard);
  void finish();
};

LogicalResult Lowering::profile(SteerToResponseOp op, Value guard) {
  b.setInsertionPoint(s.knownFeatures);
  weights = b.create<TargetProfileOp>(op.getLoc(), weights.getType(), weights,
                                      guard, op.getResponseAttr(),
                                      /*profile=*/nullptr, /*tokens=*/nullptr);
  noteWeightGuard(guard);
  return success();
}

LogicalResult Lowering::override(Operation *item, Value guard) {
  SmallVector<int64_t> concepts;
  SmallVector<float> values;
  if (auto suppress = dyn_cast<SuppressOp>(item)) {
    auto c = ids(suppress, suppress.getConcepts().getValue());
    if (failed(c))
      return failure();
    concepts = *c;
    values.assign(concepts.size(), 0.0f);
  } else {
    auto clamp = cast<ClampOp>(item);
    auto c = ids(clamp, {clamp.getTarget()});
    if (failed(c))
      return failure();
    concepts = *c;
    values.push_back(
        static_cast<float>(clamp.getValueAttr().getValueAsDouble()));
  }
  b.setInsertionPoint(s.knownFeatures);
  weights = b.create<OverrideWeightsOp>(item->getLoc(), weights.getType(),
                                        weights, guard, concepts, values);
  noteWeightGuard(guard);
  return success();
}

LogicalResult Lowering::inject(Operation *item, Value guard) {
  SmallVector<int64_t> concepts;
  int64_t layer;
  FloatAttr alpha;
  bool normalize;
  Schedule schedule = Schedule::fixed;
  IntegerAttr cutoff;
  if (auto amplify = dyn_cast<AmplifyOp>(item)) {
    auto c = ids(amplify, amplify.getConcepts().getValue());
    if (failed(c))
      return failure();
    concepts = *c;
    layer = amplify.getLayer();
    alpha = amplify.getTargetAttr();
    normalize = true;
    schedule = amplify.getSchedule();
    cutoff = amplify.getCutoffTokensAttr();
  } else {
    auto op = cast<UnlearnOp>(item);
    auto focal = ids(op, {op.getFocal()});
    auto group = ids(op, op.getGroup().getValue());
    if (failed(focal) || failed(group))
      return failure();
    // The focal concept first, then the rest of its group, as the
    // reference's injection_relu preset sums them.
    concepts = *focal;
    for (int64_t id : *group)
      if (!llvm::is_contained(concepts, id))
        concepts.push_back(id);
    layer = op.getLayer();
    alpha = op.getAlphaAttr();
    normalize = false;
  }
  // Added after every block i with i + 1 >= layer: placed after the first.
  int64_t site = std::max<int64_t>(layer, 1) - 1;
  auto block = s.blocks.find(site);
  if (block == s.blocks.end())
    return item->emitOpError() << "injects from layer " << layer
                               << " but @forward has no block " << site;
  Value &chain = residual[site];
  if (!chain)
    chain = block->second.getResult();
  b.setInsertionPointAfterValue(chain);
  auto op =
      b.create<InjectOp>(item->getLoc(), chain.getType(), chain, guard,
                         b.getDenseI64ArrayAttr(concepts), alpha,
                         normalize ? b.getUnitAttr() : UnitAttr(),
                         b.getIntegerAttr(b.getI64Type(), layer),
                         ScheduleAttr::get(b.getContext(), schedule), cutoff,
                         /*direction=*/ElementsAttr());
  if (!firstInject.count(site))
    firstInject[site] = op;
  chain = op.getResult();
  if (auto unlearn = dyn_cast<UnlearnOp>(item)) {
    b.setInsertionPointAfterValue(logits);
    auto mask = b.create<ReluLogitMaskOp>(
        item->getLoc(), logits.getType(), logits, guard,
        b.getDenseI64ArrayAttr({concepts.front()}),
        b.getDenseF32ArrayAttr({static_cast<float>(
            unlearn.getReluStrengthAttr().getValueAsDouble())}));
    if (!firstMask)
      firstMask = mask;
    logits = mask.getResult();
  }
  return success();
}

/// Routes each chain's end to the users of the value it extends.
void Lowering::finish() {
  s.knownFeatures.getWeightsMutable().assign(weights);
  for (auto &[site, end] : residual)
    s.blocks[site].getResult().replaceAllUsesExcept(end, firstInject[site]);
  if (firstMask)
    s.lmHead.getResult().replaceAllUsesExcept(logits, firstMask);
  ComposeOp compose = s.compose;
  if (weightsUnguarded) {
    compose.setEpsilon(false);
    compose.getUnlessMutable().clear();
  } else if (!weightGuards.empty() && compose.getEpsilon()) {
    SmallVector<Value> unless(compose.getUnless());
    for (Value g : weightGuards)
      if (!llvm::is_contained(unless, g))
        unless.push_back(g);
    compose.getUnlessMutable().assign(unless);
  }
}

struct LowerPolicyPass : mlir::steer::impl::LowerPolicyBase<LowerPolicyPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto policies = llvm::to_vector(module.getOps<PolicyOp>());
    if (policies.empty())
      return;
    auto models = llvm::to_vector(module.getOps<ModelOp>());
    if (models.size() != 1) {
      policies.front().emitError()
          << "needs exactly one steer.model in the module to lower into, "
             "found "
          << models.size();
      return signalPassFailure();
    }
    FailureOr<Sites> sites = findSites(models.front());
    if (failed(sites))
      return signalPassFailure();
    OpBuilder b(&getContext());
    Lowering l{*sites, b};
    l.weights = sites->knownFeatures.getWeights();
    l.logits = sites->lmHead.getResult();

    // Guards have no operands (they run on the prompt): at the entry.
    SmallVector<std::pair<RuleOp, Value>> rules;
    for (PolicyOp policy : policies)
      for (RuleOp rule : policy.getBody().getOps<RuleOp>()) {
        Value guard;
        for (WhenOp when : rule.getBody().getOps<WhenOp>()) {
          auto concepts = ids(when, when.getConcepts().getValue());
          if (failed(concepts))
            return signalPassFailure();
          b.setInsertionPointToStart(&sites->forward.getBody().front());
          guard = b.create<GuardOp>(when.getLoc(), b.getI1Type(),
                                    b.getDenseI64ArrayAttr(*concepts),
                                    when.getThresholdAttr());
        }
        rules.emplace_back(rule, guard);
      }
    // Target profiles first: the runtime replaces a weight row with the
    // profile and then applies every fired rule's overrides on top.
    for (auto [rule, guard] : rules)
      for (SteerToResponseOp op : rule.getBody().getOps<SteerToResponseOp>())
        if (failed(l.profile(op, guard)))
          return signalPassFailure();
    for (auto [rule, guard] : rules)
      for (Operation &item : rule.getBody().front()) {
        LogicalResult r = success();
        if (isa<SuppressOp, ClampOp>(item))
          r = l.override(&item, guard);
        else if (isa<AmplifyOp, UnlearnOp>(item))
          r = l.inject(&item, guard);
        if (failed(r))
          return signalPassFailure();
      }
    l.finish();
  }
};

} // namespace
