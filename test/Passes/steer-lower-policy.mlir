// RUN: steer-opt %s -split-input-file -steer-lower-policy -verify-diagnostics | FileCheck %s

// Tests a guarded audit-then-fix rule: the guard at the entry, the target
// profile before the overrides, the overrides in rule order, all guarded,
// and composition keeping epsilon unless the guard fired.
steer.model @m attributes {n_layers = 2 : i64, n_embd = 8 : i64, vocab_size = 16 : i64, diff_block_size = 4 : i64, n_concepts = 6 : i64} {
  steer.weight @emb : tensor<16x8xf32>
  steer.weight @qkv : tensor<16x8xf32>
  steer.weight @out : tensor<8x8xf32>
  steer.weight @norm : tensor<8xf32>
  steer.weight @fc : tensor<32x8xf32>
  steer.weight @proj : tensor<8x16xf32>
  steer.weight @pred : tensor<6x8xf32>
  steer.weight @cemb : tensor<6x8xf32>
  steer.weight @down : tensor<2x8xf32>
  steer.weight @up : tensor<10x2xf32>
  steer.weight @coef : tensor<10x2xf32>
  steer.weight @basis : tensor<8x2xf32>
  // CHECK-LABEL: func.func @forward
  func.func @forward(%ids: tensor<?xi64>) -> tensor<?x16xf32> {
    // CHECK-NEXT: %[[G:.*]] = steer.guard {concepts = array<i64: 0, 1>, threshold = 8.000000e-01 : f32}
    // CHECK-NEXT: steer.embed
    %x = steer.embed %ids, @emb : tensor<?xi64> -> tensor<?x8xf32>
    %b0 = steer.block %x {layer = 0 : i64, n_head = 2 : i64, n_kv_heads = 1 : i64, diff_block_size = 4 : i64, norm_eps = 1.0e-5 : f64, norm_order = #steer.norm_order<post>, mlp = #steer.mlp<swiglu>, attn_qkv = @qkv, attn_out = @out, norm_attn = @norm, norm_mlp = @norm, mlp_in = @fc, mlp_out = @proj} : tensor<?x8xf32>
    %b1 = steer.block %b0 {layer = 1 : i64, n_head = 2 : i64, n_kv_heads = 1 : i64, diff_block_size = 4 : i64, norm_eps = 1.0e-5 : f64, norm_order = #steer.norm_order<post>, mlp = #steer.mlp<swiglu>, attn_qkv = @qkv, attn_out = @out, norm_attn = @norm, norm_mlp = @norm, mlp_in = @fc, mlp_out = @proj} : tensor<?x8xf32>
    %h = steer.rms_norm %b1, @norm {eps = 1.0e-5 : f64} : tensor<?x8xf32>
    // CHECK: %[[KW:.*]] = steer.known_weights
    %kw = steer.known_weights %h, @pred {n_concepts = 6 : i64, topk = 2 : i64} : tensor<?x8xf32> -> tensor<?x6xf32>
    // CHECK-NEXT: %[[P:.*]] = steer.target_profile %[[KW]] if %[[G]] {response = "I cannot help with that."}
    // CHECK-NEXT: %[[S:.*]] = steer.override_weights %[[P]] if %[[G]] {concepts = array<i64: 0, 1>, values = array<f32: 0.000000e+00, 0.000000e+00>}
    // CHECK-NEXT: %[[C:.*]] = steer.override_weights %[[S]] if %[[G]] {concepts = array<i64: 3>, values = array<f32: 1.000000e+00>}
    // CHECK-NEXT: %[[KF:.*]] = steer.concept_features %[[C]]
    %kf = steer.concept_features %kw, @cemb {topk = 2 : i64} : tensor<?x6xf32> -> tensor<?x8xf32>
    %uf = steer.unknown_features %h {predictor_down = @down, predictor_up = @up, embedding_coef = @coef, embedding_basis = @basis, n_concepts = 10 : i64, topk = 2 : i64} : tensor<?x8xf32> -> tensor<?x8xf32>
    // CHECK: steer.compose %{{.*}}, %[[KF]], %{{.*}} unless(%[[G]]) {epsilon}
    %c = steer.compose %h, %kf, %uf {epsilon} : tensor<?x8xf32>
    %l = steer.lm_head %c, @emb : tensor<?x8xf32> -> tensor<?x16xf32>
    return %l : tensor<?x16xf32>
  }
}
// The policy stays as the record of what was written.
// CHECK: steer.policy @p
steer.policy @p {
  steer.rule @refuse {
    steer.when [#steer.concept<0, "weapons">, #steer.concept<1, "poison">] threshold 0.8
    steer.suppress [#steer.concept<0, "weapons">, #steer.concept<1, "poison">]
    steer.steer_to_response "I cannot help with that."
    steer.clamp #steer.concept<3, "refusal"> to 1.0
  }
}

// -----
// Tests injections after the block before their first layer (layer 0 and
// 1 both start after block 0), chained in policy and rule order, an unlearn's ReLU
// mask on the logits, and an unguarded suppression dropping epsilon.
steer.model @m attributes {n_layers = 2 : i64, n_embd = 8 : i64, vocab_size = 16 : i64, diff_block_size = 4 : i64, n_concepts = 6 : i64} {
  steer.weight @emb : tensor<16x8xf32>
  steer.weight @qkv : tensor<16x8xf32>
  steer.weight @out : tensor<8x8xf32>
  steer.weight @norm : tensor<8xf32>
  steer.weight @fc : tensor<32x8xf32>
  steer.weight @proj : tensor<8x16xf32>
  steer.weight @pred : tensor<6x8xf32>
  steer.weight @cemb : tensor<6x8xf32>
  steer.weight @down : tensor<2x8xf32>
  steer.weight @up : tensor<10x2xf32>
  steer.weight @coef : tensor<10x2xf32>
  steer.weight @basis : tensor<8x2xf32>
  // CHECK-LABEL: func.func @forward
  func.func @forward(%ids: tensor<?xi64>) -> tensor<?x16xf32> {
    // CHECK-NOT: steer.guard
    %x = steer.embed %ids, @emb : tensor<?xi64> -> tensor<?x8xf32>
    // CHECK: %[[B0:.*]] = steer.block
    %b0 = steer.block %x {layer = 0 : i64, n_head = 2 : i64, n_kv_heads = 1 : i64, diff_block_size = 4 : i64, norm_eps = 1.0e-5 : f64, norm_order = #steer.norm_order<post>, mlp = #steer.mlp<swiglu>, attn_qkv = @qkv, attn_out = @out, norm_attn = @norm, norm_mlp = @norm, mlp_in = @fc, mlp_out = @proj} : tensor<?x8xf32>
    // CHECK-NEXT: %[[I0:.*]] = steer.inject %[[B0]] {alpha = 4.000000e+00 : f32, concepts = array<i64: 2>, layer = 0 : i64, normalize, schedule = #steer.schedule<fixed>}
    // CHECK-NEXT: %[[I1:.*]] = steer.inject %[[I0]] {alpha = -7.000000e+00 : f32, concepts = array<i64: 1, 2>, layer = 1 : i64, schedule = #steer.schedule<fixed>}
    // CHECK-NEXT: steer.block %[[I1]]
    %b1 = steer.block %b0 {layer = 1 : i64, n_head = 2 : i64, n_kv_heads = 1 : i64, diff_block_size = 4 : i64, norm_eps = 1.0e-5 : f64, norm_order = #steer.norm_order<post>, mlp = #steer.mlp<swiglu>, attn_qkv = @qkv, attn_out = @out, norm_attn = @norm, norm_mlp = @norm, mlp_in = @fc, mlp_out = @proj} : tensor<?x8xf32>
    %h = steer.rms_norm %b1, @norm {eps = 1.0e-5 : f64} : tensor<?x8xf32>
    %kw = steer.known_weights %h, @pred {n_concepts = 6 : i64, topk = 2 : i64} : tensor<?x8xf32> -> tensor<?x6xf32>
    // CHECK: steer.override_weights %{{.*}} {concepts = array<i64: 4>
    %kf = steer.concept_features %kw, @cemb {topk = 2 : i64} : tensor<?x6xf32> -> tensor<?x8xf32>
    %uf = steer.unknown_features %h {predictor_down = @down, predictor_up = @up, embedding_coef = @coef, embedding_basis = @basis, n_concepts = 10 : i64, topk = 2 : i64} : tensor<?x8xf32> -> tensor<?x8xf32>
    // CHECK: steer.compose
    // CHECK-NOT: epsilon
    // CHECK-SAME: : tensor<?x8xf32>
    %c = steer.compose %h, %kf, %uf {epsilon} : tensor<?x8xf32>
    // CHECK-NEXT: %[[L:.*]] = steer.lm_head
    %l = steer.lm_head %c, @emb : tensor<?x8xf32> -> tensor<?x16xf32>
    // CHECK-NEXT: %[[M:.*]] = steer.relu_logit_mask %[[L]] {concepts = array<i64: 1>, strengths = array<f32: 2.000000e+01>}
    // CHECK-NEXT: return %[[M]]
    return %l : tensor<?x16xf32>
  }
}
steer.policy @p {
  steer.rule @boost {
    steer.amplify [#steer.concept<2>] {target = 4.0 : f32, layer = 0 : i64, schedule = #steer.schedule<fixed>}
  }
  steer.rule @quiet {
    steer.suppress [#steer.concept<4>]
  }
}
// A policy injects one direction; two policies in one module may each.
steer.policy @q {
  steer.rule @forget {
    steer.unlearn #steer.concept<1> group [#steer.concept<2>] {alpha = -7.0 : f32, layer = 1 : i64, relu_strength = 20.0 : f32}
  }
}

// -----
// Tests that an unresolved concept is an error naming the pass to run.
steer.model @m attributes {n_layers = 2 : i64, n_embd = 8 : i64, vocab_size = 16 : i64, diff_block_size = 4 : i64, n_concepts = 6 : i64} {
  steer.weight @emb : tensor<16x8xf32>
  steer.weight @pred : tensor<6x8xf32>
  steer.weight @cemb : tensor<6x8xf32>
  func.func @forward(%h: tensor<?x8xf32>, %uf: tensor<?x8xf32>) -> tensor<?x16xf32> {
    %kw = steer.known_weights %h, @pred {n_concepts = 6 : i64} : tensor<?x8xf32> -> tensor<?x6xf32>
    %kf = steer.concept_features %kw, @cemb : tensor<?x6xf32> -> tensor<?x8xf32>
    %c = steer.compose %h, %kf, %uf {epsilon} : tensor<?x8xf32>
    %l = steer.lm_head %c, @emb : tensor<?x8xf32> -> tensor<?x16xf32>
    return %l : tensor<?x16xf32>
  }
}
steer.policy @p {
  steer.rule @r {
    // expected-error @+1 {{'steer.suppress' op refers to #steer.concept<"weapons">, which is not resolved; run steer-resolve-concepts first}}
    steer.suppress [#steer.concept<"weapons">]
  }
}

// -----
// Tests that a model without a forward graph is an error.
steer.model @m attributes {n_layers = 2 : i64, n_embd = 8 : i64, vocab_size = 16 : i64, diff_block_size = 4 : i64, n_concepts = 6 : i64} {
  // expected-error @-1 {{has no @forward function to lower the policy into}}
}
steer.policy @p {
  steer.rule @r {
    steer.suppress [#steer.concept<1>]
  }
}
