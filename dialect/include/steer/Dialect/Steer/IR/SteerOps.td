//===- SteerOps.td - steer dialect operations --------------*- tablegen -*-===//
//
// Model graph: steer.model holds steer.weight declarations and a func.func
// forward graph built from embed, block, rms_norm, known_weights,
// concept_features, unknown_features, compose and lm_head.
// Interventions: override_weights, inject, relu_logit_mask.
//
//===----------------------------------------------------------------------===//
#ifndef STEER_DIALECT_STEER_IR_STEEROPS_TD
#define STEER_DIALECT_STEER_IR_STEEROPS_TD

include "steer/Dialect/Steer/IR/SteerBase.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

// Per-position activations: [positions, width] in float32.
def Steer_Activations : 2DTensorOf<[F32]>;
def Steer_TokenIds : 1DTensorOf<[AnySignlessInteger]>;

class Steer_WeightUser<string mnemonic, list<Trait> traits = []>
    : Steer_Op<mnemonic, !listconcat(traits, [
        Pure, DeclareOpInterfaceMethods<SymbolUserOpInterface>])>;

//===----------------------------------------------------------------------===//
// Model structure
//===----------------------------------------------------------------------===//

def Steer_ModelOp : Steer_Op<"model", [
    Symbol, SymbolTable, IsolatedFromAbove, NoTerminator, SingleBlock,
    NoRegionArguments]> {
  let summary = "a Steerling checkpoint: its weights and its graph";
  let description = [{
    Holds one `steer.weight` per checkpoint tensor and the `func.func`
    graphs that use them. The attributes are the shape facts of the
    checkpoint's config.json that verifiers of nested ops check against.

    ```mlir
    steer.model @tiny attributes {n_layers = 2 : i64, n_embd = 64 : i64,
        vocab_size = 512 : i64, diff_block_size = 8 : i64,
        n_concepts = 48 : i64} {
      steer.weight @"transformer.ln_f.weight" : tensor<64xf32>
    }
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, Steer_Int:$n_layers,
                       Steer_Int:$n_embd, Steer_Int:$vocab_size,
                       Steer_Int:$diff_block_size,
                       OptionalAttr<Steer_Int>:$n_concepts);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "$sym_name attr-dict-with-keyword $body";
  let hasVerifier = 1;
}

def Steer_WeightOp : Steer_Op<"weight", [Symbol, HasParent<"ModelOp">]> {
  let summary = "declares a checkpoint tensor by its key";
  let description = [{
    The symbol name is the tensor's key in the checkpoint; the type is its
    stored shape and element type (f32, f16 or bf16). The data stays in the
    checkpoint; graphs refer to it by symbol.

    ```mlir
    steer.weight @"transformer.tok_emb.weight" : tensor<512x64xbf16>
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name,
                       TypeAttrOf<AnyRankedTensor>:$type);
  let assemblyFormat = "$sym_name `:` $type attr-dict";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    ::mlir::RankedTensorType getTensorType() {
      return ::llvm::cast<::mlir::RankedTensorType>(getType());
    }
  }];
}

//===----------------------------------------------------------------------===//
// Backbone
//===----------------------------------------------------------------------===//

def Steer_EmbedOp : Steer_WeightUser<"embed"> {
  let summary = "token embedding lookup";
  let description = [{
    `%x = steer.embed %ids, @"transformer.tok_emb.weight" : tensor<?xi64> -> tensor<?x64xf32>`
    gathers one row of the [vocab, n_embd] table per token id.
  }];
  let arguments = (ins Steer_TokenIds:$ids, FlatSymbolRefAttr:$table);
  let results = (outs Steer_Activations:$result);
  let assemblyFormat = "$ids `,` $table attr-dict `:` type($ids) `->` type($result)";
  let hasVerifier = 1;
}

def Steer_BlockOp : Steer_WeightUser<"block", [
    AllTypesMatch<["input", "result"]>]> {
  let summary = "one transformer block (block-causal attention and MLP)";
  let description = [{
    Attention with grouped key/value heads, optional clip of the fused qkv,
    optional per-head RMSNorm of q and k, RoPE when `rope_base` is present,
    and a mask that lets position q see key k when
    q / diff_block_size >= k / diff_block_size; then the MLP. With
    `norm_order = post` the block computes x + norm_attn(attn(x)) and then
    x + norm_mlp(mlp(x)); with `pre` the norms apply to the inputs.
  }];
  let arguments = (ins
    Steer_Activations:$input,
    Steer_Int:$layer, Steer_Int:$n_head, Steer_Int:$n_kv_heads,
    Steer_Int:$diff_block_size, F64Attr:$norm_eps,
    Steer_NormOrderAttr:$norm_order, Steer_MlpKindAttr:$mlp,
    OptionalAttr<F64Attr>:$clip_qkv, OptionalAttr<F64Attr>:$rope_base,
    FlatSymbolRefAttr:$attn_qkv, FlatSymbolRefAttr:$attn_out,
    OptionalAttr<FlatSymbolRefAttr>:$q_norm,
    OptionalAttr<FlatSymbolRefAttr>:$k_norm,
    FlatSymbolRefAttr:$norm_attn, FlatSymbolRefAttr:$norm_mlp,
    FlatSymbolRefAttr:$mlp_in, FlatSymbolRefAttr:$mlp_out);
  let results = (outs Steer_Activations:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasVerifier = 1;
}

def Steer_RmsNormOp : Steer_WeightUser<"rms_norm", [
    AllTypesMatch<["input", "result"]>]> {
  let summary = "RMS normalisation over the last dimension";
  let arguments = (ins Steer_Activations:$input, FlatSymbolRefAttr:$weight,
                       F64Attr:$eps);
  let results = (outs Steer_Activations:$result);
  let assemblyFormat = "$input `,` $weight attr-dict `:` type($input)";
  let hasVerifier = 1;
}

def Steer_LmHeadOp : Steer_WeightUser<"lm_head"> {
  let summary = "vocabulary logits through the tied embedding";
  let arguments = (ins Steer_Activations:$input, FlatSymbolRefAttr:$table);
  let results = (outs Steer_Activations:$result);
  let assemblyFormat = "$input `,` $table attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Concept heads and composition
//===----------------------------------------------------------------------===//

def Steer_KnownWeightsOp : Steer_WeightUser<"known_weights"> {
  let summary = "known-concept weights of each position, after top-k";
  let description = [{
    Concept logits h . P^T clamped to [-15, 15], weights sigmoid(logit),
    then the top `topk` kept per position (ranked by weight, or by logit
    with `topk_on_logits`) and the rest set to zero. The result is dense:
    [positions, n_concepts].
  }];
  let arguments = (ins Steer_Activations:$input, FlatSymbolRefAttr:$predictor,
                       Steer_Int:$n_concepts, OptionalAttr<Steer_Int>:$topk,
                       UnitAttr:$topk_on_logits);
  let results = (outs Steer_Activations:$result);
  let assemblyFormat = "$input `,` $predictor attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Steer_ConceptFeaturesOp : Steer_WeightUser<"concept_features"> {
  let summary = "weighted sum of concept embeddings";
  let description = [{
    features[p] = sum over the `topk` largest weights of position p of
    weight * embedding row. `topk` absent: all non-zero weights. Rows an
    active intervention changed (override_weights, target_profile) sum all
    their non-zero weights, as the reference's dense path does.
  }];
  let arguments = (ins Steer_Activations:$weights, FlatSymbolRefAttr:$embedding,
                       OptionalAttr<Steer_Int>:$topk);
  let results = (outs Steer_Activations:$result);
  let assemblyFormat = "$weights `,` $embedding attr-dict `:` type($weights) `->` type($result)";
  let hasVerifier = 1;
}

def Steer_UnknownFeaturesOp : Steer_WeightUser<"unknown_features"> {
  let summary = "the factorized unknown-concept head's features";
  let description = [{
    Logits (h . D^T) . U^T over the unknown concepts, sigmoid weights, the
    top `topk`, and features through the factorized embeddings C . B^T.
  }];
  let arguments = (ins Steer_Activations:$input,
                       FlatSymbolRefAttr:$predictor_down,
                       FlatSymbolRefAttr:$predictor_up,
                       FlatSymbolRefAttr:$embedding_coef,
                       FlatSymbolRefAttr:$embedding_basis,
                       Steer_Int:$n_concepts, OptionalAttr<Steer_Int>:$topk);
  let results = (outs Steer_Activations:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Steer_ComposeOp : Steer_Op<"compose", [Pure,
    AllTypesMatch<["hidden", "known", "unknown", "result"]>]> {
  let summary = "recompose the hidden state from concept features";
  let description = [{
    unknown + known, plus epsilon = hidden - (unknown + known) when
    `epsilon` is set (then the result equals `hidden`). The reference drops
    epsilon exactly when known weights are intervened on, and the verifier
    enforces that: `epsilon` is rejected when `known` comes from overridden
    weights, unless every intervention on the way is guarded and its guard
    is listed after `unless`: then epsilon is added for requests where none
    of those guards fired (the weights were left alone) and dropped
    otherwise.

    ```mlir
    %c = steer.compose %h, %kf, %uf unless(%fires) {epsilon} : tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Steer_Activations:$hidden, Steer_Activations:$known,
                       Steer_Activations:$unknown, Variadic<I1>:$unless,
                       UnitAttr:$epsilon);
  let results = (outs Steer_Activations:$result);
  let assemblyFormat = "$hidden `,` $known `,` $unknown (`unless` `(` $unless^ `)`)? attr-dict `:` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Interventions
//===----------------------------------------------------------------------===//

def Steer_OverrideWeightsOp : Steer_Op<"override_weights", [Pure,
    AllTypesMatch<["input", "result"]>]> {
  let summary = "set the weights of listed known concepts";
  let description = [{
    Applied to dense known weights after the top-k, as the reference applies
    interventions: every generated position's weight of `concepts[i]`
    becomes `values[i]`. Suppression is a value of 0; a clamp is any other
    value. With a guard (`if %fires`), only for requests whose guard fired;
    otherwise the weights pass through.

    ```mlir
    %w1 = steer.override_weights %w if %fires {concepts = array<i64: 3, 7>,
                                     values = array<f32: 0.0, 1.0>} : tensor<?x48xf32>
    ```
  }];
  let arguments = (ins Steer_Activations:$input, Optional<I1>:$guard,
                       DenseI64ArrayAttr:$concepts, DenseF32ArrayAttr:$values);
  let results = (outs Steer_Activations:$result);
  let assemblyFormat = "$input (`if` $guard^)? attr-dict `:` type($input)";
  let hasVerifier = 1;
}

def Steer_InjectOp : Steer_Op<"inject", [Pure,
    AllTypesMatch<["input", "result"]>]> {
  let summary = "add a concept direction to the residual stream";
  let description = [{
    The direction is the L2-normalised sum of the listed known concepts'
    embeddings. With `normalize`, alpha = target / max(lm_head . direction)
    (the reference's mai_lm_target in logit units); otherwise `alpha` is the
    raw strength. Added after every block i with i + 1 >= `layer`, only at
    positions still masked; `hard_cutoff` stops after `cutoff_tokens` tokens
    are committed. With a guard (`if %fires`), only for requests whose
    guard fired. Folded (steer-fold-injections), the op carries the
    direction itself (`direction`, n_embd float32 values) and `alpha` is
    the resolved strength: `normalize` is then gone.
  }];
  let arguments = (ins Steer_Activations:$input, Optional<I1>:$guard,
                       DenseI64ArrayAttr:$concepts, F32Attr:$alpha,
                       UnitAttr:$normalize, Steer_Int:$layer,
                       Steer_ScheduleAttr:$schedule,
                       OptionalAttr<Steer_Int>:$cutoff_tokens,
                       OptionalAttr<ElementsAttr>:$direction);
  let results = (outs Steer_Activations:$result);
  let assemblyFormat = "$input (`if` $guard^)? attr-dict `:` type($input)";
  let hasVerifier = 1;
}

def Steer_ReluLogitMaskOp : Steer_Op<"relu_logit_mask", [Pure,
    AllTypesMatch<["logits", "result"]>]> {
  let summary = "subtract the vocabulary a concept promotes from the logits";
  let description = [{
    logits -= sum_c strength_c * relu(lm_head . embedding_c), at masked
    positions: only the tokens a concept pushes up are pushed down. With a
    guard (`if %fires`), only for requests whose guard fired.
  }];
  let arguments = (ins Steer_Activations:$logits, Optional<I1>:$guard,
                       DenseI64ArrayAttr:$concepts, DenseF32ArrayAttr:$strengths);
  let results = (outs Steer_Activations:$result);
  let assemblyFormat = "$logits (`if` $guard^)? attr-dict `:` type($logits)";
  let hasVerifier = 1;
}

def Steer_LogitBiasOp : Steer_Op<"logit_bias", [Pure,
    AllTypesMatch<["logits", "result"]>]> {
  let summary = "subtract a constant vocabulary vector from the logits";
  let description = [{
    logits -= bias at masked positions: the folded form of ReLU logit masks
    (steer-fold-logit-masks), one vector of `vocab_size` float32 values per
    guard. With a guard (`if %fires`), only for requests whose guard fired.

    ```mlir
    %m = steer.logit_bias %l if %fires {bias = dense_resource<vocab_bias> : tensor<512xf32>} : tensor<?x512xf32>
    ```
  }];
  let arguments = (ins Steer_Activations:$logits, Optional<I1>:$guard,
                       ElementsAttr:$bias);
  let results = (outs Steer_Activations:$result);
  let assemblyFormat = "$logits (`if` $guard^)? attr-dict `:` type($logits)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The bias values (dense or resource storage); nullopt when the
    /// storage cannot be read as float32.
    std::optional<::llvm::SmallVector<float>> getBiasValues();
  }];
}

def Steer_TargetProfileOp : Steer_Op<"target_profile", [Pure,
    AllTypesMatch<["input", "result"]>]> {
  let summary = "replace known weights with a response's concept profile";
  let description = [{
    At generated positions, the dense known-weight row becomes the profile:
    the mean known weights over the tokens of `response`, which
    steer-extract-target-profiles computes by running the model at compile
    time and stores in `profile` (with the response's token count in
    `tokens`). Until then the op names only the response. Overrides after it (suppress, clamp) apply on top of it. With
    a guard (`if %fires`), only for requests whose guard fired.

    ```mlir
    %p = steer.target_profile %w if %fires {response = "I cannot help with that."} : tensor<?x54xf32>
    ```
  }];
  let arguments = (ins Steer_Activations:$input, Optional<I1>:$guard,
                       StrAttr:$response,
                       OptionalAttr<FloatElementsAttr<32>>:$profile,
                       OptionalAttr<Steer_Int>:$tokens);
  let results = (outs Steer_Activations:$result);
  let assemblyFormat = "$input (`if` $guard^)? attr-dict `:` type($input)";
  let hasVerifier = 1;
}

def Steer_FixedFeaturesOp : Steer_Op<"fixed_features", [Pure,
    AllTypesMatch<["input", "result"]>]> {
  let summary = "known features that a constant weight row gives, folded";
  let description = [{
    At generated positions, for requests whose guard fired (always without
    a guard), the known features become `features`: what a target profile
    with the overrides after it gives through the concept embeddings
    (steer-fold-profile-features). Elsewhere `input` passes through.

    ```mlir
    %f = steer.fixed_features %kf if %fires {features = dense_resource<profile_features> : tensor<128xf32>} : tensor<?x128xf32>
    ```
  }];
  let arguments = (ins Steer_Activations:$input, Optional<I1>:$guard,
                       ElementsAttr:$features);
  let results = (outs Steer_Activations:$result);
  let assemblyFormat = "$input (`if` $guard^)? attr-dict `:` type($input)";
  let hasVerifier = 1;
}

def Steer_GuardOp : Steer_Op<"guard", [Pure]> {
  let summary = "whether the prompt activates any of the listed concepts";
  let description = [{
    Evaluated once per request, on a forward of the prompt alone (so it
    has no operand in the graph it guards): true when some prompt
    position's known weight (after the head's top-k) of one of `concepts`
    is at least `threshold`. Interventions take the result as their guard.

    ```mlir
    %fires = steer.guard {concepts = array<i64: 45, 46>, threshold = 8.0e-01 : f32}
    ```
  }];
  let arguments = (ins DenseI64ArrayAttr:$concepts, F32Attr:$threshold);
  let results = (outs I1:$fires);
  let assemblyFormat = "attr-dict";
  let hasVerifier = 1;
}

def Steer_DetectOp : Steer_Op<"detect", [Pure]> {
  let summary = "every guard of a policy, evaluated in one pass over the prompt";
  let description = [{
    The fused form of `steer.guard`s: the prompt's largest known weight of
    each of `concepts` (sorted, each once) is computed once per request,
    and result i is true when one of the concepts at positions `guards[i]`
    of that list reaches `thresholds[i]`.

    ```mlir
    %f:2 = steer.detect {concepts = array<i64: 3, 45, 46>,
                         guards = [array<i64: 1, 2>, array<i64: 0>],
                         thresholds = array<f32: 0.8, 0.5>} : i1, i1
    ```
  }];
  let arguments = (ins DenseI64ArrayAttr:$concepts, ArrayAttr:$guards,
                       DenseF32ArrayAttr:$thresholds);
  let results = (outs Variadic<I1>:$fires);
  let assemblyFormat = "attr-dict `:` type($fires)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Policies
//===----------------------------------------------------------------------===//

def Steer_PolicyOp : Steer_Op<"policy", [
    Symbol, SymbolTable, IsolatedFromAbove, NoTerminator, SingleBlock,
    NoRegionArguments]> {
  let summary = "a steering policy: named rules over a model's concepts";
  let description = [{
    What a policy file says, one `steer.rule` per rule, with locations
    pointing into the policy file. Concepts are referenced as written
    (`#steer.concept<"weapons">`) until steer-resolve-concepts looks them up
    in the model's concept table.

    ```mlir
    steer.policy @policy attributes {source_xxh64 = "8f1c0e2d4b6a7f90"} {
      steer.rule @refuse_harm {
        steer.when [#steer.concept<"weapons">] threshold 5.000000e-01
        steer.suppress [#steer.concept<"weapons">]
        steer.steer_to_response "I cannot help with that."
      }
    }
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name,
                       OptionalAttr<StrAttr>:$description,
                       OptionalAttr<StrAttr>:$source_xxh64);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "$sym_name attr-dict-with-keyword $body";
  let hasVerifier = 1;
}

def Steer_RuleOp : Steer_Op<"rule", [
    Symbol, HasParent<"PolicyOp">, NoTerminator, SingleBlock,
    NoRegionArguments]> {
  let summary = "one policy rule: an optional guard and its actions";
  let description = [{
    Holds at most one `steer.when` (the guard, evaluated on the prompt) and
    at least one action: `steer.suppress`, `steer.clamp`, `steer.amplify`,
    `steer.unlearn`, `steer.steer_to_response`. A rule injects at most one
    direction (amplify or unlearn) and steers to at most one response.
  }];
  let arguments = (ins SymbolNameAttr:$sym_name);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "$sym_name attr-dict-with-keyword $body";
  let hasVerifier = 1;
}

class Steer_RuleItemOp<string mnemonic, list<Trait> traits = []>
    : Steer_Op<mnemonic, !listconcat(traits, [HasParent<"RuleOp">])>;

def Steer_WhenOp : Steer_RuleItemOp<"when"> {
  let summary = "guard: the rule applies when the prompt activates a concept";
  let description = [{
    True for a request when some prompt position's known weight of one of
    `concepts` (after the head's top-k) is at least `threshold`.
  }];
  let arguments = (ins Steer_ConceptArrayAttr:$concepts, F32Attr:$threshold);
  let assemblyFormat = "$concepts `threshold` $threshold attr-dict";
  let hasVerifier = 1;
}

def Steer_SuppressOp : Steer_RuleItemOp<"suppress"> {
  let summary = "set the listed concepts' weights to 0 at generated positions";
  let arguments = (ins Steer_ConceptArrayAttr:$concepts);
  let assemblyFormat = "$concepts attr-dict";
  let hasVerifier = 1;
}

def Steer_ClampOp : Steer_RuleItemOp<"clamp"> {
  let summary = "set one concept's weight to a value at generated positions";
  let arguments = (ins Steer_ConceptAttr:$target, F32Attr:$value);
  let assemblyFormat = "qualified($target) `to` $value attr-dict";
  let hasVerifier = 1;
}

def Steer_AmplifyOp : Steer_RuleItemOp<"amplify"> {
  let summary = "inject the concepts' direction (the reference's injection preset)";
  let description = [{
    The direction is the normalised sum of the concepts' embeddings, scaled
    so that its peak lm_head alignment is `target` logits, added after every
    block from `layer` on at masked positions, under `schedule`.
  }];
  let arguments = (ins Steer_ConceptArrayAttr:$concepts, F32Attr:$target,
                       Steer_Int:$layer, Steer_ScheduleAttr:$schedule,
                       OptionalAttr<Steer_Int>:$cutoff_tokens);
  let assemblyFormat = "$concepts attr-dict";
  let hasVerifier = 1;
}

def Steer_UnlearnOp : Steer_RuleItemOp<"unlearn"> {
  let summary = "negative injection plus a ReLU logit mask (injection_relu)";
  let description = [{
    Injects the focal concept and its group with raw strength `alpha` from
    `layer` on, and subtracts `relu_strength` times the vocabulary the focal
    concept promotes from the logits.
  }];
  let arguments = (ins Steer_ConceptAttr:$focal, Steer_ConceptArrayAttr:$group,
                       F32Attr:$alpha, Steer_Int:$layer, F32Attr:$relu_strength);
  let assemblyFormat = "qualified($focal) `group` $group attr-dict";
  let hasVerifier = 1;
}

def Steer_SteerToResponseOp : Steer_RuleItemOp<"steer_to_response"> {
  let summary = "override known weights with a response's concept profile";
  let description = [{
    The profile is the model's mean known weights over the response's
    tokens, computed at compile time; it replaces the known weights at
    generated positions.
  }];
  let arguments = (ins StrAttr:$response);
  let assemblyFormat = "$response attr-dict";
  let hasVerifier = 1;
}

#endif // STEER_DIALECT_STEER_IR_STEEROPS_TD
