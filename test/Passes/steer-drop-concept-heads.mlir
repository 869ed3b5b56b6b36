// RUN: steer-opt %s -split-input-file -steer-drop-concept-heads | FileCheck %s

// Tests that composition with epsilon (the hidden state given back exactly)
// is replaced by the hidden state and the concept heads are erased, while
// an injection keeps its place.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 16 : i64, diff_block_size = 4 : i64, n_concepts = 4 : i64} {
  steer.weight @emb : tensor<16x8xf32>
  steer.weight @ln_f : tensor<8xf32>
  steer.weight @pred : tensor<4x8xf32>
  steer.weight @cemb : tensor<4x8xf32>
  steer.weight @down : tensor<2x8xf32>
  steer.weight @up : tensor<6x2xf32>
  steer.weight @coef : tensor<6x2xf32>
  steer.weight @basis : tensor<8x2xf32>
  // CHECK-LABEL: func.func @forward
  func.func @forward(%ids: tensor<?xi64>) -> tensor<?x16xf32> {
    %x = steer.embed %ids, @emb : tensor<?xi64> -> tensor<?x8xf32>
    // CHECK: %[[I:.*]] = steer.inject
    %i = steer.inject %x {concepts = array<i64: 1>, alpha = 2.0 : f32, layer = 1 : i64, schedule = #steer.schedule<fixed>} : tensor<?x8xf32>
    // CHECK: %[[H:.*]] = steer.rms_norm %[[I]]
    %h = steer.rms_norm %i, @ln_f {eps = 1.0e-5 : f64} : tensor<?x8xf32>
    // CHECK-NOT: steer.known_weights
    // CHECK-NOT: steer.concept_features
    // CHECK-NOT: steer.unknown_features
    // CHECK-NOT: steer.compose
    %kw = steer.known_weights %h, @pred {n_concepts = 4 : i64, topk = 2 : i64} : tensor<?x8xf32> -> tensor<?x4xf32>
    %kf = steer.concept_features %kw, @cemb {topk = 2 : i64} : tensor<?x4xf32> -> tensor<?x8xf32>
    %uf = steer.unknown_features %h {predictor_down = @down, predictor_up = @up, embedding_coef = @coef, embedding_basis = @basis, n_concepts = 6 : i64, topk = 2 : i64} : tensor<?x8xf32> -> tensor<?x8xf32>
    %c = steer.compose %h, %kf, %uf {epsilon} : tensor<?x8xf32>
    // CHECK: steer.lm_head %[[H]], @emb
    %l = steer.lm_head %c, @emb : tensor<?x8xf32> -> tensor<?x16xf32>
    return %l : tensor<?x16xf32>
  }
}

// -----
// Tests that overridden weights (composition without epsilon) keep the heads.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 16 : i64, diff_block_size = 4 : i64, n_concepts = 4 : i64} {
  steer.weight @pred : tensor<4x8xf32>
  steer.weight @cemb : tensor<4x8xf32>
  // CHECK-LABEL: func.func @overridden
  func.func @overridden(%h: tensor<?x8xf32>, %uf: tensor<?x8xf32>) -> tensor<?x8xf32> {
    // CHECK: steer.known_weights
    %kw = steer.known_weights %h, @pred {n_concepts = 4 : i64} : tensor<?x8xf32> -> tensor<?x4xf32>
    // CHECK: steer.override_weights
    %ow = steer.override_weights %kw {concepts = array<i64: 1>, values = array<f32: 0.0>} : tensor<?x4xf32>
    // CHECK: steer.concept_features
    %kf = steer.concept_features %ow, @cemb : tensor<?x4xf32> -> tensor<?x8xf32>
    // CHECK: steer.compose
    %c = steer.compose %h, %kf, %uf : tensor<?x8xf32>
    return %c : tensor<?x8xf32>
  }
}

// -----
// Tests that a policy whose guard reads the known weights keeps the heads.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 16 : i64, diff_block_size = 4 : i64, n_concepts = 4 : i64} {
  steer.weight @pred : tensor<4x8xf32>
  // CHECK-LABEL: func.func @guarded
  func.func @guarded(%h: tensor<?x8xf32>, %uf: tensor<?x8xf32>) -> tensor<?x8xf32> {
    // CHECK: steer.known_weights
    %kw = steer.known_weights %h, @pred {n_concepts = 4 : i64} : tensor<?x8xf32> -> tensor<?x4xf32>
    // CHECK: steer.compose {{.*}} {epsilon}
    %c = steer.compose %h, %h, %uf {epsilon} : tensor<?x8xf32>
    %s = steer.compose %c, %c, %c : tensor<?x8xf32>
    return %s : tensor<?x8xf32>
  }
}
steer.policy @p {
  steer.rule @r {
    steer.when [#steer.concept<1>] threshold 0.5
    steer.steer_to_response "No."
  }
}
