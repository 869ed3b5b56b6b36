//===- ResolveConcepts.cpp - Concept references to ids --------------------===//
//
// A policy names concepts as its author wrote them; everything after this
// pass works on ids. The lookup (and its did-you-mean) is the policy front
// end's, so steerc and steer-opt report the same thing for the same typo.
//
//===----------------------------------------------------------------------===//
#include "steer/Dialect/Steer/IR/SteerOps.h"
#include "steer/Passes/Passes.h"
#include "steer/Policy/PolicyFrontend.h"
#include "steer/model/concept_labels.h"

#define DEBUG_TYPE "steer-resolve-concepts"

namespace mlir::steer {
#define GEN_PASS_DEF_RESOLVECONCEPTS
#include "steer/Passes/Passes.h.inc"
} // namespace mlir::steer

using namespace mlir;
using namespace mlir::steer;

namespace {

struct ResolveConceptsPass
    : mlir::steer::impl::ResolveConceptsBase<ResolveConceptsPass> {
  using Base::Base;
  explicit ResolveConceptsPass(
      std::shared_ptr<const ::steer::ConceptLabels> labels)
      : labels_(std::move(labels)) {}

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<PolicyOp> policies(module.getOps<PolicyOp>());
    if (policies.empty())
      return;
    SmallVector<ModelOp> models(module.getOps<ModelOp>());
    if (models.size() != 1) {
      policies.front().emitOpError()
          << "concepts resolve against the module's steer.model, and it has "
          << models.size() << "; put exactly one model beside the policy";
      return signalPassFailure();
    }
    std::optional<int64_t> nConcepts = models.front().getNConcepts();
    if (!nConcepts) {
      policies.front().emitOpError()
          << "model '" << models.front().getSymName()
          << "' has no known concepts (it is not interpretable); policies "
             "steer concepts";
      return signalPassFailure();
    }
    if (!labels_ && !labelsPath.empty()) {
      auto loaded = ::steer::ConceptLabels::load(labelsPath);
      if (!loaded.ok()) {
        module.emitError() << loaded.status().toString();
        return signalPassFailure();
      }
      labels_ =
          std::make_shared<const ::steer::ConceptLabels>(std::move(*loaded));
    }

    bool ok = true;
    // Errors point at the reference as written: the importer names each
    // part of an item's location after its attribute ("concepts.2",
    // "focal").
    auto resolve = [&](Operation *op, ConceptAttr c, Location at) -> ConceptAttr {
      std::string ref =
          c.isResolved() ? "#" + std::to_string(c.getId()) : c.getLabel().str();
      if (c.isResolved() && !c.getLabel().empty() && c.getId() < *nConcepts)
        return c; // Already resolved.
      ::steer::policy::ConceptResolution r =
          ::steer::policy::resolveConcept(ref, *nConcepts, labels_.get());
      if (!r.error.empty()) {
        mlir::emitError(at) << r.error;
        ok = false;
        return c;
      }
      return ConceptAttr::get(op->getContext(), r.id, r.label);
    };
    for (PolicyOp policy : policies)
      policy.walk([&](Operation *op) {
        SmallVector<NamedAttribute> attrs(op->getAttrs());
        for (NamedAttribute attr : attrs) {
          if (auto c = dyn_cast<ConceptAttr>(attr.getValue())) {
            op->setAttr(attr.getName(),
                        resolve(op, c, policyFieldLoc(op, attr.getName())));
          } else if (auto list = dyn_cast<ArrayAttr>(attr.getValue())) {
            if (list.empty() || !isa<ConceptAttr>(list[0]))
              continue;
            SmallVector<Attribute> out;
            for (auto [i, a] : llvm::enumerate(list))
              out.push_back(resolve(op, cast<ConceptAttr>(a),
                                    policyEntryLoc(op, attr.getName(), i)));
            op->setAttr(attr.getName(), ArrayAttr::get(op->getContext(), out));
          }
        }
      });
    if (!ok)
      signalPassFailure();
  }

private:
  std::shared_ptr<const ::steer::ConceptLabels> labels_;
};

} // namespace

std::unique_ptr<Pass> mlir::steer::createResolveConceptsPass(
    std::shared_ptr<const ::steer::ConceptLabels> labels) {
  return std::make_unique<ResolveConceptsPass>(std::move(labels));
}
