// RUN: steer-opt %s -split-input-file -steer-resolve-concepts=labels=%S/Inputs/labels.csv -verify-diagnostics | FileCheck %s

// Tests that labels resolve to ids (case-insensitively, keeping the
// table's spelling), that ids gain their labels, and that resolved
// references are left alone.
steer.model @m attributes {n_layers = 4 : i64, n_embd = 8 : i64, vocab_size = 16 : i64, diff_block_size = 4 : i64, n_concepts = 6 : i64} {
}
// CHECK-LABEL: steer.policy @p
steer.policy @p {
  steer.rule @r {
    // CHECK: steer.when [#steer.concept<0, "weapons">, #steer.concept<2, "self-harm">] threshold
    steer.when [#steer.concept<"WEAPONS">, #steer.concept<2>] threshold 0.5
    // CHECK: steer.suppress [#steer.concept<0, "weapons">, #steer.concept<4, "noun.act">]
    steer.suppress [#steer.concept<"weapons">, #steer.concept<4, "noun.act">]
    // CHECK: steer.clamp #steer.concept<3, "refusal"> to
    steer.clamp #steer.concept<"refusal"> to 1.0
  }
}

// -----
// Tests the did-you-mean of an unknown label, by edit distance.
steer.model @m attributes {n_layers = 4 : i64, n_embd = 8 : i64, vocab_size = 16 : i64, diff_block_size = 4 : i64, n_concepts = 6 : i64} {
}
steer.policy @p {
  steer.rule @r {
    // expected-error @+1 {{unknown concept 'weapon'; did you mean 'weapons'?}}
    steer.suppress [#steer.concept<"weapon">]
  }
}

// -----
// Tests suggestions found through descriptions when no label is close.
steer.model @m attributes {n_layers = 4 : i64, n_embd = 8 : i64, vocab_size = 16 : i64, diff_block_size = 4 : i64, n_concepts = 6 : i64} {
}
steer.policy @p {
  steer.rule @r {
    // expected-error @+1 {{unknown concept 'firearms'; did you mean 'weapons'?}}
    steer.suppress [#steer.concept<"firearms">]
  }
}

// -----
// Tests that a label naming two concepts must be given by id.
steer.model @m attributes {n_layers = 4 : i64, n_embd = 8 : i64, vocab_size = 16 : i64, diff_block_size = 4 : i64, n_concepts = 6 : i64} {
}
steer.policy @p {
  steer.rule @r {
    // expected-error @+1 {{concept 'poison' is ambiguous (#1, #5); name it by id}}
    steer.suppress [#steer.concept<"poison">]
  }
}

// -----
// Tests ids past the model's known concepts.
steer.model @m attributes {n_layers = 4 : i64, n_embd = 8 : i64, vocab_size = 16 : i64, diff_block_size = 4 : i64, n_concepts = 3 : i64} {
}
steer.policy @p {
  steer.rule @r {
    // expected-error @+1 {{concept 'refusal' has id 3, past the model's 3 known concepts}}
    steer.clamp #steer.concept<"refusal"> to 1.0
  }
}

// -----
// Tests that a policy needs an interpretable model beside it.
steer.model @m attributes {n_layers = 4 : i64, n_embd = 8 : i64, vocab_size = 16 : i64, diff_block_size = 4 : i64} {
}
// expected-error @+1 {{model 'm' has no known concepts (it is not interpretable)}}
steer.policy @p {
  steer.rule @r {
    steer.suppress [#steer.concept<"weapons">]
  }
}

// -----
// expected-error @+1 {{concepts resolve against the module's steer.model, and it has 0}}
steer.policy @p {
  steer.rule @r {
    steer.suppress [#steer.concept<"weapons">]
  }
}
