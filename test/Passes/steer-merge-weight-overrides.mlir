// RUN: steer-opt %s -split-input-file -steer-merge-weight-overrides | FileCheck %s

// Tests that a chain of overrides becomes one table, the later entry winning
// for a concept listed twice, sorted by concept id.
// CHECK-LABEL: func.func @chain
// CHECK-SAME: (%[[W:.*]]: tensor<?x48xf32>)
// CHECK-NEXT: %[[O:.*]] = steer.override_weights %[[W]] {concepts = array<i64: 3, 7, 9>, values = array<f32: 0.000000e+00, 5.000000e-01, 1.000000e+00>} : tensor<?x48xf32>
// CHECK-NEXT: return %[[O]]
func.func @chain(%w: tensor<?x48xf32>) -> tensor<?x48xf32> {
  %0 = steer.override_weights %w {concepts = array<i64: 7, 3>, values = array<f32: 1.0, 0.0>} : tensor<?x48xf32>
  %1 = steer.override_weights %0 {concepts = array<i64: 9>, values = array<f32: 1.0>} : tensor<?x48xf32>
  %2 = steer.override_weights %1 {concepts = array<i64: 7>, values = array<f32: 0.5>} : tensor<?x48xf32>
  return %2 : tensor<?x48xf32>
}

// -----
// Tests that a lone unsorted table is put in id order.
// CHECK-LABEL: func.func @sort
// CHECK: steer.override_weights %{{.*}} {concepts = array<i64: 1, 4>, values = array<f32: 2.500000e-01, 0.000000e+00>}
func.func @sort(%w: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = steer.override_weights %w {concepts = array<i64: 4, 1>, values = array<f32: 0.0, 0.25>} : tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----
// Tests that an intermediate override with another user is kept for it,
// while the chain still folds into one table.
// CHECK-LABEL: func.func @shared
// CHECK-SAME: (%[[W:.*]]: tensor<?x8xf32>)
// CHECK-DAG: %[[A:.*]] = steer.override_weights %[[W]] {concepts = array<i64: 2>, values = array<f32: 0.000000e+00>}
// CHECK-DAG: %[[B:.*]] = steer.override_weights %[[W]] {concepts = array<i64: 2, 5>, values = array<f32: 0.000000e+00, 1.000000e+00>}
// CHECK: return %[[A]], %[[B]]
func.func @shared(%w: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  %0 = steer.override_weights %w {concepts = array<i64: 2>, values = array<f32: 0.0>} : tensor<?x8xf32>
  %1 = steer.override_weights %0 {concepts = array<i64: 5>, values = array<f32: 1.0>} : tensor<?x8xf32>
  return %0, %1 : tensor<?x8xf32>, tensor<?x8xf32>
}

// -----
// Tests that overrides of different weights are left alone.
// CHECK-LABEL: func.func @separate
// CHECK-COUNT-2: steer.override_weights
func.func @separate(%a: tensor<?x8xf32>, %b: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  %0 = steer.override_weights %a {concepts = array<i64: 1>, values = array<f32: 0.0>} : tensor<?x8xf32>
  %1 = steer.override_weights %b {concepts = array<i64: 1>, values = array<f32: 0.0>} : tensor<?x8xf32>
  return %0, %1 : tensor<?x8xf32>, tensor<?x8xf32>
}
