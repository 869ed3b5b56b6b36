// RUN: steer-opt %s | FileCheck %s
// RUN: steer-opt %s | steer-opt | FileCheck %s
// RUN: steer-opt %s -mlir-print-op-generic | steer-opt | FileCheck %s

// Tests that a whole interpretable model graph with every op prints and
// parses back unchanged.

// CHECK-LABEL: steer.model @tiny
// CHECK-SAME: diff_block_size = 8 : i64, n_concepts = 48 : i64, n_embd = 64 : i64, n_layers = 1 : i64, vocab_size = 512 : i64
steer.model @tiny attributes {n_layers = 1 : i64, n_embd = 64 : i64, vocab_size = 512 : i64, diff_block_size = 8 : i64, n_concepts = 48 : i64} {
  // CHECK: steer.weight @transformer.tok_emb.weight : tensor<512x64xf32>
  steer.weight @transformer.tok_emb.weight : tensor<512x64xf32>
  steer.weight @transformer.blocks.0.attn.c_attn.weight : tensor<128x64xf32>
  steer.weight @transformer.blocks.0.attn.c_proj.weight : tensor<64x64xf32>
  steer.weight @transformer.blocks.0.attn.q_norm.weight : tensor<16xf32>
  steer.weight @transformer.blocks.0.attn.k_norm.weight : tensor<16xf32>
  steer.weight @transformer.blocks.0.ln_1.weight : tensor<64xf32>
  steer.weight @transformer.blocks.0.ln_2.weight : tensor<64xf32>
  steer.weight @transformer.blocks.0.mlp.c_fc.weight : tensor<512x64xf32>
  steer.weight @transformer.blocks.0.mlp.c_proj.weight : tensor<64x256xf32>
  steer.weight @transformer.ln_f.weight : tensor<64xf32>
  // CHECK: steer.weight @known_head.concept_predictor.weight : tensor<48x64xbf16>
  steer.weight @known_head.concept_predictor.weight : tensor<48x64xbf16>
  steer.weight @known_head.concept_embedding.weight : tensor<48x64xbf16>
  steer.weight @unknown_head.predictor_down.weight : tensor<16x64xf32>
  steer.weight @unknown_head.predictor_up.weight : tensor<80x16xf32>
  steer.weight @unknown_head.embedding_coef.weight : tensor<80x16xf32>
  steer.weight @unknown_head.embedding_basis.weight : tensor<64x16xf32>

  // CHECK: func.func @forward(%[[IDS:.*]]: tensor<?xi64>)
  func.func @forward(%ids: tensor<?xi64>) -> tensor<?x512xf32> {
    // CHECK: %[[X:.*]] = steer.embed %[[IDS]], @transformer.tok_emb.weight : tensor<?xi64> -> tensor<?x64xf32>
    %x = steer.embed %ids, @transformer.tok_emb.weight : tensor<?xi64> -> tensor<?x64xf32>
    // CHECK: %[[B:.*]] = steer.block %[[X]] {
    // CHECK-SAME: clip_qkv = 1.000000e+01
    // CHECK-SAME: mlp = #steer.mlp<swiglu>
    // CHECK-SAME: norm_order = #steer.norm_order<post>
    // CHECK-SAME: } : tensor<?x64xf32>
    %b = steer.block %x {layer = 0 : i64, n_head = 4 : i64, n_kv_heads = 2 : i64,
        diff_block_size = 8 : i64, norm_eps = 1.0e-5 : f64,
        norm_order = #steer.norm_order<post>, mlp = #steer.mlp<swiglu>,
        clip_qkv = 10.0 : f64, rope_base = 500000.0 : f64,
        attn_qkv = @transformer.blocks.0.attn.c_attn.weight,
        attn_out = @transformer.blocks.0.attn.c_proj.weight,
        q_norm = @transformer.blocks.0.attn.q_norm.weight,
        k_norm = @transformer.blocks.0.attn.k_norm.weight,
        norm_attn = @transformer.blocks.0.ln_1.weight,
        norm_mlp = @transformer.blocks.0.ln_2.weight,
        mlp_in = @transformer.blocks.0.mlp.c_fc.weight,
        mlp_out = @transformer.blocks.0.mlp.c_proj.weight} : tensor<?x64xf32>
    // CHECK: %[[I:.*]] = steer.inject %[[B]] {alpha = 8.000000e+00 : f32, concepts = array<i64: 3, 5>, cutoff_tokens = 8 : i64, layer = 1 : i64, normalize, schedule = #steer.schedule<hard_cutoff>}
    %i = steer.inject %b {concepts = array<i64: 3, 5>, alpha = 8.0 : f32, normalize, layer = 1 : i64, schedule = #steer.schedule<hard_cutoff>, cutoff_tokens = 8 : i64} : tensor<?x64xf32>
    // CHECK: %[[H:.*]] = steer.rms_norm %[[I]], @transformer.ln_f.weight {eps = 1.000000e-05 : f64} : tensor<?x64xf32>
    %h = steer.rms_norm %i, @transformer.ln_f.weight {eps = 1.0e-5 : f64} : tensor<?x64xf32>
    // CHECK: %[[KW:.*]] = steer.known_weights %[[H]], @known_head.concept_predictor.weight {n_concepts = 48 : i64, topk = 8 : i64} : tensor<?x64xf32> -> tensor<?x48xf32>
    %kw = steer.known_weights %h, @known_head.concept_predictor.weight {n_concepts = 48 : i64, topk = 8 : i64} : tensor<?x64xf32> -> tensor<?x48xf32>
    // CHECK: %[[OW:.*]] = steer.override_weights %[[KW]] {concepts = array<i64: 3, 7>, values = array<f32: 0.000000e+00, 1.000000e+00>} : tensor<?x48xf32>
    %ow = steer.override_weights %kw {concepts = array<i64: 3, 7>, values = array<f32: 0.0, 1.0>} : tensor<?x48xf32>
    // CHECK: %[[KF:.*]] = steer.concept_features %[[OW]], @known_head.concept_embedding.weight {topk = 8 : i64} : tensor<?x48xf32> -> tensor<?x64xf32>
    %kf = steer.concept_features %ow, @known_head.concept_embedding.weight {topk = 8 : i64} : tensor<?x48xf32> -> tensor<?x64xf32>
    // CHECK: %[[UF:.*]] = steer.unknown_features %[[H]] {
    %uf = steer.unknown_features %h {predictor_down = @unknown_head.predictor_down.weight, predictor_up = @unknown_head.predictor_up.weight, embedding_coef = @unknown_head.embedding_coef.weight, embedding_basis = @unknown_head.embedding_basis.weight, n_concepts = 80 : i64, topk = 16 : i64} : tensor<?x64xf32> -> tensor<?x64xf32>
    // CHECK: %[[C:.*]] = steer.compose %[[H]], %[[KF]], %[[UF]] : tensor<?x64xf32>
    %c = steer.compose %h, %kf, %uf : tensor<?x64xf32>
    // CHECK: %[[L:.*]] = steer.lm_head %[[C]], @transformer.tok_emb.weight : tensor<?x64xf32> -> tensor<?x512xf32>
    %l = steer.lm_head %c, @transformer.tok_emb.weight : tensor<?x64xf32> -> tensor<?x512xf32>
    // CHECK: steer.relu_logit_mask %[[L]] {concepts = array<i64: 3>, strengths = array<f32: 2.000000e+01>} : tensor<?x512xf32>
    %m = steer.relu_logit_mask %l {concepts = array<i64: 3>, strengths = array<f32: 20.0>} : tensor<?x512xf32>
    return %m : tensor<?x512xf32>
  }
}

// Tests the plain (non-interpretable) form: compose with epsilon, a
// pre-norm block without qk-norm, clip or RoPE, and the standard MLP.
// CHECK-LABEL: steer.model @plain
steer.model @plain attributes {n_layers = 1 : i64, n_embd = 32 : i64, vocab_size = 100 : i64, diff_block_size = 4 : i64} {
  steer.weight @tok_emb.weight : tensor<100x32xf16>
  steer.weight @blocks.0.attn.c_attn.weight : tensor<96x32xf16>
  steer.weight @blocks.0.attn.c_proj.weight : tensor<32x32xf16>
  steer.weight @blocks.0.ln_1.weight : tensor<32xf16>
  steer.weight @blocks.0.ln_2.weight : tensor<32xf16>
  steer.weight @blocks.0.mlp.c_fc.weight : tensor<128x32xf16>
  steer.weight @blocks.0.mlp.c_proj.weight : tensor<32x128xf16>
  func.func @forward(%ids: tensor<7xi32>) -> tensor<7x32xf32> {
    %x = steer.embed %ids, @tok_emb.weight : tensor<7xi32> -> tensor<7x32xf32>
    // CHECK: steer.block
    // CHECK-SAME: mlp = #steer.mlp<standard>
    // CHECK-SAME: norm_order = #steer.norm_order<pre>
    // CHECK-NOT: q_norm
    %b = steer.block %x {layer = 0 : i64, n_head = 2 : i64, n_kv_heads = 2 : i64,
        diff_block_size = 4 : i64, norm_eps = 1.0e-6 : f64,
        norm_order = #steer.norm_order<pre>, mlp = #steer.mlp<standard>,
        attn_qkv = @blocks.0.attn.c_attn.weight, attn_out = @blocks.0.attn.c_proj.weight,
        norm_attn = @blocks.0.ln_1.weight, norm_mlp = @blocks.0.ln_2.weight,
        mlp_in = @blocks.0.mlp.c_fc.weight, mlp_out = @blocks.0.mlp.c_proj.weight} : tensor<7x32xf32>
    // CHECK: steer.compose %{{.*}}, %{{.*}}, %{{.*}} {epsilon} : tensor<7x32xf32>
    %c = steer.compose %b, %b, %b {epsilon} : tensor<7x32xf32>
    return %c : tensor<7x32xf32>
  }
}

// Tests guards and the guarded forms of the interventions: a guard per
// request, interventions taking it after `if`, a target profile before and
// after extraction, and composition keeping epsilon unless the guard fired.
// CHECK-LABEL: steer.model @guarded
steer.model @guarded attributes {n_layers = 2 : i64, n_embd = 8 : i64, vocab_size = 16 : i64, diff_block_size = 4 : i64, n_concepts = 3 : i64} {
  steer.weight @e : tensor<3x8xf32>
  func.func @f(%x: tensor<?x8xf32>, %w: tensor<?x3xf32>, %u: tensor<?x8xf32>, %l: tensor<?x16xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x16xf32>) {
    // CHECK: %[[G:.*]] = steer.guard {concepts = array<i64: 0, 2>, threshold = 5.000000e-01 : f32}
    %g = steer.guard {concepts = array<i64: 0, 2>, threshold = 0.5 : f32}
    // CHECK: steer.inject %{{.*}} if %[[G]] {alpha
    %i = steer.inject %x if %g {concepts = array<i64: 1>, alpha = 2.0 : f32, layer = 1 : i64, schedule = #steer.schedule<fixed>} : tensor<?x8xf32>
    // CHECK: steer.target_profile %{{.*}} if %[[G]] {response = "No."}
    %p = steer.target_profile %w if %g {response = "No."} : tensor<?x3xf32>
    // CHECK: steer.target_profile %{{.*}} {profile = dense<[1.000000e-01, 0.000000e+00, 5.000000e-01]> : tensor<3xf32>, response = "No."}
    %q = steer.target_profile %p {response = "No.", profile = dense<[0.1, 0.0, 0.5]> : tensor<3xf32>} : tensor<?x3xf32>
    // CHECK: steer.override_weights %{{.*}} if %[[G]] {concepts
    %o = steer.override_weights %p if %g {concepts = array<i64: 0>, values = array<f32: 0.0>} : tensor<?x3xf32>
    %k = steer.concept_features %o, @e : tensor<?x3xf32> -> tensor<?x8xf32>
    // CHECK: steer.compose %{{.*}}, %{{.*}}, %{{.*}} unless(%[[G]]) {epsilon} : tensor<?x8xf32>
    %c = steer.compose %x, %k, %u unless(%g) {epsilon} : tensor<?x8xf32>
    // CHECK: steer.relu_logit_mask %{{.*}} if %[[G]] {concepts
    %m = steer.relu_logit_mask %l if %g {concepts = array<i64: 2>, strengths = array<f32: 5.0>} : tensor<?x16xf32>
    return %i, %c, %m : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x16xf32>
  }
}
