//===- ModelImport.cpp - Build the steer graph of a checkpoint ------------===//
#include "steer/Dialect/Steer/Import/ModelImport.h"
#include "steer/Dialect/Steer/IR/SteerOps.h"

#include "steer/model/checkpoint.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace mlir::steer;

namespace {

Type elementType(MLIRContext *ctx, ::steer::DType t) {
  switch (t) {
  case ::steer::DType::kF16:
    return Float16Type::get(ctx);
  case ::steer::DType::kBF16:
    return BFloat16Type::get(ctx);
  default:
    return Float32Type::get(ctx);
  }
}

} // namespace

OwningOpRef<ModuleOp> mlir::steer::importCheckpoint(
    MLIRContext *ctx, const ::steer::Checkpoint &checkpoint, StringRef name) {
  ctx->loadDialect<SteerDialect, func::FuncDialect>();
  const ::steer::ModelConfig &c = checkpoint.config();
  OpBuilder b(ctx);
  Location loc = FileLineColLoc::get(
      b.getStringAttr(checkpoint.dir() + "/config.json"), 1, 1);
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  b.setInsertionPointToEnd(module->getBody());

  IntegerAttr nConcepts;
  if (c.concepts)
    nConcepts = b.getI64IntegerAttr(c.concepts->nConcepts);
  auto i64 = [&](int64_t v) { return b.getI64IntegerAttr(v); };
  auto model = b.create<ModelOp>(loc, b.getStringAttr(name), i64(c.nLayers),
                                 i64(c.nEmbd), i64(c.vocabSize),
                                 i64(c.diffBlockSize), nConcepts);
  Block *body = b.createBlock(&model.getBody());
  b.setInsertionPointToEnd(body);

  for (const ::steer::TensorSpec &spec : checkpoint.specs()) {
    const ::steer::TensorView *view = checkpoint.tensor(spec.name);
    auto type =
        RankedTensorType::get(spec.shape, elementType(ctx, view->dtype));
    b.create<WeightOp>(loc, b.getStringAttr(spec.name), TypeAttr::get(type));
  }
  auto sym = [&](const std::string &key) {
    return FlatSymbolRefAttr::get(ctx, key);
  };

  const int64_t dyn = ShapedType::kDynamic;
  Type f32 = b.getF32Type();
  auto acts = RankedTensorType::get({dyn, c.nEmbd}, f32);
  auto ids = RankedTensorType::get({dyn}, b.getI64Type());
  auto logitsType = RankedTensorType::get({dyn, c.vocabSize}, f32);
  auto fn = b.create<func::FuncOp>(loc, "forward",
                                   b.getFunctionType({ids}, {logitsType}));
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToEnd(entry);

  const std::string pre = c.interpretable ? "transformer." : "";
  Value x = b.create<EmbedOp>(loc, acts, entry->getArgument(0),
                              sym(::steer::tokEmbName(c)));
  for (int64_t i = 0; i < c.nLayers; ++i) {
    std::string p = pre + "blocks." + std::to_string(i) + ".";
    auto block = b.create<BlockOp>(
        loc, acts, x, i64(i), i64(c.nHead), i64(c.kvHeads()),
        i64(c.diffBlockSize), b.getF64FloatAttr(c.normEps),
        NormOrderAttr::get(ctx, c.normOrder == ::steer::NormOrder::kPre
                                    ? NormOrder::pre
                                    : NormOrder::post),
        MlpKindAttr::get(ctx, c.mlpType == ::steer::MlpType::kSwiGLU
                                  ? MlpKind::swiglu
                                  : MlpKind::standard),
        c.clipQkv ? b.getF64FloatAttr(*c.clipQkv) : FloatAttr(),
        c.useRope ? b.getF64FloatAttr(c.ropeBase) : FloatAttr(),
        sym(p + "attn.c_attn.weight"), sym(p + "attn.c_proj.weight"),
        c.useQkNorm ? sym(p + "attn.q_norm.weight") : FlatSymbolRefAttr(),
        c.useQkNorm ? sym(p + "attn.k_norm.weight") : FlatSymbolRefAttr(),
        sym(p + "ln_1.weight"), sym(p + "ln_2.weight"),
        sym(p + "mlp.c_fc.weight"), sym(p + "mlp.c_proj.weight"));
    x = block.getResult();
  }
  Value hidden = b.create<RmsNormOp>(loc, acts, x, sym(pre + "ln_f.weight"),
                                     b.getF64FloatAttr(c.normEps));
  // The concept heads change nothing without interventions (composed ==
  // hidden); they are built for the variant the runtime executes, and other
  // variants keep the hidden -> lm_head path, which gives the same logits.
  Value composed = hidden;
  if (c.concepts && !c.concepts->useAttentionKnown && c.concepts->useUnknown &&
      c.concepts->factorizeUnknown && !c.concepts->useAttentionUnknown) {
    const ::steer::ConceptConfig &k = *c.concepts;
    auto optInt = [&](std::optional<int64_t> v) {
      return v ? b.getI64IntegerAttr(*v) : IntegerAttr();
    };
    auto weightsType = RankedTensorType::get({dyn, k.nConcepts}, f32);
    Value kw = b.create<KnownWeightsOp>(
        loc, weightsType, hidden, sym("known_head.concept_predictor.weight"),
        i64(k.nConcepts), optInt(k.topkKnown),
        k.topkOnLogits ? b.getUnitAttr() : UnitAttr());
    Value kf = b.create<ConceptFeaturesOp>(
        loc, acts, kw, sym("known_head.concept_embedding.weight"),
        optInt(k.topkKnownFeatures ? k.topkKnownFeatures : k.topkKnown));
    Value uf = b.create<UnknownFeaturesOp>(
        loc, acts, hidden, sym("unknown_head.predictor_down.weight"),
        sym("unknown_head.predictor_up.weight"),
        sym("unknown_head.embedding_coef.weight"),
        sym("unknown_head.embedding_basis.weight"), i64(*k.nUnknownConcepts),
        optInt(k.applyTopkToUnknown ? k.unknownTopk : std::nullopt));
    composed = b.create<ComposeOp>(loc, acts, hidden, kf, uf, ValueRange{},
                                   k.useEpsilonCorrection ? b.getUnitAttr()
                                                          : UnitAttr());
  }
  Value logits = b.create<LmHeadOp>(loc, logitsType, composed,
                                    sym(::steer::tokEmbName(c)));
  b.create<func::ReturnOp>(loc, logits);
  return module;
}
