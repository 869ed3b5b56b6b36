// RUN: steer-opt %s -split-input-file -steer-fold-logit-masks=model=%golden/tiny-f32/checkpoint | FileCheck %s
// RUN: steer-opt %s -steer-fold-logit-masks=model=%golden/tiny-f32/checkpoint | %numpy_python %S/Inputs/check_folds.py %golden/tiny-f32/checkpoint "bias:3:20.0,5:2.5" "bias:7:1.0"
// RUN: not steer-opt %s -split-input-file -steer-fold-logit-masks 2>&1 | FileCheck %s --check-prefix=NOMODEL

// Tests that a chain of masks under one guard (none here) becomes one bias
// (the sum), that a mask under another guard keeps its own, and that the
// values match tok_emb . concept_embedding through a ReLU, computed here
// with numpy (second RUN line).
steer.model @m attributes {n_layers = 2 : i64, n_embd = 64 : i64, vocab_size = 512 : i64, diff_block_size = 8 : i64, n_concepts = 48 : i64} {
  // CHECK-LABEL: func.func @forward
  func.func @forward(%l: tensor<?x512xf32>) -> tensor<?x512xf32> {
    // CHECK-NEXT: %[[G:.*]] = steer.guard
    %g = steer.guard {concepts = array<i64: 1>, threshold = 0.5 : f32}
    // CHECK-NEXT: %[[B:.*]] = steer.logit_bias %{{.*}} {bias = dense_resource<[[R1:vocab_bias[_0-9]*]]> : tensor<512xf32>} : tensor<?x512xf32>
    // CHECK-NEXT: %[[C:.*]] = steer.logit_bias %[[B]] if %[[G]] {bias = dense_resource<[[R2:vocab_bias[_0-9]*]]> : tensor<512xf32>} : tensor<?x512xf32>
    // CHECK-NEXT: return %[[C]]
    %m1 = steer.relu_logit_mask %l {concepts = array<i64: 3>, strengths = array<f32: 20.0>} : tensor<?x512xf32>
    %m2 = steer.relu_logit_mask %m1 {concepts = array<i64: 5>, strengths = array<f32: 2.5>} : tensor<?x512xf32>
    %m3 = steer.relu_logit_mask %m2 if %g {concepts = array<i64: 7>, strengths = array<f32: 1.0>} : tensor<?x512xf32>
    return %m3 : tensor<?x512xf32>
  }
}
// CHECK: dialect_resources
// CHECK-NEXT: builtin
// CHECK-NEXT: [[R1]]: "0x04000000
// CHECK-NEXT: [[R2]]: "0x04000000

// NOMODEL: error: folding needs the checkpoint's weights: pass model=DIR (steerc passes its --model)
