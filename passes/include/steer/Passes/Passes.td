//===- Passes.td - steer dialect passes --------------------*- tablegen -*-===//
#ifndef STEER_PASSES_PASSES_TD
#define STEER_PASSES_PASSES_TD

include "mlir/Pass/PassBase.td"

def MergeWeightOverrides : Pass<"steer-merge-weight-overrides"> {
  let summary = "merge chains of known-weight overrides into one table";
  let description = [{
    Policies add one `steer.override_weights` per rule (suppress, clamp).
    Applied one after another they are equivalent to a single override whose
    table is their union, later entries winning for a concept listed twice;
    the runtime then makes one pass over the weights instead of one per
    rule. Entries are sorted by concept id so that equal policies give equal
    IR.

    Before:
    ```mlir
    %1 = steer.override_weights %0 {concepts = array<i64: 7, 3>,
                                    values = array<f32: 1.0, 0.0>} : tensor<?x48xf32>
    %2 = steer.override_weights %1 {concepts = array<i64: 7>,
                                    values = array<f32: 0.5>} : tensor<?x48xf32>
    ```
    After:
    ```mlir
    %2 = steer.override_weights %0 {concepts = array<i64: 3, 7>,
                                    values = array<f32: 0.0, 0.5>} : tensor<?x48xf32>
    ```
    An intermediate override that has other users is kept for them.
  }];
  let dependentDialects = ["::mlir::steer::SteerDialect"];
}

#endif // STEER_PASSES_PASSES_TD
