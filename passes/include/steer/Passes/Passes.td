//===- Passes.td - steer dialect passes --------------------*- tablegen -*-===//
#ifndef STEER_PASSES_PASSES_TD
#define STEER_PASSES_PASSES_TD

include "mlir/Pass/PassBase.td"

def ResolveConcepts : Pass<"steer-resolve-concepts", "::mlir::ModuleOp"> {
  let summary = "look a policy's concept references up in the model's table";
  let description = [{
    Every `#steer.concept<"label">` in a `steer.policy` becomes
    `#steer.concept<id, "label">` through the concept label table of the
    module's one `steer.model` (labels match case-insensitively), and every
    `#steer.concept<id>` gains its label when the table has one. An unknown
    label is an error at the referring op that suggests the nearest labels
    (by edit distance, then by the reference's search over descriptions);
    an id past the model's known concepts is an error too. Running it on
    resolved IR changes nothing.

    Before:
    ```mlir
    steer.suppress [#steer.concept<"weapons">, #steer.concept<3>]
    ```
    After (with weapons at id 45 and #3 labelled noun.act):
    ```mlir
    steer.suppress [#steer.concept<45, "weapons">, #steer.concept<3, "noun.act">]
    ```
    steerc passes the checkpoint's table directly; steer-opt reads it from
    `labels=FILE` (.csv or .jsonl, the reference's formats).
  }];
  let options = [
    Option<"labelsPath", "labels", "std::string", /*default=*/"\"\"",
           "concept label table (.csv or .jsonl)">,
  ];
  let dependentDialects = ["::mlir::steer::SteerDialect"];
}

def LowerPolicy : Pass<"steer-lower-policy", "::mlir::ModuleOp"> {
  let summary = "turn policy rules into interventions in the forward graph";
  let description = [{
    Each rule of each `steer.policy` becomes ops in the `@forward` function
    of the module's `steer.model`, each located at the policy line it comes
    from:
      * `steer.when` -> `steer.guard` on the known weights (one i1 per
        rule), the guard operand of the rule's interventions;
      * `steer.steer_to_response` -> `steer.target_profile` on the known
        weights (before every override, as the runtime applies them);
      * `steer.suppress` / `steer.clamp` -> `steer.override_weights`
        (values 0 / the clamp value), in rule order;
      * `steer.amplify` -> `steer.inject` (normalised to the target logit)
        after block `layer - 1`;
      * `steer.unlearn` -> `steer.inject` of the focal concept and its group
        (raw alpha) and `steer.relu_logit_mask` of the focal concept on the
        logits.
    Composition drops epsilon when an unguarded rule changes the known
    weights; when every such rule is guarded, `steer.compose` lists the
    guards after `unless`, and epsilon is dropped exactly for requests where
    one fired. The policy op stays as the record of what was written (names,
    labels, source). Concept references must be resolved
    (steer-resolve-concepts) first.

    Before:
    ```mlir
    steer.rule @refuse {
      steer.when [#steer.concept<45, "weapons">] threshold 8.0e-01
      steer.suppress [#steer.concept<45, "weapons">]
    }
    ```
    After (in @forward):
    ```mlir
    %g = steer.guard %kw {concepts = array<i64: 45>, threshold = 8.0e-01 : f32} : tensor<?x54xf32>
    %o = steer.override_weights %kw if %g {concepts = array<i64: 45>, values = array<f32: 0.0>} : tensor<?x54xf32>
    %kf = steer.concept_features %o, @emb : tensor<?x54xf32> -> tensor<?x128xf32>
    %c = steer.compose %h, %kf, %uf unless(%g) {epsilon} : tensor<?x128xf32>
    ```
  }];
  let dependentDialects = ["::mlir::steer::SteerDialect"];
}

def FoldInjections : Pass<"steer-fold-injections", "::mlir::ModuleOp"> {
  let summary = "fold injection directions and alphas into constants";
  let description = [{
    An injection's direction (the L2-normalised sum of its concepts'
    embeddings) and, with `normalize`, its alpha (target logit over the
    direction's peak lm_head alignment) depend only on weights. This pass
    computes both with the runtime's resolveSteering on the checkpoint
    named by `model` and stores them on the op: `direction` as a resource
    blob of n_embd float32 values, `alpha` resolved, `normalize` dropped.
    The concepts stay, as the record of what the direction is made of.

    Before:
    ```mlir
    %i = steer.inject %b {alpha = 8.0 : f32, concepts = array<i64: 3, 5>, layer = 1 : i64, normalize, schedule = #steer.schedule<fixed>} : tensor<?x64xf32>
    ```
    After:
    ```mlir
    %i = steer.inject %b {alpha = 2.7 : f32, concepts = array<i64: 3, 5>, direction = dense_resource<inject_direction> : tensor<64xf32>, layer = 1 : i64, schedule = #steer.schedule<fixed>} : tensor<?x64xf32>
    ```
  }];
  let options = [
    Option<"modelPath", "model", "std::string", /*default=*/"\"\"",
           "checkpoint directory whose weights the injections are folded with">,
  ];
  let dependentDialects = ["::mlir::steer::SteerDialect"];
}

def ExtractTargetProfiles : Pass<"steer-extract-target-profiles", "::mlir::ModuleOp"> {
  let summary = "compute each target response's concept profile at compile time";
  let description = [{
    A `steer.target_profile` names a response; its profile is the model's
    mean known weights over the response's tokens. This pass runs the
    runtime on the checkpoint named by `model` (the same function the
    policy front end uses) and stores the result in `profile`, so a request
    reads a constant instead of running the response through the model.

    Before:
    ```mlir
    %p = steer.target_profile %w if %g {response = "I cannot help with that."} : tensor<?x54xf32>
    ```
    After:
    ```mlir
    %p = steer.target_profile %w if %g {profile = dense<[...]> : tensor<54xf32>, response = "I cannot help with that."} : tensor<?x54xf32>
    ```
  }];
  let options = [
    Option<"modelPath", "model", "std::string", /*default=*/"\"\"",
           "checkpoint directory the profiles are computed with">,
  ];
  let dependentDialects = ["::mlir::steer::SteerDialect"];
}

def FoldProfileFeatures : Pass<"steer-fold-profile-features", "::mlir::ModuleOp"> {
  let summary = "fold a target profile's known features into one constant vector";
  let description = [{
    When a `steer.concept_features` reads a chain that starts at an
    extracted `steer.target_profile` and holds only overrides under the
    same guard, the weight row at generated positions is a constant for
    requests where that guard fired: the profile with the overrides
    applied. Its known features (every non-zero weight times its concept
    embedding, the reference's dense sum) are computed with the runtime on
    the checkpoint named by `model` and placed after the features as
    `steer.fixed_features` (a resource blob of n_embd values). Chains with
    interventions under other guards are left alone.

    Before:
    ```mlir
    %p = steer.target_profile %kw if %g {profile = dense<...> : tensor<54xf32>, response = "No."} : tensor<?x54xf32>
    %o = steer.override_weights %p if %g {concepts = array<i64: 45>, values = array<f32: 0.0>} : tensor<?x54xf32>
    %kf = steer.concept_features %o, @emb {topk = 6 : i64} : tensor<?x54xf32> -> tensor<?x128xf32>
    ```
    After (uses of %kf read %f):
    ```mlir
    %f = steer.fixed_features %kf if %g {features = dense_resource<profile_features> : tensor<128xf32>} : tensor<?x128xf32>
    ```
  }];
  let options = [
    Option<"modelPath", "model", "std::string", /*default=*/"\"\"",
           "checkpoint directory whose concept embeddings are used">,
  ];
  let dependentDialects = ["::mlir::steer::SteerDialect"];
}

def FuseGuards : Pass<"steer-fuse-guards", "::mlir::ModuleOp"> {
  let summary = "evaluate every guard in one prompt-side detector";
  let description = [{
    Each rule's `steer.guard` would read the prompt's known weights on its
    own. This pass replaces all guards of a function by one `steer.detect`
    over the union of their concepts (sorted), so the runtime computes each
    concept's prompt activation once per request; equal guards (same
    concepts, same threshold) share one result.

    Before:
    ```mlir
    %a = steer.guard {concepts = array<i64: 46, 45>, threshold = 8.0e-01 : f32}
    %b = steer.guard {concepts = array<i64: 3>, threshold = 5.0e-01 : f32}
    %c = steer.guard {concepts = array<i64: 45, 46>, threshold = 8.0e-01 : f32}
    ```
    After (%a and %c are one result):
    ```mlir
    %f:2 = steer.detect {concepts = array<i64: 3, 45, 46>,
                         guards = [array<i64: 1, 2>, array<i64: 0>],
                         thresholds = array<f32: 8.0e-01, 5.0e-01>} : i1, i1
    ```
  }];
  let dependentDialects = ["::mlir::steer::SteerDialect"];
}

def FoldLogitMasks : Pass<"steer-fold-logit-masks", "::mlir::ModuleOp"> {
  let summary = "fold ReLU logit masks into one vocabulary bias per guard";
  let description = [{
    A `steer.relu_logit_mask` subtracts, for each of its concepts,
    strength * relu(lm_head . embedding_c) from the logits: a constant
    vector once the weights are known. This pass computes it with the
    runtime (the same code the runtime uses for unfolded masks) from the
    checkpoint named by `model`, replaces each mask by a `steer.logit_bias`
    holding the vector as a resource blob, and merges a chain of biases
    under the same guard into their sum: the runtime then makes one pass
    over the vocabulary per masked row and guard.

    Before:
    ```mlir
    %m = steer.relu_logit_mask %l {concepts = array<i64: 3>, strengths = array<f32: 20.0>} : tensor<?x512xf32>
    ```
    After:
    ```mlir
    %m = steer.logit_bias %l {bias = dense_resource<vocab_bias> : tensor<512xf32>} : tensor<?x512xf32>
    ```
  }];
  let options = [
    Option<"modelPath", "model", "std::string", /*default=*/"\"\"",
           "checkpoint directory whose weights the masks are folded with">,
  ];
  let dependentDialects = ["::mlir::steer::SteerDialect"];
}

def SelectKernels : Pass<"steer-select-kernels", "::mlir::ModuleOp"> {
  let summary = "record the kernel variant the CPU backend runs at each site";
  let description = [{
    For every site of each model's `@forward` (the linear layers of each
    block, lm_head, the known head's predictor, feature sums, guards,
    overrides, profiles, injections, logit masks) the variant the runtime's
    CPU backend runs there, chosen from static facts: weight dtype and
    shape through the runtime's own `kernels::linearVariant` (the matrix
    unit assumed; the runtime falls back to the vector variant on a machine
    without one), whether an intervention makes the feature sum dense,
    whether a constant is folded. Stored on the `steer.model` as
    `steer.kernel_plan` (a dictionary, sorted by site); steerc writes it to
    the artifact's manifest.

    ```mlir
    steer.model @m attributes {..., steer.kernel_plan = {"block.0.attn_qkv" = "fma_bf16", lm_head = "amx_bf16", ...}}
    ```
  }];
  let dependentDialects = ["::mlir::steer::SteerDialect"];
}

def DropConceptHeads : Pass<"steer-drop-concept-heads", "::mlir::ModuleOp"> {
  let summary = "skip the concept heads when nothing reads or changes them";
  let description = [{
    With epsilon, composition gives back the hidden state exactly
    (unknown + known + (hidden - unknown - known)), so when no policy in the
    module needs concept weights (no guard, suppress, clamp or target
    profile: those read or override the known head's weights) the logits do
    not depend on the concept heads. This pass replaces such a
    `steer.compose {epsilon}` by its hidden input and erases the concept
    head ops left without users. The weights stay declared; injections keep
    their concepts (their directions are constants).

    Before:
    ```mlir
    %kw = steer.known_weights %h, @p {n_concepts = 48 : i64} : tensor<?x64xf32> -> tensor<?x48xf32>
    %kf = steer.concept_features %kw, @e : tensor<?x48xf32> -> tensor<?x64xf32>
    %uf = steer.unknown_features %h {...} : tensor<?x64xf32> -> tensor<?x64xf32>
    %c = steer.compose %h, %kf, %uf {epsilon} : tensor<?x64xf32>
    %l = steer.lm_head %c, @emb : tensor<?x64xf32> -> tensor<?x512xf32>
    ```
    After:
    ```mlir
    %l = steer.lm_head %h, @emb : tensor<?x64xf32> -> tensor<?x512xf32>
    ```
  }];
  let dependentDialects = ["::mlir::steer::SteerDialect"];
}

def MergeWeightOverrides : Pass<"steer-merge-weight-overrides"> {
  let summary = "merge chains of known-weight overrides into one table";
  let description = [{
    Policies add one `steer.override_weights` per rule (suppress, clamp).
    Applied one after another they are equivalent to a single override whose
    table is their union, later entries winning for a concept listed twice;
    the runtime then makes one pass over the weights instead of one per
    rule. Entries are sorted by concept id so that equal policies give equal
    IR.

    Before:
    ```mlir
    %1 = steer.override_weights %0 {concepts = array<i64: 7, 3>,
                                    values = array<f32: 1.0, 0.0>} : tensor<?x48xf32>
    %2 = steer.override_weights %1 {concepts = array<i64: 7>,
                                    values = array<f32: 0.5>} : tensor<?x48xf32>
    ```
    After:
    ```mlir
    %2 = steer.override_weights %0 {concepts = array<i64: 3, 7>,
                                    values = array<f32: 0.0, 0.5>} : tensor<?x48xf32>
    ```
    An intermediate override that has other users is kept for them;
    overrides under different guards (`if %g`) are not merged.
  }];
  let dependentDialects = ["::mlir::steer::SteerDialect"];
}

#endif // STEER_PASSES_PASSES_TD
