//===- PolicyImport.cpp - A checked policy as steer IR --------------------===//
#include "steer/Policy/PolicyImport.h"

#include "steer/Dialect/Steer/IR/SteerOps.h"
#include "steer/artifact/artifact.h"

#include "mlir/IR/Builders.h"

#include <xxhash.h>


using namespace mlir;
using namespace mlir::steer;
namespace pol = ::steer::policy;
namespace schema = ::steer::schema;

namespace {

class Importer {
public:
  Importer(ModuleOp module, const pol::CheckedPolicy &policy)
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

  /// As written: "#12" is an id, anything else a label to resolve.
  ConceptAttr concept_(const pol::ConceptUse &u) {
    if (!u.written.empty() && u.written[0] == '#')
      return ConceptAttr::get(ctx_, u.id, "");
    return ConceptAttr::get(ctx_, ConceptAttr::kUnresolved,
                            u.written.empty() ? u.label : u.written);
  }
  ArrayAttr concepts(const std::vector<pol::ConceptUse> &v) {
    SmallVector<Attribute> out;
    for (const pol::ConceptUse &u : v)
      out.push_back(concept_(u));
    return b_.getArrayAttr(out);
  }
  /// Lists are located at their first entry.
  Location listLoc(const std::vector<pol::ConceptUse> &v, Location fallback) {
    return v.empty() ? fallback : loc(v.front().loc);
  }

  void rule(PolicyOp policy, const pol::Rule &r) {
    OpBuilder::InsertionGuard guard(b_);
    b_.setInsertionPointToEnd(&policy.getBody().front());
    Location at = loc(r.loc);
    auto op = b_.create<RuleOp>(at, r.name);
    b_.setInsertionPointToEnd(&op.getBody().emplaceBlock());
    if (r.guard)
      b_.create<WhenOp>(listLoc(r.guard->concepts, at),
                        concepts(r.guard->concepts),
                        b_.getF32FloatAttr(r.guard->threshold));
    if (!r.suppress.empty())
      b_.create<SuppressOp>(listLoc(r.suppress, at), concepts(r.suppress));
    for (const pol::ClampSpec &c : r.clamps)
      b_.create<ClampOp>(loc(c.concept_.loc), concept_(c.concept_),
                         b_.getF32FloatAttr(c.value));
    if (r.amplify) {
      const pol::AmplifySpec &a = *r.amplify;
      bool cutoff = a.schedule == pol::Schedule::kHardCutoff;
      b_.create<AmplifyOp>(
          listLoc(a.concepts, at), concepts(a.concepts),
          b_.getF32FloatAttr(a.targetLogit), b_.getI64IntegerAttr(a.layer),
          ScheduleAttr::get(ctx_,
                            cutoff ? Schedule::hard_cutoff : Schedule::fixed),
          cutoff ? b_.getI64IntegerAttr(a.cutoffTokens) : IntegerAttr());
    }
    if (r.unlearn) {
      const pol::UnlearnSpec &u = *r.unlearn;
      b_.create<UnlearnOp>(loc(u.focal.loc), concept_(u.focal),
                           concepts(u.group), b_.getF32FloatAttr(u.alpha),
                           b_.getI64IntegerAttr(u.layer),
                           b_.getF32FloatAttr(u.reluStrength));
    }
    if (r.steerToResponse)
      b_.create<SteerToResponseOp>(at, r.steerToResponse->response);
  }

  MLIRContext *ctx_;
  OpBuilder b_;
  const pol::CheckedPolicy &policy_;
};

} // namespace

PolicyOp mlir::steer::importPolicy(ModuleOp module,
                                   const pol::CheckedPolicy &policy,
                                   StringRef name) {
  return Importer(module, policy).run(name);
}
