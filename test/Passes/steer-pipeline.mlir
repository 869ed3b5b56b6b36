// RUN: steer-opt %s -steer-pipeline | FileCheck %s --check-prefix=O2
// RUN: steer-opt %s '-steer-pipeline=opt-level=0' | FileCheck %s --check-prefix=O0
// RUN: steer-opt %s -steer-pipeline -mlir-print-ir-after-all 2>&1 | FileCheck %s --check-prefix=DUMP

// Tests that -O2 folds the interventions and -O0 keeps every one explicit,
// and that the pipeline prints IR after each pass on request.
// O2-LABEL: func.func @f
// O2-COUNT-1: steer.override_weights
// O2-NOT: steer.override_weights
// O0-LABEL: func.func @f
// O0-COUNT-2: steer.override_weights
// DUMP: IR Dump After MergeWeightOverrides (steer-merge-weight-overrides)
// DUMP: IR Dump After Canonicalizer
func.func @f(%w: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = steer.override_weights %w {concepts = array<i64: 1>, values = array<f32: 0.0>} : tensor<?x8xf32>
  %1 = steer.override_weights %0 {concepts = array<i64: 2>, values = array<f32: 0.0>} : tensor<?x8xf32>
  return %1 : tensor<?x8xf32>
}
