//===- PolicyImport.cpp - A checked policy as steer IR --------------------===//
#include "steer/Policy/PolicyImport.h"

#include "steer/Dialect/Steer/IR/SteerOps.h"
#include "steer/artifact/artifact.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/Twine.h"

#include <xxhash.h>


using namespace mlir;
using namespace mlir::steer;
namespace pol = ::steer::policy;
namespace schema = ::steer::schema;

namespace {

class Importer {
public:
  Importer(ModuleOp module, const pol::ParsedPolicy &policy)
      : ctx_(module.getContext()), b_(ctx_), policy_(policy) {
    b_.setInsertionPointToEnd(module.getBody());
  }

  PolicyOp run(StringRef name) {
    auto op = b_.create<PolicyOp>(loc(policy_.path, 1, 1), name,
                                  policy_.description.empty()
                                      ? StringAttr()
                                      : b_.getStringAttr(policy_.description),
                                  b_.getStringAttr(sourceHash()));
    op.getBody().emplaceBlock();
    for (const pol::Rule &r : policy_.rules)
      rule(op, r);
    return op;
  }

private:
  Location loc(const std::string &file, int line, int column) {
    return FileLineColLoc::get(ctx_, file, line, column);
  }
  Location loc(const pol::SourceLoc &l) {
    return loc(l.file.empty() ? policy_.path : l.file, l.line, l.column);
  }

  /// The same digest the artifact records as policy_xxh64.
  std::string sourceHash() const {
    return ::steer::hashHex(
        XXH64(policy_.source.data(), policy_.source.size(), 0));
  }

  /// As written ("#12" or a label): steer-resolve-concepts resolves it.
  ConceptAttr concept_(const pol::ConceptUse &u) {
    return ConceptAttr::get(ctx_, ConceptAttr::kUnresolved, u.written);
  }
  ArrayAttr concepts(const std::vector<pol::ConceptUse> &v) {
    SmallVector<Attribute> out;
    for (const pol::ConceptUse &u : v)
      out.push_back(concept_(u));
    return b_.getArrayAttr(out);
  }
  /// A policy item is located at all its parts, each named (policyFieldLoc
  /// finds them): the entries of its concept list ("concepts.0", ...,
  /// "group.0", ...), "focal", "target", "layer" when written and "item"
  /// (its keyword). The first part is where diagnostics about the whole
  /// item point.
  Location field(StringRef name, const pol::SourceLoc &l) {
    return NameLoc::get(b_.getStringAttr(name), loc(l));
  }
  void entries(SmallVectorImpl<Location> &out, StringRef list,
               const std::vector<pol::ConceptUse> &v) {
    for (size_t i = 0; i < v.size(); ++i)
      out.push_back(field((list + "." + Twine(i)).str(), v[i].loc));
  }
  Location fused(ArrayRef<Location> parts, Location fallback) {
    return parts.empty() ? fallback : b_.getFusedLoc(parts);
  }

  void rule(PolicyOp policy, const pol::Rule &r) {
    OpBuilder::InsertionGuard guard(b_);
    b_.setInsertionPointToEnd(&policy.getBody().front());
    Location at = loc(r.loc);
    auto op = b_.create<RuleOp>(at, r.name);
    b_.setInsertionPointToEnd(&op.getBody().emplaceBlock());
    if (r.guard) {
      SmallVector<Location> parts;
      entries(parts, "concepts", r.guard->concepts);
      b_.create<WhenOp>(fused(parts, at), concepts(r.guard->concepts),
                        b_.getF32FloatAttr(r.guard->threshold));
    }
    if (!r.suppress.empty()) {
      SmallVector<Location> parts;
      entries(parts, "concepts", r.suppress);
      b_.create<SuppressOp>(fused(parts, at), concepts(r.suppress));
    }
    for (const pol::ClampSpec &c : r.clamps)
      b_.create<ClampOp>(field("target", c.concept_.loc), concept_(c.concept_),
                         b_.getF32FloatAttr(c.value));
    if (r.amplify) {
      const pol::AmplifySpec &a = *r.amplify;
      bool cutoff = a.schedule == pol::Schedule::kHardCutoff;
      SmallVector<Location> parts;
      entries(parts, "concepts", a.concepts);
      if (a.layerLoc)
        parts.push_back(field("layer", *a.layerLoc));
      parts.push_back(field("item", a.itemLoc));
      b_.create<AmplifyOp>(
          fused(parts, at), concepts(a.concepts),
          b_.getF32FloatAttr(a.targetLogit), b_.getI64IntegerAttr(a.layer),
          ScheduleAttr::get(ctx_,
                            cutoff ? Schedule::hard_cutoff : Schedule::fixed),
          cutoff ? b_.getI64IntegerAttr(a.cutoffTokens) : IntegerAttr());
    }
    if (r.unlearn) {
      const pol::UnlearnSpec &u = *r.unlearn;
      SmallVector<Location> parts{field("focal", u.focal.loc)};
      entries(parts, "group", u.group);
      if (u.layerLoc)
        parts.push_back(field("layer", *u.layerLoc));
      parts.push_back(field("item", u.itemLoc));
      b_.create<UnlearnOp>(fused(parts, at), concept_(u.focal),
                           concepts(u.group), b_.getF32FloatAttr(u.alpha),
                           b_.getI64IntegerAttr(u.layer),
                           b_.getF32FloatAttr(u.reluStrength));
    }
    if (r.steerToResponse)
      b_.create<SteerToResponseOp>(at, r.steerToResponse->response);
  }

  MLIRContext *ctx_;
  OpBuilder b_;
  const pol::ParsedPolicy &policy_;
};

} // namespace

PolicyOp mlir::steer::importPolicy(ModuleOp module,
                                   const pol::ParsedPolicy &policy,
                                   StringRef name) {
  return Importer(module, policy).run(name);
}
