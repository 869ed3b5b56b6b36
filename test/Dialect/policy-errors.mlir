// RUN: steer-opt %s -split-input-file -verify-diagnostics

// Tests that a rule needs an action.
steer.policy @p {
  // expected-error @+1 {{rule 'idle' has no action}}
  steer.rule @idle {
    steer.when [#steer.concept<"weapons">] threshold 0.5
  }
}

// -----
// Tests that a guard lists concepts and has a threshold strictly inside (0, 1).
steer.policy @p {
  steer.rule @r {
    // expected-error @+1 {{'when' needs at least one concept}}
    steer.when [] threshold 0.5
    steer.suppress [#steer.concept<"weapons">]
  }
}

// -----
steer.policy @p {
  steer.rule @r {
    // expected-error @+1 {{guard threshold 1 is out of bounds [1e-06, 0.999999]}}
    steer.when [#steer.concept<"weapons">] threshold 1.0
    steer.suppress [#steer.concept<"weapons">]
  }
}

// -----
// Tests that one rule has one guard.
steer.policy @p {
  // expected-error @+1 {{has 2 guards; merge them into one steer.when}}
  steer.rule @r {
    steer.when [#steer.concept<"weapons">] threshold 0.5
    steer.when [#steer.concept<"poison">] threshold 0.5
    steer.suppress [#steer.concept<"weapons">]
  }
}

// -----
// Tests that a list names a concept once.
steer.policy @p {
  steer.rule @r {
    // expected-error @+1 {{concept 'weapons' is listed twice in 'suppress' (first at line}}
    steer.suppress [#steer.concept<"weapons">, #steer.concept<"weapons">]
  }
}

// -----
// Tests that a clamp value is a weight.
steer.policy @p {
  steer.rule @r {
    // expected-error @+1 {{clamp value 1.5 is out of bounds [0, 1]}}
    steer.clamp #steer.concept<"refusal"> to 1.5
  }
}

// -----
// Tests the schedule's cutoff rules.
steer.policy @p {
  steer.rule @r {
    // expected-error @+1 {{the hard_cutoff schedule needs cutoff_tokens}}
    steer.amplify [#steer.concept<1>] {target = 8.0 : f32, layer = 1 : i64, schedule = #steer.schedule<hard_cutoff>}
  }
}

// -----
steer.policy @p {
  steer.rule @r {
    // expected-error @+1 {{cutoff_tokens only applies to the hard_cutoff schedule}}
    steer.amplify [#steer.concept<1>] {target = 8.0 : f32, layer = 1 : i64, schedule = #steer.schedule<fixed>, cutoff_tokens = 4 : i64}
  }
}

// -----
// Tests strength bounds.
steer.policy @p {
  steer.rule @r {
    // expected-error @+1 {{target 80 is out of bounds [-50, 50]}}
    steer.amplify [#steer.concept<1>] {target = 80.0 : f32, layer = 1 : i64, schedule = #steer.schedule<fixed>}
  }
}

// -----
steer.policy @p {
  steer.rule @r {
    // expected-error @+1 {{relu_strength -1 is out of bounds [0, 100]}}
    steer.unlearn #steer.concept<1> group [] {alpha = -7.0 : f32, layer = 1 : i64, relu_strength = -1.0 : f32}
  }
}

// -----
// Tests that a response is not empty.
steer.policy @p {
  steer.rule @r {
    // expected-error @+1 {{needs a non-empty response}}
    steer.steer_to_response ""
  }
}

// -----
// Tests that a concept is not amplified and suppressed at once (by id,
// once resolved).
steer.policy @p {
  steer.rule @down {
    steer.suppress [#steer.concept<3, "refusal">]
  }
  steer.rule @up {
    // expected-error @+1 {{concept 'refusal' is amplified here and suppressed by rule 'down'; drop one of them}}
    steer.amplify [#steer.concept<3, "refusal">] {target = 8.0 : f32, layer = 1 : i64, schedule = #steer.schedule<fixed>}
  }
}

// -----
// Tests one value per concept across rules (a suppression is 0), once
// resolved; the error names the first setter and its line.
steer.policy @p {
  steer.rule @s {
    steer.suppress [#steer.concept<4, "refusal">]
  }
  steer.rule @c {
    // expected-error @+1 {{concept 'refusal' is set to 1 here (clamped), but rule 's' sets it to 0 (suppressed, line}}
    steer.clamp #steer.concept<4, "refusal"> to 1.0
  }
}

// -----
// Tests that an unlearned concept is not clamped up.
steer.policy @p {
  steer.rule @u {
    steer.unlearn #steer.concept<1, "poison"> group [] {alpha = -7.0 : f32, layer = 1 : i64, relu_strength = 20.0 : f32}
  }
  steer.rule @c {
    // expected-error @+1 {{concept 'poison' is clamped up here and unlearned by rule 'u'; drop one of them}}
    steer.clamp #steer.concept<1, "poison"> to 0.5
  }
}

// -----
// Tests that an unlearn's group lists the other concepts, each once.
steer.policy @p {
  steer.rule @u {
    // expected-error @+1 {{concept 'poison' is the focal concept; the group lists the others}}
    steer.unlearn #steer.concept<1, "poison"> group [#steer.concept<1, "poison">] {alpha = -7.0 : f32, layer = 1 : i64, relu_strength = 20.0 : f32}
  }
}

// -----
steer.policy @p {
  steer.rule @u {
    // expected-error @+1 {{concept 'weapons' is listed twice in 'group' (first at line}}
    steer.unlearn #steer.concept<1, "poison"> group [#steer.concept<0, "weapons">, #steer.concept<0, "weapons">] {alpha = -7.0 : f32, layer = 1 : i64, relu_strength = 20.0 : f32}
  }
}

// -----
// Tests one target profile per policy (injections may be several).
steer.policy @p {
  steer.rule @a {
    steer.steer_to_response "No."
  }
  steer.rule @b {
    // expected-error @+1 {{steers to a response, and so does rule 'a'; one target profile per policy}}
    steer.steer_to_response "I cannot help with that."
  }
}

// -----
// Tests ranges against the model beside the policy.
steer.model @m attributes {n_layers = 4 : i64, n_embd = 8 : i64, vocab_size = 16 : i64, diff_block_size = 4 : i64, n_concepts = 6 : i64} {
}
steer.policy @p {
  steer.rule @r {
    // expected-error @+1 {{concept id 6 is out of range: model 'm' has 6 known concepts}}
    steer.suppress [#steer.concept<6>]
  }
}

// -----
steer.model @m attributes {n_layers = 4 : i64, n_embd = 8 : i64, vocab_size = 16 : i64, diff_block_size = 4 : i64, n_concepts = 6 : i64} {
}
steer.policy @p {
  steer.rule @r {
    // expected-error @+1 {{layer 5 is out of range: the model has 4 layers (use 0 to 4)}}
    steer.amplify [#steer.concept<1>] {target = 8.0 : f32, layer = 5 : i64, schedule = #steer.schedule<fixed>}
  }
}

// -----
// Tests that concept references are well formed.
steer.policy @p {
  steer.rule @r {
    // expected-error @+1 {{concept id -2 is negative}}
    steer.suppress [#steer.concept<-2>]
  }
}

// -----
steer.policy @p {
  steer.rule @r {
    // expected-error @+1 {{a concept reference needs a label or an id}}
    steer.suppress [#steer.concept<"">]
  }
}

// -----
// Tests that rule items live in rules.
steer.policy @p {
  // expected-error @+1 {{expects parent op 'steer.rule'}}
  steer.suppress [#steer.concept<1>]
}
