//===- PolicyImport.h - A checked policy as steer IR ------------*- C++ -*-===//
//
// Builds the steer.policy op of a checked policy: one steer.rule per rule,
// concepts as the policy wrote them (resolved by steer-resolve-concepts),
// every op located at its place in the policy file.
//
//===----------------------------------------------------------------------===//
#ifndef STEER_POLICY_POLICYIMPORT_H
#define STEER_POLICY_POLICYIMPORT_H

#include "steer/Dialect/Steer/IR/SteerOps.h"
#include "steer/Policy/PolicyFrontend.h"

#include "mlir/IR/BuiltinOps.h"

namespace mlir::steer {

/// Appends the policy to `module` under the symbol `name`.
PolicyOp importPolicy(ModuleOp module,
                      const ::steer::policy::CheckedPolicy &policy,
                      StringRef name = "policy");

/// The constants the folding passes computed for each rule of the module's
/// policies: injection directions and alphas, vocabulary biases, target
/// profiles. A folded op belongs to the rule whose policy item has its
/// location (the lowering locates every op there). Ops left unfolded are
/// skipped; a constant several rules were merged into is an error.
FailureOr<::steer::policy::FoldedConstants> collectFoldedConstants(ModuleOp);

/// The kernel plan steer-select-kernels recorded on the module's model
/// (site, kernel), sorted by site; empty when there is none.
std::vector<std::pair<std::string, std::string>> collectKernelPlan(ModuleOp);

} // namespace mlir::steer

#endif // STEER_POLICY_POLICYIMPORT_H
