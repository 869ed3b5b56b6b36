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
                      const ::steer::policy::ParsedPolicy &policy,
                      StringRef name = "policy");

/// The compiled policy of a module the steerc pipeline has run on, for the
/// artifact: each rule of its steer.policy as the manifest describes it
/// (guards and actions with their resolved concepts; injection alphas,
/// directions, vocabulary biases, target profiles and their features from
/// the folded ops, which belong to the rule whose policy item they are
/// located at) and the kernel plan on the model. A rule whose constants were
/// not folded, or a constant several rules were merged into, is an error.
} // namespace mlir::steer

#endif // STEER_POLICY_POLICYIMPORT_H
