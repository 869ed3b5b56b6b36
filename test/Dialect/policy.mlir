// RUN: steer-opt %s | FileCheck %s
// RUN: steer-opt %s | steer-opt | FileCheck %s
// RUN: steer-opt %s -mlir-print-op-generic | steer-opt | FileCheck %s

// Tests that a policy with every rule item, and concept references in all
// three forms, prints and parses back unchanged.

steer.model @m attributes {n_layers = 4 : i64, n_embd = 8 : i64, vocab_size = 16 : i64, diff_block_size = 4 : i64, n_concepts = 6 : i64} {
}

// CHECK-LABEL: steer.policy @policy attributes {description = "refuse", source_xxh64 = "0123456789abcdef"}
steer.policy @policy attributes {description = "refuse", source_xxh64 = "0123456789abcdef"} {
  // CHECK: steer.rule @"refuse-harm" {
  steer.rule @"refuse-harm" {
    // CHECK-NEXT: steer.when [#steer.concept<"weapons">, #steer.concept<1>, #steer.concept<2, "self-harm">] threshold 5.000000e-01
    steer.when [#steer.concept<"weapons">, #steer.concept<1>, #steer.concept<2, "self-harm">] threshold 0.5
    // CHECK-NEXT: steer.suppress [#steer.concept<"weapons">]
    steer.suppress [#steer.concept<"weapons">]
    // CHECK-NEXT: steer.clamp #steer.concept<"refusal"> to 1.000000e+00
    steer.clamp #steer.concept<"refusal"> to 1.0
    // CHECK-NEXT: steer.steer_to_response "I cannot help with that."
    steer.steer_to_response "I cannot help with that."
  }
  // CHECK: steer.rule @more
  steer.rule @more {
    // CHECK-NEXT: steer.amplify [#steer.concept<4>] {cutoff_tokens = 32 : i64, layer = 2 : i64, schedule = #steer.schedule<hard_cutoff>, target = 8.000000e+00 : f32}
    steer.amplify [#steer.concept<4>] {target = 8.0 : f32, layer = 2 : i64, schedule = #steer.schedule<hard_cutoff>, cutoff_tokens = 32 : i64}
  }
}

// CHECK-LABEL: steer.policy @unlearning {
steer.policy @unlearning {
  // CHECK: steer.rule @forget
  steer.rule @forget {
    // CHECK-NEXT: steer.unlearn #steer.concept<"poison"> group [#steer.concept<"self-harm">] {alpha = -7.000000e+00 : f32, layer = 2 : i64, relu_strength = 2.000000e+01 : f32}
    steer.unlearn #steer.concept<"poison"> group [#steer.concept<"self-harm">] {alpha = -7.0 : f32, layer = 2 : i64, relu_strength = 20.0 : f32}
  }
}
