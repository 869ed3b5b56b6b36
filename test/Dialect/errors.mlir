// RUN: steer-opt %s -split-input-file -verify-diagnostics

// Tests that model attributes must be positive.
// expected-error @+1 {{'steer.model' op 'n_layers' must be positive, got 0}}
steer.model @m attributes {n_layers = 0 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
}

// -----
// Tests that n_concepts must be positive when present.
// expected-error @+1 {{'n_concepts' must be positive, got -3}}
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64, n_concepts = -3 : i64} {
}

// -----
// Tests that weights have static shapes.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  // expected-error @+1 {{must have a static shape}}
  steer.weight @w : tensor<?x8xf32>
}

// -----
// Tests that weights are vectors or matrices.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  // expected-error @+1 {{weights are vectors or matrices, got rank 3}}
  steer.weight @w : tensor<2x2x8xf32>
}

// -----
// Tests that weights are floating point of a supported width.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  // expected-error @+1 {{weight element type must be f32, f16 or bf16, got 'f64'}}
  steer.weight @w : tensor<8xf64>
}

// -----
// Tests that weights live in a model.
// expected-error @+1 {{'steer.weight' op expects parent op 'steer.model'}}
steer.weight @w : tensor<8xf32>

// -----
// Tests that embed gives one row per id.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  steer.weight @emb : tensor<4x8xf32>
  func.func @f(%ids: tensor<3xi64>) -> tensor<5x8xf32> {
    // expected-error @+1 {{gives 5 rows for 3 token ids}}
    %x = steer.embed %ids, @emb : tensor<3xi64> -> tensor<5x8xf32>
    return %x : tensor<5x8xf32>
  }
}

// -----
// Tests that symbol references must name a steer.weight.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  func.func @f(%ids: tensor<?xi64>) -> tensor<?x8xf32> {
    // expected-error @+1 {{'table' refers to @missing, which is not a steer.weight in the enclosing steer.model}}
    %x = steer.embed %ids, @missing : tensor<?xi64> -> tensor<?x8xf32>
    return %x : tensor<?x8xf32>
  }
}

// -----
// Tests that the embedding table is [vocab, width].
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  steer.weight @emb : tensor<5x8xf32>
  func.func @f(%ids: tensor<?xi64>) -> tensor<?x8xf32> {
    // expected-error @+1 {{'table' weight @emb has shape 'tensor<5x8xf32>' but this op needs [4, 8]}}
    %x = steer.embed %ids, @emb : tensor<?xi64> -> tensor<?x8xf32>
    return %x : tensor<?x8xf32>
  }
}

// -----
// Tests that n_head must be divisible by n_kv_heads.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{n_head (4) must be divisible by n_kv_heads (3)}}
    %b = steer.block %x {layer = 0 : i64, n_head = 4 : i64, n_kv_heads = 3 : i64, diff_block_size = 2 : i64, norm_eps = 1.0e-5 : f64, norm_order = #steer.norm_order<post>, mlp = #steer.mlp<swiglu>, attn_qkv = @a, attn_out = @a, norm_attn = @a, norm_mlp = @a, mlp_in = @a, mlp_out = @a} : tensor<?x8xf32>
    return %b : tensor<?x8xf32>
  }
}

// -----
// Tests that the width must split evenly into heads.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{width 8 is not divisible by n_head (3)}}
    %b = steer.block %x {layer = 0 : i64, n_head = 3 : i64, n_kv_heads = 1 : i64, diff_block_size = 2 : i64, norm_eps = 1.0e-5 : f64, norm_order = #steer.norm_order<post>, mlp = #steer.mlp<swiglu>, attn_qkv = @a, attn_out = @a, norm_attn = @a, norm_mlp = @a, mlp_in = @a, mlp_out = @a} : tensor<?x8xf32>
    return %b : tensor<?x8xf32>
  }
}

// -----
// Tests that head counts are positive.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{head counts must be positive}}
    %b = steer.block %x {layer = 0 : i64, n_head = 0 : i64, n_kv_heads = 1 : i64, diff_block_size = 2 : i64, norm_eps = 1.0e-5 : f64, norm_order = #steer.norm_order<post>, mlp = #steer.mlp<swiglu>, attn_qkv = @a, attn_out = @a, norm_attn = @a, norm_mlp = @a, mlp_in = @a, mlp_out = @a} : tensor<?x8xf32>
    return %b : tensor<?x8xf32>
  }
}

// -----
// Tests that diff_block_size is positive.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{diff_block_size must be positive}}
    %b = steer.block %x {layer = 0 : i64, n_head = 2 : i64, n_kv_heads = 1 : i64, diff_block_size = 0 : i64, norm_eps = 1.0e-5 : f64, norm_order = #steer.norm_order<post>, mlp = #steer.mlp<swiglu>, attn_qkv = @a, attn_out = @a, norm_attn = @a, norm_mlp = @a, mlp_in = @a, mlp_out = @a} : tensor<?x8xf32>
    return %b : tensor<?x8xf32>
  }
}

// -----
// Tests that clip_qkv is positive.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{clip_qkv must be positive; drop it to disable clipping}}
    %b = steer.block %x {layer = 0 : i64, n_head = 2 : i64, n_kv_heads = 1 : i64, diff_block_size = 2 : i64, norm_eps = 1.0e-5 : f64, clip_qkv = 0.0 : f64, norm_order = #steer.norm_order<post>, mlp = #steer.mlp<swiglu>, attn_qkv = @a, attn_out = @a, norm_attn = @a, norm_mlp = @a, mlp_in = @a, mlp_out = @a} : tensor<?x8xf32>
    return %b : tensor<?x8xf32>
  }
}

// -----
// Tests that rope_base is positive.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{rope_base must be positive}}
    %b = steer.block %x {layer = 0 : i64, n_head = 2 : i64, n_kv_heads = 1 : i64, diff_block_size = 2 : i64, norm_eps = 1.0e-5 : f64, rope_base = -1.0 : f64, norm_order = #steer.norm_order<post>, mlp = #steer.mlp<swiglu>, attn_qkv = @a, attn_out = @a, norm_attn = @a, norm_mlp = @a, mlp_in = @a, mlp_out = @a} : tensor<?x8xf32>
    return %b : tensor<?x8xf32>
  }
}

// -----
// Tests that norm_eps is positive.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{norm_eps must be positive}}
    %b = steer.block %x {layer = 0 : i64, n_head = 2 : i64, n_kv_heads = 1 : i64, diff_block_size = 2 : i64, norm_eps = 0.0 : f64, norm_order = #steer.norm_order<post>, mlp = #steer.mlp<swiglu>, attn_qkv = @a, attn_out = @a, norm_attn = @a, norm_mlp = @a, mlp_in = @a, mlp_out = @a} : tensor<?x8xf32>
    return %b : tensor<?x8xf32>
  }
}

// -----
// Tests that q_norm and k_norm come together.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{q_norm and k_norm come together; give both or neither}}
    %b = steer.block %x {layer = 0 : i64, n_head = 2 : i64, n_kv_heads = 1 : i64, diff_block_size = 2 : i64, norm_eps = 1.0e-5 : f64, norm_order = #steer.norm_order<post>, mlp = #steer.mlp<swiglu>, q_norm = @a, attn_qkv = @a, attn_out = @a, norm_attn = @a, norm_mlp = @a, mlp_in = @a, mlp_out = @a} : tensor<?x8xf32>
    return %b : tensor<?x8xf32>
  }
}

// -----
// Tests that a block's layer index is within the model.
steer.model @m attributes {n_layers = 2 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{layer 2 is out of range for a model of 2 layers}}
    %b = steer.block %x {layer = 2 : i64, n_head = 2 : i64, n_kv_heads = 1 : i64, diff_block_size = 2 : i64, norm_eps = 1.0e-5 : f64, norm_order = #steer.norm_order<post>, mlp = #steer.mlp<swiglu>, attn_qkv = @a, attn_out = @a, norm_attn = @a, norm_mlp = @a, mlp_in = @a, mlp_out = @a} : tensor<?x8xf32>
    return %b : tensor<?x8xf32>
  }
}

// -----
// Tests that a block's attention block size matches the model's.
steer.model @m attributes {n_layers = 2 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{diff_block_size 4 differs from the model's 2}}
    %b = steer.block %x {layer = 0 : i64, n_head = 2 : i64, n_kv_heads = 1 : i64, diff_block_size = 4 : i64, norm_eps = 1.0e-5 : f64, norm_order = #steer.norm_order<post>, mlp = #steer.mlp<swiglu>, attn_qkv = @a, attn_out = @a, norm_attn = @a, norm_mlp = @a, mlp_in = @a, mlp_out = @a} : tensor<?x8xf32>
    return %b : tensor<?x8xf32>
  }
}

// -----
// Tests that the fused qkv weight has n_embd + 2 * kv_dim rows (GQA).
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  steer.weight @qkv : tensor<24x8xf32>
  steer.weight @o : tensor<8x8xf32>
  steer.weight @n : tensor<8xf32>
  steer.weight @fc : tensor<64x8xf32>
  steer.weight @pr : tensor<8x32xf32>
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{'attn_qkv' weight @qkv has shape 'tensor<24x8xf32>' but this op needs [16, 8]}}
    %b = steer.block %x {layer = 0 : i64, n_head = 2 : i64, n_kv_heads = 1 : i64, diff_block_size = 2 : i64, norm_eps = 1.0e-5 : f64, norm_order = #steer.norm_order<post>, mlp = #steer.mlp<swiglu>, attn_qkv = @qkv, attn_out = @o, norm_attn = @n, norm_mlp = @n, mlp_in = @fc, mlp_out = @pr} : tensor<?x8xf32>
    return %b : tensor<?x8xf32>
  }
}

// -----
// Tests that q/k norms are per head.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  steer.weight @qkv : tensor<16x8xf32>
  steer.weight @o : tensor<8x8xf32>
  steer.weight @n : tensor<8xf32>
  steer.weight @fc : tensor<64x8xf32>
  steer.weight @pr : tensor<8x32xf32>
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{'q_norm' weight @n has shape 'tensor<8xf32>' but this op needs [4]}}
    %b = steer.block %x {layer = 0 : i64, n_head = 2 : i64, n_kv_heads = 1 : i64, diff_block_size = 2 : i64, norm_eps = 1.0e-5 : f64, norm_order = #steer.norm_order<post>, mlp = #steer.mlp<swiglu>, attn_qkv = @qkv, attn_out = @o, q_norm = @n, k_norm = @n, norm_attn = @n, norm_mlp = @n, mlp_in = @fc, mlp_out = @pr} : tensor<?x8xf32>
    return %b : tensor<?x8xf32>
  }
}

// -----
// Tests that a SwiGLU input projection has twice the hidden width.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  steer.weight @qkv : tensor<16x8xf32>
  steer.weight @o : tensor<8x8xf32>
  steer.weight @n : tensor<8xf32>
  steer.weight @fc : tensor<32x8xf32>
  steer.weight @pr : tensor<8x32xf32>
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{'mlp_in' weight @fc has shape 'tensor<32x8xf32>' but this op needs [64, 8]}}
    %b = steer.block %x {layer = 0 : i64, n_head = 2 : i64, n_kv_heads = 1 : i64, diff_block_size = 2 : i64, norm_eps = 1.0e-5 : f64, norm_order = #steer.norm_order<post>, mlp = #steer.mlp<swiglu>, attn_qkv = @qkv, attn_out = @o, norm_attn = @n, norm_mlp = @n, mlp_in = @fc, mlp_out = @pr} : tensor<?x8xf32>
    return %b : tensor<?x8xf32>
  }
}

// -----
// Tests that the MLP output projection is [width, hidden].
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  steer.weight @qkv : tensor<16x8xf32>
  steer.weight @o : tensor<8x8xf32>
  steer.weight @n : tensor<8xf32>
  steer.weight @pr : tensor<6x32xf32>
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{'mlp_out' weight @pr has shape 'tensor<6x32xf32>' but this op needs [8, *]}}
    %b = steer.block %x {layer = 0 : i64, n_head = 2 : i64, n_kv_heads = 1 : i64, diff_block_size = 2 : i64, norm_eps = 1.0e-5 : f64, norm_order = #steer.norm_order<post>, mlp = #steer.mlp<standard>, attn_qkv = @qkv, attn_out = @o, norm_attn = @n, norm_mlp = @n, mlp_in = @pr, mlp_out = @pr} : tensor<?x8xf32>
    return %b : tensor<?x8xf32>
  }
}

// -----
// Tests that a block needs a static width to check its weights.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  func.func @f(%x: tensor<?x?xf32>) -> tensor<?x?xf32> {
    // expected-error @+1 {{needs a static width to check its weights}}
    %b = steer.block %x {layer = 0 : i64, n_head = 2 : i64, n_kv_heads = 1 : i64, diff_block_size = 2 : i64, norm_eps = 1.0e-5 : f64, norm_order = #steer.norm_order<post>, mlp = #steer.mlp<swiglu>, attn_qkv = @a, attn_out = @a, norm_attn = @a, norm_mlp = @a, mlp_in = @a, mlp_out = @a} : tensor<?x?xf32>
    return %b : tensor<?x?xf32>
  }
}

// -----
// Tests that rms_norm's eps is positive.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  steer.weight @n : tensor<8xf32>
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{eps must be positive}}
    %y = steer.rms_norm %x, @n {eps = -1.0 : f64} : tensor<?x8xf32>
    return %y : tensor<?x8xf32>
  }
}

// -----
// Tests that rms_norm's weight matches the width.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  steer.weight @n : tensor<4xf32>
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{'weight' weight @n has shape 'tensor<4xf32>' but this op needs [8]}}
    %y = steer.rms_norm %x, @n {eps = 1.0e-5 : f64} : tensor<?x8xf32>
    return %y : tensor<?x8xf32>
  }
}

// -----
// Tests that lm_head gives one logit per vocabulary entry.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  steer.weight @emb : tensor<4x8xf32>
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x5xf32> {
    // expected-error @+1 {{gives 5 logits per position but the vocabulary has 4 tokens}}
    %l = steer.lm_head %x, @emb : tensor<?x8xf32> -> tensor<?x5xf32>
    return %l : tensor<?x5xf32>
  }
}

// -----
// Tests that lm_head's table is [vocab, width].
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  steer.weight @emb : tensor<4x6xf32>
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x4xf32> {
    // expected-error @+1 {{'table' weight @emb has shape 'tensor<4x6xf32>' but this op needs [4, 8]}}
    %l = steer.lm_head %x, @emb : tensor<?x8xf32> -> tensor<?x4xf32>
    return %l : tensor<?x4xf32>
  }
}

// -----
// Tests that known_weights' result has one column per concept.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  steer.weight @p : tensor<16x8xf32>
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x10xf32> {
    // expected-error @+1 {{result has 10 columns but n_concepts is 12}}
    %w = steer.known_weights %x, @p {n_concepts = 12 : i64} : tensor<?x8xf32> -> tensor<?x10xf32>
    return %w : tensor<?x10xf32>
  }
}

// -----
// Tests that n_concepts is positive.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  steer.weight @p : tensor<16x8xf32>
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x0xf32> {
    // expected-error @+1 {{n_concepts must be positive}}
    %w = steer.known_weights %x, @p {n_concepts = 0 : i64} : tensor<?x8xf32> -> tensor<?x0xf32>
    return %w : tensor<?x0xf32>
  }
}

// -----
// Tests that the known head's top-k is within the concept count.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  steer.weight @p : tensor<16x8xf32>
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x12xf32> {
    // expected-error @+1 {{topk 13 must be in [1, 12]}}
    %w = steer.known_weights %x, @p {n_concepts = 12 : i64, topk = 13 : i64} : tensor<?x8xf32> -> tensor<?x12xf32>
    return %w : tensor<?x12xf32>
  }
}

// -----
// Tests that the predictor has at least one row per concept.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  steer.weight @p : tensor<8x8xf32>
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x12xf32> {
    // expected-error @+1 {{predictor @p has 8 rows, fewer than n_concepts (12)}}
    %w = steer.known_weights %x, @p {n_concepts = 12 : i64} : tensor<?x8xf32> -> tensor<?x12xf32>
    return %w : tensor<?x12xf32>
  }
}

// -----
// Tests that the predictor's columns match the width.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  steer.weight @p : tensor<16x6xf32>
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x12xf32> {
    // expected-error @+1 {{'predictor' weight @p has shape 'tensor<16x6xf32>' but this op needs [*, 8]}}
    %w = steer.known_weights %x, @p {n_concepts = 12 : i64} : tensor<?x8xf32> -> tensor<?x12xf32>
    return %w : tensor<?x12xf32>
  }
}

// -----
// Tests that concept_features' top-k is within the concept count.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  steer.weight @e : tensor<16x8xf32>
  func.func @f(%w: tensor<?x12xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{topk 0 must be in [1, 12]}}
    %x = steer.concept_features %w, @e {topk = 0 : i64} : tensor<?x12xf32> -> tensor<?x8xf32>
    return %x : tensor<?x8xf32>
  }
}

// -----
// Tests that the concept embedding has a row per concept.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  steer.weight @e : tensor<10x8xf32>
  func.func @f(%w: tensor<?x12xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{embedding @e has 10 rows for 12 concepts}}
    %x = steer.concept_features %w, @e : tensor<?x12xf32> -> tensor<?x8xf32>
    return %x : tensor<?x8xf32>
  }
}

// -----
// Tests that the concept embedding's width matches the features.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  steer.weight @e : tensor<16x4xf32>
  func.func @f(%w: tensor<?x12xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{'embedding' weight @e has shape 'tensor<16x4xf32>' but this op needs [*, 8]}}
    %x = steer.concept_features %w, @e : tensor<?x12xf32> -> tensor<?x8xf32>
    return %x : tensor<?x8xf32>
  }
}

// -----
// Tests unknown_features' concept count.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{n_concepts must be positive}}
    %u = steer.unknown_features %x {predictor_down = @d, predictor_up = @u, embedding_coef = @c, embedding_basis = @b, n_concepts = -1 : i64} : tensor<?x8xf32> -> tensor<?x8xf32>
    return %u : tensor<?x8xf32>
  }
}

// -----
// Tests unknown_features' top-k bound.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{topk 40 must be in [1, 32]}}
    %u = steer.unknown_features %x {predictor_down = @d, predictor_up = @u, embedding_coef = @c, embedding_basis = @b, n_concepts = 32 : i64, topk = 40 : i64} : tensor<?x8xf32> -> tensor<?x8xf32>
    return %u : tensor<?x8xf32>
  }
}

// -----
// Tests that predictor_down is [rank, width].
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  steer.weight @d : tensor<4x6xf32>
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{'predictor_down' weight @d has shape 'tensor<4x6xf32>' but this op needs [*, 8]}}
    %u = steer.unknown_features %x {predictor_down = @d, predictor_up = @u, embedding_coef = @c, embedding_basis = @b, n_concepts = 32 : i64} : tensor<?x8xf32> -> tensor<?x8xf32>
    return %u : tensor<?x8xf32>
  }
}

// -----
// Tests that predictor_up has a row per unknown concept.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  steer.weight @d : tensor<4x8xf32>
  steer.weight @u : tensor<16x4xf32>
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{predictor_up has 16 rows, fewer than n_concepts (32)}}
    %u = steer.unknown_features %x {predictor_down = @d, predictor_up = @u, embedding_coef = @c, embedding_basis = @b, n_concepts = 32 : i64} : tensor<?x8xf32> -> tensor<?x8xf32>
    return %u : tensor<?x8xf32>
  }
}

// -----
// Tests that predictor_up's columns are the rank.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  steer.weight @d : tensor<4x8xf32>
  steer.weight @u : tensor<32x5xf32>
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{'predictor_up' weight @u has shape 'tensor<32x5xf32>' but this op needs [*, 4]}}
    %u = steer.unknown_features %x {predictor_down = @d, predictor_up = @u, embedding_coef = @c, embedding_basis = @b, n_concepts = 32 : i64} : tensor<?x8xf32> -> tensor<?x8xf32>
    return %u : tensor<?x8xf32>
  }
}

// -----
// Tests that embedding_coef has the predictor's rows.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  steer.weight @d : tensor<4x8xf32>
  steer.weight @u : tensor<32x4xf32>
  steer.weight @c : tensor<30x4xf32>
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{'embedding_coef' weight @c has shape 'tensor<30x4xf32>' but this op needs [32, *]}}
    %u = steer.unknown_features %x {predictor_down = @d, predictor_up = @u, embedding_coef = @c, embedding_basis = @b, n_concepts = 32 : i64} : tensor<?x8xf32> -> tensor<?x8xf32>
    return %u : tensor<?x8xf32>
  }
}

// -----
// Tests that embedding_basis is [width, rank].
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  steer.weight @d : tensor<4x8xf32>
  steer.weight @u : tensor<32x4xf32>
  steer.weight @c : tensor<32x4xf32>
  steer.weight @b : tensor<6x4xf32>
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{'embedding_basis' weight @b has shape 'tensor<6x4xf32>' but this op needs [8, *]}}
    %u = steer.unknown_features %x {predictor_down = @d, predictor_up = @u, embedding_coef = @c, embedding_basis = @b, n_concepts = 32 : i64} : tensor<?x8xf32> -> tensor<?x8xf32>
    return %u : tensor<?x8xf32>
  }
}

// -----
// Tests that epsilon is rejected once known weights are overridden.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64} {
  steer.weight @e : tensor<16x8xf32>
  func.func @f(%h: tensor<?x8xf32>, %w: tensor<?x12xf32>, %u: tensor<?x8xf32>) -> tensor<?x8xf32> {
    %o = steer.override_weights %w {concepts = array<i64: 1>, values = array<f32: 0.0>} : tensor<?x12xf32>
    %k = steer.concept_features %o, @e : tensor<?x12xf32> -> tensor<?x8xf32>
    // expected-error @+1 {{the reference drops epsilon when known weights are intervened on, so remove the 'epsilon' flag}}
    %c = steer.compose %h, %k, %u {epsilon} : tensor<?x8xf32>
    return %c : tensor<?x8xf32>
  }
}

// -----
// Tests that an override has one value per concept.
func.func @f(%w: tensor<?x12xf32>) -> tensor<?x12xf32> {
  // expected-error @+1 {{has 2 concepts but 1 values}}
  %o = steer.override_weights %w {concepts = array<i64: 1, 2>, values = array<f32: 0.0>} : tensor<?x12xf32>
  return %o : tensor<?x12xf32>
}

// -----
// Tests that override ids are within the weights' columns.
func.func @f(%w: tensor<?x12xf32>) -> tensor<?x12xf32> {
  // expected-error @+1 {{concept id 12 is out of range [0, 12)}}
  %o = steer.override_weights %w {concepts = array<i64: 12>, values = array<f32: 0.0>} : tensor<?x12xf32>
  return %o : tensor<?x12xf32>
}

// -----
// Tests that an override lists each concept once.
func.func @f(%w: tensor<?x12xf32>) -> tensor<?x12xf32> {
  // expected-error @+1 {{concept id 3 is listed twice; merge the entries}}
  %o = steer.override_weights %w {concepts = array<i64: 3, 3>, values = array<f32: 0.0, 1.0>} : tensor<?x12xf32>
  return %o : tensor<?x12xf32>
}

// -----
// Tests that an override is not empty.
func.func @f(%w: tensor<?x12xf32>) -> tensor<?x12xf32> {
  // expected-error @+1 {{needs at least one concept}}
  %o = steer.override_weights %w {concepts = array<i64>, values = array<f32>} : tensor<?x12xf32>
  return %o : tensor<?x12xf32>
}

// -----
// Tests that override values are finite.
func.func @f(%w: tensor<?x12xf32>) -> tensor<?x12xf32> {
  // expected-error @+1 {{value for concept 2 is not finite}}
  %o = steer.override_weights %w {concepts = array<i64: 2>, values = array<f32: 0x7F800000>} : tensor<?x12xf32>
  return %o : tensor<?x12xf32>
}

// -----
// Tests that injected concepts exist in the model.
steer.model @m attributes {n_layers = 2 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64, n_concepts = 10 : i64} {
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{concept id 10 is out of range [0, 10)}}
    %y = steer.inject %x {concepts = array<i64: 10>, alpha = 1.0 : f32, layer = 1 : i64, schedule = #steer.schedule<fixed>} : tensor<?x8xf32>
    return %y : tensor<?x8xf32>
  }
}

// -----
// Tests that injection needs a concept.
func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{needs at least one concept}}
  %y = steer.inject %x {concepts = array<i64>, alpha = 1.0 : f32, layer = 1 : i64, schedule = #steer.schedule<fixed>} : tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----
// Tests that alpha is finite.
func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{alpha must be finite}}
  %y = steer.inject %x {concepts = array<i64: 1>, alpha = 0x7FC00000 : f32, layer = 1 : i64, schedule = #steer.schedule<fixed>} : tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----
// Tests that the injection layer is within the model.
steer.model @m attributes {n_layers = 2 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64, n_concepts = 10 : i64} {
  func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
    // expected-error @+1 {{layer 3 is out of range [0, 2]}}
    %y = steer.inject %x {concepts = array<i64: 1>, alpha = 1.0 : f32, layer = 3 : i64, schedule = #steer.schedule<fixed>} : tensor<?x8xf32>
    return %y : tensor<?x8xf32>
  }
}

// -----
// Tests that hard_cutoff needs cutoff_tokens.
func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{a hard_cutoff schedule needs cutoff_tokens >= 1}}
  %y = steer.inject %x {concepts = array<i64: 1>, alpha = 1.0 : f32, layer = 1 : i64, schedule = #steer.schedule<hard_cutoff>} : tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----
// Tests that cutoff_tokens is only for hard_cutoff.
func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{cutoff_tokens only applies to the hard_cutoff schedule}}
  %y = steer.inject %x {concepts = array<i64: 1>, alpha = 1.0 : f32, layer = 1 : i64, schedule = #steer.schedule<fixed>, cutoff_tokens = 4 : i64} : tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----
// Tests that the logit mask has a strength per concept.
func.func @f(%l: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{has 1 concepts but 2 strengths}}
  %m = steer.relu_logit_mask %l {concepts = array<i64: 1>, strengths = array<f32: 1.0, 2.0>} : tensor<?x4xf32>
  return %m : tensor<?x4xf32>
}

// -----
// Tests that mask strengths are not negative.
func.func @f(%l: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{strength for concept 1 must be finite and >= 0, got -2}}
  %m = steer.relu_logit_mask %l {concepts = array<i64: 1>, strengths = array<f32: -2.0>} : tensor<?x4xf32>
  return %m : tensor<?x4xf32>
}

// -----
// Tests that mask concepts exist in the model.
steer.model @m attributes {n_layers = 2 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64, n_concepts = 10 : i64} {
  func.func @f(%l: tensor<?x4xf32>) -> tensor<?x4xf32> {
    // expected-error @+1 {{concept id -1 is out of range [0, 10)}}
    %m = steer.relu_logit_mask %l {concepts = array<i64: -1>, strengths = array<f32: 1.0>} : tensor<?x4xf32>
    return %m : tensor<?x4xf32>
  }
}

// -----
// Tests that epsilon over guarded interventions must list their guard.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64, n_concepts = 12 : i64} {
  steer.weight @e : tensor<12x8xf32>
  func.func @f(%h: tensor<?x8xf32>, %w: tensor<?x12xf32>, %u: tensor<?x8xf32>) -> tensor<?x8xf32> {
    %g = steer.guard {concepts = array<i64: 1>, threshold = 0.5 : f32}
    %g2 = steer.guard {concepts = array<i64: 2>, threshold = 0.5 : f32}
    %o = steer.override_weights %w if %g {concepts = array<i64: 1>, values = array<f32: 0.0>} : tensor<?x12xf32>
    %k = steer.concept_features %o, @e : tensor<?x12xf32> -> tensor<?x8xf32>
    // expected-error @+1 {{does not list its guard after 'unless'}}
    %c = steer.compose %h, %k, %u unless(%g2) {epsilon} : tensor<?x8xf32>
    return %c : tensor<?x8xf32>
  }
}

// -----
// Tests that 'unless' needs epsilon.
func.func @f(%h: tensor<?x8xf32>, %g: i1) -> tensor<?x8xf32> {
  // expected-error @+1 {{lists guards after 'unless' but has no epsilon for them to drop}}
  %c = steer.compose %h, %h, %h unless(%g) : tensor<?x8xf32>
  return %c : tensor<?x8xf32>
}

// -----
// Tests that a guard's concepts exist in the model.
steer.model @m attributes {n_layers = 1 : i64, n_embd = 8 : i64, vocab_size = 4 : i64, diff_block_size = 2 : i64, n_concepts = 4 : i64} {
  func.func @f() -> i1 {
    // expected-error @+1 {{concept id 4 is out of range [0, 4)}}
    %g = steer.guard {concepts = array<i64: 4>, threshold = 0.5 : f32}
    return %g : i1
  }
}

// -----
// Tests that a guard's threshold is a weight strictly inside (0, 1).
func.func @f() -> i1 {
  // expected-error @+1 {{threshold 1.000000e+00 is outside (0, 1): a weight is a sigmoid}}
  %g = steer.guard {concepts = array<i64: 0>, threshold = 1.0 : f32}
  return %g : i1
}

// -----
// Tests that a target profile has one weight per concept.
func.func @f(%w: tensor<?x3xf32>) -> tensor<?x3xf32> {
  // expected-error @+1 {{profile has shape 'tensor<2xf32>' but the weights have 3 concepts}}
  %p = steer.target_profile %w {response = "No.", profile = dense<[0.1, 0.2]> : tensor<2xf32>} : tensor<?x3xf32>
  return %p : tensor<?x3xf32>
}

// -----
// Tests that a target profile holds weights.
func.func @f(%w: tensor<?x2xf32>) -> tensor<?x2xf32> {
  // expected-error @+1 {{profile values must be weights in [0, 1]}}
  %p = steer.target_profile %w {response = "No.", profile = dense<[0.1, 1.5]> : tensor<2xf32>} : tensor<?x2xf32>
  return %p : tensor<?x2xf32>
}

// -----
// Tests that a target profile names its response.
func.func @f(%w: tensor<?x2xf32>) -> tensor<?x2xf32> {
  // expected-error @+1 {{needs a non-empty response}}
  %p = steer.target_profile %w {response = ""} : tensor<?x2xf32>
  return %p : tensor<?x2xf32>
}

// -----
// Tests that a detector has one guard and one threshold per result.
func.func @f() -> i1 {
  // expected-error @+1 {{has 1 results but 2 guards and 1 thresholds}}
  %g = steer.detect {concepts = array<i64: 1, 2>, guards = [array<i64: 0>, array<i64: 1>], thresholds = array<f32: 0.5>} : i1
  return %g : i1
}

// -----
// Tests that a detector's guards read positions of its concept list.
func.func @f() -> i1 {
  // expected-error @+1 {{guard 0 reads position 2 of 2 concepts}}
  %g = steer.detect {concepts = array<i64: 1, 2>, guards = [array<i64: 2>], thresholds = array<f32: 0.5>} : i1
  return %g : i1
}

// -----
// Tests that a detector's concepts are sorted.
func.func @f() -> i1 {
  // expected-error @+1 {{concepts must be sorted by id}}
  %g = steer.detect {concepts = array<i64: 2, 1>, guards = [array<i64: 0>], thresholds = array<f32: 0.5>} : i1
  return %g : i1
}

// -----
// Tests that a logit bias has one float32 per vocabulary entry.
func.func @f(%l: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{bias has type 'tensor<3xf32>' but needs 4 float32 values, one per vocabulary token}}
  %b = steer.logit_bias %l {bias = dense<[1.0, 2.0, 3.0]> : tensor<3xf32>} : tensor<?x4xf32>
  return %b : tensor<?x4xf32>
}

// -----
// Tests that a logit bias is finite.
func.func @f(%l: tensor<?x2xf32>) -> tensor<?x2xf32> {
  // expected-error @+1 {{bias value 1 is not finite}}
  %b = steer.logit_bias %l {bias = dense<[1.0, 0x7F800000]> : tensor<2xf32>} : tensor<?x2xf32>
  return %b : tensor<?x2xf32>
}

// -----
// Tests that a folded injection has a resolved alpha.
func.func @f(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  // expected-error @+1 {{has a folded direction, whose alpha is already resolved: drop 'normalize'}}
  %y = steer.inject %x {concepts = array<i64: 1>, alpha = 1.0 : f32, layer = 1 : i64, normalize, schedule = #steer.schedule<fixed>, direction = dense<[0.6, 0.8]> : tensor<2xf32>} : tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----
// Tests that a folded direction spans the residual stream.
func.func @f(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  // expected-error @+1 {{direction has type 'tensor<3xf32>' but needs 2 float32 values, one per hidden dimension}}
  %y = steer.inject %x {concepts = array<i64: 1>, alpha = 1.0 : f32, layer = 1 : i64, schedule = #steer.schedule<fixed>, direction = dense<[0.6, 0.8, 0.0]> : tensor<3xf32>} : tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----
// Tests that folded features span the hidden state.
func.func @f(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  // expected-error @+1 {{features has type 'tensor<3xf32>' but needs 2 float32 values, one per hidden dimension}}
  %y = steer.fixed_features %x {features = dense<[0.6, 0.8, 0.0]> : tensor<3xf32>} : tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----
// Tests that folded features are finite.
func.func @f(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  // expected-error @+1 {{features value 0 is not finite}}
  %y = steer.fixed_features %x {features = dense<[0x7FC00000, 0.8]> : tensor<2xf32>} : tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}
