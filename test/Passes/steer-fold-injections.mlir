// RUN: steer-opt %s -steer-fold-injections=model=%golden/tiny-f32/checkpoint | FileCheck %s
// RUN: steer-opt %s -steer-fold-injections=model=%golden/tiny-f32/checkpoint | %numpy_python %S/Inputs/check_folds.py %golden/tiny-f32/checkpoint "inject:3,5:8.0" "inject:7"
// RUN: not steer-opt %s -steer-fold-injections 2>&1 | FileCheck %s --check-prefix=NOMODEL

// Tests that a normalised injection gets its direction and resolved alpha
// (the values checked against numpy on the second RUN line), that a raw
// one keeps its alpha, and that guards, layers and schedules stay.
steer.model @m attributes {n_layers = 2 : i64, n_embd = 64 : i64, vocab_size = 512 : i64, diff_block_size = 8 : i64, n_concepts = 48 : i64} {
  // CHECK-LABEL: func.func @forward
  func.func @forward(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
    %g = steer.guard {concepts = array<i64: 1>, threshold = 0.5 : f32}
    // CHECK: %[[A:.*]] = steer.inject %{{.*}} {alpha = {{.*}} : f32, concepts = array<i64: 3, 5>, cutoff_tokens = 8 : i64, direction = dense_resource<[[D1:inject_direction[_0-9]*]]> : tensor<64xf32>, layer = 1 : i64, schedule = #steer.schedule<hard_cutoff>}
    %a = steer.inject %x {alpha = 8.0 : f32, concepts = array<i64: 3, 5>, cutoff_tokens = 8 : i64, layer = 1 : i64, normalize, schedule = #steer.schedule<hard_cutoff>} : tensor<?x64xf32>
    // CHECK-NEXT: steer.inject %[[A]] if %{{.*}} {alpha = -4.000000e+00 : f32, concepts = array<i64: 7>, direction = dense_resource<[[D2:inject_direction[_0-9]*]]> : tensor<64xf32>, layer = 2 : i64, schedule = #steer.schedule<fixed>}
    %b = steer.inject %a if %g {alpha = -4.0 : f32, concepts = array<i64: 7>, layer = 2 : i64, schedule = #steer.schedule<fixed>} : tensor<?x64xf32>
    return %b : tensor<?x64xf32>
  }
}
// CHECK: [[D1]]: "0x04000000
// CHECK-NEXT: [[D2]]: "0x04000000

// NOMODEL: error: folding needs the checkpoint's weights: pass model=DIR (steerc passes its --model)
