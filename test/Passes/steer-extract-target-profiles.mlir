// RUN: rm -rf %t && steer-mkmodel --preset tiny --seed 3 -o %t > /dev/null
// RUN: steer-run forward %t --prompt "I cannot help with that." --dump %t.response.safetensors > /dev/null
// RUN: steer-opt %s -steer-extract-target-profiles=model=%t | FileCheck %s
// RUN: steer-opt %s -steer-extract-target-profiles=model=%t | %numpy_python %S/Inputs/check_folds.py %t profile:%t.response.safetensors
// RUN: not steer-opt %s -steer-extract-target-profiles 2>&1 | FileCheck %s --check-prefix=NOMODEL

// Tests that a named response gets its profile (the mean known weights
// over its tokens, checked against a forward dump of the response on the
// fourth RUN line), that guards stay, and that a profile already there is
// kept.
steer.model @m attributes {n_layers = 2 : i64, n_embd = 64 : i64, vocab_size = 100281 : i64, diff_block_size = 8 : i64, n_concepts = 64 : i64} {
  // CHECK-LABEL: func.func @forward
  func.func @forward(%w: tensor<?x64xf32>) -> tensor<?x64xf32> {
    %g = steer.guard {concepts = array<i64: 1>, threshold = 0.5 : f32}
    // CHECK: %[[P:.*]] = steer.target_profile %{{.*}} if %{{.*}} {profile = dense<[{{.*}}]> : tensor<64xf32>, response = "I cannot help with that.", tokens = 6 : i64}
    %p = steer.target_profile %w if %g {response = "I cannot help with that."} : tensor<?x64xf32>
    // CHECK-NEXT: steer.target_profile %[[P]] {profile = dense<5.000000e-01> : tensor<64xf32>, response = "kept"}
    %q = steer.target_profile %p {response = "kept", profile = dense<0.5> : tensor<64xf32>} : tensor<?x64xf32>
    return %q : tensor<?x64xf32>
  }
}

// NOMODEL: error: extracting a target profile needs the checkpoint's weights: pass model=DIR (steerc passes its --model)
