//===- SteerOps.cpp - steer dialect operations and their verifiers --------===//
//
// Verifiers check what a checkpoint config or a policy could get wrong:
// weight shapes against the model's dimensions, layer and concept indices
// against their ranges, and the reference's rules (epsilon is dropped when
// known weights are intervened on). Messages are lowercase and say what to
// change.
//
//===----------------------------------------------------------------------===//
#include "steer/Dialect/Steer/IR/SteerOps.h"
#include "steer/policy/bounds.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/STLExtras.h"

#include <cmath>
#include <cstdio>

using namespace mlir;
using namespace mlir::steer;

#define GET_OP_CLASSES
#include "steer/Dialect/Steer/IR/SteerOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

namespace {

/// Looks up the steer.weight that `ref` names and returns its type, or
/// reports which attribute refers to what.
FailureOr<RankedTensorType> lookupWeight(Operation *op,
                                         SymbolTableCollection &tables,
                                         StringRef role,
                                         FlatSymbolRefAttr ref) {
  auto weight = tables.lookupNearestSymbolFrom<WeightOp>(op, ref);
  if (!weight)
    return op->emitOpError() << "'" << role << "' refers to " << ref
                             << ", which is not a steer.weight in the "
                                "enclosing steer.model";
  return weight.getTensorType();
}

/// Checks a weight's shape; a dimension of -1 in `want` matches anything.
LogicalResult expectShape(Operation *op, StringRef role, FlatSymbolRefAttr ref,
                          RankedTensorType type, ArrayRef<int64_t> want) {
  bool match = type.getRank() == static_cast<int64_t>(want.size());
  for (auto [have, need] : llvm::zip(type.getShape(), want))
    match &= need < 0 || have == need;
  if (match)
    return success();
  auto diag = op->emitOpError()
              << "'" << role << "' weight " << ref << " has shape " << type
              << " but this op needs [";
  llvm::interleave(
      want, [&](int64_t d) { d < 0 ? diag << "*" : diag << d; },
      [&] { diag << ", "; });
  return diag << "]";
}

LogicalResult checkWeight(Operation *op, SymbolTableCollection &tables,
                          StringRef role, FlatSymbolRefAttr ref,
                          ArrayRef<int64_t> want) {
  FailureOr<RankedTensorType> type = lookupWeight(op, tables, role, ref);
  if (failed(type))
    return failure();
  return expectShape(op, role, ref, *type, want);
}

/// Width (last dimension) of a [positions, width] value.
int64_t widthOf(Value v) {
  return llvm::cast<RankedTensorType>(v.getType()).getDimSize(1);
}

ModelOp parentModel(Operation *op) { return op->getParentOfType<ModelOp>(); }

/// Concept ids must be unique and, when the bound is known, in [0, bound).
LogicalResult checkConceptIds(Operation *op, ArrayRef<int64_t> ids,
                              std::optional<int64_t> bound) {
  if (ids.empty())
    return op->emitOpError() << "needs at least one concept";
  llvm::SmallDenseSet<int64_t> seen;
  for (int64_t id : ids) {
    if (id < 0 || (bound && id >= *bound))
      return op->emitOpError()
             << "concept id " << id << " is out of range [0, "
             << (bound ? std::to_string(*bound) : std::string("?")) << ")";
    if (!seen.insert(id).second)
      return op->emitOpError()
             << "concept id " << id << " is listed twice; merge the entries";
  }
  return success();
}

std::optional<int64_t> staticWidth(Value v) {
  int64_t w = widthOf(v);
  if (ShapedType::isDynamic(w))
    return std::nullopt;
  return w;
}

/// A folded constant vector (a vocabulary bias, an injection direction, a
/// profile's features): float32, one value per column of `activations`,
/// finite. `what` names it, `per` says what a value is for. A resource
/// whose blob is not loaded (elided when printed) is accepted.
LogicalResult checkFoldedVector(Operation *op, ElementsAttr attr,
                                Value activations, StringRef what,
                                StringRef per) {
  auto type = llvm::cast<ShapedType>(attr.getType());
  std::optional<int64_t> width = staticWidth(activations);
  if (type.getRank() != 1 || !type.getElementType().isF32() ||
      (width && type.getDimSize(0) != *width))
    return op->emitOpError()
           << what << " has type " << type << " but needs "
           << (width ? std::to_string(*width) : std::string("?"))
           << " float32 values, one per " << per;
  if (std::optional<SmallVector<float>> values = f32Values(attr))
    for (auto [i, v] : llvm::enumerate(*values))
      if (!std::isfinite(v))
        return op->emitOpError() << what << " value " << i << " is not finite";
  return success();
}

} // namespace

//===----------------------------------------------------------------------===//
// ModelOp, WeightOp
//===----------------------------------------------------------------------===//

LogicalResult ModelOp::verify() {
  auto positive = [&](StringRef name, int64_t v) -> LogicalResult {
    if (v <= 0)
      return emitOpError() << "'" << name << "' must be positive, got " << v;
    return success();
  };
  if (failed(positive("n_layers", getNLayers())) ||
      failed(positive("n_embd", getNEmbd())) ||
      failed(positive("vocab_size", getVocabSize())) ||
      failed(positive("diff_block_size", getDiffBlockSize())))
    return failure();
  if (std::optional<int64_t> n = getNConcepts())
    return positive("n_concepts", *n);
  return success();
}

LogicalResult WeightOp::verify() {
  RankedTensorType type = getTensorType();
  if (!type.hasStaticShape())
    return emitOpError() << "weight type " << type
                         << " must have a static shape (the checkpoint's)";
  if (type.getRank() < 1 || type.getRank() > 2)
    return emitOpError() << "weights are vectors or matrices, got rank "
                         << type.getRank();
  Type elt = type.getElementType();
  if (!elt.isF32() && !elt.isF16() && !elt.isBF16())
    return emitOpError() << "weight element type must be f32, f16 or bf16, got "
                         << elt;
  return success();
}

//===----------------------------------------------------------------------===//
// Backbone
//===----------------------------------------------------------------------===//

LogicalResult EmbedOp::verify() {
  int64_t ids = llvm::cast<RankedTensorType>(getIds().getType()).getDimSize(0);
  int64_t rows = llvm::cast<RankedTensorType>(getType()).getDimSize(0);
  if (!ShapedType::isDynamic(ids) && !ShapedType::isDynamic(rows) &&
      ids != rows)
    return emitOpError() << "gives " << rows << " rows for " << ids
                         << " token ids";
  return success();
}

LogicalResult EmbedOp::verifySymbolUses(SymbolTableCollection &tables) {
  ModelOp model = parentModel(*this);
  int64_t vocab = model ? model.getVocabSize() : -1;
  return checkWeight(*this, tables, "table", getTableAttr(),
                     {vocab, widthOf(getResult())});
}

LogicalResult BlockOp::verify() {
  if (getNHead() <= 0 || getNKvHeads() <= 0)
    return emitOpError() << "head counts must be positive";
  if (getNHead() % getNKvHeads() != 0)
    return emitOpError() << "n_head (" << getNHead()
                         << ") must be divisible by n_kv_heads ("
                         << getNKvHeads() << ")";
  if (std::optional<int64_t> width = staticWidth(getInput());
      width && *width % getNHead() != 0)
    return emitOpError() << "width " << *width
                         << " is not divisible by n_head (" << getNHead()
                         << ")";
  if (getDiffBlockSize() <= 0)
    return emitOpError() << "diff_block_size must be positive";
  if (FloatAttr clip = getClipQkvAttr(); clip && !(clip.getValueAsDouble() > 0))
    return emitOpError() << "clip_qkv must be positive; drop it to disable "
                            "clipping";
  if (FloatAttr base = getRopeBaseAttr();
      base && !(base.getValueAsDouble() > 0))
    return emitOpError() << "rope_base must be positive";
  if (!(getNormEpsAttr().getValueAsDouble() > 0))
    return emitOpError() << "norm_eps must be positive";
  if (getQNorm().has_value() != getKNorm().has_value())
    return emitOpError() << "q_norm and k_norm come together; give both or "
                            "neither";
  if (ModelOp model = parentModel(*this)) {
    if (getLayer() < 0 || getLayer() >= model.getNLayers())
      return emitOpError() << "layer " << getLayer()
                           << " is out of range for a model of "
                           << model.getNLayers() << " layers";
    if (getDiffBlockSize() != model.getDiffBlockSize())
      return emitOpError() << "diff_block_size " << getDiffBlockSize()
                           << " differs from the model's "
                           << model.getDiffBlockSize();
  }
  return success();
}

LogicalResult BlockOp::verifySymbolUses(SymbolTableCollection &tables) {
  const int64_t d = widthOf(getInput());
  if (ShapedType::isDynamic(d))
    return emitOpError() << "needs a static width to check its weights";
  const int64_t hd = d / getNHead(), kv = getNKvHeads() * hd;
  if (failed(checkWeight(*this, tables, "attn_qkv", getAttnQkvAttr(),
                         {d + 2 * kv, d})) ||
      failed(
          checkWeight(*this, tables, "attn_out", getAttnOutAttr(), {d, d})) ||
      failed(checkWeight(*this, tables, "norm_attn", getNormAttnAttr(), {d})) ||
      failed(checkWeight(*this, tables, "norm_mlp", getNormMlpAttr(), {d})))
    return failure();
  if (getQNormAttr() &&
      (failed(checkWeight(*this, tables, "q_norm", getQNormAttr(), {hd})) ||
       failed(checkWeight(*this, tables, "k_norm", getKNormAttr(), {hd}))))
    return failure();
  FailureOr<RankedTensorType> out =
      lookupWeight(*this, tables, "mlp_out", getMlpOutAttr());
  if (failed(out) ||
      failed(expectShape(*this, "mlp_out", getMlpOutAttr(), *out, {d, -1})))
    return failure();
  int64_t hidden = out->getDimSize(1);
  int64_t fcRows = getMlp() == MlpKind::swiglu ? 2 * hidden : hidden;
  return checkWeight(*this, tables, "mlp_in", getMlpInAttr(), {fcRows, d});
}

LogicalResult RmsNormOp::verify() {
  if (!(getEpsAttr().getValueAsDouble() > 0))
    return emitOpError() << "eps must be positive";
  return success();
}

LogicalResult RmsNormOp::verifySymbolUses(SymbolTableCollection &tables) {
  return checkWeight(*this, tables, "weight", getWeightAttr(),
                     {widthOf(getInput())});
}

LogicalResult LmHeadOp::verify() {
  if (ModelOp model = parentModel(*this);
      model && widthOf(getResult()) != model.getVocabSize() &&
      !ShapedType::isDynamic(widthOf(getResult())))
    return emitOpError() << "gives " << widthOf(getResult())
                         << " logits per position but the vocabulary has "
                         << model.getVocabSize() << " tokens";
  return success();
}

LogicalResult LmHeadOp::verifySymbolUses(SymbolTableCollection &tables) {
  return checkWeight(*this, tables, "table", getTableAttr(),
                     {widthOf(getResult()), widthOf(getInput())});
}

//===----------------------------------------------------------------------===//
// Concept heads
//===----------------------------------------------------------------------===//

LogicalResult KnownWeightsOp::verify() {
  int64_t n = getNConcepts();
  if (n <= 0)
    return emitOpError() << "n_concepts must be positive";
  if (widthOf(getResult()) != n)
    return emitOpError() << "result has " << widthOf(getResult())
                         << " columns but n_concepts is " << n;
  if (std::optional<int64_t> k = getTopk(); k && (*k <= 0 || *k > n))
    return emitOpError() << "topk " << *k << " must be in [1, " << n << "]";
  return success();
}

LogicalResult KnownWeightsOp::verifySymbolUses(SymbolTableCollection &tables) {
  FailureOr<RankedTensorType> p =
      lookupWeight(*this, tables, "predictor", getPredictorAttr());
  if (failed(p) || failed(expectShape(*this, "predictor", getPredictorAttr(),
                                      *p, {-1, widthOf(getInput())})))
    return failure();
  if (p->getDimSize(0) < getNConcepts())
    return emitOpError() << "predictor " << getPredictorAttr() << " has "
                         << p->getDimSize(0) << " rows, fewer than n_concepts ("
                         << getNConcepts() << ")";
  return success();
}

LogicalResult ConceptFeaturesOp::verify() {
  if (std::optional<int64_t> k = getTopk();
      k && (*k <= 0 ||
            (staticWidth(getWeights()) && *k > *staticWidth(getWeights()))))
    return emitOpError() << "topk " << *k << " must be in [1, "
                         << widthOf(getWeights()) << "]";
  return success();
}

LogicalResult
ConceptFeaturesOp::verifySymbolUses(SymbolTableCollection &tables) {
  FailureOr<RankedTensorType> e =
      lookupWeight(*this, tables, "embedding", getEmbeddingAttr());
  if (failed(e) || failed(expectShape(*this, "embedding", getEmbeddingAttr(),
                                      *e, {-1, widthOf(getResult())})))
    return failure();
  if (std::optional<int64_t> n = staticWidth(getWeights());
      n && e->getDimSize(0) < *n)
    return emitOpError() << "embedding " << getEmbeddingAttr() << " has "
                         << e->getDimSize(0) << " rows for " << *n
                         << " concepts";
  return success();
}

LogicalResult UnknownFeaturesOp::verify() {
  int64_t n = getNConcepts();
  if (n <= 0)
    return emitOpError() << "n_concepts must be positive";
  if (std::optional<int64_t> k = getTopk(); k && (*k <= 0 || *k > n))
    return emitOpError() << "topk " << *k << " must be in [1, " << n << "]";
  return success();
}

LogicalResult
UnknownFeaturesOp::verifySymbolUses(SymbolTableCollection &tables) {
  const int64_t d = widthOf(getInput());
  FailureOr<RankedTensorType> down =
      lookupWeight(*this, tables, "predictor_down", getPredictorDownAttr());
  if (failed(down) ||
      failed(expectShape(*this, "predictor_down", getPredictorDownAttr(), *down,
                         {-1, d})))
    return failure();
  const int64_t rank = down->getDimSize(0);
  FailureOr<RankedTensorType> up =
      lookupWeight(*this, tables, "predictor_up", getPredictorUpAttr());
  if (failed(up) || failed(expectShape(*this, "predictor_up",
                                       getPredictorUpAttr(), *up, {-1, rank})))
    return failure();
  const int64_t rows = up->getDimSize(0);
  if (rows < getNConcepts())
    return emitOpError() << "predictor_up has " << rows
                         << " rows, fewer than n_concepts (" << getNConcepts()
                         << ")";
  if (failed(checkWeight(*this, tables, "embedding_coef",
                         getEmbeddingCoefAttr(), {rows, -1})))
    return failure();
  return checkWeight(*this, tables, "embedding_basis", getEmbeddingBasisAttr(),
                     {widthOf(getResult()), -1});
}

LogicalResult ComposeOp::verify() {
  if (!getEpsilon()) {
    if (!getUnless().empty())
      return emitOpError() << "lists guards after 'unless' but has no "
                              "epsilon for them to drop";
    return success();
  }
  // Walk back from the known features through the interventions on the
  // weights they came from: each must be guarded by a listed guard.
  auto features = getKnown().getDefiningOp<ConceptFeaturesOp>();
  if (!features)
    return success();
  for (Operation *def : weightInterventions(features.getWeights())) {
    Value guard = interventionGuard(def);
    if (!guard)
      return emitOpError()
             << "adds epsilon to known features built from overridden "
                "weights; the reference drops epsilon when known weights are "
                "intervened on, so remove the 'epsilon' flag";
    if (!llvm::is_contained(getUnless(), guard))
      return emitOpError()
             << "adds epsilon to known features that a guarded intervention "
                "changes, but does not list its guard after 'unless': "
                "epsilon must be dropped whenever that guard fires";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Interventions
//===----------------------------------------------------------------------===//

LogicalResult OverrideWeightsOp::verify() {
  if (getConcepts().size() != getValues().size())
    return emitOpError() << "has " << getConcepts().size() << " concepts but "
                         << getValues().size() << " values";
  if (failed(checkConceptIds(*this, getConcepts(), staticWidth(getInput()))))
    return failure();
  for (auto [id, v] : llvm::zip(getConcepts(), getValues()))
    if (!std::isfinite(v))
      return emitOpError() << "value for concept " << id << " is not finite";
  return success();
}

LogicalResult InjectOp::verify() {
  std::optional<int64_t> bound;
  ModelOp model = parentModel(*this);
  if (model)
    bound = model.getNConcepts();
  if (failed(checkConceptIds(*this, getConcepts(), bound)))
    return failure();
  if (!std::isfinite(getAlphaAttr().getValueAsDouble()))
    return emitOpError() << "alpha must be finite";
  if (getLayer() < 0 || (model && getLayer() > model.getNLayers()))
    return emitOpError() << "layer " << getLayer() << " is out of range [0, "
                         << (model ? std::to_string(model.getNLayers())
                                   : std::string("n_layers"))
                         << "]";
  bool cutoff = getSchedule() == Schedule::hard_cutoff;
  if (cutoff && (!getCutoffTokens() || *getCutoffTokens() < 1))
    return emitOpError() << "a hard_cutoff schedule needs cutoff_tokens >= 1";
  if (!cutoff && getCutoffTokens())
    return emitOpError() << "cutoff_tokens only applies to the hard_cutoff "
                            "schedule";
  if (std::optional<ElementsAttr> direction = getDirection()) {
    if (getNormalize())
      return emitOpError() << "has a folded direction, whose alpha is already "
                              "resolved: drop 'normalize'";
    if (failed(checkFoldedVector(*this, *direction, getInput(), "direction",
                                 "hidden dimension")))
      return failure();
  }
  return success();
}

LogicalResult ReluLogitMaskOp::verify() {
  if (getConcepts().size() != getStrengths().size())
    return emitOpError() << "has " << getConcepts().size() << " concepts but "
                         << getStrengths().size() << " strengths";
  std::optional<int64_t> bound;
  if (ModelOp model = parentModel(*this))
    bound = model.getNConcepts();
  if (failed(checkConceptIds(*this, getConcepts(), bound)))
    return failure();
  for (auto [id, s] : llvm::zip(getConcepts(), getStrengths()))
    if (!std::isfinite(s) || s < 0)
      return emitOpError() << "strength for concept " << id
                           << " must be finite and >= 0, got " << s;
  return success();
}

Location mlir::steer::policyFieldLoc(Operation *op, StringRef part) {
  Location found = op->getLoc();
  bool done = false;
  op->getLoc()->walk([&](Location l) {
    if (auto name = llvm::dyn_cast<NameLoc>(l);
        !done && name && name.getName() == part) {
      found = name.getChildLoc();
      done = true;
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return found;
}

Location mlir::steer::policyEntryLoc(Operation *op, StringRef list,
                                     size_t index) {
  return policyFieldLoc(op, (list + "." + llvm::Twine(index)).str());
}

std::optional<SmallVector<float>> mlir::steer::f32Values(ElementsAttr attr) {
  if (auto dense = llvm::dyn_cast<DenseFPElementsAttr>(attr)) {
    if (!dense.getElementType().isF32())
      return std::nullopt;
    return llvm::to_vector(dense.getValues<float>());
  }
  if (auto blob = llvm::dyn_cast<DenseF32ResourceElementsAttr>(attr))
    if (std::optional<ArrayRef<float>> values = blob.tryGetAsArrayRef())
      return SmallVector<float>(values->begin(), values->end());
  return std::nullopt;
}

SmallVector<Operation *> mlir::steer::weightInterventions(Value weights) {
  SmallVector<Operation *> chain;
  while (Operation *def = weights.getDefiningOp()) {
    if (auto over = dyn_cast<OverrideWeightsOp>(def))
      weights = over.getInput();
    else if (auto profile = dyn_cast<TargetProfileOp>(def))
      weights = profile.getInput();
    else
      break;
    chain.push_back(def);
  }
  return chain;
}

Value mlir::steer::interventionGuard(Operation *intervention) {
  if (auto over = dyn_cast<OverrideWeightsOp>(intervention))
    return over.getGuard();
  if (auto profile = dyn_cast<TargetProfileOp>(intervention))
    return profile.getGuard();
  return Value();
}

std::optional<SmallVector<float>> LogitBiasOp::getBiasValues() {
  return f32Values(getBias());
}

LogicalResult LogitBiasOp::verify() {
  return checkFoldedVector(*this, getBias(), getLogits(), "bias",
                           "vocabulary token");
}

LogicalResult TargetProfileOp::verify() {
  if (getResponse().empty())
    return emitOpError() << "needs a non-empty response";
  if (std::optional<DenseElementsAttr> profile = getProfile()) {
    std::optional<int64_t> width = staticWidth(getInput());
    auto type = llvm::cast<ShapedType>(profile->getType());
    if (type.getRank() != 1 || (width && type.getDimSize(0) != *width))
      return emitOpError() << "profile has shape " << type
                           << " but the weights have "
                           << (width ? std::to_string(*width)
                                     : std::string("?"))
                           << " concepts";
    // NaN is outside every range.
    for (float v : profile->getValues<float>())
      if (!::steer::policy::kKnownWeight.contains(v))
        return emitOpError() << "profile values must be weights in [0, 1]";
  }
  return success();
}

LogicalResult FixedFeaturesOp::verify() {
  return checkFoldedVector(*this, getFeatures(), getInput(), "features",
                           "hidden dimension");
}

LogicalResult GuardOp::verify() {
  std::optional<int64_t> bound;
  if (ModelOp model = parentModel(*this))
    bound = model.getNConcepts();
  if (failed(checkConceptIds(*this, getConcepts(), bound)))
    return failure();
  double t = getThresholdAttr().getValueAsDouble();
  if (!::steer::policy::kGuardThreshold.contains(t))
    return emitOpError() << "threshold " << t
                         << " is outside (0, 1): a weight is a sigmoid";
  return success();
}

LogicalResult DetectOp::verify() {
  std::optional<int64_t> bound;
  if (ModelOp model = parentModel(*this))
    bound = model.getNConcepts();
  ArrayRef<int64_t> concepts = getConcepts();
  if (failed(checkConceptIds(*this, concepts, bound)))
    return failure();
  if (!llvm::is_sorted(concepts))
    return emitOpError() << "concepts must be sorted by id";
  size_t n = getFires().size();
  if (getGuards().size() != n || getThresholds().size() != n)
    return emitOpError() << "has " << n << " results but "
                         << getGuards().size() << " guards and "
                         << getThresholds().size() << " thresholds";
  for (auto [i, attr] : llvm::enumerate(getGuards())) {
    auto guard = llvm::dyn_cast<DenseI64ArrayAttr>(attr);
    if (!guard || guard.empty())
      return emitOpError() << "guard " << i
                           << " must be a non-empty array<i64> of positions";
    for (int64_t p : guard.asArrayRef())
      if (p < 0 || p >= static_cast<int64_t>(concepts.size()))
        return emitOpError() << "guard " << i << " reads position " << p
                             << " of " << concepts.size() << " concepts";
    double t = getThresholds()[i];
    if (!::steer::policy::kGuardThreshold.contains(t))
      return emitOpError() << "threshold " << t << " of guard " << i
                           << " is outside (0, 1): a weight is a sigmoid";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Policies
//===----------------------------------------------------------------------===//

namespace {

std::string describe(ConceptAttr c) {
  if (!c.getLabel().empty())
    return "'" + c.getLabel().str() + "'";
  return "#" + std::to_string(c.getId());
}

/// The line a location points at (its first file position), 0 if none.
unsigned lineOf(Location loc) {
  unsigned line = 0;
  loc->walk([&](Location l) {
    if (auto f = llvm::dyn_cast<FileLineColLoc>(l)) {
      line = f.getLine();
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return line;
}

/// Whether the op carries the importer's named parts (it came from a
/// policy file), and whether one of them is `part`.
bool hasPolicyParts(Operation *op) {
  bool any = false;
  op->getLoc()->walk([&](Location l) {
    any |= llvm::isa<NameLoc>(l);
    return any ? WalkResult::interrupt() : WalkResult::advance();
  });
  return any;
}
bool hasPolicyField(Operation *op, StringRef part) {
  bool found = false;
  op->getLoc()->walk([&](Location l) {
    if (auto n = llvm::dyn_cast<NameLoc>(l))
      found |= n.getName() == part;
    return found ? WalkResult::interrupt() : WalkResult::advance();
  });
  return found;
}


/// A concept listed twice in one list is a mistake (a typo for another?).
LogicalResult checkConceptList(Operation *op, StringRef what,
                               ArrayAttr concepts, StringRef list = "concepts",
                               size_t firstIndex = 0) {
  if (concepts.empty())
    return op->emitOpError() << "'" << what << "' needs at least one concept";
  llvm::SmallDenseMap<Attribute, size_t> seen;
  for (auto [i, a] : llvm::enumerate(concepts))
    if (auto [it, fresh] = seen.try_emplace(a, i); !fresh) {
      auto c = llvm::cast<ConceptAttr>(a);
      return mlir::emitError(policyEntryLoc(op, list, i + firstIndex))
             << "concept "
             << (c.isResolved() ? describe(c) : "'" + c.getLabel().str() + "'")
             << " is listed twice in '" << what << "' (first at line "
             << lineOf(policyEntryLoc(op, list, it->second + firstIndex))
             << ")";
    }
  return success();
}

LogicalResult checkBounds(Operation *op, StringRef what, FloatAttr value,
                          ::steer::policy::Range r) {
  double v = value.getValueAsDouble();
  if (r.contains(v))
    return success();
  char buf[128];
  std::snprintf(buf, sizeof buf, "%g is out of bounds [%g, %g]", v, r.lo, r.hi);
  return op->emitOpError() << what << " " << buf;
}

/// The steer.model a policy applies to: the only one in its module.
ModelOp modelBeside(Operation *op) {
  auto module = op->getParentOfType<ModuleOp>();
  if (!module)
    return {};
  ModelOp found;
  for (ModelOp m : module.getOps<ModelOp>()) {
    if (found)
      return {};
    found = m;
  }
  return found;
}

/// Every concept attribute of an op, lists included.
void forEachConcept(Operation *op, function_ref<void(ConceptAttr)> fn) {
  for (NamedAttribute attr : op->getAttrs()) {
    if (auto c = dyn_cast<ConceptAttr>(attr.getValue()))
      fn(c);
    else if (auto list = dyn_cast<ArrayAttr>(attr.getValue()))
      for (Attribute a : list)
        if (auto c = dyn_cast<ConceptAttr>(a))
          fn(c);
  }
}

} // namespace

LogicalResult PolicyOp::verify() {
  // Cross-rule checks, once the concepts are resolved (unresolved ones are
  // steer-resolve-concepts' to report). A concept pushed down (suppress,
  // unlearn) and up (amplify, or a clamp above 0 of an unlearned concept)
  // is a contradiction; one concept takes one weight; a target profile
  // replaces the whole weight row, so a second one would silently lose
  // (injections add up: several are fine).
  struct Setter {
    float value;
    RuleOp rule;
    const char *how;
    Location loc;
  };
  llvm::DenseMap<int64_t, Setter> weights;
  llvm::DenseMap<int64_t, RuleOp> suppressed, unlearned;
  RuleOp responding;
  LogicalResult result = success();
  auto set = [&](ConceptAttr c, float value, RuleOp rule, const char *how,
                 Location at) {
    if (!c.isResolved() || failed(result))
      return;
    auto [it, fresh] = weights.try_emplace(c.getId(), Setter{value, rule, how, at});
    if (fresh || it->second.value == value)
      return;
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  " is set to %g here (%s), but rule '%s' sets it to %g (%s, "
                  "line %u); one concept takes one value",
                  value, how, it->second.rule.getSymName().str().c_str(),
                  it->second.value, it->second.how, lineOf(it->second.loc));
    result = mlir::emitError(at) << "concept " << describe(c) << buf;
  };
  for (RuleOp rule : getBody().getOps<RuleOp>()) {
    for (Operation &op : rule.getBody().front()) {
      if (auto s = dyn_cast<SuppressOp>(op))
        for (auto [i, c] :
             llvm::enumerate(s.getConcepts().getAsRange<ConceptAttr>())) {
          if (c.isResolved())
            suppressed.try_emplace(c.getId(), rule);
          set(c, 0.0f, rule, "suppressed", policyEntryLoc(&op, "concepts", i));
        }
      if (auto cl = dyn_cast<ClampOp>(op))
        set(cl.getTarget(),
            static_cast<float>(cl.getValueAttr().getValueAsDouble()), rule,
            "clamped", policyFieldLoc(&op, "target"));
      if (auto u = dyn_cast<UnlearnOp>(op))
        if (u.getFocal().isResolved()) {
          suppressed.try_emplace(u.getFocal().getId(), rule);
          unlearned.try_emplace(u.getFocal().getId(), rule);
        }
      if (isa<SteerToResponseOp>(op)) {
        if (responding && responding != rule)
          return op.emitOpError() << "steers to a response, and so does rule '"
                                  << responding.getSymName()
                                  << "'; one target profile per policy";
        responding = rule;
      }
    }
  }
  if (failed(result))
    return failure();
  for (RuleOp rule : getBody().getOps<RuleOp>()) {
    for (AmplifyOp a : rule.getBody().getOps<AmplifyOp>())
      for (auto [i, c] :
           llvm::enumerate(a.getConcepts().getAsRange<ConceptAttr>()))
        if (auto it = suppressed.find(c.getId());
            c.isResolved() && it != suppressed.end())
          return mlir::emitError(policyEntryLoc(a, "concepts", i))
                 << "concept " << describe(c)
                 << " is amplified here and suppressed by rule '"
                 << it->second.getSymName() << "'; drop one of them";
    for (ClampOp cl : rule.getBody().getOps<ClampOp>())
      if (auto it = unlearned.find(cl.getTarget().getId());
          cl.getTarget().isResolved() && it != unlearned.end() &&
          cl.getValueAttr().getValueAsDouble() > 0)
        return mlir::emitError(policyFieldLoc(cl, "target"))
               << "concept " << describe(cl.getTarget())
               << " is clamped up here and unlearned by rule '"
               << it->second.getSymName() << "'; drop one of them";
  }
  return success();
}

LogicalResult RuleOp::verify() {
  int guards = 0, actions = 0, injections = 0, responses = 0;
  for (Operation &op : getBody().front()) {
    if (isa<WhenOp>(op))
      ++guards;
    else
      ++actions;
    if (isa<AmplifyOp, UnlearnOp>(op))
      ++injections;
    if (isa<SteerToResponseOp>(op))
      ++responses;
  }
  if (actions == 0)
    return emitOpError() << "rule '" << getSymName() << "'"
                         << " has no action (suppress, clamp, amplify, "
                            "unlearn or steer_to_response)";
  if (guards > 1)
    return emitOpError() << "has " << guards
                         << " guards; merge them into one steer.when";
  if (injections > 1)
    return emitOpError() << "injects " << injections
                         << " directions; one amplify or unlearn per rule";
  if (responses > 1)
    return emitOpError() << "steers to " << responses
                         << " responses; one per rule";
  // Against the model beside the policy: concept ids and layers in range.
  ModelOp model = modelBeside(*this);
  if (!model)
    return success();
  std::optional<int64_t> nConcepts = model.getNConcepts();
  for (Operation &op : getBody().front()) {
    LogicalResult ok = success();
    forEachConcept(&op, [&](ConceptAttr c) {
      if (succeeded(ok) && c.isResolved() && nConcepts &&
          c.getId() >= *nConcepts)
        ok = op.emitOpError()
             << "concept id " << c.getId() << " is out of range: model '"
             << model.getSymName() << "' has " << *nConcepts
             << " known concepts";
    });
    if (failed(ok))
      return failure();
    std::optional<int64_t> layer;
    if (auto a = dyn_cast<AmplifyOp>(op))
      layer = a.getLayer();
    if (auto u = dyn_cast<UnlearnOp>(op))
      layer = u.getLayer();
    if (layer && *layer > model.getNLayers()) {
      // Where the policy wrote it, or the item when the layer is the
      // default (the author should set it).
      const bool defaulted =
          hasPolicyParts(&op) && !hasPolicyField(&op, "layer");
      return mlir::emitError(defaulted ? policyFieldLoc(&op, "item")
                                       : policyFieldLoc(&op, "layer"))
             << (defaulted ? "the default " : "") << "layer " << *layer
             << " is out of range: the model has " << model.getNLayers()
             << " layers (use 0 to " << model.getNLayers() << ")"
             << (defaulted ? "; set 'layer'" : "");
    }
  }
  return success();
}

LogicalResult WhenOp::verify() {
  if (failed(checkConceptList(*this, "when", getConcepts())))
    return failure();
  return checkBounds(*this, "guard threshold", getThresholdAttr(),
                     ::steer::policy::kGuardThreshold);
}

LogicalResult SuppressOp::verify() {
  return checkConceptList(*this, "suppress", getConcepts());
}

LogicalResult ClampOp::verify() {
  return checkBounds(*this, "clamp value", getValueAttr(),
                     ::steer::policy::kClampValue);
}

LogicalResult AmplifyOp::verify() {
  if (failed(checkConceptList(*this, "amplify", getConcepts())) ||
      failed(checkBounds(*this, "target", getTargetAttr(),
                         ::steer::policy::kTargetLogit)))
    return failure();
  if (getLayer() < 0)
    return emitOpError() << "layer " << getLayer() << " is negative";
  if (std::optional<int64_t> cutoff = getCutoffTokens()) {
    if (getSchedule() != Schedule::hard_cutoff)
      return emitOpError()
             << "cutoff_tokens only applies to the hard_cutoff schedule";
    if (*cutoff < 1)
      return emitOpError() << "cutoff_tokens must be positive, got " << *cutoff;
  } else if (getSchedule() == Schedule::hard_cutoff) {
    return emitOpError() << "the hard_cutoff schedule needs cutoff_tokens";
  }
  return success();
}

LogicalResult UnlearnOp::verify() {
  if (getLayer() < 0)
    return emitOpError() << "layer " << getLayer() << " is negative";
  if (failed(checkBounds(*this, "alpha", getAlphaAttr(),
                         ::steer::policy::kUnlearnAlpha)) ||
      failed(checkBounds(*this, "relu_strength", getReluStrengthAttr(),
                         ::steer::policy::kReluStrength)))
    return failure();
  if (!getGroup().empty() &&
      failed(checkConceptList(*this, "group", getGroup(), "group")))
    return failure();
  for (auto [i, a] : llvm::enumerate(getGroup()))
    if (a == getFocal())
      return mlir::emitError(policyEntryLoc(*this, "group", i))
             << "concept " << describe(llvm::cast<ConceptAttr>(a))
             << " is the focal concept; the group lists the others";
  return success();
}

LogicalResult SteerToResponseOp::verify() {
  if (getResponse().empty())
    return emitOpError() << "needs a non-empty response";
  return success();
}
