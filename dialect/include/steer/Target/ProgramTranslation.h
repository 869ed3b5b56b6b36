//===- ProgramTranslation.h - Lowered steer IR to an artifact's program ---===//
//
// The last stage of steerc: after the pipeline, the interventions in
// @forward (detect or guard, target_profile, override_weights,
// fixed_features, compose, inject, logit_bias) are translated one for one
// into the artifact's steering program (runtime/schema/artifact.proto,
// Program), with their folded constants as tensors. The runtime executes
// that program and nothing else. The policy's rules are recorded beside it
// for review (names, locations, actions as written, resolved).
//
// The translation refuses IR the runtime could not execute as it reads:
// an intervention that is not at its site, a constant that was not folded.
//
//===----------------------------------------------------------------------===//
#ifndef STEER_TARGET_PROGRAMTRANSLATION_H
#define STEER_TARGET_PROGRAMTRANSLATION_H

#include "steer/Policy/PolicyFrontend.h"

#include "mlir/IR/BuiltinOps.h"

namespace mlir::steer {

/// The artifact contents of a module the steerc pipeline ran on (with
/// foldConstants): the program, the display rules, the tensors both name
/// and the kernel plan. Errors are emitted at the offending op.
FailureOr<::steer::policy::CompiledPolicy>
translateToProgram(ModuleOp module, StringRef policySource);

} // namespace mlir::steer

#endif // STEER_TARGET_PROGRAMTRANSLATION_H
