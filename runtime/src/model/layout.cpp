//===- layout.cpp - Tensor names and shapes of a Steerling checkpoint -----===//
#include "steer/model/layout.h"

namespace steer {
namespace {

std::string backbonePrefix(const ModelConfig &config) {
  return config.interpretable ? "transformer." : "";
}

/// The tensors of one ConceptHead (known or unknown) under `prefix`.
void addConceptHead(std::vector<TensorSpec> &out, const ModelConfig &config,
                    const std::string &prefix, int64_t rows, bool factorize,
                    bool attention, TensorPart part) {
  const ConceptConfig &k = *config.concepts;
  const int64_t dim = k.conceptDim, embd = config.nEmbd, r = k.factorizeRank;
  if (factorize) {
    out.push_back({prefix + "embedding_coef.weight", {rows, r}, part});
    out.push_back({prefix + "embedding_basis.weight", {dim, r}, part});
  } else {
    out.push_back({prefix + "concept_embedding.weight", {rows, dim}, part});
  }
  if (attention)
    out.push_back(
        {prefix + "concept_query_projection.weight", {dim, embd}, part});
  else if (factorize) {
    out.push_back({prefix + "predictor_down.weight", {r, embd}, part});
    out.push_back({prefix + "predictor_up.weight", {rows, r}, part});
  } else {
    out.push_back({prefix + "concept_predictor.weight", {rows, embd}, part});
  }
}

} // namespace

std::string_view toString(TensorPart part) {
  switch (part) {
  case TensorPart::kEmbedding:
    return "embedding";
  case TensorPart::kAttention:
    return "attention";
  case TensorPart::kNorm:
    return "norms";
  case TensorPart::kMlp:
    return "mlp";
  case TensorPart::kKnownHead:
    return "known head";
  case TensorPart::kUnknownHead:
    return "unknown head";
  }
  return "?";
}

std::string tokEmbName(const ModelConfig &config) {
  return backbonePrefix(config) + "tok_emb.weight";
}
std::string lmHeadName(const ModelConfig &config) {
  return backbonePrefix(config) + "lm_head.weight";
}

int64_t numElements(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

std::vector<TensorSpec> expectedTensors(const ModelConfig &config) {
  std::vector<TensorSpec> out;
  const std::string pre = backbonePrefix(config);
  const int64_t embd = config.nEmbd;
  out.push_back(
      {tokEmbName(config), {config.vocabSize, embd}, TensorPart::kEmbedding});
  const int64_t hidden = config.mlpHidden();
  const int64_t fcRows =
      config.mlpType == MlpType::kSwiGLU ? 2 * hidden : hidden;
  for (int64_t i = 0; i < config.nLayers; ++i) {
    std::string b = pre + "blocks." + std::to_string(i) + ".";
    out.push_back({b + "attn.c_attn.weight",
                   {embd + 2 * config.kvDim(), embd},
                   TensorPart::kAttention,
                   i});
    out.push_back(
        {b + "attn.c_proj.weight", {embd, embd}, TensorPart::kAttention, i});
    if (config.useQkNorm) {
      out.push_back(
          {b + "attn.q_norm.weight", {config.headDim()}, TensorPart::kNorm, i});
      out.push_back(
          {b + "attn.k_norm.weight", {config.headDim()}, TensorPart::kNorm, i});
    }
    out.push_back({b + "ln_1.weight", {embd}, TensorPart::kNorm, i});
    out.push_back({b + "ln_2.weight", {embd}, TensorPart::kNorm, i});
    out.push_back({b + "mlp.c_fc.weight", {fcRows, embd}, TensorPart::kMlp, i});
    out.push_back(
        {b + "mlp.c_proj.weight", {embd, hidden}, TensorPart::kMlp, i});
  }
  out.push_back({pre + "ln_f.weight", {embd}, TensorPart::kNorm});
  if (config.concepts) {
    const ConceptConfig &k = *config.concepts;
    addConceptHead(out, config, "known_head.", k.paddedCount(k.nConcepts),
                   /*factorize=*/false, k.useAttentionKnown,
                   TensorPart::kKnownHead);
    if (k.useUnknown)
      addConceptHead(out, config, "unknown_head.",
                     k.paddedCount(*k.nUnknownConcepts), k.factorizeUnknown,
                     k.useAttentionUnknown, TensorPart::kUnknownHead);
  }
  return out;
}

} // namespace steer
