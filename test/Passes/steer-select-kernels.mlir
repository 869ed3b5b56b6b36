// RUN: steer-opt %s -split-input-file -steer-select-kernels | FileCheck %s

// Tests the per-site plan: linear layers by the runtime's rule (a narrow
// bf16 layer on the vector path, a bf16 lm_head of 16384 rows on the
// matrix unit, float32 weights on the vector path), an intervened feature
// sum under a guard, and the intervention sites.
// CHECK: steer.model @m attributes {
// CHECK-SAME: steer.kernel_plan = {
// CHECK-SAME: block.0.attention = "block_causal_f32"
// CHECK-SAME: block.0.attn_qkv = "fma_bf16"
// CHECK-SAME: block.0.mlp_in = "fma_bf16"
// CHECK-SAME: guards = "prompt_max_f32"
// CHECK-SAME: known_head.features = "topk_or_dense_sum_f32"
// CHECK-SAME: known_head.override = "override_table_f32"
// CHECK-SAME: known_head.predictor = "fma_f32"
// CHECK-SAME: lm_head = "amx_bf16"
// CHECK-SAME: logits.mask = "vocab_bias_sub_f32"
// CHECK-SAME: residual.inject = "resolve_then_axpy_masked_f32"
steer.model @m attributes {n_layers = 1 : i64, n_embd = 64 : i64, vocab_size = 16384 : i64, diff_block_size = 4 : i64, n_concepts = 4 : i64} {
  steer.weight @emb : tensor<16384x64xbf16>
  steer.weight @qkv : tensor<128x64xbf16>
  steer.weight @out : tensor<64x64xbf16>
  steer.weight @norm : tensor<64xbf16>
  steer.weight @fc : tensor<256x64xbf16>
  steer.weight @proj : tensor<64x128xbf16>
  steer.weight @pred : tensor<4x64xf32>
  steer.weight @cemb : tensor<4x64xf32>
  func.func @forward(%ids: tensor<?xi64>, %uf: tensor<?x64xf32>) -> tensor<?x16384xf32> {
    %g = steer.guard {concepts = array<i64: 1>, threshold = 0.5 : f32}
    %x = steer.embed %ids, @emb : tensor<?xi64> -> tensor<?x64xf32>
    %b0 = steer.block %x {layer = 0 : i64, n_head = 2 : i64, n_kv_heads = 1 : i64, diff_block_size = 4 : i64, norm_eps = 1.0e-5 : f64, norm_order = #steer.norm_order<post>, mlp = #steer.mlp<swiglu>, attn_qkv = @qkv, attn_out = @out, norm_attn = @norm, norm_mlp = @norm, mlp_in = @fc, mlp_out = @proj} : tensor<?x64xf32>
    %i = steer.inject %b0 {concepts = array<i64: 2>, alpha = 4.0 : f32, layer = 1 : i64, normalize, schedule = #steer.schedule<fixed>} : tensor<?x64xf32>
    %h = steer.rms_norm %i, @norm {eps = 1.0e-5 : f64} : tensor<?x64xf32>
    %kw = steer.known_weights %h, @pred {n_concepts = 4 : i64} : tensor<?x64xf32> -> tensor<?x4xf32>
    %o = steer.override_weights %kw if %g {concepts = array<i64: 1>, values = array<f32: 0.0>} : tensor<?x4xf32>
    %kf = steer.concept_features %o, @cemb : tensor<?x4xf32> -> tensor<?x64xf32>
    %c = steer.compose %h, %kf, %uf unless(%g) {epsilon} : tensor<?x64xf32>
    %l = steer.lm_head %c, @emb : tensor<?x64xf32> -> tensor<?x16384xf32>
    %m = steer.logit_bias %l {bias = dense<0.0> : tensor<16384xf32>} : tensor<?x16384xf32>
    return %m : tensor<?x16384xf32>
  }
}

// -----
// Tests that a graph without concept heads records them as skipped.
// CHECK: steer.kernel_plan = {
// CHECK-SAME: concept_heads = "skipped"
// CHECK-SAME: lm_head = "fma_f32"
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 16 : i64, diff_block_size = 4 : i64} {
  steer.weight @emb : tensor<16x8xf32>
  func.func @forward(%x: tensor<?x8xf32>) -> tensor<?x16xf32> {
    %l = steer.lm_head %x, @emb : tensor<?x8xf32> -> tensor<?x16xf32>
    return %l : tensor<?x16xf32>
  }
}
