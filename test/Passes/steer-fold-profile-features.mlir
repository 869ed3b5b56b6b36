// RUN: steer-opt %s -split-input-file -steer-fold-profile-features=model=%golden/tiny-f32/checkpoint | FileCheck %s
// RUN: steer-opt %s -split-input-file -steer-fold-profile-features=model=%golden/tiny-f32/checkpoint | %numpy_python %S/Inputs/check_folds.py %golden/tiny-f32/checkpoint "features:0.25:3=0,5=1"

// Tests that a profile with overrides under its guard folds into the
// features the row gives (checked against numpy on the second RUN line),
// and that composition reads the folded features.
steer.model @m attributes {n_layers = 2 : i64, n_embd = 64 : i64, vocab_size = 512 : i64, diff_block_size = 8 : i64, n_concepts = 48 : i64} {
  steer.weight @known_head.concept_embedding.weight : tensor<48x64xf32>
  // CHECK-LABEL: func.func @forward
  func.func @forward(%h: tensor<?x64xf32>, %kw: tensor<?x48xf32>, %uf: tensor<?x64xf32>) -> tensor<?x64xf32> {
    %g = steer.guard {concepts = array<i64: 1>, threshold = 0.5 : f32}
    %p = steer.target_profile %kw if %g {response = "No.", profile = dense<0.25> : tensor<48xf32>} : tensor<?x48xf32>
    %o = steer.override_weights %p if %g {concepts = array<i64: 3, 5>, values = array<f32: 0.0, 1.0>} : tensor<?x48xf32>
    // CHECK: %[[KF:.*]] = steer.concept_features
    %kf = steer.concept_features %o, @known_head.concept_embedding.weight {topk = 4 : i64} : tensor<?x48xf32> -> tensor<?x64xf32>
    // CHECK-NEXT: %[[F:.*]] = steer.fixed_features %[[KF]] if %{{.*}} {features = dense_resource<profile_features> : tensor<64xf32>}
    // CHECK-NEXT: steer.compose %{{.*}}, %[[F]], %{{.*}} unless
    %c = steer.compose %h, %kf, %uf unless(%g) {epsilon} : tensor<?x64xf32>
    return %c : tensor<?x64xf32>
  }
}

// -----
// Tests that an override under another guard keeps the chain explicit.
steer.model @m attributes {n_layers = 2 : i64, n_embd = 64 : i64, vocab_size = 512 : i64, diff_block_size = 8 : i64, n_concepts = 48 : i64} {
  steer.weight @known_head.concept_embedding.weight : tensor<48x64xf32>
  // CHECK-LABEL: func.func @forward
  func.func @forward(%kw: tensor<?x48xf32>) -> tensor<?x64xf32> {
    %g = steer.guard {concepts = array<i64: 1>, threshold = 0.5 : f32}
    %g2 = steer.guard {concepts = array<i64: 2>, threshold = 0.5 : f32}
    %p = steer.target_profile %kw if %g {response = "No.", profile = dense<0.25> : tensor<48xf32>} : tensor<?x48xf32>
    %o = steer.override_weights %p if %g2 {concepts = array<i64: 3>, values = array<f32: 0.0>} : tensor<?x48xf32>
    // CHECK-NOT: steer.fixed_features
    %kf = steer.concept_features %o, @known_head.concept_embedding.weight : tensor<?x48xf32> -> tensor<?x64xf32>
    return %kf : tensor<?x64xf32>
  }
}

// -----
// Tests that a profile not yet extracted is left alone.
steer.model @m attributes {n_layers = 2 : i64, n_embd = 64 : i64, vocab_size = 512 : i64, diff_block_size = 8 : i64, n_concepts = 48 : i64} {
  steer.weight @known_head.concept_embedding.weight : tensor<48x64xf32>
  // CHECK-LABEL: func.func @forward
  func.func @forward(%kw: tensor<?x48xf32>) -> tensor<?x64xf32> {
    %p = steer.target_profile %kw {response = "No."} : tensor<?x48xf32>
    // CHECK-NOT: steer.fixed_features
    %kf = steer.concept_features %p, @known_head.concept_embedding.weight : tensor<?x48xf32> -> tensor<?x64xf32>
    return %kf : tensor<?x64xf32>
  }
}
