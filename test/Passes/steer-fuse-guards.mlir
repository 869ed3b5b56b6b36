// RUN: steer-opt %s -split-input-file -steer-fuse-guards | FileCheck %s

// Tests that guards become one detector over the sorted union of their
// concepts, that equal guards (same concepts in any order, same threshold)
// share a result, and that every use reads its guard's result.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 16 : i64, diff_block_size = 4 : i64, n_concepts = 50 : i64} {
  // CHECK-LABEL: func.func @f
  func.func @f(%w: tensor<?x50xf32>) -> tensor<?x50xf32> {
    // CHECK-NEXT: %[[D:.*]]:2 = steer.detect {concepts = array<i64: 3, 45, 46>, guards = [array<i64: 1, 2>, array<i64: 0>], thresholds = array<f32: 8.000000e-01, 5.000000e-01>} : i1, i1
    // CHECK-NOT: steer.guard
    %a = steer.guard {concepts = array<i64: 46, 45>, threshold = 0.8 : f32}
    %b = steer.guard {concepts = array<i64: 3>, threshold = 0.5 : f32}
    %c = steer.guard {concepts = array<i64: 45, 46>, threshold = 0.8 : f32}
    // CHECK: steer.override_weights %{{.*}} if %[[D]]#0 {concepts = array<i64: 45>
    %o1 = steer.override_weights %w if %a {concepts = array<i64: 45>, values = array<f32: 0.0>} : tensor<?x50xf32>
    // CHECK: steer.override_weights %{{.*}} if %[[D]]#1 {concepts = array<i64: 3>
    %o2 = steer.override_weights %o1 if %b {concepts = array<i64: 3>, values = array<f32: 1.0>} : tensor<?x50xf32>
    // CHECK: steer.override_weights %{{.*}} if %[[D]]#0 {concepts = array<i64: 46>
    %o3 = steer.override_weights %o2 if %c {concepts = array<i64: 46>, values = array<f32: 0.0>} : tensor<?x50xf32>
    return %o3 : tensor<?x50xf32>
  }
}

// -----
// Tests that the same concepts under another threshold are another test.
// CHECK-LABEL: func.func @g
func.func @g() -> (i1, i1) {
  // CHECK-NEXT: steer.detect {concepts = array<i64: 7>, guards = [array<i64: 0>, array<i64: 0>], thresholds = array<f32: 5.000000e-01, 7.500000e-01>} : i1, i1
  %a = steer.guard {concepts = array<i64: 7>, threshold = 0.5 : f32}
  %b = steer.guard {concepts = array<i64: 7>, threshold = 0.75 : f32}
  return %a, %b : i1, i1
}

// -----
// Tests that a function without guards is left alone.
// CHECK-LABEL: func.func @h
func.func @h(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // CHECK-NOT: steer.detect
  return %x : tensor<?x8xf32>
}
